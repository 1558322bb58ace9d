"""``SinkUser``: a Locust user that is a meter gateway speaking Sink (``sink-check load --engine locust``).

Loaded by Locust (``locust -f``) in its own processes, never imported by the asyncio code:
Locust monkeypatches the standard library with gevent when imported. The scenario comes from
the JSON file named by ``SINK_LOAD_SETTINGS`` (written by :mod:`.locust_engine` from the
command line of the same ``sink-check load`` on each machine).

Each user drives the kit's sans-I/O :class:`~sinkproto.connection.Connection` over a gevent
mutual-TLS socket, with its own certificate identity (DELIV-10): it connects with the
instance-id handshake (and sends the server's instance id it learned on every reconnect,
HS-13), publishes ``rate / clients`` events per second (single PUBLISH, or version-1 batches of
``batch`` events), checks every ACK and NACK against what it sent (the Connection raises a
``ProtocolError`` for an answer to an id not in flight), answers PINGs (the Connection's
timers), and after a drop reconnects with the spec's backoff (DELIV-7..DELIV-9) and sends the
unanswered events again (DELIV-1, MSGID-13). Locust's request statistics carry the ACK latency
per frame kind (``ACK``/``PUBLISH``, ``BATCH_RESULT``/``BATCH_PUBLISH``); failures carry the
error class. At the end each user sends its per-identity counts to the master (a custom
message, ``sink_user_done``), which writes them all to the results file.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import ssl
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event as Flag
from gevent.lock import Semaphore
from locust import User, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner
from sinkproto.connection import Connection, Role, State
from sinkproto.errors import SinkError
from sinkproto.events import (
    BatchAnswered,
    BatchReceived,
    ConnectionClosed,
    ConnectionEvent,
    EventReceived,
    HandshakeCompleted,
    HandshakeRefused,
    ProtocolError,
    PublishAcked,
    PublishNacked,
)
from sinkproto.messages import ConnectionRequest, Event, Response
from sinkproto.peers import Backoff

DONE_MESSAGE = "sink_user_done"  # worker -> master: one user's counts, at its end
READY_MESSAGE = "sink_user_ready"  # worker -> master: one user connected, or gave up
GO_MESSAGE = "sink_go"  # master -> workers: every user is connected (or gave up): publish
WANT_MESSAGE = "sink_want_scenario"  # worker -> master, once its runner is set up
SCENARIO_MESSAGE = "sink_scenario"  # master -> that worker: the master's scenario
#: What the master decides for every worker; the rest (the server's address, the CA, the identities) is
#: each machine's own.
SHARED = (
    "clients",
    "rate",
    "duration",
    "drain",
    "drain_max",
    "connect_timeout",
    "connect_concurrency",
    "event_size",
    "seed",
    "batch",
    "keepalive",
    "app_version",
    "workers",
    "run_tag",
)


class SinkLoadError(Exception):
    """A failure in Locust's statistics: its message is the error class (``nack``, ``unknown_id``, ...)."""


def _settings() -> dict[str, Any]:
    path = os.environ.get("SINK_LOAD_SETTINGS")
    return json.loads(Path(path).read_text()) if path else {}


SETTINGS = _settings()
_next_user = itertools.count()
_mint_lock = Semaphore()
_results: list[dict[str, Any]] = []
_written = False
_scenario = Flag()  # a worker's users wait for the master's scenario; elsewhere it is this process's own
_go = Flag()  # set when the master says every user is ready, as the asyncio engine connects all first
_ready: list[bool] = []
_last_answer = [0.0]  # monotonic time of the last answer or handshake any user of this process received


def _identity(index: int, worker: int) -> tuple[Path, Path]:
    """The certificate and key of this process's user number ``index`` (identities are never shared)."""
    from sinkcheck.load_mode import identities_from_dir, mint_identities

    folder = Path(SETTINGS["identities"])
    if SETTINGS.get("mint_ca_key"):
        with _mint_lock:  # one minting at a time: the users of a process share the folder
            [identity] = mint_identities(
                Path(SETTINGS["mint_ca_cert"]),
                Path(SETTINGS["mint_ca_key"]),
                1,
                folder,
                prefix=f"sink-load-w{worker}",
                start=index,
            )
    else:  # a shared folder: worker w takes every n-th identity from the w-th
        found = identities_from_dir(folder)
        position = index * max(1, SETTINGS["workers"]) + worker
        if position >= len(found):
            raise SinkLoadError(f"no identity left in {folder} for user {index} of worker {worker}")
        identity = found[position]
    return identity.cert, identity.key


class SinkUser(User):
    """One meter gateway: one identity, one connection at a time, its own offsets."""

    def on_start(self) -> None:
        if not _scenario.wait(timeout=60):
            raise SinkLoadError("no scenario from the master in 60 s")
        s = SETTINGS
        runner = self.environment.runner
        self.worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        self.index = next(_next_user)
        self.rng = random.Random(f"{s['seed']}/{self.worker}/{self.index}")
        self.errors: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.sent_at: dict[int, float] = {}  # offset -> monotonic time of its last send
        self.acked: set[int] = set()
        self.pending: list[Event] = []  # produced, not yet sent on the current connection
        self.latencies: list[float] = []
        self.nacked = self.duplicates = self.reconnects = self.closed_by_server = 0
        self.handshake_seconds: float | None = None
        self.first_publish = self.last_answer = self.drain_seconds = 0.0
        self.offset = 0
        self.conn: Connection | None = None
        self.sock: ssl.SSLSocket | None = None
        self.wants_write = Flag()
        self.is_open = Flag()
        self.finished = False
        self.server_instance_id: int | None = None
        self.backoff = Backoff(self.rng.uniform)
        self.batch = int(s["batch"])
        self.versions = (0, 1) if self.batch > 1 else (0,)
        self.data = random.Random(s["seed"]).randbytes(int(s["event_size"]))
        try:
            cert, key = _identity(self.index, self.worker)
        except (OSError, ValueError, SinkLoadError) as exc:
            self.identity_name = f"w{self.worker}-{self.index}"
            self.key = self.identity_name.encode()
            self._error("identity", str(exc))
            self.tls_context: ssl.SSLContext | None = None
            return
        self.identity_name = cert.stem.removeprefix("client-")
        self.key = f"sink-load/{s['run_tag']}/{self.identity_name}".encode()
        self.client_instance_id = zlib.crc32(cert.name.encode())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cafile=s["ca"])
        context.load_cert_chain(cert, key)
        self.tls_context = context

    # -- statistics -------------------------------------------------------------------------------------

    def _error(self, kind: str, detail: str, *, request: tuple[str, str] = ("CONNECTION", "error")) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, f"{self.identity_name}: {detail}")
        self.environment.events.request.fire(
            request_type=request[0],
            name=request[1],
            response_time=0,
            response_length=0,
            exception=SinkLoadError(kind),
            context={},
        )

    def _answered(self, event: Event, now: float, kind: tuple[str, str], nack: bytes | None = None) -> None:
        offset = event.offset
        sent = self.sent_at.pop(offset, None)
        self.last_answer = time.time()
        _last_answer[0] = now
        if nack is not None:
            self.nacked += 1
            self._error("nack", f"NACK {nack!r} for offset {offset}", request=kind)
            return
        if offset in self.acked:
            self.duplicates += 1
            return
        self.acked.add(offset)
        latency = now - sent if sent is not None else 0.0
        self.latencies.append(latency)
        self.environment.events.request.fire(
            request_type=kind[0],
            name=kind[1],
            response_time=latency * 1000,
            response_length=len(event.event_data),
            exception=None,
            context={},
        )

    # -- the connection ---------------------------------------------------------------------------------

    def _flush(self) -> None:
        """Wake the writer: the reader must never block on a full send buffer (the server may be blocked
        sending to us, its own events fanned out, and then neither side would read)."""
        self.wants_write.set()

    def _writer(self, conn: Connection, sock: ssl.SSLSocket) -> None:
        while True:
            self.wants_write.wait()
            self.wants_write.clear()
            data = conn.data_to_send()
            if data:
                try:
                    sock.sendall(data)
                except (OSError, ssl.SSLError) as exc:
                    self._dropped(f"send: {exc!r}")
                    return

    def _on_events(self, happened: list[ConnectionEvent], now: float) -> None:
        conn = self.conn
        for event in happened:
            if isinstance(event, HandshakeCompleted):
                if self.handshake_seconds is None:
                    self.handshake_seconds = now - self.connect_started
                _last_answer[0] = now
                if event.response.response is Response.HELLO_NEW_CLIENT:
                    self.server_instance_id = event.response.server_instance_id  # HS-13: remembered
                self.backoff.reset()  # DELIV-9
                self.is_open.set()
            elif isinstance(event, HandshakeRefused):
                self._error("refused", f"{event.response.response.name} instead of connected/hello_new_client")
            elif isinstance(event, PublishAcked):
                self._answered(event.event, now, ("ACK", "PUBLISH"))
            elif isinstance(event, PublishNacked):
                self._answered(event.event, now, ("NACK", "PUBLISH"), nack=event.machine_message)
            elif isinstance(event, BatchAnswered):
                refused = {entry.index: entry for entry in event.nacked}
                for i, published in enumerate(event.events):
                    nack = refused[i].machine_message if i in refused else None
                    self._answered(published, now, ("BATCH_RESULT", "BATCH_PUBLISH"), nack=nack)
            elif isinstance(event, EventReceived) and conn is not None:
                conn.ack(event.message_id, now)  # the server's own events: answered, not counted
            elif isinstance(event, BatchReceived) and conn is not None:
                conn.answer_batch(event.message_id, now)
            elif isinstance(event, ProtocolError):
                kind = "unknown_id" if event.error_class == "unknown_message_id" else event.error_class
                self._error(kind, f"{event.requirement}: {event.detail}")
            elif isinstance(event, ConnectionClosed):
                self._closed(event)

    def _closed(self, closed: ConnectionClosed) -> None:
        # DELIV-1, MSGID-13: what was not answered goes again, first, on the next connection
        self.pending[:0] = list(closed.unanswered)
        self.is_open.clear()
        if self.finished or closed.reason == "local_close":
            return
        if closed.reason == "peer_closed":
            self.closed_by_server += 1
            self._error("closed", "the server closed the connection")
        elif closed.reason == "keepalive_timeout":  # KEEP-5: 1.5 K without a frame from the server
            self._error("keepalive_timeout", "no frame from the server for 1.5 K")
        elif closed.reason == "handshake_refused":
            pass  # counted as refused
        else:
            pass  # protocol_error: counted with its error class

    def _dropped(self, why: str) -> None:
        conn = self.conn
        if conn is not None and self.is_open.is_set() and not self.finished:
            self._error("connection", why)
            self._on_events(conn.receive_data(b"", time.monotonic()), time.monotonic())
        self.is_open.clear()

    def _session(self) -> None:
        """One connection: TLS, the handshake, then read until it closes."""
        s = SETTINGS
        assert self.tls_context is not None
        self.connect_started = time.monotonic()
        try:
            raw = socket.create_connection((s["host"], s["port"]), timeout=s["connect_timeout"])
            sock = self.tls_context.wrap_socket(raw, server_hostname=s["server_hostname"])
            sock.settimeout(None)
        except (OSError, ssl.SSLError) as exc:
            self._error("connect", repr(exc))
            return
        now = time.monotonic()
        conn = Connection(
            Role.CLIENT,
            now=now,
            message_id_start=self.rng.randrange(4096),
            versions=self.versions,
            keepalive=float(s["keepalive"]),
        )
        self.conn, self.sock = conn, sock
        conn.send_request(
            ConnectionRequest(
                app_version=bytes.fromhex(s["app_version"]),
                client_instance_id=self.client_instance_id,
                server_instance_id=self.server_instance_id,
                version=max(self.versions),
            ),
            now,
        )
        writer = gevent.spawn(self._writer, conn, sock)
        self._flush()
        timer = gevent.spawn(self._timers, conn)
        try:
            while True:
                try:
                    data = sock.recv(65536)
                except (OSError, ssl.SSLError) as exc:
                    self._dropped(f"receive: {exc!r}")
                    break
                now = time.monotonic()
                self._on_events(conn.receive_data(data, now), now)
                self._flush()
                if not data or conn.state is State.CLOSED:
                    break
                self._pump()
        finally:
            timer.kill()
            writer.kill()
            self.is_open.clear()
            sock.close()

    def _timers(self, conn: Connection) -> None:
        """KEEP-4: the Connection sends PING when idle K and closes after 1.5 K of silence."""
        while True:
            deadline = conn.next_timer()
            gevent.sleep(0.5 if deadline is None else max(0.0, deadline - time.monotonic()))
            now = time.monotonic()
            deadline = conn.next_timer()
            if deadline is not None and now >= deadline:
                self._on_events(conn.handle_timer(now), now)
                self._flush()

    def _keep_connected(self) -> None:
        """Connect, and after each drop reconnect with the spec's backoff, until the run is over."""
        first = True
        while not self.finished:
            if not first:
                self.reconnects += 1
            first = False
            self._session()
            if self.finished:
                return
            gevent.sleep(self.backoff.next_delay())

    def _pump(self) -> None:
        """Send what is pending while the Connection takes it (MSGID-4, MSGID-5, MSGID-6)."""
        conn = self.conn
        if conn is None or not self.is_open.is_set():
            return
        now = time.monotonic()
        try:
            while self.pending:
                if conn.negotiated_version == 1 and self.batch > 1:
                    chunk = self.pending[: self.batch]
                    if not conn.can_publish():
                        break
                    conn.publish_batch(chunk, now)
                else:
                    chunk = self.pending[:1]
                    if not conn.can_publish(chunk[0]):
                        break
                    conn.publish(chunk[0], now)
                del self.pending[: len(chunk)]
                for event in chunk:
                    self.sent_at[event.offset] = now
        except SinkError as exc:
            self._error("local", repr(exc))
        self._flush()

    # -- the scenario -----------------------------------------------------------------------------------

    @task
    def gateway(self) -> None:
        s = SETTINGS
        if self.tls_context is None:  # no identity: counted as ready (not connected), so the others go
            self.environment.runner.send_message(READY_MESSAGE, {"connected": False})
            self._report()
            raise StopUser
        keeper = gevent.spawn(self._keep_connected)
        # like the asyncio engine: a client that cannot connect in time publishes nothing (an error), and
        # publishing starts when every client of every worker is connected
        connected = self.is_open.wait(timeout=s["connect_timeout"])
        self.environment.runner.send_message(READY_MESSAGE, {"connected": bool(connected)})
        if not connected:
            self._error("connect", f"not connected after {s['connect_timeout']:g} s")
            self.finished = True
            keeper.kill()
            self._report()
            raise StopUser
        _go.wait(timeout=s["connect_timeout"] + int(s["clients"]) / max(1, int(s["connect_concurrency"])) + 30)
        per_user = float(s["rate"]) / int(s["clients"])  # events per second
        interval = self.batch / per_user if per_user > 0 else float("inf")
        started = time.monotonic()
        next_at = started + self.rng.uniform(0, min(interval, 1.0))  # spread the users' ticks
        self.first_publish = time.time()
        while next_at < started + float(s["duration"]):
            gevent.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            for _ in range(self.batch):  # a meter produces readings whether connected or not
                self.offset += 1
                self.pending.append(
                    Event(
                        event_type_id=1,
                        schema_version=1,
                        key=self.key,
                        offset=self.offset,
                        timestamp=int(time.time()),
                        event_data=self.data,
                    )
                )
            self._pump()
        self._drain(float(s["drain"]), float(s["drain_max"]))
        self._report()
        self.finished = True
        if self.conn is not None:
            self.conn.close()
            self._flush()
        if self.sock is not None:
            self.sock.close()
        keeper.kill()
        raise StopUser

    def _outstanding(self) -> int:
        return self.offset - len(self.acked) - self.nacked

    def _drain(self, quiet: float, longest: float) -> None:
        """Wait while answers still come: until none is outstanding, no user of this process got one for
        ``quiet`` s (a saturated server answers the others first: slow, not silent), or ``longest`` s."""
        started = time.monotonic()
        while self._outstanding() > 0:
            gevent.sleep(0.05)
            self._pump()
            now = time.monotonic()
            if now - max(started, _last_answer[0]) >= quiet or now - started >= longest:
                break
        self.drain_seconds = time.monotonic() - started

    def _report(self) -> None:
        # sent and not answered (an answer pops its offset), and never sent (produced while disconnected)
        unanswered = {*self.sent_at, *(event.offset for event in self.pending)} - self.acked
        summary = {
            "identity": self.identity_name,
            "key": self.key.decode(),
            "worker": self.worker,
            "connected": self.handshake_seconds is not None,
            "handshake_seconds": self.handshake_seconds,
            "open_at_end": self.is_open.is_set(),
            "published": self.offset,
            "acked": sorted(self.acked),
            "unanswered": sorted(unanswered),
            "nacked": self.nacked,
            "duplicates": self.duplicates,
            "reconnects": self.reconnects,
            "closed_by_server": self.closed_by_server,
            "latencies": [round(v, 6) for v in self.latencies],
            "errors": dict(self.errors),
            "examples": self.examples,
            "first_publish": self.first_publish,
            "last_answer": self.last_answer,
            "drain_seconds": self.drain_seconds,
        }
        self.environment.runner.send_message(DONE_MESSAGE, summary)


# -- the master (or the one local process): collect every user's counts, write them, quit ----------------


def _write_results(environment: Any) -> None:
    global _written
    if _written or not SETTINGS.get("results"):
        return
    _written = True
    stats = []
    for entry in environment.stats.entries.values():
        stats.append(
            {
                "type": entry.method,
                "name": entry.name,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "p50_ms": entry.get_response_time_percentile(0.5),
                "p99_ms": entry.get_response_time_percentile(0.99),
            }
        )
    failures = [
        {"type": f.method, "name": f.name, "error": str(f.error), "count": f.occurrences}
        for f in environment.stats.errors.values()
    ]
    Path(SETTINGS["results"]).write_text(json.dumps({"users": _results, "stats": stats, "failures": failures}))


def _on_ready(environment: Any, msg: Any, **_kwargs: Any) -> None:
    _ready.append(msg.data["connected"])
    if len(_ready) == int(SETTINGS["clients"]):
        environment.runner.send_message(GO_MESSAGE, {"connected": sum(_ready)})


def _on_go(environment: Any, msg: Any, **_kwargs: Any) -> None:
    _last_answer[0] = time.monotonic()  # the drain's quiet counts from here at the earliest
    _go.set()


def _on_done(environment: Any, msg: Any, **_kwargs: Any) -> None:
    _results.append(msg.data)
    if len(_results) >= int(SETTINGS["clients"]):
        # the results once the workers' last statistics are in (they report every 3 s), then quit
        gevent.spawn_later(3.5 if isinstance(environment.runner, MasterRunner) else 0.2, _finish, environment)


def _finish(environment: Any) -> None:
    _write_results(environment)
    environment.runner.quit()


@events.init.add_listener
def _on_init(environment: Any, **_kwargs: Any) -> None:
    runner = environment.runner
    if runner is None:
        return
    if not isinstance(runner, WorkerRunner):
        runner.register_message(DONE_MESSAGE, _on_done)
        runner.register_message(READY_MESSAGE, _on_ready)
    if not isinstance(runner, MasterRunner):
        runner.register_message(GO_MESSAGE, _on_go)
    if isinstance(runner, MasterRunner):
        runner.register_message(WANT_MESSAGE, _on_want)
    if isinstance(runner, WorkerRunner):
        runner.register_message(SCENARIO_MESSAGE, _on_scenario)
        runner.send_message(WANT_MESSAGE, {})
    else:
        _scenario.set()


def _on_want(environment: Any, msg: Any, **_kwargs: Any) -> None:
    environment.runner.send_message(SCENARIO_MESSAGE, {key: SETTINGS[key] for key in SHARED}, client_id=msg.node_id)


def _on_scenario(environment: Any, msg: Any, **_kwargs: Any) -> None:
    SETTINGS.update(msg.data)
    _scenario.set()


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kwargs: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        _write_results(environment)
