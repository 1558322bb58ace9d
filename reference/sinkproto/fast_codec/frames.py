"""Frames, the PUBLISH event payload and the NACK payload, by hand (FRAME-1..FRAME-5, PUB-1, NACK-1).

Decoders read from ``bytes`` with integer positions; the hot path (a
PUBLISH) takes 1-byte varints and chunk lengths inline and reads anything
else with :mod:`sinkproto.primitives`, which both codecs share. Every
error is raised where, and as, the construct reference raises it (ERR-2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import repeat

from ..errors import (
    EncodeError,
    InvalidUtf8,
    LimitExceeded,
    Truncated,
    UnknownResponseCode,
    UnknownType,
    UnsupportedVersion,
)
from ..limits import Limits
from ..messages import (
    Ack,
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
from ..primitives import TABLE_SIZE, VARINT, check_end, cut_in_field, cut_optional, read_chunk_length, read_varint, varint_bytes

__all__ = [
    "as_bytes",
    "check_frame_size",
    "decode_frame_bytes",
    "decode_connection_request",
    "decode_connection_response",
    "read_request_head",
    "check_text",
    "encode_chunk",
    "encode_connection_request",
    "encode_connection_response",
    "read_event",
    "read_nack_payload",
    "encode_frame",
    "encode_event",
    "encode_nack_payload",
    "new_event",
    "new_events",
]

# -- building decoded values without re-validating them ------------------------------------
#
# The dataclasses validate every field when built by an application. What a
# decoder builds is valid by construction (varints are bounded to 2^64-1,
# lengths were checked), and the validation is most of the cost of decoding
# a small event; so decoded values are assembled through the slot
# descriptors, which bypass the frozen __setattr__ and __post_init__ but
# make exactly the same objects (equal, hashable, immutable).
_new = object.__new__
_set_event_type_id = Event.__dict__["event_type_id"].__set__
_set_schema_version = Event.__dict__["schema_version"].__set__
_set_key = Event.__dict__["key"].__set__
_set_offset = Event.__dict__["offset"].__set__
_set_timestamp = Event.__dict__["timestamp"].__set__
_set_event_data = Event.__dict__["event_data"].__set__
_set_publish_id = Publish.__dict__["message_id"].__set__
_set_publish_event = Publish.__dict__["event"].__set__


def new_event(event_type_id: int, schema_version: int, key: bytes, offset: int, timestamp: int, event_data: bytes) -> Event:
    event: Event = _new(Event)
    _set_event_type_id(event, event_type_id)
    _set_schema_version(event, schema_version)
    _set_key(event, key)
    _set_offset(event, offset)
    _set_timestamp(event, timestamp)
    _set_event_data(event, event_data)
    return event


_EVENT_SETTERS = (_set_event_type_id, _set_schema_version, _set_key, _set_offset, _set_timestamp, _set_event_data)


def new_events(count: int, columns: tuple[Iterable[object], ...]) -> tuple[Event, ...]:
    """``count`` events from six columns (in field order), column by column.

    Setting one field of every event per pass keeps the loop in C: a slot
    setter returns None, so ``any(map(setter, events, column))`` runs it
    over the whole column without a Python-level iteration (about three
    times faster than building the events one by one).
    """
    events = list(map(_new, repeat(Event, count)))
    for setter, column in zip(_EVENT_SETTERS, columns):
        any(map(setter, events, column))
    return tuple(events)


def _new_publish(message_id: int, event: Event) -> Publish:
    publish: Publish = _new(Publish)
    _set_publish_id(publish, message_id)
    _set_publish_event(publish, event)
    return publish


# -- decoding -------------------------------------------------------------------------------


def read_event(data: bytes, pos: int, end: int, limits: Limits) -> Event:
    """PUB-1: the event from ``pos`` to exactly ``end``, the end of ``data`` (PUB-2)."""
    # 1-byte varints and chunk lengths that pass every check inline; anything else by the primitives.
    if pos < end and (event_type_id := data[pos]) < 0x80:
        pos += 1
    else:
        event_type_id, pos = read_varint(data, pos, end, limits, "event_type_id")
    if pos < end and (schema_version := data[pos]) < 0x80:
        pos += 1
    else:
        schema_version, pos = read_varint(data, pos, end, limits, "schema_version")
    if pos < end and (length := data[pos]) < 0x80 and length <= limits.max_key_size and length < end - pos:
        pos += 1
    else:
        length, pos = read_chunk_length(data, pos, end, limits, "key", limits.max_key_size, "max_key_size")
    key = data[pos : pos + length]
    pos += length
    offset, pos = read_varint(data, pos, end, limits, "offset")
    timestamp, pos = read_varint(data, pos, end, limits, "timestamp")
    if pos < end and (length := data[pos]) < 0x80 and length <= limits.max_event_data_size and length < end - pos:
        pos += 1
    else:
        length, pos = read_chunk_length(data, pos, end, limits, "event_data", limits.max_event_data_size, "max_event_data_size")
    if pos + length != end:
        check_end(data, pos + length, "PUB-2")
    return new_event(event_type_id, schema_version, key, offset, timestamp, data[pos:end])


def as_bytes(data: object, unit: str) -> bytes:
    """``data`` as bytes (bytes-like inputs are accepted, as by the reference); anything else is a TypeError."""
    if type(data) is bytes:
        return data
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{unit} must be bytes-like, got {type(data).__name__}")
    return bytes(data)


def check_frame_size(data: bytes, limits: Limits) -> None:
    """STREAM-3, LIMIT-1: checked before the frame's first byte is read, in both versions."""
    if not data:
        raise Truncated("a frame has at least one byte", offset=0, requirement="STREAM-3")
    if len(data) > limits.max_frame_size:
        raise LimitExceeded(
            f"frame of {len(data)} bytes exceeds max_frame_size={limits.max_frame_size}", offset=0, requirement="LIMIT-1"
        )


def check_text(value: bytes, limits: Limits, what: str, at: int) -> bytes:
    if limits.strict_utf8:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidUtf8(f"{what} is not UTF-8: {exc.reason}", offset=at) from None
    return value


def read_nack_payload(data: bytes, pos: int, end: int, limits: Limits) -> tuple[bytes, bytes]:
    """NACK-1: chunk(machine_message), then human_message to the end."""
    length, start = read_chunk_length(data, pos, end, limits, "machine_message", None)
    machine = data[start : start + length]
    at = start + length
    return machine, check_text(data[at:end], limits, "human_message", at)


def read_request_head(data: bytes, limits: Limits) -> tuple[bytes, int, int]:
    """CONN-1, CONN-8: (app_version, client_instance_id, position after them), the start of both versions' requests."""
    length, start = read_chunk_length(data, 1, len(data), limits, "app_version", None)
    pos = start + length
    app_version = check_text(data[start:pos], limits, "app_version", 1)
    if len(data) - pos < 4:
        raise cut_in_field(data)
    return app_version, int.from_bytes(data[pos : pos + 4], "big"), pos + 4


def decode_connection_request(data: bytes, limits: Limits) -> ConnectionRequest:
    version = data[0] & 0x0F
    if version != 0:
        raise UnsupportedVersion(
            f"connection request for protocol version {version}; this decoder speaks 0", offset=0, version=version
        )
    end = len(data)
    app_version, client_instance_id, pos = read_request_head(data, limits)
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


def decode_connection_response(data: bytes, limits: Limits) -> ConnectionResponse:
    code = data[0] & 0x0F
    if code == Response.HELLO_NEW_CLIENT:
        if len(data) < 5:
            raise cut_in_field(data)
        check_end(data, 5, "CONN-5")
        return ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=int.from_bytes(data[1:5], "big"))
    if code == Response.QUARANTINED:
        machine, human = read_nack_payload(data, 1, len(data), limits)
        return ConnectionResponse(response=Response.QUARANTINED, machine_message=machine, human_message=human)
    if code > Response.UNSUPPORTED_APPLICATION_VERSION:
        raise UnknownResponseCode(f"connection response code {code} is not defined", offset=0)
    check_end(data, 1, "CONN-6")
    return ConnectionResponse(response=Response(code))


def _decode_ack(data: bytes, limits: Limits) -> Ack:
    check_end(data, 2, "FRAME-4")
    return Ack(message_id=(data[0] & 0x0F) << 8 | data[1])


def _decode_publish(data: bytes, limits: Limits) -> Publish:
    return _new_publish((data[0] & 0x0F) << 8 | data[1], read_event(data, 2, len(data), limits))


def _decode_nack(data: bytes, limits: Limits) -> Nack:
    machine, human = read_nack_payload(data, 2, len(data), limits)
    return Nack(message_id=(data[0] & 0x0F) << 8 | data[1], machine_message=machine, human_message=human)


_PING = Ping()
_PONG = Pong()


def _decode_ping(data: bytes, limits: Limits) -> Ping:
    check_end(data, 2, "FRAME-4")  # FRAME-5: the 12 bits are ignored
    return _PING


def _decode_pong(data: bytes, limits: Limits) -> Pong:
    check_end(data, 2, "FRAME-4")
    return _PONG


# FRAME-1: decoder by type nibble; types 3..7 start with a 2-byte header.
_DECODERS: tuple[Callable[[bytes, Limits], Frame] | None, ...] = (
    decode_connection_request,
    decode_connection_response,
    None,
    _decode_ack,
    _decode_publish,
    _decode_ping,
    _decode_pong,
    _decode_nack,
    *(None,) * 8,
)


def decode_frame_bytes(data: bytes, limits: Limits) -> Frame:
    """One whole, non-empty frame within max_frame_size (checked by the caller)."""
    first = data[0]
    if first >> 4 == 4 and len(data) >= 2:  # PUBLISH: by far the most frequent frame
        return _new_publish((first & 0x0F) << 8 | data[1], read_event(data, 2, len(data), limits))
    frame_type = first >> 4
    decoder = _DECODERS[frame_type]
    if decoder is None:
        raise UnknownType(f"frame type {frame_type} is not defined in v0", offset=0)
    if frame_type >= 3 and len(data) < 2:
        raise cut_in_field(data)
    return decoder(data, limits)


# -- encoding -------------------------------------------------------------------------------
#
# The dataclasses validated every field when they were built; the encoders
# only add the checks the reference codec makes beyond them.


def _event_parts(value: Event) -> list[bytes]:
    """PUB-1, as the pieces to join: 1- and 2-byte varints from the table, longer ones from two tables."""
    table = VARINT
    key = value.key
    data = value.event_data
    t = value.event_type_id
    s = value.schema_version
    o = value.offset
    ts = value.timestamp
    return [
        table[t] if 0 <= t < TABLE_SIZE else varint_bytes(t, what="event_type_id"),
        table[s] if 0 <= s < TABLE_SIZE else varint_bytes(s, what="schema_version"),
        table[len(key)] if len(key) < TABLE_SIZE else varint_bytes(len(key), what="key length"),
        key,
        table[o] if 0 <= o < TABLE_SIZE else varint_bytes(o, what="offset"),
        table[ts] if 0 <= ts < TABLE_SIZE else varint_bytes(ts, what="timestamp"),
        table[len(data)] if len(data) < TABLE_SIZE else varint_bytes(len(data), what="event_data length"),
        data,
    ]


def encode_event(value: Event) -> bytes:
    """PUB-1."""
    return b"".join(_event_parts(value))


def encode_chunk(value: bytes, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise EncodeError(f"{what} must be bytes")
    return varint_bytes(len(value), what=f"{what} length") + value


def encode_nack_payload(value: NackPayload) -> bytes:
    """NACK-1."""
    return encode_chunk(value.machine_message, "machine_message") + value.human_message


def encode_connection_request(value: ConnectionRequest) -> bytes:
    if value.version != 0:
        raise EncodeError(f"cannot encode a connection request for version {value.version}: not defined by this protocol version")
    tail = b"" if value.server_instance_id is None else value.server_instance_id.to_bytes(4, "big")
    return b"\x00" + encode_chunk(value.app_version, "app_version") + value.client_instance_id.to_bytes(4, "big") + tail


def encode_connection_response(value: ConnectionResponse) -> bytes:
    if getattr(value, "reader_schemas", None) is not None:  # a version-1 field: refused like the reference does
        raise EncodeError("reader_schemas exist only in version 1 (CONN-8, CONN-12)")
    head = bytes((0x10 | value.response,))
    if value.response is Response.HELLO_NEW_CLIENT:
        return head + value.server_instance_id.to_bytes(4, "big")  # type: ignore[union-attr]
    if value.response is Response.QUARANTINED:
        return head + encode_chunk(value.machine_message, "machine_message") + value.human_message  # type: ignore[arg-type,operator]
    return head


def _encode_publish(value: Publish) -> bytes:
    message_id = value.message_id
    parts = _event_parts(value.event)
    parts.insert(0, _PUBLISH_HEADERS[message_id])
    return b"".join(parts)


# FRAME-2: the two header bytes of a PUBLISH for every message id.
_PUBLISH_HEADERS: tuple[bytes, ...] = tuple(bytes((0x40 | i >> 8, i & 0xFF)) for i in range(4096))


def _encode_ack(value: Ack) -> bytes:
    return bytes((0x30 | value.message_id >> 8, value.message_id & 0xFF))


def _encode_nack(value: Nack) -> bytes:
    message_id = value.message_id
    head = bytes((0x70 | message_id >> 8, message_id & 0xFF))
    return head + encode_chunk(value.machine_message, "machine_message") + value.human_message


_ENCODERS: dict[type, Callable[[Frame], bytes]] = {
    Publish: _encode_publish,  # type: ignore[dict-item]
    Ack: _encode_ack,  # type: ignore[dict-item]
    Nack: _encode_nack,  # type: ignore[dict-item]
    Ping: lambda value: b"\x50\x00",
    Pong: lambda value: b"\x60\x00",
    ConnectionRequest: encode_connection_request,  # type: ignore[dict-item]
    ConnectionResponse: encode_connection_response,  # type: ignore[dict-item]
}


def encode_frame(message: Frame) -> bytes:
    """One frame, without the 2-byte stream length prefix."""
    if type(message) is Publish:  # by far the most frequent frame
        return _encode_publish(message)
    encoder = _ENCODERS.get(type(message))
    if encoder is None:
        raise EncodeError(f"{type(message).__name__} is not a frame")
    return encoder(message)
