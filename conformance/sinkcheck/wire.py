"""A raw Sink connection for the runner: exact bytes out, whole frames in, everything logged.

Built on the reference codec only for framing and for naming frames in the
log; the runner decides verdicts from the bytes it receives, not from a
state machine.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sinkproto import DecodeError, Deframer, Limits, frame_bytes

from .craft import describe_frame
from .model import CheckFailed, WireRecord

__all__ = ["Wire", "describe_frame", "CLOSED"]

CLOSED = None  # what recv_frame returns once the peer closed


class _KeepingReader(asyncio.StreamReader):
    """A stream reader that keeps what arrived before a connection error.

    asyncio's reader raises a connection error (a reset after the peer closed,
    say) before the bytes already buffered, so a frame the peer sent just
    before it closed was lost whenever one of our later writes met the reset.
    Here the error ends the stream like an EOF, after the buffered bytes, and
    is kept in ``connection_error`` for the log.
    """

    connection_error: BaseException | None = None

    def set_exception(self, exc: BaseException) -> None:
        if self.connection_error is None:
            self.connection_error = exc
        self.feed_eof()


async def _open_connection(host: str, port: int, **kwargs: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``asyncio.open_connection`` with a :class:`_KeepingReader`; ``kwargs`` go to ``loop.create_connection``."""
    loop = asyncio.get_running_loop()
    reader = _KeepingReader(loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, host, port, **kwargs)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class Wire:
    """One connection to (or from) the implementation under test."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        name: str,
        log: Callable[[WireRecord], None],
        started: float,
    ) -> None:
        self.name = name
        self._reader = reader
        self._writer = writer
        self._log = log
        self._started = started
        self._deframer = Deframer(Limits())
        self._frames: list[bytes] = []
        self.closed = False  # the peer closed (or reset) the connection: nothing more to read
        self.close_reason = ""
        self.write_failed = ""  # why our writes stopped reaching the peer (it may still have sent frames)
        self.accepted_note = ""  # client mode: how the runner's listener accepted this connection

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        name: str,
        log: Callable[[WireRecord], None],
        started: float,
        timeout: float,
    ) -> Wire:
        reader, writer = await asyncio.wait_for(
            _open_connection(host, port, ssl=ssl_context, server_hostname=server_hostname if ssl_context else None),
            timeout,
        )
        wire = cls(reader, writer, name=name, log=log, started=started)
        wire.note(
            f"connected ({'TLS ' + str(writer.get_extra_info('ssl_object').version()) if ssl_context else 'plain TCP'})"
        )
        return wire

    def adopt(self, *, name: str, log: Callable[[WireRecord], None], started: float) -> None:
        """Client mode: a connection accepted between cases is logged by the case that takes it."""
        self.name, self._log, self._started = name, log, started

    def _record(self, direction: str, data: bytes, decoded: str) -> None:
        self._log(
            WireRecord(
                at=round(time.monotonic() - self._started, 4),
                connection=self.name,
                direction=direction,
                hex=data.hex(),
                decoded=decoded,
            )
        )

    def note(self, text: str) -> None:
        self._record("event", b"", text)

    async def send_frame(self, frame: bytes) -> None:
        """One frame with its length prefix. The log shows the frame without the prefix, like received frames."""
        self._record("sent", frame, describe_frame(frame) if frame else "zero-length frame")
        await self._write(frame_bytes(frame) if frame else b"\x00\x00")

    async def send_raw(self, data: bytes, *, describe: str = "raw bytes") -> None:
        """Bytes exactly as given (prefixes included): partial, coalesced or hostile writes."""
        self._record("sent", data, describe)
        await self._write(data)

    async def _write(self, data: bytes) -> None:
        """Write; a failed write ends our writing, not the reading: what the peer sent before it
        closed is still read and judged (a server that answers and closes while we are still
        writing is not at fault)."""
        if self.write_failed:
            return
        if self._writer.is_closing():  # the peer's close already ended the transport
            self.write_failed = "not written: the connection was already closing"
            self.note(self.write_failed)
            return
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self.write_failed = f"write failed: {exc!r}"
            self.note(f"{self.write_failed}; still reading what the peer sent")

    async def recv_frame(self, timeout: float) -> bytes | None:
        """The next whole frame; None once the peer has closed; TimeoutError when nothing came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._frames:
            if self.closed:
                return CLOSED
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            try:
                data = await asyncio.wait_for(self._reader.read(65536), remaining)
            except TimeoutError:
                raise  # TimeoutError is an OSError: it must not pass for a closed connection
            except (ConnectionError, OSError, ssl.SSLError) as exc:
                self._mark_closed(f"connection error: {exc!r}")
                continue
            if not data:
                error = getattr(self._reader, "connection_error", None)
                self._mark_closed(f"connection error: {error!r}" if error is not None else "peer closed the connection")
                continue
            try:
                frames = self._deframer.feed(data)
            except DecodeError as exc:
                self._record("received", data, f"unframeable: {exc}")
                self._mark_closed("unframeable stream")
                continue
            for frame in frames:
                self._record("received", frame, describe_frame(frame))
            self._frames.extend(frames)
        return self._frames.pop(0)

    def unread(self, frame: bytes) -> None:
        """Put back a frame taken with :meth:`recv_frame`: the next read returns it again (it is not logged twice)."""
        self._frames.insert(0, frame)

    async def next_frame(self, what: str, seconds: float, background: Callable[[bytes], Awaitable[bool]]) -> bytes:
        """The next frame the case is waiting for, within ``seconds``.

        ``background`` sees each frame first and returns True when it handled
        it as the peer's own traffic (a PUBLISH to ACK, a PING to answer); such
        frames are skipped. No frame in time, or a close, fails the case.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            try:
                frame = await self.recv_frame(max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise CheckFailed(f"no frame within {seconds:.1f} s while waiting for {what}") from None
            if frame is CLOSED:
                raise CheckFailed(f"the connection closed ({self.close_reason}) while waiting for {what}")
            if not await background(frame):
                return frame

    async def expect_close(self, timeout: float) -> tuple[bool, list[bytes]]:
        """Wait up to ``timeout`` for the peer to close; returns (closed, frames received meanwhile)."""
        got: list[bytes] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                frame = await self.recv_frame(max(0.0, deadline - loop.time()))
            except TimeoutError:
                return False, got
            if frame is CLOSED:
                return True, got
            got.append(frame)

    def _mark_closed(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self.note(reason)

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), 2)
        except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
            pass
