"""The fast codec of protocol version 1 is the construct reference of version 1, only faster.

As tests/test_fast_codec.py does for version 0: every committed vector of
vectors/v1 through the fast codec (the vector checker's verdict, and the
reference's exact error: class, requirement ID and byte offset), then
hypothesis differential properties on built values (same bytes), valid
encodings, mutated encodings and arbitrary bytes (same value or same error),
for frames, batches v1 and reader declarations, under several limits.

Frames and batches decode with the writer schemas of the kit's registry,
as the vectors do, so batches in mode ``records`` are compared too
(tests/test_fast_records.py goes deeper into them, with schemas of every
Avro type).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sinkproto import construct_codec, fast_codec
from sinkproto.batchrules import body_offset, gzip_body, zstd_body
from sinkproto.codec import CONSTRUCT, FAST
from sinkproto.construct_codec.batch_format import records_possible
from sinkproto.errors import BaseUnavailable, EncodeError, UnknownType
from sinkproto.limits import Limits
from sinkproto.messages import (
    Ack,
    Batch,
    BatchCodec,
    BatchFormat,
    BatchLayout,
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    Close,
    CloseCode,
    ConnectionRequest,
    ConnectionResponse,
    DeclaredLimits,
    Event,
    FrameType,
    Nack,
    Ping,
    Pong,
    Publish,
    Response,
)
from sinkproto.readers import ReaderSchemas
from sinktest import ROOT, covers
from sinktools.vectors import check as vector_check
from sinktools.vectors.model import Case, load_dir, vector_record_schemas
from test_fast_codec import LIMITS, mutated, outcome
from test_properties import batches, events, frames

V1_UNITS = ("frame", "batch", "reader_schemas")

# Version 0's limits plus the bounds only version 1 has (LIMIT-8, LIMIT-9) and BRES-2's nack_count bound.
V1_LIMITS = (
    *LIMITS,
    Limits(max_declared_types=1, max_declared_versions=2),
    Limits(max_zstd_window=1024),
    Limits(max_batch_events=1),
    Limits(max_requirement_size=3, max_close_text=4),
)

# The reference at version 1: the Codec's one API with version=1.
construct_v1 = SimpleNamespace(
    encode_frame=partial(CONSTRUCT.encode_frame, version=1),
    decode_frame=partial(CONSTRUCT.decode_frame, version=1),
    encode_batch=partial(CONSTRUCT.encode_batch, version=1),
    decode_batch=partial(CONSTRUCT.decode_batch, version=1),
    encode_reader_schemas=construct_codec.encode_reader_schemas,
    decode_reader_schemas=construct_codec.decode_reader_schemas,
    records_possible=records_possible,
)
limits_strategy = st.sampled_from(V1_LIMITS)


SCHEMAS = vector_record_schemas()

# The fast codec's one API at version 1, a module-like value the helpers below take beside construct_v1.
fast_v1 = SimpleNamespace(
    decode_frame=partial(fast_codec.decode_frame, version=1),
    encode_frame=partial(fast_codec.encode_frame, version=1),
    decode_batch=partial(fast_codec.decode_batch, version=1),
    encode_batch=partial(fast_codec.encode_batch, version=1),
    decode_reader_schemas=fast_codec.decode_reader_schemas,
    encode_reader_schemas=fast_codec.encode_reader_schemas,
)


def decoder(codec: Any, unit: str) -> Callable[..., Any]:
    """The codec's decoder of ``unit``; frames and batches decode records mode with the registry's schemas."""
    decode = getattr(codec, f"decode_{unit}")
    return decode if unit == "reader_schemas" else partial(decode, schemas=SCHEMAS)


def assert_same_decode(unit: str, data: bytes, limits: Limits, bases: Any = None) -> tuple[Any, ...]:
    """Both codecs decode ``data``: same value, or same error class, requirement and offset (mode context: with
    ``bases``, the bases the decoder holds; a base it lacks is the same BaseUnavailable from both)."""
    extra = {} if bases is None else {"bases": bases}
    reference = _outcome(partial(decoder(construct_v1, unit), **extra), data, limits)
    fast = _outcome(partial(decoder(fast_v1, unit), **extra), data, limits)
    assert fast == reference, f"{unit} {data.hex()} under {limits}"
    if reference[0] == "value":  # and the value re-encodes to the same bytes with both
        encode = f"encode_{unit}"
        extra = {} if unit == "reader_schemas" else {"schemas": SCHEMAS}
        assert getattr(fast_v1, encode)(reference[1], **extra) == getattr(construct_v1, encode)(reference[1], **extra)
    return reference


def _outcome(decode: Callable[..., Any], data: bytes, limits: Limits) -> tuple[Any, ...]:
    try:
        return outcome(decode, data, limits)
    except BaseUnavailable as exc:  # CTX-5: not a DecodeError
        return ("unknown_base", exc.reason, exc.base_id, exc.digest, exc.offset)


def check_same_decode(unit: str, data: bytes, limits: Limits) -> None:
    assert_same_decode(unit, data, limits)


def same_encoding(encode: str, value: Any) -> None:
    """Same bytes, or both refuse with EncodeError."""
    results = []
    for codec in (fast_v1, construct_v1):
        try:
            results.append(getattr(codec, encode)(value))
        except EncodeError:
            results.append(EncodeError)
    assert results[0] == results[1]


# -- the committed vectors ------------------------------------------------------------------------

VECTOR_FILES = load_dir(ROOT / "vectors" / "v1")
VECTOR_CASES = [(vf.kind, case) for vf in VECTOR_FILES for case in vf.cases]


def _fast_decode_kind(
    kind: str, data: bytes, limits: Limits, version: int = 0, schemas: Any = None, bases: Any = None
) -> Any:
    return decoder(fast_v1, "batch" if kind == "batch" else "frame")(data, limits=limits, bases=bases)


def _fast_encode_kind(kind: str, value: Any, version: int = 0) -> bytes:
    return (
        fast_v1.encode_batch(value, schemas=SCHEMAS)
        if kind == "batch"
        else fast_v1.encode_frame(value, schemas=SCHEMAS)
    )


@covers(
    "ERR-2",
    "FRAME-7",
    "FRAME-8",
    "CONN-8",
    "CONN-9",
    "CONN-10",
    "CONN-11",
    "SNEG-1",
    "SNEG-2",
    "BPUB-1",
    "BRES-1",
    "BRES-2",
    "BATCH-12",
    "BATCH-13",
    "BATCH-14",
    "BATCH-15",
    "CODEC-1",
    "CODEC-2",
    "CODEC-3",
    "CODEC-5",
)
@pytest.mark.parametrize(("kind", "case"), VECTOR_CASES, ids=[case.id for _, case in VECTOR_CASES])
def test_every_v1_vector_through_the_fast_codec(kind: str, case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    unit = "batch" if kind == "batch" else "frame"
    # The vector checker's own verdict (value, error class, re-encoded bytes, decided_by), with the fast codec.
    monkeypatch.setattr(vector_check, "decode_kind", _fast_decode_kind)
    monkeypatch.setattr(vector_check, "encode_kind", _fast_encode_kind)
    result = vector_check.check_case(kind, case, None, 1)
    assert result.ok, result.problems
    # And the reference's exact error or value, under the case's limits and the flipped decided_by ones.
    assert_same_decode(unit, case.data, case.decode_limits(), case.base_lookup())
    if case.decided_by:
        assert_same_decode(unit, case.data, case.decode_limits(**{k: not v for k, v in case.decided_by.items()}))


# -- hypothesis strategies: version 1 values, built on version 0's ------------------------------------

u32 = st.integers(0, 2**32 - 1)
small = st.one_of(st.integers(0, 200), st.integers(0, 2**64 - 1))
reader_schemas = st.dictionaries(small, st.lists(small, min_size=1, max_size=4), min_size=1, max_size=4).map(
    ReaderSchemas.from_mapping
)
formats = st.builds(BatchFormat, codec=st.sampled_from(BatchCodec))
# DECL-1: each value absent, at a bound or anywhere between.
declared_limits = st.builds(
    DeclaredLimits,
    max_frame_size=st.none() | st.integers(512, 0xFFFF),
    max_decompressed_size=st.none() | st.integers(1024, 8 * 1024 * 1024),
    max_batch_events=st.none() | st.integers(1, 65536),
    max_in_flight=st.none() | st.integers(1, 4096),
    max_zstd_window=st.none() | st.integers(1024, 8 * 1024 * 1024),
    keepalive=st.none() | st.integers(10, 0xFFFF),
)
closes = st.builds(
    Close,
    error_class=st.sampled_from(CloseCode),
    requirement=st.sampled_from((b"", b"FRAME-7", b"HS-18")) | st.binary(max_size=40),
    last_message_id=st.none() | st.integers(0, 4095),
    retry_after=st.none() | st.integers(1, 86400),
    human_message=st.binary(max_size=20) | st.text(max_size=10).map(str.encode),
)


@st.composite
def batches_v1(draw: st.DrawFn, max_events: int = 12) -> Batch:
    """Version 0's batches in every layout, as batch v1: no format (version 0), a format, or neither (CODEC-5)."""
    batch: Batch = draw(batches())
    events_ = batch.events[:max_events]
    shape = draw(st.sampled_from(("version-0", "extended", "auto")))
    if shape == "auto":
        return Batch(events=events_)
    layout = batch.layout
    if shape == "version-0":
        return Batch(events=events_, layout=layout)
    if layout is not None and layout.compressed:
        layout = BatchLayout.from_byte(layout.to_byte() & 0x3F)  # BATCH-13: the codec says it
    return Batch(events=events_, layout=draw(st.none() | st.just(layout)), format=draw(formats))


result_entries = st.lists(
    st.tuples(small, st.binary(max_size=12), st.binary(max_size=12)), min_size=1, max_size=5, unique_by=lambda t: t[0]
).map(lambda rows: tuple(BatchResultEntry(index=i, machine_message=m, human_message=h) for i, m, h in sorted(rows)))

frames_v1 = st.one_of(
    frames,  # version 0's frames are version 1's too (FRAME-7), connection request version 0 included (VER-6)
    st.builds(
        ConnectionRequest,
        version=st.just(1),
        app_version=st.binary(max_size=20),
        client_instance_id=u32,
        server_instance_id=st.none() | u32,
        reader_schemas=st.none() | reader_schemas,
        declared_limits=st.none() | declared_limits,
    ),
    st.builds(
        ConnectionResponse,
        response=st.just(Response.CONNECTED),
        reader_schemas=st.none() | reader_schemas,
        declared_limits=st.none() | declared_limits,
    ),
    st.builds(
        ConnectionResponse,
        response=st.just(Response.HELLO_NEW_CLIENT),
        server_instance_id=u32,
        reader_schemas=st.none() | reader_schemas,
        declared_limits=st.none() | declared_limits,
    ),
    closes,
    st.builds(BatchPublish, message_id=st.integers(0, 4095), batch=batches_v1()),
    st.builds(BatchResult, message_id=st.integers(0, 4095), entries=result_entries),
)


def _encodings() -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of(
        frames_v1.map(lambda f: ("frame", construct_v1.encode_frame(f))),
        batches_v1().map(lambda b: ("batch", construct_v1.encode_batch(b))),
        reader_schemas.map(lambda r: ("reader_schemas", construct_v1.encode_reader_schemas(r))),
    )


# -- hypothesis: encoding ----------------------------------------------------------------------------


@covers("CONN-8", "CONN-11", "SNEG-1", "BPUB-1", "BRES-1", "FRAME-8", "CLOSE-1", "DECL-1")
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(frames_v1)
def test_v1_frames_encode_to_the_same_bytes(message: Any) -> None:
    same_encoding("encode_frame", message)


@covers("BATCH-12", "BATCH-15", "CODEC-1", "CODEC-2", "CODEC-5")
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(batches_v1())
def test_batches_v1_encode_to_the_same_bytes(batch: Batch) -> None:
    # Same zlib and zstd calls on both sides, so even compressed bodies are equal byte for byte.
    same_encoding("encode_batch", batch)


@covers("CODEC-5")
@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, min_size=1, max_size=10), st.integers(0, 40))
def test_the_smallest_encoding_is_the_same(evs: list[Event], repeats: int) -> None:
    # Repeated events make compression win: version 0, gzip and zstd each get to be the smallest.
    same_encoding("encode_batch", Batch(events=tuple(evs[:1] * repeats + evs)))


@given(reader_schemas)
def test_reader_declarations_encode_to_the_same_bytes(value: ReaderSchemas) -> None:
    assert fast_v1.encode_reader_schemas(value) == construct_v1.encode_reader_schemas(value)


@given(st.integers(0, 127), st.lists(events, min_size=1, max_size=6), st.none() | formats)
def test_layouts_that_do_not_fit_are_refused_by_both(header: int, evs: list[Event], fmt: BatchFormat | None) -> None:
    layout = BatchLayout.from_byte(header & 0x3F if fmt is not None else header)
    same_encoding("encode_batch", Batch(events=tuple(evs), layout=layout, format=fmt))


@covers("BPUB-5")
def test_encoders_refuse_the_same_things() -> None:
    big = tuple(
        Event(
            event_type_id=1,
            schema_version=1,
            key=b"k%d" % i,
            offset=i + 1,
            timestamp=i,
            event_data=bytes(range(256)) * 2,
        )
        for i in range(130)
    )
    too_big = BatchPublish(message_id=1, batch=Batch(events=big, format=BatchFormat(codec=BatchCodec.NONE)))
    one = (big[0],)
    refused: list[tuple[str, Any]] = [
        ("encode_frame", too_big),
        ("encode_frame", Batch(events=one)),  # not a frame
        ("encode_frame", ConnectionRequest(version=2, app_version=b"", client_instance_id=0)),
        ("encode_batch", Batch(events=())),
        ("encode_reader_schemas", {1: (1,)}),
    ]
    for encode, value in refused:
        for codec in (fast_v1, construct_v1):
            with pytest.raises(EncodeError):
                getattr(codec, encode)(value)


# -- hypothesis: decoding valid, mutated and arbitrary bytes ---------------------------------------------


@covers("ERR-2")
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_encodings(), limits_strategy)
def test_valid_v1_encodings_decode_the_same(unit_and_data: tuple[str, bytes], limits: Limits) -> None:
    check_same_decode(*unit_and_data, limits)


@covers(
    "ERR-2", "CONN-9", "CONN-13", "SNEG-2", "BRES-2", "BATCH-13", "BATCH-14", "LIMIT-8", "CLOSE-2", "DECL-2", "LIMIT-12"
)
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_encodings()), limits_strategy)
def test_mutated_v1_encodings_decode_the_same(unit_and_data: tuple[str, bytes], limits: Limits) -> None:
    check_same_decode(*unit_and_data, limits)


_COMPRESSORS: dict[int, Callable[[bytes], bytes]] = {
    BatchCodec.GZIP: gzip_body,
    BatchCodec.ZSTD: zstd_body,
}


@st.composite
def mutated_compressed_batches(draw: st.DrawFn) -> bytes:
    """An extended batch with codec none whose bytes were mutated, then compressed: the body's errors behind gzip and zstd."""
    plain = batches_v1().map(
        lambda b: Batch(events=b.events, layout=b.layout if b.format else None, format=BatchFormat())
    )
    _, data = draw(mutated(plain.map(lambda b: ("batch", construct_v1.encode_batch(b)))))
    assume(len(data) >= 2 and data[0] & 0xC0 == 0x80 and data[1] == 0)
    start = body_offset(data, 2)
    assume(start is not None)
    codec = draw(st.sampled_from(sorted(_COMPRESSORS)))
    return data[:1] + bytes((codec << 4,)) + data[2:start] + _COMPRESSORS[codec](data[start:])


@covers("CODEC-1", "CODEC-2", "CODEC-3", "LIMIT-9")
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(mutated_compressed_batches(), limits_strategy)
def test_mutated_bodies_behind_gzip_and_zstd_decode_the_same(data: bytes, limits: Limits) -> None:
    check_same_decode("batch", data, limits)


@given(st.sampled_from(V1_UNITS), st.binary(max_size=64), limits_strategy)
def test_arbitrary_bytes_decode_the_same(unit: str, data: bytes, limits: Limits) -> None:
    check_same_decode(unit, data, limits)


@covers("FRAME-7", "BATCH-12", "BATCH-14")
@given(st.sampled_from(V1_UNITS), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=40), limits_strategy)
def test_arbitrary_bytes_after_every_two_first_bytes_decode_the_same(
    unit: str, first: int, second: int, rest: bytes, limits: Limits
) -> None:
    # The first byte picks the frame type, version, response code or batch header; the second a format byte.
    check_same_decode(unit, bytes([first, second]) + rest, limits)


@given(st.binary(max_size=40))
def test_bytes_like_inputs_are_accepted_by_both(data: bytes) -> None:
    for unit in V1_UNITS:
        for wrap in (bytearray, memoryview):
            reference = outcome(decoder(construct_v1, unit), wrap(data), Limits())  # type: ignore[arg-type]
            assert outcome(decoder(fast_v1, unit), wrap(data), Limits()) == reference  # type: ignore[arg-type]


def test_non_bytes_inputs_are_type_errors_in_both() -> None:
    for unit in V1_UNITS:
        for codec in (fast_v1, construct_v1):
            with pytest.raises(TypeError):
                getattr(codec, f"decode_{unit}")("00", Limits())


def test_decoded_values_are_the_validated_dataclasses() -> None:
    # Decoded batches are assembled without re-validation; they must still be ordinary frozen instances.
    event = Event(event_type_id=1, schema_version=2, key=b"k", offset=3, timestamp=4, event_data=b"d")
    frame = BatchPublish(message_id=7, batch=Batch(events=(event, event), format=BatchFormat(codec=BatchCodec.ZSTD)))
    decoded = fast_v1.decode_frame(construct_v1.encode_frame(frame))
    assert decoded == construct_v1.decode_frame(construct_v1.encode_frame(frame)) and type(decoded) is BatchPublish
    assert hash(decoded) == hash(construct_v1.decode_frame(construct_v1.encode_frame(frame)))
    assert decoded.batch.events == (event, event) and decoded.batch.format == frame.batch.format
    with pytest.raises(AttributeError):
        decoded.batch.format = None  # type: ignore[misc]


# -- one API, the version as data ------------------------------------------------------------------------

_FRAME_CLASSES = {
    ConnectionRequest: FrameType.CONNECTION_REQUEST,
    ConnectionResponse: FrameType.CONNECTION_RESPONSE,
    BatchPublish: FrameType.BATCH_PUBLISH,
    Ack: FrameType.ACK,
    Publish: FrameType.PUBLISH,
    Ping: FrameType.PING,
    Pong: FrameType.PONG,
    Nack: FrameType.NACK,
    BatchResult: FrameType.BATCH_RESULT,
    Close: FrameType.CLOSE,
}


@covers("FRAME-1", "FRAME-3", "FRAME-7")
def test_the_tables_follow_frame_type_since() -> None:
    # Every type has entries from the version that assigned it, and each version's dispatch tuple follows.
    assert set(fast_codec.DECODERS) == set(FrameType)
    assert {cls: min(entries) for cls, entries in fast_codec.ENCODERS.items()} == {
        c: t.since for c, t in _FRAME_CLASSES.items()
    }
    for frame_type, entries in fast_codec.DECODERS.items():
        assert min(entries) == frame_type.since, frame_type
    for version in fast_codec.VERSIONS:
        table = fast_codec.decoders(version)
        assert len(table) == 16 and table is fast_codec.decoders(version)  # built once
        assert [nibble for nibble in range(16) if table[nibble] is not None] == [
            t for t in FrameType if t.since <= version
        ]
        assert set(fast_codec.encoders(version)) == {c for c, t in _FRAME_CLASSES.items() if t.since <= version}
    # The entry of the greatest version up to the connection's: version 1 reads both request layouts.
    assert fast_codec.decoders(1)[FrameType.ACK] is fast_codec.decoders(0)[FrameType.ACK]
    assert (
        fast_codec.decoders(1)[FrameType.CONNECTION_REQUEST] is not fast_codec.decoders(0)[FrameType.CONNECTION_REQUEST]
    )


def test_the_inlined_publish_is_the_table_entry() -> None:
    # decode_frame and encode_frame inline PUBLISH; the table's entry gives the same value and bytes in every version.
    frame = Publish(
        message_id=0x31A,
        event=Event(event_type_id=300, schema_version=1, key=b"k", offset=2**40, timestamp=5, event_data=b"x" * 200),
    )
    for version in fast_codec.VERSIONS:
        raw = fast_codec.encode_frame(frame, version=version)
        assert fast_codec.encoders(version)[Publish](frame, None) == raw
        assert fast_codec.decoders(version)[FrameType.PUBLISH](raw, Limits(), None) == frame
        assert fast_codec.decode_frame(raw, version=version) == frame


EVENT = Event(event_type_id=1, schema_version=2, key=b"k", offset=3, timestamp=4, event_data=b"d")


@pytest.mark.parametrize("version", [-1, 2, 15])
def test_an_unknown_version_is_a_value_error(version: int) -> None:
    frame = Ack(message_id=1)
    calls: list[Callable[[], object]] = [
        lambda: fast_codec.encode_frame(frame, version=version),
        lambda: fast_codec.decode_frame(b"\x30\x01", version=version),
        lambda: fast_codec.encode_batch(Batch(events=(EVENT,)), version=version),
        lambda: fast_codec.decode_batch(b"\x00\x01\x00\x00\x00\x00\x00\x00", version=version),
        lambda: fast_codec.decoders(version),
        lambda: fast_codec.encoders(version),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=f"protocol version {version} is not one this codec speaks"):
            call()


@covers("FRAME-3", "FRAME-7")
def test_a_type_of_a_later_version_is_unknown_or_refused() -> None:
    frame = BatchPublish(message_id=1, batch=Batch(events=(EVENT,)))
    raw = fast_codec.encode_frame(frame, version=1)
    with pytest.raises(EncodeError, match="BatchPublish is not a frame"):
        fast_codec.encode_frame(frame)
    with pytest.raises(UnknownType) as info:
        fast_codec.decode_frame(raw)
    assert (info.value.requirement, info.value.offset) == ("FRAME-3", 0) and "not defined in v0" in str(info.value)
    with pytest.raises(UnknownType) as info:
        fast_codec.decode_frame(b"\xa0\x00", version=1)
    assert (info.value.requirement, info.value.offset) == ("FRAME-7", 0) and "not defined in v1" in str(info.value)
    # CLOSE (type 9) is version 1's: on a version-0 connection it stays unknown_type, in both codecs (FRAME-3).
    close = Close(error_class=CloseCode.NO_ERROR)
    raw = fast_codec.encode_frame(close, version=1)
    assert raw == b"\x90\x00\x00\x00" and fast_codec.decode_frame(raw, version=1) == close
    for codec in (fast_codec, CONSTRUCT):
        with pytest.raises(UnknownType) as info:
            codec.decode_frame(raw)
        assert (info.value.requirement, info.value.offset) == ("FRAME-3", 0)
        with pytest.raises(EncodeError):
            codec.encode_frame(close)


@covers("ERR-8", "BPUB-5")
def test_the_encoded_frame_bound_applies_from_version_1() -> None:
    big = Publish(
        message_id=1,
        event=Event(event_type_id=1, schema_version=1, key=b"", offset=0, timestamp=0, event_data=bytes(0x10000)),
    )
    assert len(fast_codec.encode_frame(big)) > 0xFFFF  # version 0 bounds no encoded frame
    with pytest.raises(EncodeError, match="65,535-byte limit"):
        fast_codec.encode_frame(big, version=1)
    with pytest.raises(EncodeError, match="65,535-byte limit"):
        construct_v1.encode_frame(big)


# -- the switch ----------------------------------------------------------------------------------------


def test_each_codec_value_is_its_one_api() -> None:
    # A Codec's frame and batch fields are its module's one API: version= and schemas= (no per-version fields).
    for codec, module in ((FAST, fast_codec), (CONSTRUCT, construct_codec)):
        for name in ("encode_frame", "decode_frame", "encode_batch", "decode_batch"):
            assert getattr(codec, name) is getattr(module, name)
        assert not [field for field in vars(codec) if field.endswith("_v1")] and not hasattr(codec, "Deframer")
    event = Event(event_type_id=1, schema_version=2, key=b"k", offset=3, timestamp=4, event_data=b"d")
    frame = BatchPublish(message_id=7, batch=Batch(events=(event,), format=BatchFormat(codec=BatchCodec.GZIP)))
    raw = construct_codec.encode_frame(frame, version=1)
    assert FAST.encode_frame(frame, version=1, schemas=SCHEMAS) == CONSTRUCT.encode_frame(frame, version=1) == raw
    decoded = FAST.decode_frame(raw, limits=Limits(), version=1, schemas=SCHEMAS)
    assert decoded == CONSTRUCT.decode_frame(raw, version=1) and isinstance(decoded, BatchPublish)
    assert decoded.batch.events == frame.batch.events and decoded.batch.format == frame.batch.format
    assert FAST.encode_batch(frame.batch, version=1, schemas=SCHEMAS) == raw[2:]
    assert FAST.decode_batch(raw[2:], limits=Limits(), version=1, schemas=SCHEMAS) == decoded.batch
    for codec in (FAST, CONSTRUCT):
        with pytest.raises(EncodeError):
            codec.encode_frame(frame)  # a version-1 frame: version 0 (the default) refuses it
        with pytest.raises(UnknownType):
            codec.decode_frame(raw)
    frame = BatchResult(message_id=3, entries=(BatchResultEntry(index=0, machine_message=b"m", human_message=b"h"),))
    data = CONSTRUCT.encode_frame(frame, version=1)
    assert FAST.encode_frame(frame, version=1) == data and FAST.decode_frame(data, version=1) == frame
    batch = Batch(
        events=(Event(event_type_id=1, schema_version=1, key=b"k", offset=1, timestamp=2, event_data=b"d"),),
        format=BatchFormat(codec=BatchCodec.ZSTD),
    )
    data = CONSTRUCT.encode_batch(batch, version=1)
    assert data[0] & 0x80 and FAST.decode_batch(data, version=1) == CONSTRUCT.decode_batch(
        data, limits=Limits(), version=1
    )
