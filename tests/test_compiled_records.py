"""The fast codec's compiled transposition and rebuilding equal sinkproto.records' declarative ones (RECORD-2, RECORD-4).

``fast_codec._compiled`` turns a plan into straight-line source; these
tests draw writer schemas over every Avro type and records for them
(tests/test_fast_records.py's strategies), then mutate the records (bit
flips, cuts, insertions, over-long and over-wide varints, split blocks) so
most are not canonical, and check that both transposes answer the same
columns or both None, and that both rebuilds give the same records, or the
same error at max_event_data_size. Last, the int columns the fast codec
sizes without writing them: each is as long as its size says, so the
choice between plain and against_base (CTX-13) is the one writing both
would make.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sinkproto.errors import LimitExceeded
from sinkproto.fast_codec._compiled import _NotCanonical, _varint, rebuilder, transposer
from sinkproto.fast_codec.records import _against, _Ints, fast_transpose, int_body
from sinkproto.limits import MAX_U64
from sinkproto.records import AGAINST_BASE, RecordPlan, RecordSchemas, rebuild, transpose
from sinkproto.schemas import default_registry
from sinktest import covers
from test_fast_records import LONGS, SETTINGS, TYPE_ID, VERSION, any_batches


def _plan(schemas: RecordSchemas) -> RecordPlan:
    plan = schemas.plan(TYPE_ID, VERSION)
    assert plan is not None
    return plan


def _compiled_transpose(plan: RecordPlan, event_data: list[bytes]) -> Any:
    function = transposer(plan)
    assert function is not None  # the drawn schemas are small: every one compiles
    return function(event_data)


def _rebuilt(plan: RecordPlan, columns: Any, count: int, max_size: int) -> Any:
    """Both rebuilds' records, which must agree, or the error both raise."""
    outcomes = []
    function = rebuilder(plan)
    assert function is not None
    for records in (
        lambda: list(rebuild(plan, columns, count, max_event_data_size=max_size, offset=7)),
        lambda: list(function(columns, count, max_size, 7)),
    ):
        try:
            outcomes.append(records())
        except LimitExceeded as exc:
            outcomes.append((type(exc), exc.detail, exc.offset, exc.requirement))
    assert outcomes[0] == outcomes[1]
    return outcomes[0]


_mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 16)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=3)),
    st.tuples(st.just("longer"), st.integers(0, 1 << 16)),  # a varint's last byte continued by 0x00
    st.tuples(st.just("append"), st.sampled_from([b"\x00", b"\x80\x00", b"\xff" * 10 + b"\x01", b"\x02"])),
)


def _mutated(data: bytes, mutation: tuple[Any, ...]) -> bytes:
    kind, *args = mutation
    if kind == "append":
        return data + args[0]
    if not data:
        return data
    at = args[0] % len(data)
    if kind == "flip":
        return data[:at] + bytes((data[at] ^ (1 << args[1]),)) + data[at + 1 :]
    if kind == "cut":
        return data[:at]
    if kind == "insert":
        return data[:at] + args[1] + data[at:]
    # "longer": the same value as a varint one byte longer, where the byte at ``at`` ends one.
    if data[at] < 0x80:
        return data[:at] + bytes((data[at] | 0x80, 0)) + data[at + 1 :]
    return data


@covers("RECORD-2", "RECORD-4")
@SETTINGS
@given(any_batches, st.lists(st.tuples(st.integers(0, 5), _mutations), max_size=3))
def test_the_compiled_transpose_and_rebuild_equal_the_declarative_ones(
    drawn: Any, mutations: list[tuple[int, tuple[Any, ...]]]
) -> None:
    schemas, events = drawn
    plan = _plan(schemas)
    data = [e.event_data for e in events]
    columns = transpose(plan, data)
    assert columns is not None
    assert _compiled_transpose(plan, data) == columns
    assert fast_transpose(plan, data) == columns
    assert _rebuilt(plan, columns, len(data), MAX_U64) == data
    # A max_event_data_size the longest record exceeds: both raise the same error.
    assert _rebuilt(plan, columns, len(data), max(map(len, data)) - 1) != data
    for row, mutation in mutations:
        data[row % len(data)] = _mutated(data[row % len(data)], mutation)
    assert _compiled_transpose(plan, data) == transpose(plan, data)


@covers("RECORD-2")
@SETTINGS
@given(any_batches, st.lists(st.binary(max_size=12), min_size=1, max_size=4))
def test_the_compiled_transpose_equals_the_declarative_one_on_any_bytes(drawn: Any, data: list[bytes]) -> None:
    plan = _plan(drawn[0])
    assert _compiled_transpose(plan, data) == transpose(plan, data)


@covers("RECORD-2")
@pytest.mark.parametrize(
    "data",
    [
        b"\x04\x02\x04\x00\x06",  # [1, 2], 3: one block
        b"\x02\x02\x02\x04\x00\x06",  # the same array in two blocks
        b"\x03\x04\x02\x04\x00\x06",  # a negative block count, with its byte size
        b"\x00\x86\x00",  # n = 3 as an over-long varint
        b"\x04\x82\x00\x04\x00\x06",  # an over-long item
        b"\x04\x02\x04\x80\x00\x06",  # the block's end as an over-long 0
        b"\x00\x06\x00",  # a byte after the record
        b"\x04\x02",  # cut short
        b"\x00" + b"\xff" * 9 + b"\x01",  # n = -2^63: the widest long
        b"\x00" + b"\xff" * 9 + b"\x02",  # a 10-byte varint over 2^64 - 1
        b"\x00" + b"\xff" * 10 + b"\x01",  # an 11-byte varint
    ],
)
def test_both_transposes_refuse_the_same_blocks_and_varints(data: bytes) -> None:
    plan = RecordSchemas({(TYPE_ID, VERSION): LONGS}).plan(TYPE_ID, VERSION)
    assert plan is not None
    assert _compiled_transpose(plan, [data]) == transpose(plan, [data])


def test_the_slow_varint_reads_minimal_varints_below_2_64_only() -> None:
    assert _varint(b"\x80\x01", 0) == (128, 2)
    assert _varint(b"\xff" * 9 + b"\x01", 0) == (MAX_U64, 10)
    for data in (b"\x80\x00", b"\xff" * 9 + b"\x02", b"\xff" * 10 + b"\x01"):
        with pytest.raises(_NotCanonical):
            _varint(data, 0)
    with pytest.raises(IndexError):
        _varint(b"\x80\x80", 0)


def test_every_schema_of_the_default_registry_compiles() -> None:
    schemas = RecordSchemas.from_registry(default_registry())
    for key in schemas.keys():
        plan = schemas.plan(*key)
        if plan is not None:
            assert transposer(plan) is not None and rebuilder(plan) is not None


def test_a_plan_too_deep_to_compile_keeps_the_declarative_walk() -> None:
    schema: Any = "long"
    for _ in range(30):
        schema = {"type": "array", "items": schema}
    plan = RecordSchemas(
        {(TYPE_ID, VERSION): {"type": "record", "name": "D", "fields": [{"name": "a", "type": schema}]}}
    )
    deep = _plan(plan)
    assert transposer(deep) is None and rebuilder(deep) is None
    data = [b"\x02" * 30 + b"\x04" + b"\x00" * 30]
    assert fast_transpose(deep, data) == transpose(deep, data) is not None


_COLUMN_VALUES = st.lists(
    st.integers(-3, 3)
    | st.integers(60, 70)
    | st.integers(-70, -60)
    | st.integers(8180, 8200)
    | st.integers(-(1 << 63), (1 << 63) - 1)
    | st.integers(0, (1 << 64) - 1),
    max_size=140,
)


@covers("RECORD-9", "CTX-13")
@SETTINGS
@given(_COLUMN_VALUES, st.data())
def test_an_int_column_is_as_long_as_its_size_and_against_base_picks_the_shorter(
    values: list[int], data: st.DataObject
) -> None:
    # The fast codec sizes the int candidates without writing them (sorted values, bisection) and writes only
    # the winner: the size must be the written length, or against_base (CTX-13) would pick the wrong coding.
    sized = _Ints(values)
    body = int_body(values)
    assert sized.body() == body and sized.size == len(body)
    reference = data.draw(st.lists(st.integers(-(1 << 62), 1 << 62), min_size=len(values), max_size=len(values)))
    plain, diff = int_body(values), int_body([v - r for v, r in zip(values, reference)])
    expected = bytes((diff[0] | AGAINST_BASE,)) + diff[1:] if len(diff) < len(plain) else plain
    assert _against(values, reference) == expected
