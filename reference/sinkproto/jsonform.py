"""The JSON form of decoded values: what the vectors and ``sink decode --json`` use.

Bytes fields appear with a ``_hex`` suffix (lowercase hex); integers stay JSON
numbers (they may exceed 2^53: other languages must parse them losslessly);
an absent ``server_instance_id`` is ``null``.
"""

from __future__ import annotations

from typing import Any

from .errors import EncodeError
from .messages import (
    Ack,
    Batch,
    BatchLayout,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Frame,
    Nack,
    NackPayload,
    Ping,
    Pong,
    Publish,
    Response,
)

__all__ = ["to_json", "from_json", "event_to_json", "event_from_json", "LAYOUT_FLAGS"]

JsonObject = dict[str, Any]
LAYOUT_FLAGS = tuple(name for name, _bit in BatchLayout.FLAG_BITS)


def _hex(value: bytes) -> str:
    return value.hex()


def _unhex(obj: JsonObject, name: str) -> bytes:
    try:
        return bytes.fromhex(obj[f"{name}_hex"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EncodeError(f"{name}_hex: {exc}") from None


def event_to_json(event: Event) -> JsonObject:
    return {
        "event_type_id": event.event_type_id,
        "schema_version": event.schema_version,
        "key_hex": _hex(event.key),
        "offset": event.offset,
        "timestamp": event.timestamp,
        "event_data_hex": _hex(event.event_data),
    }


def event_from_json(obj: JsonObject) -> Event:
    return Event(
        event_type_id=obj["event_type_id"],
        schema_version=obj["schema_version"],
        key=_unhex(obj, "key"),
        offset=obj["offset"],
        timestamp=obj["timestamp"],
        event_data=_unhex(obj, "event_data"),
    )


def to_json(value: Frame | Event | NackPayload | Batch) -> JsonObject:
    """The vector-JSON value of any decoded unit."""
    match value:
        case Event():
            return event_to_json(value)
        case NackPayload():
            return {"machine_message_hex": _hex(value.machine_message), "human_message_hex": _hex(value.human_message)}
        case Batch():
            layout = value.layout or BatchLayout()
            return {
                "layout": {name: getattr(layout, name) for name in LAYOUT_FLAGS},
                "events": [event_to_json(e) for e in value.events],
            }
        case ConnectionRequest():
            return {
                "type": "connection_request",
                "version": value.version,
                "app_version_hex": _hex(value.app_version),
                "client_instance_id": value.client_instance_id,
                "server_instance_id": value.server_instance_id,
            }
        case ConnectionResponse():
            out: JsonObject = {"type": "connection_response", "response": value.response.wire_name}
            if value.response is Response.HELLO_NEW_CLIENT:
                out["server_instance_id"] = value.server_instance_id
            if value.response is Response.QUARANTINED:
                assert value.machine_message is not None and value.human_message is not None
                out["machine_message_hex"] = _hex(value.machine_message)
                out["human_message_hex"] = _hex(value.human_message)
            return out
        case Ack():
            return {"type": "ack", "message_id": value.message_id}
        case Publish():
            return {"type": "publish", "message_id": value.message_id, "event": event_to_json(value.event)}
        case Nack():
            return {
                "type": "nack",
                "message_id": value.message_id,
                "machine_message_hex": _hex(value.machine_message),
                "human_message_hex": _hex(value.human_message),
            }
        case Ping():
            return {"type": "ping"}
        case Pong():
            return {"type": "pong"}
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _frame_from_json(obj: JsonObject) -> Frame:
    kind = obj.get("type")
    if kind == "connection_request":
        return ConnectionRequest(
            version=obj.get("version", 0),
            app_version=_unhex(obj, "app_version"),
            client_instance_id=obj["client_instance_id"],
            server_instance_id=obj.get("server_instance_id"),
        )
    if kind == "connection_response":
        response = Response.from_wire_name(obj["response"])
        quarantined = response is Response.QUARANTINED
        return ConnectionResponse(
            response=response,
            server_instance_id=obj.get("server_instance_id"),
            machine_message=_unhex(obj, "machine_message") if quarantined else None,
            human_message=_unhex(obj, "human_message") if quarantined else None,
        )
    if kind == "ack":
        return Ack(message_id=obj["message_id"])
    if kind == "publish":
        return Publish(message_id=obj["message_id"], event=event_from_json(obj["event"]))
    if kind == "nack":
        return Nack(
            message_id=obj["message_id"],
            machine_message=_unhex(obj, "machine_message"),
            human_message=_unhex(obj, "human_message"),
        )
    if kind == "ping":
        return Ping()
    if kind == "pong":
        return Pong()
    raise EncodeError(f"unknown frame type {kind!r}")


FRAME_KINDS = ("connection_request", "connection_response", "ack", "publish", "nack", "ping", "pong", "frame")


def from_json(kind: str, obj: JsonObject) -> Frame | Event | NackPayload | Batch:
    """Inverse of :func:`to_json`; ``kind`` is a vector file's kind."""
    if kind in FRAME_KINDS:
        return _frame_from_json(obj)
    if kind == "event":
        return event_from_json(obj)
    if kind == "nack_payload":
        return NackPayload(
            machine_message=_unhex(obj, "machine_message"), human_message=_unhex(obj, "human_message")
        )
    if kind == "batch":
        layout = obj.get("layout")
        return Batch(
            events=tuple(event_from_json(e) for e in obj["events"]),
            layout=BatchLayout(**layout) if layout is not None else None,
        )
    raise EncodeError(f"unknown kind {kind!r}")
