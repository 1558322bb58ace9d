"""Frames, the PUBLISH event payload and the NACK payload, declared with construct.

Each message is a ``Struct`` mirroring the spec's byte table, wrapped in an
``Adapter`` that turns the parsed container into the frozen message class
(and back). The top-level :data:`frame` switches on the type nibble (FRAME-1).
"""

from __future__ import annotations

from typing import Any

from construct import Adapter, BitsInteger, BitStruct, Const, Int8ub, Int32ub, Nibble, Peek, Struct, Switch, this

from ..errors import UnknownResponseCode, UnknownType, UnsupportedVersion
from ..messages import (
    Ack,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    FrameType,
    Nack,
    NackPayload,
    Ping,
    Pong,
    Publish,
    Response,
)
from .primitives import Chunk, End, OptionalTail, Reject, RestBytes, Text, VarUInt

__all__ = ["event", "nack_payload", "frame"]


def _id_header(frame_type: FrameType) -> Any:
    """FRAME-2: type:4 | message_id:12, big-endian."""
    return BitStruct("type" / Const(int(frame_type), Nibble), "message_id" / BitsInteger(12))


# -- PUB-1: the event ------------------------------------------------------------------

event_struct = Struct(
    "event_type_id" / VarUInt(what="event_type_id"),
    "schema_version" / VarUInt(what="schema_version"),
    "key" / Chunk("key", limit="max_key_size"),
    "offset" / VarUInt(what="offset"),
    "timestamp" / VarUInt(what="timestamp"),
    "event_data" / Chunk("event_data", limit="max_event_data_size"),
    End("PUB-2"),
)

_EVENT_FIELDS = ("event_type_id", "schema_version", "key", "offset", "timestamp", "event_data")


class EventAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> Event:
        return Event(**{name: obj[name] for name in _EVENT_FIELDS})

    def _encode(self, obj: Event, context: Any, path: str) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in _EVENT_FIELDS}


event = EventAdapter(event_struct)

# -- NACK-1: the NACK payload ------------------------------------------------------------

nack_payload_struct = Struct(
    "machine_message" / Chunk("machine_message"),
    "human_message" / Text(RestBytes(), "human_message"),
)


class NackPayloadAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> NackPayload:
        return NackPayload(machine_message=obj.machine_message, human_message=obj.human_message)

    def _encode(self, obj: NackPayload, context: Any, path: str) -> dict[str, Any]:
        return {"machine_message": obj.machine_message, "human_message": obj.human_message}


nack_payload = NackPayloadAdapter(nack_payload_struct)

# -- CONN-1..CONN-3: connection request ---------------------------------------------------------

connection_request_v0 = Struct(
    "app_version" / Text(Chunk("app_version"), "app_version"),
    "client_instance_id" / Int32ub,
    "server_instance_id" / OptionalTail(Int32ub, "CONN-3"),
    End("CONN-3"),
)

connection_request_struct = Struct(
    "header" / BitStruct("type" / Const(int(FrameType.CONNECTION_REQUEST), Nibble), "version" / Nibble),
    "payload"
    / Switch(
        this.header.version,
        {0: connection_request_v0},
        default=Reject(
            lambda ctx, offset: UnsupportedVersion(
                f"connection request for protocol version {ctx.header.version}; this decoder speaks 0",
                offset=0,
                version=ctx.header.version,
            )
        ),
    ),
)


class ConnectionRequestAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> ConnectionRequest:
        p = obj.payload
        return ConnectionRequest(
            version=obj.header.version,
            app_version=p.app_version,
            client_instance_id=p.client_instance_id,
            server_instance_id=p.server_instance_id,
        )

    def _encode(self, obj: ConnectionRequest, context: Any, path: str) -> dict[str, Any]:
        return {
            "header": {"version": obj.version},
            "payload": {
                "app_version": obj.app_version,
                "client_instance_id": obj.client_instance_id,
                "server_instance_id": obj.server_instance_id,
            },
        }


connection_request = ConnectionRequestAdapter(connection_request_struct)

# -- CONN-4..CONN-7: connection response --------------------------------------------------------

_no_payload = Struct(End("CONN-6"))

response_header = BitStruct("type" / Const(int(FrameType.CONNECTION_RESPONSE), Nibble), "response" / Nibble)

# By response code; version 1 replaces only the two accepting responses (CONN-11).
RESPONSE_PAYLOADS: dict[int, Any] = {
    Response.CONNECTED: _no_payload,
    Response.HELLO_NEW_CLIENT: Struct("server_instance_id" / Int32ub, End("CONN-5")),
    Response.INSTANCE_ID_MISMATCH: _no_payload,
    Response.QUARANTINED: nack_payload_struct,
    Response.UNSUPPORTED_PROTOCOL_VERSION: _no_payload,
    Response.UNSUPPORTED_APPLICATION_VERSION: _no_payload,
}


def unknown_response_code(ctx: Any, offset: int) -> UnknownResponseCode:
    return UnknownResponseCode(f"connection response code {ctx.header.response} is not defined", offset=0)


connection_response_struct = Struct(
    "header" / response_header,
    "payload" / Switch(this.header.response, RESPONSE_PAYLOADS, default=Reject(unknown_response_code)),
)


class ConnectionResponseAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> ConnectionResponse:
        response = Response(obj.header.response)
        p = obj.payload
        return ConnectionResponse(
            response=response,
            server_instance_id=p.get("server_instance_id"),
            machine_message=p.get("machine_message"),
            human_message=p.get("human_message"),
        )

    def _encode(self, obj: ConnectionResponse, context: Any, path: str) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if obj.response is Response.HELLO_NEW_CLIENT:
            payload["server_instance_id"] = obj.server_instance_id
        elif obj.response is Response.QUARANTINED:
            payload = {"machine_message": obj.machine_message, "human_message": obj.human_message}
        return {"header": {"response": int(obj.response)}, "payload": payload}


connection_response = ConnectionResponseAdapter(connection_response_struct)

# -- frames with a 12-bit message id ----------------------------------------------------------

ack_struct = Struct("header" / _id_header(FrameType.ACK), End("FRAME-4"))
publish_struct = Struct("header" / _id_header(FrameType.PUBLISH), "event" / event)
nack_struct = Struct("header" / _id_header(FrameType.NACK), "payload" / nack_payload)
# FRAME-5: the 12 bits are named but not interpreted; they are built as 0.
ping_struct = Struct("header" / _id_header(FrameType.PING), End("FRAME-4"))
pong_struct = Struct("header" / _id_header(FrameType.PONG), End("FRAME-4"))


class AckAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> Ack:
        return Ack(message_id=obj.header.message_id)

    def _encode(self, obj: Ack, context: Any, path: str) -> dict[str, Any]:
        return {"header": {"message_id": obj.message_id}}


class PublishAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> Publish:
        return Publish(message_id=obj.header.message_id, event=obj.event)

    def _encode(self, obj: Publish, context: Any, path: str) -> dict[str, Any]:
        return {"header": {"message_id": obj.message_id}, "event": obj.event}


class NackAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> Nack:
        p: NackPayload = obj.payload
        return Nack(message_id=obj.header.message_id, machine_message=p.machine_message, human_message=p.human_message)

    def _encode(self, obj: Nack, context: Any, path: str) -> dict[str, Any]:
        payload = NackPayload(machine_message=obj.machine_message, human_message=obj.human_message)
        return {"header": {"message_id": obj.message_id}, "payload": payload}


class KeepaliveAdapter(Adapter):
    def __init__(self, subcon: Any, cls: type[Ping] | type[Pong]) -> None:
        super().__init__(subcon)
        self.cls = cls

    def _decode(self, obj: Any, context: Any, path: str) -> Ping | Pong:
        return self.cls()

    def _encode(self, obj: Ping | Pong, context: Any, path: str) -> dict[str, Any]:
        return {"header": {"message_id": 0}}


# -- FRAME-1: the frame -------------------------------------------------------------------

FRAME_CONSTRUCTS: dict[FrameType, Any] = {
    FrameType.CONNECTION_REQUEST: connection_request,
    FrameType.CONNECTION_RESPONSE: connection_response,
    FrameType.ACK: AckAdapter(ack_struct),
    FrameType.PUBLISH: PublishAdapter(publish_struct),
    FrameType.PING: KeepaliveAdapter(ping_struct, Ping),
    FrameType.PONG: KeepaliveAdapter(pong_struct, Pong),
    FrameType.NACK: NackAdapter(nack_struct),
}

frame = Struct(
    "first_byte" / Peek(Int8ub),
    "body"
    / Switch(
        this.first_byte >> 4,
        {int(k): v for k, v in FRAME_CONSTRUCTS.items()},
        default=Reject(lambda ctx, offset: UnknownType(f"frame type {ctx.first_byte >> 4} is not defined in v0", offset=0)),
    ),
)

FRAME_TYPE_OF: dict[type, FrameType] = {
    ConnectionRequest: FrameType.CONNECTION_REQUEST,
    ConnectionResponse: FrameType.CONNECTION_RESPONSE,
    Ack: FrameType.ACK,
    Publish: FrameType.PUBLISH,
    Ping: FrameType.PING,
    Pong: FrameType.PONG,
    Nack: FrameType.NACK,
}
