"""The ``sink`` command: the kit's tools, one subcommand each. The only module of sinktools that parses a command line.

``sink vectors regenerate`` / ``sink vectors check`` maintain the golden
vectors (:mod:`.commands.vectors`); ``sink decode`` pretty-prints a frame,
payload, batch or stream for a person debugging a capture, or prints the
vectors' JSON form with --json (:mod:`.commands.decode`). The reference peers
(``certs``, ``serve``, ``connect``, ``publish``) are :mod:`.commands.peers`,
the store's operations (``status``, ``dead-letters``, ``policies``)
:mod:`.commands.ops`, ``bench`` :mod:`.bench.commands`. Each command is a
function of settings or plain arguments; this module turns the parsed options
into them. Every command's exit statuses are in :data:`EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from sinkproto import __version__
from sinkproto.errors import SinkError
from sinkproto.messages import MAX_RETRY_AFTER
from sinkproto.session.declared import PROFILES

from .clihelp import apply_exit_codes, run_main
from .commands.decode import DECODE_KINDS
from .commands.peers import ConnectSettings, PublishSettings, ServeSettings

__all__ = [
    "main",
    "build_parser",
    "EXIT_CODES",
    "add_connect_options",
    "add_serve_options",
    "connect_settings",
    "serve_settings",
]

_ERROR = (1, "an error (the message says what: a store, a certificate, an address...)")
_NO_STORE = (1, "--db is not an existing event store")
#: Each command's exit statuses, shown at the end of its --help and on docs/tools/cli.md (the shared ones,
#: 2 usage, 130 interrupted, 141 output closed, are in sinktools.clihelp.COMMON_EXIT_CODES).
EXIT_CODES: dict[str, tuple[tuple[int, str], ...]] = {
    "": ((0, "success"), _ERROR),
    "vectors regenerate": (
        (0, "the vectors were written (with --dry-run: what would change was printed)"),
        (1, "the schemas break the evolution rules (nothing was written), or an error"),
    ),
    "vectors check": (
        (0, "every vector and file checks out"),
        (1, "a vector or a file failed (each failure is printed)"),
    ),
    "decode": (
        (0, "decoded and printed"),
        (
            1,
            "the bytes do not decode as --as says (the error class and offset are "
            "printed), or the input is neither a file nor hex",
        ),
    ),
    "certs": ((0, "the certificates were written or kept (each line says which)"), _ERROR),
    "serve": ((0, "stopped by SIGINT or SIGTERM"), (1, "it could not start (store, certificates, address in use)")),
    "connect": (
        (0, "with --until-synced: everything pending was answered"),
        _ERROR,
        (
            3,
            "the server refused the connection: instance_id_mismatch always (the operator decides, HS-16); "
            "any refusal with --until-synced (a version-1 client's fallback to version 0 is not one)",
        ),
    ),
    "publish": (
        (0, "appended (with --server: and everything pending was answered)"),
        _ERROR,
        (3, "with --server: the server refused the connection (as for connect --until-synced)"),
    ),
    "status": ((0, "printed"), _NO_STORE),
    "dead-letters list": ((0, "listed (also when none match)"), _NO_STORE),
    "dead-letters export": ((0, "exported (also when none match)"), _NO_STORE),
    "dead-letters retry": (
        (0, "the selected dead letters are pending again (also when none match)"),
        _NO_STORE,
        (2, "no selection: name the events or pass --all"),
    ),
    "policies apply": (
        (0, "the store now uses the file's policies"),
        (1, "the policy file is invalid (the store is unchanged), or --db is not an event store"),
    ),
    "policies show": ((0, "printed"), _NO_STORE),
    "sim": (
        (0, "every guarantee held on every schedule (with --mutants: every mutant was caught)"),
        (
            1,
            "a guarantee failed (the shrunk schedule is written, with how to replay it), a mutant survived, "
            "or --replay's schedule still fails",
        ),
    ),
    "bench codec": (
        (0, "measured and printed (with --update-docs: and written)"),
        (1, "--update-docs found no page, or the page has no section for it"),
    ),
    "bench wire": (
        (0, "measured and printed (with --update-docs: and written)"),
        (1, "--update-docs found no page, or the page has no section for it"),
        (2, "tcpdump or mosquitto is missing (the message says how to install them)"),
    ),
    "bench memory": (
        (0, "measured and printed (with --update-docs: and written)"),
        (1, "--update-docs found no page, or the page has no section for it"),
    ),
    "bench batch": (
        (0, "measured and printed (with --update-docs: and written)"),
        (1, "--update-docs found no page, or the page has no section for it"),
    ),
    "bench series": (
        (0, "measured and printed (with --update-docs: and written)"),
        (1, "--update-docs found no page, or the page has no section for it"),
    ),
}


# ---------------------------------------------------------------- options -> settings

S = TypeVar("S")


def _settings(cls: type[S], args: argparse.Namespace, **given: Any) -> S:
    """The settings dataclass ``cls`` from the parsed options of the same names (and ``given``)."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}  # type: ignore[arg-type]
    return cls(**{**values, **given})


def serve_settings(args: argparse.Namespace) -> ServeSettings:
    """`sink serve`'s settings from options added by :func:`add_serve_options` (the self-test's mutants use it)."""
    return _settings(
        ServeSettings, args, quarantine=tuple(args.quarantine), reject_app_version=tuple(args.reject_app_version)
    )


def connect_settings(args: argparse.Namespace) -> ConnectSettings:
    """`sink connect`'s settings from options added by :func:`add_connect_options` (the self-test's mutants use it)."""
    return _settings(ConnectSettings, args)


def _retry_after(text: str) -> int:
    """CLOSE-2: a retry_after is a whole number of seconds in 1..86400."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if not 1 <= seconds <= MAX_RETRY_AFTER:
        raise argparse.ArgumentTypeError(f"{seconds} is outside 1..{MAX_RETRY_AFTER} seconds (CLOSE-2)")
    return seconds


def _context_bases(text: str) -> int:
    """DECL-1, CTX-1: context_bases is 0..64 (0: take no batch in mode context)."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= count <= 64:
        raise argparse.ArgumentTypeError(f"{count} is outside 0..64 (DECL-1)")
    return count


def _context_lifetime(text: str) -> int:
    """DECL-1, CTX-9: context_lifetime is 60..4294967295 seconds."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if not 60 <= seconds <= 0xFFFF_FFFF:
        raise argparse.ArgumentTypeError(f"{seconds} is outside 60..4294967295 seconds (DECL-1)")
    return seconds


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _regenerate(args: argparse.Namespace) -> int:
    from .commands.vectors import regenerate

    return regenerate(args.dir, schemas=args.schemas, dry_run=args.dry_run)


def _check(args: argparse.Namespace) -> int:
    from .commands.vectors import check

    return check(args.dir, schemas=args.schemas, skip_sources=args.skip_sources, as_json=args.json)


def _decode(args: argparse.Namespace) -> int:
    from .commands.decode import DecodeSettings, decode

    return decode(args.input, _settings(DecodeSettings, args))


def _certs(args: argparse.Namespace) -> int:
    from .commands.peers import certs

    return certs(Path(args.out), list(args.client))


def _serve(args: argparse.Namespace) -> int:
    from .commands.peers import serve

    return asyncio.run(serve(serve_settings(args)))


def _connect(args: argparse.Namespace) -> int:
    from .commands.peers import connect

    return asyncio.run(connect(connect_settings(args)))


def _publish(args: argparse.Namespace) -> int:
    from .commands.peers import publish

    data = bytes.fromhex(args.data_hex) if args.data_hex else args.data.encode()
    return asyncio.run(publish(_settings(PublishSettings, args, data=data)))


def _selection(args: argparse.Namespace) -> Any:
    from .commands.ops import Selection

    return _settings(Selection, args)


def _status(args: argparse.Namespace) -> int:
    from .commands.ops import status

    return status(args.db, peer=args.peer, as_json=args.json, now=args.now, schemas=args.schemas)


def _dead_letters_list(args: argparse.Namespace) -> int:
    from .commands.ops import dead_letters_list

    return dead_letters_list(args.db, _selection(args), as_json=args.json, schemas=args.schemas)


def _dead_letters_export(args: argparse.Namespace) -> int:
    from .commands.ops import dead_letters_export

    return dead_letters_export(args.db, _selection(args), output=args.output)


def _dead_letters_retry(args: argparse.Namespace) -> int:
    from .commands.ops import dead_letters_retry

    return dead_letters_retry(args.db, _selection(args), every=args.all)


def _policies_apply(args: argparse.Namespace) -> int:
    from .commands.ops import policies_apply

    return policies_apply(args.db, args.file, schemas=args.schemas)


def _policies_show(args: argparse.Namespace) -> int:
    from .commands.ops import policies_show

    return policies_show(args.db, as_json=args.json, schemas=args.schemas)


def _page(args: argparse.Namespace) -> Path | None:
    from .bench.commands import target_page

    return target_page(update_docs=args.update_docs, docs=args.docs)


def _bench_codec(args: argparse.Namespace) -> int:
    from .bench.commands import cmd_codec

    return cmd_codec(quick=args.quick, budget=args.budget, repeats=args.repeats, page=_page(args))


def _bench_wire(args: argparse.Namespace) -> int:
    from .bench.commands import cmd_wire

    return cmd_wire(
        quick=args.quick, protocols=args.protocols, profile=args.profile, page=_page(args), polls=args.polls
    )


def _bench_memory(args: argparse.Namespace) -> int:
    from .bench.commands import cmd_memory

    return cmd_memory(connections=args.connections, page=_page(args))


def _bench_batch(args: argparse.Namespace) -> int:
    from .bench.commands import cmd_batch

    return cmd_batch(page=_page(args))


def _bench_series(args: argparse.Namespace) -> int:
    from .bench.commands import cmd_series

    return cmd_series(page=_page(args))


# ---------------------------------------------------------------- the parser


def _add_client_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--server", type=_address, required=required, help="HOST:PORT of the Sink server")
    p.add_argument("--certs", default="certs", help="folder made by `sink certs` (default: certs)")
    p.add_argument("--name", default="client", help="client identity: uses client-NAME.pem/.key")
    p.add_argument("--server-hostname", default="localhost", help="name to verify in the server certificate")
    p.add_argument("--app-version", default="sink-reference/0.1", help="application version sent in the handshake")
    p.add_argument("--keepalive", type=float, default=60.0, help="keepalive interval K in seconds (KEEP-1)")
    _add_declare_option(p)


def _add_declare_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--declare-limits",
        choices=sorted(PROFILES),
        help="declare these receive limits on version-1 connections (DECL-1; default: none, the version-0 "
        "defaults); K is declared whenever it is not 60 s (KEEP-8)",
    )


def add_connect_options(connect: argparse.ArgumentParser) -> None:
    _add_client_options(connect, required=True)
    connect.add_argument("--db", default="sink-client.db", help="SQLite event store")
    connect.add_argument(
        "--until-synced",
        action="store_true",
        help="exit once everything pending is answered (exit 3 at the first refusal)",
    )
    connect.add_argument(
        "--publish",
        type=int,
        default=0,
        metavar="N",
        help="append N test events (type 1, key sink-connect/NAME) to the store on start",
    )
    connect.add_argument(
        "--publish-records",
        action="store_true",
        help="the --publish test events are meter_reading version 2 readings (canonical Avro), which a version-1 "
        "server that reads them takes in records mode and context coding (RECORD-2, CTX-1)",
    )
    connect.add_argument(
        "--protocol-version",
        type=int,
        choices=(0, 1),
        default=0,
        help="1: offer protocol version 1 and fall back to 0 for a server that refuses it (VER-2); default 0",
    )


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--listen", type=_address, default=("127.0.0.1", 7443), help="HOST:PORT (default 127.0.0.1:7443)"
    )
    serve.add_argument("--certs", default="certs", help="folder made by `sink certs`")
    serve.add_argument("--db", default="sink-server.db", help="SQLite event store")
    serve.add_argument("--keepalive", type=float, default=60.0, help="keepalive interval K in seconds")
    serve.add_argument(
        "--quarantine", action="append", default=[], metavar="CLIENT[:REASON]", help="quarantine a client"
    )
    serve.add_argument(
        "--reject-app-version",
        action="append",
        default=[],
        metavar="VERSION",
        help="answer unsupported_application_version to clients sending this app_version (repeatable)",
    )
    serve.add_argument("--nack-key-prefix", help="NACK events whose key starts with this (a poison trigger)")
    serve.add_argument(
        "--publish-on-connect",
        type=int,
        default=0,
        metavar="N",
        help="publish N new events to each client after each handshake",
    )
    serve.add_argument(
        "--protocol-version",
        type=int,
        choices=(0, 1),
        default=1,
        help="highest protocol version accepted: 1 (default) accepts 0 and 1 on the port, "
        "0 refuses version-1 requests like a version-0 server",
    )
    serve.add_argument(
        "--schemas",
        metavar="DIR",
        help="schema registry folder (default: ./schemas, or above, or the kit's): what the server reads",
    )
    serve.add_argument(
        "--no-reader-schemas",
        action="store_true",
        help="store every event and declare no reader schemas (an opaque store-and-forward server)",
    )
    serve.add_argument(
        "--max-sessions",
        type=int,
        metavar="N",
        help="serve at most N connections at once; further accepted connections wait (default: no bound)",
    )
    _add_declare_option(serve)
    serve.add_argument(
        "--retry-after",
        type=_retry_after,
        metavar="SECONDS",
        help="tell a refused version-1 client to wait SECONDS (1..86400) before reconnecting, in the CLOSE "
        "after the refusal (CLOSE-4, CLOSE-9; default: not said)",
    )
    serve.add_argument(
        "--context-bases",
        type=_context_bases,
        default=16,
        metavar="N",
        help="keep the last N batches in mode context of each client as bases, and declare it to version-1 "
        "clients (CTX-1, CTX-9; 0..64, default 16; 0: take no context coding)",
    )
    serve.add_argument(
        "--context-lifetime",
        type=_context_lifetime,
        default=86400,
        metavar="SECONDS",
        help="keep each base at least SECONDS (60..4294967295, default 86400), declared when not the default (CTX-9)",
    )


def _add_peer_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    certs = sub.add_parser("certs", help="create a development CA, server and client certificates")
    certs.add_argument("--out", default="certs", help="output folder (default: certs)")
    certs.add_argument("--client", action="append", default=[], help="client identity to issue (repeatable)")
    certs.set_defaults(func=_certs)

    serve = sub.add_parser("serve", help="run the reference server, persisting received events")
    add_serve_options(serve)
    serve.set_defaults(func=_serve)

    connect = sub.add_parser("connect", help="connect a client that syncs its local event store")
    add_connect_options(connect)
    connect.set_defaults(func=_connect)

    publish = sub.add_parser("publish", help="append events to the local store; with --server, sync them")
    _add_client_options(publish, required=False)
    publish.add_argument("--db", default="sink-client.db", help="SQLite event store")
    publish.add_argument(
        "--event-type",
        type=int,
        required=True,
        metavar="ID",
        help="event_type_id of the events (e.g. 1, meter_reading in the kit's schemas/registry.toml)",
    )
    publish.add_argument(
        "--schema-version", type=int, default=1, metavar="N", help="schema_version of event_data (default: 1)"
    )
    publish.add_argument(
        "--key",
        required=True,
        help="the events' key (UTF-8); with the event type it names the topic, whose offsets count up",
    )
    group = publish.add_mutually_exclusive_group(required=True)
    group.add_argument("--data", help="event data as UTF-8 text")
    group.add_argument("--data-hex", help="event data as hex")
    publish.add_argument("--count", type=int, default=1, help="append this many events")
    publish.set_defaults(func=_publish)


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="the peer's SQLite event store (may be in use by a running peer)")
    p.add_argument("--schemas", help="schema registry folder, for event type names (default: schemas/ here or above)")


def _selection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--peer", help="only this peer (client identity on a server, HOST:PORT on a client)")
    p.add_argument("--event-type", type=int, help="only this event_type_id")
    p.add_argument("--key", help="only this key (UTF-8)")
    p.add_argument("--offset", type=int, help="only this offset")
    p.add_argument("--machine-message", help="only dead letters with this NACK machine message")


def _add_ops_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser(
        "status",
        help="subscription state per peer and event type: lag, oldest unsent, dead letters, last seen, freshness",
    )
    _db_option(status)
    status.add_argument("--peer", help="only this peer")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--now", type=float, help="unix time to compute ages from (default: the clock)")
    status.set_defaults(func=_status)

    dead = sub.add_parser("dead-letters", help="list, export or retry NACKed events")
    dsub = dead.add_subparsers(dest="dead_letters_command", required=True)
    listing = dsub.add_parser("list", help="list dead letters with their NACK reasons")
    _db_option(listing)
    _selection_options(listing)
    listing.add_argument("--json", action="store_true", help="a JSON array instead of text")
    listing.set_defaults(func=_dead_letters_list)
    export = dsub.add_parser("export", help="write dead letters as JSON lines (one object per line)")
    _db_option(export)
    _selection_options(export)
    export.add_argument("-o", "--output", help="file to write (default: stdout)")
    export.set_defaults(func=_dead_letters_export)
    retry = dsub.add_parser("retry", help="make dead letters pending again: each is sent once more")
    _db_option(retry)
    _selection_options(retry)
    retry.add_argument("--all", action="store_true", help="every dead letter the other options select")
    retry.set_defaults(func=_dead_letters_retry)

    policies = sub.add_parser("policies", help="delivery policies: priority, latest-only, retention per event type")
    psub = policies.add_subparsers(dest="policies_command", required=True)
    apply = psub.add_parser("apply", help="replace a store's policies with those of a policy file")
    _db_option(apply)
    apply.add_argument("file", help="policy TOML file (e.g. schemas/policies.toml)")
    apply.set_defaults(func=_policies_apply)
    show = psub.add_parser("show", help="print a store's policies (as policy TOML, or --json)")
    _db_option(show)
    show.add_argument("--json", action="store_true", help="JSON instead of policy TOML")
    show.set_defaults(func=_policies_show)


def _docs_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="also rewrite this benchmark's section of docs/performance.md here or above (default: print only)",
    )
    parser.add_argument("--docs", metavar="PAGE", help="rewrite this page instead (implies --update-docs)")
    parser.add_argument(
        "--no-docs",
        action="store_true",
        help="deprecated, no effect: the page is left alone unless --update-docs is given",
    )


def _add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("bench", help="benchmarks: codec speed, bytes on the wire, memory, batch size")
    bsub = bench.add_subparsers(dest="bench_command", required=True)

    codec = bsub.add_parser(
        "codec", help="µs/op of the construct and fast codecs, msgpack and fastavro, on both profiles"
    )
    codec.add_argument(
        "--quick", action="store_true", help="short loops (a smoke run; figures are rough, docs untouched)"
    )
    codec.add_argument("--budget", type=float, default=0.2, help="seconds per timing loop (default 0.2)")
    codec.add_argument("--repeats", type=int, default=5, help="timing loops per cell, best kept (default 5)")
    codec.add_argument(
        "--verbose",
        action="store_true",
        help="deprecated, no effect: each cell is reported as it is measured (on stderr)",
    )
    _docs_options(codec)
    codec.set_defaults(func=_bench_codec)

    wire = bsub.add_parser("wire", help="bytes on the wire on loopback: Sink v0 and v1, MQTT 3.1.1/5, HTTP/1.1, CoAP")
    wire.add_argument("--quick", action="store_true", help="Sink only, no chart, docs untouched (a smoke run)")
    wire.add_argument("--protocols", help="comma-separated subset: sink,mqtt,http,coap (default: all)")
    wire.add_argument(
        "--profile",
        choices=("random", "meter", "meter-series"),
        default="random",
        help="events to send (default: random); meter-series: a day of polls over mutual TLS, Sink and MQTT 5",
    )
    wire.add_argument(
        "--polls", type=int, help="meter-series: only the day's first POLLS polls (default: all 96; --quick: 3)"
    )
    _docs_options(wire)
    wire.set_defaults(func=_bench_wire)

    batch = bsub.add_parser(
        "batch", help="the meter batch figure: 100 meter readings as one batch v1, against 1,000 bytes"
    )
    _docs_options(batch)
    batch.set_defaults(func=_bench_batch)

    series = bsub.add_parser(
        "series",
        help="a day of polls (the meter-series profile): bytes per encoding against the series' information floor",
    )
    _docs_options(series)
    series.set_defaults(func=_bench_series)

    memory = bsub.add_parser("memory", help="peak memory of decoding at the limits; server RSS per idle TLS connection")
    memory.add_argument(
        "--connections", type=int, default=1000, help="idle mutual-TLS connections to open (default 1000)"
    )
    _docs_options(memory)
    memory.set_defaults(func=_bench_memory)


def _sim(args: argparse.Namespace) -> int:
    from sinkproto.sim import Settings

    from .commands.sim import campaign, mutants, replay

    if args.replay:
        return replay(Path(args.replay))
    settings = Settings(clients=args.clients, steps=args.steps, mutant=args.mutant)
    if args.mutants:
        return mutants(args.seeds, settings=settings)
    return campaign(args.seeds, start=args.start, settings=settings, out=Path(args.out))


def _add_sim(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from sinkproto.sim import MUTANTS

    sim = sub.add_parser(
        "sim",
        help="deterministic simulation: seeded fault schedules checked against the delivery guarantees",
    )
    sim.add_argument("--seeds", type=int, default=1000, help="schedules to run, one per seed (default 1000)")
    sim.add_argument("--start", type=int, default=0, help="the first seed (default 0)")
    sim.add_argument("--clients", type=int, default=2, help="clients per schedule (default 2)")
    sim.add_argument("--steps", type=int, default=24, help="faults and actions per schedule (default 24)")
    sim.add_argument("--out", default=".", help="folder for the shrunk schedule of a failure (default: here)")
    sim.add_argument("--replay", metavar="FILE", help="run the schedule of FILE (written by a failed run)")
    sim.add_argument("--mutant", choices=sorted(MUTANTS), help="run the schedules against this broken peer")
    sim.add_argument(
        "--mutants",
        action="store_true",
        help="run every mutant for at most --seeds seeds and print after how many a guarantee caught it",
    )
    sim.set_defaults(func=_sim)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sink",
        description="The Sink protocol kit's tools: run the reference server and client (certs, serve,\n"
        "connect, publish), operate their event stores (status, dead-letters, policies),\n"
        "decode captures, maintain the golden vectors, and run the benchmarks.\n"
        "`sink COMMAND --help` describes each command and its exit statuses.",
    )
    parser.add_argument("--version", action="version", version=f"sink-protocol {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    vectors = sub.add_parser("vectors", help="golden test vectors")
    vsub = vectors.add_subparsers(dest="vectors_command", required=True)
    gen = vsub.add_parser(
        "regenerate", aliases=["generate"], help="regenerate vectors/v0 from their sources; print what changed"
    )
    gen.add_argument("--dir", help="vector folder (default: vectors/v0 here or above)")
    gen.add_argument("--schemas", help="schema registry folder (default: schemas/ beside vectors/)")
    gen.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    gen.set_defaults(func=_regenerate)
    chk = vsub.add_parser("check", help="verify every committed vector against the reference codec and its sources")
    chk.add_argument("--dir", help="vector folder (default: vectors/v0 here or above)")
    chk.add_argument("--schemas", help="schema registry folder (default: schemas/ beside vectors/)")
    chk.add_argument(
        "--skip-sources",
        action="store_true",
        help="do not check that the vectors are what the sources generate (for vectors from elsewhere)",
    )
    chk.add_argument("--json", action="store_true", help="machine-readable report")
    chk.set_defaults(func=_check)

    dec = sub.add_parser("decode", help="decode a frame, payload, batch or stream given as hex, a file, or - for stdin")
    dec.add_argument("input", help="hex bytes, a file of raw bytes, or - for stdin")
    dec.add_argument(
        "--as", dest="kind", choices=DECODE_KINDS, default="frame", help="what the bytes are (default: frame)"
    )
    dec.add_argument("--json", action="store_true", help="print the value in the vectors' JSON form")
    dec.add_argument("--strict-utf8", action="store_true", help="reject text fields that are not UTF-8")
    dec.add_argument(
        "--schemas", help="schema registry folder for event_data (default: schemas/ here or above, else the kit's)"
    )
    dec.add_argument("--no-schemas", action="store_true", help="show event_data as bytes, without the registry")
    dec.add_argument(
        "--avro",
        action="store_true",
        help="with --json: add event_data_avro, the decoded record, beside event_data_hex",
    )
    dec.add_argument(
        "--protocol-version",
        type=int,
        choices=(0, 1),
        default=0,
        help="decode as on a connection of this protocol version (default 0); 1 adds BATCH_PUBLISH, "
        "BATCH_RESULT, reader declarations and batch v1, records mode with the registry's schemas",
    )
    dec.set_defaults(func=_decode)

    _add_peer_commands(sub)
    _add_ops_commands(sub)
    _add_bench(sub)
    _add_sim(sub)
    apply_exit_codes(parser, EXIT_CODES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .logfmt import configure

    configure()

    def run() -> int:
        try:
            return int(args.func(args))
        except SinkError as exc:
            print(f"sink: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            print(f"sink: {exc}", file=sys.stderr)  # a folder that cannot be written, a port in use, ...
            return 1

    return run_main(run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
