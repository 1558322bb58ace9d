"""``sink bench memory``: decoding at the limits, and the server's memory per idle connection.

Decoding (``tracemalloc``, peak Python allocations during one decode, both
codecs): a maximal frame (a 65,535-byte PUBLISH), a batch whose body
inflates to just under ``max_decompressed_size`` (65,536 events: the
decoded events themselves are most of the peak), and a gzip bomb (20 kB
that would inflate to 9 MiB), which must be refused after at most the limit
was produced (LIMIT-3): the peak follows the limit, never what the bytes
announce.

Connections: the reference :class:`~sinkproto.peers.SinkServer` runs in
its own process with mutual TLS; another process opens ``connections``
TLS connections to it, each completing the Sink handshake, then leaves
them idle. The figure is the growth of the server's resident set
(``VmRSS``) divided by the number of connections: the TLS state, the
asyncio transport and buffers, the session and its
:class:`~sinkproto.connection.Connection`. Each connection gets its own
client id (the handler appends a counter), or DELIV-10 would replace each
connection by the next.
"""

from __future__ import annotations

import gc
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sinkproto.codec import CONSTRUCT, FAST, Codec
from sinkproto.errors import LimitExceeded
from sinkproto.limits import DEFAULT_LIMITS
from sinkproto.messages import Batch, BatchLayout, Event, Publish

__all__ = ["DecodePeak", "MemoryReport", "run", "format_report", "DEFAULT_CONNECTIONS", "GOAL_PER_CONNECTION"]

DEFAULT_CONNECTIONS = 1000
GOAL_PER_CONNECTION = 64 * 1024
STOCK = "reference server (SinkServer default: 16 KiB TLS read buffer)"
SMALL_BUFFER = 256 * 1024
SMALL = "comparison: asyncio's own 256 KiB TLS read buffer"


@dataclass
class DecodePeak:
    case: str
    codec: str
    input_bytes: int
    peak_bytes: int
    outcome: str


@dataclass
class MemoryReport:
    decodes: list[DecodePeak]
    connections: int
    rss: dict[str, tuple[int, int]]  # server variant -> RSS before, after

    def per_connection(self, variant: str = STOCK) -> float:
        before, after = self.rss[variant]
        return (after - before) / max(self.connections, 1)


def peak(fn: Callable[[], Any]) -> tuple[int, str]:
    """Peak traced allocation (bytes) while ``fn`` runs, and what it returned or raised."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result = fn()
        outcome = f"{type(result).__name__}"
        if isinstance(result, Batch):
            outcome += f" of {len(result.events):,} events"
        del result
    except LimitExceeded as exc:
        outcome = f"{exc.error_class} ({exc.requirement})"
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top, outcome


def _gzip(body: bytes, level: int = 6) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, 31)
    return packer.compress(body) + packer.flush()


def maximal_publish() -> bytes:
    event = Event(event_type_id=1, schema_version=1, key=b"k", offset=1, timestamp=1, event_data=b"")
    overhead = len(FAST.encode_frame(Publish(message_id=1, event=event)))
    # The data length varint grows from 1 to 3 bytes; the frame must be exactly 65,535 bytes.
    event = Event(
        event_type_id=1, schema_version=1, key=b"k", offset=1, timestamp=1, event_data=bytes(65_535 - overhead - 2)
    )
    frame = FAST.encode_frame(Publish(message_id=1, event=event))
    assert len(frame) == 65_535
    return frame


def batch_at_limit() -> bytes:
    """65,536 events (max_batch_events) whose body inflates to just under max_decompressed_size."""
    count = DEFAULT_LIMITS.max_batch_events
    fixed = 3 + 3 + 8 * count + 3 + count + 3 + count  # count, keys chunk, offsets, timestamps columns
    data_length = (DEFAULT_LIMITS.max_decompressed_size - fixed) // count
    events = tuple(
        Event(
            event_type_id=1,
            schema_version=1,
            key=i.to_bytes(8, "big"),
            offset=i + 1,
            timestamp=1_700_000_000,
            event_data=bytes([i & 0xFF]) * data_length,
        )
        for i in range(count)
    )
    layout = BatchLayout(
        compressed=True,
        same_event_type_id=True,
        same_schema_version=True,
        same_key_length=True,
        delta_offset=True,
        delta_timestamp=True,
        same_event_data_length=True,
    )
    return FAST.encode_batch(Batch(events=events, layout=layout))


def bomb() -> bytes:
    return bytes([0x40]) + _gzip(bytes(9 << 20), 9)


def decode_peaks(codecs: tuple[Codec, ...] = (FAST, CONSTRUCT)) -> list[DecodePeak]:
    cases = (
        ("maximal frame (65,535-byte PUBLISH)", maximal_publish(), "decode_frame"),
        ("batch inflating to 8 MiB - 2 kB (65,536 events)", batch_at_limit(), "decode_batch"),
        ("gzip bomb: 9 MiB of zeros", bomb(), "decode_batch"),
    )
    out = []
    for name, data, function in cases:
        for codec in codecs:
            top, outcome = peak(lambda: getattr(codec, function)(data, limits=DEFAULT_LIMITS))
            out.append(DecodePeak(name, codec.name, len(data), top, outcome))
    return out


_SERVER = textwrap.dedent(
    """
    import asyncio, itertools, resource, sys
    from pathlib import Path
    from sinkproto.messages import ConnectionResponse, Response
    from sinkproto.peers import ServerHandler, SinkServer, server_context

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pki = Path(sys.argv[1])
    counter = itertools.count()

    class Handler(ServerHandler):
        def authenticate(self, identity, peercert):
            return f"{identity}-{next(counter)}"  # one client id per connection (else DELIV-10 replaces them)

        async def decide(self, client, request):
            return ConnectionResponse(response=Response.CONNECTED)

    async def main():
        context = server_context(cert=pki / "server.pem", key=pki / "server.key", client_ca=pki / "ca.pem")
        server = SinkServer(Handler(), context, keepalive=3600)
        host, port = await server.start("127.0.0.1", 0)
        print(port, flush=True)
        await server.serve_forever()

    asyncio.run(main())
    """
)

_CLIENTS = textwrap.dedent(
    """
    import asyncio, resource, sys
    from pathlib import Path
    from sinkproto.codec import FAST
    from sinkproto.messages import ConnectionRequest
    from sinkproto.peers import client_context
    from sinkproto.stream import frame_bytes

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pki, port, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    context = client_context(ca=pki / "ca.pem", cert=pki / "client-bench.pem", key=pki / "client-bench.key")
    request = frame_bytes(FAST.encode_frame(ConnectionRequest(app_version=b"1.0.0", client_instance_id=1, server_instance_id=7)))

    async def one(held):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
        writer.write(request)
        await writer.drain()
        assert await reader.readexactly(3) == b"\\x00\\x01\\x10"  # connected
        held.append(writer)

    async def main():
        held = []
        for start in range(0, count, 50):
            await asyncio.gather(*(one(held) for _ in range(min(50, count - start))))
        print(len(held), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # idle until told

    asyncio.run(main())
    """
)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def connection_rss(connections: int, ssl_read_buffer: int | None = None) -> tuple[int, int]:
    """(server RSS before, after ``connections`` idle mutual-TLS connections).

    ``ssl_read_buffer`` replaces the server's per-connection TLS read buffer
    size (SinkServer sets 16 KiB; asyncio's own default is 256 KiB in
    CPython 3.11-3.13, allocated and zeroed per connection).
    """
    from sinkproto.certs import make_dev_pki

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < connections + 100:
        raise SystemExit(f"sink bench memory: the open-file limit ({hard}) is too low for {connections} connections")
    with tempfile.TemporaryDirectory(prefix="sink-bench-memory-") as tmp:
        pki = make_dev_pki(Path(tmp), ["bench"]).directory
        prelude = (
            ""
            if ssl_read_buffer is None
            else f"import sinkproto.peers.server as s\ns.TLS_READ_BUFFER = {ssl_read_buffer}\n"
        )
        server = subprocess.Popen(
            [sys.executable, "-c", prelude + _SERVER, str(pki)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            # Warm the server up with a few connections first (imports, SSL tables,
            # allocator arenas), so that the growth measured is the connections'.
            warm = subprocess.Popen(
                [sys.executable, "-c", _CLIENTS, str(pki), str(port), "20"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert warm.stdout is not None and warm.stdin is not None
            warm.stdout.readline()
            warm.stdin.write("\n")
            warm.stdin.flush()
            warm.wait(30)
            time.sleep(0.5)
            before = rss(server.pid)
            clients = subprocess.Popen(
                [sys.executable, "-c", _CLIENTS, str(pki), str(port), str(connections)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert clients.stdout is not None and clients.stdin is not None
            opened = int(clients.stdout.readline())
            if opened != connections:
                raise RuntimeError(f"only {opened} connections opened")
            time.sleep(1.0)
            after = rss(server.pid)
            clients.stdin.write("\n")
            clients.stdin.flush()
            clients.wait(30)
        finally:
            server.terminate()
            server.wait(10)
    return before, after


def run(connections: int = DEFAULT_CONNECTIONS, progress: Callable[[str], None] = lambda s: None) -> MemoryReport:
    phases = 3 if connections else 1
    progress(f"[1/{phases}] peak memory of decoding at the limits")
    decodes = decode_peaks()
    rss: dict[str, tuple[int, int]] = {}
    if connections:
        progress(f"[2/{phases}] server RSS with {connections:,} idle TLS connections ({STOCK})")
        rss[STOCK] = connection_rss(connections)
        progress(f"[3/{phases}] server RSS with {connections:,} idle TLS connections ({SMALL})")
        rss[SMALL] = connection_rss(connections, SMALL_BUFFER)
    return MemoryReport(decodes, connections, rss)


def format_report(report: MemoryReport) -> str:
    limit = DEFAULT_LIMITS.max_decompressed_size
    lines = [
        "| Decoding | Codec | Input bytes | Peak traced memory | Peak / input | Peak / max_decompressed_size | Result |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for d in report.decodes:
        lines.append(
            f"| {d.case} | {d.codec} | {d.input_bytes:,} | {d.peak_bytes / 2**20:,.2f} MiB | "
            f"{d.peak_bytes / d.input_bytes:,.1f}x | {d.peak_bytes / limit:.2f}x | {d.outcome} |"
        )
    if report.rss:
        lines += [
            "",
            "| Server | Idle mutual-TLS connections | RSS before | After | Per connection | Goal | Met |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for variant, (before, after) in report.rss.items():
            per = report.per_connection(variant)
            lines.append(
                f"| {variant} | {report.connections:,} | {before / 2**20:,.1f} MiB | {after / 2**20:,.1f} MiB | "
                f"{per / 1024:,.1f} KiB | < {GOAL_PER_CONNECTION // 1024} KiB | {'yes' if per < GOAL_PER_CONNECTION else '**no**'} |"
            )
    return "\n".join(lines)
