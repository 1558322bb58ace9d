"""The deframer (STREAM-1..STREAM-4): partial, coalesced and oversized input."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sinktest import covers

from sinkproto import Deframer, EncodeError, LimitExceeded, Limits, Truncated, frame_bytes


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
