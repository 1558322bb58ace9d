"""``sink certs``, ``sink serve``, ``sink connect`` and ``sink publish``: the reference peers as commands."""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from pathlib import Path

from .certs import DevPki, make_dev_pki
from .handshake import Quarantine
from .messages import ConnectionResponse, Response
from .ops_commands import REFUSAL_HINTS
from .peers import SinkClient, SinkServer, client_context, server_context
from .peers.service import ServerPolicy, StoreClient, StoreServer, registry_readers
from .peers.v1 import SinkClientV1, SinkServerV1
from .records import RecordSchemas
from .schemas import default_registry
from .store import EventStore

__all__ = ["register", "run_client", "run_server", "add_connect_options", "add_serve_options", "EXIT_REFUSED"]

#: Exit status of `sink connect` and `sink publish --server` when the server refused the connection (HS-17).
EXIT_REFUSED = 3


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _open_store(path: Path) -> EventStore:
    return EventStore.open(path, new_instance_id=lambda: random.SystemRandom().randrange(1 << 32))  # HS-6


def cmd_certs(args: argparse.Namespace) -> int:
    out = Path(args.out)
    ca_kept, server_kept = (out / "ca.key").exists(), (out / "server.pem").exists()
    clients_before = {client: (out / f"client-{client}.pem").exists() for client in args.client}
    pki = make_dev_pki(out, list(args.client))

    def state(kept: bool, *, reissued: bool = False) -> str:
        return "kept (it existed)" if kept else ("issued again by the CA" if reissued else "created")

    print(f"CA:      {pki.ca}  {state(ca_kept)}")
    print(f"server:  {pki.server_cert} (DNS:localhost, IP:127.0.0.1)  {state(server_kept)}")
    for client in args.client:
        print(f"client:  {pki.client_cert(client)}  (identity {client!r})  "
              f"{state(False, reissued=clients_before[client])}")
    created = [not ca_kept, not server_kept, *(True for _ in args.client)]
    print(f"sink certs: {sum(created)} certificate{'s' if sum(created) != 1 else ''} written, "
          f"{len(created) - sum(created)} kept, in {out}")
    return 0


def build_server(args: argparse.Namespace, **server_options: object) -> tuple[SinkServer, EventStore]:
    """The reference server as `sink serve` configures it (also used by the conformance self-test).

    It accepts protocol versions 0 and 1 on one port (VER-6), or only 0 with
    ``--protocol-version 0`` (VER-9). Unless ``--no-reader-schemas``, it reads
    what the schema registry defines: it declares that on version-1
    connections and NACKs other events ``unknown_schema`` (SNEG-3, SNEG-8).
    """
    pki = DevPki(Path(args.certs))
    store = _open_store(Path(args.db))
    registry = None if args.no_reader_schemas else default_registry(Path(args.schemas) if args.schemas else None)
    quarantined = {}
    for item in args.quarantine:
        client, _, reason = item.partition(":")
        quarantined[client] = Quarantine(machine_message=b"QUARANTINED", human_message=reason.encode())
    policy = ServerPolicy(quarantined=quarantined,
                          rejected_app_versions=frozenset(v.encode() for v in args.reject_app_version),
                          nack_key_prefix=args.nack_key_prefix.encode() if args.nack_key_prefix else None,
                          publish_on_connect=args.publish_on_connect,
                          readers=None if registry is None else registry_readers(registry))
    handler_class = server_options.pop("handler_class", StoreServer)
    replace_previous = bool(server_options.pop("replace_previous", True))
    plaintext = server_options.pop("plaintext", False)  # only a conformance mutant speaks without TLS
    given_context = server_options.pop("ssl_context", None)
    context = None if plaintext else (given_context or server_context(cert=pki.server_cert, key=pki.server_key,
                                                                      client_ca=pki.ca))
    # RECORD-2: the schemas it reads are the ones records batches may use, both ways
    record_schemas = None if registry is None else RecordSchemas.from_registry(registry)
    if "record_schemas" in server_options:  # a conformance mutant's own choice
        record_schemas = server_options.pop("record_schemas")  # type: ignore[assignment]
    server = SinkServerV1(handler_class(store, policy), context, version=args.protocol_version,  # type: ignore[operator]
                          keepalive=args.keepalive, record_schemas=record_schemas, **server_options)
    server.replace_previous = replace_previous
    return server, store


async def run_server(args: argparse.Namespace, **server_options: object) -> int:
    server, store = build_server(args, **server_options)
    host, port = await server.start(*args.listen)
    versions = "0 and 1" if args.protocol_version == 1 else "0"
    print(f"sink serve: listening on {host}:{port}, store {args.db} (instance id {store.instance_id:#010x}), "
          f"protocol version {versions}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("sink serve: shutting down", flush=True)
    await server.close()
    store.close()
    return 0


async def _sync(args: argparse.Namespace, store: EventStore, *, until_synced: bool,
                handler_class: type[StoreClient] = StoreClient, **client_options: object) -> int:
    pki = DevPki(Path(args.certs))
    host, port = args.server
    dead_before = len(store.dead_letters(f"{host}:{port}"))
    handler = handler_class(store, server_name=f"{host}:{port}", app_version=args.app_version.encode())
    context = client_context(ca=pki.ca, cert=pki.client_cert(args.name), key=pki.client_key(args.name))
    if getattr(args, "protocol_version", 0) == 1:  # VER-1, VER-2: offers 1, falls back to 0 per server
        client: SinkClient = SinkClientV1(handler, context, host, port, server_hostname=args.server_hostname,
                                          keepalive=args.keepalive,
                                          record_schemas=RecordSchemas.from_registry(default_registry()),
                                          **client_options)  # type: ignore[arg-type]
    else:
        client = SinkClient(handler, context, host, port, server_hostname=args.server_hostname,
                            keepalive=args.keepalive, **client_options)  # type: ignore[arg-type]
    runner = asyncio.create_task(client.run())
    total = store.lag(handler.server_name)
    seen = 0  # refusals already reported: each refused attempt is reported once
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
                print(_refusal_text(client, refusal, fallback=fallback, count=seen, stops=stops),
                      file=sys.stdout if fallback else sys.stderr, flush=True)
                if stops:
                    return EXIT_REFUSED  # HS-16: the operator decides; nothing is resolved here
            if total and sys.stderr.isatty():
                print(f"\rsynced {total - lag}/{total}", end="", file=sys.stderr, flush=True)
            if until_synced and client.connected.is_set() and handler.synced.is_set():
                print(f"sink: synced; {_dead_letters_line(store, handler.server_name, dead_before, args.db)}", flush=True)
                return 0
    finally:
        await client.stop()
        runner.cancel()
        try:
            await runner
        except asyncio.CancelledError:
            pass


def _is_fallback(client: SinkClient, response: ConnectionResponse) -> bool:
    """A version-1 client's refused offer: it offers version 0 next (VER-2, HS-21), nothing for the operator."""
    return isinstance(client, SinkClientV1) and client.fell_back(response) is not None


def _refusal_text(client: SinkClient, response: ConnectionResponse, *, fallback: bool, count: int, stops: bool) -> str:
    """One line per refused attempt (HS-17): the response, its messages when it has them, what to do.

    ``count``: refusals so far in this run; the hint is given with the first one only.
    """
    name = response.response.wire_name
    versions = client.fell_back(response) if fallback and isinstance(client, SinkClientV1) else None
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
        f"; see `sink dead-letters list --db {db}`" if new else "")


async def run_client(args: argparse.Namespace, **client_options: object) -> int:
    """`sink connect` (also run by the conformance self-test, with mutants' options)."""
    store = _open_store(Path(args.db))
    try:
        if args.publish:
            # A test load: each start appends new events, so a client under test
            # always has something to publish (sink-check client mode).
            for _ in range(args.publish):
                store.append(event_type_id=1, key=f"sink-connect/{args.name}".encode(), schema_version=1,
                             timestamp=int(time.time()), event_data=b"sink connect test event")
        return await _sync(args, store, until_synced=args.until_synced, **client_options)  # type: ignore[arg-type]
    finally:
        store.close()


async def _publish(args: argparse.Namespace) -> int:
    store = _open_store(Path(args.db))
    try:
        data = bytes.fromhex(args.data_hex) if args.data_hex else args.data.encode()
        for _ in range(args.count):
            event = store.append(event_type_id=args.event_type, key=args.key.encode(), schema_version=args.schema_version,
                                 timestamp=int(time.time()), event_data=data)
        print(f"sink publish: appended {args.count} event(s); last offset {event.offset}", flush=True)
        if args.server is None:
            return 0
        return await _sync(args, store, until_synced=True)
    finally:
        store.close()


def _add_client_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--server", type=_address, required=required, help="HOST:PORT of the Sink server")
    p.add_argument("--certs", default="certs", help="folder made by `sink certs` (default: certs)")
    p.add_argument("--name", default="client", help="client identity: uses client-NAME.pem/.key")
    p.add_argument("--server-hostname", default="localhost", help="name to verify in the server certificate")
    p.add_argument("--app-version", default="sink-reference/0.1", help="application version sent in the handshake")
    p.add_argument("--keepalive", type=float, default=60.0, help="keepalive interval K in seconds (KEEP-1)")


def add_connect_options(connect: argparse.ArgumentParser) -> None:
    _add_client_options(connect, required=True)
    connect.add_argument("--db", default="sink-client.db", help="SQLite event store")
    connect.add_argument("--until-synced", action="store_true",
                         help="exit once everything pending is answered (exit 3 at the first refusal)")
    connect.add_argument("--publish", type=int, default=0, metavar="N",
                         help="append N test events (type 1, key sink-connect/NAME) to the store on start")
    connect.add_argument("--protocol-version", type=int, choices=(0, 1), default=0,
                         help="1: offer protocol version 1 and fall back to 0 for a server that refuses it (VER-2); "
                              "default 0")


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--listen", type=_address, default=("127.0.0.1", 7443), help="HOST:PORT (default 127.0.0.1:7443)")
    serve.add_argument("--certs", default="certs", help="folder made by `sink certs`")
    serve.add_argument("--db", default="sink-server.db", help="SQLite event store")
    serve.add_argument("--keepalive", type=float, default=60.0, help="keepalive interval K in seconds")
    serve.add_argument("--quarantine", action="append", default=[], metavar="CLIENT[:REASON]", help="quarantine a client")
    serve.add_argument("--reject-app-version", action="append", default=[], metavar="VERSION",
                       help="answer unsupported_application_version to clients sending this app_version (repeatable)")
    serve.add_argument("--nack-key-prefix", help="NACK events whose key starts with this (a poison trigger)")
    serve.add_argument("--publish-on-connect", type=int, default=0, metavar="N",
                       help="publish N new events to each client after each handshake")
    serve.add_argument("--protocol-version", type=int, choices=(0, 1), default=1,
                       help="highest protocol version accepted: 1 (default) accepts 0 and 1 on the port, "
                            "0 refuses version-1 requests like a version-0 server")
    serve.add_argument("--schemas", metavar="DIR",
                       help="schema registry folder (default: ./schemas, or above, or the kit's): what the server reads")
    serve.add_argument("--no-reader-schemas", action="store_true",
                       help="store every event and declare no reader schemas (an opaque store-and-forward server)")


def register(sub: argparse._SubParsersAction) -> None:
    certs = sub.add_parser("certs", help="create a development CA, server and client certificates")
    certs.add_argument("--out", default="certs", help="output folder (default: certs)")
    certs.add_argument("--client", action="append", default=[], help="client identity to issue (repeatable)")
    certs.set_defaults(func=cmd_certs)

    serve = sub.add_parser("serve", help="run the reference server, persisting received events")
    add_serve_options(serve)
    serve.set_defaults(func=lambda a: asyncio.run(run_server(a)))

    connect = sub.add_parser("connect", help="connect a client that syncs its local event store")
    add_connect_options(connect)
    connect.set_defaults(func=lambda a: asyncio.run(run_client(a)))

    publish = sub.add_parser("publish", help="append events to the local store; with --server, sync them")
    _add_client_options(publish, required=False)
    publish.add_argument("--db", default="sink-client.db", help="SQLite event store")
    publish.add_argument("--event-type", type=int, required=True, metavar="ID",
                         help="event_type_id of the events (e.g. 1, meter_reading in the kit's schemas/registry.toml)")
    publish.add_argument("--schema-version", type=int, default=1, metavar="N",
                         help="schema_version of event_data (default: 1)")
    publish.add_argument("--key", required=True,
                         help="the events' key (UTF-8); with the event type it names the topic, whose offsets count up")
    group = publish.add_mutually_exclusive_group(required=True)
    group.add_argument("--data", help="event data as UTF-8 text")
    group.add_argument("--data-hex", help="event data as hex")
    publish.add_argument("--count", type=int, default=1, help="append this many events")
    publish.set_defaults(func=lambda a: asyncio.run(_publish(a)))
