"""``sink certs``, ``sink serve``, ``sink connect`` and ``sink publish``: the reference peers as commands.

Each command is a function of a settings value (:class:`ServeSettings`,
:class:`ConnectSettings`, :class:`PublishSettings`) that :mod:`sinktools.cli`
builds from the command line; the conformance self-test builds them too, to
run the reference peers with a mutant's options.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sinkproto.certs import DevPki, make_dev_pki
from sinkproto.events import PeerClosed
from sinkproto.handshake import Quarantine
from sinkproto.messages import ConnectionResponse, Response
from sinkproto.peers import SinkClient, SinkServer, client_context, server_context
from sinkproto.peers.service import ServerPolicy, StoreClient, StoreServer, registry_readers
from sinkproto.records import RecordSchemas
from sinkproto.schemas import default_registry
from sinkproto.session.declared import PROFILES
from sinkproto.store import EventStore

from .ops import REFUSAL_HINTS

__all__ = [
    "ClientSettings",
    "ConnectSettings",
    "PublishSettings",
    "ServeSettings",
    "build_server",
    "certs",
    "connect",
    "publish",
    "serve",
    "EXIT_REFUSED",
]

#: Exit status of `sink connect` and `sink publish --server` when the server refused the connection (HS-17).
EXIT_REFUSED = 3


@dataclass(frozen=True, kw_only=True)
class ServeSettings:
    """`sink serve`'s options (the command line's defaults)."""

    listen: tuple[str, int] = ("127.0.0.1", 7443)
    certs: str = "certs"  #: folder made by `sink certs`
    db: str = "sink-server.db"  #: SQLite event store
    keepalive: float = 60.0  #: K in seconds (KEEP-1)
    quarantine: tuple[str, ...] = ()  #: CLIENT[:REASON] items (HS-18)
    reject_app_version: tuple[str, ...] = ()  #: answered unsupported_application_version
    nack_key_prefix: str | None = None  #: NACK events whose key starts with this (a poison trigger)
    publish_on_connect: int = 0  #: events published to each client after each handshake
    protocol_version: int = 1  #: highest version accepted: 1 accepts 0 and 1 (VER-6), 0 refuses 1 (VER-9)
    schemas: str | None = None  #: schema registry folder (default: ./schemas, or above, or the kit's)
    no_reader_schemas: bool = False  #: store every event, declare no reader schemas
    max_sessions: int | None = None  #: connections served at once; further accepted ones wait (None: no bound)
    retry_after: int | None = None  #: seconds a refused version-1 client is told to wait (CLOSE-4, CLOSE-9)
    declare_limits: str | None = None  #: a named profile of receive limits declared on version 1 (DECL-1)
    context_bases: int = 16  #: bases kept per client and declared to version-1 clients (CTX-1, CTX-9); 0: none
    context_lifetime: int = 86400  #: seconds each base is kept at least (CTX-9)


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    """What `sink connect` and `sink publish` share: the server, the identity, the store."""

    server: tuple[str, int] | None = None  #: HOST:PORT of the server (`sink publish` without it only appends)
    certs: str = "certs"
    name: str = "client"  #: client identity: uses client-NAME.pem/.key
    server_hostname: str = "localhost"  #: name to verify in the server certificate
    app_version: str = "sink-reference/0.1"  #: application version sent in the handshake
    keepalive: float = 60.0
    db: str = "sink-client.db"
    protocol_version: int = 0  #: 1: offer version 1, fall back to 0 for a server that refuses it (VER-2)
    declare_limits: str | None = None  #: a named profile of receive limits declared on version 1 (DECL-1)


@dataclass(frozen=True, kw_only=True)
class ConnectSettings(ClientSettings):
    """`sink connect`'s options."""

    until_synced: bool = False  #: exit once everything pending is answered (exit 3 at the first refusal)
    publish: int = 0  #: test events (type 1, key sink-connect/NAME) appended on start
    publish_records: bool = False  #: the test events are meter_reading v2 readings, codable in records mode


@dataclass(frozen=True, kw_only=True)
class PublishSettings(ClientSettings):
    """`sink publish`'s options: the events to append (then, with ``server``, synced)."""

    event_type: int
    key: str
    data: bytes
    schema_version: int = 1
    count: int = 1


def _open_store(path: Path) -> EventStore:
    return EventStore.open(path, new_instance_id=lambda: random.SystemRandom().randrange(1 << 32))  # HS-6


def certs(out: Path, clients: list[str]) -> int:
    """`sink certs`: a development CA, server and client certificates in ``out`` (kept when they exist)."""
    ca_kept, server_kept = (out / "ca.key").exists(), (out / "server.pem").exists()
    clients_before = {client: (out / f"client-{client}.pem").exists() for client in clients}
    pki = make_dev_pki(out, list(clients))

    def state(kept: bool, *, reissued: bool = False) -> str:
        return "kept (it existed)" if kept else ("issued again by the CA" if reissued else "created")

    print(f"CA:      {pki.ca}  {state(ca_kept)}")
    print(f"server:  {pki.server_cert} (DNS:localhost, IP:127.0.0.1)  {state(server_kept)}")
    for client in clients:
        print(
            f"client:  {pki.client_cert(client)}  (identity {client!r})  "
            f"{state(False, reissued=clients_before[client])}"
        )
    created = [not ca_kept, not server_kept, *(True for _ in clients)]
    print(
        f"sink certs: {sum(created)} certificate{'s' if sum(created) != 1 else ''} written, "
        f"{len(created) - sum(created)} kept, in {out}"
    )
    return 0


def build_server(settings: ServeSettings, **server_options: object) -> tuple[SinkServer, EventStore]:
    """The reference server as `sink serve` configures it (also used by the conformance self-test).

    It accepts protocol versions 0 and 1 on one port (VER-6), or only 0 with
    ``--protocol-version 0`` (VER-9). Unless ``--no-reader-schemas``, it reads
    what the schema registry defines: it declares that on version-1
    connections and NACKs other events ``unknown_schema`` (SNEG-3, SNEG-8).
    """
    pki = DevPki(Path(settings.certs))
    store = _open_store(Path(settings.db))
    registry = (
        None if settings.no_reader_schemas else default_registry(Path(settings.schemas) if settings.schemas else None)
    )
    quarantined = {}
    for item in settings.quarantine:
        client, _, reason = item.partition(":")
        quarantined[client] = Quarantine(machine_message=b"QUARANTINED", human_message=reason.encode())
    policy = ServerPolicy(
        quarantined=quarantined,
        rejected_app_versions=frozenset(v.encode() for v in settings.reject_app_version),
        nack_key_prefix=settings.nack_key_prefix.encode() if settings.nack_key_prefix else None,
        publish_on_connect=settings.publish_on_connect,
        readers=None if registry is None else registry_readers(registry),
        retry_after=settings.retry_after,
        context_bases=settings.context_bases,
        context_lifetime=settings.context_lifetime,
    )
    handler_class = server_options.pop("handler_class", StoreServer)
    plaintext = server_options.pop("plaintext", False)  # only a conformance mutant speaks without TLS
    given_context = server_options.pop("ssl_context", None)
    context = (
        None
        if plaintext
        else (given_context or server_context(cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca))
    )
    # RECORD-2: the schemas it reads are the ones records batches may use, both ways
    record_schemas = None if registry is None else RecordSchemas.from_registry(registry)
    if "record_schemas" in server_options:  # a conformance mutant's own choice
        record_schemas = server_options.pop("record_schemas")  # type: ignore[assignment]
    versions = server_options.pop("versions", tuple(range(settings.protocol_version + 1)))  # VER-6, VER-9
    options: dict[str, Any] = {
        "keepalive": settings.keepalive,
        "record_schemas": record_schemas,
        "max_sessions": settings.max_sessions,
        "declare": PROFILES[settings.declare_limits] if settings.declare_limits else None,
        **server_options,
    }
    server = SinkServer(
        handler_class(store, policy),  # type: ignore[operator]
        context,  # type: ignore[arg-type]
        versions=versions,  # type: ignore[arg-type]
        **options,
    )
    return server, store


async def serve(settings: ServeSettings, **server_options: object) -> int:
    """`sink serve`: run until SIGINT or SIGTERM."""
    server, store = build_server(settings, **server_options)
    host, port = await server.start(*settings.listen)
    versions = "0 and 1" if settings.protocol_version == 1 else "0"
    print(
        f"sink serve: listening on {host}:{port}, store {settings.db} (instance id {store.instance_id:#010x}), "
        f"protocol version {versions}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("sink serve: shutting down", flush=True)
    await server.close()
    store.close()
    return 0


async def _sync(
    settings: ClientSettings,
    store: EventStore,
    *,
    until_synced: bool,
    handler_class: type[StoreClient] = StoreClient,
    **client_options: object,
) -> int:
    pki = DevPki(Path(settings.certs))
    assert settings.server is not None
    host, port = settings.server
    dead_before = len(store.dead_letters(f"{host}:{port}"))
    handler = handler_class(store, server_name=f"{host}:{port}", app_version=settings.app_version.encode())
    context = client_context(ca=pki.ca, cert=pki.client_cert(settings.name), key=pki.client_key(settings.name))
    # VER-1, VER-2: with version 1 it offers 1 and falls back to 0 per server
    record_schemas = RecordSchemas.from_registry(default_registry()) if settings.protocol_version == 1 else None
    versions = client_options.pop("versions", tuple(range(settings.protocol_version + 1)))
    client = SinkClient(
        handler,
        context,
        host,
        port,
        versions=versions,  # type: ignore[arg-type]
        server_hostname=settings.server_hostname,
        keepalive=settings.keepalive,
        record_schemas=record_schemas,
        declare=PROFILES[settings.declare_limits] if settings.declare_limits else None,
        **client_options,  # type: ignore[arg-type]
    )
    runner = asyncio.create_task(client.run())
    total = store.lag(handler.server_name)
    seen = 0  # refusals already reported: each refused attempt is reported once
    closes_seen = 0  # the server's CLOSEs already reported (version 1)
    try:
        while True:
            try:  # a refusal wakes this loop at once: after instance_id_mismatch no second attempt is made
                await asyncio.wait_for(handler.refused_now.wait(), 0.5)
            except TimeoutError:
                pass
            handler.refused_now.clear()
            if runner.done():  # the client loop ended by itself: an error it could not handle
                runner.result()
                return 1
            lag = store.lag(handler.server_name)
            while seen < len(handler.refusals):  # normally one: this loop wakes at each refusal
                refusal = handler.refusals[seen]
                seen += 1
                fallback = _is_fallback(client, refusal)
                stops = not fallback and (until_synced or refusal.response is Response.INSTANCE_ID_MISMATCH)
                # a fallback is news, not a failure: stdout; a refusal: stderr
                print(
                    _refusal_text(client, refusal, fallback=fallback, count=seen, stops=stops),
                    file=sys.stdout if fallback else sys.stderr,
                    flush=True,
                )
                if stops:
                    await _connection_over(client, handler, closes_seen)  # a version-1 refusal's CLOSE follows it
                    _print_closes(handler, closes_seen)
                    return EXIT_REFUSED  # HS-16: the operator decides; nothing is resolved here
            closes_seen = _print_closes(handler, closes_seen)
            if total and sys.stderr.isatty():
                print(f"\rsynced {total - lag}/{total}", end="", file=sys.stderr, flush=True)
            if until_synced and client.connected.is_set() and handler.synced.is_set():
                print(
                    f"sink: synced; {_dead_letters_line(store, handler.server_name, dead_before, settings.db)}",
                    flush=True,
                )
                return 0
    finally:
        await client.stop()
        runner.cancel()
        try:
            await runner
        except asyncio.CancelledError:
            pass


async def _connection_over(client: SinkClient, handler: StoreClient, closes_seen: int) -> None:
    """Until the refused connection has ended or its CLOSE arrived (at most a second)."""
    for _ in range(100):
        if client.session is None or len(handler.closes) > closes_seen:
            return
        await asyncio.sleep(0.01)


def _print_closes(handler: StoreClient, seen: int) -> int:
    """CLOSE-10: one line per CLOSE the server sent (stdout for a drain, stderr otherwise); returns how many."""
    for closed in handler.closes[seen:]:
        print(_close_text(closed), file=sys.stdout if closed.error_class == "no_error" else sys.stderr, flush=True)
    return len(handler.closes)


def _close_text(closed: PeerClosed) -> str:
    """``sink: the server closed the connection: CLASS [REQUIREMENT] (text); last message id N; retry after S s``."""
    line = f"sink: the server closed the connection: {closed.error_class}"
    if closed.requirement:
        line += f" [{closed.requirement}]"
    if closed.human_message:
        line += f" ({closed.human_message.decode('utf-8', 'replace')})"
    if closed.last_message_id is not None:
        line += f"; last message id {closed.last_message_id}"
    if closed.retry_after is not None:
        line += f"; not reconnecting for {closed.retry_after} s (CLOSE-9)"
    return line


def _is_fallback(client: SinkClient, response: ConnectionResponse) -> bool:
    """A version-1 client's refused offer: it offers version 0 next (VER-2, HS-21), nothing for the operator."""
    return client.fell_back(response) is not None


def _refusal_text(client: SinkClient, response: ConnectionResponse, *, fallback: bool, count: int, stops: bool) -> str:
    """One line per refused attempt (HS-17): the response, its messages when it has them, what to do.

    ``count``: refusals so far in this run; the hint is given with the first one only.
    """
    name = response.response.wire_name
    versions = client.fell_back(response) if fallback else None
    if versions is not None:
        return f"sink: the server refused protocol version {versions[0]} ({name}); fell back to version {versions[1]}"
    messages = [m.decode("utf-8", "replace") for m in (response.machine_message, response.human_message) if m]
    line = f"sink: the server refused the connection: {name}" + (f" ({': '.join(messages)})" if messages else "")
    if count > 1:
        line += f" (refusal {count} of this run)"
    hint = REFUSAL_HINTS.get(name)
    if hint and (count == 1 or stops):
        line += f"\n  {hint}"
    if stops:
        return line + f"\n  sink: stopped (exit {EXIT_REFUSED})"
    if count == 1:
        line += "\n  retrying with a growing delay: 50 ms, 1 s, 5 s, 30 s, then every 60 s (DELIV-7, DELIV-9)"
    return line


def _dead_letters_line(store: EventStore, server: str, before: int, db: str) -> str:
    """The dead letters this run made, apart from those of earlier runs (the store keeps them all)."""
    total = len(store.dead_letters(server))
    new = total - before
    older = f" ({before} from earlier runs)" if before else ""
    return f"{new} new dead letter{'s' if new != 1 else ''}{older}" + (
        f"; see `sink dead-letters list --db {db}`" if new else ""
    )


def _test_event_data(settings: ConnectSettings, index: int) -> tuple[int, bytes]:
    """(schema_version, event_data) of one `sink connect --publish` test event: opaque bytes of type 1 version 1, or
    with ``publish_records`` a meter_reading version 2 reading whose energy register grows from event to event, so
    that batches of them go in records mode and context coding (RECORD-2, CTX-13)."""
    if not settings.publish_records:
        return 1, b"sink connect test event"
    record = {
        "meter_serial": f"SM5R-{settings.name[:12]}",
        "interval_seconds": 900,
        "active_energy_import_wh": 1_000_000 + 250 * index,
        "active_energy_export_wh": 0,
        "voltage_dv": 2300,
        "current_ma": 1_500,
        "power_factor_permille": 950,
        "frequency_mhz": 50_000,
        "reactive_energy_varh": None,
        "phase": "SINGLE",
    }
    return 2, default_registry().encode(1, 2, record)


async def connect(settings: ConnectSettings, **client_options: object) -> int:
    """`sink connect` (also run by the conformance self-test, with mutants' options)."""
    store = _open_store(Path(settings.db))
    try:
        if settings.publish:
            # A test load: each start appends new events, so a client under test
            # always has something to publish (sink-check client mode).
            for i in range(settings.publish):
                version, data = _test_event_data(settings, i)
                store.append(
                    event_type_id=1,
                    key=f"sink-connect/{settings.name}".encode(),
                    schema_version=version,
                    timestamp=int(time.time()),
                    event_data=data,
                )
        return await _sync(settings, store, until_synced=settings.until_synced, **client_options)  # type: ignore[arg-type]
    finally:
        store.close()


async def publish(settings: PublishSettings) -> int:
    """`sink publish`: append the events; with ``server``, sync until everything pending is answered."""
    store = _open_store(Path(settings.db))
    try:
        for _ in range(settings.count):
            event = store.append(
                event_type_id=settings.event_type,
                key=settings.key.encode(),
                schema_version=settings.schema_version,
                timestamp=int(time.time()),
                event_data=settings.data,
            )
        print(f"sink publish: appended {settings.count} event(s); last offset {event.offset}", flush=True)
        if settings.server is None:
            return 0
        return await _sync(settings, store, until_synced=True)
    finally:
        store.close()
