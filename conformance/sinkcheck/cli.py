"""``sink-check``: run the conformance catalogue against a Sink server (or the reference, with ``selftest``).

The one module of sinkcheck that knows argparse. Each subcommand's options are declared here, and
its ``cmd_*`` function turns them into the settings dataclass of its mode and calls the mode:
:class:`.run.RunSettings` (server, client, selftest), :class:`.matrix.MatrixSettings`,
:class:`.load_mode.LoadCommand`, :class:`.codec_mode.CodecSettings`,
:class:`.fuzz.FuzzServerCommand`, :class:`.fuzz.FuzzClientCommand`, :class:`.fuzz.ReplayCommand`,
:class:`.selftest.SelftestSettings`. No mode imports this module.

Two hidden subcommands, for the self-test's subprocesses (absent from ``--help`` and the docs' tables),
run a mutant of the registry :mod:`.selftest.mutants`: ``_mutant-server --mutant NAME`` followed by
`sink serve` options, ``_mutant-client --mutant NAME`` followed by `sink connect` options. The self-test starts them as ``python -m sinkcheck.cli _mutant-server ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .cases import catalogue
from .console import make_console, print_list
from .model import Case
from .profile import ProfileOptions
from .run import RunSettings, run_and_report, run_client_mode
from .runner import select

if TYPE_CHECKING:
    from .fuzz import FuzzSettings

__all__ = ["main", "build_parser", "add_docs_url_option", "EXIT_CODES", "HIDDEN_COMMANDS"]

_VERDICT = (
    (0, "every MUST case passed (or failed as the --expected-failures list says)"),
    (1, "a MUST case failed that is not listed, or the list is stale (a listed case passed or is unknown)"),
    (2, "a runner error, or a bad profile"),
)
#: Each command's exit statuses, shown at the end of its --help and on docs/conformance/reports.md.
EXIT_CODES: dict[str, tuple[tuple[int, str], ...]] = {
    "": ((0, "success"),),
    "server": (
        *_VERDICT[:2],
        (2, "a runner error, or a bad profile; with --matrix: 1 when a cell failed, 2 on a runner error"),
    ),
    "client": (*_VERDICT[:2], (2, "a runner error, a bad profile, or client mode cannot run (e.g. the port is taken)")),
    "selftest": (
        (0, "the reference server and client passed, and every mutant was caught by its target cases"),
        (1, "the reference failed, a mutant was not caught, or a case is no mutant's target"),
    ),
    "codec": ((0, "no check failed"), (1, "a check failed"), (2, "the shim failed (it died or answered out of step)")),
    "load server": (
        (0, "the load verdict passed"),
        (1, "it failed (lost or duplicated events, errors)"),
        (2, "it cannot run: identities, file descriptors or the profile"),
    ),
    "fuzz server": ((0, "no finding"), (1, "a finding, saved to --out"), (2, "it cannot fuzz: profile or peer")),
    "fuzz client": ((0, "no finding"), (1, "a finding, saved to --out"), (2, "it cannot fuzz: profile or peer")),
    "replay": ((0, "the finding does not reproduce"), (1, "it reproduces"), (2, "it cannot replay: file or peer")),
    "profile": ((0, "the profile template was written"),),
}


#: Subcommands for the kit's own subprocesses: not in ``--help``, not in EXIT_CODES (see the module docstring).
HIDDEN_COMMANDS = ("_mutant-server", "_mutant-client")


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


def missing_expected_failures(path: str | None) -> str | None:
    """Why ``--expected-failures`` cannot be read, or None. The path rule: a path on the command line is
    relative to the current directory, as for any command; the paths inside a profile are relative to it."""
    if path is None or Path(path).is_file():
        return None
    return (
        f"no expected-failures file {path} (a path on the command line is relative to the current directory, "
        f"{Path.cwd()}; the paths inside a profile are relative to the profile)"
    )


def _selected(args: argparse.Namespace, mode: str) -> list[Case]:
    return select(
        [c for c in catalogue() if c.mode == mode], include=args.cases, exclude=args.exclude, slow=not args.no_slow
    )


def _profile(args: argparse.Namespace) -> ProfileOptions:
    return ProfileOptions(path=_path(args.profile), ca=args.ca, cert=args.cert, key=args.key)


def _run_settings(args: argparse.Namespace) -> RunSettings:
    return RunSettings(
        scale=args.scale,
        expected_failures=_path(args.expected_failures),
        verbose=args.verbose,
        json=_path(args.json),
        junit=_path(args.junit),
        html=_path(args.html),
        docs_url=args.docs_url,
    )


def cmd_server(args: argparse.Namespace) -> int:
    console = make_console()
    try:
        profile = _profile(args).load()
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        console.print(f"[bold magenta]sink-check: bad profile:[/] {exc}", highlight=False)
        return 2
    if (problem := missing_expected_failures(args.expected_failures)) is not None:
        console.print(f"[bold magenta]sink-check:[/] {problem}", highlight=False)
        return 2
    cases = _selected(args, "server")
    if args.list:
        print_list(console, cases)
        return 0
    host, port = args.target
    if args.matrix:
        from .matrix import MatrixSettings, report_matrix

        matrix = MatrixSettings(variants=args.variants, seed=args.seed, latency=args.latency, rate=args.rate)
        return report_matrix(
            cases, host=host, port=port, profile=profile, matrix=matrix, settings=_run_settings(args), console=console
        )
    return run_and_report(
        cases,
        host=host,
        port=port,
        profile=profile,
        settings=_run_settings(args),
        console=console,
        mode="server",
        label=f"{host}:{port}",
    )


def cmd_client(args: argparse.Namespace) -> int:
    console = make_console()
    try:
        profile = _profile(args).load(identity="server", exec=args.exec)
    except (OSError, ValueError) as exc:
        console.print(f"[bold magenta]sink-check: bad profile:[/] {exc}", highlight=False)
        return 2
    if (problem := missing_expected_failures(args.expected_failures)) is not None:
        console.print(f"[bold magenta]sink-check:[/] {problem}", highlight=False)
        return 2
    cases = _selected(args, "client")
    if args.list:
        print_list(console, cases)
        return 0
    return run_client_mode(
        cases,
        listen=args.listen,
        profile=profile,
        settings=_run_settings(args),
        console=console,
        client_log=_path(args.client_log),
    )


def cmd_profile(args: argparse.Namespace) -> int:
    from .paths import profile_template

    try:
        sys.stdout.write(profile_template(args.name))
    except ValueError as exc:
        print(f"sink-check profile: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from .selftest import SelftestSettings, selftest

    settings = SelftestSettings(
        include=tuple(args.cases or ()),
        exclude=tuple(args.exclude or ()),
        slow=not args.no_slow,
        run=_run_settings(args),
        mutants=not args.no_mutants,
        mutant_workers=args.mutant_workers,
    )
    return selftest(settings, make_console())


def cmd_codec(args: argparse.Namespace) -> int:
    from .codec_mode import CodecSettings, check_codec

    return check_codec(
        CodecSettings(
            exec=args.exec,
            versions=tuple(args.protocol_version or ()),
            seed=args.seed,
            examples=args.examples,
            vectors=not args.no_vectors,
            vector_dirs=tuple(Path(v) for v in args.vectors or ()),
            timeout=args.timeout,
            include=tuple(args.cases or ()),
            exclude=tuple(args.exclude or ()),
            json=_path(args.json),
            html=_path(args.html),
            list_only=args.list,
            verbose=args.verbose,
        )
    )


def cmd_load(args: argparse.Namespace) -> int:
    from .load_mode import LoadCommand, LoadSettings, LocustOptions, load_server

    settings = LoadSettings(
        clients=args.clients,
        rate=args.rate,
        duration=args.duration,
        drain=args.drain,
        drain_max=max(args.drain, args.drain_max),
        connect_concurrency=args.connect_concurrency,
        event_size=args.event_size,
        seed=args.seed,
        batch=args.batch,
    )
    role = "master" if args.master else "worker" if args.worker else "local"
    if role != "local" and args.engine != "locust":
        args.parser.error("--master and --worker need --engine locust")
    return load_server(
        LoadCommand(
            target=args.target,
            settings=settings,
            profile=_profile(args),
            identities=_path(args.identities),
            mint_ca_key=_path(args.mint_ca_key),
            mint_ca_cert=_path(args.mint_ca_cert),
            reference_store=_path(args.reference_store),
            json=_path(args.json),
            engine=args.engine,
            locust=LocustOptions(
                role=role,
                workers=args.workers if args.workers is not None else (1 if role == "master" else 0),
                master_host=args.master_host,
                master_port=args.master_port,
            ),
        )
    )


def _fuzz_settings(args: argparse.Namespace) -> FuzzSettings:
    from .fuzz import FuzzSettings

    s = args.scale
    return FuzzSettings(
        seed=args.seed,
        duration=args.duration,
        probe_every=args.probe_every,
        quiet=args.quiet * s,
        exchange_limit=args.exchange_limit * s,
        probe_timeout=10.0 * s,
        shrink_time=args.shrink_time,
        recover=args.recover * s,
    )


def cmd_fuzz_server(args: argparse.Namespace) -> int:
    from .fuzz import FuzzServerCommand, fuzz_server

    return fuzz_server(
        FuzzServerCommand(
            target=args.target,
            settings=_fuzz_settings(args),
            profile=_profile(args),
            exec=args.exec,
            exec_log=_path(args.exec_log),
            out=_path(args.out),
        )
    )


def cmd_fuzz_client(args: argparse.Namespace) -> int:
    from .fuzz import FuzzClientCommand, fuzz_client

    return fuzz_client(
        FuzzClientCommand(
            exec=args.exec,
            listen=tuple(args.listen),
            settings=_fuzz_settings(args),
            profile=_profile(args),
            exec_log=_path(args.exec_log),
            server_instance_id=args.server_instance_id,
            out=_path(args.out),
        )
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from .fuzz import ReplayCommand, replay_finding

    return replay_finding(
        ReplayCommand(
            file=Path(args.file),
            target=args.target,
            settings=_fuzz_settings(args),
            profile=_profile(args),
            exec=args.exec,
            listen=tuple(args.listen),
        )
    )


def cmd_mutant_server(args: argparse.Namespace) -> int:
    """``_mutant-server``: `sink serve` as a mutant breaks it."""
    from sinkproto.connection import Role
    from sinktools.cli import serve_settings
    from sinktools.commands.peers import serve

    from .selftest.mutants import PeerSetup, find_mutant

    mutant = find_mutant(Role.SERVER, args.mutant)
    settings = dataclasses.replace(serve_settings(args), **mutant.serve)  # the `sink serve` options it changes
    options = mutant.peer_options(PeerSetup(certs=Path(args.certs), crash_log=_path(args.crash_log)))
    return asyncio.run(serve(settings, **options))


def cmd_mutant_client(args: argparse.Namespace) -> int:
    """``_mutant-client``: `sink connect` as a mutant breaks it."""
    from sinkproto.connection import Role
    from sinktools.cli import connect_settings
    from sinktools.commands.peers import connect

    from .selftest.mutants import PeerSetup, find_mutant

    mutant = find_mutant(Role.CLIENT, args.mutant)
    # it offers the highest version it speaks (the record schemas of `sink connect` follow --protocol-version)
    settings = dataclasses.replace(connect_settings(args), protocol_version=max(mutant.versions))
    return asyncio.run(connect(settings, **mutant.peer_options(PeerSetup(certs=Path(args.certs)))))


def add_docs_url_option(p: argparse.ArgumentParser) -> None:
    """--docs-url, for every mode that writes reports."""
    p.add_argument(
        "--docs-url",
        metavar="BASE",
        help="link requirement IDs in the reports to this docs site (its root, e.g. "
        "https://docs.example.org/sink/ or http://127.0.0.1:8000/ for `python3 kit.py docs`); "
        "default: no links, the reports carry each requirement's text",
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cases", action="append", metavar="GLOB", help="run only cases whose ID matches (repeatable)")
    p.add_argument("--exclude", action="append", metavar="GLOB", help="skip cases whose ID matches (repeatable)")
    p.add_argument("--no-slow", action="store_true", help="skip slow cases (those that wait 1.5 K)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every timeout and wait (slow peers, loaded CI)")
    p.add_argument("--expected-failures", metavar="FILE", help="case IDs known to fail, one per line")
    p.add_argument("--json", metavar="FILE", help="write the JSON report")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    add_docs_url_option(p)
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print what was observed for passing cases too")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sink-check", description="Sink conformance runner")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"sink-check {__version__}")
    parser.add_argument(
        "--debug-log",
        metavar="FILE",
        help="write asyncio's own log (connection noise such as 'SSL connection is closed') here; "
        "by default it never reaches the console (its errors still do)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    server = sub.add_parser("server", help="test a Sink server: the runner plays its clients")
    server.add_argument("target", type=_address, metavar="HOST:PORT", help="the Sink server under test")
    server.add_argument("--profile", metavar="FILE", help="the implementation's profile (TOML)")
    server.add_argument("--ca", help="CA that signed the server certificate (overrides the profile)")
    server.add_argument("--cert", help="client certificate of the main identity (overrides the profile)")
    server.add_argument("--key", help="its key")
    _common(server)
    _matrix_options(server)
    server.set_defaults(func=cmd_server)
    client = sub.add_parser("client", help="test a Sink client: the runner plays its server")
    client.add_argument(
        "--listen",
        type=_address,
        required=True,
        metavar="HOST:PORT",
        help="where the runner listens (port 0: any free port; use {port} in --exec)",
    )
    client.add_argument("--profile", metavar="FILE", help="the implementation's profile (TOML)")
    client.add_argument("--ca", help="CA that signed the client's certificate (overrides the profile)")
    client.add_argument("--cert", help="the runner's server certificate (overrides identities.server)")
    client.add_argument("--key", help="its key")
    client.add_argument(
        "--exec",
        metavar="COMMAND",
        help="start the client under test with this command for each case ({host}, {port} are "
        "replaced); without it, the runner asks you to start it and waits",
    )
    client.add_argument("--client-log", metavar="FILE", help="append the client's stdout and stderr here (--exec)")
    _common(client)
    client.set_defaults(func=cmd_client)
    selftest = sub.add_parser("selftest", help="run the catalogue against the reference server and every mutant")
    _common(selftest)
    selftest.add_argument("--no-mutants", action="store_true", help="only the reference server and client")
    selftest.add_argument(
        "--mutant-workers",
        type=int,
        default=4,
        metavar="N",
        help="mutants checked at once (default 4; they mostly wait on their peer)",
    )
    selftest.set_defaults(func=cmd_selftest)
    profile = sub.add_parser("profile", help="print a profile template (the kit's reference profile) to fill in")
    profile.add_argument(
        "name", nargs="?", default="reference", help="which of the kit's profiles (default: reference)"
    )
    profile.set_defaults(func=cmd_profile)
    _codec_command(sub)
    _load_command(sub)
    _fuzz_commands(sub)
    from sinktools.clihelp import apply_exit_codes

    apply_exit_codes(parser, EXIT_CODES)
    return parser


def _matrix_options(parser: argparse.ArgumentParser) -> None:
    """``sink-check server --matrix`` and its options (:mod:`.matrix`)."""
    from .faultproxy import VARIANTS

    parser.add_argument(
        "--matrix",
        action="store_true",
        help="rerun the selected cases under every delivery variant through a fault proxy",
    )
    parser.add_argument(
        "--variants",
        metavar="LIST",
        default=",".join(VARIANTS),
        help=f"comma-separated variants for --matrix (default: {','.join(VARIANTS)})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the `split` variant (default 0)")
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS", help="--matrix: latency the proxy adds to every chunk"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="BYTES_PER_S",
        help="--matrix: bandwidth the proxy allows in each direction",
    )


def _codec_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sink-check codec`` (:mod:`.codec_mode`)."""
    from .codec_protocol import SINK_VERSIONS

    p = sub.add_parser("codec", help="test a codec through a shim subprocess (docs: conformance/codec-mode)")
    p.add_argument(
        "--exec",
        required=True,
        metavar="COMMAND",
        help="starts the shim; it speaks the codec-mode protocol on stdin/stdout",
    )
    p.add_argument(
        "--protocol-version",
        type=int,
        action="append",
        choices=list(SINK_VERSIONS),
        metavar="N",
        help="only cases of this Sink protocol version, 0 or 1 (repeatable; default: both)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the generated cases (default 0)")
    p.add_argument("--examples", type=int, default=500, metavar="N", help="generated cases (default 500; 0: none)")
    p.add_argument("--no-vectors", action="store_true", help="only generated cases")
    p.add_argument(
        "--vectors",
        action="append",
        metavar="DIR",
        help="golden vector folder; its files' spec_version is the cases' protocol version (repeatable; "
        "default: vectors/v0 and vectors/v1 of this checkout)",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per request before the shim is restarted")
    p.add_argument("--cases", action="append", metavar="GLOB", help="only case IDs matching (repeatable)")
    p.add_argument("--exclude", action="append", metavar="GLOB", help="skip case IDs matching (repeatable)")
    p.add_argument("--json", metavar="FILE", help="write the JSON report")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print passing cases and checks too")
    p.set_defaults(func=cmd_codec)


def _load_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sink-check load server HOST:PORT`` (:mod:`.load_mode`)."""
    load = sub.add_parser(
        "load", help="load test: many concurrent mTLS clients publishing (docs: conformance/load-mode)"
    )
    roles = load.add_subparsers(dest="role", required=True)
    p = roles.add_parser("server", help="load a Sink server")
    p.add_argument("target", type=_address, metavar="HOST:PORT", help="the Sink server to load")
    p.add_argument("--clients", type=int, default=100, metavar="N", help="concurrent connections (default 100)")
    p.add_argument("--rate", type=float, default=100.0, metavar="R", help="PUBLISH frames per second, all clients")
    p.add_argument("--duration", type=float, default=10.0, metavar="D", help="seconds of publishing (default 10)")
    p.add_argument(
        "--drain",
        type=float,
        default=5.0,
        metavar="S",
        help="after publishing, stop waiting for answers once none came for S seconds (default 5)",
    )
    p.add_argument(
        "--drain-max",
        type=float,
        default=60.0,
        metavar="S",
        help="wait for answers at most S seconds after publishing stopped (default 60)",
    )
    p.add_argument(
        "--reference-store",
        metavar="DB",
        help="the database of the `sink serve` under test (its --db): after the run, report which "
        "published events it stored",
    )
    p.add_argument("--profile", metavar="FILE", help="the implementation's profile (TOML): ca, app_version, keepalive")
    p.add_argument("--ca", help="CA that signed the server certificate (overrides the profile)")
    p.add_argument("--cert", help="client certificate (enough for --clients 1)")
    p.add_argument("--key", help="its key")
    p.add_argument(
        "--identities",
        metavar="DIR",
        help="client-NAME.pem/.key pairs, one per client (with --mint-ca-key: where minted certificates are kept)",
    )
    p.add_argument("--mint-ca-key", metavar="KEY", help="issue one client certificate per client with this CA key")
    p.add_argument("--mint-ca-cert", metavar="CERT", help="the CA certificate of --mint-ca-key (default: --ca)")
    p.add_argument("--connect-concurrency", type=int, default=64, help="handshakes in progress at once (default 64)")
    p.add_argument("--event-size", type=int, default=64, help="bytes of event_data per PUBLISH (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the event data and of the round-robin start")
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        metavar="N",
        help="events per publish: 1 a PUBLISH (default), more a version-1 BATCH_PUBLISH (--engine locust)",
    )
    p.add_argument(
        "--engine",
        choices=("asyncio", "locust"),
        default="asyncio",
        help="asyncio: one process (default); locust: Locust's runner, headless here or across machines "
        "(docs: conformance/load-across-machines)",
    )
    role = p.add_mutually_exclusive_group()
    role.add_argument("--master", action="store_true", help="locust: be the master; workers connect, it reports")
    role.add_argument(
        "--worker",
        action="store_true",
        help="locust: be a worker of the master at --master-host (the scenario options are the master's)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="locust: worker processes to start on this machine (default 0: one process); "
        "with --master, the workers to wait for (default 1)",
    )
    p.add_argument("--master-host", default="127.0.0.1", metavar="H", help="locust --worker: the master's address")
    p.add_argument("--master-port", type=int, default=5557, metavar="P", help="locust: the master's port (5557)")
    p.add_argument("--json", metavar="FILE", help="write the JSON report")
    p.set_defaults(func=cmd_load, parser=p)


def _fuzz_options(p: argparse.ArgumentParser) -> None:
    """The options every fuzz command and replay share: the profile and the timing."""
    p.add_argument("--profile", metavar="FILE", help="the implementation's profile (TOML)")
    p.add_argument("--ca", help="CA that signed the server certificate (overrides the profile)")
    p.add_argument("--cert", help="client certificate of the main identity (overrides the profile)")
    p.add_argument("--key", help="its key")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every timeout (slow peers, loaded CI)")
    p.add_argument("--quiet", type=float, default=0.2, help="an exchange ends after this many silent seconds")
    p.add_argument("--exchange-limit", type=float, default=3.0, help="longest exchange, seconds (default 3)")
    p.add_argument(
        "--recover",
        type=float,
        default=5.0,
        help="without --exec: seconds to wait for a broken server to serve again (default 5)",
    )


def _fuzz_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sink-check fuzz server HOST:PORT``, ``fuzz client`` and ``replay FILE [HOST:PORT]`` (:mod:`.fuzz`)."""
    fuzz = sub.add_parser("fuzz", help="mutate valid sessions against a live peer (docs: conformance/fuzz-mode)")
    roles = fuzz.add_subparsers(dest="role", required=True)
    p = roles.add_parser("server", help="fuzz a Sink server")
    p.add_argument("target", type=_address, metavar="HOST:PORT", help="the Sink server to fuzz")
    p.add_argument("--seed", type=int, default=0, help="seed of the mutations: the same seed replays the same run")
    p.add_argument("--duration", type=float, default=60.0, metavar="D", help="seconds of fuzzing (default 60)")
    p.add_argument(
        "--probe-every",
        type=int,
        default=1,
        metavar="N",
        help="check the server's health after every N exchanges (default 1)",
    )
    p.add_argument("--shrink-time", type=float, default=90.0, help="at most this many seconds of shrinking")
    p.add_argument(
        "--exec",
        metavar="COMMAND",
        help="start (and restart, to shrink a crash) the server with this command ({host}, {port} are replaced)",
    )
    p.add_argument("--exec-log", metavar="FILE", help="append the --exec server's output here")
    p.add_argument("--out", metavar="FILE", help="where a finding is saved (default sink-fuzz-finding-seedS.json)")
    _fuzz_options(p)
    p.set_defaults(func=cmd_fuzz_server)
    p = roles.add_parser("client", help="fuzz a Sink client: the runner listens as the server")
    p.add_argument(
        "--listen",
        type=_address,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="where the runner listens (default 127.0.0.1, any port)",
    )
    p.add_argument(
        "--exec",
        required=True,
        metavar="COMMAND",
        help="starts (and restarts) the client; {host}, {port} are replaced by the runner's socket",
    )
    p.add_argument("--exec-log", metavar="FILE", help="append the client's output here")
    p.add_argument("--seed", type=int, default=0, help="seed of the mutations: the same seed replays the same run")
    p.add_argument("--duration", type=float, default=60.0, metavar="D", help="seconds of fuzzing (default 60)")
    p.add_argument(
        "--probe-every",
        type=int,
        default=1,
        metavar="N",
        help="check the client's health after every N exchanges (default 1)",
    )
    p.add_argument("--shrink-time", type=float, default=90.0, help="at most this many seconds of shrinking")
    p.add_argument(
        "--server-instance-id",
        type=lambda text: int(text, 0),
        default=0x5EC0_0001,
        help="the server_instance_id the runner answers with (default 0x5EC00001)",
    )
    p.add_argument(
        "--out", metavar="FILE", help="where a finding is saved (default sink-fuzz-client-finding-seedS.json)"
    )
    _fuzz_options(p)
    p.set_defaults(func=cmd_fuzz_client)
    r = sub.add_parser("replay", help="replay a fuzz finding; exit 1 if it still reproduces")
    r.add_argument("file", metavar="FILE", help="a finding saved by `sink-check fuzz` (JSON)")
    r.add_argument(
        "target",
        type=_address,
        metavar="HOST:PORT",
        nargs="?",
        help="the server (default: the one the finding was made against)",
    )
    r.add_argument(
        "--exec",
        metavar="COMMAND",
        help="a client finding: the client to start (default: the command it was found with)",
    )
    r.add_argument(
        "--listen",
        type=_address,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="a client finding: where the runner listens (default 127.0.0.1, any port)",
    )
    _fuzz_options(r)
    r.set_defaults(func=cmd_replay, seed=0, duration=0.0, probe_every=1, shrink_time=0.0)


def build_hidden_parser() -> argparse.ArgumentParser:
    """The hidden subcommands (:data:`HIDDEN_COMMANDS`): a self-test mutant as a `sink serve` or `sink connect`."""
    from sinkproto.connection import Role
    from sinktools.cli import add_connect_options, add_serve_options

    from .selftest.mutants import MUTANTS

    parser = argparse.ArgumentParser(prog="sink-check")
    sub = parser.add_subparsers(dest="command", required=True)
    server = sub.add_parser("_mutant-server", help="`sink serve` as a self-test mutant")
    server.add_argument("--mutant", required=True, choices=[m.name for m in MUTANTS if m.role is Role.SERVER])
    server.add_argument("--crash-log", help="where the crash-logging mutant writes its crash reports")
    add_serve_options(server)
    server.set_defaults(func=cmd_mutant_server)
    client = sub.add_parser("_mutant-client", help="`sink connect` as a self-test client mutant")
    client.add_argument("--mutant", required=True, choices=[m.name for m in MUTANTS if m.role is Role.CLIENT])
    add_connect_options(client)
    client.set_defaults(func=cmd_mutant_client)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] and words[0] in HIDDEN_COMMANDS:  # a mutant, started by the self-test: no console routing
        hidden = build_hidden_parser().parse_args(words)
        return int(hidden.func(hidden))
    args = build_parser().parse_args(words)
    from sinktools.clihelp import run_main

    from .console import route_asyncio_log

    route_asyncio_log(Path(args.debug_log) if args.debug_log else None)
    return run_main(lambda: int(args.func(args)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
