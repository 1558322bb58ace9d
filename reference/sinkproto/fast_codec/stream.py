"""A faster :class:`~sinkproto.stream.Deframer` with the same behaviour (STREAM-1..STREAM-4, LIMIT-1).

The reference deframer deletes each frame from the front of its buffer as
it goes (a copy of everything behind it, per frame). This one walks the
received bytes with a position and keeps only the unfinished tail, so a
read holding many frames costs one pass.
"""

from __future__ import annotations

from ..errors import LimitExceeded, Truncated
from ..limits import DEFAULT_LIMITS, Limits

__all__ = ["Deframer"]


class Deframer:
    """``feed(data)`` returns the frames completed by ``data``; see :class:`sinkproto.stream.Deframer`."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()  # the unfinished tail of what was received
        self._need = 2  # bytes the tail must reach before a frame can complete
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
                return []  # a large frame arriving in pieces: no copy until it is whole
            buffer = bytes(self._buffer)
        else:
            buffer = bytes(data)  # no copy for bytes
        size = len(buffer)
        maximum = self._limits.max_frame_size
        frames: list[bytes] = []
        pos = 0
        while size - pos >= 2:
            length = buffer[pos] << 8 | buffer[pos + 1]
            if length > maximum:
                self._buffer = bytearray(buffer[pos:])
                self.offset += pos
                self._failed = LimitExceeded(
                    f"frame length {length} exceeds max_frame_size={maximum}", offset=self.offset, requirement="LIMIT-1"
                )
                if frames:
                    return frames  # STREAM-4: the next feed() or close() raises
                raise self._failed
            stop = pos + 2 + length
            if stop > size:
                break
            frames.append(buffer[pos + 2 : stop])
            pos = stop
        self.offset += pos
        rest = size - pos
        if rest:
            self._buffer = bytearray(buffer[pos:])
            self._need = 2 if rest < 2 else 2 + (buffer[pos] << 8 | buffer[pos + 1])
        elif self._buffer:
            self._buffer = bytearray()
        return frames

    def close(self) -> None:
        """Declare end of stream; a partial frame left behind is ``truncated``."""
        if self._failed is not None:
            raise self._failed
        if self._buffer:
            raise Truncated(
                f"stream ended inside a frame ({len(self._buffer)} bytes buffered)",
                offset=self.offset + len(self._buffer),
                requirement="STREAM-4",
            )
