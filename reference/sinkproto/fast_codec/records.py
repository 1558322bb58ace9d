"""Records mode of batch v1 by hand (RECORD-1..RECORD-9): the events, bytes and errors of the construct reference.

What the columns mean (the flattened writer schema, how many values reach
each column, rebuilding ``event_data``) is :mod:`sinkproto.records`; which
transforms exist and which one is canonical is :mod:`sinkproto.transforms`.
This module only reads and writes the column chunks, in one pass over the
buffer, as :mod:`sinkproto.construct_codec.records` declares them.

Decoding: every error inside a column is reported at the column's first
byte, as the reference documents (RECORD-8); the class and requirement are
the ones the reference raises for the first violation in RECORD-12's order:
anything that cuts the payload short, then what the values derive from
(dictionary index, prefix length, bit width, padding), then the range of the
values, then bytes left over. Offsets are positions in the buffer given:
the batch itself for codec ``none`` (the body starts at its ``body_offset``),
the inflated body for gzip and zstd.

Encoding: the canonical column (RECORD-9, the shortest payload, ties to the
lowest transform number) is chosen from the sizes of the candidates, which
are computed without serialising them; only the winner is written.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import accumulate, islice, repeat
from operator import add, attrgetter, floordiv, itemgetter, sub, xor
from typing import Any

from ..errors import DecodeError, EncodeError, InconsistentBatch, LimitExceeded, Truncated, UnknownFormat
from ..limits import Limits
from ..messages import DIGEST_SIZE, BaseLookup, BatchContext, ContextBase, Event
from ..primitives import (
    pack_bits,
    packed_size,
    read_chunk_length,
    read_varint,
    read_varints,
    unpack_bits,
    unzigzag_column,
    varint_bytes,
    varint_column,
    varint_size,
    varints_size,
    zigzag_column,
    zigzag_decode,
    zigzag_encode,
)
from ..records import (
    AGAINST_BASE,
    UINT64,
    Column,
    ColumnType,
    RecordPlan,
    RecordSchemas,
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
    transpose,
)
from ..transforms import BYTES_TRANSFORMS, INT_TRANSFORMS, KEY_COLUMN, MAX_DIGITS, MAX_WIDTH, Patch, Transform, patch
from ._compiled import rebuilder, transposer
from ._values import new_events
from .batch import Inflate

__all__ = [
    "RECORDS_FLAGS",
    "bytes_body",
    "context_head",
    "decode_context_body",
    "decode_records_body",
    "encode_records_body",
    "int_body",
    "read_records_batch",
    "records_parts",
    "records_plan",
]

# RECORD-1: a records batch has exactly same_event_type_id and same_schema_version set.
RECORDS_FLAGS = 0x30

_DIGITS = b"0123456789"
_OFFSETS = Column("offsets", ColumnType.INT, None, *UINT64)
_TIMESTAMPS = Column("timestamps", ColumnType.INT, None, *UINT64)

(
    _PLAIN,
    _DELTA,
    _CONSTANT,
    _FOR,
    _DICTIONARY,
    _PREFIX,
    _KEY,
    _BITPACKED,
    _DELTA_BITPACKED,
    _NUMBERED,
    _PATCHED,
    _DELTA_PATCHED,
) = (int(t) for t in Transform)


class _Short(Exception):
    """The payload needs more bytes than its column holds (``inconsistent_batch``, RECORD-5)."""


# -- decoding -------------------------------------------------------------------------------------


def _signed(data: bytes, pos: int, stop: int, limits: Limits) -> tuple[int, int]:
    z, pos = read_varint(data, pos, stop, limits, "value", wide=True)
    return zigzag_decode(z), pos


def _byte(data: bytes, pos: int, stop: int) -> int:
    if pos >= stop:
        raise _Short
    return data[pos]


def _chunk(data: bytes, pos: int, stop: int, limits: Limits) -> tuple[bytes, int]:
    length, start = read_chunk_length(data, pos, stop, limits, "value")
    return data[start : start + length], start + length


def _entry_count(data: bytes, pos: int, stop: int, limits: Limits) -> tuple[int, int]:
    count, pos = read_varint(data, pos, stop, limits, "value")
    if count > limits.max_dictionary_entries:
        raise LimitExceeded(
            f"entry_count {count} exceeds max_dictionary_entries={limits.max_dictionary_entries}",
            offset=0,
            requirement="RECORD-6",
        )
    return count, pos


def _looked_up(entries: Sequence[Any], indices: list[int]) -> list[Any]:
    if indices and max(indices) >= len(entries):
        bad = next(i for i in indices if i >= len(entries))
        raise InconsistentBatch(
            f"dictionary index {bad} is not below entry_count {len(entries)}", offset=0, requirement="RECORD-7"
        )
    return list(map(entries.__getitem__, indices))


def _packed(data: bytes, pos: int, stop: int, values: int, width: int) -> tuple[bytes, int]:
    size = packed_size(values, width)
    if size > stop - pos:
        raise _Short
    return data[pos : pos + size], pos + size


def _patched(data: bytes, pos: int, stop: int, n: int, limits: Limits) -> tuple[list[int], int]:
    """A ``patched`` payload of ``n`` values, read whole before any is derived (RECORD-12)."""
    base, pos = _signed(data, pos, stop, limits)
    width = _byte(data, pos, stop)
    count, pos = read_varint(data, pos + 1, stop, limits, "value")
    if count > n:  # checked as read: each exception replaces one of the n values
        raise InconsistentBatch(f"exception_count {count} is above the {n} values", offset=0, requirement="RECORD-8")
    packed, pos = _packed(data, pos, stop, n, width)
    pairs, pos = read_varints(data, pos, stop, 2 * count, limits, "value", wide=True)
    offsets = unpack_bits(packed, width, n)
    previous = -1
    for index, z in zip(pairs[::2], pairs[1::2]):
        if index <= previous or index >= n:
            raise InconsistentBatch(
                f"exception index {index} is not above {previous} and below {n}", offset=0, requirement="RECORD-8"
            )
        offsets[index] = zigzag_decode(z)
        previous = index
    return [base + v for v in offsets], pos


def _int_payload(data: bytes, pos: int, stop: int, n: int, transform: int, limits: Limits) -> tuple[list[int], int]:
    """The values of an int payload (before their range is checked) and the position after it."""
    if transform == _PLAIN or transform == _DELTA:
        zigzags, pos = read_varints(data, pos, stop, n, limits, "value", wide=True)
        values = unzigzag_column(zigzags)
        return (values if transform == _PLAIN else list(accumulate(values))), pos
    if transform == _CONSTANT:
        value, pos = _signed(data, pos, stop, limits)
        return [value] * n, pos
    if transform == _FOR:
        base, pos = _signed(data, pos, stop, limits)
        offsets, pos = read_varints(data, pos, stop, n, limits, "value", wide=True)
        return [base + v for v in offsets], pos
    if transform == _DICTIONARY:
        count, pos = _entry_count(data, pos, stop, limits)
        entries, pos = read_varints(data, pos, stop, count, limits, "value", wide=True)
        indices, pos = read_varints(data, pos, stop, n, limits, "value", wide=True)
        return _looked_up(unzigzag_column(entries), indices), pos
    if transform == _BITPACKED:
        base, pos = _signed(data, pos, stop, limits)
        width = _byte(data, pos, stop)
        packed, pos = _packed(data, pos + 1, stop, n, width)
        return [base + v for v in unpack_bits(packed, width, n)], pos
    if transform == _PATCHED:
        return _patched(data, pos, stop, n, limits)
    if transform == _DELTA_PATCHED:
        first, pos = _signed(data, pos, stop, limits)
        differences, pos = _patched(data, pos, stop, max(n - 1, 0), limits)
        if n == 0:
            raise InconsistentBatch("delta_patched needs at least one value", offset=0, requirement="RECORD-8")
        return list(accumulate(differences, initial=first)), pos
    # _DELTA_BITPACKED (the caller allows nothing else)
    first, pos = _signed(data, pos, stop, limits)
    base, pos = _signed(data, pos, stop, limits)
    width = _byte(data, pos, stop)
    packed, pos = _packed(data, pos + 1, stop, max(n - 1, 0), width)
    if width <= MAX_WIDTH and n == 0:
        raise InconsistentBatch("delta_bitpacked needs at least one value", offset=0, requirement="RECORD-8")
    return list(accumulate([base + v for v in unpack_bits(packed, width, n - 1)], initial=first)), pos


def _checked_ints(
    data: bytes,
    pos: int,
    stop: int,
    column: Column,
    n: int,
    transform: int,
    limits: Limits,
    reference: Sequence[int] | None = None,
) -> tuple[list[int], int]:
    if transform not in INT_TRANSFORMS:
        raise UnknownFormat(f"transform {transform} is not allowed on an int column", offset=0, requirement="RECORD-5")
    values, pos = _int_payload(data, pos, stop, n, transform, limits)
    if reference is not None:  # CTX-7: differences from the base; the range applies to the sums
        values = list(map(add, values, reference))
    if values and (min(values) < column.low or max(values) > column.high):
        for value in values:
            check_value(column, value, offset=0, what=column.path)
    return values, pos


def _prefixed(data: bytes, pos: int, stop: int, n: int, limits: Limits) -> tuple[list[bytes], int]:
    pairs: list[tuple[int, bytes]] = []
    for _ in range(n):
        shared, pos = read_varint(data, pos, stop, limits, "value", wide=True)
        rest, pos = _chunk(data, pos, stop, limits)
        pairs.append((shared, rest))
    out: list[bytes] = []
    previous = b""
    budget = limits.max_decompressed_size
    for shared, rest in pairs:
        if shared > len(previous):
            raise InconsistentBatch(
                f"prefix length {shared} is over the previous value's {len(previous)}", offset=0, requirement="RECORD-7"
            )
        previous = previous[:shared] + rest
        budget -= len(previous)
        if budget < 0:  # RECORD-6: as in the reference (construct_codec.records._spend)
            raise LimitExceeded(
                "the values of a prefix or numbered column exceed max_decompressed_size",
                offset=0,
                requirement="RECORD-6",
            )
        out.append(previous)
    return out, pos


def _bytes_payload(
    data: bytes, pos: int, stop: int, n: int, transform: int, keys: Sequence[bytes] | None, limits: Limits
) -> tuple[list[bytes], int]:
    if transform == _PLAIN:
        values: list[bytes] = []
        for _ in range(n):
            value, pos = _chunk(data, pos, stop, limits)
            values.append(value)
        return values, pos
    if transform == _CONSTANT:
        value, pos = _chunk(data, pos, stop, limits)
        return [value] * n, pos
    if transform == _DICTIONARY:
        count, pos = _entry_count(data, pos, stop, limits)
        entries: list[bytes] = []
        for _ in range(count):
            value, pos = _chunk(data, pos, stop, limits)
            entries.append(value)
        indices, pos = read_varints(data, pos, stop, n, limits, "value", wide=True)
        return _looked_up(entries, indices), pos
    if transform == _PREFIX:
        return _prefixed(data, pos, stop, n, limits)
    if transform == _KEY:
        assert keys is not None
        return list(keys), pos
    # _NUMBERED: prefix, digits, then the numbers as an int column of their own.
    prefix, pos = _chunk(data, pos, stop, limits)
    digits = _byte(data, pos, stop)
    number_transform = _byte(data, pos + 1, stop)
    if not 1 <= digits <= MAX_DIGITS:
        raise InconsistentBatch(
            f"numbered: digits {digits} is outside 1..{MAX_DIGITS}", offset=0, requirement="RECORD-8"
        )
    numbers_column = Column("numbers", ColumnType.INT, None, 0, 10**digits - 1)
    numbers, pos = _checked_ints(data, pos + 2, stop, numbers_column, n, number_transform, limits)
    if n * (len(prefix) + digits) > limits.max_decompressed_size:  # RECORD-6
        raise LimitExceeded(
            "the values of a prefix or numbered column exceed max_decompressed_size", offset=0, requirement="RECORD-6"
        )
    return [prefix + b"%0*d" % (digits, number) for number in numbers], pos


Reference = Callable[[], Sequence[int]]
"""CTX-7: the references of a column that may have ``against_base``, computed only when it has."""


def _column(
    data: bytes,
    pos: int,
    end: int,
    column: Column,
    n: int,
    keys: Sequence[bytes] | None,
    limits: Limits,
    *,
    context: bool = False,
    reference: Reference | None = None,
) -> tuple[list[Any], int]:
    """RECORD-5: one column chunk holding ``n`` values; every error inside it is raised at its first byte.

    ``context``: the batch is in mode context, where bit 7 of the transform
    byte is ``against_base``, allowed when ``reference`` is given (CTX-7).
    """
    length, inside = read_chunk_length(data, pos, end, limits, column.path or "column", None)
    stop = inside + length
    try:
        if not length:
            raise InconsistentBatch("an empty column: no transform byte", offset=0, requirement="RECORD-5")
        transform, against = split_transform(data[inside], column, context, reference)
        values: list[int] | list[bytes]
        if column.type is ColumnType.INT:
            if transform not in INT_TRANSFORMS:
                raise UnknownFormat(
                    f"transform {transform} is not allowed on column {column.path}", offset=0, requirement="RECORD-5"
                )
            values, after = _checked_ints(data, inside + 1, stop, column, n, transform, limits, against)
        else:
            if transform not in BYTES_TRANSFORMS or (transform == _KEY and keys is None):
                raise UnknownFormat(
                    f"transform {transform} is not allowed on column {column.path or 'keys'}",
                    offset=0,
                    requirement="RECORD-5",
                )
            if transform == _KEY and not column.per_event:
                raise UnknownFormat(
                    f"transform key on column {column.path}, which a union, array or map encloses",
                    offset=0,
                    requirement="RECORD-10",
                )
            values, after = _bytes_payload(data, inside + 1, stop, n, transform, keys, limits)
            if column.size is not None:
                for value in values:
                    check_value(column, value, offset=0, what=column.path)
        if after != stop:
            raise InconsistentBatch(
                f"column {column.path or 'keys'}: {stop - after} bytes after its {n} values",
                offset=0,
                requirement="RECORD-5",
            )
    except (_Short, Truncated):
        raise InconsistentBatch(
            f"column {column.path or 'keys'} ends before its {n} values", offset=pos, requirement="RECORD-5"
        ) from None
    except DecodeError as exc:
        raise type(exc)(exc.detail, offset=pos, requirement=exc.requirement) from None
    return values, stop


def context_head(
    data: bytes,
    pos: int,
    limits: Limits,
    bases: BaseLookup,
    event_type_id: int,
    schema_version: int,
    plan: RecordPlan,
) -> tuple[int, ContextBase | None, list[list[Any]] | None, int]:
    """CTX-2, CTX-3, CTX-5: batch_id, base_id and base_digest; (batch_id, base, its columns, position after).

    The base is looked up as soon as its digest is read (CTX-5): a missing or
    stale one raises :class:`~sinkproto.errors.BaseUnavailable` at ``base_id``.
    """
    end = len(data)
    ids: list[int] = []
    id_at = pos
    for what in ("batch_id", "base_id"):
        id_at = pos
        try:
            value, pos = read_varint(data, pos, end, limits, what)
        except Truncated:
            raise InconsistentBatch(f"the body ends inside {what}", offset=id_at, requirement="CTX-3") from None
        check_context_id(value, what=what, offset=id_at, zero=what == "base_id")
        ids.append(value)
    batch_id, base_id = ids
    if not base_id:
        return batch_id, None, None, pos
    if end - pos < DIGEST_SIZE:
        raise InconsistentBatch("the body ends inside base_digest", offset=pos, requirement="CTX-3")
    digest = data[pos : pos + DIGEST_SIZE]
    base, columns = look_up_base(
        bases, base_id, digest, event_type_id, schema_version, plan, offset=id_at, by=fast_transpose
    )
    return batch_id, base, columns, pos + DIGEST_SIZE


def decode_context_body(
    data: bytes,
    pos: int = 0,
    *,
    event_type_id: int,
    schema_version: int,
    plan: RecordPlan,
    limits: Limits,
    bases: BaseLookup,
) -> tuple[tuple[Event, ...], BatchContext]:
    """CTX-2: the body of a batch in mode context from ``pos``: its events and its context (offsets as records mode)."""
    batch_id, base, columns, pos = context_head(data, pos, limits, bases, event_type_id, schema_version, plan)
    events = decode_records_body(
        data,
        pos,
        event_type_id=event_type_id,
        schema_version=schema_version,
        plan=plan,
        limits=limits,
        context=True,
        base=base,
        base_values=columns,
    )
    return events, BatchContext(batch_id=batch_id, base=base)


def decode_records_body(
    data: bytes,
    pos: int = 0,
    *,
    event_type_id: int,
    schema_version: int,
    plan: RecordPlan,
    limits: Limits,
    context: bool = False,
    base: ContextBase | None = None,
    base_values: Sequence[Sequence[Any]] | None = None,
) -> tuple[Event, ...]:
    """RECORD-3: the records body from ``pos`` to the end of ``data``, into events.

    ``data`` is the batch (codec ``none``, ``pos`` its ``body_offset``) or the
    inflated body (``pos`` 0): offsets in errors are positions in ``data``,
    as the reference counts them. ``context``: the rest of a body in mode
    context after its base_digest, coded against ``base`` (whose column
    values are ``base_values``) when it has one (CTX-2, CTX-6, CTX-7).
    """
    end = len(data)
    start = pos
    count, pos = read_varint(data, pos, end, limits, "count")
    if count == 0:
        raise InconsistentBatch("a batch holds at least one event", offset=start, requirement="BATCH-8")
    if count > limits.max_batch_events:
        raise LimitExceeded(
            f"batch announces {count} events, over max_batch_events={limits.max_batch_events}",
            offset=start,
            requirement="LIMIT-4",
        )
    rows: list[int] = []
    new = count
    if base is not None:  # CTX-6: the base row of each row, -1 for a key given here
        rows, pos = _column(data, pos, end, base_row_column(len(base.events)), count, None, limits, context=True)
        new = rows.count(-1)
    keys, at = _column(data, pos, end, KEY_COLUMN, new, None, limits, context=context)
    offset_ref = timestamp_ref = None
    if base is not None:
        given = iter(keys)
        base_events = base.events
        keys = [base_events[r].key if r >= 0 else next(given) for r in rows]
        offset_ref = _reference([e.offset for e in base_events], rows)
        timestamp_ref = _reference([e.timestamp for e in base_events], rows)
    # CTX-6: every key, the base's included (accepted under other limits, maybe), at the keys column.
    if max(map(len, keys), default=0) > limits.max_key_size:
        raise LimitExceeded(f"a key is over max_key_size={limits.max_key_size}", offset=pos, requirement="LIMIT-5")
    offsets, pos = _column(data, at, end, _OFFSETS, count, None, limits, context=context, reference=offset_ref)
    timestamps, pos = _column(
        data, pos, end, _TIMESTAMPS, count, None, limits, context=context, reference=timestamp_ref
    )
    columns: list[list[Any]] = []
    items = 0
    for index, column in enumerate(plan.columns):
        at = pos
        ref = None
        if base_values is not None and against_allowed(column):
            ref = _reference(base_values[index], rows)
        values, pos = _column(
            data,
            pos,
            end,
            column,
            reach_count(plan, index, count, columns),
            keys,
            limits,
            context=context,
            reference=ref,
        )
        columns.append(values)
        if column.avro == "array" or column.avro == "map":
            items += sum(values)
            if items > limits.max_collection_items:
                raise LimitExceeded(
                    f"arrays and maps hold {items} items, over max_collection_items={limits.max_collection_items}",
                    offset=at,
                    requirement="RECORD-6",
                )
    if pos != end:
        raise InconsistentBatch(f"{end - pos} bytes after the last column", offset=pos, requirement="RECORD-3")
    budget = limits.max_decompressed_size - sum(map(len, keys))
    if budget < 0:
        raise LimitExceeded(
            f"keys total over max_decompressed_size={limits.max_decompressed_size}",
            offset=start,
            requirement="RECORD-6",
        )
    records = []
    compiled = rebuilder(plan)
    rebuilt = (
        compiled(columns, count, limits.max_event_data_size, start)
        if compiled is not None
        else rebuild(plan, columns, count, max_event_data_size=limits.max_event_data_size, offset=start)
    )
    for record in rebuilt:
        budget -= len(record)
        if budget < 0:
            raise LimitExceeded(
                f"rebuilt events total over max_decompressed_size={limits.max_decompressed_size}",
                offset=start,
                requirement="RECORD-6",
            )
        records.append(record)
    return new_events(count, ([event_type_id] * count, [schema_version] * count, keys, offsets, timestamps, records))


def _reference(base_values: Sequence[int], rows: Sequence[int]) -> Reference:
    return lambda: references(base_values, rows)


def records_plan(
    schemas: RecordSchemas | None, event_type_id: int, schema_version: int, limits: Limits, at: int
) -> RecordPlan:
    """RECORD-2, LIMIT-10: the writer schema of a records batch, looked up at ``at`` (its ``body_offset``)."""
    plan = schemas.plan(event_type_id, schema_version) if schemas is not None else None
    if plan is None:
        raise UnknownFormat(
            f"records mode for event type {event_type_id} schema version {schema_version}: no writer schema known here",
            offset=at,
            requirement="RECORD-2",
        )
    if len(plan.columns) > limits.max_record_columns:
        raise LimitExceeded(
            f"the writer schema flattens to {len(plan.columns)} columns, over max_record_columns="
            f"{limits.max_record_columns}",
            offset=at,
            requirement="LIMIT-10",
        )
    return plan


def read_records_batch(
    data: bytes,
    limits: Limits,
    schemas: RecordSchemas | None,
    inflate: Inflate | None,
    bases: BaseLookup | None = None,
) -> tuple[tuple[Event, ...], BatchContext | None]:
    """A whole records or context batch after its format byte was accepted (BATCH-12..14 are the caller's).

    RECORD-1 (the header flags), then the header values, the writer schema
    (RECORD-2) and the body, inflated by ``inflate`` (None: codec ``none``).
    ``bases`` given: the batch is in mode context (the caller checked that
    this side takes it, CTX-1), read against them (CTX-2); its context is
    returned with the events, None for records mode.
    """
    if data[0] & 0x3F != RECORDS_FLAGS:
        raise InconsistentBatch(
            f"records mode needs exactly same_event_type_id and same_schema_version, not header {data[0]:#04x}",
            offset=0,
            requirement="RECORD-1",
        )
    end = len(data)
    event_type_id, pos = read_varint(data, 2, end, limits, "event_type_id")
    schema_version, pos = read_varint(data, pos, end, limits, "schema_version")
    plan = records_plan(schemas, event_type_id, schema_version, limits, pos)
    if inflate is not None:
        data, pos = inflate(data[pos:], limits, pos), 0
    if bases is not None:
        return decode_context_body(
            data,
            pos,
            event_type_id=event_type_id,
            schema_version=schema_version,
            plan=plan,
            limits=limits,
            bases=bases,
        )
    events = decode_records_body(
        data, pos, event_type_id=event_type_id, schema_version=schema_version, plan=plan, limits=limits
    )
    return events, None


# -- encoding -------------------------------------------------------------------------------------


def _dictionary(values: Sequence[Any]) -> tuple[list[Any], list[int]]:
    """The entries in order of first use, and each value's index."""
    index: dict[Any, int] = {}
    for value in values:
        if value not in index:
            index[value] = len(index)
    return list(index), list(map(index.__getitem__, values))


def _span(low: int, high: int) -> int:
    """The shortest zigzag varint of a value in ``low..high``."""
    near = low if low > 0 else min(0, high)
    return varint_size(zigzag_encode(near))


def _zigzag_size(value: int) -> int:
    """The length of the zigzag varint of ``value``."""
    return ((value << 1 if value >= 0 else ~value << 1 | 1).bit_length() + 6) // 7 or 1


def _zigzags_size(ordered: Sequence[int]) -> int:
    """The summed length of the zigzag varints of ``ordered`` (sorted, not empty), counted by bisection.

    A zigzag varint takes a byte more at each 7 bits: values at or over
    2^6, 2^13, ... or under -2^6, -2^13, ... take a second, third, ... byte.
    """
    n = len(ordered)
    size = n
    low, high = ordered[0], ordered[-1]
    step = 64
    while high >= step or low < -step:
        size += n - bisect_left(ordered, step) + bisect_left(ordered, -step)
        step <<= 7
    return size


def _offsets_size(ordered: Sequence[int], low: int) -> int:
    """The summed length of the varints of ``v - low`` for ``v`` in ``ordered`` (sorted, ``low`` its first)."""
    n = len(ordered)
    size = n
    span = ordered[-1] - low
    step = 128
    while span >= step:
        size += n - bisect_left(ordered, low + step)
        step <<= 7
    return size


class _Ints:
    """The canonical int column of ``values`` (RECORD-9, among ``transforms.int_candidates``): its size, then its bytes.

    Every candidate's exact size comes from the sorted values and the sorted
    differences (bit widths from their extremes, varint lengths by
    bisection), without writing it; only :meth:`body` writes, the winner
    only, so a column coded plainly and against its base (CTX-13) is
    written once.
    """

    __slots__ = ("values", "size", "transform", "low", "width", "deltas", "delta_low", "delta_width", "patched")

    def __init__(self, values: Sequence[int]) -> None:
        self.values = values
        n = len(values)
        if not n:
            self.size, self.transform = 1, _PLAIN
            return
        ordered = sorted(values)
        low, high = ordered[0], ordered[-1]
        self.low = low
        if low == high:
            # constant is shorter than every other candidate once there are two values; plain comes first for one.
            self.size, self.transform = 1 + _zigzag_size(low), _CONSTANT if n > 1 else _PLAIN
            return
        self.deltas = deltas = list(map(sub, islice(values, 1, None), values))
        ordered_deltas = sorted(deltas)
        self.delta_low = delta_low = ordered_deltas[0]
        head = _zigzag_size(low)
        first_size = _zigzag_size(values[0])
        self.width = width = (high - low).bit_length()
        candidates = [
            (_zigzags_size(ordered), _PLAIN),
            (first_size + _zigzags_size(ordered_deltas), _DELTA),
            (head + _offsets_size(ordered, low), _FOR),
            (head + 1 + (n * width + 7) // 8, _BITPACKED),
        ]
        self.delta_width = delta_width = (ordered_deltas[-1] - delta_low).bit_length()
        if delta_width <= MAX_WIDTH:
            size = first_size + _zigzag_size(delta_low) + 1 + ((n - 1) * delta_width + 7) // 8
            candidates.append((size, _DELTA_BITPACKED))
        size, transform = min(candidates)
        # dictionary holds at least two entries of at least the shortest varint each, and an index per value;
        # with every value distinct it is plain's values plus an index each: never the shortest.
        least = _span(low, high)
        if 1 + 2 * least + n <= size:
            distinct = set(values)
            count = len(distinct)
            if count < n and varint_size(count) + count * least + n <= size:
                indices = n if count <= 0x80 else varints_size(_dictionary(values)[1])
                candidates.append((varint_size(count) + _zigzags_size(sorted(distinct)) + indices, _DICTIONARY))
                size, transform = min(candidates)
        # patched and delta_patched come last in transform order: chosen only when strictly shorter.
        patched = patch(values, size, ordered)
        if patched is not None:
            size, transform, self.patched = patched.size, _PATCHED, patched
        patched = patch(deltas, size - first_size, ordered_deltas)
        if patched is not None:
            size, transform, self.patched = first_size + patched.size, _DELTA_PATCHED, patched
        self.size, self.transform = 1 + size, transform

    def body(self) -> bytes:
        """The transform byte and payload."""
        values, transform = self.values, self.transform
        if not values:
            return b"\x00"
        if transform == _CONSTANT or (transform == _PLAIN and len(values) == 1):
            return bytes((transform,)) + varint_bytes(zigzag_encode(values[0]), wide=True)
        if transform == _PLAIN:
            return b"\x00" + varint_column(zigzag_column(values), wide=True)
        if transform == _DELTA:
            return (
                b"\x01"
                + varint_bytes(zigzag_encode(values[0]), wide=True)
                + varint_column(zigzag_column(self.deltas), wide=True)
            )
        if transform == _PATCHED:
            return b"\x0a" + _patched_bytes(self.patched)
        if transform == _DELTA_PATCHED:
            return b"\x0b" + varint_bytes(zigzag_encode(values[0]), wide=True) + _patched_bytes(self.patched)
        if transform == _DICTIONARY:
            entries, indices = _dictionary(values)
            return (
                b"\x04"
                + varint_bytes(len(entries))
                + varint_column(zigzag_column(entries), wide=True)
                + varint_column(indices)
            )
        low = self.low
        if transform == _FOR:
            return (
                b"\x03"
                + varint_bytes(zigzag_encode(low), wide=True)
                + varint_column(list(map(sub, values, repeat(low))), wide=True)
            )
        if transform == _BITPACKED:
            width = self.width
            return (
                b"\x07"
                + varint_bytes(zigzag_encode(low), wide=True)
                + bytes((width,))
                + pack_bits(list(map(sub, values, repeat(low))), width)
            )
        return (
            b"\x08"
            + varint_bytes(zigzag_encode(values[0]), wide=True)
            + varint_bytes(zigzag_encode(self.delta_low), wide=True)
            + bytes((self.delta_width,))
            + pack_bits(list(map(sub, self.deltas, repeat(self.delta_low))), self.delta_width)
        )


def int_body(values: Sequence[int]) -> bytes:
    """The transform byte and payload of the canonical int column (RECORD-9), among ``transforms.int_candidates``."""
    return _Ints(values).body()


def _patched_bytes(p: Patch) -> bytes:
    """A ``patched`` payload (after its transform byte, or after ``first``)."""
    pairs = [b for i, d in p.exceptions for b in (i, zigzag_encode(d))]
    return (
        varint_bytes(zigzag_encode(p.base), wide=True)
        + bytes((p.width, *varint_bytes(len(p.exceptions))))
        + pack_bits(p.packed, p.width)
        + varint_column(pairs, wide=True)
    )


def _common(a: bytes, b: bytes) -> int:
    """The length of the common prefix of ``a`` and ``b``."""
    m = min(len(a), len(b))
    if a[:m] == b[:m]:
        return m
    return m - ((int.from_bytes(a[:m], "big") ^ int.from_bytes(b[:m], "big")).bit_length() + 7) // 8


def _shared(values: Sequence[bytes], one_length: bool) -> list[int]:
    """How many bytes each value shares with the one before it (the first with b"")."""
    if not one_length:
        return [_common(a, b) for a, b in zip([b"", *values], values)]
    # One length: the first differing byte is the top set byte of the XOR of the two values read big-endian.
    size = len(values[0])
    numbers = list(map(int.from_bytes, values))
    bits = map(int.bit_length, map(xor, numbers[1:], numbers))
    differing = map(floordiv, map(add, bits, repeat(7)), repeat(8))
    return [0, *map(sub, repeat(size), differing)]


def _chunks_size(values: Sequence[bytes]) -> int:
    lengths = list(map(len, values))
    return varints_size(lengths) + sum(lengths)


def _chunks(values: Sequence[bytes]) -> bytes:
    return b"".join([varint_bytes(len(v)) + v for v in values])


def _numbered(values: Sequence[bytes], shared: list[int]) -> tuple[bytes, int] | None:
    """``transforms.numbered_split`` of values of one length, from what they share (their common prefix)."""
    size = len(values[0])
    common = min(shared[1:], default=size)
    # Every value is the common prefix and then digits, or the prefix is longer than what all share.
    if common < size and not b"".join(map(itemgetter(slice(common, None)), values)).isdigit():
        return None
    digits = min(size - len(values[0][:common].rstrip(_DIGITS)), MAX_DIGITS)
    if not digits or size - digits > common:
        return None
    return values[0][: size - digits], digits


def bytes_body(values: Sequence[bytes], keys: Sequence[bytes] | None) -> bytes:
    """The transform byte and payload of the canonical bytes column (RECORD-9); ``keys`` for a per-event column."""
    n = len(values)
    if keys is not None and n and list(values) == list(keys):
        # key is empty: only an empty plain column (n = 0) could be as short, and it comes first.
        return b"\x06"
    lengths = list(map(len, values))
    total = sum(lengths)
    best_size, best = varints_size(lengths) + total, _PLAIN
    distinct = len(set(values))
    if n and distinct == 1:
        size = varint_size(lengths[0]) + lengths[0]
        if size < best_size:
            best_size, best = size, _CONSTANT
    entries: list[bytes] = []
    indices: list[int] = []
    if distinct < n:  # with every value distinct, dictionary is plain's values plus an index each
        entries, indices = _dictionary(values)
        size = varint_size(distinct) + _chunks_size(entries) + varints_size(indices)
        if size < best_size:
            best_size, best = size, _DICTIONARY
    one_length = bool(n) and min(lengths) == max(lengths)
    shared = _shared(values, one_length)
    size = varints_size(shared) + varints_size(list(map(sub, lengths, shared))) + total - sum(shared)
    if size < best_size:
        best_size, best = size, _PREFIX
    split = _numbered(values, shared) if one_length else None
    numbers = b""
    if split is not None and varint_size(len(split[0])) + len(split[0]) + 2 < best_size:
        prefix, digits = split
        numbers = int_body(list(map(int, map(itemgetter(slice(len(prefix), None)), values))))
        if varint_size(len(prefix)) + len(prefix) + 1 + len(numbers) < best_size:
            return b"\x09" + varint_bytes(len(prefix)) + prefix + bytes((digits,)) + numbers
    if best == _PLAIN:
        return b"\x00" + _chunks(values)
    if best == _CONSTANT:
        return b"\x02" + varint_bytes(lengths[0]) + values[0]
    if best == _DICTIONARY:
        return b"\x04" + varint_bytes(distinct) + _chunks(entries) + varint_column(indices)
    return b"\x05" + b"".join([varint_bytes(s) + varint_bytes(len(v) - s) + v[s:] for v, s in zip(values, shared)])


_KEY_OF, _OFFSET_OF, _TIMESTAMP_OF = attrgetter("key"), attrgetter("offset"), attrgetter("timestamp")
_DATA_OF, _TYPE_OF = attrgetter("event_data"), attrgetter("event_type_id", "schema_version")


def fast_transpose(plan: RecordPlan, event_data: Sequence[bytes]) -> list[list[Any]] | None:
    """:func:`sinkproto.records.transpose`, by the function compiled for ``plan`` when there is one."""
    compiled = transposer(plan)
    return compiled(event_data) if compiled is not None else transpose(plan, event_data)


def _chunk_of(body: bytes) -> bytes:
    return varint_bytes(len(body)) + body


def records_parts(
    events: Sequence[Event], schemas: RecordSchemas | None, context: BatchContext | None = None
) -> tuple[bytes, bytes]:
    """The header values (event_type_id, schema_version) and the body of a records batch of ``events``.

    Raises :class:`EncodeError` when records mode cannot carry them, in the
    reference's order: more than one type or version (RECORD-1), no writer
    schema (RECORD-2), an ``event_data`` that is not canonical Avro
    (RECORD-2). The header flags are always the records layout (RECORD-1),
    whatever layout the batch names, as in the reference. With a
    ``context``, the body of mode context (CTX-2), coded against its base
    as CTX-13 says; a base of another type or version, or whose event_data
    records mode cannot carry, is an EncodeError.
    """
    first = events[0]
    key = (first.event_type_id, first.schema_version)
    if len(set(map(_TYPE_OF, events))) > 1:
        raise EncodeError("a records batch holds events of one event_type_id and schema_version (RECORD-1)")
    plan = schemas.plan(*key) if schemas is not None else None
    if plan is None:
        raise EncodeError(f"records mode needs the schema of event type {key[0]} version {key[1]} (RECORD-2)")
    columns = fast_transpose(plan, list(map(_DATA_OF, events)))
    if columns is None:
        raise EncodeError(
            "an event_data is not the canonical Avro encoding of its schema: records mode cannot carry it (RECORD-2)"
        )
    header = varint_bytes(key[0]) + varint_bytes(key[1])
    if context is None:
        return header, encode_records_body(events, columns, plan)
    base = context.base
    if base is None:
        head = varint_bytes(context.batch_id) + b"\x00"
        return header, head + encode_records_body(events, columns, plan)
    first_base = base.events[0]
    if (first_base.event_type_id, first_base.schema_version) != key:
        raise EncodeError(
            f"base {base.batch_id} is of event type {first_base.event_type_id} version {first_base.schema_version}, "
            f"the batch of {key[0]} version {key[1]} (CTX-10)"
        )
    values = base_columns(plan, base, by=fast_transpose)
    if values is None:
        raise EncodeError(f"base {base.batch_id}: an event_data is not canonical Avro of its schema (CTX-10)")
    head = varint_bytes(context.batch_id) + varint_bytes(base.batch_id) + base.digest
    return header, head + encode_records_body(events, columns, plan, base, values)


def _against(values: Sequence[int], reference: Sequence[int]) -> bytes:
    """CTX-13: the shorter of the column coded plainly and against the base; plainly on a tie. Only it is written."""
    plain = _Ints(values)
    diff = _Ints(list(map(sub, values, reference)))
    if diff.size < plain.size:
        body = diff.body()
        return bytes((body[0] | AGAINST_BASE,)) + body[1:]
    return plain.body()


def encode_records_body(
    events: Sequence[Event],
    columns: Sequence[Sequence[Any]],
    plan: RecordPlan,
    base: ContextBase | None = None,
    base_values: Sequence[Sequence[Any]] | None = None,
) -> bytes:
    """RECORD-3: count, keys, offsets, timestamps, then the columns of ``plan`` (from :func:`sinkproto.records.transpose`).

    With a ``base`` (whose column values are ``base_values``): the rest of a
    body in mode context after base_digest, base_rows and the keys not in
    the base first (CTX-2, CTX-6), each column the shorter of plain and
    against the base where CTX-7 allows it (CTX-13).
    """
    keys = list(map(_KEY_OF, events))
    offsets = list(map(_OFFSET_OF, events))
    timestamps = list(map(_TIMESTAMP_OF, events))
    if base is None or base_values is None:
        parts = [
            varint_bytes(len(events), what="count"),
            _chunk_of(bytes_body(keys, None)),
            _chunk_of(int_body(offsets)),
            _chunk_of(int_body(timestamps)),
        ]
        for column, values in zip(plan.columns, columns):
            if column.type is ColumnType.INT:
                parts.append(_chunk_of(int_body(values)))
            else:
                parts.append(_chunk_of(bytes_body(values, keys if column.per_event else None)))
        return b"".join(parts)
    rows = base_rows(base, events)
    parts = [
        varint_bytes(len(events), what="count"),
        _chunk_of(int_body(rows)),
        _chunk_of(bytes_body([k for k, r in zip(keys, rows) if r < 0], None)),
        _chunk_of(_against(offsets, references(list(map(_OFFSET_OF, base.events)), rows))),
        _chunk_of(_against(timestamps, references(list(map(_TIMESTAMP_OF, base.events)), rows))),
    ]
    for column, values, reference in zip(plan.columns, columns, base_values):
        if column.type is not ColumnType.INT:
            parts.append(_chunk_of(bytes_body(values, keys if column.per_event else None)))
        elif against_allowed(column):
            parts.append(_chunk_of(_against(values, references(reference, rows))))
        else:
            parts.append(_chunk_of(int_body(values)))
    return b"".join(parts)
