"""A loopback TCP fault proxy: runner <-> proxy <-> testee, bytes forwarded under a delivery variant.

The proxy forwards raw TCP bytes, so TLS passes through unchanged and the
runner still verifies the testee's certificate and name. Because it only
sees ciphertext, it cannot cut a *Sink frame* apart by itself: TLS would
reassemble its records before the testee's deframer sees anything. The
plaintext half of a variant is therefore done by :class:`SegmentingWire`,
which the runner uses for its own writes (one byte, or a random piece, per
TLS record); the proxy does the TCP half (one byte, or a random piece, per
TCP segment), adds latency and throttles bandwidth. Faults (``stall``,
``half-close``, ``reset``) are applied by the proxy alone, in the direction
runner -> testee, at the runner's third write on each connection (with TLS:
the first Sink record, after the ClientHello and the client's second flight);
the direction testee -> runner is only delayed and throttled.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from .wire import Wire

__all__ = ["FAULTS", "SEGMENTING", "VARIANTS", "Delivery", "FaultProxy", "SegmentingWire", "bounded_pieces"]

SEGMENTING = ("whole", "byte", "split", "coalesce")  # the normal verdict must hold
FAULTS = ("stall", "half-close", "reset")  # the testee must close or keep serving others
VARIANTS = SEGMENTING + FAULTS

#: The runner's writes on a connection before the fault: with TLS, the ClientHello and the
#: client's second flight come first, so the fault lands inside the first Sink record.
FAULT_AT_WRITE = 3

#: Pacing bound of `byte` and `split`: of each write, the first and the last CUT_EDGE bytes are
#: cut (one byte, or random pieces, each its own write); the middle goes in MIDDLE_PIECE pieces.
#: Every frame boundary, length prefix and header of a small write is still cut at every byte,
#: while a 65,535-byte frame costs about 600 writes instead of 65,537 (its delivery took over a
#: minute, longer than a server's patience, K = 1.5 s, and than the case's timeout).
CUT_EDGE = 256
MIDDLE_PIECE = 4096


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """How the proxy (and the runner's writer) deliver bytes for one variant."""

    variant: str = "whole"
    seed: int = 0  # `split`: the same seed gives the same pieces
    stall: float = 2.0  # seconds: `stall` pauses this long mid-record (set it above 1.5 K)
    idle: float = 0.03  # seconds of quiet after which `coalesce` flushes what it held
    latency: float = 0.0  # seconds added to every forwarded chunk, both directions
    rate: float | None = None  # bytes per second, both directions; None: unthrottled

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown delivery variant {self.variant!r} (known: {', '.join(VARIANTS)})")


@dataclass
class ProxiedConnection:
    """What happened on one proxied connection, for the matrix's observations."""

    number: int
    sent: int = 0  # runner -> testee bytes forwarded
    received: int = 0  # testee -> runner bytes forwarded
    fault: str = ""  # what the proxy did, if anything
    testee_closed: bool = False  # the testee closed (or reset) its side
    notes: list[str] = field(default_factory=list)


class FaultProxy:
    """Listen on loopback; forward each accepted connection to ``target`` under ``delivery``."""

    def __init__(
        self, target_host: str, target_port: int, delivery: Delivery, *, listen_host: str = "127.0.0.1"
    ) -> None:
        self.target = (target_host, target_port)
        self.delivery = delivery
        self.listen_host = listen_host
        self.connections: list[ProxiedConnection] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._random = random.Random(delivery.seed)
        self.address: tuple[str, int] = ("", 0)  # where the runner connects, once started

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, self.listen_host, 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        record = ProxiedConnection(number=len(self.connections) + 1)
        self.connections.append(record)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError as exc:
                record.notes.append(f"testee unreachable: {exc!r}")
                writer.close()
                return
            for w in (writer, up_writer):
                sock = w.get_extra_info("socket")
                if sock is not None:  # each write is its own segment: what `byte` and `split` promise
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream = asyncio.create_task(self._runner_to_testee(reader, up_writer, writer, record))
            downstream = asyncio.create_task(self._testee_to_runner(up_reader, writer, record))
            try:
                await asyncio.gather(upstream, downstream, return_exceptions=True)
            except asyncio.CancelledError:
                upstream.cancel()  # the proxy is closing: end quietly, asyncio's accept callback
                downstream.cancel()  # would otherwise log the cancellation as an error
            for w in (writer, up_writer):
                w.close()
        finally:
            self._tasks.discard(task)

    async def _pace(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """Write with the configured latency and bandwidth."""
        if self.delivery.latency:
            await asyncio.sleep(self.delivery.latency)
        writer.write(data)
        await writer.drain()
        if self.delivery.rate:
            await asyncio.sleep(len(data) / self.delivery.rate)

    async def _testee_to_runner(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: ProxiedConnection
    ) -> None:
        try:
            while data := await reader.read(65536):
                record.received += len(data)
                await self._pace(writer, data)
        except (ConnectionError, OSError):
            pass
        record.testee_closed = True
        try:
            writer.close()  # the runner sees the testee's close
        except (ConnectionError, OSError):
            pass

    async def _runner_to_testee(
        self,
        reader: asyncio.StreamReader,
        up: asyncio.StreamWriter,
        runner: asyncio.StreamWriter,
        record: ProxiedConnection,
    ) -> None:
        variant = self.delivery.variant
        writes = 0
        pending = b""  # `coalesce`: held back until the runner pauses
        try:
            while True:
                wait = self.delivery.idle if variant == "coalesce" and pending else None
                try:
                    data = await asyncio.wait_for(reader.read(65536), wait)
                except TimeoutError:  # `coalesce`: the runner paused: everything held goes in one write
                    await self._forward(up, pending, record)
                    pending = b""
                    continue
                if not data:
                    break
                writes += 1
                if variant == "coalesce":
                    pending += data
                elif variant == "half-close" and writes == FAULT_AT_WRITE:
                    # the runner's first Sink record is its last write the testee sees: FIN after it
                    await self._forward(up, data, record)
                    record.fault = f"write side shut after {record.sent} bytes"
                    if up.can_write_eof():
                        up.write_eof()
                    await self._drain_into_void(reader)
                    return
                elif variant in ("stall", "reset") and writes == FAULT_AT_WRITE and not record.fault:
                    half = max(1, len(data) // 2)
                    await self._forward(up, data[:half], record)
                    if variant == "stall":
                        record.fault = f"stalled {self.delivery.stall:.1f} s after {record.sent} bytes"
                        await asyncio.sleep(self.delivery.stall)
                        await self._forward(up, data[half:], record)
                    else:
                        record.fault = f"reset after {record.sent} bytes"
                        _abort(up)
                        _abort(runner)
                        return
                else:
                    await self._forward(up, data, record)
            if pending:
                await self._forward(up, pending, record)
            if up.can_write_eof():
                up.write_eof()  # the runner closed its side: pass that on
        except (ConnectionError, OSError):
            pass

    async def _forward(self, up: asyncio.StreamWriter, data: bytes, record: ProxiedConnection) -> None:
        for piece in self._pieces(data):
            await self._pace(up, piece)
            record.sent += len(piece)

    def _pieces(self, data: bytes) -> list[bytes]:
        variant = self.delivery.variant
        if variant == "byte":
            return bounded_pieces(data, _single_bytes)
        if variant == "split":
            return bounded_pieces(data, lambda part: _random_pieces(part, self._random))
        return [data]

    @staticmethod
    async def _drain_into_void(reader: asyncio.StreamReader) -> None:
        """After a half-close, the runner may still write: read and drop it until it closes."""
        while await reader.read(65536):
            pass


def bounded_pieces(
    data: bytes, cut: Callable[[bytes], list[bytes]], *, edge: int = CUT_EDGE, middle: int = MIDDLE_PIECE
) -> list[bytes]:
    """``data`` in pieces: ``cut`` applied to the first and last ``edge`` bytes, the middle in ``middle``-byte
    pieces. Joined, the pieces are ``data``; a write of at most 2 x ``edge`` bytes is cut whole."""
    if len(data) <= 2 * edge:
        return cut(data)
    inner = data[edge : len(data) - edge]
    return [
        *cut(data[:edge]),
        *(inner[i : i + middle] for i in range(0, len(inner), middle)),
        *cut(data[len(data) - edge :]),
    ]


def _single_bytes(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def _random_pieces(data: bytes, rng: random.Random) -> list[bytes]:
    pieces, i = [], 0
    while i < len(data):
        n = rng.randint(1, max(1, min(len(data) - i, 64)))
        pieces.append(data[i : i + n])
        i += n
    return pieces


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST, not FIN: SO_LINGER with a zero timeout, then close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class SegmentingWire(Wire):
    """The runner's half of a segmenting variant: how plaintext is cut into writes (so into TLS records).

    ``byte``: one byte per write; ``split``: random pieces (seeded); both bounded by
    :func:`bounded_pieces` for large writes. ``coalesce``: writes are held and sent together once
    the case pauses; anything else: as written.
    """

    delivery: Delivery = Delivery()
    rng: random.Random = random.Random(0)

    async def _write(self, data: bytes) -> None:
        variant = self.delivery.variant
        if variant == "byte":
            pieces = bounded_pieces(data, _single_bytes)
        elif variant == "split":
            pieces = bounded_pieces(data, lambda part: _random_pieces(part, self.rng))
        elif variant == "coalesce":
            self._held = getattr(self, "_held", b"") + data
            flusher = getattr(self, "_flusher", None)
            if flusher is None or flusher.done():
                self._flusher = asyncio.create_task(self._flush_when_idle())
            return
        else:
            await super()._write(data)
            return
        for piece in pieces:
            await super()._write(piece)
            # a pause so the testee reads each piece on its own instead of a coalesced burst
            await asyncio.sleep(0.001)

    async def _flush_when_idle(self) -> None:
        while True:
            size = len(self._held)
            await asyncio.sleep(self.delivery.idle)
            if len(self._held) == size:
                break
        data, self._held = self._held, b""
        await super()._write(data)

    async def recv_frame(self, timeout: float) -> bytes | None:
        # a case that waits for an answer has finished writing: what it wrote must go now
        flusher = getattr(self, "_flusher", None)
        if flusher is not None and not flusher.done():
            try:
                await asyncio.wait_for(asyncio.shield(flusher), self.delivery.idle * 4)
            except TimeoutError:
                pass
        return await super().recv_frame(timeout)
