"""The connection handshake, every version: request, response and the reader declaration.

What differs by version is data, keyed by the version it appeared in:
:data:`REQUEST_PAYLOADS` by the version in the request header (CONN-1,
CONN-8), :data:`RESPONSE_PAYLOADS` by the connection's version (version 1
replaces only the two accepting responses, CONN-11), and
:data:`UNSUPPORTED_VERSION_RULE`. :func:`connection_request` and
:func:`connection_response` build the construct a version uses.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from construct import Adapter, BitStruct, Const, Construct, If, Int32ub, Nibble, Struct, Switch, this

from ..errors import (
    EncodeError,
    InvalidList,
    LimitExceeded,
    ReservedBit,
    Truncated,
    UnknownResponseCode,
    UnsupportedVersion,
)
from ..limits import Limits
from ..messages import ConnectionRequest, ConnectionResponse, FrameType, Response
from ..primitives import varint_bytes
from ..readers import ReaderSchemas
from ..versions import pick
from .payloads import nack_payload_struct
from .primitives import Chunk, End, OptionalTail, Reject, Text, limits_of, remaining, stream_varint

__all__ = [
    "REQUEST_PAYLOADS",
    "RESPONSE_PAYLOADS",
    "UNSUPPORTED_VERSION_RULE",
    "connection_request",
    "connection_response",
    "reader_schemas",
    "reader_schemas_unit",
]

# -- SNEG-1, SNEG-2: the reader declaration (version 1) -----------------------------------------------


def _bounded_count(stream: io.BytesIO, limits: Limits, what: str, limit_name: str) -> int:
    start = stream.tell()
    count = stream_varint(stream, limits, what=what)
    if count == 0:
        raise InvalidList(
            f"{what} is 0: a reader declaration lists at least one entry", offset=start, requirement="SNEG-2"
        )
    bound = getattr(limits, limit_name)
    if count > bound:
        raise LimitExceeded(f"{what} {count} exceeds {limit_name}={bound}", offset=start, requirement="LIMIT-8")
    return count


class ReaderSchemasField(Construct):
    """SNEG-1: type_count, then per type event_type_id, version_count, versions; strictly ascending."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> ReaderSchemas:
        limits = limits_of(context)
        entries: list[tuple[int, tuple[int, ...]]] = []
        for _ in range(_bounded_count(stream, limits, "type_count", "max_declared_types")):
            at = stream.tell()
            type_id = stream_varint(stream, limits, what="event_type_id")
            if entries and type_id <= entries[-1][0]:
                raise InvalidList(
                    f"event_type_id {type_id} after {entries[-1][0]}: not strictly ascending",
                    offset=at,
                    requirement="SNEG-2",
                )
            versions: list[int] = []
            for _ in range(_bounded_count(stream, limits, "version_count", "max_declared_versions")):
                at = stream.tell()
                version = stream_varint(stream, limits, what="schema_version")
                if versions and version <= versions[-1]:
                    raise InvalidList(
                        f"schema_version {version} after {versions[-1]}: not strictly ascending",
                        offset=at,
                        requirement="SNEG-2",
                    )
                versions.append(version)
            entries.append((type_id, tuple(versions)))
        return ReaderSchemas(entries=tuple(entries))

    def _build(self, obj: ReaderSchemas, stream: io.BytesIO, context: Any, path: str) -> ReaderSchemas:
        if not isinstance(obj, ReaderSchemas):
            raise EncodeError("reader_schemas must be a ReaderSchemas")
        out = bytearray(varint_bytes(len(obj.entries), what="type_count"))
        for type_id, versions in obj.entries:
            out += varint_bytes(type_id, what="event_type_id") + varint_bytes(len(versions), what="version_count")
            out += b"".join(varint_bytes(v, what="schema_version") for v in versions)
        stream.write(out)
        return obj


reader_schemas = ReaderSchemasField()


class OptionalTailDeclaration(Construct):
    """CONN-11: the declaration is present exactly when bytes follow."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> ReaderSchemas | None:
        return reader_schemas._parsereport(stream, context, path) if remaining(stream) else None

    def _build(self, obj: ReaderSchemas | None, stream: io.BytesIO, context: Any, path: str) -> None:
        if obj is not None:
            reader_schemas._build(obj, stream, context, path)


reader_schemas_unit = Struct("value" / reader_schemas, End("SNEG-1"))
"""A reader declaration on its own (``encode_reader_schemas``): nothing may follow it."""

# -- CONN-1..CONN-3, CONN-8..CONN-10: the connection request -------------------------------------------

connection_request_v0 = Struct(
    "app_version" / Text(Chunk("app_version"), "app_version"),
    "client_instance_id" / Int32ub,
    "server_instance_id" / OptionalTail(Int32ub, "CONN-3"),
    End("CONN-3"),
)


class RequestFlags(Construct):
    """CONN-8, CONN-9: bit 0 has_server_instance_id, bit 1 has_reader_schemas, bits 7..2 reserved."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> int:
        at = stream.tell()
        raw = stream.read(1)
        if not raw:
            raise Truncated("connection request ends before request_flags", offset=at, requirement="CONN-8")
        if raw[0] & 0xFC:
            raise ReservedBit(
                f"request_flags {raw[0]:#04x} has reserved bits 7..2 set", offset=at, requirement="CONN-9"
            )
        return raw[0]

    def _build(self, obj: int, stream: io.BytesIO, context: Any, path: str) -> int:
        stream.write(bytes([obj]))
        return obj


connection_request_v1 = Struct(
    "app_version" / Text(Chunk("app_version"), "app_version"),
    "client_instance_id" / Int32ub,
    "request_flags" / RequestFlags(),
    "server_instance_id" / If(this.request_flags & 1, Int32ub),
    "reader_schemas" / If(this.request_flags & 2, reader_schemas),
    End("CONN-9"),
)

# By the version in the request header. A decoder of connection version V reads headers up to V.
REQUEST_PAYLOADS: Mapping[int, Any] = {0: connection_request_v0, 1: connection_request_v1}

# CONN-2 (version 0 names no requirement of its own), CONN-10.
UNSUPPORTED_VERSION_RULE: Mapping[int, str | None] = {0: None, 1: "CONN-10"}


def _spoken(upto: int) -> str:
    names = [str(v) for v in REQUEST_PAYLOADS if v <= upto]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _unsupported_version(upto: int) -> Reject:
    spoken, rule = _spoken(upto), UNSUPPORTED_VERSION_RULE[upto]
    return Reject(
        lambda ctx, offset: UnsupportedVersion(
            f"connection request for protocol version {ctx.header.version}; this decoder speaks {spoken}",
            offset=0,
            version=ctx.header.version,
            requirement=rule,
        )
    )


class ConnectionRequestAdapter(Adapter):
    def __init__(self, subcon: Any, version: int) -> None:
        super().__init__(subcon)
        self.version = version

    def _decode(self, obj: Any, context: Any, path: str) -> ConnectionRequest:
        p = obj.payload
        return ConnectionRequest(
            version=obj.header.version,
            app_version=p.app_version,
            client_instance_id=p.client_instance_id,
            server_instance_id=p.server_instance_id,
            reader_schemas=p.get("reader_schemas"),
        )

    def _encode(self, obj: ConnectionRequest, context: Any, path: str) -> dict[str, Any]:
        _no_declaration_before_v1(obj, self.version)
        payload: dict[str, Any] = {
            "app_version": obj.app_version,
            "client_instance_id": obj.client_instance_id,
            "server_instance_id": obj.server_instance_id,
        }
        if obj.version == 1:
            payload["request_flags"] = (obj.server_instance_id is not None) | (obj.reader_schemas is not None) << 1
            payload["reader_schemas"] = obj.reader_schemas
        return {"header": {"version": obj.version}, "payload": payload}


def _no_declaration_before_v1(obj: ConnectionRequest | ConnectionResponse, version: int) -> None:
    if version < 1 and obj.reader_schemas is not None:
        raise EncodeError("reader_schemas exist only in version 1 (CONN-8, CONN-12)")


def connection_request(upto: int) -> ConnectionRequestAdapter:
    """The connection request a version-``upto`` decoder reads: header versions 0..upto, others rejected."""
    return ConnectionRequestAdapter(
        Struct(
            "header" / BitStruct("type" / Const(int(FrameType.CONNECTION_REQUEST), Nibble), "version" / Nibble),
            "payload"
            / Switch(
                this.header.version,
                {v: p for v, p in REQUEST_PAYLOADS.items() if v <= upto},
                default=_unsupported_version(upto),
            ),
        ),
        upto,
    )


# -- CONN-4..CONN-7, CONN-11: the connection response -----------------------------------------------------

_no_payload = Struct(End("CONN-6"))

response_header = BitStruct("type" / Const(int(FrameType.CONNECTION_RESPONSE), Nibble), "response" / Nibble)

_RESPONSE_PAYLOADS_V0: Mapping[int, Any] = {
    Response.CONNECTED: _no_payload,
    Response.HELLO_NEW_CLIENT: Struct("server_instance_id" / Int32ub, End("CONN-5")),
    Response.INSTANCE_ID_MISMATCH: _no_payload,
    Response.QUARANTINED: nack_payload_struct,
    Response.UNSUPPORTED_PROTOCOL_VERSION: _no_payload,
    Response.UNSUPPORTED_APPLICATION_VERSION: _no_payload,
}

# By connection version, then response code; version 1 replaces only the two accepting responses (CONN-11).
RESPONSE_PAYLOADS: Mapping[int, Mapping[int, Any]] = {
    0: _RESPONSE_PAYLOADS_V0,
    1: {
        **_RESPONSE_PAYLOADS_V0,
        Response.CONNECTED: Struct("reader_schemas" / OptionalTailDeclaration(), End("CONN-11")),
        Response.HELLO_NEW_CLIENT: Struct(
            "server_instance_id" / Int32ub, "reader_schemas" / OptionalTailDeclaration(), End("CONN-11")
        ),
    },
}


def unknown_response_code(ctx: Any, offset: int) -> UnknownResponseCode:
    return UnknownResponseCode(f"connection response code {ctx.header.response} is not defined", offset=0)


class ConnectionResponseAdapter(Adapter):
    def __init__(self, subcon: Any, version: int) -> None:
        super().__init__(subcon)
        self.version = version

    def _decode(self, obj: Any, context: Any, path: str) -> ConnectionResponse:
        p = obj.payload
        return ConnectionResponse(
            response=Response(obj.header.response),
            server_instance_id=p.get("server_instance_id"),
            machine_message=p.get("machine_message"),
            human_message=p.get("human_message"),
            reader_schemas=p.get("reader_schemas"),
        )

    def _encode(self, obj: ConnectionResponse, context: Any, path: str) -> dict[str, Any]:
        _no_declaration_before_v1(obj, self.version)
        payload: dict[str, Any] = {}
        if obj.response in (Response.CONNECTED, Response.HELLO_NEW_CLIENT):
            payload = {"server_instance_id": obj.server_instance_id, "reader_schemas": obj.reader_schemas}
        elif obj.response is Response.QUARANTINED:
            payload = {"machine_message": obj.machine_message, "human_message": obj.human_message}
        return {"header": {"response": int(obj.response)}, "payload": payload}


def connection_response(version: int) -> ConnectionResponseAdapter:
    """The connection response of a version-``version`` connection."""
    payloads = pick(RESPONSE_PAYLOADS, version)
    assert payloads is not None
    return ConnectionResponseAdapter(
        Struct(
            "header" / response_header,
            "payload" / Switch(this.header.response, payloads, default=Reject(unknown_response_code)),
        ),
        version,
    )
