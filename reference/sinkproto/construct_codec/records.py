"""Records mode of batch v1 in construct (RECORD-1..RECORD-9): columns, transforms, the records body.

Each column is a chunk holding a ``transform`` byte and the transform's
payload (RECORD-5). The payloads are declared below, one construct per
transform, with the column's value count ``n`` in the context; what the
columns mean (the flattened schema, how many values reach each column,
rebuilding ``event_data``) is :mod:`sinkproto.records`, shared with the
fast codec.

Every error inside a column is reported at the offset of the column's
first byte (its chunk length), so that every codec reports the same
offset without mirroring the order in which this one reads a payload
(RECORD-8); of several, the first in RECORD-12's order: the transform
byte, the payload read whole, the values derived, their ranges, bytes
left over.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from construct import Adapter, Array, Bytes, Construct, Container, Int8ub, StreamError, Struct, this

from ..errors import (
    InconsistentBatch,
    LimitExceeded,
    OverlongVarint,
    Truncated,
    UnknownFormat,
    ValueOutOfRange,
    VarintOverflow,
)
from ..messages import DIGEST_SIZE, BatchContext, ContextBase, Event
from ..primitives import MAX_WIDTH, packed_size, unpack_bits, varint_bytes, zigzag_decode, zigzag_encode
from ..records import (
    AGAINST_BASE,
    UINT64,
    Column,
    ColumnType,
    RecordPlan,
    against_allowed,
    base_columns,
    base_row_column,
    base_rows,
    check_context_id,
    check_value,
    look_up_base,
    reach_count,
    rebuild,
    references,
    split_transform,
)
from ..transforms import (
    BYTES_TRANSFORMS,
    INT_TRANSFORMS,
    KEY_COLUMN,
    MAX_DIGITS,
    Transform,
    bytes_candidates,
    int_candidates,
)
from .primitives import Chunk, VarUInt, limits_of, remaining, stream_chunk_length, stream_varint

__all__ = ["RecordsBody", "context_body", "records_body"]


class ZigZagAdapter(Adapter):
    """A signed value as a zigzag varint; wide, since a column may hold 0..2^64-1 (offsets) or a 65-bit delta."""

    def _decode(self, obj: int, context: Any, path: str) -> int:
        return zigzag_decode(obj)

    def _encode(self, obj: int, context: Any, path: str) -> int:
        return zigzag_encode(obj)


ZigZag = ZigZagAdapter(VarUInt(wide=True, what="value"))
Unsigned = VarUInt(wide=True, what="value")


class BoundedCount(Construct):
    """A dictionary's entry_count, checked against max_dictionary_entries as soon as it is read (RECORD-6)."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> int:
        value: int = VarUInt(what="entry_count")._parsereport(stream, context, path)
        bound = limits_of(context).max_dictionary_entries
        if value > bound:
            raise LimitExceeded(
                f"entry_count {value} exceeds max_dictionary_entries={bound}", offset=0, requirement="RECORD-6"
            )
        return value

    def _build(self, obj: int, stream: io.BytesIO, context: Any, path: str) -> int:
        stream.write(varint_bytes(obj, what="entry_count"))
        return obj


class ExceptionCount(Construct):
    """A patched payload's exception_count, at most its value count as soon as it is read (RECORD-8)."""

    def __init__(self, values: Callable[[Any], int]) -> None:
        super().__init__()
        self.values = values

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> int:
        value: int = VarUInt(what="value")._parsereport(stream, context, path)
        n = self.values(context)
        if value > n:
            raise InconsistentBatch(
                f"exception_count {value} is above the {n} values", offset=0, requirement="RECORD-8"
            )
        return value

    def _build(self, obj: int, stream: io.BytesIO, context: Any, path: str) -> int:
        stream.write(varint_bytes(obj))
        return obj


def _patched(values: Callable[[Any], int]) -> list[Any]:
    """The fields of a patched payload of ``values(ctx)`` values (after ``first`` in delta_patched)."""
    return [
        "base" / ZigZag,
        "width" / Int8ub,
        "exception_count" / ExceptionCount(values),
        "packed" / Bytes(_packed_size(values)),
        "exceptions" / Array(this.exception_count, Struct("index" / Unsigned, "value" / ZigZag)),
    ]


def _patch(p: Any, n: int) -> list[int]:
    """The values of a parsed patched payload: width and padding (unpack_bits), then each index (RECORD-8)."""
    offsets = unpack_bits(p.packed, p.width, n)
    previous = -1
    for exception in p.exceptions:
        if exception.index <= previous or exception.index >= n:
            raise InconsistentBatch(
                f"exception index {exception.index} is not above {previous} and below {n}",
                offset=0,
                requirement="RECORD-8",
            )
        offsets[exception.index] = exception.value
        previous = exception.index
    return [p.base + v for v in offsets]


def _packed_size(values: Callable[[Any], int]) -> Callable[[Any], int]:
    return lambda ctx: packed_size(values(ctx), ctx.width)


# -- the payload of each transform (spec/v1/batch.md, Columns) -------------------------------------------------

int_payloads: dict[int, Any] = {
    Transform.PLAIN: Struct("values" / Array(this._.n, ZigZag)),
    Transform.DELTA: Struct("deltas" / Array(this._.n, ZigZag)),
    Transform.CONSTANT: Struct("value" / ZigZag),
    Transform.FRAME_OF_REFERENCE: Struct("base" / ZigZag, "offsets" / Array(this._.n, Unsigned)),
    Transform.DICTIONARY: Struct(
        "entry_count" / BoundedCount(),
        "entries" / Array(this.entry_count, ZigZag),
        "indices" / Array(this._.n, Unsigned),
    ),
    Transform.BITPACKED: Struct("base" / ZigZag, "width" / Int8ub, "packed" / Bytes(_packed_size(lambda ctx: ctx._.n))),
    # No value at all is refused after the payload is read (RECORD-8), so the packed part is then empty.
    Transform.DELTA_BITPACKED: Struct(
        "first" / ZigZag,
        "base" / ZigZag,
        "width" / Int8ub,
        "packed" / Bytes(_packed_size(lambda ctx: max(ctx._.n - 1, 0))),
    ),
    Transform.PATCHED: Struct(*_patched(lambda ctx: ctx._.n)),
    Transform.DELTA_PATCHED: Struct("first" / ZigZag, *_patched(lambda ctx: max(ctx._.n - 1, 0))),
}

bytes_payloads: dict[int, Any] = {
    Transform.PLAIN: Struct("values" / Array(this._.n, Chunk("value"))),
    Transform.CONSTANT: Struct("value" / Chunk("value")),
    Transform.DICTIONARY: Struct(
        "entry_count" / BoundedCount(),
        "entries" / Array(this.entry_count, Chunk("entry")),
        "indices" / Array(this._.n, Unsigned),
    ),
    Transform.PREFIX: Struct("values" / Array(this._.n, Struct("shared" / Unsigned, "rest" / Chunk("value")))),
    Transform.KEY: Struct(),
    # The numbers are an int column of their own: a transform byte and its payload.
    Transform.NUMBERED: Struct("prefix" / Chunk("prefix"), "digits" / Int8ub, "number_transform" / Int8ub),
}


def _with_count(context: Any, n: int) -> Container:
    """The context a payload struct is parsed in: the column's value count as ``n``, the parse parameters kept."""
    return Container(_=context, n=n, _params=context._params, _root=None, _parsing=True, _building=False, _sizing=False)


def _undelta(deltas: Sequence[int]) -> list[int]:
    out, previous = [], 0
    for delta in deltas:
        previous += delta
        out.append(previous)
    return out


def _int_values(transform: int, p: Any, n: int) -> list[int]:
    """Values from a parsed int payload; structural errors raise with offset 0, fixed up by the caller."""
    if transform == Transform.PLAIN:
        return list(p["values"])
    if transform == Transform.DELTA:
        return _undelta(p.deltas)
    if transform == Transform.CONSTANT:
        return [p.value] * n
    if transform == Transform.FRAME_OF_REFERENCE:
        return [p.base + v for v in p.offsets]
    if transform == Transform.DICTIONARY:
        return [_entry(p, i) for i in p.indices]
    if transform == Transform.BITPACKED:
        return [p.base + v for v in unpack_bits(p.packed, p.width, n)]  # a width over 64 first (RECORD-8)
    if transform == Transform.PATCHED:
        return _patch(p, n)
    if transform == Transform.DELTA_PATCHED:
        differences = _patch(p, max(n - 1, 0))
        if n == 0:
            raise InconsistentBatch("delta_patched needs at least one value", offset=0, requirement="RECORD-8")
        return _undelta([p.first, *differences])
    if n == 0 and p.width <= MAX_WIDTH:  # DELTA_BITPACKED; a width over 64 is the error unpack_bits raises first
        raise InconsistentBatch("delta_bitpacked needs at least one value", offset=0, requirement="RECORD-8")
    return _undelta([p.first, *(p.base + v for v in unpack_bits(p.packed, p.width, n - 1))])


def _entry(p: Any, index: int) -> Any:
    if index >= p.entry_count:
        raise InconsistentBatch(
            f"dictionary index {index} is not below entry_count {p.entry_count}", offset=0, requirement="RECORD-7"
        )
    return p.entries[index]


def _bytes_values(
    transform: int, p: Any, n: int, keys: Sequence[bytes] | None, context: Any, stream: io.BytesIO
) -> list[bytes]:
    if transform == Transform.PLAIN:
        return list(p["values"])
    if transform == Transform.CONSTANT:
        return [p.value] * n
    if transform == Transform.DICTIONARY:
        return [_entry(p, i) for i in p.indices]
    if transform == Transform.PREFIX:
        out: list[bytes] = []
        previous = b""
        budget = limits_of(context).max_decompressed_size
        for item in p["values"]:
            if item.shared > len(previous):
                raise InconsistentBatch(
                    f"prefix length {item.shared} is over the previous value's {len(previous)}",
                    offset=0,
                    requirement="RECORD-7",
                )
            previous = previous[: item.shared] + item.rest
            budget = _spend(budget, len(previous))
            out.append(previous)
        return out
    if transform == Transform.KEY:
        assert keys is not None
        return list(keys)
    # NUMBERED: prefix + zero-padded decimal digits; the numbers are a nested int column.
    if not 1 <= p.digits <= MAX_DIGITS:
        raise InconsistentBatch(
            f"numbered: digits {p.digits} is outside 1..{MAX_DIGITS}", offset=0, requirement="RECORD-8"
        )
    column = Column("numbers", ColumnType.INT, None, 0, 10**p.digits - 1)
    numbers = _read_int_payload(stream, context, column, n, p.number_transform)
    _spend(limits_of(context).max_decompressed_size, n * (len(p.prefix) + p.digits))
    return [p.prefix + b"%0*d" % (p.digits, number) for number in numbers]


def _spend(budget: int, size: int) -> int:
    """RECORD-6: the values a prefix or numbered column builds count against max_decompressed_size as they are built.

    Both transforms make each value longer than the bytes that carry it, so
    a small column could otherwise build gigabytes (n values of a growing
    shared prefix, or n copies of a long numbered prefix).
    """
    if size > budget:
        raise LimitExceeded(
            "the values of a prefix or numbered column exceed max_decompressed_size", offset=0, requirement="RECORD-6"
        )
    return budget - size


def _read_int_payload(
    stream: io.BytesIO, context: Any, column: Column, n: int, transform: int, reference: Sequence[int] | None = None
) -> list[int]:
    if transform not in INT_TRANSFORMS:
        raise UnknownFormat(f"transform {transform} is not allowed on an int column", offset=0, requirement="RECORD-5")
    payload = int_payloads[transform]._parsereport(stream, _with_count(context, n), "")
    values = _int_values(transform, payload, n)
    if reference is not None:  # CTX-7: the values are differences from the reference; ranges apply to the sums
        values = [d + r for d, r in zip(values, reference)]
    for value in values:
        check_value(column, value, offset=0, what=column.path)
    return values


def read_column(
    stream: io.BytesIO,
    context: Any,
    column: Column,
    n: int,
    keys: Sequence[bytes] | None,
    *,
    in_context: bool = False,
    reference: Callable[[], Sequence[int]] | None = None,
) -> list[Any]:
    """RECORD-5: one column chunk with ``n`` values; every error inside it is reported at its first byte.

    ``in_context``: the batch is in mode context, where bit 7 of the
    transform byte is ``against_base``, allowed when the column has a
    ``reference`` (CTX-7: its values are then differences from it).
    """
    start = stream.tell()
    length = stream_chunk_length(stream, limits_of(context), column.path or "column")
    inner = io.BytesIO(stream.read(length))
    limits = limits_of(context)
    try:
        raw = inner.read(1)
        if not raw:
            raise InconsistentBatch("an empty column: no transform byte", offset=0, requirement="RECORD-5")
        transform, against = split_transform(raw[0], column, in_context, reference)
        allowed = INT_TRANSFORMS if column.type is ColumnType.INT else BYTES_TRANSFORMS
        if transform not in allowed or (transform == Transform.KEY and keys is None):
            raise UnknownFormat(
                f"transform {transform} is not allowed on column {column.path or 'keys'}",
                offset=0,
                requirement="RECORD-5",
            )
        if transform == Transform.KEY and not column.per_event:
            # By the schema's structure, never by how many rows reach the column in this batch.
            raise UnknownFormat(
                f"transform key on column {column.path}, which a union, array or map encloses",
                offset=0,
                requirement="RECORD-10",
            )
        if column.type is ColumnType.INT:
            values: list[Any] = _read_int_payload(inner, context, column, n, transform, against)
        else:
            payload = bytes_payloads[transform]._parsereport(inner, _with_count(context, n), "")
            values = _bytes_values(transform, payload, n, keys, context, inner)
            for value in values:
                check_value(column, value, offset=0, what=column.path)
        if remaining(inner):
            raise InconsistentBatch(
                f"column {column.path or 'keys'}: {remaining(inner)} bytes after its {n} values",
                offset=0,
                requirement="RECORD-5",
            )
    except (Truncated, StreamError):
        raise InconsistentBatch(
            f"column {column.path or 'keys'} ends before its {n} values", offset=start, requirement="RECORD-5"
        ) from None
    except (InconsistentBatch, UnknownFormat, ValueOutOfRange, LimitExceeded, OverlongVarint, VarintOverflow) as exc:
        exc.offset = start
        raise
    if column is KEY_COLUMN:  # the keys given in the batch (in mode context, those not in the base)
        bound = limits.max_key_size
        if any(len(k) > bound for k in values):
            raise LimitExceeded(f"a key is over max_key_size={bound}", offset=start, requirement="LIMIT-5")
    return values


def _shortest(candidates: list[tuple[int, bytes]]) -> bytes:
    # min() keeps the first of equal lengths: candidates come in transform order.
    transform, payload = min(candidates, key=lambda c: len(c[1]))
    return bytes([transform]) + payload


def best_int_payload(values: Sequence[int]) -> bytes:
    """The transform byte and payload of the canonical int column (RECORD-9)."""
    n = len(values)
    return _shortest([(t, int_payloads[t].build(params, n=n)) for t, params in int_candidates(values)])


def _bytes_payload(transform: int, params: dict[str, Any], n: int) -> bytes:
    if transform == Transform.NUMBERED:
        head = bytes_payloads[transform].build({**params, "number_transform": 0}, n=n)[:-1]
        return head + best_int_payload(params["numbers"])
    return bytes(bytes_payloads[transform].build(params, n=n))


def build_column(
    column: Column, values: Sequence[Any], keys: Sequence[bytes] | None, reference: Sequence[int] | None = None
) -> bytes:
    """The canonical column: the shortest payload, ties to the lowest transform number (RECORD-9).

    With a ``reference`` (CTX-7), the shorter of that and the canonical
    column of the differences with ``against_base`` set; plain on a tie (CTX-13).
    """
    if column.type is ColumnType.INT:
        body = best_int_payload(values)
        if reference is not None:
            diff = best_int_payload([v - r for v, r in zip(values, reference)])
            if len(diff) < len(body):
                body = bytes([diff[0] | AGAINST_BASE]) + diff[1:]
    else:
        n = len(values)
        body = _shortest(
            [
                (t, _bytes_payload(t, params, n))
                for t, params in bytes_candidates(values, keys if column.per_event else None)
            ]
        )
    return varint_bytes(len(body)) + body


# -- the records body (RECORD-3) ------------------------------------------------------------------------------


class ContextHead(Construct):
    """CTX-2, CTX-3, CTX-5: batch_id, base_id and (with a base) base_digest; the base is looked up at once.

    Parses into ``(batch_id, base, the base's column values)``; a base this
    side does not hold raises :class:`~sinkproto.errors.BaseUnavailable` at
    ``base_id``'s first byte, before anything after the digest is read.
    """

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> tuple[int, ContextBase | None, Any]:
        limits = limits_of(context)
        values = []
        at = stream.tell()
        for what in ("batch_id", "base_id"):
            at = stream.tell()
            try:
                value = stream_varint(stream, limits, what=what)
            except Truncated:
                raise InconsistentBatch(f"the body ends inside {what}", offset=at, requirement="CTX-3") from None
            check_context_id(value, what=what, offset=at, zero=what == "base_id")
            values.append(value)
        batch_id, base_id = values
        if not base_id:
            return batch_id, None, None
        digest_at = stream.tell()
        digest = stream.read(DIGEST_SIZE)
        if len(digest) < DIGEST_SIZE:
            raise InconsistentBatch("the body ends inside base_digest", offset=digest_at, requirement="CTX-3")
        base, columns = look_up_base(
            context._params.bases,
            base_id,
            digest,
            context.event_type_id,
            context.schema_version,
            context.plan,
            offset=at,
        )
        return batch_id, base, columns

    def _build(self, obj: BatchContext, stream: io.BytesIO, context: Any, path: str) -> BatchContext:
        base = obj.base
        stream.write(varint_bytes(obj.batch_id, what="batch_id"))
        stream.write(b"\x00" if base is None else varint_bytes(base.batch_id, what="base_id") + base.digest)
        return obj


class RecordsBody(Construct):
    """count, keys, offsets, timestamps, then one column per leaf of the writer schema (RECORD-3).

    Parses with ``plan`` in the context (the flattened writer schema of the
    batch's event type and version) into a tuple of events; builds from
    ``(events, columns, plan)``. With ``context`` (mode context, CTX-2): the
    body starts with :class:`ContextHead`, and with a base ``base_rows``
    comes before the keys, which are only those not in the base (CTX-6),
    and columns may hold differences from the base (CTX-7); it parses into
    ``(events, BatchContext)`` and builds from ``(events, columns, plan,
    BatchContext)``.
    """

    def __init__(self, *, context: bool = False) -> None:
        super().__init__()
        self.context = context

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> Any:
        from .batch import Count

        plan: RecordPlan = context.plan
        header = context
        base: ContextBase | None = None
        base_values: Any = None
        if self.context:
            batch_id, base, base_values = ContextHead()._parsereport(stream, context, path)
        start = stream.tell()
        count = Count()._parsereport(stream, context, path)
        rows: list[int] = []
        new = count
        if base is not None:  # CTX-6
            rows = read_column(stream, context, base_row_column(len(base.events)), count, None, in_context=True)
            new = sum(1 for r in rows if r == -1)
        keys_at = stream.tell()
        keys = read_column(stream, context, KEY_COLUMN, new, None, in_context=self.context)

        def refer(values: Sequence[int]) -> Callable[[], Sequence[int]] | None:
            return None if base is None else (lambda: references(values, rows))

        if base is not None:
            given = iter(keys)
            keys = [base.events[r].key if r >= 0 else next(given) for r in rows]
            # CTX-6: the base's keys too (it may have been accepted under other limits), at the keys column.
            bound = limits_of(context).max_key_size
            if any(len(k) > bound for k in keys):
                raise LimitExceeded(f"a key is over max_key_size={bound}", offset=keys_at, requirement="LIMIT-5")
        base_events = base.events if base is not None else ()
        offsets = read_column(
            stream,
            context,
            _OFFSETS,
            count,
            None,
            in_context=self.context,
            reference=refer([e.offset for e in base_events]),
        )
        timestamps = read_column(
            stream,
            context,
            _TIMESTAMPS,
            count,
            None,
            in_context=self.context,
            reference=refer([e.timestamp for e in base_events]),
        )
        limits = limits_of(context)
        columns: list[list[Any]] = []
        items = 0
        for index, column in enumerate(plan.columns):
            at = stream.tell()
            n = reach_count(plan, index, count, columns)
            reference = refer(base_values[index]) if base is not None and against_allowed(column) else None
            columns.append(read_column(stream, context, column, n, keys, in_context=self.context, reference=reference))
            if column.avro in ("array", "map"):
                items += sum(columns[-1])
                if items > limits.max_collection_items:
                    raise LimitExceeded(
                        f"arrays and maps hold {items} items, over max_collection_items={limits.max_collection_items}",
                        offset=at,
                        requirement="RECORD-6",
                    )
        if remaining(stream):
            raise InconsistentBatch(
                f"{remaining(stream)} bytes after the last column", offset=stream.tell(), requirement="RECORD-3"
            )
        budget = limits.max_decompressed_size - sum(len(k) for k in keys)
        if budget < 0:
            raise LimitExceeded(
                f"keys total over max_decompressed_size={limits.max_decompressed_size}",
                offset=start,
                requirement="RECORD-6",
            )
        data = []
        for record in rebuild(plan, columns, count, max_event_data_size=limits.max_event_data_size, offset=start):
            budget -= len(record)
            if budget < 0:
                raise LimitExceeded(
                    f"rebuilt events total over max_decompressed_size={limits.max_decompressed_size}",
                    offset=start,
                    requirement="RECORD-6",
                )
            data.append(record)
        events = tuple(
            Event(
                event_type_id=header.event_type_id,
                schema_version=header.schema_version,
                key=keys[i],
                offset=offsets[i],
                timestamp=timestamps[i],
                event_data=data[i],
            )
            for i in range(count)
        )
        return (events, BatchContext(batch_id=batch_id, base=base)) if self.context else events

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> Any:
        if self.context:
            events, columns, plan, batch_context = obj
            ContextHead()._build(batch_context, stream, context, path)
            base = batch_context.base
        else:
            events, columns, plan = obj
            base = None
        keys = [e.key for e in events]
        offsets = [e.offset for e in events]
        timestamps = [e.timestamp for e in events]
        out = bytearray(varint_bytes(len(events), what="count"))
        if base is None:
            out += build_column(KEY_COLUMN, keys, None)
            out += build_column(_OFFSETS, offsets, None)
            out += build_column(_TIMESTAMPS, timestamps, None)
            for column, values in zip(plan.columns, columns):
                out += build_column(column, values, keys)
            stream.write(out)
            return obj
        # CTX-13: each row's first base row with its key; each column the shorter of plain and against the base.
        base_values = base_columns(plan, base)
        assert base_values is not None  # the caller checked that records mode carries the base
        rows = base_rows(base, events)
        out += build_column(base_row_column(len(base.events)), rows, None)
        out += build_column(KEY_COLUMN, [k for k, r in zip(keys, rows) if r == -1], None)
        out += build_column(_OFFSETS, offsets, None, references([e.offset for e in base.events], rows))
        out += build_column(_TIMESTAMPS, timestamps, None, references([e.timestamp for e in base.events], rows))
        for column, values, of_base in zip(plan.columns, columns, base_values):
            out += build_column(column, values, keys, references(of_base, rows) if against_allowed(column) else None)
        stream.write(out)
        return obj


_OFFSETS = Column("offsets", ColumnType.INT, None, *UINT64)
_TIMESTAMPS = Column("timestamps", ColumnType.INT, None, *UINT64)

records_body = RecordsBody()
context_body = RecordsBody(context=True)
