"""Records mode of batch v1 in the fast codec (fast_codec/records.py) against the construct reference.

Hypothesis draws writer schemas over every Avro type and records for them
(written by fastavro), then checks: the construct codec round-trips them;
the fast body encoder writes the reference's bytes; the fast decoder gives
the reference's events on those bytes and the reference's error (class,
requirement, offset) on mutated ones (bit flips, cuts, insertions, a column
replaced by random bytes, a flipped header bit), with each codec, so offsets
are checked both inside the batch (codec none) and inside an inflated body
(gzip, zstd).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sinkproto import construct_codec, fast_codec
from sinkproto.batchrules import gzip_body, zstd_body
from sinkproto.codec import CONSTRUCT
from sinkproto.construct_codec.batch_format import records_possible
from sinkproto.construct_codec.records import KEY_COLUMN, build_column, records_body
from sinkproto.errors import DecodeError, EncodeError, OverlongVarint, UnknownFormat
from sinkproto.fast_codec.records import bytes_body, encode_records_body, int_body
from sinkproto.limits import DEFAULT_LIMITS, Limits
from sinkproto.messages import Batch, BatchCodec, BatchFormat, BatchLayout, BatchMode, BatchPublish, Event
from sinkproto.primitives import varint_bytes, zigzag_encode
from sinkproto.records import Column, ColumnType, RecordSchemas, transpose
from sinkproto.schemas import default_registry
from sinkproto.transforms import Transform, patch
from sinktest import covers
from sinktools.bench.profiles import load

# The reference at version 1: the Codec's one API with version=1.
v1 = SimpleNamespace(
    encode_frame=partial(CONSTRUCT.encode_frame, version=1),
    decode_frame=partial(CONSTRUCT.decode_frame, version=1),
    encode_batch=partial(CONSTRUCT.encode_batch, version=1),
    decode_batch=partial(CONSTRUCT.decode_batch, version=1),
    encode_reader_schemas=construct_codec.encode_reader_schemas,
    decode_reader_schemas=construct_codec.decode_reader_schemas,
    records_possible=records_possible,
)

TYPE_ID, VERSION = 99, 1
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)

# -- writer schemas over every Avro type ----------------------------------------------------------------

_NUMBERS = {"int": (-(1 << 31), (1 << 31) - 1), "long": (-(1 << 63), (1 << 63) - 1)}
_LEAVES = (
    st.sampled_from(["null", "boolean", "int", "long", "float", "double", "string", "bytes"])
    | st.builds(lambda n: {"type": "enum", "name": "?", "symbols": [f"S{i}" for i in range(n)]}, st.integers(1, 4))
    | st.builds(lambda n: {"type": "fixed", "name": "?", "size": n}, st.integers(0, 3))
)


def _kind(schema: Any) -> Any:
    """What a union may hold once: each primitive, array, map; named types by name (all '?' before naming)."""
    return schema if isinstance(schema, str) else schema["type"]


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    plain = children.filter(lambda s: not isinstance(s, list))
    return st.one_of(
        st.builds(lambda items: {"type": "array", "items": items}, children),
        st.builds(lambda values: {"type": "map", "values": values}, children),
        st.lists(children, min_size=1, max_size=3).map(
            lambda types: {
                "type": "record",
                "name": "?",
                "fields": [{"name": f"f{i}", "type": t} for i, t in enumerate(types)],
            }
        ),
        st.lists(plain, min_size=1, max_size=3, unique_by=_kind),
    )


def _named(schema: Any, counter: list[int]) -> Any:
    """A copy of ``schema`` with every named type given a name of its own."""
    if isinstance(schema, list):
        return [_named(s, counter) for s in schema]
    if isinstance(schema, str):
        return schema
    out = dict(schema)
    if "name" in out:
        counter[0] += 1
        out["name"] = f"T{counter[0]}"
    if "items" in out:
        out["items"] = _named(out["items"], counter)
    if "values" in out:
        out["values"] = _named(out["values"], counter)
    if "fields" in out:
        out["fields"] = [{"name": f["name"], "type": _named(f["type"], counter)} for f in out["fields"]]
    return out


schemas = st.lists(st.recursive(_LEAVES, _extend, max_leaves=6), min_size=1, max_size=4).map(
    lambda types: _named(
        {"type": "record", "name": "Top", "fields": [{"name": f"a{i}", "type": t} for i, t in enumerate(types)]}, [0]
    )
)


def values_for(schema: Any) -> st.SearchStrategy[Any]:
    """Python values fastavro writes as ``schema``; small pools so that rows repeat and transforms other than plain win."""
    if isinstance(schema, list):
        return st.one_of([values_for(s) for s in schema])
    if isinstance(schema, str):
        if schema in _NUMBERS:
            low, high = _NUMBERS[schema]
            return st.integers(-3, 3) | st.integers(1000, 1010) | st.integers(low, high) | st.sampled_from([low, high])
        return {
            "null": st.none(),
            "boolean": st.booleans(),
            "float": st.floats(width=32),
            "double": st.floats(),
            "string": st.sampled_from(["", "a", "ab", "dev-0001", "dev-0002"]) | st.text(max_size=4),
            "bytes": st.sampled_from([b"", b"x", b"ab0"]) | st.binary(max_size=4),
        }[schema]
    kind = schema["type"]
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    if kind == "array":
        return st.lists(values_for(schema["items"]), max_size=3)
    if kind == "map":
        return st.dictionaries(
            st.sampled_from(["k", "k1", "k2"]) | st.text(max_size=2), values_for(schema["values"]), max_size=3
        )
    return st.fixed_dictionaries({f["name"]: values_for(f["type"]) for f in schema["fields"]})


def avro(schema: Any, record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema, named_schemas={}), record)
    return out.getvalue()


_U64 = st.integers(0, 5) | st.integers(0, (1 << 64) - 1)


@st.composite
def batches(draw: st.DrawFn) -> tuple[RecordSchemas, list[Event]]:
    """A schema and 1..6 events of it whose event_data is canonical Avro (RECORD-2)."""
    schema = draw(schemas)
    records = draw(st.lists(values_for(schema), min_size=1, max_size=6))
    data = [avro(schema, r) for r in records]
    keys = draw(
        st.lists(st.sampled_from([b"k", b"k1", b""]) | st.binary(max_size=3), min_size=len(data), max_size=len(data))
    )
    events = [
        Event(
            event_type_id=TYPE_ID, schema_version=VERSION, key=k, offset=draw(_U64), timestamp=draw(_U64), event_data=d
        )
        for k, d in zip(keys, data)
    ]
    return RecordSchemas({(TYPE_ID, VERSION): schema}), events


# A flat schema whose columns make every transform win somewhere: numbered ids, keys equal to a field,
# sequences (delta, delta_bitpacked), few distinct values (dictionary), narrow ranges (bitpacked).
METER = {
    "type": "record",
    "name": "M",
    "fields": [
        {"name": "serial", "type": "string"},
        {"name": "seq", "type": "long"},
        {"name": "level", "type": "int"},
        {"name": "site", "type": "string"},
        {"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["a", "b", "c"]}},
        {"name": "note", "type": ["null", "string"]},
        {"name": "v", "type": "long"},
    ],
}
METER_SCHEMAS = RecordSchemas({(TYPE_ID, VERSION): METER})


@st.composite
def meter_batches(draw: st.DrawFn) -> tuple[RecordSchemas, list[Event]]:
    n = draw(st.integers(1, 40))
    start, step = draw(st.integers(-(1 << 40), 1 << 40)), draw(st.integers(-3, 1000))
    sites = draw(st.lists(st.sampled_from(["north", "north-east", "south", "x" * 130]), min_size=1, max_size=3))
    width = draw(st.integers(0, 30))
    events = []
    for i in range(n):
        serial = f"dev-{draw(st.integers(0, 9999)):04d}"
        record = {
            "serial": serial,
            "seq": start + i * step + draw(st.integers(0, 2)),
            # Now and then far off the rest: the outliers patched and delta_patched list apart.
            "level": draw(st.integers(0, 1 << width))
            if draw(st.integers(0, 7))
            else draw(st.integers(0, (1 << 31) - 1)),
            "site": sites[i % len(sites)],
            "kind": draw(st.sampled_from("abc")),
            "note": draw(st.none() | st.sampled_from(["", "ok"])),
            "v": draw(st.integers(-(1 << 63), (1 << 63) - 1)),
        }
        key = serial.encode() if draw(st.booleans()) or i else b"other"
        events.append(
            Event(
                event_type_id=TYPE_ID,
                schema_version=VERSION,
                key=key,
                offset=1000 + i,
                timestamp=1_700_000_000 + 5 * i,
                event_data=avro(METER, record),
            )
        )
    return METER_SCHEMAS, events


any_batches = batches() | meter_batches()

# -- the two decoders ---------------------------------------------------------------------------------------


_COMPRESS: dict[BatchCodec, Callable[[bytes], bytes]] = {
    BatchCodec.NONE: bytes,
    BatchCodec.GZIP: gzip_body,
    BatchCodec.ZSTD: zstd_body,
}


def outcome(decode: Callable[[], Any]) -> Any:
    try:
        return decode()
    except DecodeError as exc:
        return type(exc), exc.requirement, exc.offset


def same_outcome(data: bytes, limits: Limits, schemas: RecordSchemas) -> Any:
    """The events or the error of both codecs' batch v1 decoders, which must agree."""
    reference = outcome(lambda: v1.decode_batch(data, limits=limits, schemas=schemas).events)
    fast = outcome(lambda: fast_codec.decode_batch(data, limits=limits, version=1, schemas=schemas).events)
    assert fast == reference
    return reference


def head(codec: BatchCodec) -> bytes:
    return bytes((0xB0, codec << 4 | BatchMode.RECORDS)) + bytes((TYPE_ID, VERSION))


def body_of(events: list[Event], schemas: RecordSchemas) -> bytes:
    plan = schemas.plan(TYPE_ID, VERSION)
    assert plan is not None
    columns = transpose(plan, [e.event_data for e in events])
    assert columns is not None
    return bytes(records_body.build((events, columns, plan)))


def columns_of(body: bytes) -> list[tuple[int, int]]:
    """(start, end) of each column chunk of a valid body (after the count)."""
    pos = 1 if body[0] < 0x80 else 2 if body[1] < 0x80 else 3
    spans = []
    while pos < len(body):
        length = shift = 0
        start = pos
        while True:
            byte = body[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        spans.append((start, pos + length))
        pos += length
    return spans


# -- construct itself -----------------------------------------------------------------------------------------


@covers("RECORD-2", "RECORD-3", "RECORD-4", "RECORD-5")
@SETTINGS
@given(any_batches, st.sampled_from(list(BatchCodec)))
def test_construct_round_trips_records_of_every_avro_type(
    drawn: tuple[RecordSchemas, list[Event]], codec: BatchCodec
) -> None:
    schemas, events = drawn
    assert v1.records_possible(events, schemas)  # fastavro writes canonical Avro
    fmt = BatchFormat(codec=codec, mode=BatchMode.RECORDS)
    data = v1.encode_batch(Batch(events=events, format=fmt), schemas=schemas)
    decoded = v1.decode_batch(data, schemas=schemas)
    assert decoded.events == tuple(events) and decoded.format == fmt


LONGS = {
    "type": "record",
    "name": "L",
    "fields": [{"name": "xs", "type": {"type": "array", "items": "long"}}, {"name": "n", "type": "long"}],
}


@covers("RECORD-2")
@pytest.mark.parametrize(
    ("data", "canonical"),
    [
        (b"\x04\x02\x04\x00\x06", True),  # [1, 2], 3: one block
        (b"\x02\x02\x02\x04\x00\x06", False),  # the same array in two blocks
        (b"\x03\x04\x02\x04\x00\x06", False),  # a negative block count, with its byte size
        (b"\x00\x86\x00", False),  # n = 3 as an over-long varint
        (b"\x04\x82\x00\x04\x00\x06", False),  # an over-long item
        (b"\x00\x06\x00", False),  # a byte after the record
        (b"\x04\x02", False),  # cut short
    ],
)
def test_transpose_refuses_non_canonical_blocks_and_varints(data: bytes, canonical: bool) -> None:
    plan = RecordSchemas({(1, 1): LONGS}).plan(1, 1)
    assert plan is not None
    assert (transpose(plan, [data]) is not None) is canonical


def _long(value: int, longer: int = 0) -> bytes:
    """An Avro long, made ``longer`` bytes longer than canonical (still the same value)."""
    raw = varint_bytes(zigzag_encode(value))
    if not longer:
        return raw
    return raw[:-1] + bytes((raw[-1] | 0x80,)) + b"\x80" * (longer - 1) + b"\x00"


@covers("RECORD-2")
@SETTINGS
@given(st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=6), st.integers(-(1 << 63), (1 << 63) - 1), st.data())
def test_transpose_takes_exactly_the_canonical_encoding_of_the_values(
    xs: list[int], n: int, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(1, len(xs) - 1)))) if len(xs) > 1 else []
    blocks = [xs[a:b] for a, b in zip([0, *cuts], [*cuts, len(xs)])] if xs else []
    longer = data.draw(st.integers(0, 2))
    encoded = b"".join(_long(len(b)) + b"".join(map(_long, b)) for b in blocks) + b"\x00" + _long(n, longer)
    plan = RecordSchemas({(1, 1): LONGS}).plan(1, 1)
    assert plan is not None
    canonical = len(blocks) <= 1 and not longer
    assert (transpose(plan, [encoded]) is not None) is canonical
    if canonical:
        assert encoded == avro(LONGS, {"xs": xs, "n": n})


# -- the fast codec against construct -----------------------------------------------------------------------


@covers("RECORD-3", "RECORD-9")
@SETTINGS
@given(any_batches)
def test_fast_encoder_writes_the_reference_bytes(drawn: tuple[RecordSchemas, list[Event]]) -> None:
    schemas, events = drawn
    plan = schemas.plan(TYPE_ID, VERSION)
    assert plan is not None
    columns = transpose(plan, [e.event_data for e in events])
    assert columns is not None
    assert encode_records_body(events, columns, plan) == records_body.build((events, columns, plan))


@covers("RECORD-3", "RECORD-5", "RECORD-6", "RECORD-7", "RECORD-8")
@settings(SETTINGS, max_examples=150)
@given(any_batches, st.sampled_from(list(BatchCodec)), st.data())
def test_fast_decoder_agrees_on_valid_and_mutated_bodies(
    drawn: tuple[RecordSchemas, list[Event]], codec: BatchCodec, data: st.DataObject
) -> None:
    schemas, events = drawn
    body = body_of(events, schemas)
    header = head(codec)
    assert same_outcome(header + _COMPRESS[codec](body), DEFAULT_LIMITS, schemas) == tuple(events)
    for _ in range(3):
        mutation = data.draw(st.sampled_from(["flip", "cut", "insert", "column", "header"]))
        at = data.draw(st.integers(0, len(body) - 1))
        if mutation == "header":
            at = data.draw(st.integers(0, len(header) - 1))
            header = header[:at] + bytes((header[at] ^ 1 << data.draw(st.integers(0, 7)),)) + header[at + 1 :]
        elif mutation == "flip":
            body = body[:at] + bytes((body[at] ^ 1 << data.draw(st.integers(0, 7)),)) + body[at + 1 :]
        elif mutation == "cut":
            body = body[:at]
        elif mutation == "insert":
            body = body[:at] + data.draw(st.binary(min_size=1, max_size=3)) + body[at:]
        else:
            try:
                spans = columns_of(body)
            except IndexError:  # an earlier mutation broke the column structure
                continue
            if not spans:
                continue
            start, end = data.draw(st.sampled_from(spans))
            payload = bytes((data.draw(st.integers(0, 12)),)) + data.draw(st.binary(max_size=12))
            body = body[:start] + bytes((len(payload),)) + payload + body[end:]
        same_outcome(header + _COMPRESS[codec](body), DEFAULT_LIMITS, schemas)
        if not body:
            break


_SMALL = {
    "max_varint_bytes": (1, 10),
    "max_key_size": (0, 12),
    "max_event_data_size": (0, 64),
    "max_batch_events": (1, 40),
    "max_decompressed_size": (0, 600),
    "max_record_columns": (0, 20),
    "max_dictionary_entries": (0, 4),
    "max_collection_items": (0, 6),
}
# Each limit small or as it is by default, so that one small limit is often the only one met.
_SMALL_LIMITS = st.builds(
    Limits, **{name: st.integers(*bounds) | st.just(getattr(DEFAULT_LIMITS, name)) for name, bounds in _SMALL.items()}
)


@covers("RECORD-6", "LIMIT-10")
@SETTINGS
@given(any_batches, st.sampled_from(list(BatchCodec)), _SMALL_LIMITS)
def test_fast_decoder_applies_the_limits_as_the_reference(
    drawn: tuple[RecordSchemas, list[Event]], codec: BatchCodec, limits: Limits
) -> None:
    schemas, events = drawn
    same_outcome(head(codec) + _COMPRESS[codec](body_of(events, schemas)), limits, schemas)


@covers("RECORD-1", "RECORD-2")
@pytest.mark.parametrize("codec", list(BatchCodec))
def test_schema_lookup_and_header_errors_agree(codec: BatchCodec) -> None:
    events = [
        Event(
            event_type_id=TYPE_ID,
            schema_version=VERSION,
            key=b"k",
            offset=1,
            timestamp=2,
            event_data=avro(LONGS, {"xs": [1], "n": 2}),
        )
    ]
    schemas = RecordSchemas({(TYPE_ID, VERSION): LONGS})
    data = head(codec) + _COMPRESS[codec](body_of(events, schemas))
    assert same_outcome(data, DEFAULT_LIMITS, schemas) == tuple(events)
    assert same_outcome(data, DEFAULT_LIMITS, RecordSchemas({})) == (UnknownFormat, "RECORD-2", 4)
    assert same_outcome(data, Limits(max_record_columns=2), schemas)[1:] == ("LIMIT-10", 4)
    assert same_outcome(bytes((0xB8,)) + data[1:], DEFAULT_LIMITS, schemas)[1:] == ("RECORD-1", 0)
    assert same_outcome(data[:3], DEFAULT_LIMITS, schemas)[1:] == ("CONV-1", 3)


# Columns chosen so that each transform wins: (column, values, keys, the transform expected).
_INT = Column("x", ColumnType.INT, None, -(1 << 63), (1 << 63) - 1)
_TEXT = Column("s", ColumnType.BYTES, None)
CHOICES = [
    (_INT, [], None, Transform.PLAIN),
    (_INT, [5], None, Transform.PLAIN),
    (_INT, [1 << 62, -(1 << 62), 7], None, Transform.PLAIN),
    (_INT, [10**12, 10**12 + 1, 10**12 + 3], None, Transform.DELTA),
    (_INT, [7] * 9, None, Transform.CONSTANT),
    (
        _INT,
        [1 << 40, (1 << 40) + 70, (1 << 40) + 1, (1 << 40) + 100, (1 << 40) + 127],
        None,
        Transform.FRAME_OF_REFERENCE,
    ),
    (_INT, [1 << 50, -(1 << 50)] * 5, None, Transform.DICTIONARY),
    (_INT, [3, 0, 2, 1, 3, 0, 1, 2, 0, 3, 2, 1, 0], None, Transform.BITPACKED),
    (_INT, [10_000 + 3 * i + i % 2 for i in range(40)], None, Transform.DELTA_BITPACKED),
    (_INT, [-(1 << 63), (1 << 63) - 1, -(1 << 63)], None, Transform.FRAME_OF_REFERENCE),
    (_INT, [5, 6, 5, 7, 1 << 40, 6, 5, 4, 6, 7, 5, 6, 4, 5, 6, 7], None, Transform.PATCHED),
    (_INT, [100 + i if i != 9 else -(1 << 50) for i in range(30)], None, Transform.DELTA_PATCHED),
    (KEY_COLUMN, [b"north", b"south"] * 4, None, Transform.DICTIONARY),
    (_TEXT, [], [], Transform.PLAIN),
    (_TEXT, [b"a", b"b"], None, Transform.PLAIN),
    (_TEXT, [b"same"] * 3, None, Transform.CONSTANT),
    (_TEXT, [b"longer-prefix-a", b"longer-prefix-b", b"longer-prefix-cc"], None, Transform.PREFIX),
    (_TEXT, [b"k1", b"k2"], [b"k1", b"k2"], Transform.KEY),
    (_TEXT, [b"dev-%04d" % i for i in (7, 123, 9999, 42)], None, Transform.NUMBERED),
]


@covers("RECORD-9")
@pytest.mark.parametrize(("column", "values", "keys", "transform"), CHOICES)
def test_each_transform_is_chosen_as_the_reference_chooses(
    column: Column, values: list[Any], keys: Any, transform: Transform
) -> None:
    reference = build_column(column, values, keys)
    fast = int_body(values) if column.type is ColumnType.INT else bytes_body(values, keys if column.per_event else None)
    assert reference == bytes((len(fast),)) + fast
    assert fast[0] == transform


@covers("RECORD-8")
def test_a_varint_error_inside_a_column_is_at_the_column_start() -> None:
    """Both codecs report a varint error inside a column at the column's first byte (RECORD-8)."""
    schemas = RecordSchemas({(TYPE_ID, VERSION): LONGS})
    events = [
        Event(
            event_type_id=TYPE_ID,
            schema_version=VERSION,
            key=b"k",
            offset=1,
            timestamp=2,
            event_data=avro(LONGS, {"xs": [], "n": 2}),
        )
    ]
    body = body_of(events, schemas)
    start, _ = columns_of(body)[-1]  # n: plain, one value; made an 11-byte varint
    data = head(BatchCodec.NONE) + body[:start] + b"\x0c\x00" + b"\xff" * 10 + b"\x00"
    fast = outcome(lambda: fast_codec.decode_batch(data, version=1, schemas=schemas).events)
    assert fast == (OverlongVarint, "CONV-4", 4 + start)
    assert outcome(lambda: v1.decode_batch(data, schemas=schemas).events) == fast


@covers("RECORD-3", "RECORD-9")
@pytest.mark.parametrize("codec", list(BatchCodec))
def test_the_meter_profile_agrees(codec: BatchCodec) -> None:
    """100 events of the kit's meter schema: long columns, several groups of 64 bit-packed values."""
    schemas = RecordSchemas.from_registry(default_registry())
    batch = Batch(events=load()["meter"].events, format=BatchFormat(codec=codec, mode=BatchMode.RECORDS))
    data = v1.encode_batch(batch, schemas=schemas)
    assert fast_codec.encode_batch(batch, version=1, schemas=schemas) == data
    decoded = v1.decode_batch(data, schemas=schemas)
    assert fast_codec.decode_batch(data, version=1, schemas=schemas) == decoded and decoded.events == batch.events


def test_fixed_floats_pass_through_unchanged() -> None:
    schema = {
        "type": "record",
        "name": "F",
        "fields": [{"name": "f", "type": "float"}, {"name": "d", "type": "double"}],
    }
    schemas = RecordSchemas({(TYPE_ID, VERSION): schema})
    data = [struct.pack("<f", float("nan")) + struct.pack("<d", -0.0), struct.pack("<fd", 1.5, 2.5)]
    events = [
        Event(event_type_id=TYPE_ID, schema_version=VERSION, key=b"", offset=i, timestamp=i, event_data=d)
        for i, d in enumerate(data)
    ]
    for codec in BatchCodec:
        assert same_outcome(head(codec) + _COMPRESS[codec](body_of(events, schemas)), DEFAULT_LIMITS, schemas) == tuple(
            events
        )


# -- every error path, by hand: one column (or the body around it) per case ---------------------------------


def _record(name: str, avro_type: Any) -> dict[str, Any]:
    return {"type": "record", "name": "R", "fields": [{"name": name, "type": avro_type}]}


ONE_LONG, ONE_INT, ONE_STRING = _record("n", "long"), _record("n", "int"), _record("s", "string")
ONE_FIXED = _record("f", {"type": "fixed", "name": "Two", "size": 2})
STRINGS = _record("xs", {"type": "array", "items": "string"})
MAYBE_STRING, MAYBE_LONG = _record("s", ["null", "string"]), _record("n", ["null", "long"])
NESTED_STRING = _record("r", {"type": "record", "name": "In", "fields": [{"name": "s", "type": "string"}]})


def _z(value: int) -> bytes:
    return varint_bytes(zigzag_encode(value), wide=True)


def _col(transform: int, payload: bytes = b"") -> bytes:
    return varint_bytes(len(payload) + 1) + bytes((transform,)) + payload


def _body(n: int, *columns: bytes, keys: bytes | None = None, count: int | None = None) -> bytes:
    """count, keys k0.. (plain), offsets and timestamps (constant 0), then ``columns``."""
    plain_keys = _col(0, b"".join(b"\x02k%d" % i for i in range(n)))
    return (
        varint_bytes(n if count is None else count)
        + (plain_keys if keys is None else keys)
        + _col(2, b"\x00") * 2
        + b"".join(columns)
    )


_ERROR_CASES: list[tuple[str, Any, bytes, Limits, str | None]] = [
    ("empty column", ONE_LONG, _body(2, b"\x00"), DEFAULT_LIMITS, "RECORD-5"),
    ("prefix on an int column", ONE_LONG, _body(2, _col(5)), DEFAULT_LIMITS, "RECORD-5"),
    ("unassigned transform", ONE_LONG, _body(2, _col(12)), DEFAULT_LIMITS, "RECORD-5"),
    # patched (10): base, width, exception_count, packed bytes, (index, value minus base) pairs.
    ("patched", ONE_LONG, _body(2, _col(10, _z(5) + b"\x01\x01\x01" + b"\x01" + _z(-9))), DEFAULT_LIMITS, None),
    ("patched, count over n", ONE_LONG, _body(2, _col(10, _z(5) + b"\x01\x03")), DEFAULT_LIMITS, "RECORD-8"),
    (
        "patched, index not below n",
        ONE_LONG,
        _body(2, _col(10, _z(5) + b"\x00\x01\x02" + _z(0))),
        DEFAULT_LIMITS,
        "RECORD-8",
    ),
    (
        "patched, indexes not ascending",
        ONE_LONG,
        _body(2, _col(10, _z(5) + b"\x00\x02\x01" + _z(0) + b"\x00" + _z(0))),
        DEFAULT_LIMITS,
        "RECORD-8",
    ),
    ("patched, width 65", ONE_LONG, _body(2, _col(10, _z(5) + b"\x41\x00" + bytes(17))), DEFAULT_LIMITS, "RECORD-8"),
    ("patched, padding bits", ONE_LONG, _body(2, _col(10, _z(5) + b"\x01\x00\x04")), DEFAULT_LIMITS, "RECORD-8"),
    ("patched, exception cut", ONE_LONG, _body(2, _col(10, _z(5) + b"\x00\x01\x00")), DEFAULT_LIMITS, "RECORD-5"),
    (
        "patched, index before range",
        ONE_INT,
        _body(2, _col(10, _z(5) + b"\x00\x02\x01" + _z(1 << 40) + b"\x01" + _z(0))),
        DEFAULT_LIMITS,
        "RECORD-8",
    ),
    (
        "patched, out of range",
        ONE_INT,
        _body(2, _col(10, _z(5) + b"\x00\x01\x01" + _z(1 << 40))),
        DEFAULT_LIMITS,
        "RECORD-5",
    ),
    ("delta_patched", ONE_LONG, _body(2, _col(11, _z(5) + _z(0) + b"\x00\x01\x00" + _z(-3))), DEFAULT_LIMITS, None),
    (
        "delta_patched of no value",
        LONGS,
        _body(1, _col(0, _z(0)), _col(11, _z(0) + _z(0) + b"\x00\x00"), _col(0, _z(5))),
        DEFAULT_LIMITS,
        "RECORD-8",
    ),
    (
        "delta_patched of no value, one exception",
        LONGS,
        _body(1, _col(0, _z(0)), _col(11, _z(0) + _z(0) + b"\x00\x01"), _col(0, _z(5))),
        DEFAULT_LIMITS,
        "RECORD-8",
    ),
    (
        "delta_patched, count over n-1",
        ONE_LONG,
        _body(2, _col(11, _z(5) + _z(0) + b"\x00\x02")),
        DEFAULT_LIMITS,
        "RECORD-8",
    ),
    ("delta_patched, one value", ONE_LONG, _body(1, _col(11, _z(5) + _z(-7) + b"\x40\x00")), DEFAULT_LIMITS, None),
    ("plain, one value short", ONE_LONG, _body(2, _col(0, _z(1))), DEFAULT_LIMITS, "RECORD-5"),
    ("plain, a byte over", ONE_LONG, _body(2, _col(0, _z(1) + _z(2) + b"\x00")), DEFAULT_LIMITS, "RECORD-5"),
    ("plain", ONE_LONG, _body(2, _col(0, _z(1) + _z(-2))), DEFAULT_LIMITS, None),
    ("delta", ONE_LONG, _body(2, _col(1, _z(5) + _z(-1))), DEFAULT_LIMITS, None),
    ("constant", ONE_LONG, _body(2, _col(2, _z(-7))), DEFAULT_LIMITS, None),
    ("frame of reference", ONE_LONG, _body(2, _col(3, _z(-100) + b"\x00\x05")), DEFAULT_LIMITS, None),
    ("frame of reference, short", ONE_LONG, _body(2, _col(3, _z(-100) + b"\x00")), DEFAULT_LIMITS, "RECORD-5"),
    ("dictionary", ONE_LONG, _body(2, _col(4, b"\x02" + _z(9) + _z(-9) + b"\x01\x00")), DEFAULT_LIMITS, None),
    (
        "dictionary index",
        ONE_LONG,
        _body(2, _col(4, b"\x02" + _z(9) + _z(-9) + b"\x01\x02")),
        DEFAULT_LIMITS,
        "RECORD-7",
    ),
    (
        "dictionary entries",
        ONE_LONG,
        _body(2, _col(4, b"\x02" + _z(9) + _z(-9) + b"\x01\x00")),
        Limits(max_dictionary_entries=1),
        "RECORD-6",
    ),
    ("entry_count overflow", ONE_LONG, _body(2, _col(4, b"\xff" * 9 + b"\x7f")), DEFAULT_LIMITS, "CONV-5"),
    ("bitpacked", ONE_LONG, _body(2, _col(7, _z(10) + b"\x03" + bytes((0b101_010,)))), DEFAULT_LIMITS, None),
    (
        "bitpacked padding",
        ONE_LONG,
        _body(2, _col(7, _z(10) + b"\x03" + bytes((0b11_101_010,)))),
        DEFAULT_LIMITS,
        "RECORD-8",
    ),
    ("bitpacked width 65", ONE_LONG, _body(2, _col(7, _z(0) + bytes((65,)) + bytes(17))), DEFAULT_LIMITS, "RECORD-8"),
    (
        "bitpacked width 65, short",
        ONE_LONG,
        _body(2, _col(7, _z(0) + bytes((65,)) + bytes(3))),
        DEFAULT_LIMITS,
        "RECORD-5",
    ),
    ("bitpacked without width", ONE_LONG, _body(2, _col(7, _z(0))), DEFAULT_LIMITS, "RECORD-5"),
    ("delta_bitpacked", ONE_LONG, _body(2, _col(8, _z(100) + _z(-5) + b"\x02\x03")), DEFAULT_LIMITS, None),
    (
        "delta_bitpacked past 2^63",
        ONE_LONG,
        _body(2, _col(8, _z((1 << 63) - 1) + _z(1) + b"\x00")),
        DEFAULT_LIMITS,
        "RECORD-5",
    ),
    (
        "varint over max_varint_bytes",
        ONE_LONG,
        _body(2, _col(0, _z(1000) + _z(1))),
        Limits(max_varint_bytes=1),
        "LIMIT-2",
    ),
    ("int out of range", ONE_INT, _body(1, _col(0, _z(1 << 31))), DEFAULT_LIMITS, "RECORD-5"),
    ("plain bytes, cut", ONE_STRING, _body(2, _col(0, b"\x02ab\x05x")), DEFAULT_LIMITS, "RECORD-5"),
    ("bytes dictionary index", ONE_STRING, _body(2, _col(4, b"\x01\x01a\x00\x01")), DEFAULT_LIMITS, "RECORD-7"),
    (
        "prefix over the previous value",
        ONE_STRING,
        _body(2, _col(5, b"\x00\x02ab\x03\x00")),
        DEFAULT_LIMITS,
        "RECORD-7",
    ),
    ("prefix", ONE_STRING, _body(2, _col(5, b"\x00\x02ab\x01\x01c")), DEFAULT_LIMITS, None),
    ("key", ONE_STRING, _body(2, _col(6)), DEFAULT_LIMITS, None),
    ("key on the keys column", ONE_STRING, _body(2, _col(6), keys=_col(6)), DEFAULT_LIMITS, "RECORD-5"),
    ("numbered", ONE_STRING, _body(2, _col(9, b"\x04dev-\x03\x00" + _z(7) + _z(123))), DEFAULT_LIMITS, None),
    ("numbered, 0 digits", ONE_STRING, _body(2, _col(9, b"\x00\x00\x00" + _z(0) + _z(0))), DEFAULT_LIMITS, "RECORD-8"),
    ("numbered, 19 digits", ONE_STRING, _body(2, _col(9, b"\x00\x13\x00" + _z(0) + _z(0))), DEFAULT_LIMITS, "RECORD-8"),
    ("numbered by prefix", ONE_STRING, _body(2, _col(9, b"\x00\x02\x05")), DEFAULT_LIMITS, "RECORD-5"),
    (
        "numbered over its digits",
        ONE_STRING,
        _body(2, _col(9, b"\x00\x02\x00" + _z(100) + _z(1))),
        DEFAULT_LIMITS,
        "RECORD-5",
    ),
    ("numbered without digits", ONE_STRING, _body(2, _col(9, b"\x00")), DEFAULT_LIMITS, "RECORD-5"),
    ("fixed of the wrong size", ONE_FIXED, _body(1, _col(0, b"\x03abc")), DEFAULT_LIMITS, "RECORD-5"),
    ("key on array items", STRINGS, _body(1, _col(0, _z(2)), _col(6)), DEFAULT_LIMITS, "RECORD-10"),
    ("items", STRINGS, _body(1, _col(0, _z(3)), _col(0, b"\x01a\x01b\x01c")), DEFAULT_LIMITS, None),
    (
        "items over max_collection_items",
        STRINGS,
        _body(1, _col(0, _z(3)), _col(0, b"\x01a\x01b\x01c")),
        Limits(max_collection_items=2),
        "RECORD-6",
    ),
    (
        "delta_bitpacked of no value",
        LONGS,
        _body(1, _col(0, _z(0)), _col(8, _z(0) + _z(0) + b"\x00"), _col(0, _z(5))),
        DEFAULT_LIMITS,
        "RECORD-8",
    ),
    (
        "delta_bitpacked of no value, width 8",
        LONGS,
        _body(1, _col(0, _z(0)), _col(8, _z(0) + _z(0) + b"\x08"), _col(0, _z(5))),
        DEFAULT_LIMITS,
        "RECORD-8",
    ),
    # Issue #19: the rules a reader of the prose alone could not decide (RECORD-6, RECORD-10, RECORD-11).
    ("key on a nested record's field", NESTED_STRING, _body(2, _col(6)), DEFAULT_LIMITS, None),
    (
        "key on a branch every row takes",
        MAYBE_STRING,
        _body(2, _col(0, _z(1) + _z(1)), _col(6)),
        DEFAULT_LIMITS,
        "RECORD-10",
    ),
    (
        "dictionary, an unused entry out of range",
        ONE_INT,
        _body(2, _col(4, b"\x02" + _z(1) + _z(1 << 31) + b"\x00\x00")),
        DEFAULT_LIMITS,
        None,
    ),
    (
        "dictionary, a used entry out of range",
        ONE_INT,
        _body(2, _col(4, b"\x02" + _z(1) + _z(1 << 31) + b"\x00\x01")),
        DEFAULT_LIMITS,
        "RECORD-5",
    ),
    (
        "fixed dictionary, an unused entry of another size",
        ONE_FIXED,
        _body(1, _col(4, b"\x02\x02ab\x03abc\x00")),
        DEFAULT_LIMITS,
        None,
    ),
    (
        "constant of no value, out of range",
        MAYBE_LONG,
        _body(2, _col(0, _z(0) + _z(0)), _col(2, _z(1 << 63))),
        DEFAULT_LIMITS,
        None,
    ),
    (
        "constant of no value, missing",
        MAYBE_LONG,
        _body(2, _col(0, _z(0) + _z(0)), _col(2)),
        DEFAULT_LIMITS,
        "RECORD-5",
    ),
    (
        "delta_bitpacked of one value, base and width unused",
        ONE_LONG,
        _body(1, _col(8, _z(5) + _z(-9) + b"\x40")),
        DEFAULT_LIMITS,
        None,
    ),
    (
        "delta_bitpacked of one value, width 65",
        ONE_LONG,
        _body(1, _col(8, _z(5) + _z(0) + b"\x41")),
        DEFAULT_LIMITS,
        "RECORD-8",
    ),
    (
        "numbered of no value, its number out of range",
        MAYBE_STRING,
        _body(2, _col(0, _z(0) + _z(0)), _col(9, b"\x00\x01\x02" + _z(10))),
        DEFAULT_LIMITS,
        None,
    ),
    (
        "numbered over max_decompressed_size",
        ONE_STRING,
        _body(2, _col(9, b"\x00\x01\x02" + _z(5))),
        Limits(max_decompressed_size=1),
        "RECORD-6",
    ),
    (
        "numbered over max_decompressed_size, a number out of range",
        ONE_STRING,
        _body(2, _col(9, b"\x00\x01\x02" + _z(10))),
        Limits(max_decompressed_size=1),
        "RECORD-5",
    ),
    # RECORD-12: the payload is read whole, then the values derived, then their ranges checked.
    (
        "dictionary index, then an overlong index",
        ONE_LONG,
        _body(2, _col(4, b"\x01" + _z(9) + b"\x01" + b"\x80" * 10)),
        DEFAULT_LIMITS,
        "CONV-4",
    ),
    (
        "out of range, then a dictionary index",
        ONE_INT,
        _body(2, _col(4, b"\x01" + _z(1 << 31) + b"\x00\x01")),
        DEFAULT_LIMITS,
        "RECORD-7",
    ),
    (
        "prefix over max_decompressed_size, then cut",
        ONE_STRING,
        _body(2, _col(5, b"\x00\x03abc\x00\x05ab")),
        Limits(max_decompressed_size=6),
        "RECORD-5",
    ),
    (
        "prefix over max_decompressed_size",
        ONE_STRING,
        _body(2, _col(5, b"\x00\x03abc\x00\x04abcd")),
        Limits(max_decompressed_size=6),
        "RECORD-6",
    ),
    ("a byte after the last column", ONE_LONG, _body(2, _col(0, _z(1) + _z(2)), b"\x00"), DEFAULT_LIMITS, "RECORD-3"),
    ("count 0", ONE_LONG, _body(2, _col(0, _z(1) + _z(2)), count=0), DEFAULT_LIMITS, "BATCH-8"),
    ("count over max_batch_events", ONE_LONG, _body(2, _col(0, _z(1) + _z(2))), Limits(max_batch_events=1), "LIMIT-4"),
    ("key over max_key_size", ONE_LONG, _body(2, _col(0, _z(1) + _z(2))), Limits(max_key_size=1), "LIMIT-5"),
    (
        "event_data over max_event_data_size",
        ONE_LONG,
        _body(2, _col(0, _z(1) + _z(2))),
        Limits(max_event_data_size=0),
        "RECORD-6",
    ),
    (
        "keys over max_decompressed_size",
        ONE_LONG,
        _body(2, _col(0, _z(1) + _z(2))),
        Limits(max_decompressed_size=3),
        "RECORD-6",
    ),
    (
        "records over max_decompressed_size",
        ONE_LONG,
        _body(2, _col(0, _z(1) + _z(2))),
        Limits(max_decompressed_size=5),
        "RECORD-6",
    ),
]


@covers("RECORD-3", "RECORD-5", "RECORD-6", "RECORD-7", "RECORD-8", "RECORD-10", "RECORD-11", "RECORD-12")
@pytest.mark.parametrize(
    ("schema", "body", "limits", "requirement"), [c[1:] for c in _ERROR_CASES], ids=[c[0] for c in _ERROR_CASES]
)
def test_each_column_rule_agrees(schema: Any, body: bytes, limits: Limits, requirement: str | None) -> None:
    schemas = RecordSchemas({(TYPE_ID, VERSION): schema})
    results = [same_outcome(head(codec) + _COMPRESS[codec](body), limits, schemas) for codec in BatchCodec]
    if requirement is None:
        assert all(isinstance(r, tuple) and all(isinstance(e, Event) for e in r) for r in results)
    else:
        assert isinstance(results[0], tuple) and results[0][1] == requirement, results[0]


_INTS = (
    st.integers(-3, 3)
    | st.integers(1000, 1003)
    | st.integers(-(1 << 64), 1 << 64)
    | st.sampled_from([-(1 << 63), (1 << 63) - 1, (1 << 64) - 1, 127, 128, -64, -65, 8191, 8192])
)
_RUNS = st.tuples(st.integers(-(1 << 62), 1 << 62), st.integers(-300, 300), st.integers(1, 40), st.integers(0, 3)).map(
    lambda t: [t[0] + i * t[1] + (i * 7919) % (t[3] + 1) for i in range(t[2])]
)
_TEXTS = st.sampled_from([b"", b"a", b"ab", b"abc", b"north-1", b"north-2", b"0", b"99"]) | st.binary(max_size=4)
_NUMBERED = st.tuples(st.sampled_from([b"", b"dev-", b"x1", b"7"]), st.integers(1, 20)).flatmap(
    lambda t: st.lists(
        st.integers(0, 10 ** min(t[1], 19) - 1).map(lambda k: t[0] + b"%0*d" % (t[1], k)), min_size=1, max_size=12
    )
)


# Narrow values or runs with a few far off: where patched and delta_patched win.
_OUTLIERS = st.tuples(
    st.lists(st.integers(0, 5), min_size=2, max_size=60) | _RUNS,
    st.lists(st.tuples(st.integers(0, 59), _INTS), max_size=4),
).map(lambda t: [next((v for i, v in t[1] if i == at), x) for at, x in enumerate(t[0])])


@covers("RECORD-9")
@settings(SETTINGS, max_examples=300)
@given(st.lists(_INTS, max_size=20) | _RUNS | _OUTLIERS)
def test_int_column_choice_is_the_reference_choice(values: list[int]) -> None:
    body = int_body(values)
    assert build_column(_INT, values, None) == varint_bytes(len(body)) + body


@covers("RECORD-9")
@settings(SETTINGS, max_examples=300)
@given(st.lists(_TEXTS, max_size=12) | _NUMBERED, st.booleans())
def test_bytes_column_choice_is_the_reference_choice(values: list[bytes], as_keys: bool) -> None:
    keys = list(values) if as_keys else None
    body = bytes_body(values, keys)
    assert build_column(_TEXT, values, keys) == varint_bytes(len(body)) + body


# -- through the fast codec's version-1 API -------------------------------------------------------------------


@covers("RECORD-1", "RECORD-2", "CODEC-5", "BPUB-1")
@SETTINGS
@given(any_batches, st.sampled_from([None, *BatchCodec]), st.integers(0, 0xFFF), st.data())
def test_fast_v1_batches_and_frames_in_records_mode_are_the_reference_ones(
    drawn: tuple[RecordSchemas, list[Event]], codec: BatchCodec | None, message_id: int, data: st.DataObject
) -> None:
    schemas, events = drawn
    fmt = None if codec is None else BatchFormat(codec=codec, mode=BatchMode.RECORDS)
    batch = Batch(events=tuple(events), format=fmt)
    encoded = fast_codec.encode_batch(batch, version=1, schemas=schemas)
    assert encoded == v1.encode_batch(batch, schemas=schemas)
    assert fast_codec.decode_batch(encoded, version=1, schemas=schemas) == v1.decode_batch(encoded, schemas=schemas)
    frame = BatchPublish(message_id=message_id, batch=batch)
    raw = fast_codec.encode_frame(frame, version=1, schemas=schemas)
    assert raw == v1.encode_frame(frame, schemas=schemas)
    cut = raw[: data.draw(st.integers(0, len(raw)))]
    flipped = bytearray(raw)
    flipped[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    for unit in (raw, cut, bytes(flipped)):
        reference = outcome(lambda unit=unit: v1.decode_frame(unit, schemas=schemas))  # type: ignore[misc]
        fast = outcome(lambda unit=unit: fast_codec.decode_frame(unit, version=1, schemas=schemas))  # type: ignore[misc]
        assert fast == reference


@covers("RECORD-1", "RECORD-2")
def test_fast_v1_refuses_what_records_mode_cannot_carry() -> None:
    schemas = RecordSchemas({(TYPE_ID, VERSION): LONGS})
    good = Event(
        event_type_id=TYPE_ID,
        schema_version=VERSION,
        key=b"k",
        offset=1,
        timestamp=2,
        event_data=avro(LONGS, {"xs": [1], "n": 2}),
    )
    records = BatchFormat(codec=BatchCodec.NONE, mode=BatchMode.RECORDS)
    refused = [
        (
            Batch(
                events=(
                    good,
                    Event(
                        event_type_id=TYPE_ID,
                        schema_version=2,
                        key=b"",
                        offset=0,
                        timestamp=0,
                        event_data=good.event_data,
                    ),
                ),
                format=records,
            ),
            schemas,
        ),
        (Batch(events=(good,), format=records), RecordSchemas({})),
        (Batch(events=(good,), format=records), None),
        (
            Batch(
                events=(
                    Event(
                        event_type_id=TYPE_ID,
                        schema_version=VERSION,
                        key=b"",
                        offset=0,
                        timestamp=0,
                        event_data=b"\x00\x84\x00",
                    ),
                ),
                format=records,
            ),
            schemas,
        ),
    ]
    for batch, known in refused:
        with pytest.raises(EncodeError):
            v1.encode_batch(batch, schemas=known)
        with pytest.raises(EncodeError):
            fast_codec.encode_batch(batch, version=1, schemas=known)
    # A layout other than the records one is refused (RECORD-1), by both encoders.
    odd_layout = Batch(events=(good,), format=records, layout=BatchLayout.from_byte(0x38))
    for encode in (v1.encode_batch, partial(fast_codec.encode_batch, version=1)):
        with pytest.raises(EncodeError):
            encode(odd_layout, schemas=schemas)
    # Without schemas (or with none that fits) the choice is among the column batches, as in the reference.
    for known in (None, RecordSchemas({})):
        assert fast_codec.encode_batch(Batch(events=(good,)), version=1, schemas=known) == v1.encode_batch(
            Batch(events=(good,)), schemas=known
        )


def _patch_by_the_letter(values: list[int]) -> tuple[int, int, list[tuple[int, int]], int] | None:
    """RECORD-9's patched choice as the spec words it: every width 0..64, no pruning, sizes from the bytes."""
    best: tuple[int, int, list[tuple[int, int]], int] | None = None
    for width in range(65):
        span = (1 << width) - 1
        base = min(values, key=lambda b: (-sum(b <= v <= b + span for v in values), b))
        exceptions = [(i, v - base) for i, v in enumerate(values) if not base <= v <= base + span]
        if len(exceptions) > len(values) // 8:
            continue
        size = (
            len(_z(base))
            + 1
            + len(varint_bytes(len(exceptions)))
            + (len(values) * width + 7) // 8
            + sum(len(varint_bytes(i)) + len(_z(d)) for i, d in exceptions)
        )
        if best is None or size < best[3]:
            best = (base, width, exceptions, size)
    return best


@covers("RECORD-9")
@settings(SETTINGS, max_examples=150)
@given(
    _OUTLIERS | st.lists(_INTS, min_size=1, max_size=20) | st.lists(st.integers(-300, 300), min_size=129, max_size=140)
)
def test_patched_parameters_are_the_spec_choice(values: list[int]) -> None:
    """transforms.patch (pruned, bisections) picks what trying all 65 widths picks (RECORD-9), bound or not."""
    chosen = patch(values)
    expected = _patch_by_the_letter(values)
    if chosen is None:  # every width 0..64 leaves more than n // 8 exceptions (65-bit differences)
        assert expected is None
        return
    assert (chosen.base, chosen.width, chosen.exceptions, chosen.size) == expected
    assert patch(values, chosen.size) is None  # nothing strictly shorter
    assert patch(values, chosen.size + 1) == chosen
