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
    TrailingBytes,
    Truncated,
    UnknownResponseCode,
    UnsupportedVersion,
    ValueOutOfRange,
)
from ..limits import Limits
from ..messages import DECLARED_BOUNDS, ConnectionRequest, ConnectionResponse, DeclaredLimits, FrameType, Response
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
    "declared_limits",
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


reader_schemas_unit = Struct("value" / reader_schemas, End("SNEG-1"))


# -- DECL-1, DECL-2: the declared limits (version 1) -------------------------------------------------------


class DeclaredLimitsField(Construct):
    """DECL-1: limit_flags (every bit a field), then a varint per set bit, each within its bounds (DECL-2)."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> DeclaredLimits:
        limits = limits_of(context)
        at = stream.tell()
        raw = stream.read(1)
        if not raw:
            raise Truncated("declared_limits ends before limit_flags", offset=at, requirement="DECL-1")
        flags = raw[0]
        values: dict[str, int] = {}
        for name, bit, lowest, highest, _default in DECLARED_BOUNDS:
            if flags >> bit & 1:
                at = stream.tell()
                value = stream_varint(stream, limits, what=name)
                if not lowest <= value <= highest:
                    raise ValueOutOfRange(
                        f"declared {name} {value} is outside {lowest}..{highest}", offset=at, requirement="DECL-2"
                    )
                values[name] = value
        return DeclaredLimits(**values)

    def _build(self, obj: DeclaredLimits, stream: io.BytesIO, context: Any, path: str) -> DeclaredLimits:
        if not isinstance(obj, DeclaredLimits):
            raise EncodeError("declared_limits must be a DeclaredLimits")
        flags = 0
        body = bytearray()
        for name, bit, _lowest, _highest, _default in DECLARED_BOUNDS:
            value = getattr(obj, name)
            if value is not None:
                flags |= 1 << bit
                body += varint_bytes(value, what=name)
        stream.write(bytes((flags,)) + body)
        return obj


declared_limits = DeclaredLimitsField()


class ResponseTail(Construct):
    """CONN-11, CONN-13: response_flags (present exactly when not 0), then reader_schemas and declared_limits."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> tuple[ReaderSchemas | None, DeclaredLimits | None]:
        if not remaining(stream):
            return None, None
        at = stream.tell()
        flags = stream.read(1)[0]
        if flags & 0xFC:
            raise ReservedBit(
                f"response_flags {flags:#04x} has reserved bits 7..2 set", offset=at, requirement="CONN-13"
            )
        if flags == 0:
            raise TrailingBytes(
                "a response_flags of 0 announces nothing: it is left out", offset=at, requirement="CONN-13"
            )
        schemas = reader_schemas._parsereport(stream, context, path) if flags & 1 else None
        declared = declared_limits._parsereport(stream, context, path) if flags & 2 else None
        return schemas, declared

    def _build(
        self, obj: tuple[ReaderSchemas | None, DeclaredLimits | None], stream: io.BytesIO, context: Any, path: str
    ) -> Any:
        schemas, declared = obj
        flags = (schemas is not None) | (declared is not None) << 1
        if flags:
            stream.write(bytes((flags,)))
        if schemas is not None:
            reader_schemas._build(schemas, stream, context, path)
        if declared is not None:
            declared_limits._build(declared, stream, context, path)
        return obj


"""A reader declaration on its own (``encode_reader_schemas``): nothing may follow it."""

# -- CONN-1..CONN-3, CONN-8..CONN-10: the connection request -------------------------------------------

connection_request_v0 = Struct(
    "app_version" / Text(Chunk("app_version"), "app_version"),
    "client_instance_id" / Int32ub,
    "server_instance_id" / OptionalTail(Int32ub, "CONN-3"),
    End("CONN-3"),
)


class RequestFlags(Construct):
    """CONN-8, CONN-9: bit 0 has_server_instance_id, bit 1 has_reader_schemas, bit 2 has_declared_limits, 7..3 reserved."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> int:
        at = stream.tell()
        raw = stream.read(1)
        if not raw:
            raise Truncated("connection request ends before request_flags", offset=at, requirement="CONN-8")
        if raw[0] & 0xF8:
            raise ReservedBit(
                f"request_flags {raw[0]:#04x} has reserved bits 7..3 set", offset=at, requirement="CONN-9"
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
    "declared_limits" / If(this.request_flags & 4, declared_limits),
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
            declared_limits=p.get("declared_limits"),
        )

    def _encode(self, obj: ConnectionRequest, context: Any, path: str) -> dict[str, Any]:
        _no_declaration_before_v1(obj, self.version)
        payload: dict[str, Any] = {
            "app_version": obj.app_version,
            "client_instance_id": obj.client_instance_id,
            "server_instance_id": obj.server_instance_id,
        }
        if obj.version == 1:
            payload["request_flags"] = (
                (obj.server_instance_id is not None)
                | (obj.reader_schemas is not None) << 1
                | (obj.declared_limits is not None) << 2
            )
            payload["reader_schemas"] = obj.reader_schemas
            payload["declared_limits"] = obj.declared_limits
        return {"header": {"version": obj.version}, "payload": payload}


def _no_declaration_before_v1(obj: ConnectionRequest | ConnectionResponse, version: int) -> None:
    if version < 1 and obj.reader_schemas is not None:
        raise EncodeError("reader_schemas exist only in version 1 (CONN-8, CONN-12)")
    if version < 1 and obj.declared_limits is not None:
        raise EncodeError("declared_limits exist only in version 1 (CONN-8, CONN-12)")


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
        Response.CONNECTED: Struct("tail" / ResponseTail(), End("CONN-13")),
        Response.HELLO_NEW_CLIENT: Struct("server_instance_id" / Int32ub, "tail" / ResponseTail(), End("CONN-13")),
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
        schemas, declared = p.get("tail", (None, None))
        return ConnectionResponse(
            response=Response(obj.header.response),
            server_instance_id=p.get("server_instance_id"),
            machine_message=p.get("machine_message"),
            human_message=p.get("human_message"),
            reader_schemas=schemas,
            declared_limits=declared,
        )

    def _encode(self, obj: ConnectionResponse, context: Any, path: str) -> dict[str, Any]:
        _no_declaration_before_v1(obj, self.version)
        payload: dict[str, Any] = {}
        if obj.response in (Response.CONNECTED, Response.HELLO_NEW_CLIENT):
            payload = {
                "server_instance_id": obj.server_instance_id,
                "tail": (obj.reader_schemas, obj.declared_limits),
            }
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
