"""The deframer (STREAM-1..STREAM-4): partial, coalesced and oversized input.

Both codecs share the one :class:`sinkproto.Deframer`; it is checked here
against a plain model of the framing (buffer everything, cut whole frames
off the front) on streams cut anywhere, step by step: frames, ``buffered``,
``offset`` and every error.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sinkproto import DecodeError, Deframer, EncodeError, LimitExceeded, Limits, Truncated, frame_bytes
from sinktest import covers


class ModelDeframer:
    """STREAM-1..STREAM-4 and LIMIT-1 written plainly, for comparison: the slow, obvious algorithm."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.buffer = bytearray()
        self.failed: LimitExceeded | None = None
        self.offset = 0

    @property
    def buffered(self) -> int:
        return len(self.buffer)

    def feed(self, data: bytes) -> list[bytes]:
        if self.failed is not None:
            raise self.failed
        self.buffer += data
        frames: list[bytes] = []
        while len(self.buffer) >= 2:
            length = int.from_bytes(self.buffer[:2], "big")
            if length > self.limits.max_frame_size:
                self.failed = LimitExceeded("over max_frame_size", offset=self.offset, requirement="LIMIT-1")
                if frames:
                    return frames
                raise self.failed
            if len(self.buffer) < 2 + length:
                break
            frames.append(bytes(self.buffer[2 : 2 + length]))
            del self.buffer[: 2 + length]
            self.offset += 2 + length
        return frames

    def close(self) -> None:
        if self.failed is not None:
            raise self.failed
        if self.buffer:
            raise Truncated("cut", offset=self.offset + len(self.buffer), requirement="STREAM-4")


def deframe(deframer_class: Callable[[Limits], Any], pieces: list[bytes], limits: Limits) -> list[Any]:
    """Everything a deframer does with ``pieces``, then close(), step by step."""
    deframer = deframer_class(limits)
    steps: list[Any] = []
    for piece in pieces:
        try:
            steps.append(("frames", deframer.feed(piece), deframer.buffered, deframer.offset))
        except DecodeError as exc:
            steps.append(("error", type(exc), exc.requirement, exc.offset, deframer.buffered))
    try:
        deframer.close()
        steps.append(("closed",))
    except DecodeError as exc:
        steps.append(("error", type(exc), exc.requirement, exc.offset))
    return steps


frame_limits = st.sampled_from([Limits(), Limits(max_frame_size=12), Limits(max_frame_size=1)])


@covers("STREAM-1")
def test_prefix_is_two_bytes_big_endian() -> None:
    assert frame_bytes(b"\x50\x00") == b"\x00\x02\x50\x00"
    assert frame_bytes(bytes(300))[:2] == b"\x01\x2c"


@covers("STREAM-2", "STREAM-3")
def test_sender_refuses_empty_and_oversized_frames() -> None:
    with pytest.raises(EncodeError):
        frame_bytes(b"")
    with pytest.raises(EncodeError):
        frame_bytes(bytes(65536))
    assert len(frame_bytes(bytes(65535))) == 65537


@covers("STREAM-4")
@given(frames=st.lists(st.binary(min_size=1, max_size=300), max_size=20), seed=st.integers(0, 2**32))
def test_any_segmentation_gives_the_same_frames(frames: list[bytes], seed: int) -> None:
    stream = b"".join(frame_bytes(f) for f in frames)
    rng = random.Random(seed)
    deframer = Deframer()
    got: list[bytes] = []
    position = 0
    while position < len(stream):
        step = rng.randint(1, 40)
        got += deframer.feed(stream[position : position + step])
        position += step
    deframer.close()
    assert got == frames and deframer.buffered == 0 and deframer.offset == len(stream)


@covers("STREAM-4")
def test_one_byte_at_a_time_and_coalesced() -> None:
    frames = [b"\x50\x00", b"\x30\x01", bytes(1000)]
    stream = b"".join(frame_bytes(f) for f in frames)
    d = Deframer()
    assert [f for byte in stream for f in d.feed(bytes([byte]))] == frames
    assert Deframer().feed(stream) == frames


@covers("LIMIT-1")
def test_oversized_prefix_fails_before_buffering_and_stays_failed() -> None:
    d = Deframer(Limits(max_frame_size=100))
    with pytest.raises(LimitExceeded) as info:
        d.feed(b"\x00\x65")  # 101: refused on the prefix alone
    assert info.value.requirement == "LIMIT-1" and d.buffered == 2
    with pytest.raises(LimitExceeded):
        d.feed(b"\x00")


def test_close_inside_a_frame_is_truncated() -> None:
    d = Deframer()
    d.feed(b"\x00\x05\x01")
    with pytest.raises(Truncated):
        d.close()


@covers("STREAM-4", "LIMIT-1")
def test_frames_before_an_oversized_prefix_are_delivered_whatever_the_segmentation() -> None:
    # Found by the deframer fuzz target: one feed() used to drop the frame
    # that byte-by-byte feeding delivers (fuzz/regressions/deframer/).
    stream = frame_bytes(b"\x50\x00") + b"\x00\x65"
    d = Deframer(Limits(max_frame_size=100))
    assert d.feed(stream) == [b"\x50\x00"]
    with pytest.raises(LimitExceeded) as info:
        d.close()  # the failure is not lost when nothing else is fed
    assert info.value.offset == 4
    with pytest.raises(LimitExceeded):
        d.feed(b"")


@covers("STREAM-1", "STREAM-3", "STREAM-4", "LIMIT-1")
@given(st.lists(st.binary(max_size=12), max_size=8), st.lists(st.integers(0, 60), max_size=6), frame_limits)
def test_the_deframer_is_the_model_on_any_stream_cut_anywhere(
    payloads: list[bytes], cuts: list[int], limits: Limits
) -> None:
    stream = b"".join(len(p).to_bytes(2, "big") + p for p in payloads)
    if payloads and cuts and cuts[0] % 3 == 0:
        stream += bytes([cuts[0], 0xFF])  # a prefix over the limit, or a cut frame, at the end
    points = sorted({c for c in cuts if c < len(stream)})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)])]
    assert deframe(Deframer, pieces, limits) == deframe(ModelDeframer, pieces, limits)


@given(st.binary(max_size=80), st.lists(st.integers(0, 80), max_size=5))
def test_the_deframer_is_the_model_on_arbitrary_bytes(data: bytes, cuts: list[int]) -> None:
    points = sorted({c for c in cuts if c < len(data)})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    for limits in (Limits(), Limits(max_frame_size=10)):
        assert deframe(Deframer, pieces, limits) == deframe(ModelDeframer, pieces, limits)


def test_a_large_frame_in_small_pieces() -> None:
    frame = bytes(range(256)) * 200
    stream = len(frame).to_bytes(2, "big") + frame + b"\x00\x01\x50"
    pieces = [stream[i : i + 1000] for i in range(0, len(stream), 1000)]
    steps = deframe(Deframer, pieces, Limits())
    assert steps == deframe(ModelDeframer, pieces, Limits())
    assert steps[-2][:2] == ("frames", [frame, b"\x50"]) and steps[-1] == ("closed",)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_like_pieces_are_accepted(kind: Callable[[bytes], Any]) -> None:
    stream = frame_bytes(b"\x50\x00") + frame_bytes(b"\x30\x01")
    d = Deframer()
    assert d.feed(kind(stream[:3])) + d.feed(kind(stream[3:])) == [b"\x50\x00", b"\x30\x01"]
