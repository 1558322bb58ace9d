"""deframer: the incremental ``Deframer`` fed a stream in random slices (STREAM-1..4, LIMIT-1).

Input layout: byte 0 picks ``max_frame_size`` (0: the default 65535, else
that many bytes), byte 1 picks the slicing (0: one feed, 1: byte by byte,
else a PRNG seeded with it cuts the stream into pieces of 0..40 bytes, empty
feeds included), the rest is the stream. Whatever the slicing, the frames
delivered, the error and its offset must be those of a plain one-pass model
of the framing; ``close()`` ends every run.
"""

from __future__ import annotations

import random

from ..seeds import split_stream, units
from ..target import Check, Seed, Target


def model(stream: bytes, max_frame_size: int) -> tuple[list[bytes], int | None, int]:
    """(frames, offset of an over-limit length prefix or None, bytes left over) in one pass."""
    frames, pos = [], 0
    while len(stream) - pos >= 2:
        length = int.from_bytes(stream[pos : pos + 2], "big")
        if length > max_frame_size:
            return frames, pos, len(stream) - pos
        if pos + 2 + length > len(stream):
            break
        frames.append(stream[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return frames, None, len(stream) - pos


def slices(stream: bytes, how: int) -> list[bytes]:
    if how == 0:
        return [stream]
    if how == 1:
        return [stream[i : i + 1] for i in range(len(stream))]
    rng = random.Random(how)
    out, pos = [], 0
    while pos < len(stream):
        size = rng.randrange(41)
        out.append(stream[pos : pos + size])
        pos += size
    return out


def _seeds() -> list[Seed]:
    out: list[Seed] = []
    for name, stream in units("stream"):
        for how in (0, 1, 7):
            out.append((f"{name}.s{how}", bytes([0, how]) + stream))
    # Whole streams of every known frame, and a tight limit that some frames exceed.
    frames = [data for _, data in units("frame") if 0 < len(data) < 300]
    stream = b"".join(len(f).to_bytes(2, "big") + f for f in frames)
    out.append(("all-frames.s0", bytes([0, 0]) + stream))
    out.append(("all-frames.limit16.s9", bytes([16, 9]) + stream))
    assert split_stream(stream) == frames
    return out


def setup() -> Check:
    from sinkproto import Deframer, LimitExceeded, Limits, Truncated

    from ..oracles import check_error
    from ..target import Finding

    def check(data: bytes) -> None:
        if len(data) < 2:
            return
        max_frame_size = data[0] or 0xFFFF
        stream = data[2:]
        want_frames, want_error_at, left = model(stream, max_frame_size)
        deframer = Deframer(Limits(max_frame_size=max_frame_size))
        got: list[bytes] = []
        error: LimitExceeded | None = None
        for piece in slices(stream, data[1]):
            try:
                got += deframer.feed(piece)
            except LimitExceeded as exc:
                error = exc
                break
        surfaced = error is not None
        try:
            deframer.close()
            closed_clean = True
        except (LimitExceeded, Truncated) as exc:
            check_error(exc, len(stream))
            closed_clean = False
            if isinstance(exc, LimitExceeded):
                error = error or exc
            elif not surfaced and (want_error_at is not None or left == 0):
                raise Finding(
                    f"close() said truncated, expected {'limit_exceeded' if left == 0 else 'no error'}"
                ) from None
        if got != want_frames:
            raise Finding(f"frames differ from the one-pass model: {len(got)} delivered, {len(want_frames)} expected")
        if want_error_at is None:
            if error is not None:
                raise Finding(f"limit_exceeded with no over-limit length prefix: {error}")
            if closed_clean != (left == 0) or deframer.buffered != left:
                raise Finding(f"{left} bytes left over but buffered={deframer.buffered}, close clean={closed_clean}")
            if deframer.offset != len(stream) - left:
                raise Finding(f"offset {deframer.offset}, expected {len(stream) - left}")
            return
        if error is None:
            raise Finding(f"length prefix at {want_error_at} is over max_frame_size={max_frame_size}, never refused")
        if closed_clean:
            raise Finding("close() returned cleanly on a deframer that failed")
        check_error(error, len(stream))
        if error.offset != want_error_at:
            raise Finding(f"limit_exceeded at offset {error.offset}, the prefix is at {want_error_at}")
        try:  # a deframer that lost sync stays failed
            deframer.feed(b"\x00\x01x")
        except LimitExceeded:
            pass
        else:
            raise Finding("the deframer accepted input after a limit_exceeded")

    return check


TARGET = Target(
    name="deframer",
    description="Deframer: random segmentation and frame-size limits against a one-pass model",
    setup=setup,
    seeds=_seeds,
)
