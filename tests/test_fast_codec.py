"""The fast codec is the construct reference codec, only faster.

Differential tests: every golden vector and field case through both codecs;
hypothesis properties for encoding and decoding every message kind and
batches in every layout, on valid bytes, mutated encodings and arbitrary
bytes, under several limits. "Equal" means the same value (a batch's layout
included), or the same error: class, requirement ID and byte offset. Both
codecs share one deframer (tests/test_stream.py checks it against a model).
Then the switch: the default codec is the fast one everywhere, and the
reference can be selected.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import sinkproto
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sinkproto import (
    Batch,
    BatchLayout,
    DecodeError,
    Event,
    Limits,
    NackPayload,
    Publish,
    construct_codec,
    fast_codec,
)
from sinkproto import stream as reference_stream
from sinkproto.batchrules import body_offset, gunzip_body
from sinkproto.codec import CONSTRUCT, DEFAULT, FAST, codec_from_env, get_codec
from sinkproto.connection import Connection, Role
from sinkproto.errors import EncodeError, ValueOutOfRange
from sinkproto.events import ProtocolError
from sinktest import VECTORS, covers, load_field_cases
from sinktools.vectors.model import FRAME_KIND_FILES, _gzip_start, load_dir
from test_properties import batches, events, frames
from test_stream import ModelDeframer, deframe

UNITS = ("frame", "event", "nack_payload", "batch")

# Limits under which decoding takes other paths: each bound tight enough to
# be hit by small inputs, one at a time, plus strict UTF-8.
LIMITS = (
    Limits(),
    Limits(max_varint_bytes=1),
    Limits(max_varint_bytes=3),
    Limits(strict_utf8=True),
    Limits(max_key_size=3, max_event_data_size=4),
    Limits(max_batch_events=2),
    Limits(max_decompressed_size=20),
    Limits(max_frame_size=12),
)
limits_strategy = st.sampled_from(LIMITS)


def outcome(decode: Callable[..., Any], data: bytes, limits: Limits) -> tuple[Any, ...]:
    """What a decoder makes of ``data``: its value, or its error's class, requirement and offset."""
    try:
        return ("value", decode(data, limits=limits))
    except DecodeError as exc:
        return ("error", type(exc), exc.requirement, exc.offset)


def assert_same_decode(unit: str, data: bytes, limits: Limits) -> tuple[Any, ...]:
    reference = outcome(getattr(construct_codec, f"decode_{unit}"), data, limits)
    fast = outcome(getattr(fast_codec, f"decode_{unit}"), data, limits)
    assert fast == reference, f"{unit} {data.hex()} under {limits}"
    return reference


def normalized_batch(data: bytes) -> bytes:
    """A batch with its gzip body inflated (BATCH-10: compare compressed batches after decompression)."""
    if data[0] & 0x40:
        start = _gzip_start(data)
        return data[:start] + gunzip_body(data[start:], limit=1 << 30, offset=start)
    return data


# -- golden vectors and field cases ------------------------------------------------------------

VECTOR_CASES = [(vf.kind, case) for vf in load_dir(VECTORS) for case in vf.cases]


def _encoder(kind: str, codec: Any) -> Callable[[Any], bytes]:
    if kind in FRAME_KIND_FILES:
        return codec.encode_frame  # type: ignore[no-any-return]
    return getattr(codec, f"encode_{kind}")  # type: ignore[no-any-return]


@covers("ERR-2", "CONV-2", "BATCH-7", "BATCH-10")
@pytest.mark.parametrize("kind,case", VECTOR_CASES, ids=[case.id for _, case in VECTOR_CASES])
def test_every_vector_decodes_and_encodes_the_same(kind: str, case: Any) -> None:
    limits = case.decode_limits()
    if kind == "stream":
        data = case.data
        cuts = [[data], [data[i : i + 1] for i in range(len(data))]]
        for pieces in cuts:
            assert deframe(reference_stream.Deframer, pieces, limits) == deframe(ModelDeframer, pieces, limits)
        return
    unit = "frame" if kind in FRAME_KIND_FILES else kind
    reference = assert_same_decode(unit, case.data, limits)
    assert (reference[0] == "value") == (case.result != "invalid")
    if reference[0] != "value":
        return
    value = reference[1]
    mine, theirs = _encoder(kind, fast_codec)(value), _encoder(kind, construct_codec)(value)
    if kind == "batch":
        assert normalized_batch(mine) == normalized_batch(theirs)
        canonical = Batch(events=value.events)  # no layout: the canonical encoder
        assert normalized_batch(fast_codec.encode_batch(canonical)) == normalized_batch(
            construct_codec.encode_batch(canonical)
        )
    else:
        assert mine == theirs
    if case.canonical:
        assert (normalized_batch(mine) if kind == "batch" else mine) == (
            normalized_batch(case.data) if kind == "batch" else case.data
        )


@covers("BATCH-9", "ERR-2")
@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize(
    "after",
    [b"\x0c" + b"\xff" * 10 + b"\x01\x00", b"\x05" + bytes(5), b"\x04" + bytes(4)],
    ids=["overlong-timestamps", "too-many-timestamps", "valid-timestamps"],
)
def test_a_delta_out_of_range_is_met_at_its_entry(index: int, after: bytes) -> None:
    # offsets from header 5: entry `index` is -7, the others 0; the value leaves the range at that entry, before
    # anything after it (ERR-2), and both codecs report it at that entry's byte.
    entries = bytes(0x0D if i == index else 0 for i in range(4))
    data = bytes.fromhex("3d 01 01 00 05 00040004") + entries + after
    for codec in (construct_codec, fast_codec):
        with pytest.raises(ValueOutOfRange) as caught:
            codec.decode_batch(data)
        assert caught.value.offset == 9 + index, codec.__name__


FIELD_UNITS = {"frame": "frame", "publish_payload": "event", "nack_payload": "nack_payload", "batch": "batch"}


@pytest.mark.parametrize("case", load_field_cases(), ids=lambda c: c["id"])
def test_every_field_case_decodes_and_encodes_the_same(case: dict[str, Any]) -> None:
    unit = FIELD_UNITS[case["kind"]]
    data = bytes.fromhex(case["hex"])
    status, value = assert_same_decode(unit, data, Limits())[:2]
    assert status == "value"
    encode = "encode_frame" if unit == "frame" else f"encode_{unit}"
    if unit == "batch":
        value = Batch(events=value.events)  # the field encoder's choice, as in the field
        assert normalized_batch(fast_codec.encode_batch(value)) == normalized_batch(data)
    else:
        assert getattr(fast_codec, encode)(value) == data == getattr(construct_codec, encode)(value)


# -- hypothesis: encoding --------------------------------------------------------------------


@covers("FRAME-1", "FRAME-2", "PUB-1", "CONN-1", "NACK-1")
@given(frames)
def test_frames_encode_to_the_same_bytes(message: Any) -> None:
    assert fast_codec.encode_frame(message) == construct_codec.encode_frame(message)


@given(events)
def test_events_encode_to_the_same_bytes(event: Event) -> None:
    assert fast_codec.encode_event(event) == construct_codec.encode_event(event)


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_nack_payloads_encode_to_the_same_bytes(machine: bytes, human: bytes) -> None:
    value = NackPayload(machine_message=machine, human_message=human)
    assert fast_codec.encode_nack_payload(value) == construct_codec.encode_nack_payload(value)


@covers("BATCH-1", "BATCH-2", "BATCH-3", "BATCH-4", "BATCH-6")
@given(batches())
def test_batches_in_every_layout_encode_to_the_same_bytes(batch: Batch) -> None:
    # Same zlib call on both sides, so even compressed bodies are equal byte for byte.
    assert fast_codec.encode_batch(batch) == construct_codec.encode_batch(batch)


@covers("BATCH-7")
@given(st.lists(events, min_size=1, max_size=20), st.booleans())
def test_canonical_batches_encode_to_the_same_bytes(evs: list[Event], repetitive: bool) -> None:
    if repetitive:  # long runs of the same event make gzip win, so both branches of BATCH-7 are taken
        evs = evs[:1] * 30 + evs
    batch = Batch(events=tuple(evs))
    assert fast_codec.encode_batch(batch) == construct_codec.encode_batch(batch)


@given(st.integers(0, 127), st.lists(events, min_size=1, max_size=6))
def test_layouts_that_do_not_fit_are_refused_by_both(header: int, evs: list[Event]) -> None:
    batch = Batch(events=tuple(evs), layout=BatchLayout.from_byte(header))
    results = []
    for codec in (fast_codec, construct_codec):
        try:
            results.append(codec.encode_batch(batch))
        except EncodeError:
            results.append(EncodeError)
    assert results[0] == results[1]


def test_encoders_refuse_the_same_things() -> None:
    for codec in (fast_codec, construct_codec):
        with pytest.raises(EncodeError):
            codec.encode_batch(Batch(events=()))
        with pytest.raises(EncodeError):
            codec.encode_frame(NackPayload(machine_message=b"", human_message=b""))  # type: ignore[arg-type]
        with pytest.raises(EncodeError):  # only version 0 has a layout
            codec.encode_frame(sinkproto.ConnectionRequest(version=1, app_version=b"", client_instance_id=0))


# -- hypothesis: decoding valid, mutated and arbitrary bytes ---------------------------------------


def _encodings() -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of(
        frames.map(lambda m: ("frame", construct_codec.encode_frame(m))),
        events.map(lambda e: ("event", construct_codec.encode_event(e))),
        st.builds(NackPayload, machine_message=st.binary(max_size=20), human_message=st.binary(max_size=20)).map(
            lambda p: ("nack_payload", construct_codec.encode_nack_payload(p))
        ),
        batches().map(lambda b: ("batch", construct_codec.encode_batch(b))),
    )


@covers("ERR-2")
@given(_encodings(), limits_strategy)
def test_valid_encodings_decode_the_same(unit_and_data: tuple[str, bytes], limits: Limits) -> None:
    unit, data = unit_and_data
    assert_same_decode(unit, data, limits)


@st.composite
def mutated(draw: st.DrawFn, encodings: st.SearchStrategy[tuple[str, bytes]] | None = None) -> tuple[str, bytes]:
    """A valid encoding with a few bytes changed, inserted, deleted, or cut off."""
    unit, data = draw(encodings if encodings is not None else _encodings())
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("set", "insert", "delete", "truncate", "flip")))
        at = draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "set" and buf:
            buf[at] = draw(st.sampled_from((0x00, 0x01, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255)))))
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=3))
        elif op == "delete" and buf:
            del buf[at]
        elif op == "truncate":
            del buf[at:]
        elif op == "flip" and buf:
            buf[at] ^= 1 << draw(st.integers(0, 7))
    return unit, bytes(buf)


@covers("ERR-2")
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), limits_strategy)
def test_mutated_encodings_decode_the_same(unit_and_data: tuple[str, bytes], limits: Limits) -> None:
    unit, data = unit_and_data
    assert_same_decode(unit, data, limits)


_batch_encodings = batches().map(lambda b: ("batch", construct_codec.encode_batch(b)))


@covers("ERR-2", "BATCH-5", "BATCH-8", "BATCH-9", "BATCH-11")
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_batch_encodings), limits_strategy)
def test_mutated_batches_decode_the_same(unit_and_data: tuple[str, bytes], limits: Limits) -> None:
    assert_same_decode("batch", unit_and_data[1], limits)


@st.composite
def mutated_compressed_batches(draw: st.DrawFn) -> bytes:
    """A batch whose plain body was mutated, then gzipped: the body's errors behind gzip (BATCH-6)."""
    _, data = draw(mutated(_batch_encodings).filter(lambda ud: bool(ud[1]) and not ud[1][0] & 0xC0))
    start = body_offset(data)
    assume(start is not None)
    packer = zlib.compressobj(-1, zlib.DEFLATED, 31)
    return bytes([data[0] | 0x40]) + data[1:start] + packer.compress(data[start:]) + packer.flush()


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(mutated_compressed_batches(), limits_strategy)
def test_mutated_bodies_behind_gzip_decode_the_same(data: bytes, limits: Limits) -> None:
    assert_same_decode("batch", data, limits)


@given(st.sampled_from(UNITS), st.binary(max_size=64), limits_strategy)
def test_arbitrary_bytes_decode_the_same(unit: str, data: bytes, limits: Limits) -> None:
    assert_same_decode(unit, data, limits)


@given(st.sampled_from(UNITS), st.integers(0, 255), st.binary(max_size=40), limits_strategy)
def test_arbitrary_bytes_after_every_first_byte_decode_the_same(
    unit: str, first: int, rest: bytes, limits: Limits
) -> None:
    # The first byte picks the frame type, response code or batch layout: every one of them.
    assert_same_decode(unit, bytes([first]) + rest, limits)


varint_soup = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"\x80" * 9 + b"\x01",
                b"\xff" * 10,
                b"\xff" * 9 + b"\x7f",
                b"\x80\x00",
                b"\x81\x80\x80\x80\x80\x80\x80\x80\x80\x02",
            ]
        ),
        st.binary(min_size=1, max_size=3),
    ),
    max_size=12,
).map(b"".join)


@given(st.sampled_from(UNITS), st.integers(0, 255), varint_soup, limits_strategy)
def test_long_and_overlong_varints_decode_the_same(unit: str, first: int, rest: bytes, limits: Limits) -> None:
    # 10-byte, overlong, non-minimal and over-2^64 varints in every position.
    assert_same_decode(unit, bytes([first]) + rest, limits)


@given(st.binary(max_size=40))
def test_bytes_like_inputs_are_accepted_by_both(data: bytes) -> None:
    for unit in UNITS:
        for wrap in (bytearray, memoryview):
            reference = outcome(getattr(construct_codec, f"decode_{unit}"), wrap(data), Limits())  # type: ignore[arg-type]
            assert outcome(getattr(fast_codec, f"decode_{unit}"), wrap(data), Limits()) == reference  # type: ignore[arg-type]


def test_non_bytes_inputs_are_type_errors_in_both() -> None:
    for unit in UNITS:
        for codec in (fast_codec, construct_codec):
            with pytest.raises(TypeError):
                getattr(codec, f"decode_{unit}")("00", Limits())


def test_decoded_values_are_the_validated_dataclasses() -> None:
    # The fast decoder skips re-validation when it builds values; they must still
    # be ordinary, equal, hashable, frozen instances.
    event = Event(event_type_id=1, schema_version=2, key=b"k", offset=3, timestamp=4, event_data=b"d")
    frame = Publish(message_id=7, event=event)
    decoded = fast_codec.decode_frame(construct_codec.encode_frame(frame))
    assert decoded == frame and hash(decoded) == hash(frame) and type(decoded) is Publish
    with pytest.raises(AttributeError):
        decoded.event.offset = 9  # type: ignore[misc]
    batch = fast_codec.decode_batch(construct_codec.encode_batch(Batch(events=(event, event))))
    assert batch.events == (event, event) and isinstance(batch.events, tuple) and batch.layout is not None


# -- the switch ------------------------------------------------------------------------------------


def test_the_fast_codec_is_the_default() -> None:
    assert DEFAULT is FAST and get_codec("fast") is FAST and get_codec("construct") is CONSTRUCT
    assert sinkproto.decode_frame is fast_codec.decode_frame and sinkproto.encode_batch is fast_codec.encode_batch
    assert sinkproto.codec.decode_frame is fast_codec.decode_frame
    assert CONSTRUCT.decode_frame is construct_codec.decode_frame
    assert reference_stream.Deframer is fast_codec.Deframer is sinkproto.Deframer  # one deframer, no Codec field
    assert not hasattr(FAST, "Deframer") and not hasattr(CONSTRUCT, "Deframer")
    assert Connection(Role.CLIENT, now=0.0, message_id_start=0).codec is FAST


def test_the_environment_selects_a_codec_for_the_io_layers() -> None:
    assert codec_from_env({}) is FAST
    assert codec_from_env({"SINK_CODEC": "construct"}) is CONSTRUCT
    assert codec_from_env({"SINK_CODEC": " fast "}) is FAST
    with pytest.raises(ValueError, match="unknown codec"):
        codec_from_env({"SINK_CODEC": "json"})


def _without_details(events: list[Any]) -> list[Any]:
    # Error texts may be worded differently; class and requirement must match.
    return [replace(e, detail="") if isinstance(e, ProtocolError) else e for e in events]


@given(st.lists(frames, max_size=6), st.integers(1, 7))
def test_a_connection_behaves_the_same_with_either_codec(messages: list[Any], step: int) -> None:
    # A server fed the same bytes (a request, then anything) reports the same events and sends the same bytes.
    request = construct_codec.encode_frame(sinkproto.ConnectionRequest(app_version=b"1", client_instance_id=1))
    stream = b"".join(sinkproto.frame_bytes(f) for f in [request, *map(construct_codec.encode_frame, messages)])
    transcripts = []
    for codec in (FAST, CONSTRUCT):
        connection = Connection(Role.SERVER, now=0.0, message_id_start=0, codec=codec)
        seen: list[Any] = []
        for i in range(0, len(stream), step):
            seen.append(_without_details(connection.receive_data(stream[i : i + step], now=1.0)))
            seen.append(connection.data_to_send())
        transcripts.append(seen)
    assert transcripts[0] == transcripts[1]


@given(events)
def test_a_connection_sends_the_same_bytes_with_either_codec(event: Event) -> None:
    sent = []
    for codec in (FAST, CONSTRUCT):
        client = Connection(Role.CLIENT, now=0.0, message_id_start=5, codec=codec)
        client.send_request(sinkproto.ConnectionRequest(app_version=b"1", client_instance_id=1), now=0.0)
        client.receive_data(
            sinkproto.frame_bytes(
                codec.encode_frame(
                    sinkproto.ConnectionResponse(response=sinkproto.Response.HELLO_NEW_CLIENT, server_instance_id=2)
                )
            ),
            now=0.0,
        )
        client.publish(event, now=0.0)
        sent.append(client.data_to_send())
    assert sent[0] == sent[1]
