"""Frames, the PUBLISH event payload and the NACK payload, by hand (FRAME-1..FRAME-5, PUB-1, NACK-1, BPUB-1, BRES-1).

Decoders read from ``bytes`` with integer positions; the hot path (a
PUBLISH) takes 1-byte varints and chunk lengths inline and reads anything
else with :mod:`sinkproto.primitives`, which both codecs share. Every
error is raised where, and as, the construct reference raises it (ERR-2).

This module holds the entries of every frame type but the connection
request and response (:mod:`.handshake`): :data:`DECODERS` and
:data:`ENCODERS`, keyed by frame type (or class) and then by the protocol
version from which an entry applies. ACK, PUBLISH, PING, PONG and NACK are
version 0's and unchanged since; BATCH_PUBLISH and BATCH_RESULT are version
1's, and so is CLOSE (FRAME-7, CLOSE-1). :mod:`sinkproto.fast_codec` assembles the tables of every
module into one dispatch tuple per version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import EncodeError, InvalidList, InvalidUtf8, LimitExceeded, ReservedBit, Truncated, ValueOutOfRange
from ..limits import Limits
from ..messages import (
    MAX_MESSAGE_ID,
    MAX_RETRY_AFTER,
    Ack,
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    Close,
    CloseCode,
    Event,
    Frame,
    FrameType,
    Nack,
    NackPayload,
    Ping,
    Pong,
    Publish,
)
from ..primitives import TABLE_SIZE, VARINT, check_end, read_chunk_length, read_varint, varint_bytes
from ._values import new_batch_publish, new_event, new_publish
from .batch_format import encode_batch_v1, read_batch_v1

if TYPE_CHECKING:
    from ..messages import BaseLookup
    from ..records import RecordSchemas

__all__ = [
    "DECODERS",
    "ENCODERS",
    "Decoder",
    "Encoder",
    "as_bytes",
    "check_frame_size",
    "check_text",
    "decode_publish",
    "encode_chunk",
    "encode_event",
    "encode_nack_payload",
    "encode_publish",
    "read_event",
    "read_nack_payload",
]

Decoder = Callable[[bytes, Limits, "RecordSchemas | None", "BaseLookup | None"], Frame]
"""Decodes one whole frame of its type: (frame bytes, limits, the records mode's writer schemas, the bases of mode
context) -> frame.

The caller has checked the frame's size and, for types 2 and up, that the
2-byte header is there; only BATCH_PUBLISH reads the schemas and the bases (None: this side takes no context, CTX-1)."""
Encoder = Callable[[Any, "RecordSchemas | None"], bytes]
"""Encodes one frame of its class: (frame, the records mode's writer schemas) -> its bytes, without the stream prefix."""

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
        length, pos = read_chunk_length(
            data, pos, end, limits, "event_data", limits.max_event_data_size, "max_event_data_size"
        )
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
            f"frame of {len(data)} bytes exceeds max_frame_size={limits.max_frame_size}",
            offset=0,
            requirement="LIMIT-1",
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


def _decode_ack(data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None) -> Ack:
    check_end(data, 2, "FRAME-4")
    return Ack(message_id=(data[0] & 0x0F) << 8 | data[1])


def decode_publish(
    data: bytes, limits: Limits, schemas: RecordSchemas | None = None, bases: BaseLookup | None = None
) -> Publish:
    """PUB-1 (the decoder inlines it: a PUBLISH is by far the most frequent frame)."""
    return new_publish((data[0] & 0x0F) << 8 | data[1], read_event(data, 2, len(data), limits))


def _decode_nack(data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None) -> Nack:
    machine, human = read_nack_payload(data, 2, len(data), limits)
    return Nack(message_id=(data[0] & 0x0F) << 8 | data[1], machine_message=machine, human_message=human)


_PING = Ping()
_PONG = Pong()


def _decode_ping(data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None) -> Ping:
    check_end(data, 2, "FRAME-4")  # FRAME-5: the 12 bits are ignored
    return _PING


def _decode_pong(data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None) -> Pong:
    check_end(data, 2, "FRAME-4")
    return _PONG


def _decode_batch_publish(
    data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None
) -> BatchPublish:
    """BPUB-1: the batch fills the frame after the header; its errors count offsets from its first byte."""
    return new_batch_publish((data[0] & 0x0F) << 8 | data[1], read_batch_v1(data[2:], limits, schemas, bases))


def _decode_batch_result(
    data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None
) -> BatchResult:
    """BRES-1, BRES-2."""
    end = len(data)
    count, pos = read_varint(data, 2, end, limits, "nack_count")
    if count == 0:
        raise InvalidList("nack_count is 0: a batch result NACKs at least one event", offset=2, requirement="BRES-2")
    if count > limits.max_batch_events:
        raise LimitExceeded(
            f"nack_count {count} exceeds max_batch_events={limits.max_batch_events}", offset=2, requirement="BRES-2"
        )
    entries: list[BatchResultEntry] = []
    last = -1
    for _ in range(count):
        at = pos
        index, pos = read_varint(data, pos, end, limits, "index")
        if index <= last:
            raise InvalidList(f"index {index} after {last}: not strictly ascending", offset=at, requirement="BRES-2")
        last = index
        length, start = read_chunk_length(data, pos, end, limits, "machine_message", None)
        machine = data[start : start + length]
        pos = start + length
        length, start = read_chunk_length(data, pos, end, limits, "human_message", None)
        human = check_text(data[start : start + length], limits, "human_message", pos)
        pos = start + length
        entries.append(BatchResultEntry(index=index, machine_message=machine, human_message=human))
    check_end(data, pos, "BRES-2")
    return BatchResult(message_id=(data[0] & 0x0F) << 8 | data[1], entries=tuple(entries))


# FRAME-1, FRAME-7: by frame type, then by the version from which the entry applies.
_CLOSE_CODES = frozenset(int(code) for code in CloseCode)


def _read_close_chunk(data: bytes, pos: int, end: int, limits: Limits, what: str, limit_name: str) -> tuple[bytes, int]:
    """LIMIT-12: a CLOSE chunk, its length checked against its limit when read; UTF-8 under strict_utf8."""
    length, start = read_chunk_length(data, pos, end, limits, what, getattr(limits, limit_name), limit_name, "LIMIT-12")
    return check_text(data[start : start + length], limits, what, pos), start + length


def _decode_close(data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None) -> Close:
    """CLOSE-1, CLOSE-2: close_flags, error_class, requirement, the optional fields, human_message, the end."""
    flags = data[0] & 0x0F
    if flags & 0xC:
        raise ReservedBit(f"close_flags {flags:#03x} has reserved bits 3..2 set", offset=0, requirement="CLOSE-2")
    end = len(data)
    code, pos = read_varint(data, 1, end, limits, "error_class")
    if code not in _CLOSE_CODES:
        raise ValueOutOfRange(f"close code {code} is not assigned", offset=1, requirement="CLOSE-2")
    requirement, pos = _read_close_chunk(data, pos, end, limits, "requirement", "max_requirement_size")
    last_message_id = None
    if flags & 1:
        at = pos
        last_message_id, pos = read_varint(data, pos, end, limits, "last_message_id")
        if last_message_id > MAX_MESSAGE_ID:
            raise ValueOutOfRange(
                f"last_message_id {last_message_id} is above {MAX_MESSAGE_ID}", offset=at, requirement="CLOSE-2"
            )
    retry_after = None
    if flags & 2:
        at = pos
        retry_after, pos = read_varint(data, pos, end, limits, "retry_after")
        if not 1 <= retry_after <= MAX_RETRY_AFTER:
            raise ValueOutOfRange(
                f"retry_after {retry_after} is outside 1..{MAX_RETRY_AFTER}", offset=at, requirement="CLOSE-2"
            )
    human_message, pos = _read_close_chunk(data, pos, end, limits, "human_message", "max_close_text")
    check_end(data, pos, "CLOSE-2")
    return Close(
        error_class=CloseCode(code),
        requirement=requirement,
        last_message_id=last_message_id,
        retry_after=retry_after,
        human_message=human_message,
    )


DECODERS: Mapping[FrameType, Mapping[int, Decoder]] = {
    FrameType.BATCH_PUBLISH: {1: _decode_batch_publish},
    FrameType.ACK: {0: _decode_ack},
    FrameType.PUBLISH: {0: decode_publish},
    FrameType.PING: {0: _decode_ping},
    FrameType.PONG: {0: _decode_pong},
    FrameType.NACK: {0: _decode_nack},
    FrameType.BATCH_RESULT: {1: _decode_batch_result},
    FrameType.CLOSE: {1: _decode_close},
}


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


def encode_publish(value: Publish, schemas: RecordSchemas | None = None) -> bytes:
    """FRAME-2, PUB-1."""
    parts = _event_parts(value.event)
    parts.insert(0, _PUBLISH_HEADERS[value.message_id])
    return b"".join(parts)


# FRAME-2: the two header bytes of a PUBLISH for every message id.
_PUBLISH_HEADERS: tuple[bytes, ...] = tuple(bytes((0x40 | i >> 8, i & 0xFF)) for i in range(4096))


def _encode_ack(value: Ack, schemas: RecordSchemas | None) -> bytes:
    return bytes((0x30 | value.message_id >> 8, value.message_id & 0xFF))


def _encode_nack(value: Nack, schemas: RecordSchemas | None) -> bytes:
    message_id = value.message_id
    head = bytes((0x70 | message_id >> 8, message_id & 0xFF))
    return head + encode_chunk(value.machine_message, "machine_message") + value.human_message


def _encode_ping(value: Ping, schemas: RecordSchemas | None) -> bytes:
    return b"\x50\x00"


def _encode_pong(value: Pong, schemas: RecordSchemas | None) -> bytes:
    return b"\x60\x00"


def _encode_batch_publish(value: BatchPublish, schemas: RecordSchemas | None) -> bytes:
    message_id = value.message_id
    return bytes((0x20 | message_id >> 8, message_id & 0xFF)) + encode_batch_v1(value.batch, schemas)


def _encode_batch_result(value: BatchResult, schemas: RecordSchemas | None) -> bytes:
    message_id = value.message_id
    parts = [bytes((0x80 | message_id >> 8, message_id & 0xFF)), varint_bytes(len(value.entries), what="nack_count")]
    for entry in value.entries:
        parts.append(varint_bytes(entry.index, what="index"))
        parts.append(encode_chunk(entry.machine_message, "machine_message"))
        parts.append(encode_chunk(entry.human_message, "human_message"))
    return b"".join(parts)


def _encode_close(value: Close, schemas: RecordSchemas | None) -> bytes:
    flags = (value.last_message_id is not None) | (value.retry_after is not None) << 1
    parts = [bytes((0x90 | flags,)), varint_bytes(value.error_class), encode_chunk(value.requirement, "requirement")]
    if value.last_message_id is not None:
        parts.append(varint_bytes(value.last_message_id))
    if value.retry_after is not None:
        parts.append(varint_bytes(value.retry_after))
    parts.append(encode_chunk(value.human_message, "human_message"))
    return b"".join(parts)


# By frame class, then by the version from which the entry applies.
ENCODERS: Mapping[type, Mapping[int, Encoder]] = {
    BatchPublish: {1: _encode_batch_publish},
    Ack: {0: _encode_ack},
    Publish: {0: encode_publish},
    Ping: {0: _encode_ping},
    Pong: {0: _encode_pong},
    Nack: {0: _encode_nack},
    BatchResult: {1: _encode_batch_result},
    Close: {1: _encode_close},
}
