"""``sink-check``: run the conformance catalogue against a Sink server (or the reference, with ``selftest``)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from pathlib import Path

from rich.console import Console

from .cases import catalogue
from .console import LiveView, make_console, print_list, print_summary
from .model import Case, CaseResult, catalogue_hash
from .profile import Profile, load_profile
from .reports import report_document, write_json, write_junit
from .runner import load_expected_failures, run_cases, select, summarize

__all__ = ["main", "run_and_report", "build_parser", "add_docs_url_option", "EXIT_CODES"]

_VERDICT = ((0, "every MUST case passed (or failed as the --expected-failures list says)"),
            (1, "a MUST case failed that is not listed, or the list is stale (a listed case passed or is unknown)"),
            (2, "a runner error, or a bad profile"))
#: Each command's exit statuses, shown at the end of its --help and on docs/conformance/reports.md.
EXIT_CODES: dict[str, tuple[tuple[int, str], ...]] = {
    "": ((0, "success"),),
    "server": (*_VERDICT[:2], (2, "a runner error, or a bad profile; with --matrix: 1 when a cell failed, 2 on a "
                                  "runner error")),
    "client": (*_VERDICT[:2], (2, "a runner error, a bad profile, or client mode cannot run (e.g. the port is taken)")),
    "selftest": ((0, "the reference server and client passed, and every mutant was caught by its target cases"),
                 (1, "the reference failed, a mutant was not caught, or a case is no mutant's target")),
    "codec": ((0, "no check failed"), (1, "a check failed"), (2, "the shim failed (it died or answered out of step)")),
    "load server": ((0, "the load verdict passed"), (1, "it failed (lost or duplicated events, errors)"),
                    (2, "it cannot run: identities, file descriptors or the profile")),
    "fuzz server": ((0, "no finding"), (1, "a finding, saved to --out"), (2, "it cannot fuzz: profile or peer")),
    "fuzz client": ((0, "no finding"), (1, "a finding, saved to --out"), (2, "it cannot fuzz: profile or peer")),
    "replay": ((0, "the finding does not reproduce"), (1, "it reproduces"), (2, "it cannot replay: file or peer")),
    "profile": ((0, "the profile template was written"),),
}


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def missing_expected_failures(args: argparse.Namespace) -> str | None:
    """Why ``--expected-failures`` cannot be read, or None. The path rule: a path on the command line is
    relative to the current directory, as for any command; the paths inside a profile are relative to it."""
    path = getattr(args, "expected_failures", None)
    if path is None or Path(path).is_file():
        return None
    return (f"no expected-failures file {path} (a path on the command line is relative to the current directory, "
            f"{Path.cwd()}; the paths inside a profile are relative to the profile)")


def _selected(args: argparse.Namespace, mode: str) -> list[Case]:
    return select([c for c in catalogue() if c.mode == mode], include=args.cases, exclude=args.exclude,
                  slow=not args.no_slow)


Execute = Callable[[set[str], Callable[[CaseResult], None]], Coroutine[Any, Any, list[CaseResult]]]


def run_and_report(cases: list[Case], *, host: str, port: int, profile: Profile, args: argparse.Namespace,
                   console: Console, mode: str, label: str | Callable[[], str], execute: Execute | None = None,
                   documents: list[tuple[dict[str, Any], argparse.Namespace]] | None = None) -> int:
    """Run ``cases`` (server mode against host:port, or through ``execute``), print and write the reports.

    ``documents``, when given, receives the report document and the options that say where it was written.
    """
    expected = load_expected_failures(Path(args.expected_failures) if args.expected_failures else None)
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    with LiveView(console, len(cases), verbose=args.verbose) as view:
        if execute is None:
            run = run_cases(cases, host=host, port=port, profile=profile, scale=args.scale,
                            expected_failures=expected, on_result=view.result)
        else:
            run = execute(expected, view.result)
        results: list[CaseResult] = asyncio.run(run)
    summary = summarize(results, expected, {c.id for c in catalogue()})
    hash_ = catalogue_hash(cases)
    print_summary(console, summary, hash_=hash_, profile=profile.name)
    label = label() if callable(label) else label  # client mode knows its port only once it listens
    document = report_document(results, cases=cases, profile=profile, target=label, mode=mode, summary=summary,
                               started=started_at, duration=time.monotonic() - started,
                               docs_url=getattr(args, "docs_url", None))
    from .coverage import report_coverage

    document["requirements"] = report_coverage(
        console, [(r.case.id, r.outcome.value, r.requirement_outcomes()) for r in results], mode=mode,
        catalogue=[c.requirements for c in catalogue() if c.mode == mode])
    if args.json:
        write_json(document, Path(args.json))
    if args.junit:
        write_junit(results, Path(args.junit), name=f"sink-check {mode} {label}")
    if args.html:
        from .html import write_html

        write_html(document, Path(args.html))
    if documents is not None:
        documents.append((document, args))
    return summary.exit_code


def cmd_server(args: argparse.Namespace) -> int:
    console = make_console()
    try:
        profile = load_profile(Path(args.profile) if args.profile else None, ca=args.ca, cert=args.cert, key=args.key)
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        console.print(f"[bold magenta]sink-check: bad profile:[/] {exc}", highlight=False)
        return 2
    if (problem := missing_expected_failures(args)) is not None:
        console.print(f"[bold magenta]sink-check:[/] {problem}", highlight=False)
        return 2
    cases = _selected(args, "server")
    if args.list:
        print_list(console, cases)
        return 0
    host, port = args.target
    if args.matrix:
        from .matrix import cmd_matrix

        return cmd_matrix(cases, host=host, port=port, profile=profile, args=args, console=console)
    return run_and_report(cases, host=host, port=port, profile=profile, args=args, console=console, mode="server",
                          label=f"{host}:{port}")


def cmd_client(args: argparse.Namespace) -> int:
    console = make_console()
    try:
        profile = load_profile(Path(args.profile) if args.profile else None, ca=args.ca, cert=args.cert, key=args.key,
                               identity="server", exec=args.exec)
    except (OSError, ValueError) as exc:
        console.print(f"[bold magenta]sink-check: bad profile:[/] {exc}", highlight=False)
        return 2
    if (problem := missing_expected_failures(args)) is not None:
        console.print(f"[bold magenta]sink-check:[/] {problem}", highlight=False)
        return 2
    cases = _selected(args, "client")
    if args.list:
        print_list(console, cases)
        return 0
    return run_client_mode(cases, listen=args.listen, profile=profile, args=args, console=console)


def run_client_mode(cases: list[Case], *, listen: tuple[str, int], profile: Profile, args: argparse.Namespace,
                    console: Console, label: str | None = None,
                    documents: list[tuple[dict[str, Any], argparse.Namespace]] | None = None) -> int:
    """Client mode: listen, start (or ask for) the client under test, run the client cases, report."""
    from .client_mode import run_client_cases
    from .model import Unsupported

    where: list[str] = []

    def listening(host: str, port: int) -> None:
        where.append(f"{host}:{port}")
        console.print(f"sink-check: listening on {host}:{port} as the server"
                      + (f"; client: {profile.client.exec}" if profile.client.exec else ""), highlight=False)

    def execute(expected: set[str], on_result: Callable[[CaseResult], None]) -> Coroutine[Any, Any, list[CaseResult]]:
        return run_client_cases(cases, listen=listen, profile=profile, scale=args.scale, expected_failures=expected,
                                on_result=on_result, on_listening=listening,
                                say=lambda text: console.print(f"[bold]{text}[/]", highlight=False),
                                client_log=Path(args.client_log) if getattr(args, "client_log", None) else None)

    try:
        return run_and_report(cases, host=listen[0], port=listen[1], profile=profile, args=args, console=console,
                              mode="client", execute=execute,
                              label=lambda: f"{label or 'client under test'}, runner listening on "
                                            f"{where[0] if where else '%s:%s' % listen}", documents=documents)
    except (Unsupported, OSError) as exc:
        console.print(f"[bold magenta]sink-check: cannot run client mode:[/] {exc}", highlight=False)
        return 2


def cmd_profile(args: argparse.Namespace) -> int:
    from .paths import profile_template

    try:
        sys.stdout.write(profile_template(args.name))
    except ValueError as exc:
        print(f"sink-check profile: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from .selftest import selftest

    return selftest(args, make_console())


def add_docs_url_option(p: argparse.ArgumentParser) -> None:
    """--docs-url, for every mode that writes reports."""
    p.add_argument("--docs-url", metavar="BASE",
                   help="link requirement IDs in the reports to this docs site (its root, e.g. "
                        "https://docs.example.org/sink/ or http://127.0.0.1:8000/ for `python3 kit.py docs`); "
                        "default: no links, the reports carry each requirement's text")


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
    parser.add_argument("--debug-log", metavar="FILE",
                        help="write asyncio's own log (connection noise such as 'SSL connection is closed') here; "
                             "by default it never reaches the console (its errors still do)")
    sub = parser.add_subparsers(dest="command", required=True)
    server = sub.add_parser("server", help="test a Sink server: the runner plays its clients")
    server.add_argument("target", type=_address, metavar="HOST:PORT", help="the Sink server under test")
    server.add_argument("--profile", metavar="FILE", help="the implementation's profile (TOML)")
    server.add_argument("--ca", help="CA that signed the server certificate (overrides the profile)")
    server.add_argument("--cert", help="client certificate of the main identity (overrides the profile)")
    server.add_argument("--key", help="its key")
    _common(server)
    from . import matrix

    matrix.add_options(server)
    server.set_defaults(func=cmd_server)
    client = sub.add_parser("client", help="test a Sink client: the runner plays its server")
    client.add_argument("--listen", type=_address, required=True, metavar="HOST:PORT",
                        help="where the runner listens (port 0: any free port; use {port} in --exec)")
    client.add_argument("--profile", metavar="FILE", help="the implementation's profile (TOML)")
    client.add_argument("--ca", help="CA that signed the client's certificate (overrides the profile)")
    client.add_argument("--cert", help="the runner's server certificate (overrides identities.server)")
    client.add_argument("--key", help="its key")
    client.add_argument("--exec", metavar="COMMAND",
                        help="start the client under test with this command for each case ({host}, {port} are "
                             "replaced); without it, the runner asks you to start it and waits")
    client.add_argument("--client-log", metavar="FILE", help="append the client's stdout and stderr here (--exec)")
    _common(client)
    client.set_defaults(func=cmd_client)
    selftest = sub.add_parser("selftest", help="run the catalogue against the reference server and every mutant")
    _common(selftest)
    selftest.add_argument("--no-mutants", action="store_true", help="only the reference server and client")
    selftest.add_argument("--mutant-workers", type=int, default=4, metavar="N",
                          help="mutants checked at once (default 4; they mostly wait on their peer)")
    selftest.set_defaults(func=cmd_selftest)
    profile = sub.add_parser("profile", help="print a profile template (the kit's reference profile) to fill in")
    profile.add_argument("name", nargs="?", default="reference", help="which of the kit's profiles (default: reference)")
    profile.set_defaults(func=cmd_profile)
    from . import codec_mode

    codec_mode.register(sub)
    from . import load_mode

    load_mode.register(sub)
    from . import fuzz_mode

    fuzz_mode.register(sub)
    from sinktools._clihelp import apply_exit_codes

    apply_exit_codes(parser, EXIT_CODES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sinktools._clihelp import run_main

    from .console import route_asyncio_log

    route_asyncio_log(Path(args.debug_log) if args.debug_log else None)
    return run_main(lambda: int(args.func(args)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
