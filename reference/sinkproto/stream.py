"""Stream framing (STREAM-1..STREAM-4): the one place partial input is handled.

Each frame travels behind a 2-byte big-endian length. :class:`Deframer` takes
received bytes in whatever pieces the transport delivers and hands back whole
frames; decoders never see partial input. The frame-size limit is checked on
the length prefix, before any of the frame is buffered (LIMIT-1).
"""

from __future__ import annotations

from .errors import EncodeError, LimitExceeded, Truncated
from .limits import DEFAULT_LIMITS, MAX_FRAME_SIZE, Limits

__all__ = ["frame_bytes", "Deframer"]

PREFIX_SIZE = 2


def frame_bytes(frame: bytes) -> bytes:
    """Prefix one encoded frame with its 2-byte length (STREAM-1)."""
    if not 0 < len(frame) <= MAX_FRAME_SIZE:
        raise EncodeError(f"a frame is 1..{MAX_FRAME_SIZE} bytes (STREAM-2, STREAM-3), got {len(frame)}")
    return len(frame).to_bytes(PREFIX_SIZE, "big") + frame


class Deframer:
    """Incremental splitter: ``feed(data)`` returns the frames completed by ``data``.

    Zero-length frames are returned as ``b""`` so that the caller decides
    (``decode_frame`` rejects them, STREAM-3); a length above
    ``limits.max_frame_size`` raises :class:`LimitExceeded` before any of that
    frame is buffered (once the frames completed before it in the same
    ``feed`` have been returned), and the deframer stays failed: a stream
    that lost sync cannot be trusted again.
    ``offset`` counts the bytes consumed so far, for error reports.

    The received bytes are walked with a position and only the unfinished
    tail is kept, so a read holding many frames costs one pass, and a large
    frame arriving in pieces is not copied until it is whole.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()  # the unfinished tail of what was received
        self._need = PREFIX_SIZE  # bytes the tail must reach before a frame can complete
        self._failed: LimitExceeded | None = None
        self.offset = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        if self._failed is not None:
            raise self._failed
        if self._buffer:
            self._buffer += data
            if len(self._buffer) < self._need:
                return []
            buffer = bytes(self._buffer)
        else:
            buffer = bytes(data)  # no copy for bytes
        size = len(buffer)
        maximum = self._limits.max_frame_size
        frames: list[bytes] = []
        pos = 0
        while size - pos >= PREFIX_SIZE:
            length = buffer[pos] << 8 | buffer[pos + 1]
            if length > maximum:
                self._buffer = bytearray(buffer[pos:])
                self.offset += pos
                self._failed = LimitExceeded(
                    f"frame length {length} exceeds max_frame_size={maximum}", offset=self.offset, requirement="LIMIT-1"
                )
                if frames:
                    # Frames completed before the bad prefix are delivered as they
                    # would be under any other segmentation (STREAM-4); the next
                    # feed() or close() raises.
                    return frames
                raise self._failed
            stop = pos + PREFIX_SIZE + length
            if stop > size:
                break
            frames.append(buffer[pos + PREFIX_SIZE : stop])
            pos = stop
        self.offset += pos
        rest = size - pos
        if rest:
            self._buffer = bytearray(buffer[pos:])
            self._need = PREFIX_SIZE if rest < PREFIX_SIZE else PREFIX_SIZE + (buffer[pos] << 8 | buffer[pos + 1])
        elif self._buffer:
            self._buffer = bytearray()
        return frames

    def close(self) -> None:
        """Declare end of stream; a partial frame left behind is ``truncated``.

        A failed deframer raises its ``LimitExceeded`` again, so a failure
        found behind frames that ``feed`` still returned is never lost.
        """
        if self._failed is not None:
            raise self._failed
        if self._buffer:
            raise Truncated(
                f"stream ended inside a frame ({len(self._buffer)} bytes buffered)",
                offset=self.offset + len(self._buffer),
                requirement="STREAM-4",
            )
