"""The column batch by hand (BATCH-1..BATCH-11, LIMIT-3..LIMIT-5).

Decoding follows spec/v0/batch.md "Decoding procedure" step by step, so the
first violation met is the one reported (ERR-2); columns are split with the
readers of :mod:`sinkproto.primitives`. Encoding builds the body once and
compresses it once (the canonical choice needs only the compressed size).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import accumulate, repeat
from typing import TYPE_CHECKING

from ..batchrules import gunzip_body, gzip_body
from ..errors import EncodeError, InconsistentBatch, LimitExceeded, ReservedBit, Truncated
from ..limits import Limits
from ..messages import Batch, BatchLayout, Event
from ..primitives import (
    VARINT,
    read_chunk_length,
    read_column,
    read_delta_column,
    read_varint,
    varint_bytes,
    varint_column,
    zigzag_column,
)
from ._values import new_batch, new_events

if TYPE_CHECKING:
    from ..messages import BaseLookup
    from ..records import RecordSchemas

__all__ = [
    "LAYOUTS",
    "Inflate",
    "decode_batch_bytes",
    "read_columns",
    "inflate_gzip",
    "encode_batch",
    "encode_columns",
    "column_parts",
    "canonical_encoding",
]

Inflate = Callable[[bytes, Limits, int], bytes]
"""Decompresses a body: (compressed bytes, limits, their offset in the unit) -> body."""

# Every header byte's layout, decoded once (bit 7 clear: 128 layouts).
LAYOUTS: tuple[BatchLayout, ...] = tuple(BatchLayout.from_byte(b) for b in range(0x80))

_COMPRESSED = 0x40
_SAME_EVENT_TYPE_ID = 0x20
_SAME_SCHEMA_VERSION = 0x10
_SAME_KEY_LENGTH = 0x08
_DELTA_OFFSET = 0x04
_DELTA_TIMESTAMP = 0x02
_SAME_EVENT_DATA_LENGTH = 0x01


def _bounded(value: int, at: int, what: str, bound: int, bound_name: str) -> int:
    if value > bound:
        raise LimitExceeded(f"{what}: {value} exceeds {bound_name}={bound}", offset=at, requirement="LIMIT-5")
    return value


def _cut(blob: bytes, lengths: list[int]) -> list[bytes]:
    """``blob`` cut into pieces of ``lengths`` (which add up to its size); slicing stays in C."""
    ends = list(accumulate(lengths))
    return list(map(blob.__getitem__, map(slice, [0, *ends], ends)))


def _cut_even(blob: bytes, size: int, count: int) -> list[bytes]:
    """``count`` pieces of ``size`` bytes (``blob`` holds exactly that)."""
    if not size:
        return [b""] * count
    return list(map(blob.__getitem__, map(slice, range(0, size * count, size), range(size, size * count + 1, size))))


def inflate_gzip(body: bytes, limits: Limits, at: int) -> bytes:
    """BATCH-6, LIMIT-3: a gzip body."""
    return gunzip_body(body, limit=limits.max_decompressed_size, offset=at)


def decode_batch_bytes(
    data: bytes, limits: Limits, schemas: RecordSchemas | None = None, bases: BaseLookup | None = None
) -> Batch:
    """A version-0 column batch filling ``data`` (``schemas`` and ``bases`` are unused: version 0 has no records mode)."""
    if not data:
        raise Truncated("empty batch: no header byte", offset=0, requirement="BATCH-1")
    flags = data[0]
    if flags & 0x80:
        raise ReservedBit(f"batch header {flags:#04x} has reserved bit 7 set", offset=0)
    return new_batch(
        read_columns(data, 1, flags, limits, inflate_gzip if flags & _COMPRESSED else None), LAYOUTS[flags], None
    )


def read_columns(data: bytes, pos: int, flags: int, limits: Limits, inflate: Inflate | None) -> tuple[Event, ...]:
    """The header values and the body from ``pos`` (after the header byte or bytes) to the end of ``data``.

    ``flags`` is the header byte, of which bits 5..0 are read here; the
    caller has checked bits 7 and 6 and picks ``inflate`` (None: a plain
    body). Batch v1 shares this with version 0 (BATCH-15).
    """
    end = len(data)
    event_type_id = schema_version = key_length = offset = timestamp = data_length = 0
    if flags & _SAME_EVENT_TYPE_ID:
        event_type_id, pos = read_varint(data, pos, end, limits, "event_type_id")
    if flags & _SAME_SCHEMA_VERSION:
        schema_version, pos = read_varint(data, pos, end, limits, "schema_version")
    if flags & _SAME_KEY_LENGTH:
        at = pos
        key_length, pos = read_varint(data, pos, end, limits, "key_length")
        _bounded(key_length, at, "key_length", limits.max_key_size, "max_key_size")
    if flags & _DELTA_OFFSET:
        offset, pos = read_varint(data, pos, end, limits, "offset")
    if flags & _DELTA_TIMESTAMP:
        timestamp, pos = read_varint(data, pos, end, limits, "timestamp")
    if flags & _SAME_EVENT_DATA_LENGTH:
        at = pos
        data_length, pos = read_varint(data, pos, end, limits, "event_data_length")
        _bounded(data_length, at, "event_data_length", limits.max_event_data_size, "max_event_data_size")
    body_offset = pos
    if inflate is not None:
        # BATCH-6 / LIMIT-3 (CODEC-1..CODEC-3): offsets inside the body count from its start.
        body = inflate(data[pos:], limits, pos)
        pos, end = 0, len(body)
    else:
        body = data

    # Body, in wire order.
    at = pos
    count, pos = read_varint(body, pos, end, limits, "count")
    if count == 0:
        raise InconsistentBatch("a batch holds at least one event", offset=at, requirement="BATCH-8")
    if count > limits.max_batch_events:
        raise LimitExceeded(
            f"batch announces {count} events, over max_batch_events={limits.max_batch_events}",
            offset=at,
            requirement="LIMIT-4",
        )
    event_type_ids: Iterable[int]
    schema_versions: Iterable[int]
    if flags & _SAME_EVENT_TYPE_ID:
        event_type_ids = repeat(event_type_id, count)
    else:
        event_type_ids, pos = read_column(body, pos, end, limits, count, "event_type_ids")
    if flags & _SAME_SCHEMA_VERSION:
        schema_versions = repeat(schema_version, count)
    else:
        schema_versions, pos = read_column(body, pos, end, limits, count, "schema_versions")
    if flags & _SAME_KEY_LENGTH:
        key_lengths = None
    else:
        key_lengths, pos = read_column(
            body, pos, end, limits, count, "key_lengths", bound=limits.max_key_size, bound_name="max_key_size"
        )
    at = pos
    length, pos = read_chunk_length(body, pos, end, limits, "keys", None)
    keys_blob = body[pos : pos + length]
    pos += length
    expected = key_length * count if key_lengths is None else sum(key_lengths)
    if expected != length:
        raise InconsistentBatch(f"keys: lengths add up to {expected} but the chunk holds {length} bytes", offset=at)
    delta_offset = bool(flags & _DELTA_OFFSET)
    delta_timestamp = bool(flags & _DELTA_TIMESTAMP)
    # BATCH-9: a delta column's values are range-checked as they are read (ERR-2).
    if delta_offset:
        offsets, pos = read_delta_column(body, pos, end, limits, count, "offsets", offset)
    else:
        offsets, pos = read_column(body, pos, end, limits, count, "offsets")
    if delta_timestamp:
        timestamps, pos = read_delta_column(body, pos, end, limits, count, "timestamps", timestamp)
    else:
        timestamps, pos = read_column(body, pos, end, limits, count, "timestamps")
    if flags & _SAME_EVENT_DATA_LENGTH:
        data_lengths = None
    else:
        data_lengths, pos = read_column(
            body,
            pos,
            end,
            limits,
            count,
            "event_data_lengths",
            bound=limits.max_event_data_size,
            bound_name="max_event_data_size",
        )
    event_data = body[pos:end]

    # After the last chunk: the event_data length (BATCH-11).
    total = data_length * count if data_lengths is None else sum(data_lengths)
    if total != len(event_data):
        raise InconsistentBatch(
            f"event_data: lengths add up to {total} but {len(event_data)} bytes are present",
            offset=body_offset,
            requirement="BATCH-11",
        )
    keys = _cut_even(keys_blob, key_length, count) if key_lengths is None else _cut(keys_blob, key_lengths)
    datas = _cut_even(event_data, data_length, count) if data_lengths is None else _cut(event_data, data_lengths)
    return new_events(count, (event_type_ids, schema_versions, keys, offsets, timestamps, datas))


# -- encoding -------------------------------------------------------------------------------


def _same(values: list[int]) -> bool:
    first = values[0]
    return values.count(first) == len(values)


def _zigzag_deltas(values: list[int], start: int) -> list[int]:
    return zigzag_column([b - a for a, b in zip([start, *values], values)])


def _column(values: list[int], *, wide: bool = False, what: str) -> bytes:
    body = varint_column(values, wide=wide, what=what)
    size = len(body)
    return (VARINT[size] if size < len(VARINT) else varint_bytes(size)) + body


def column_parts(events: tuple[Event, ...], layout: BatchLayout | None) -> tuple[int, bytes, bytes]:
    """(flags, header values, body) of ``events`` (at least one) in ``layout``.

    Without a layout, the canonical flags (BATCH-7). ``flags`` never has the
    compressed bit: whether and how the body is compressed is the caller's
    choice (version 0's ``compressed`` flag, batch v1's codec).
    """
    event_type_ids = [e.event_type_id for e in events]
    schema_versions = [e.schema_version for e in events]
    keys = [e.key for e in events]
    offsets = [e.offset for e in events]
    timestamps = [e.timestamp for e in events]
    datas = [e.event_data for e in events]
    key_lengths = list(map(len, keys))
    data_lengths = list(map(len, datas))
    if layout is None:
        flags = (
            _DELTA_OFFSET
            | _DELTA_TIMESTAMP
            | (_SAME_EVENT_TYPE_ID if _same(event_type_ids) else 0)
            | (_SAME_SCHEMA_VERSION if _same(schema_versions) else 0)
            | (_SAME_KEY_LENGTH if _same(key_lengths) else 0)
            | (_SAME_EVENT_DATA_LENGTH if _same(data_lengths) else 0)
        )
    else:
        flags = layout.to_byte() & ~_COMPRESSED
        for bit, name, column in (
            (_SAME_EVENT_TYPE_ID, "event_type_id", event_type_ids),
            (_SAME_SCHEMA_VERSION, "schema_version", schema_versions),
            (_SAME_KEY_LENGTH, "key_length", key_lengths),
            (_SAME_EVENT_DATA_LENGTH, "event_data_length", data_lengths),
        ):
            if flags & bit and not _same(column):
                raise EncodeError(f"layout says {name} is homogeneous but events differ")

    head: list[bytes] = []
    parts = [varint_bytes(len(events), what="count")]
    if flags & _SAME_EVENT_TYPE_ID:
        head.append(varint_bytes(event_type_ids[0], what="event_type_id"))
    else:
        parts.append(_column(event_type_ids, what="event_type_ids"))
    if flags & _SAME_SCHEMA_VERSION:
        head.append(varint_bytes(schema_versions[0], what="schema_version"))
    else:
        parts.append(_column(schema_versions, what="schema_versions"))
    if flags & _SAME_KEY_LENGTH:
        head.append(varint_bytes(key_lengths[0], what="key_length"))
    else:
        parts.append(_column(key_lengths, what="key_lengths"))
    keys_blob = b"".join(keys)
    parts.append(varint_bytes(len(keys_blob), what="keys length"))
    parts.append(keys_blob)
    if flags & _DELTA_OFFSET:
        head.append(varint_bytes(offsets[0], what="offset"))
        parts.append(_column(_zigzag_deltas(offsets, offsets[0]), wide=True, what="offsets"))
    else:
        parts.append(_column(offsets, what="offsets"))
    if flags & _DELTA_TIMESTAMP:
        head.append(varint_bytes(timestamps[0], what="timestamp"))
        parts.append(_column(_zigzag_deltas(timestamps, timestamps[0]), wide=True, what="timestamps"))
    else:
        parts.append(_column(timestamps, what="timestamps"))
    if flags & _SAME_EVENT_DATA_LENGTH:
        head.append(varint_bytes(data_lengths[0], what="event_data_length"))
    else:
        parts.append(_column(data_lengths, what="event_data_lengths"))
    parts.extend(datas)
    return flags, b"".join(head), b"".join(parts)


def canonical_encoding(flags: int, head: bytes, body: bytes, packed: bytes) -> bytes:
    """BATCH-7: the plain batch, or the gzipped one (``packed`` = gzip_body(body)) when smaller.

    The header differs only in bit 6, so comparing bodies is comparing the
    two encodings.
    """
    if len(packed) < len(body):
        return bytes((flags | _COMPRESSED,)) + head + packed
    return bytes((flags,)) + head + body


def encode_batch(value: Batch, schemas: RecordSchemas | None = None) -> bytes:
    """A column batch (``schemas`` is unused: version 0 has no records mode); without ``value.layout``, the field encoder's canonical choice (BATCH-7).

    A ``value.format`` is an EncodeError: version 0 has no extended batch.
    """
    events = value.events
    if (value.format is not None or value.context is not None) and events:  # no events: BATCH-8's, as the reference
        raise EncodeError("a batch with a format is an extended batch (BATCH-12): version 0 has none")
    return encode_columns(events, value.layout)


def encode_columns(events: tuple[Event, ...], layout: BatchLayout | None) -> bytes:
    """:func:`encode_batch` of ``Batch(events=events, layout=layout)``, without building the Batch."""
    if not events:
        raise EncodeError("a batch holds at least one event (BATCH-8)")
    flags, head, body = column_parts(events, layout)
    if layout is None:
        return canonical_encoding(flags, head, body, gzip_body(body))
    if layout.compressed:
        return bytes((flags | _COMPRESSED,)) + head + gzip_body(body)
    return bytes((flags,)) + head + body
