"""The connection request and response by hand, in every version (CONN-1..CONN-11, SNEG-1, SNEG-2).

Version 1 keeps version 0's refusals and its request layout (VER-6) and
adds the request flags and the reader declaration (spec/v1/frames.md).
What differs is data: :data:`REQUEST_PAYLOADS` reads a request by the
version in its header, which a connection of version V accepts up to V
(:data:`UNSUPPORTED_VERSION_RULE` says which requirement a later one
breaks); :data:`DECODERS` and :data:`ENCODERS` hold the entries of the two
frame types by the version from which they apply, as in :mod:`.frames`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

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
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import DECLARED_BOUNDS, ConnectionRequest, ConnectionResponse, DeclaredLimits, FrameType, Response
from ..primitives import check_end, cut_in_field, cut_optional, read_chunk_length, read_varint, varint_bytes
from ..readers import ReaderSchemas
from .frames import Decoder, Encoder, as_bytes, check_text, encode_chunk, read_nack_payload

if TYPE_CHECKING:
    from ..messages import BaseLookup
    from ..records import RecordSchemas

__all__ = [
    "DECODERS",
    "ENCODERS",
    "REQUEST_PAYLOADS",
    "UNSUPPORTED_VERSION_RULE",
    "decode_reader_schemas",
    "encode_declared_limits",
    "encode_reader_schemas",
    "read_declared_limits",
    "read_reader_schemas",
]

_HAS_SERVER_INSTANCE_ID = 0x01  # CONN-8: request_flags bit 0
_HAS_READER_SCHEMAS = 0x02  # CONN-8: request_flags bit 1
_HAS_DECLARED_LIMITS = 0x04  # CONN-8: request_flags bit 2

# -- SNEG-1, SNEG-2: the reader declaration (version 1) ---------------------------------------


def _declared_count(
    data: bytes, pos: int, end: int, limits: Limits, what: str, bound: int, bound_name: str
) -> tuple[int, int]:
    count, after = read_varint(data, pos, end, limits, what)
    if count == 0:
        raise InvalidList(
            f"{what} is 0: a reader declaration lists at least one entry", offset=pos, requirement="SNEG-2"
        )
    if count > bound:
        raise LimitExceeded(f"{what} {count} exceeds {bound_name}={bound}", offset=pos, requirement="LIMIT-8")
    return count, after


def read_reader_schemas(data: bytes, pos: int, end: int, limits: Limits) -> tuple[ReaderSchemas, int]:
    """SNEG-1: type_count, then per type event_type_id, version_count, versions; both lists strictly ascending."""
    entries: list[tuple[int, tuple[int, ...]]] = []
    last_type = -1
    type_count, pos = _declared_count(
        data, pos, end, limits, "type_count", limits.max_declared_types, "max_declared_types"
    )
    for _ in range(type_count):
        at = pos
        type_id, pos = read_varint(data, pos, end, limits, "event_type_id")
        if type_id <= last_type:
            raise InvalidList(
                f"event_type_id {type_id} after {last_type}: not strictly ascending", offset=at, requirement="SNEG-2"
            )
        last_type = type_id
        versions: list[int] = []
        last_version = -1
        version_count, pos = _declared_count(
            data, pos, end, limits, "version_count", limits.max_declared_versions, "max_declared_versions"
        )
        for _ in range(version_count):
            at = pos
            version, pos = read_varint(data, pos, end, limits, "schema_version")
            if version <= last_version:
                raise InvalidList(
                    f"schema_version {version} after {last_version}: not strictly ascending",
                    offset=at,
                    requirement="SNEG-2",
                )
            last_version = version
            versions.append(version)
        entries.append((type_id, tuple(versions)))
    return ReaderSchemas(entries=tuple(entries)), pos


def encode_reader_schemas(value: ReaderSchemas) -> bytes:
    """SNEG-1 (the declaration was validated, sorted and deduplicated when built)."""
    if not isinstance(value, ReaderSchemas):
        raise EncodeError("reader_schemas must be a ReaderSchemas")
    parts = [varint_bytes(len(value.entries))]
    for type_id, versions in value.entries:
        parts.append(varint_bytes(type_id))
        parts.append(varint_bytes(len(versions)))
        parts.extend(map(varint_bytes, versions))
    return b"".join(parts)


def decode_reader_schemas(data: bytes, limits: Limits = DEFAULT_LIMITS) -> ReaderSchemas:
    """A reader declaration on its own; nothing may follow it (SNEG-1)."""
    data = as_bytes(data, "reader_schemas")
    value, pos = read_reader_schemas(data, 0, len(data), limits)
    check_end(data, pos, "SNEG-1")
    return value


# -- DECL-1, DECL-2: the declared limits (version 1) ------------------------------------------------


def read_declared_limits(data: bytes, pos: int, end: int, limits: Limits) -> tuple[DeclaredLimits, int]:
    """DECL-1: limit_flags (every bit a field), then a varint per set bit, each within its bounds (DECL-2)."""
    if pos >= end:
        raise Truncated("declared_limits ends before limit_flags", offset=pos, requirement="DECL-1")
    flags = data[pos]
    pos += 1
    values: dict[str, int] = {}
    for name, bit, lowest, highest, _default in DECLARED_BOUNDS:
        if flags >> bit & 1:
            at = pos
            value, pos = read_varint(data, pos, end, limits, name)
            if not lowest <= value <= highest:
                raise ValueOutOfRange(
                    f"declared {name} {value} is outside {lowest}..{highest}", offset=at, requirement="DECL-2"
                )
            values[name] = value
    return DeclaredLimits(**values), pos


def encode_declared_limits(value: DeclaredLimits) -> bytes:
    """DECL-1 (the values were checked against their bounds when built)."""
    if not isinstance(value, DeclaredLimits):
        raise EncodeError("declared_limits must be a DeclaredLimits")
    flags = 0
    parts = [b""]
    for name, bit, _lowest, _highest, _default in DECLARED_BOUNDS:
        declared = getattr(value, name)
        if declared is not None:
            flags |= 1 << bit
            parts.append(varint_bytes(declared))
    parts[0] = bytes((flags,))
    return b"".join(parts)


# -- CONN-1..CONN-3, CONN-8..CONN-10: the connection request ----------------------------------


def _read_request_head(data: bytes, limits: Limits) -> tuple[bytes, int, int]:
    """CONN-1, CONN-8: (app_version, client_instance_id, position after them), the start of both versions' requests."""
    length, start = read_chunk_length(data, 1, len(data), limits, "app_version", None)
    pos = start + length
    app_version = check_text(data[start:pos], limits, "app_version", 1)
    if len(data) - pos < 4:
        raise cut_in_field(data)
    return app_version, int.from_bytes(data[pos : pos + 4], "big"), pos + 4


def _read_request_v0(data: bytes, limits: Limits) -> ConnectionRequest:
    """CONN-1, CONN-3: an optional server_instance_id to the end."""
    end = len(data)
    app_version, client_instance_id, pos = _read_request_head(data, limits)
    server_instance_id = None
    if pos < end:
        if end - pos < 4:
            raise cut_optional(end - pos, 4, pos, "CONN-3")
        server_instance_id = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
    check_end(data, pos, "CONN-3")
    return ConnectionRequest(
        version=0, app_version=app_version, client_instance_id=client_instance_id, server_instance_id=server_instance_id
    )


def _read_request_v1(data: bytes, limits: Limits) -> ConnectionRequest:
    """CONN-8, CONN-9: request_flags, then what they announce."""
    app_version, client_instance_id, pos = _read_request_head(data, limits)
    end = len(data)
    if pos >= end:
        raise Truncated("connection request ends before request_flags", offset=pos, requirement="CONN-8")
    flags = data[pos]
    if flags & 0xF8:
        raise ReservedBit(f"request_flags {flags:#04x} has reserved bits 7..3 set", offset=pos, requirement="CONN-9")
    pos += 1
    server_instance_id = None
    if flags & _HAS_SERVER_INSTANCE_ID:
        if end - pos < 4:
            raise cut_in_field(data)
        server_instance_id = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
    reader_schemas = None
    if flags & _HAS_READER_SCHEMAS:
        reader_schemas, pos = read_reader_schemas(data, pos, end, limits)
    declared_limits = None
    if flags & _HAS_DECLARED_LIMITS:
        declared_limits, pos = read_declared_limits(data, pos, end, limits)
    check_end(data, pos, "CONN-9")
    return ConnectionRequest(
        version=1,
        app_version=app_version,
        client_instance_id=client_instance_id,
        server_instance_id=server_instance_id,
        reader_schemas=reader_schemas,
        declared_limits=declared_limits,
    )


# The request's layout by the version in its header (VER-6: a version-0 request keeps its layout).
REQUEST_PAYLOADS: Mapping[int, Callable[[bytes, Limits], ConnectionRequest]] = {
    0: _read_request_v0,
    1: _read_request_v1,
}
# The requirement a request for a version above the connection's breaks, by the connection's version (CONN-2 by default).
UNSUPPORTED_VERSION_RULE: Mapping[int, str | None] = {0: None, 1: "CONN-10"}


def _request_decoder(upto: int) -> Decoder:
    """The connection request decoder of a version-``upto`` connection: header versions 0..upto."""
    speaks = " and ".join(map(str, range(upto + 1)))
    rule = UNSUPPORTED_VERSION_RULE[upto]

    def decode_connection_request(
        data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None
    ) -> ConnectionRequest:
        version = data[0] & 0x0F
        if version > upto:
            raise UnsupportedVersion(
                f"connection request for protocol version {version}; this decoder speaks {speaks}",
                offset=0,
                version=version,
                requirement=rule,
            )
        return REQUEST_PAYLOADS[version](data, limits)

    return decode_connection_request


def _encode_request_v0(value: ConnectionRequest, schemas: RecordSchemas | None) -> bytes:
    if value.version != 0:
        raise EncodeError(
            f"cannot encode a connection request for version {value.version}: not defined by this protocol version"
        )
    tail = b"" if value.server_instance_id is None else value.server_instance_id.to_bytes(4, "big")
    return b"\x00" + encode_chunk(value.app_version, "app_version") + value.client_instance_id.to_bytes(4, "big") + tail


def _encode_request_v1(value: ConnectionRequest, schemas: RecordSchemas | None) -> bytes:
    if value.version != 1:
        return _encode_request_v0(value, schemas)  # version 0's layout; other versions are refused there
    flags = (
        (value.server_instance_id is not None)
        | (value.reader_schemas is not None) << 1
        | (value.declared_limits is not None) << 2
    )
    parts = [
        b"\x01",
        encode_chunk(value.app_version, "app_version"),
        value.client_instance_id.to_bytes(4, "big"),
        bytes((flags,)),
    ]
    if value.server_instance_id is not None:
        parts.append(value.server_instance_id.to_bytes(4, "big"))
    if value.reader_schemas is not None:
        parts.append(encode_reader_schemas(value.reader_schemas))
    if value.declared_limits is not None:
        parts.append(encode_declared_limits(value.declared_limits))
    return b"".join(parts)


# -- CONN-4..CONN-7, CONN-11: the connection response ------------------------------------------


def _decode_response_v0(
    data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None
) -> ConnectionResponse:
    code = data[0] & 0x0F
    if code == Response.HELLO_NEW_CLIENT:
        if len(data) < 5:
            raise cut_in_field(data)
        check_end(data, 5, "CONN-5")
        return ConnectionResponse(
            response=Response.HELLO_NEW_CLIENT, server_instance_id=int.from_bytes(data[1:5], "big")
        )
    if code == Response.QUARANTINED:
        machine, human = read_nack_payload(data, 1, len(data), limits)
        return ConnectionResponse(response=Response.QUARANTINED, machine_message=machine, human_message=human)
    if code > Response.UNSUPPORTED_APPLICATION_VERSION:
        raise UnknownResponseCode(f"connection response code {code} is not defined", offset=0)
    check_end(data, 1, "CONN-6")
    return ConnectionResponse(response=Response(code))


def _decode_response_v1(
    data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None
) -> ConnectionResponse:
    """CONN-11, CONN-13: CONNECTED and HELLO_NEW_CLIENT may end with response_flags and what it announces."""
    code = data[0] & 0x0F
    if code > Response.HELLO_NEW_CLIENT:
        return _decode_response_v0(data, limits, schemas)  # the refusals are version 0's (CONN-4..CONN-7)
    end = len(data)
    pos = 1
    server_instance_id = None
    if code == Response.HELLO_NEW_CLIENT:
        if end < 5:
            raise cut_in_field(data)
        server_instance_id = int.from_bytes(data[1:5], "big")
        pos = 5
    reader_schemas = declared_limits = None
    if pos < end:  # CONN-11: response_flags is present exactly when bytes follow
        flags = data[pos]
        if flags & 0xFC:
            raise ReservedBit(
                f"response_flags {flags:#04x} has reserved bits 7..2 set", offset=pos, requirement="CONN-13"
            )
        if flags == 0:
            raise TrailingBytes(
                "a response_flags of 0 announces nothing: it is left out", offset=pos, requirement="CONN-13"
            )
        pos += 1
        if flags & 1:
            reader_schemas, pos = read_reader_schemas(data, pos, end, limits)
        if flags & 2:
            declared_limits, pos = read_declared_limits(data, pos, end, limits)
    check_end(data, pos, "CONN-13")
    return ConnectionResponse(
        response=Response(code),
        server_instance_id=server_instance_id,
        reader_schemas=reader_schemas,
        declared_limits=declared_limits,
    )


def _encode_response_v0(value: ConnectionResponse, schemas: RecordSchemas | None) -> bytes:
    if value.reader_schemas is not None:  # a version-1 field: refused like the reference does
        raise EncodeError("reader_schemas exist only in version 1 (CONN-8, CONN-12)")
    if value.declared_limits is not None:
        raise EncodeError("declared_limits exist only in version 1 (CONN-8, CONN-12)")
    head = bytes((0x10 | value.response,))
    if value.response is Response.HELLO_NEW_CLIENT:
        return head + value.server_instance_id.to_bytes(4, "big")  # type: ignore[union-attr]
    if value.response is Response.QUARANTINED:
        return head + encode_chunk(value.machine_message, "machine_message") + value.human_message  # type: ignore[arg-type,operator]
    return head


def _encode_response_v1(value: ConnectionResponse, schemas: RecordSchemas | None) -> bytes:
    if value.reader_schemas is None and value.declared_limits is None:
        return _encode_response_v0(value, schemas)  # without optional fields, version 0's bytes
    flags = (value.reader_schemas is not None) | (value.declared_limits is not None) << 1
    parts = [bytes((0x10 | value.response,))]
    if value.response is Response.HELLO_NEW_CLIENT:
        parts.append(value.server_instance_id.to_bytes(4, "big"))  # type: ignore[union-attr]
    parts.append(bytes((flags,)))
    if value.reader_schemas is not None:
        parts.append(encode_reader_schemas(value.reader_schemas))
    if value.declared_limits is not None:
        parts.append(encode_declared_limits(value.declared_limits))
    return b"".join(parts)


# By frame type (or class), then by the version from which the entry applies.
DECODERS: Mapping[FrameType, Mapping[int, Decoder]] = {
    FrameType.CONNECTION_REQUEST: {0: _request_decoder(0), 1: _request_decoder(1)},
    FrameType.CONNECTION_RESPONSE: {0: _decode_response_v0, 1: _decode_response_v1},
}
ENCODERS: Mapping[type, Mapping[int, Encoder]] = {
    ConnectionRequest: {0: _encode_request_v0, 1: _encode_request_v1},
    ConnectionResponse: {0: _encode_response_v0, 1: _encode_response_v1},
}
