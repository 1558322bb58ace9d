"""The JSON form of decoded values: what the vectors and ``sink decode --json`` use.

Bytes fields appear with a ``_hex`` suffix (lowercase hex); integers stay JSON
numbers (they may exceed 2^53: other languages must parse them losslessly);
an absent ``server_instance_id`` is ``null``. A batch of a version-1
connection has a ``format`` (``null``: the version-0 encoding); a batch of
version 0 has no such key (:data:`BATCH_FORMAT_KEY`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import EncodeError
from .messages import (
    DECLARED_BOUNDS,
    Ack,
    BaseLookup,
    Batch,
    BatchCodec,
    BatchContext,
    BatchFormat,
    BatchLayout,
    BatchMode,
    ConnectionRequest,
    ConnectionResponse,
    ContextBase,
    DeclaredLimits,
    Event,
    Frame,
    Nack,
    NackPayload,
    Ping,
    Pong,
    Publish,
    Response,
)
from .readers import ReaderSchemas
from .versions import pick

__all__ = [
    "to_json",
    "from_json",
    "event_to_json",
    "event_from_json",
    "batch_to_json",
    "batch_from_json",
    "bases_to_json",
    "bases_from_json",
    "LAYOUT_FLAGS",
    "BATCH_FORMAT_KEY",
]

JsonObject = dict[str, Any]
LAYOUT_FLAGS = tuple(name for name, _bit in BatchLayout.FLAG_BITS)
# Whether a batch's JSON has the "format" key, by the version from which it applies: version 1 has the
# format byte (BATCH-12), so even a batch without one says "format": null there; version 0's JSON has no key.
BATCH_FORMAT_KEY: Mapping[int, bool] = {0: False, 1: True}


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


def reader_schemas_to_json(value: ReaderSchemas | None) -> list[JsonObject] | None:
    if value is None:
        return None
    return [{"event_type_id": t, "schema_versions": list(v)} for t, v in value.entries]


def reader_schemas_from_json(obj: list[JsonObject] | None) -> ReaderSchemas | None:
    if obj is None:
        return None
    return ReaderSchemas(entries=tuple((e["event_type_id"], tuple(e["schema_versions"])) for e in obj))


def batch_to_json(value: Batch, version: int = 0) -> JsonObject:
    """A batch of a version-``version`` connection: its layout, its format (from version 1, or whenever set), its events."""
    layout = value.layout or BatchLayout()
    out: JsonObject = {"layout": {name: getattr(layout, name) for name in LAYOUT_FLAGS}}
    fmt = value.format
    if fmt is not None or pick(BATCH_FORMAT_KEY, version):
        out["format"] = None if fmt is None else {"codec": fmt.codec.wire_name, "mode": fmt.mode.wire_name}
    if value.context is not None:
        # CTX-2: the batch's id and its base's (0: none); the base's events are the vector's "bases".
        base = value.context.base
        out["context"] = {"batch_id": value.context.batch_id, "base_id": 0 if base is None else base.batch_id}
    out["events"] = [event_to_json(e) for e in value.events]
    return out


def batch_from_json(obj: JsonObject, bases: BaseLookup | None = None) -> Batch:
    """Inverse of :func:`batch_to_json` (a missing or null ``layout`` or ``format`` is None).

    A batch in mode context names its base by id: ``bases`` (the bases the decoder held) gives its events.
    """
    layout = obj.get("layout")
    fmt = obj.get("format")
    context = obj.get("context")
    return Batch(
        events=tuple(event_from_json(e) for e in obj["events"]),
        layout=BatchLayout(**layout) if layout is not None else None,
        format=None
        if fmt is None
        else BatchFormat(codec=BatchCodec[fmt["codec"].upper()], mode=BatchMode[fmt["mode"].upper()]),
        context=None if context is None else _context_from_json(context, bases),
    )


def _context_from_json(obj: JsonObject, bases: BaseLookup | None) -> BatchContext:
    base_id = obj["base_id"]
    if not base_id:
        return BatchContext(batch_id=obj["batch_id"])
    if bases is None or base_id not in bases:
        raise EncodeError(f"batch coded against base {base_id}, which the given bases do not hold (CTX-2)")
    return BatchContext(batch_id=obj["batch_id"], base=bases[base_id])


def bases_to_json(bases: BaseLookup) -> list[JsonObject]:
    """The bases a decoder holds (vector files' ``bases``): id, events, and the digest of CTX-4 for reference."""
    return [
        {"batch_id": base.batch_id, "digest_hex": _hex(base.digest), "events": [event_to_json(e) for e in base.events]}
        for base in bases.values()
    ]


def bases_from_json(obj: list[JsonObject] | None) -> dict[int, ContextBase] | None:
    """Inverse of :func:`bases_to_json`; None (the decoder takes no context) stays None."""
    if obj is None:
        return None
    return {
        b["batch_id"]: ContextBase(batch_id=b["batch_id"], events=tuple(event_from_json(e) for e in b["events"]))
        for b in obj
    }


def declared_limits_to_json(value: DeclaredLimits) -> JsonObject:
    """DECL-1: the declared values only, by field name."""
    return {name: getattr(value, name) for name, *_ in DECLARED_BOUNDS if getattr(value, name) is not None}


def declared_limits_from_json(obj: JsonObject | None) -> DeclaredLimits | None:
    return None if obj is None else DeclaredLimits(**obj)


def _v1_to_json(value: object) -> JsonObject | None:
    """Version 1 frames (spec/v1): BATCH_PUBLISH, BATCH_RESULT, CLOSE; None for others."""
    from .messages import BatchPublish, BatchResult, Close, FrameType

    match value:
        case Close():
            return {
                "type": "close",
                "error_class": value.error_class.wire_name,
                "requirement_hex": _hex(value.requirement),
                "last_message_id": value.last_message_id,
                "retry_after": value.retry_after,
                "human_message_hex": _hex(value.human_message),
            }
        case BatchPublish():
            batch = batch_to_json(value.batch, FrameType.BATCH_PUBLISH.since)
            return {"type": "batch_publish", "message_id": value.message_id, "batch": batch}
        case BatchResult():
            return {
                "type": "batch_result",
                "message_id": value.message_id,
                "entries": [
                    {
                        "index": e.index,
                        "machine_message_hex": _hex(e.machine_message),
                        "human_message_hex": _hex(e.human_message),
                    }
                    for e in value.entries
                ],
            }
    return None


def _v1_from_json(kind: str, obj: JsonObject, bases: BaseLookup | None = None) -> object:
    from .messages import BatchPublish, BatchResult, BatchResultEntry, Close, CloseCode

    if kind == "batch" or obj.get("type") is None and "events" in obj:
        return batch_from_json(obj, bases)
    if obj.get("type") == "batch_publish":
        return BatchPublish(message_id=obj["message_id"], batch=batch_from_json(obj["batch"], bases))
    if obj.get("type") == "close":
        return Close(
            error_class=CloseCode[obj["error_class"].upper()],
            requirement=_unhex(obj, "requirement"),
            last_message_id=obj.get("last_message_id"),
            retry_after=obj.get("retry_after"),
            human_message=_unhex(obj, "human_message"),
        )
    if obj.get("type") == "batch_result":
        return BatchResult(
            message_id=obj["message_id"],
            entries=tuple(
                BatchResultEntry(
                    index=e["index"],
                    machine_message=_unhex(e, "machine_message"),
                    human_message=_unhex(e, "human_message"),
                )
                for e in obj["entries"]
            ),
        )
    return _frame_from_json(obj)


def to_json(value: Frame | Event | NackPayload | Batch, version: int = 0) -> JsonObject:
    """The vector-JSON value of any decoded unit of a version-``version`` connection (the version matters to a batch)."""
    v1 = _v1_to_json(value)
    if v1 is not None:
        return v1
    match value:
        case Event():
            return event_to_json(value)
        case NackPayload():
            return {"machine_message_hex": _hex(value.machine_message), "human_message_hex": _hex(value.human_message)}
        case Batch():
            return batch_to_json(value, version)
        case ConnectionRequest():
            request: JsonObject = {
                "type": "connection_request",
                "version": value.version,
                "app_version_hex": _hex(value.app_version),
                "client_instance_id": value.client_instance_id,
                "server_instance_id": value.server_instance_id,
            }
            if value.version == 1:  # version 0 JSON stays as it was
                request["reader_schemas"] = reader_schemas_to_json(value.reader_schemas)
                if value.declared_limits is not None:
                    request["declared_limits"] = declared_limits_to_json(value.declared_limits)
            return request
        case ConnectionResponse():
            out: JsonObject = {"type": "connection_response", "response": value.response.wire_name}
            if value.response is Response.HELLO_NEW_CLIENT:
                out["server_instance_id"] = value.server_instance_id
            if value.response is Response.QUARANTINED:
                assert value.machine_message is not None and value.human_message is not None
                out["machine_message_hex"] = _hex(value.machine_message)
                out["human_message_hex"] = _hex(value.human_message)
            if value.reader_schemas is not None:
                out["reader_schemas"] = reader_schemas_to_json(value.reader_schemas)
            if value.declared_limits is not None:
                out["declared_limits"] = declared_limits_to_json(value.declared_limits)
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
            reader_schemas=reader_schemas_from_json(obj.get("reader_schemas")),
            declared_limits=declared_limits_from_json(obj.get("declared_limits")),
        )
    if kind == "connection_response":
        response = Response.from_wire_name(obj["response"])
        quarantined = response is Response.QUARANTINED
        return ConnectionResponse(
            response=response,
            server_instance_id=obj.get("server_instance_id"),
            machine_message=_unhex(obj, "machine_message") if quarantined else None,
            human_message=_unhex(obj, "human_message") if quarantined else None,
            reader_schemas=reader_schemas_from_json(obj.get("reader_schemas")),
            declared_limits=declared_limits_from_json(obj.get("declared_limits")),
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


def from_json(
    kind: str, obj: JsonObject, version: int = 0, bases: BaseLookup | None = None
) -> Frame | Event | NackPayload | Batch:
    """Inverse of :func:`to_json`; ``kind`` is a vector file's kind, ``version`` its spec version, ``bases`` the
    bases a batch in mode context may name (version 1)."""
    if version == 1:
        return _v1_from_json(kind, obj, bases)  # type: ignore[return-value]
    if kind in FRAME_KINDS:
        return _frame_from_json(obj)
    if kind == "event":
        return event_from_json(obj)
    if kind == "nack_payload":
        return NackPayload(machine_message=_unhex(obj, "machine_message"), human_message=_unhex(obj, "human_message"))
    if kind == "batch":
        return batch_from_json(obj)
    raise EncodeError(f"unknown kind {kind!r}")
