"""Records mode of batch v1 (spec/v1/batch.md, Records mode): flattening, transposition, transforms, the encoder's choice."""

from __future__ import annotations

import io

import fastavro
import pytest
from sinkproto import construct_codec
from sinkproto.construct_codec.records import KEY_COLUMN, build_column
from sinkproto.errors import EncodeError, LimitExceeded, SchemaError
from sinkproto.limits import Limits
from sinkproto.messages import Batch, BatchCodec, BatchFormat, BatchMode, Event
from sinkproto.records import ColumnType, RecordSchemas, flatten, transpose
from sinkproto.schemas import default_registry
from sinkproto.transforms import Transform, int_candidates, numbered_split, pack_bits, unpack_bits
from sinktest import covers

REGISTRY_SCHEMAS = RecordSchemas.from_registry(default_registry())

EVERYTHING = {
    "type": "record",
    "name": "Everything",
    "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "ratio", "type": "float"},
        {"name": "exact", "type": "double"},
        {"name": "mac", "type": {"type": "fixed", "name": "Mac", "size": 6}},
        {"name": "tags", "type": {"type": "map", "values": "long"}},
        {
            "name": "readings",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "R",
                    "fields": [{"name": "at", "type": "long"}, {"name": "note", "type": ["null", "string", "bytes"]}],
                },
            },
        },
        {"name": "again", "type": ["null", "Mac"]},
    ],
}


def avro(schema: object, record: dict[str, object]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema, named_schemas={}), record)
    return out.getvalue()


def everything(i: int) -> dict[str, object]:
    return {
        "flag": i % 2 == 0,
        "small": -i,
        "ratio": i / 4,
        "exact": i * 1.5,
        "mac": bytes([i] * 6),
        "tags": {f"t{j}": j * i for j in range(i % 3)},
        "readings": [{"at": 1_700_000_000 + j, "note": [None, "x" * j, b"\x00" * j][j % 3]} for j in range(i % 4)],
        "again": None if i % 2 else bytes([i + 1] * 6),
    }


@covers("RECORD-4")
def test_flattening_is_depth_first_with_reach() -> None:
    plan = flatten(EVERYTHING)
    paths = [c.path for c in plan.columns]
    assert paths == [
        "flag",
        "small",
        "ratio",
        "exact",
        "mac",
        "tags#count",
        "tags#key",
        "tags{}",
        "readings#count",
        "readings[].at",
        "readings[].note#branch",
        "readings[].note#1",
        "readings[].note#2",
        "again#branch",
        "again#1",
    ]
    by = {c.path: c for c in plan.columns}
    assert by["flag"].type is ColumnType.INT and (by["flag"].low, by["flag"].high) == (0, 1)
    assert by["ratio"].size == 4 and by["exact"].size == 8 and by["mac"].size == 6 and by["again#1"].size == 6
    assert by["tags{}"].reach == (paths.index("tags#count"), None)
    assert by["readings[].note#2"].reach == (paths.index("readings[].note#branch"), 2)
    meter = REGISTRY_SCHEMAS.plan(1, 2)
    assert meter is not None and len(meter.columns) == 11


@covers("RECORD-4")
def test_a_recursive_schema_is_not_flattened() -> None:
    linked = {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}
    with pytest.raises(SchemaError) as info:
        flatten(linked)
    assert info.value.reason == "not_flattenable"
    assert RecordSchemas({(5, 1): linked}).plan(5, 1) is None


@covers("RECORD-2", "RECORD-3", "RECORD-5")
@pytest.mark.parametrize("codec", list(BatchCodec))
def test_every_avro_type_round_trips(codec: BatchCodec) -> None:
    schemas = RecordSchemas({(42, 1): EVERYTHING})
    events = tuple(
        Event(
            event_type_id=42,
            schema_version=1,
            key=b"dev-%03d" % i,
            offset=i,
            timestamp=1_700_000_000 + i,
            event_data=avro(EVERYTHING, everything(i)),
        )
        for i in range(12)
    )
    batch = Batch(events=events, format=BatchFormat(codec=codec, mode=BatchMode.RECORDS))
    data = construct_codec.encode_batch(batch, version=1, schemas=schemas)
    assert construct_codec.decode_batch(data, version=1, schemas=schemas).events == events
    # without the writer schema the batch cannot be decoded: unknown_format (RECORD-2)
    with pytest.raises(Exception) as info:
        construct_codec.decode_batch(data, version=1)
    assert getattr(info.value, "error_class", None) == "unknown_format" and info.value.requirement == "RECORD-2"  # type: ignore[attr-defined]


@covers("RECORD-2")
def test_non_canonical_avro_stays_in_columns_mode() -> None:
    schema = {"type": "record", "name": "A", "fields": [{"name": "xs", "type": {"type": "array", "items": "int"}}]}
    plan = flatten(schema)
    canonical = b"\x04\x02\x04\x00"  # one block of two items
    two_blocks = b"\x02\x02\x02\x04\x00"  # the same array in two blocks
    sized_block = b"\x03\x04\x02\x04\x00"  # a negative count with a byte size
    overlong = b"\x04\x82\x00\x04\x00"  # item 1 as a two-byte varint
    assert transpose(plan, [canonical]) == [[2], [1, 2]]
    for data in (two_blocks, sized_block, overlong, canonical + b"\x00", canonical[:-1]):
        assert transpose(plan, [data]) is None
    schemas = RecordSchemas({(3, 1): schema})
    events = (Event(event_type_id=3, schema_version=1, key=b"k", offset=1, timestamp=1, event_data=two_blocks),)
    data = construct_codec.encode_batch(Batch(events=events), version=1, schemas=schemas)
    chosen = construct_codec.decode_batch(data, version=1, schemas=schemas).format  # type: ignore[union-attr]
    assert chosen is None or chosen.mode is BatchMode.COLUMNS
    with pytest.raises(EncodeError):
        construct_codec.encode_batch(
            Batch(events=events, format=BatchFormat(mode=BatchMode.RECORDS)), version=1, schemas=schemas
        )


@covers("RECORD-9")
def test_the_encoder_picks_the_shortest_transform() -> None:
    def transform_of(column_bytes: bytes) -> int:
        return column_bytes[1]

    from sinkproto.construct_codec.records import _OFFSETS

    serials = [b"SM5R-%06d" % n for n in (123, 4711, 124, 999_999)]
    assert numbered_split(serials) == (b"SM5R-", 6)
    assert transform_of(build_column(KEY_COLUMN, serials, None)) == Transform.NUMBERED
    assert transform_of(build_column(_OFFSETS, [5, 5, 5], None)) == Transform.CONSTANT
    assert transform_of(build_column(_OFFSETS, list(range(1000, 1100)), None)) == Transform.DELTA_BITPACKED
    assert transform_of(build_column(_OFFSETS, [7, 3, 7, 3, 7, 3, 7, 3], None)) == Transform.BITPACKED
    assert transform_of(build_column(KEY_COLUMN, [b"north", b"south"] * 10, None)) == Transform.DICTIONARY
    assert (
        transform_of(build_column(KEY_COLUMN, [b"a/very/long/path/%d" % i for i in range(3)], None))
        == Transform.NUMBERED
    )
    assert (
        transform_of(build_column(KEY_COLUMN, [b"a/very/long/path/x", b"a/very/long/path/yy"], None))
        == Transform.PREFIX
    )
    # ties go to the lowest number: one value, plain and constant are both 1 byte
    assert transform_of(build_column(_OFFSETS, [1], None)) == Transform.PLAIN


@covers("RECORD-9")
def test_the_canonical_parameters_of_the_edge_cases() -> None:
    # delta_bitpacked of one value: no difference, so base and width are both 0.
    assert dict(int_candidates([-5]))[Transform.DELTA_BITPACKED] == {"first": -5, "base": 0, "width": 0, "packed": b""}
    # numbered: the fewest trailing digits among the values, at most 18, and one prefix before them.
    assert numbered_split([b"x00123", b"y1234"]) is None  # two lengths
    assert numbered_split([b"A-0123", b"B-0456"]) is None  # two prefixes at 4 digits
    assert numbered_split([b"ab12", b"a123"]) is None  # 2 digits (the fewer) leave the prefixes ab and a1
    assert numbered_split([b"a012", b"a123"]) == (b"a", 3)
    assert numbered_split([b"1" + b"0" * 19, b"2" + b"0" * 19]) is None  # 18 digits leave 1 and 2 as prefixes
    assert numbered_split([b"10" + b"0" * 18, b"10" + b"1" * 18]) == (b"10", 18)
    assert numbered_split([]) is None


@covers("RECORD-8")
def test_bit_packing_round_trips_and_refuses_padding() -> None:
    values = [0, 1, 2, 3, 4, 5, 6, 7, 1]
    packed = pack_bits(values, 3)
    assert len(packed) == 4 and unpack_bits(packed, 3, len(values)) == values
    assert pack_bits([0, 0], 0) == b"" and unpack_bits(b"", 0, 2) == [0, 0]
    with pytest.raises(Exception) as info:
        unpack_bits(packed[:-1] + bytes([packed[-1] | 0x80]), 3, len(values))
    assert info.value.requirement == "RECORD-8"  # type: ignore[attr-defined]


@covers("RECORD-6")
def test_rebuilt_size_is_bounded_by_the_decompressed_size_limit() -> None:
    meters = tuple(e for e in __import__("sinktools.bench.profiles", fromlist=["load"]).load()["meter"].events)
    data = construct_codec.encode_batch(
        Batch(events=meters, format=BatchFormat(mode=BatchMode.RECORDS)), version=1, schemas=REGISTRY_SCHEMAS
    )
    total = sum(len(e.key) + len(e.event_data) for e in meters)
    assert len(data) < total  # the rebuilt events are larger than the batch ...
    assert (
        construct_codec.decode_batch(
            data, limits=Limits(max_decompressed_size=total), version=1, schemas=REGISTRY_SCHEMAS
        ).events
        == meters
    )
    with pytest.raises(LimitExceeded) as info:  # ... and are counted against max_decompressed_size
        construct_codec.decode_batch(
            data, limits=Limits(max_decompressed_size=total - 1), version=1, schemas=REGISTRY_SCHEMAS
        )
    assert info.value.requirement == "RECORD-6"
