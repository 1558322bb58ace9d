"""Mode context of batch v1 (spec/v1/context.md) in both codecs: round trips, the encoder's choice, every error.

Both codecs are run on every case (the same events, bytes, error class,
requirement and offset); tests/test_context_diff.py draws the inputs with
hypothesis and mutates them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sinkproto.batchrules import gzip_body, zstd_body
from sinkproto.codec import CONSTRUCT, FAST, Codec
from sinkproto.errors import (
    BaseUnavailable,
    DecodeError,
    EncodeError,
    InconsistentBatch,
    LimitExceeded,
    UnknownFormat,
    ValueOutOfRange,
)
from sinkproto.limits import Limits
from sinkproto.messages import (
    Batch,
    BatchCodec,
    BatchContext,
    BatchFormat,
    BatchMode,
    BatchPublish,
    ConnectionRequest,
    ContextBase,
    DeclaredLimits,
    Event,
)
from sinkproto.primitives import varint_bytes, zigzag_encode
from sinkproto.records import RecordSchemas
from sinkproto.schemas import default_registry
from sinktest import covers
from sinktools.bench.series import load

CODECS: tuple[Codec, ...] = (FAST, CONSTRUCT)
TYPE_ID, VERSION = 99, 1
# offsets and timestamps per event; a (per-event) long, a union of null and long, an array of longs.
SCHEMA = {
    "type": "record",
    "name": "R",
    "fields": [
        {"name": "n", "type": "long"},
        {"name": "u", "type": ["null", "long"]},
        {"name": "a", "type": {"type": "array", "items": "long"}},
    ],
}
SCHEMAS = RecordSchemas({(TYPE_ID, VERSION): SCHEMA})
_COMPRESS: dict[BatchCodec, Callable[[bytes], bytes]] = {
    BatchCodec.NONE: bytes,
    BatchCodec.GZIP: gzip_body,
    BatchCodec.ZSTD: zstd_body,
}


def _long(value: int) -> bytes:
    return varint_bytes(zigzag_encode(value), wide=True)


def record(n: int, u: int | None = None, a: tuple[int, ...] = ()) -> bytes:
    data = _long(n) + (b"\x00" if u is None else b"\x02" + _long(u))
    if a:
        data += _long(len(a)) + b"".join(map(_long, a))
    return data + b"\x00"


def event(key: bytes, offset: int, n: int, *, timestamp: int = 1_700_000_000, **kw: Any) -> Event:
    return Event(
        event_type_id=TYPE_ID,
        schema_version=VERSION,
        key=key,
        offset=offset,
        timestamp=timestamp,
        event_data=record(n, **kw),
    )


BASE_EVENTS = tuple(event(b"m%02d" % i, 1000 + i, 50_000 + 7 * i, u=i, a=(i,)) for i in range(20))
BASE = ContextBase(batch_id=7, events=BASE_EVENTS)
# The next poll: the same meters shuffled, each one on, a new meter, and one meter twice.
NEXT_EVENTS = tuple(
    event(b"m%02d" % i, 1001 + i, 50_003 + 7 * i, timestamp=1_700_000_900, u=None if i % 3 else i, a=(i, 1))
    for i in (*range(10, 20), *range(10))
) + (event(b"new", 1, 3), event(b"m04", 1100, 50_100))


def _raw(event_data: bytes, *, version: int = VERSION) -> Event:
    return Event(event_type_id=TYPE_ID, schema_version=version, key=b"k", offset=1, timestamp=1, event_data=event_data)


def outcome(decode: Callable[[], Any]) -> Any:
    try:
        batch = decode()
    except BaseUnavailable as exc:
        return BaseUnavailable, exc.reason, exc.base_id, exc.digest, exc.offset
    except DecodeError as exc:
        return type(exc), exc.requirement, exc.offset
    return batch.events, batch.format, batch.context


def decoded(data: bytes, bases: dict[int, ContextBase] | None, schemas: RecordSchemas = SCHEMAS) -> Any:
    """What every codec's decode_batch gives for ``data`` (they must agree), as :func:`outcome`."""
    outcomes = [
        outcome(lambda c=c: c.decode_batch(data, version=1, schemas=schemas, bases=bases))  # type: ignore[misc]
        for c in CODECS
    ]
    assert all(o == outcomes[0] for o in outcomes[1:]), outcomes
    return outcomes[0]


def encoded(batch: Batch, schemas: RecordSchemas = SCHEMAS) -> bytes:
    """Every codec's encoding of ``batch`` (they must be the same bytes)."""
    outs = [c.encode_batch(batch, version=1, schemas=schemas) for c in CODECS]
    assert all(o == outs[0] for o in outs[1:])
    return outs[0]


def context_batch(body: bytes, codec: BatchCodec = BatchCodec.NONE) -> bytes:
    """A batch in mode context of SCHEMAS' type around ``body`` (from batch_id on)."""
    return bytes((0xB0, codec << 4 | BatchMode.CONTEXT, TYPE_ID, VERSION)) + _COMPRESS[codec](body)


# -- round trips ------------------------------------------------------------------------------------------


@covers("CTX-2", "CTX-6", "CTX-7", "CTX-13")
@pytest.mark.parametrize("codec", [None, *BatchCodec])
def test_a_batch_round_trips_with_and_without_a_base(codec: BatchCodec | None) -> None:
    fmt = None if codec is None else BatchFormat(codec=codec, mode=BatchMode.CONTEXT)
    first = Batch(events=BASE_EVENTS, format=fmt, context=BatchContext(batch_id=7))
    events, got_format, context = decoded(encoded(first), {})
    assert events == BASE_EVENTS and context == BatchContext(batch_id=7)
    assert got_format.mode is BatchMode.CONTEXT and (codec is None or got_format.codec is codec)
    second = Batch(events=NEXT_EVENTS, format=fmt, context=BatchContext(batch_id=8, base=BASE))
    data = encoded(second)
    events, got_format, context = decoded(data, {7: BASE, 9: ContextBase(batch_id=9, events=NEXT_EVENTS)})
    assert events == NEXT_EVENTS and context == BatchContext(batch_id=8, base=BASE)
    assert len(data) < len(encoded(Batch(events=NEXT_EVENTS)))


@covers("CTX-2", "CTX-13")
def test_the_meter_series_poll_2_against_poll_1() -> None:
    polls = load().polls
    schemas = RecordSchemas.from_registry(default_registry())
    base = ContextBase(batch_id=1, events=polls[0].events)
    batch = Batch(events=polls[1].events, context=BatchContext(batch_id=2, base=base))
    data = encoded(batch, schemas)
    events, _fmt, context = decoded(data, {1: base}, schemas)
    assert events == polls[1].events and context.base is base
    stateless = encoded(Batch(events=polls[1].events), schemas)
    assert len(data) < len(stateless)


@covers("CTX-6", "CTX-13")
def test_base_rows_name_the_first_base_row_of_each_key_and_new_keys_come_in_order() -> None:
    twice = ContextBase(batch_id=3, events=(event(b"a", 1, 1), event(b"a", 2, 2), event(b"b", 3, 3)))
    events = (event(b"b", 4, 4), event(b"c", 5, 5), event(b"a", 6, 6), event(b"d", 7, 7))
    data = encoded(Batch(events=events, format=_CONTEXT_NONE, context=BatchContext(batch_id=4, base=twice)))
    # batch_id 4, base_id 3, digest, count 4, then base_rows 2 -1 0 -1 (bitpacked: base -1, width 2, 3 0 1 0).
    body = data[4:]
    assert body[:2] == b"\x04\x03" and body[2:10] == twice.digest and body[10] == 4
    assert body[11:16] == b"\x04\x07\x01\x02\x13"
    assert body[16:22] == b"\x05\x00\x01c\x01d"  # keys: only the two new ones, plain
    assert decoded(data, {3: twice})[0] == events


_CONTEXT_NONE = BatchFormat(codec=BatchCodec.NONE, mode=BatchMode.CONTEXT)


@covers("CTX-7", "CTX-13")
def test_each_column_is_the_shorter_of_plain_and_against_base_plain_on_a_tie() -> None:
    base = ContextBase(batch_id=1, events=tuple(event(b"k%d" % i, 500 + 3 * i * i, 10 * i) for i in range(8)))
    # offsets one more than in the base: against_base (constant 1) beats every plain transform.
    moved = tuple(event(e.key, e.offset + 1, 10 * i) for i, e in enumerate(base.events))
    body = encoded(Batch(events=moved, format=_CONTEXT_NONE, context=BatchContext(batch_id=2, base=base)))[4:]
    columns = _columns(body[11:])
    assert columns[2][0] == 0x80 | 2  # offsets: against_base, constant
    assert columns[4] == b"\x82\x00"  # n: as in the base, against_base constant 0 beats plain delta_bitpacked
    # one event, a base value 0 and a value 5: plain [5] and the difference [5] take as many bytes: plain.
    one_base = ContextBase(batch_id=1, events=(event(b"k", 0, 0),))
    body = encoded(
        Batch(events=(event(b"k", 5, 0),), format=_CONTEXT_NONE, context=BatchContext(batch_id=2, base=one_base))
    )[4:]
    assert _columns(body[11:])[2] == b"\x00\x0a"


def _columns(data: bytes) -> list[bytes]:
    """The column chunks (without their lengths) from ``data`` on: base_rows, keys, offsets, timestamps, schema."""
    out = []
    pos = 0
    while pos < len(data):
        length = data[pos]
        assert length < 0x80
        out.append(data[pos + 1 : pos + 1 + length])
        pos += 1 + length
    return out


@covers("CTX-2")
def test_a_batch_publish_carries_a_context_batch() -> None:
    batch = Batch(events=NEXT_EVENTS, format=_CONTEXT_NONE, context=BatchContext(batch_id=8, base=BASE))
    frame = BatchPublish(message_id=5, batch=batch)
    outs = [c.encode_frame(frame, version=1, schemas=SCHEMAS) for c in CODECS]
    assert all(o == outs[0] for o in outs[1:])
    for c in CODECS:
        got = c.decode_frame(outs[0], version=1, schemas=SCHEMAS, bases={7: BASE})
        assert isinstance(got, BatchPublish) and got.batch.events == NEXT_EVENTS
        assert got.batch.context == BatchContext(batch_id=8, base=BASE)
        with pytest.raises(BaseUnavailable) as info:
            c.decode_frame(outs[0], version=1, schemas=SCHEMAS, bases={})
        assert info.value.offset == 5  # base_id, after batch_id; the batch starts after the 2-byte frame header


@covers("CTX-10", "RECORD-2")
@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_what_context_cannot_carry_is_an_encode_error(codec: Codec) -> None:
    other = ContextBase(batch_id=2, events=(_raw(b"", version=2),))
    for batch, schemas in (
        (Batch(events=NEXT_EVENTS, context=BatchContext(batch_id=1, base=other)), SCHEMAS),  # another version
        (Batch(events=NEXT_EVENTS, context=BatchContext(batch_id=1)), None),  # no writer schema
        (Batch(events=(_raw(b"\xff"),), context=BatchContext(batch_id=1)), SCHEMAS),  # not canonical Avro
    ):
        with pytest.raises(EncodeError):
            codec.encode_batch(batch, version=1, schemas=schemas)


# -- the errors of a batch in mode context ---------------------------------------------------------------------------


@covers("CTX-1")
def test_a_side_that_takes_no_context_refuses_mode_context_at_the_format_byte() -> None:
    data = encoded(Batch(events=BASE_EVENTS, context=BatchContext(batch_id=7)))
    assert decoded(data, None) == (UnknownFormat, "CTX-1", 1)


@covers("CTX-5")
@pytest.mark.parametrize("codec", list(BatchCodec))
def test_a_base_not_held_is_base_unavailable_right_after_its_digest(codec: BatchCodec) -> None:
    # batch_id 300 (2 bytes), base_id 7, the digest, then garbage where count should be: never read.
    head = b"\xac\x02\x07" + BASE.digest
    assert decoded(context_batch(head + b"\xff\xff", codec), {}) == (
        BaseUnavailable,
        "unknown",
        7,
        BASE.digest,
        2 + 4 * (codec is BatchCodec.NONE),
    )
    other = ContextBase(batch_id=7, events=BASE_EVENTS[:3])
    assert decoded(context_batch(head, codec), {7: other})[1] == "stale"
    alien = ContextBase(batch_id=7, events=(_raw(b"", version=2),))
    # The same digest under another type or version is stale too (CTX-5).
    assert decoded(context_batch(b"\x01\x07" + alien.digest, codec), {7: alien})[1] == "stale"


@covers("CTX-3")
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", (InconsistentBatch, "CTX-3", 4)),
        (b"\x00\x00\x01", (ValueOutOfRange, "CTX-3", 4)),  # batch_id 0
        (b"\x80\x80\x80\x80\x10\x00\x01", (ValueOutOfRange, "CTX-3", 4)),  # batch_id 2^32
        (b"\x01\x80\x80\x80\x80\x10", (ValueOutOfRange, "CTX-3", 5)),  # base_id 2^32
        (b"\x01", (InconsistentBatch, "CTX-3", 5)),
        (b"\x01\x80", (InconsistentBatch, "CTX-3", 5)),
        (b"\x01\x07\x00\x01", (InconsistentBatch, "CTX-3", 6)),  # a digest of 2 bytes
    ],
)
def test_batch_id_base_id_and_digest_are_checked(body: bytes, error: tuple[Any, ...]) -> None:
    assert decoded(context_batch(body), {7: BASE}) == error


def _body(events: tuple[Event, ...], base: ContextBase | None) -> bytes:
    return encoded(Batch(events=events, format=_CONTEXT_NONE, context=BatchContext(batch_id=1, base=base)))[4:]


@covers("CTX-6")
def test_a_base_row_outside_the_base_is_value_out_of_range() -> None:
    base = ContextBase(batch_id=2, events=(event(b"a", 1, 1), event(b"b", 2, 2)))
    body = _body((event(b"b", 3, 3),), base)
    at = 11  # batch_id, base_id, digest, count: base_rows starts here
    assert body[at : at + 3] == b"\x02\x00\x02"  # base_rows [1], plain
    for row in (2, -2):
        mutated = body[:at] + b"\x02\x00" + _long(row) + body[at + 3 :]
        assert decoded(context_batch(mutated), {2: base}) == (ValueOutOfRange, "CTX-6", 4 + at)


@covers("CTX-7")
def test_against_base_only_where_ctx_7_allows_it() -> None:
    base = ContextBase(batch_id=2, events=(event(b"a", 1, 1, u=1, a=(1,)),))
    events = (event(b"a", 2, 2, u=2, a=(2,)),)
    body = _body(events, base)
    columns = _columns(body[11:])
    starts = []
    pos = 11
    for column in columns:
        starts.append(pos)
        pos += 1 + len(column)
    # base_rows, keys, offsets, timestamps, n, u#branch, u#1, a#count, a[]
    assert len(columns) == 9
    for index, allowed in enumerate((False, False, True, True, True, True, False, True, False)):
        at = starts[index] + 1
        flipped = body[:at] + bytes((body[at] ^ 0x80,)) + body[at + 1 :]
        got = decoded(context_batch(flipped), {2: base})
        if allowed:
            assert got[0] != UnknownFormat or got[1] != "CTX-7"
        else:
            assert got == (UnknownFormat, "CTX-7", 4 + starts[index])
    # Without a base, bit 7 is refused on every column, offsets included.
    body = _body(events, None)
    at = 3 + len(_columns(body[3:])[0]) + 1 + 1  # the offsets column's transform byte
    flipped = body[:at] + bytes((body[at] | 0x80,)) + body[at + 1 :]
    assert decoded(context_batch(flipped), {}) == (UnknownFormat, "CTX-7", 4 + at - 1)


@covers("CTX-7")
def test_ranges_are_checked_on_the_values_not_the_differences() -> None:
    base = ContextBase(batch_id=2, events=(event(b"a", 100_000, 1),))
    body = _body((event(b"a", 100_002, 1),), base)
    columns = _columns(body[11:])
    at = 11 + sum(1 + len(c) for c in columns[:2])
    assert columns[2] == b"\x80\x04"  # offsets against the base: plain [2]

    def with_difference(difference: int) -> bytes:
        chunk = b"\x80" + _long(difference)
        return context_batch(body[:at] + bytes((len(chunk),)) + chunk + body[at + 3 :])

    # A difference of -100,001 makes -1: outside 0..2^64-1; the difference itself is no error.
    assert decoded(with_difference(-100_001), {2: base}) == (ValueOutOfRange, "RECORD-5", 4 + at)
    assert decoded(with_difference(-100_000), {2: base})[0][0].offset == 0


# -- the declared limits of context (DECL-1 bits 6 and 7) -------------------------------------------------------


@covers("DECL-1", "DECL-2", "CTX-1")
@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_context_bases_and_lifetime_are_declared_limits(codec: Codec) -> None:
    declared = DeclaredLimits(context_bases=16, context_lifetime=3600, keepalive=30)
    request = ConnectionRequest(app_version=b"a", client_instance_id=1, version=1, declared_limits=declared)
    data = codec.encode_frame(request, version=1)
    assert data.endswith(b"\xe0\x1e\x10\x90\x1c")  # limit_flags bits 5, 6, 7, then 30, 16, 3600
    got = codec.decode_frame(data, version=1)
    assert isinstance(got, ConnectionRequest) and got.declared_limits == declared
    assert DeclaredLimits().value("context_bases") == 0 and DeclaredLimits().value("context_lifetime") == 86400
    for tail, at in ((b"\x40\x41", 1), (b"\x80\x3b", 1), (b"\xc0\x00\x3c", None)):
        raw = data[: -len(b"\xe0\x1e\x10\x90\x1c")] + tail
        if at is None:
            got = codec.decode_frame(raw, version=1)
            assert isinstance(got, ConnectionRequest)
            assert got.declared_limits == DeclaredLimits(context_bases=0, context_lifetime=60)
        else:
            with pytest.raises(ValueOutOfRange) as info:
                codec.decode_frame(raw, version=1)
            assert info.value.requirement == "DECL-2" and info.value.offset == len(raw) - len(tail) + at


@covers("CTX-6", "LIMIT-5")
def test_keys_taken_from_the_base_are_checked_against_max_key_size() -> None:
    base = ContextBase(batch_id=2, events=(event(b"long-key", 1, 1), event(b"k", 2, 2)))
    body = _body((event(b"long-key", 3, 3), event(b"n", 4, 4)), base)
    keys_at = 4 + 11 + 1 + len(_columns(body[11:])[0])  # after base_rows
    for codec in CODECS:
        with pytest.raises(LimitExceeded) as info:
            codec.decode_batch(
                context_batch(body), version=1, schemas=SCHEMAS, bases={2: base}, limits=Limits(max_key_size=4)
            )
        assert info.value.offset == keys_at and info.value.requirement == "LIMIT-5"
