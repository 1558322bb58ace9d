"""``sink-check codec --exec COMMAND``: run every golden vector and generated cases through a codec shim.

The shim is a subprocess speaking the envelope protocol of ``codec_protocol``
on its stdin/stdout. Every request has its own timeout: a shim that does not
answer in time is killed and restarted, the check is reported as failed
("no answer"), and the run goes on. A shim that dies is restarted the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import fnmatch
import json
import os
import shlex
import signal
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from sinkkit import kit_argument

from . import __version__
from .codec_cases import Check, CodecCase, describe, same_bytes, same_json, vector_cases
from .codec_protocol import KINDS, MAX_MESSAGE, PROTOCOL_VERSION, ProtocolViolation, decode_body, encode_message
from .paths import peer_environment

__all__ = ["ShimError", "Shim", "CheckResult", "CaseOutcome", "run_codec", "codec_report", "register", "cmd_codec"]

REPORT_SCHEMA_VERSION = 1
#: Worst first: the outcome of a case is that of its worst check.
ORDER = ("fail", "unsupported", "pass")


class ShimError(Exception):
    """The shim did not answer properly: no answer in time, died, or broke the envelope rules."""


@dataclass
class Hello:
    name: str
    decode: frozenset[str]
    encode: frozenset[str]
    limits: frozenset[str]


class Shim:
    """One running shim process; ``restart`` replaces it after a timeout or a crash."""

    def __init__(self, command: str, *, timeout: float, cwd: Path | None = None) -> None:
        self.command = command
        self.timeout = timeout
        self.cwd = cwd
        self.hello: Hello | None = None
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._stderr: deque[str] = deque(maxlen=40)  # the shim's last words, shown when it dies
        self._stderr_task: asyncio.Task[None] | None = None
        self._next_id = 0

    async def start(self) -> Hello:
        # The kit's own shims by their place in the repository, and a bare `python`, work from anywhere.
        argv = [kit_argument(word, self.cwd) for word in shlex.split(self.command)]
        self._process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=peer_environment(),
            stderr=asyncio.subprocess.PIPE, cwd=self.cwd, start_new_session=True, limit=MAX_MESSAGE + 4)
        self._stderr_task = asyncio.create_task(self._drain_stderr(self._process))
        answer = await self.request({"op": "hello", "versions": [PROTOCOL_VERSION], "kit_version": __version__})
        if not answer.get("ok"):
            raise ShimError(f"hello refused: {answer.get('error')}: {answer.get('detail')}")
        kinds = answer.get("kinds", {})
        self.hello = Hello(name=str(answer.get("name", "unnamed shim")),
                           decode=frozenset(kinds.get("decode", [])) & frozenset(KINDS),
                           encode=frozenset(kinds.get("encode", [])) & frozenset(KINDS),
                           limits=frozenset(answer.get("limits", [])))
        return self.hello

    async def _drain_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            self._stderr.append(line.decode(errors="replace").rstrip())

    def last_words(self) -> str:
        return " | ".join(list(self._stderr)[-5:])

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send one request and wait for its answer; ShimError on timeout, death or a garbled answer."""
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            raise ShimError("the shim is not running")
        self._next_id += 1
        request = {"v": PROTOCOL_VERSION, "id": self._next_id, **body}
        try:
            process.stdin.write(encode_message(request))
            await asyncio.wait_for(process.stdin.drain(), self.timeout)
            head = await asyncio.wait_for(process.stdout.readexactly(4), self.timeout)
            (length,) = struct.unpack(">I", head)
            if length > MAX_MESSAGE:
                raise ShimError(f"answer announces {length} bytes, more than {MAX_MESSAGE}")
            answer = decode_body(await asyncio.wait_for(process.stdout.readexactly(length), self.timeout))
        except TimeoutError:
            raise ShimError(f"no answer within {self.timeout:g} s") from None
        except (asyncio.IncompleteReadError, ConnectionError, BrokenPipeError) as exc:
            await asyncio.sleep(0.05)  # let stderr catch the shim's last words
            raise ShimError(f"the shim died ({type(exc).__name__}, exit {process.returncode}); "
                            f"stderr: {self.last_words() or '(nothing)'}") from None
        except ProtocolViolation as exc:
            raise ShimError(f"garbled answer: {exc}") from None
        if answer.get("id") != request["id"]:
            raise ShimError(f"answer id {answer.get('id')!r} for request id {request['id']} (out of step)")
        return answer

    async def restart(self) -> None:
        self.restarts += 1
        await self.stop(polite=False)
        await self.start()

    async def stop(self, *, polite: bool = True) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        if polite and process.returncode is None:
            try:
                self._next_id += 1
                assert process.stdin is not None
                process.stdin.write(encode_message({"v": PROTOCOL_VERSION, "id": self._next_id, "op": "bye"}))
                process.stdin.close()
                await asyncio.wait_for(process.wait(), 2)
            except (TimeoutError, ConnectionError, BrokenPipeError):
                pass
        if process.returncode is None:
            try:  # the whole session: a shell wrapper must not leave the real shim running
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await process.wait()
        if self._stderr_task is not None:
            await asyncio.gather(self._stderr_task, return_exceptions=True)


@dataclass
class CheckResult:
    label: str
    op: str
    outcome: str  # pass | fail | unsupported
    expected: str
    got: str
    request: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "op": self.op, "outcome": self.outcome, "expected": self.expected,
                "got": self.got, "request": self.request}


@dataclass
class CaseOutcome:
    case: CodecCase
    checks: list[CheckResult]

    @property
    def outcome(self) -> str:
        return min((c.outcome for c in self.checks), key=ORDER.index, default="unsupported")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.case.id, "source": self.case.source, "kind": self.case.kind,
                "requirements": list(self.case.requirements), "outcome": self.outcome,
                "checks": [c.to_json() for c in self.checks]}


def _expected_text(check: Check) -> str:
    if check.expect == "value":
        return f"value {describe(check.expected)}"
    if check.expect == "error":
        return f"decode_error {check.expected}"
    if check.expect == "bytes":
        return f"bytes {describe(check.expected)}" + (" (gzip body compared inflated)" if check.kind == "batch" else "")
    return "encode_error (no valid encoding)"


def judge(check: Check, answer: dict[str, Any]) -> tuple[str, str]:
    """(outcome, what arrived) for one answer."""
    if answer.get("ok") is True:
        if check.op == "decode":
            value = answer.get("value")
            got = f"value {describe(value)}"
            return ("pass" if check.expect == "value" and same_json(value, check.expected) else "fail"), got
        produced = answer.get("hex")
        got = f"bytes {describe(produced)}"
        if check.expect == "bytes" and isinstance(produced, str) and same_bytes(check.kind, check.expected,
                                                                                 produced.lower()):
            return "pass", got
        return "fail", got
    error = answer.get("error")
    detail = f" ({answer.get('detail')})" if answer.get("detail") else ""
    if error == "unsupported":
        return "unsupported", f"unsupported{detail}"
    if error == "decode_error" and check.op == "decode":
        got = f"decode_error {answer.get('error_class')}{detail}"
        return ("pass" if check.expect == "error" and answer.get("error_class") == check.expected else "fail"), got
    if error == "encode_error" and check.op == "encode":
        return ("pass" if check.expect == "refused" else "fail"), f"encode_error{detail}"
    return "fail", f"{error}{detail}"


async def run_check(shim: Shim, check: Check) -> CheckResult:
    expected = _expected_text(check)
    request = check.request()
    hello = shim.hello
    assert hello is not None
    supported = hello.decode if check.op == "decode" else hello.encode
    if check.kind not in supported:
        return CheckResult(check.label, check.op, "unsupported", expected,
                           f"the shim announces no {check.op} of {check.kind}", request)
    missing = sorted(set(check.limits) - hello.limits)
    if missing:
        return CheckResult(check.label, check.op, "unsupported", expected,
                           f"the shim does not honour the limit(s) {', '.join(missing)}", request)
    try:
        answer = await shim.request(request)
    except ShimError as exc:
        await shim.restart()  # a hung or dead shim is this check's failure, not the end of the run
        return CheckResult(check.label, check.op, "fail", expected, f"{exc}; shim restarted", request)
    outcome, got = judge(check, answer)
    return CheckResult(check.label, check.op, outcome, expected, got, request)


async def run_codec(cases: list[CodecCase], command: str, *, timeout: float = 5.0, cwd: Path | None = None,
                    on_case: Callable[[CaseOutcome], None] | None = None) -> tuple[Hello, list[CaseOutcome], int]:
    """Run ``cases`` through the shim; (its hello, outcomes, restarts). ShimError if it cannot even start."""
    shim = Shim(command, timeout=timeout, cwd=cwd)
    try:
        try:
            hello = await shim.start()
        except (OSError, ShimError) as exc:
            raise ShimError(f"cannot start the shim `{command}`: {exc}") from None
        outcomes = []
        for case in cases:
            outcome = CaseOutcome(case, [await run_check(shim, check) for check in case.checks])
            outcomes.append(outcome)
            if on_case is not None:
                on_case(outcome)
        return hello, outcomes, shim.restarts
    finally:
        await shim.stop()


def codec_report(outcomes: list[CaseOutcome], *, hello: Hello, command: str, seed: int, examples: int,
                 restarts: int, started: dt.datetime, duration: float) -> dict[str, Any]:
    counts = {name: sum(o.outcome == name for o in outcomes) for name in ORDER}
    check_counts = {name: sum(c.outcome == name for o in outcomes for c in o.checks) for name in ORDER}
    return {
        "report_schema": REPORT_SCHEMA_VERSION,
        "tool": "sink-check",
        "mode": "codec",
        "kit_version": __version__,
        "protocol_version": PROTOCOL_VERSION,
        "command": command,
        "shim": {"name": hello.name, "decode": sorted(hello.decode), "encode": sorted(hello.encode),
                 "limits": sorted(hello.limits)},
        "seed": seed,
        "examples": examples,
        "started": started.isoformat(),
        "duration": round(duration, 3),
        "summary": {"cases": counts, "checks": check_counts, "shim_restarts": restarts,
                    "failed": [o.case.id for o in outcomes if o.outcome == "fail"],
                    "exit_code": 1 if counts["fail"] else 0},
        "cases": [o.to_json() for o in outcomes],
    }


STYLE = {"pass": "green", "fail": "bold red", "unsupported": "dim"}


def _print_case(console: Console, outcome: CaseOutcome, verbose: bool) -> None:
    if outcome.outcome == "pass" and not verbose:
        return
    if outcome.outcome == "unsupported" and not verbose:
        return
    console.print(f"[{STYLE[outcome.outcome]}]{outcome.outcome.upper():<12}[/] {outcome.case.id} "
                  f"[dim][{', '.join(outcome.case.requirements)}][/]", highlight=False)
    for check in outcome.checks:
        if check.outcome == "pass" and not verbose:
            continue
        console.print(f"    {check.label}: {check.outcome}", highlight=False)
        console.print(f"      expected: {check.expected}", highlight=False)
        console.print(f"      got:      {check.got}", highlight=False)
        if check.outcome == "fail" and outcome.case.source == "generated":
            console.print(f"      request:  {describe(check.request, 400)}", highlight=False)


def select_cases(cases: list[CodecCase], include: list[str] | None, exclude: list[str] | None) -> list[CodecCase]:
    return [c for c in cases
            if (not include or any(fnmatch.fnmatchcase(c.id, p) for p in include))
            and not (exclude and any(fnmatch.fnmatchcase(c.id, p) for p in exclude))]


def cmd_codec(args: argparse.Namespace) -> int:
    from .codec_strategies import generate

    console = Console()
    cases = vector_cases(Path(args.vectors) if args.vectors else None) if not args.no_vectors else []
    cases += generate(args.seed, args.examples)
    cases = select_cases(cases, args.cases, args.exclude)
    if args.list:
        for case in cases:
            console.print(f"{case.id:<56} {case.source:<9} {','.join(case.requirements)}", highlight=False)
        return 0
    started_at, started = dt.datetime.now(dt.timezone.utc), time.monotonic()
    console.print(f"sink-check codec: {len(cases)} cases (seed {args.seed}, {args.examples} generated) "
                  f"through `{args.exec}`", highlight=False)
    try:
        hello, outcomes, restarts = asyncio.run(run_codec(
            cases, args.exec, timeout=args.timeout, on_case=lambda o: _print_case(console, o, args.verbose)))
    except ShimError as exc:
        console.print(f"[bold magenta]sink-check codec: {exc}[/]", highlight=False)
        return 2
    report = codec_report(outcomes, hello=hello, command=args.exec, seed=args.seed, examples=args.examples,
                          restarts=restarts, started=started_at, duration=time.monotonic() - started)
    summary = report["summary"]
    console.print(f"\nshim {hello.name!r}: decode {', '.join(sorted(hello.decode)) or '-'}; "
                  f"encode {', '.join(sorted(hello.encode)) or '-'}; limits {', '.join(sorted(hello.limits)) or '-'}",
                  highlight=False)
    console.print("[bold]cases:[/] " + ", ".join(f"{n} {k}" for k, n in summary["cases"].items())
                  + "  [bold]checks:[/] " + ", ".join(f"{n} {k}" for k, n in summary["checks"].items())
                  + f"  (shim restarts: {restarts}, seed {args.seed})", highlight=False)
    from .coverage import report_coverage

    # For coverage, a case whose decode ran but whose encode is unsupported (a decode-only codec) did
    # exercise its requirements: it counts with the outcome of the checks that ran.
    exercised = [(o.case.id, min((c.outcome for c in o.checks if c.outcome != "unsupported"), key=ORDER.index,
                                 default="unsupported"), o.case.requirements) for o in outcomes]
    report["requirements"] = report_coverage(console, exercised, mode="codec",
                                             catalogue=[c.requirements for c in cases])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    console.print(f"exit code {summary['exit_code']}", highlight=False)
    return int(summary["exit_code"])


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``sink-check codec`` to the command line."""
    p = sub.add_parser("codec", help="test a codec through a shim subprocess (docs: conformance/codec-mode)")
    p.add_argument("--exec", required=True, metavar="COMMAND",
                   help="starts the shim; it speaks the codec-mode protocol on stdin/stdout")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated cases (default 0)")
    p.add_argument("--examples", type=int, default=500, metavar="N", help="generated cases (default 500; 0: none)")
    p.add_argument("--no-vectors", action="store_true", help="only generated cases")
    p.add_argument("--vectors", metavar="DIR", help="golden vector folder (default: vectors/v0 of this checkout)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per request before the shim is restarted")
    p.add_argument("--cases", action="append", metavar="GLOB", help="only case IDs matching (repeatable)")
    p.add_argument("--exclude", action="append", metavar="GLOB", help="skip case IDs matching (repeatable)")
    p.add_argument("--json", metavar="FILE", help="write the JSON report")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print passing cases and checks too")
    p.set_defaults(func=cmd_codec)
