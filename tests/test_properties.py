"""Hypothesis properties: round trips for every message, and arbitrary bytes only ever raise SinkError."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

# The logical-model strategies are shared with `sink-check codec` (one definition).
from sinkcheck.codec_strategies import events, frames
from sinkcheck.codec_strategies import varint_value as small_or_big
from sinkproto import (
    Batch,
    BatchLayout,
    DecodeError,
    Deframer,
    Event,
    Limits,
    NackPayload,
    SinkError,
    decode_batch,
    decode_event,
    decode_frame,
    decode_nack_payload,
    encode_batch,
    encode_event,
    encode_frame,
    encode_nack_payload,
    frame_bytes,
)
from sinkproto.primitives import zigzag_decode, zigzag_encode
from sinktest import covers


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    """Events that are homogeneous where the drawn layout says so."""
    layout = BatchLayout.from_byte(draw(st.integers(0, 127)))
    n = draw(st.integers(1, 12))
    et, sv = draw(small_or_big), draw(small_or_big)
    kl, dl = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    out = []
    for _ in range(n):
        out.append(
            Event(
                event_type_id=et if layout.same_event_type_id else draw(small_or_big),
                schema_version=sv if layout.same_schema_version else draw(small_or_big),
                key=draw(st.binary(min_size=kl, max_size=kl))
                if layout.same_key_length
                else draw(st.binary(max_size=8)),
                offset=draw(small_or_big),
                timestamp=draw(small_or_big),
                event_data=draw(st.binary(min_size=dl, max_size=dl))
                if layout.same_event_data_length
                else draw(st.binary(max_size=8)),
            )
        )
    return Batch(events=tuple(out), layout=layout)


@covers("PUB-1", "CONN-1", "ACK-1", "NACK-1", "FRAME-1", "FRAME-2", "FRAME-6")
@given(frames)
def test_frame_round_trip(message: object) -> None:
    data = encode_frame(message)  # type: ignore[arg-type]
    assert data[0] >> 4 in {0, 1, 3, 4, 5, 6, 7}  # never a reserved or unassigned type
    assert decode_frame(data) == message


@covers("CONV-8")
@given(st.integers(-(2**65), 2**65))
def test_zigzag_is_a_bijection_over_unbounded_integers(value: int) -> None:
    encoded = zigzag_encode(value)
    assert encoded >= 0 and zigzag_decode(encoded) == value
    assert encoded == (2 * value if value >= 0 else -2 * value - 1)


@given(events)
def test_event_round_trip(event: Event) -> None:
    assert decode_event(encode_event(event)) == event


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_nack_payload_round_trip(machine: bytes, human: bytes) -> None:
    p = NackPayload(machine_message=machine, human_message=human)
    assert decode_nack_payload(encode_nack_payload(p)) == p


@covers("BATCH-1", "BATCH-3", "BATCH-4", "BATCH-5", "BATCH-6")
@given(batches())
def test_batch_round_trip_in_any_layout(batch: Batch) -> None:
    decoded = decode_batch(encode_batch(batch))
    assert decoded == batch


@covers("BATCH-7")
@given(st.lists(events, min_size=1, max_size=15))
def test_canonical_batch_round_trip(evs: list[Event]) -> None:
    data = encode_batch(Batch(events=tuple(evs)))
    decoded = decode_batch(data)
    assert decoded.events == tuple(evs)
    assert decoded.layout is not None and decoded.layout.delta_offset and decoded.layout.delta_timestamp


DECODERS = (decode_frame, decode_event, decode_nack_payload, decode_batch)
TIGHT = Limits(max_key_size=64, max_event_data_size=64, max_batch_events=64, max_decompressed_size=4096)


def _only_sink_errors(data: bytes) -> None:
    for decode in DECODERS:
        for limits in (Limits(), TIGHT):
            try:
                decode(data, limits=limits)
            except DecodeError as exc:
                assert exc.error_class and 0 <= exc.offset <= max(len(data), 1 << 30)
                assert exc.requirement


@covers("ERR-1")
@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_sink_errors(data: bytes) -> None:
    _only_sink_errors(data)


@settings(max_examples=300)
@given(st.one_of(frames.map(encode_frame), events.map(encode_event), batches().map(encode_batch)), st.data())
def test_mutated_valid_units_raise_only_sink_errors(data: bytes, draw: st.DataObject) -> None:
    mutated = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 4))):
        if not mutated:
            break
        position = draw.draw(st.integers(0, len(mutated) - 1))
        mutated[position] = draw.draw(st.integers(0, 255))
    _only_sink_errors(bytes(mutated))
    _only_sink_errors(bytes(mutated[: draw.draw(st.integers(0, len(mutated)))]))


@settings(max_examples=200)
@given(st.binary(max_size=300), st.integers(0, 2**32))
def test_deframer_on_arbitrary_bytes(data: bytes, seed: int) -> None:
    rng = random.Random(seed)
    d = Deframer(Limits(max_frame_size=rng.randint(1, 65535)))
    position = 0
    try:
        while position < len(data):
            step = rng.randint(1, 20)
            for frame in d.feed(data[position : position + step]):
                assert len(frame) <= 65535
            position += step
        d.close()
    except SinkError:
        pass
    assert frame_bytes(b"\x00")  # the module stays usable
