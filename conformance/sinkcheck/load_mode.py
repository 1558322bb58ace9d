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
import ssl
import subprocess
import tempfile
import time
import zlib
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

from .profile import Identity, Profile

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

from .load.report import (  # the model and report both engines share
    IdentityCounts,
    LoadCommand,
    LoadResult,
    LoadSettings,
    LocustOptions,
    StoreCheck,
    check_store,
    identities_from_dir,
    load_checks,
    load_report,
    mint_identities,
    note_skipped,
    percentile,
    print_report,
    raise_fd_limit,
)


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
