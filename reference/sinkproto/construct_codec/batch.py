"""The column batch (BATCH-1..BATCH-10), declared with construct.

:data:`batch_struct` is the byte layout: a flag byte, the header values its
flags call for, and the body (gzip-wrapped when ``compressed``) with its
optional columns. :class:`BatchAdapter` does the arithmetic between columns
and rows: homogeneous values, delta/zigzag, cutting keys and data, and the
consistency checks, raising ``inconsistent_batch`` or ``value_out_of_range``.
"""

from __future__ import annotations

import io
from typing import Any

from construct import Adapter, Construct, If, IfThenElse, Struct, Tell

from ..errors import EncodeError, InconsistentBatch, LimitExceeded, ReservedBit, Truncated
from ..messages import Batch, BatchLayout, Event
from ..primitives import varint_bytes, zigzag_encode
from .primitives import Chunk, Gzipped, RestBytes, VarUInt, VarUIntColumn, limits_of, stream_varint

__all__ = ["batch", "BatchAdapter"]


class LayoutByte(Construct):
    """BATCH-1: the header byte; bit 7 is reserved and MUST be 0."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> BatchLayout:
        raw = stream.read(1)
        if not raw:
            raise Truncated("empty batch: no header byte", offset=0, requirement="BATCH-1")
        if raw[0] & 0x80:
            raise ReservedBit(f"batch header {raw[0]:#04x} has reserved bit 7 set", offset=0)
        return BatchLayout.from_byte(raw[0])

    def _build(self, obj: BatchLayout, stream: io.BytesIO, context: Any, path: str) -> BatchLayout:
        stream.write(bytes([obj.to_byte()]))
        return obj


# BatchLayout is a dataclass, not a construct Container, so `this.layout.x`
# (item access) does not work on it: flags are read with getattr.
class Count(Construct):
    """BATCH-8 / LIMIT-4: the event count, checked as soon as it is read."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> int:
        start = stream.tell()
        limits = limits_of(context)
        count = stream_varint(stream, limits, what="count")
        if count == 0:
            raise InconsistentBatch("a batch holds at least one event", offset=start, requirement="BATCH-8")
        if count > limits.max_batch_events:
            raise LimitExceeded(
                f"batch announces {count} events, over max_batch_events={limits.max_batch_events}",
                offset=start,
                requirement="LIMIT-4",
            )
        return count

    def _build(self, obj: int, stream: io.BytesIO, context: Any, path: str) -> int:
        stream.write(varint_bytes(obj, what="count"))
        return obj


def _own_flag(name: str) -> Any:
    return lambda ctx: getattr(ctx.layout, name)


def _flag(name: str) -> Any:
    return lambda ctx: getattr(ctx._.layout, name)


def _count(ctx: Any) -> int:
    return int(ctx.count)


def _delta_from(name: str) -> Any:
    """BATCH-4: the header value a delta column starts from, or None for a plain column."""
    return lambda ctx: getattr(ctx._, name) if getattr(ctx._.layout, f"delta_{name}") else None


class KeysChunk(Construct):
    """BATCH-5 / BATCH-11: the keys chunk, checked against the key lengths when read."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> list[bytes]:
        start = stream.tell()
        blob = Chunk("keys")._parsereport(stream, context, path)
        lengths = key_lengths(context)
        if sum(lengths) != len(blob):
            raise InconsistentBatch(
                f"keys: lengths add up to {sum(lengths)} but the chunk holds {len(blob)} bytes", offset=start
            )
        return _cut(blob, lengths)

    def _build(self, obj: list[bytes], stream: io.BytesIO, context: Any, path: str) -> list[bytes]:
        Chunk("keys")._build(b"".join(obj), stream, context, path)
        return obj


def key_lengths(body: Any) -> list[int]:
    layout: BatchLayout = body._.layout
    if layout.same_key_length:
        return [body._.key_length] * body.count
    return list(body.key_lengths)


body_struct = Struct(
    "count" / Count(),
    "event_type_ids"
    / If(lambda ctx: not ctx._.layout.same_event_type_id, VarUIntColumn("event_type_ids", count=_count)),
    "schema_versions"
    / If(lambda ctx: not ctx._.layout.same_schema_version, VarUIntColumn("schema_versions", count=_count)),
    "key_lengths"
    / If(
        lambda ctx: not ctx._.layout.same_key_length, VarUIntColumn("key_lengths", count=_count, limit="max_key_size")
    ),
    "keys" / KeysChunk(),
    "offsets" / VarUIntColumn("offsets", count=_count, wide=_flag("delta_offset"), delta_from=_delta_from("offset")),
    "timestamps"
    / VarUIntColumn("timestamps", count=_count, wide=_flag("delta_timestamp"), delta_from=_delta_from("timestamp")),
    "event_data_lengths"
    / If(
        lambda ctx: not ctx._.layout.same_event_data_length,
        VarUIntColumn("event_data_lengths", count=_count, limit="max_event_data_size"),
    ),
    "event_data" / RestBytes(),
)

batch_struct = Struct(
    "layout" / LayoutByte(),
    "event_type_id" / If(_own_flag("same_event_type_id"), VarUInt(what="event_type_id")),
    "schema_version" / If(_own_flag("same_schema_version"), VarUInt(what="schema_version")),
    "key_length" / If(_own_flag("same_key_length"), VarUInt(what="key_length", limit="max_key_size")),
    "offset" / If(_own_flag("delta_offset"), VarUInt(what="offset")),
    "timestamp" / If(_own_flag("delta_timestamp"), VarUInt(what="timestamp")),
    "event_data_length"
    / If(_own_flag("same_event_data_length"), VarUInt(what="event_data_length", limit="max_event_data_size")),
    "body_offset" / Tell,
    "body" / IfThenElse(_own_flag("compressed"), Gzipped(body_struct), body_struct),
)


def _delta(values: list[int], start: int) -> list[int]:
    out = []
    previous = start
    for value in values:
        out.append(zigzag_encode(value - previous))
        previous = value
    return out


def _cut(blob: bytes, lengths: list[int]) -> list[bytes]:
    pieces = []
    position = 0
    for length in lengths:
        pieces.append(blob[position : position + length])
        position += length
    return pieces


class BatchAdapter(Adapter):
    """Columns <-> rows. ``layout`` on a decoded batch records the flags it came with."""

    def _decode(self, obj: Any, context: Any, path: str) -> Batch:
        # Per-column checks (counts, limits, keys, delta ranges) happened while
        # reading, in wire order (ERR-2); what is left is the step after the
        # last chunk: the event_data length.
        layout: BatchLayout = obj.layout
        body = obj.body
        at = obj.body_offset
        count = body.count

        def column(same: bool, header_value: int | None, values: list[int] | None) -> list[int]:
            return [header_value] * count if same else list(values)  # type: ignore[list-item,arg-type]

        event_type_ids = column(layout.same_event_type_id, obj.event_type_id, body.event_type_ids)
        schema_versions = column(layout.same_schema_version, obj.schema_version, body.schema_versions)
        data_lengths = column(layout.same_event_data_length, obj.event_data_length, body.event_data_lengths)
        # Delta columns were reconstructed and range-checked as read (BATCH-9).
        offsets = list(body.offsets)
        timestamps = list(body.timestamps)
        if sum(data_lengths) != len(body.event_data):
            raise InconsistentBatch(
                f"event_data: lengths add up to {sum(data_lengths)} but {len(body.event_data)} bytes are present",
                offset=at,
                requirement="BATCH-11",
            )
        keys = body["keys"]
        data = _cut(body.event_data, data_lengths)
        events = tuple(
            Event(
                event_type_id=event_type_ids[i],
                schema_version=schema_versions[i],
                key=keys[i],
                offset=offsets[i],
                timestamp=timestamps[i],
                event_data=data[i],
            )
            for i in range(count)
        )
        return Batch(events=events, layout=layout)

    def _encode(self, obj: Batch, context: Any, path: str) -> dict[str, Any]:
        events = list(obj.events)
        if not events:
            raise EncodeError("a batch holds at least one event (BATCH-8)")
        if obj.format is not None or obj.context is not None:
            raise EncodeError("a batch with a format is an extended batch (BATCH-12): version 0 has none")
        layout = obj.layout
        if layout is None:
            raise EncodeError("BatchAdapter needs a layout; encode_batch() chooses the canonical one")
        first = events[0]

        def homogeneous(flag: bool, name: str, get: Any) -> int | None:
            if not flag:
                return None
            value = get(first)
            if any(get(e) != value for e in events):
                raise EncodeError(f"layout says {name} is homogeneous but events differ")
            return int(value)

        header: dict[str, object] = {
            "layout": layout,
            "event_type_id": homogeneous(layout.same_event_type_id, "event_type_id", lambda e: e.event_type_id),
            "schema_version": homogeneous(layout.same_schema_version, "schema_version", lambda e: e.schema_version),
            "key_length": homogeneous(layout.same_key_length, "key_length", lambda e: len(e.key)),
            "offset": first.offset if layout.delta_offset else None,
            "timestamp": first.timestamp if layout.delta_timestamp else None,
            "event_data_length": homogeneous(
                layout.same_event_data_length, "event_data_length", lambda e: len(e.event_data)
            ),
        }
        offsets = [e.offset for e in events]
        timestamps = [e.timestamp for e in events]
        header["body"] = {
            "count": len(events),
            "event_type_ids": [e.event_type_id for e in events],
            "schema_versions": [e.schema_version for e in events],
            "key_lengths": [len(e.key) for e in events],
            "keys": [e.key for e in events],
            "offsets": _delta(offsets, first.offset) if layout.delta_offset else offsets,
            "timestamps": _delta(timestamps, first.timestamp) if layout.delta_timestamp else timestamps,
            "event_data_lengths": [len(e.event_data) for e in events],
            "event_data": b"".join(e.event_data for e in events),
        }
        return header


batch = BatchAdapter(batch_struct)
