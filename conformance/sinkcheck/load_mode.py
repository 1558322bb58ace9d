"""``sink-check load server HOST:PORT``: many concurrent mutual-TLS clients publishing at a fixed aggregate rate.

Two engines run the same scenario and write the same report: this module's asyncio engine (the
default: one process, one asyncio loop) and Locust's (``--engine locust``, :mod:`sinkcheck.load`:
one process or a master and workers on many machines). Each client is a real connection with its own
certificate identity (a server keeps one connection per identity, DELIV-10,
so N clients need N identities: ``--identities DIR`` or ``--mint-ca-key``).
Each completes a handshake; then a scheduler hands PUBLISH frames to the
clients round-robin at the aggregate rate R for D seconds, and every ACK is
matched to its message id. Afterwards the runner keeps waiting while answers
still arrive: it stops when none came for ``--drain`` seconds, or after
``--drain-max``. What is still unanswered then is reported as such, never as
lost: a saturated server is slow, not lossy. Only the server's store can say
whether an event was stored; with ``--reference-store`` (the database of a
`sink serve` under test) the runner reads it and reports, for every
published event, whether the server stored it.

Frames are built with the reference codec, as everywhere in sink-check; the
verdict comes from the bytes received, never from the reference state machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import resource
import ssl
import subprocess
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from sinkproto import (
    Ack,
    ConnectionRequest,
    ConnectionResponse,
    DecodeError,
    Deframer,
    Event,
    Limits,
    Nack,
    Ping,
    Pong,
    Publish,
    Response,
    decode_frame,
    encode_frame,
    frame_bytes,
)

from . import __version__
from .profile import Identity, Profile, ProfileOptions

__all__ = [
    "IdentityCounts",
    "LoadCommand",
    "LocustOptions",
    "LoadSettings",
    "LoadResult",
    "StoreCheck",
    "load_server",
    "run_load",
    "check_store",
    "load_checks",
    "mint_identities",
    "identities_from_dir",
    "raise_fd_limit",
    "percentile",
]

REPORT_SCHEMA_VERSION = 2
#: What a load run observes, and the requirement each observation can show broken. A run marks a
#: requirement failed only when it saw it broken; slowness breaks none of them.
CHECKS = {
    "load.handshake": ("HS-9",),  # a first request is answered hello_new_client (or connected), never refused
    "load.answers": ("MSGID-8", "ACK-1"),  # each PUBLISH answered once, by an ACK/NACK with its message id
    "load.store": ("MSGID-9",),  # --reference-store: every ACKed event is in the server's store
}
REQUIREMENTS = tuple(rid for requirements in CHECKS.values() for rid in requirements)


@dataclass(frozen=True)
class LoadSettings:
    clients: int
    rate: float  # PUBLISH frames per second, all clients together
    duration: float  # seconds of publishing
    drain: float = 5.0  # seconds without a new answer after which the runner stops waiting
    drain_max: float = 60.0  # seconds the runner waits for answers at most, after publishing stopped
    connect_concurrency: int = 64  # handshakes in progress at once (the server's accept backlog is finite)
    connect_timeout: float = 30.0
    event_size: int = 64  # bytes of event_data
    seed: int = 0
    batch: int = 1  # events per publish: 1 a PUBLISH, more a version-1 BATCH_PUBLISH (the locust engine)


@dataclass(frozen=True)
class LocustOptions:
    """``--engine locust``: where this process sits in Locust's runner."""

    role: str = "local"  # local (headless, one machine), master, or worker
    workers: int = 0  # local: worker processes to start here (0: one process); master: workers to wait for
    master_host: str = "127.0.0.1"  # a worker: the master's address
    master_port: int = 5557
    bind_host: str = "*"  # the master: the interface it listens on for workers


@dataclass(frozen=True)
class LoadCommand:
    """``sink-check load server HOST:PORT``: the server, the run, and where identities and reports come from."""

    target: tuple[str, int]
    settings: LoadSettings
    profile: ProfileOptions = ProfileOptions()
    identities: Path | None = None  # client-NAME.pem/.key pairs (with mint_ca_key: where minted ones are kept)
    mint_ca_key: Path | None = None  # issue one client certificate per client with this CA key ...
    mint_ca_cert: Path | None = None  # ... and this CA certificate (default: the profile's CA)
    reference_store: Path | None = None  # the database of the `sink serve` under test
    json: Path | None = None  # where the JSON report goes
    engine: str = "asyncio"  # or "locust" (sinkcheck.load.locust_engine)
    locust: LocustOptions = LocustOptions()


@dataclass
class IdentityCounts:
    """One identity's events at the end of a run, from either engine (a Locust worker sends it to the master)."""

    key: bytes
    published: int  # its events are offsets 1..published
    acked: list[int]  # the offsets ACKed
    unanswered: list[int]  # the offsets published and never answered (neither ACK nor NACK)


@dataclass
class LoadResult:
    clients: int
    connected: int = 0
    connect_seconds: float = 0.0
    handshake_latencies: list[float] = field(default_factory=list)
    published: int = 0
    acked: int = 0
    nacked: int = 0
    latencies: list[float] = field(default_factory=list)
    publish_seconds: float = 0.0
    unanswered: int = 0  # still in flight when the drain ended
    late: int = 0  # answers that came more than `drain` seconds after publishing stopped
    late_after: float = float("inf")  # perf_counter time after which an answer counts as late
    publish_started: float = 0.0  # perf_counter time
    last_answer: float = 0.0  # perf_counter time of the last ACK or NACK
    drain_seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    closed_by_server: int = 0
    store: StoreCheck | None = None
    identities: list[IdentityCounts] = field(default_factory=list)
    duplicates: int = 0  # ACKs of an offset already ACKed (a resend after a drop may earn a second one)
    reconnects: int = 0
    engine: str = "asyncio"
    workers: int = 1  # load processes
    engine_stats: dict[str, Any] | None = None  # the locust engine: Locust's own statistics

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.error_examples.setdefault(kind, detail)

    @property
    def verdict(self) -> str:
        """``fail``: an error, or the store lacks an ACKed event; ``incomplete``: nothing failed, but answers
        were still outstanding when the drain ended; ``pass``: everything answered, nothing failed."""
        if (
            self.connected < self.clients
            or self.errors
            or self.published == 0
            or (self.store is not None and (self.store.acked_not_stored or self.store.stored_twice))
        ):
            return "fail"
        return "incomplete" if self.unanswered else "pass"

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"


@dataclass
class StoreCheck:
    """The reference server's store, read after the run: which published events it holds."""

    path: str
    published: int = 0
    stored: int = 0
    acked_not_stored: int = 0  # MSGID-9: an ACK before the event was durable (or it was lost after)
    unanswered_stored: int = 0  # stored; the ACK had not arrived when the drain ended
    unanswered_not_stored: int = 0  # never ACKed, not stored: the sender keeps it and sends it again (DELIV-1)
    stored_twice: int = 0  # published events the store holds more than once
    examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is a latency that happened)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, int(-(-share * len(ordered) // 1)))  # ceil
    return ordered[min(rank, len(ordered)) - 1]


def note_skipped(result: LoadResult) -> None:
    """An offset never answered while a later one of the same identity was ACKed: the server skipped an
    answer (MSGID-8), which no wait would bring; a slow server answers late ones after, not instead."""
    for counts in result.identities:
        highest = max(counts.acked, default=0)
        skipped = [offset for offset in counts.unanswered if offset < highest]
        for offset in skipped:
            result.error("skipped", f"{counts.key.decode()} offset {offset}: never answered, offset {highest} was")


def never_acked(result: LoadResult, limit: int = 50) -> dict[str, Any]:
    """The events published and never acknowledged, by identity and offset (the first ``limit``)."""
    listed = [f"{c.key.decode()} offset {offset}" for c in result.identities for offset in c.unanswered]
    return {"count": len(listed), "events": listed[:limit]}


def raise_fd_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; every client costs one descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed + 256)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def identities_from_dir(directory: Path) -> list[Identity]:
    """Every ``client-NAME.pem`` with its ``client-NAME.key`` (what ``sink certs --client NAME`` writes)."""
    out = []
    for cert in sorted(directory.glob("client-*.pem")):
        key = cert.with_suffix(".key")
        if key.exists():
            out.append(Identity(cert=cert, key=key))
    return out


def mint_identities(
    ca_cert: Path, ca_key: Path, count: int, directory: Path, *, prefix: str = "sink-load", start: int = 0
) -> list[Identity]:
    """``count`` client certificates signed by the given CA, ``PREFIX-NNNNN`` from number ``start`` (reused
    when already in ``directory``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from sinkproto.certs import Authority, issue_client

    authority = Authority(
        key=serialization.load_pem_private_key(ca_key.read_bytes(), password=None),  # type: ignore[arg-type]
        certificate=x509.load_pem_x509_certificate(ca_cert.read_bytes()),
        cert_path=ca_cert,
    )
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + count):
        name = f"{prefix}-{i:05d}"
        cert = directory / f"client-{name}.pem"
        if not cert.exists():
            issue_client(authority, directory, name)
        out.append(Identity(cert=cert, key=cert.with_suffix(".key")))
    return out


class LoadClient:
    """One connection: handshake, then PUBLISH frames handed to it by the scheduler; answers matched by id."""

    def __init__(self, index: int, identity: Identity, *, run_tag: str, result: LoadResult, profile: Profile) -> None:
        self.index = index
        self.identity = identity
        self.result = result
        self.profile = profile
        self.key = f"sink-load/{run_tag}/{index}".encode()
        # stable per identity, so that a rerun is an "interrupted first handshake", never a mismatch
        self.client_instance_id = zlib.crc32(identity.cert.name.encode())
        self.offset = 0
        self.next_id = 0
        self.in_flight: dict[int, tuple[float, int]] = {}  # message id -> (perf_counter at send, event offset)
        self.acked: list[int] = []  # offsets of the events ACKed
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.open = False
        self.last_sent = 0.0
        self._reader_task: asyncio.Task[None] | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        assert self.profile.ca is not None
        context.load_verify_locations(cafile=self.profile.ca)
        context.load_cert_chain(self.identity.cert, self.identity.key)
        return context

    async def connect(self, host: str, port: int, timeout: float) -> None:
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=self.context(), server_hostname=self.profile.server_hostname),
                timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            self.result.error("connect", f"client {self.index}: {exc!r}")
            return
        self.reader, self.writer = reader, writer
        writer.write(
            frame_bytes(
                encode_frame(
                    ConnectionRequest(app_version=self.profile.app_version, client_instance_id=self.client_instance_id)
                )
            )
        )
        deframer = Deframer(Limits())
        try:
            frames: list[bytes] = []
            while not frames:
                data = await asyncio.wait_for(reader.read(65536), timeout)
                if not data:
                    self.result.error("handshake", f"client {self.index}: closed before the connection response")
                    return
                frames = deframer.feed(data)
            response = decode_frame(frames[0])
        except (OSError, TimeoutError, ssl.SSLError, DecodeError) as exc:
            self.result.error("handshake", f"client {self.index}: {exc!r}")
            return
        if not isinstance(response, ConnectionResponse) or response.response not in (
            Response.CONNECTED,
            Response.HELLO_NEW_CLIENT,
        ):
            # a first request without server_instance_id (or an interrupted one): HS-9 says hello_new_client
            self.result.error("refused", f"client {self.index}: {response!r} instead of connected/hello_new_client")
            return
        self.result.handshake_latencies.append(time.perf_counter() - started)
        self.open = True
        self.last_sent = time.perf_counter()
        self._reader_task = asyncio.create_task(self._read(deframer, frames[1:]))

    async def _read(self, deframer: Deframer, pending: list[bytes]) -> None:
        assert self.reader is not None
        try:
            for frame in pending:
                self._on_frame(frame)
            while self.open:
                data = await self.reader.read(65536)
                if not data:
                    if self.open:
                        self.result.closed_by_server += 1
                        self.result.error("closed", f"client {self.index}: the server closed the connection")
                    break
                for frame in deframer.feed(data):
                    self._on_frame(frame)
        except (OSError, ssl.SSLError, DecodeError) as exc:
            if self.open:
                self.result.error("connection", f"client {self.index}: {exc!r}")
        finally:
            self.open = False

    def _on_frame(self, frame: bytes) -> None:
        now = time.perf_counter()
        try:
            value = decode_frame(frame)
        except DecodeError as exc:
            self.result.error("undecodable", f"client {self.index}: {exc}")
            return
        if isinstance(value, (Ack, Nack)):
            flight = self.in_flight.pop(value.message_id, None)
            if flight is None:
                self.result.error(
                    "unknown_id",
                    f"client {self.index}: {type(value).__name__} of message id "
                    f"{value.message_id}, which is not in flight",
                )
                return
            sent, offset = flight
            if now > self.result.late_after:
                self.result.late += 1
            self.result.last_answer = now
            if isinstance(value, Ack):
                self.result.acked += 1
                self.acked.append(offset)
                self.result.latencies.append(now - sent)
            else:
                self.result.nacked += 1
                self.result.error("nack", f"client {self.index}: NACK {value.machine_message!r}")
        elif isinstance(value, Publish):  # the server's own events: answered, not counted
            self._write(encode_frame(Ack(message_id=value.message_id)))
        elif isinstance(value, Ping):
            self._write(encode_frame(Pong()))
        elif not isinstance(value, Pong):
            self.result.error("unexpected", f"client {self.index}: {type(value).__name__}")

    def _write(self, frame: bytes) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(frame_bytes(frame))
            self.last_sent = time.perf_counter()

    def publish(self, data: bytes) -> bool:
        """Send one PUBLISH now; False when this client cannot take one (closed, or 4,096 in flight)."""
        if not self.open or len(self.in_flight) >= 4096:
            return False
        while self.next_id in self.in_flight:
            self.next_id = (self.next_id + 1) & 0xFFF
        message_id, self.next_id = self.next_id, (self.next_id + 1) & 0xFFF
        self.offset += 1
        event = Event(
            event_type_id=1,
            schema_version=1,
            key=self.key,
            offset=self.offset,
            timestamp=int(time.time()),
            event_data=data,
        )
        self.in_flight[message_id] = (time.perf_counter(), self.offset)
        self._write(encode_frame(Publish(message_id=message_id, event=event)))
        self.result.published += 1
        return True

    def counts(self) -> IdentityCounts:
        return IdentityCounts(
            key=self.key,
            published=self.offset,
            acked=sorted(self.acked),
            unanswered=sorted(offset for _, offset in self.in_flight.values()),
        )

    def keepalive(self, k: float) -> None:
        """KEEP-4: a client PINGs after K idle; half of K keeps a margin on a loaded loop."""
        if self.open and time.perf_counter() - self.last_sent >= k / 2:
            self._write(encode_frame(Ping()))

    async def close(self) -> None:
        self.open = False
        if self.writer is not None:
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 2)
            except (OSError, TimeoutError, ssl.SSLError):
                pass
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)


async def run_load(
    host: str,
    port: int,
    identities: list[Identity],
    profile: Profile,
    settings: LoadSettings,
    *,
    progress: Any = None,
    store: Path | None = None,
) -> LoadResult:
    """``store``: the reference server's database, read after the run (:func:`check_store`)."""
    result = LoadResult(clients=settings.clients)
    run_tag = f"{int(time.time()) % 100000:05d}-{random.Random().randrange(1 << 16):04x}"
    clients = [
        LoadClient(i, identities[i], run_tag=run_tag, result=result, profile=profile) for i in range(settings.clients)
    ]
    gate = asyncio.Semaphore(settings.connect_concurrency)

    async def connect(client: LoadClient) -> None:
        async with gate:
            await client.connect(host, port, settings.connect_timeout)

    # KEEP-4 for the whole run: clients that connected first wait for the others, then for the drain.
    pinger = asyncio.create_task(_keepalive(clients, profile.keepalive))
    started = time.perf_counter()
    await asyncio.gather(*(connect(c) for c in clients))
    result.connect_seconds = time.perf_counter() - started
    live = [c for c in clients if c.open]
    result.connected = len(live)
    if progress:
        progress(f"{result.connected}/{settings.clients} clients connected in {result.connect_seconds:.1f} s")
    try:
        if live:
            await _publish_phase(live, settings, result)
            result.late_after = time.perf_counter() + settings.drain
            await _drain(live, settings, result)
        result.unanswered = sum(len(c.in_flight) for c in clients)
        result.identities = [c.counts() for c in clients if c.offset]
        note_skipped(result)
    finally:
        pinger.cancel()
        await asyncio.gather(pinger, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in clients))
    if store is not None:
        result.store = check_store(store, result.identities)
    return result


async def _drain(live: list[LoadClient], settings: LoadSettings, result: LoadResult) -> None:
    """Wait for the outstanding answers while they still come: until none is outstanding, none came for
    ``drain`` seconds, or ``drain_max`` seconds passed."""
    loop = asyncio.get_running_loop()
    started = last_progress = loop.time()
    answered = result.acked + result.nacked
    while any(c.in_flight and c.open for c in live):
        now = loop.time()
        if result.acked + result.nacked != answered:
            answered, last_progress = result.acked + result.nacked, now
        if now - last_progress >= settings.drain or now - started >= settings.drain_max:
            break
        await asyncio.sleep(0.02)
    result.drain_seconds = loop.time() - started


def check_store(path: Path, identities: list[IdentityCounts]) -> StoreCheck:
    """Read the reference server's store (``sink serve --db PATH``): every event the identities published,
    ACKed or not, is looked up by (event_type_id, key, offset) among the events it received, and counted."""
    from sinkproto.store import EventStore

    def no_new_store() -> int:
        raise ValueError(f"{path} is not a store (it would be created)")

    check = StoreCheck(path=str(path))
    with EventStore.open(path, new_instance_id=no_new_store) as store:
        keys = {c.key for c in identities}
        stored = Counter(
            (event.key, event.offset) for _, event in store.received() if event.key in keys and event.event_type_id == 1
        )
    for counts in identities:
        unanswered = set(counts.unanswered)
        check.published += counts.published
        for offset in range(1, counts.published + 1):
            times = stored[(counts.key, offset)]
            here = times > 0
            check.stored += here
            if times > 1:
                check.stored_twice += 1
                if len(check.examples) < 3:
                    check.examples.append(f"{counts.key.decode()} offset {offset}: stored {times} times")
            if offset in unanswered:
                check.unanswered_stored += here
                check.unanswered_not_stored += not here
        for offset in counts.acked:
            if (counts.key, offset) not in stored:
                check.acked_not_stored += 1
                if len(check.examples) < 3:
                    check.examples.append(f"{counts.key.decode()} offset {offset}: ACKed, not in the store")
    return check


async def _keepalive(clients: list[LoadClient], k: float) -> None:
    while True:
        await asyncio.sleep(min(1.0, k / 4))
        for client in clients:
            client.keepalive(k)


async def _publish_phase(live: list[LoadClient], settings: LoadSettings, result: LoadResult) -> None:
    """Hand out PUBLISH frames at the aggregate rate, round-robin from a seeded random start."""
    data = random.Random(settings.seed).randbytes(settings.event_size)
    turn = random.Random(settings.seed).randrange(len(live))
    tick = 0.005
    started = time.perf_counter()
    sent = 0
    while True:
        now = time.perf_counter()
        elapsed = now - started
        if elapsed >= settings.duration:
            break
        due = int(settings.rate * elapsed) - sent
        skipped = 0
        while due > 0 and skipped < len(live):
            client = live[turn % len(live)]
            turn += 1
            if client.publish(data):
                sent += 1
                due -= 1
                skipped = 0
            else:
                skipped += 1
        await asyncio.sleep(tick)
    result.publish_started = started
    result.publish_seconds = time.perf_counter() - started


def load_report(result: LoadResult, settings: LoadSettings, *, target: str, started: dt.datetime) -> dict[str, Any]:
    lat = result.latencies
    hs = result.handshake_latencies

    def ms(value: float) -> float | None:
        return None if value != value else round(value * 1000, 3)  # NaN: no sample

    return {
        "report_schema": REPORT_SCHEMA_VERSION,
        "tool": "sink-check",
        "mode": "load",
        "engine": result.engine,
        "workers": result.workers,
        "kit_version": __version__,
        "target": target,
        "started": started.isoformat(),
        "settings": settings.__dict__,
        "verdict": result.verdict,
        "clients": {
            "requested": result.clients,
            "connected": result.connected,
            "connect_seconds": round(result.connect_seconds, 3),
            "handshake_ms": {
                "p50": ms(percentile(hs, 0.5)),
                "p99": ms(percentile(hs, 0.99)),
                "max": ms(max(hs) if hs else float("nan")),
            },
        },
        "published": result.published,
        "acked": result.acked,
        "nacked": result.nacked,
        "late": result.late,
        "unanswered": result.unanswered,
        # published, never ACKed or NACKed, by identity and offset: the events the report cannot vouch for
        "never_acked": never_acked(result),
        "duplicates": result.duplicates,
        "reconnects": result.reconnects,
        "drain_seconds": round(result.drain_seconds, 3),
        # proven losses only: ACKed events the server's store does not hold (null: no store was read)
        "lost": None if result.store is None else result.store.acked_not_stored,
        "store": None if result.store is None else result.store.to_json(),
        "publish_seconds": round(result.publish_seconds, 3),
        "offered_rate": settings.rate,
        # ACKs per second from the first PUBLISH to the last answer: late answers count, and so does their wait
        "throughput": round(result.acked / answering, 1)
        if (answering := max(result.publish_seconds, result.last_answer - result.publish_started)) > 0
        else 0.0,
        "ack_latency_ms": {
            "p50": ms(percentile(lat, 0.5)),
            "p90": ms(percentile(lat, 0.9)),
            "p99": ms(percentile(lat, 0.99)),
            "max": ms(max(lat) if lat else float("nan")),
        },
        "errors": dict(result.errors),
        "error_examples": result.error_examples,
        "closed_by_server": result.closed_by_server,
        "engine_stats": result.engine_stats,
    }


def load_checks(result: LoadResult) -> tuple[list[tuple[str, str, tuple[str, ...]]], dict[str, str]]:
    """The rollup rows (check, outcome, requirements) and the requirements the run could not judge.

    A requirement is marked failed only by what shows it broken: a refused handshake (HS-9), an
    answer for a message id that is not in flight (MSGID-8, ACK-1), an ACKed event missing from the
    reference store (MSGID-9). Connection failures, closes and NACKs fail the run as errors but
    name no requirement; answers still outstanding after the drain name none either, unless a later
    event of the same identity was ACKed meanwhile (``skipped``: MSGID-8)."""
    rows: list[tuple[str, str, tuple[str, ...]]] = []
    not_checked: dict[str, str] = {}
    if result.connected or result.errors.get("refused"):
        rows.append(("load.handshake", "fail" if result.errors.get("refused") else "pass", CHECKS["load.handshake"]))
    if result.published:
        if result.errors.get("unknown_id") or result.errors.get("skipped"):
            rows.append(("load.answers", "fail", CHECKS["load.answers"]))
        elif result.unanswered:
            rows.append(("load.answers", "pass", ("ACK-1",)))
            not_checked["MSGID-8"] = (
                f"{result.unanswered} PUBLISH unanswered after the drain "
                f"({result.drain_seconds:.1f} s): slow or silent, the run cannot tell"
            )
        else:
            rows.append(("load.answers", "pass", CHECKS["load.answers"]))
    if result.store is not None:
        broken = result.store.acked_not_stored or result.store.stored_twice
        rows.append(("load.store", "fail" if broken else "pass", CHECKS["load.store"]))
    else:
        not_checked["MSGID-9"] = "no --reference-store: the run cannot see what the server stored"
    return rows, not_checked


def print_report(console: Console, report: dict[str, Any]) -> None:
    c, lat = report["clients"], report["ack_latency_ms"]
    drain = report["settings"]["drain"]
    console.print(f"engine      {report['engine']} ({report['workers']} load processes)", highlight=False)
    console.print(
        f"clients     {c['connected']}/{c['requested']} connected in {c['connect_seconds']} s "
        f"(handshake p50 {c['handshake_ms']['p50']} ms, p99 {c['handshake_ms']['p99']} ms)",
        highlight=False,
    )
    console.print(
        f"published   {report['published']} in {report['publish_seconds']} s (offered {report['offered_rate']:g}/s)",
        highlight=False,
    )
    late = f" ({report['late']} late: more than {drain:g} s after publishing stopped)" if report["late"] else ""
    console.print(
        f"answered    {report['acked']} ACK, {report['nacked']} NACK{late}; throughput {report['throughput']} ACK/s",
        highlight=False,
    )
    console.print(
        f"ACK latency p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, max {lat['max']} ms",
        highlight=False,
    )
    unanswered = report["unanswered"]
    console.print(
        f"unanswered  {'nothing' if not unanswered else f'{unanswered} PUBLISH unanswered after the drain'} "
        f"(drain {report['drain_seconds']} s: it ends after {drain:g} s without a new answer, "
        f"{report['settings']['drain_max']:g} s at most)",
        highlight=False,
    )
    missing = report["never_acked"]
    if missing["count"]:
        shown = ", ".join(missing["events"][:5])
        console.print(f"never ACKed {missing['count']} published events (e.g. {shown})", highlight=False)
    if report["duplicates"] or report["reconnects"]:
        console.print(
            f"reconnects  {report['reconnects']}; {report['duplicates']} duplicate ACKs (of events resent after a drop)",
            highlight=False,
        )
    store = report["store"]
    if store is not None:
        console.print(
            f"store       {store['stored']} of {store['published']} published events in the server's store "
            f"({store['path']})",
            highlight=False,
        )
        if unanswered:
            console.print(
                f"            of the unanswered: {store['unanswered_stored']} stored (the ACK was late), "
                f"{store['unanswered_not_stored']} not stored (never ACKed: the sender keeps them)",
                highlight=False,
            )
        if store["stored_twice"]:
            console.print(
                f"[red]duplicate[/]   {store['stored_twice']} events are in the store more than once "
                f"(e.g. {store['examples'][0]})",
                highlight=False,
            )
        if store["acked_not_stored"]:
            console.print(
                f"[red]lost[/]        {store['acked_not_stored']} ACKed events are not in the store "
                f"(e.g. {store['examples'][0]})",
                highlight=False,
            )
    for kind, count in report["errors"].items():
        console.print(f"[red]error[/]       {kind}: {count} (e.g. {report['error_examples'][kind]})", highlight=False)
    style = {"pass": "green", "incomplete": "yellow"}.get(report["verdict"], "bold red")
    note = ""
    if report["verdict"] == "incomplete":
        note = (
            ": no requirement failed, but answers were still outstanding when the drain ended "
            "(raise --drain-max, or lower --rate)"
        )
    console.print(f"[{style}]{report['verdict'].upper()}[/]{note}", highlight=False)


def load_server(command: LoadCommand) -> int:
    """Run ``sink-check load server``: check identities and limits, load the server, print and write the report."""
    console = Console()
    settings = command.settings
    try:
        profile = command.profile.load()
        if profile.ca is None:
            raise ValueError("no CA for the server certificate: --ca or the profile's ca")
        if settings.batch > 1 and command.engine != "locust":
            raise ValueError("--batch N (version-1 batches) needs --engine locust")
        if command.engine == "locust":
            import importlib.util

            if importlib.util.find_spec("locust") is None:  # found, not imported: it monkeypatches with gevent
                raise ValueError('--engine locust needs Locust: pip install "sink-protocol[load]"')
            if not (command.mint_ca_key or command.identities):
                raise ValueError(
                    "--engine locust needs --identities DIR or --mint-ca-key KEY: a server keeps one "
                    "connection per identity (DELIV-10), and each Locust user takes its own"
                )
            identities = []
        elif command.mint_ca_key:
            folder = command.identities or Path(tempfile.mkdtemp(prefix="sink-load-"))
            identities = mint_identities(
                command.mint_ca_cert or profile.ca, command.mint_ca_key, settings.clients, folder
            )
        elif command.identities:
            identities = identities_from_dir(command.identities)
        else:
            identities = [i for i in (profile.identity("main"),) if i is not None]
        if command.engine != "locust" and len(identities) < settings.clients:
            raise ValueError(
                f"{settings.clients} clients need {settings.clients} certificate identities, found "
                f"{len(identities)}: a server keeps one connection per identity (DELIV-10); use "
                "--identities DIR or --mint-ca-key KEY"
            )
    except (OSError, ValueError) as exc:
        console.print(f"[bold magenta]sink-check load: {exc}[/]", highlight=False)
        return 2
    limit = raise_fd_limit(settings.clients)
    if limit < settings.clients + 64:
        console.print(f"[bold magenta]sink-check load: only {limit} file descriptors for {settings.clients} clients[/]")
        return 2
    store = command.reference_store
    if store is not None and not store.is_file():
        console.print(f"[bold magenta]sink-check load: --reference-store {store}: no such database[/]", highlight=False)
        return 2
    host, port = command.target
    console.print(
        f"sink-check load: {settings.clients} clients, {settings.rate:g} PUBLISH/s for "
        f"{settings.duration:g} s against {host}:{port}",
        highlight=False,
    )
    started = dt.datetime.now(dt.UTC)
    if command.engine == "locust":
        from .load.locust_engine import run_locust

        try:
            outcome = run_locust(
                command, profile, store=store, progress=lambda text: console.print(text, highlight=False)
            )
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            console.print(f"[bold magenta]sink-check load: {exc}[/]", highlight=False)
            return 2
        if isinstance(outcome, int):  # a worker: the master writes the report
            return outcome
        return _finish(console, outcome, command, started)
    result = asyncio.run(
        run_load(
            host,
            port,
            identities[: settings.clients],
            profile,
            settings,
            progress=lambda text: console.print(text, highlight=False),
            store=store,
        )
    )
    return _finish(console, result, command, started)


def _finish(console: Console, result: LoadResult, command: LoadCommand, started: dt.datetime) -> int:
    """Print and write the one load report, whichever engine ran."""
    host, port = command.target
    report = load_report(result, command.settings, target=f"{host}:{port}", started=started)
    print_report(console, report)
    from .coverage import report_coverage

    rows, not_checked = load_checks(result)
    report["requirements"] = report_coverage(console, rows, mode="load")
    report["requirements"]["not_checked"] = not_checked
    for rid, why in not_checked.items():
        console.print(f"  not checked: {rid} ({why})", highlight=False)
    if command.json:
        command.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if result.ok else 1
