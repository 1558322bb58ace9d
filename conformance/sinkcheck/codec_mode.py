"""``sink-check codec --exec COMMAND``: run every golden vector and generated cases through a codec shim.

The shim is a subprocess speaking the envelope protocol of ``codec_protocol``
on its stdin/stdout. Every request has its own timeout: a shim that does not
answer in time is killed and restarted, the check is reported as failed
("no answer"), and the run goes on. A shim that dies is restarted the same way.
"""

from __future__ import annotations

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
from .codec_cases import VECTOR_DIRS, Check, CodecCase, describe, same_bytes, same_json, vector_cases
from .codec_protocol import (
    KINDS_BY_VERSION,
    LEGACY_PROTOCOL_VERSION,
    MAX_MESSAGE,
    PROTOCOL_VERSION,
    SINK_VERSIONS,
    ProtocolViolation,
    decode_body,
    encode_message,
)
from .paths import peer_environment

__all__ = [
    "ShimError",
    "Shim",
    "CheckResult",
    "CaseOutcome",
    "CodecSettings",
    "run_codec",
    "codec_report",
    "check_codec",
]

REPORT_SCHEMA_VERSION = 1
#: Worst first: the outcome of a case is that of its worst check.
ORDER = ("fail", "unsupported", "pass")


@dataclass(frozen=True)
class CodecSettings:
    """``sink-check codec``: the shim, the cases, and the reports."""

    exec: str  # the command that starts the shim
    versions: tuple[int, ...] = SINK_VERSIONS  # Sink protocol versions whose cases run
    seed: int = 0  # seed of the generated cases
    examples: int = 500  # generated cases (0: none)
    vectors: bool = True  # run the golden vectors too
    vector_dirs: tuple[Path, ...] = ()  # golden vector folders (default: vectors/v0, vectors/v1 of the versions)
    timeout: float = 5.0  # seconds per request before the shim is restarted
    include: tuple[str, ...] = ()  # only case IDs matching one of these globs (none: every case)
    exclude: tuple[str, ...] = ()  # skip case IDs matching one of these globs
    json: Path | None = None
    html: Path | None = None
    list_only: bool = False  # list the cases and exit
    verbose: bool = False  # print passing cases and checks too


class ShimError(Exception):
    """The shim did not answer properly: no answer in time, died, or broke the envelope rules."""


@dataclass(frozen=True)
class Support:
    """What a shim declares for one Sink protocol version."""

    decode: frozenset[str]
    encode: frozenset[str]
    limits: frozenset[str]
    #: Context coding (version 1): the shim takes the ``bases`` of a request (CTX-1..7, spec/v1/context.md).
    context: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decode": sorted(self.decode),
            "encode": sorted(self.encode),
            "limits": sorted(self.limits),
        }
        if self.context:
            out["context"] = True
        return out


@dataclass
class Hello:
    name: str
    #: Sink protocol version -> what the shim supports in it; a version it does not list is unsupported.
    versions: dict[int, Support]
    #: The codec-mode protocol version the shim speaks (1: a shim written before protocol versions existed).
    wire: int = PROTOCOL_VERSION

    @property
    def decode(self) -> frozenset[str]:  # version 0's, for callers that predate version 1
        return self.versions[0].decode if 0 in self.versions else frozenset()

    @property
    def encode(self) -> frozenset[str]:
        return self.versions[0].encode if 0 in self.versions else frozenset()

    @property
    def limits(self) -> frozenset[str]:
        return self.versions[0].limits if 0 in self.versions else frozenset()


def _support(version: int, entry: Any) -> Support:
    kinds = entry.get("kinds", {}) if isinstance(entry, dict) else {}
    known = frozenset(KINDS_BY_VERSION[version])
    return Support(
        decode=frozenset(kinds.get("decode", [])) & known,
        encode=frozenset(kinds.get("encode", [])) & known,
        limits=frozenset(entry.get("limits", []) if isinstance(entry, dict) else []),
        context=version >= 1 and isinstance(entry, dict) and entry.get("context") is True,
    )


def parse_hello(answer: dict[str, Any], wire: int) -> Hello:
    """A ``hello`` answer: ``protocol_versions`` maps "0"/"1" to ``{kinds, limits}``; without it (a shim of
    codec-mode protocol 1), the top-level ``kinds`` and ``limits`` are version 0's and version 1 is unsupported."""
    declared = answer.get("protocol_versions")
    versions: dict[int, Support] = {}
    if isinstance(declared, dict):
        for key, entry in declared.items():
            if str(key).isdigit() and int(key) in SINK_VERSIONS:
                versions[int(key)] = _support(int(key), entry)
    else:
        versions[0] = _support(0, answer)
    return Hello(name=str(answer.get("name", "unnamed shim")), versions=versions, wire=wire)


class Shim:
    """One running shim process; ``restart`` replaces it after a timeout or a crash."""

    def __init__(self, command: str, *, timeout: float, cwd: Path | None = None, schemas: Path | None = None) -> None:
        self.command = command
        self.timeout = timeout
        self.cwd = cwd
        self.schemas = schemas
        self.hello: Hello | None = None
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._stderr: deque[str] = deque(maxlen=40)  # the shim's last words, shown when it dies
        self._stderr_task: asyncio.Task[None] | None = None
        self._next_id = 0
        self._wire = PROTOCOL_VERSION

    async def start(self) -> Hello:
        # The kit's own shims by their place in the repository, and a bare `python`, work from anywhere.
        argv = [kit_argument(word, self.cwd) for word in shlex.split(self.command)]
        self._process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=peer_environment(),
            stderr=asyncio.subprocess.PIPE,
            cwd=self.cwd,
            start_new_session=True,
            limit=MAX_MESSAGE + 4,
        )
        self._stderr_task = asyncio.create_task(self._drain_stderr(self._process))
        self._wire = PROTOCOL_VERSION
        hello: dict[str, Any] = {
            "op": "hello",
            "versions": [PROTOCOL_VERSION, LEGACY_PROTOCOL_VERSION],
            "protocol_versions": list(SINK_VERSIONS),
            "kit_version": __version__,
        }
        if self.schemas is not None:
            hello["schemas"] = str(self.schemas)
        answer = await self.request(hello)
        if not answer.get("ok") and answer.get("error") == "bad_request":
            # A shim of codec-mode protocol 1 checks "v" and knows no Sink protocol version: version 0 only.
            self._wire = LEGACY_PROTOCOL_VERSION
            answer = await self.request(
                {"op": "hello", "versions": [LEGACY_PROTOCOL_VERSION], "kit_version": __version__}
            )
        if not answer.get("ok"):
            raise ShimError(f"hello refused: {answer.get('error')}: {answer.get('detail')}")
        self.hello = parse_hello(answer, self._wire)
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
        request = {"v": self._wire, "id": self._next_id, **body}
        if self._wire == LEGACY_PROTOCOL_VERSION:
            request.pop("protocol_version", None)
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
            raise ShimError(
                f"the shim died ({type(exc).__name__}, exit {process.returncode}); "
                f"stderr: {self.last_words() or '(nothing)'}"
            ) from None
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
                process.stdin.write(encode_message({"v": self._wire, "id": self._next_id, "op": "bye"}))
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
    #: The requirements this check's outcome is about: what it exercises when it passes, what decides the
    #: dispute when it fails (see :func:`cited`).
    requirements: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "op": self.op,
            "outcome": self.outcome,
            "expected": self.expected,
            "got": self.got,
            "requirements": list(self.requirements),
            "request": self.request,
        }


@dataclass
class CaseOutcome:
    case: CodecCase
    checks: list[CheckResult]

    @property
    def outcome(self) -> str:
        return min((c.outcome for c in self.checks), key=ORDER.index, default="unsupported")

    @property
    def failed_requirements(self) -> tuple[str, ...]:
        """What the failed checks are about (nothing else of the case's requirements)."""
        return tuple(dict.fromkeys(r for c in self.checks if c.outcome == "fail" for r in c.requirements))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "source": self.case.source,
            "kind": self.case.kind,
            "protocol_version": self.case.version,
            "requirements": list(self.case.requirements),
            "failed_requirements": list(self.failed_requirements),
            "outcome": self.outcome,
            "checks": [c.to_json() for c in self.checks],
        }


def _expected_text(check: Check) -> str:
    if check.expect == "value":
        return f"value {describe(check.expected)}"
    if check.expect == "error":
        return f"decode_error {check.expected}"
    if check.expect == "bytes":
        compressed = check.kind == "batch" or (check.version == 1 and check.kind == "frame")
        return f"bytes {describe(check.expected)}" + (" (compressed bodies compared inflated)" if compressed else "")
    if check.expect == "unknown_base":
        return "unknown_base (the base is not among the request's bases, CTX-5)"
    return "encode_error (no valid encoding)"


def cited(check: Check, answer: dict[str, Any] | None, outcome: str) -> tuple[str, ...]:
    """The requirements a check's outcome is about.

    A pass exercises the check's own requirements. A failure cites what decides the dispute: a wrong error
    class, the expected error's requirement and ERR-2 (both sides found a violation, the first one met
    decides); an accepted malformed input, the expected error's requirement and ERR-1; a valid input refused as
    ``invalid_utf8``, ERR-9, as ``limit_exceeded`` under the default limits, LIMIT-6; bytes produced for a value
    without an encoding, ERR-8; a crash or no answer on malformed input, ERR-1 besides. Anything else (a wrong
    value or wrong bytes) is about the check's own requirements.
    """
    own = check.requirements
    if outcome != "fail":
        return own
    expected_rule = (check.requirement,) if check.requirement else own
    error = (answer or {}).get("error")
    error_class = (answer or {}).get("error_class")
    if check.op == "decode" and check.expect == "error":
        utf8 = ("ERR-9",) if "invalid_utf8" in (check.expected, error_class) else ()
        if error == "decode_error":
            return tuple(dict.fromkeys((*expected_rule, "ERR-2", *utf8)))
        return tuple(dict.fromkeys((*expected_rule, "ERR-1", *utf8)))
    if check.op == "decode" and error == "decode_error":
        if error_class == "invalid_utf8":
            return ("ERR-9",)
        if error_class == "limit_exceeded" and not check.limits:
            return ("LIMIT-6",)
    if check.op == "encode" and check.expect == "refused":
        return ("ERR-8",)
    return own


def judge(check: Check, answer: dict[str, Any]) -> tuple[str, str]:
    """(outcome, what arrived) for one answer."""
    if answer.get("ok") is True:
        if check.op == "decode":
            value = answer.get("value")
            got = f"value {describe(value)}"
            return ("pass" if check.expect == "value" and same_json(value, check.expected) else "fail"), got
        produced = answer.get("hex")
        got = f"bytes {describe(produced)}"
        if (
            check.expect == "bytes"
            and isinstance(produced, str)
            and same_bytes(check.kind, check.expected, produced.lower(), check.version)
        ):
            return "pass", got
        return "fail", got
    error = answer.get("error")
    detail = f" ({answer.get('detail')})" if answer.get("detail") else ""
    if error == "unsupported":
        return "unsupported", f"unsupported{detail}"
    if error == "crash":  # the shim says its codec failed unexpectedly: never an answer, always a failure
        return "fail", f"crash{detail}"
    if error == "decode_error" and check.op == "decode":
        got = f"decode_error {answer.get('error_class')}{detail}"
        return ("pass" if check.expect == "error" and answer.get("error_class") == check.expected else "fail"), got
    if error == "unknown_base" and check.op == "decode":
        return ("pass" if check.expect == "unknown_base" else "fail"), f"unknown_base{detail}"
    if error == "encode_error" and check.op == "encode":
        return ("pass" if check.expect == "refused" else "fail"), f"encode_error{detail}"
    return "fail", f"{error}{detail}"


async def run_check(shim: Shim, check: Check) -> CheckResult:
    expected = _expected_text(check)
    request = check.request()
    hello = shim.hello
    assert hello is not None
    support = hello.versions.get(check.version)
    if support is None:
        declared = ", ".join(map(str, sorted(hello.versions))) or "none"
        return CheckResult(
            check.label,
            check.op,
            "unsupported",
            expected,
            f"the shim declares no protocol version {check.version} (it declares {declared})",
            request,
            check.requirements,
        )
    supported = support.decode if check.op == "decode" else support.encode
    if check.kind not in supported:
        return CheckResult(
            check.label,
            check.op,
            "unsupported",
            expected,
            f"the shim announces no {check.op} of {check.kind} in version {check.version}",
            request,
            check.requirements,
        )
    if check.bases is not None and not support.context:
        return CheckResult(
            check.label,
            check.op,
            "unsupported",
            expected,
            f"the shim does not declare context coding in version {check.version} (the check gives it bases)",
            request,
            check.requirements,
        )
    missing = sorted(set(check.limits) - support.limits)
    if missing:
        return CheckResult(
            check.label,
            check.op,
            "unsupported",
            expected,
            f"the shim does not honour the limit(s) {', '.join(missing)}",
            request,
            check.requirements,
        )
    try:
        answer = await shim.request(request)
    except ShimError as exc:
        await shim.restart()  # a hung or dead shim is this check's failure, not the end of the run
        return CheckResult(
            check.label,
            check.op,
            "fail",
            expected,
            f"{exc}; shim restarted",
            request,
            cited(check, {"error": "crash"}, "fail"),
        )
    outcome, got = judge(check, answer)
    return CheckResult(check.label, check.op, outcome, expected, got, request, cited(check, answer, outcome))


async def run_codec(
    cases: list[CodecCase],
    command: str,
    *,
    timeout: float = 5.0,
    cwd: Path | None = None,
    schemas: Path | None = None,
    on_case: Callable[[CaseOutcome], None] | None = None,
) -> tuple[Hello, list[CaseOutcome], int]:
    """Run ``cases`` through the shim; (its hello, outcomes, restarts). ShimError if it cannot even start."""
    shim = Shim(command, timeout=timeout, cwd=cwd, schemas=schemas)
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


def coverage_results(outcomes: list[CaseOutcome]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(case ID, outcome, requirements) per check, for the requirement rollup.

    Each check counts for the requirements it is about (:func:`cited`), so a failed check marks only the
    requirements its dispute is about, and a case whose decode ran but whose encode is unsupported (a
    decode-only codec) still exercised what its decode check covers.
    """
    from .coverage import SEVERITY  # a check that ran outranks an unsupported one: "pass" before "unsupported"

    out: list[tuple[str, str, tuple[str, ...]]] = []
    for o in outcomes:
        worst: dict[str, str] = {}
        for check in o.checks:
            for rid in check.requirements:
                if rid not in worst or SEVERITY.index(check.outcome) < SEVERITY.index(worst[rid]):
                    worst[rid] = check.outcome
        for outcome in ORDER:
            cited_here = tuple(rid for rid, worst_outcome in worst.items() if worst_outcome == outcome)
            if cited_here:
                out.append((o.case.id, outcome, cited_here))
    return out


def codec_report(
    outcomes: list[CaseOutcome],
    *,
    hello: Hello,
    command: str,
    seed: int,
    examples: int,
    restarts: int,
    started: dt.datetime,
    duration: float,
    versions: tuple[int, ...] = SINK_VERSIONS,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    counts = {name: sum(o.outcome == name for o in outcomes) for name in ORDER}
    check_counts = {name: sum(c.outcome == name for o in outcomes for c in o.checks) for name in ORDER}
    from .reports import requirement_sections, requirement_url

    sections = requirement_sections()
    return {
        "report_schema": REPORT_SCHEMA_VERSION,
        "tool": "sink-check",
        "mode": "codec",
        "kit_version": __version__,
        "protocol_version": hello.wire,  # of the codec-mode protocol the shim spoke
        "spec_versions": list(versions),  # the Sink protocol versions whose cases ran
        "command": command,
        "shim": {
            "name": hello.name,
            "decode": sorted(hello.decode),
            "encode": sorted(hello.encode),
            "limits": sorted(hello.limits),
            "protocol_versions": {str(v): s.to_json() for v, s in sorted(hello.versions.items())},
        },
        "seed": seed,
        "examples": examples,
        "started": started.isoformat(),
        "duration": round(duration, 3),
        "timings": {k: round(v, 3) for k, v in (timings or {}).items()},
        "summary": {
            "cases": counts,
            "checks": check_counts,
            "shim_restarts": restarts,
            "failed": [o.case.id for o in outcomes if o.outcome == "fail"],
            "exit_code": 1 if counts["fail"] else 0,
        },
        "requirement_links": {
            rid: requirement_url(rid, sections)
            for o in outcomes
            for c in o.checks
            for rid in (*o.case.requirements, *c.requirements)
        },
        "cases": [o.to_json() for o in outcomes],
    }


STYLE = {"pass": "green", "fail": "bold red", "unsupported": "dim"}


def _print_case(console: Console, outcome: CaseOutcome, verbose: bool) -> None:
    if outcome.outcome == "pass" and not verbose:
        return
    if outcome.outcome == "unsupported" and not verbose:
        return
    about = outcome.failed_requirements or outcome.case.requirements
    console.print(
        f"[{STYLE[outcome.outcome]}]{outcome.outcome.upper():<12}[/] {outcome.case.id} [dim][{', '.join(about)}][/]",
        highlight=False,
    )
    for check in outcome.checks:
        if check.outcome == "pass" and not verbose:
            continue
        console.print(f"    {check.label}: {check.outcome}", highlight=False)
        console.print(f"      expected: {check.expected}", highlight=False)
        console.print(f"      got:      {check.got}", highlight=False)
        if check.outcome == "fail" and outcome.case.source == "generated":
            console.print(f"      request:  {describe(check.request, 400)}", highlight=False)


def select_cases(cases: list[CodecCase], include: list[str] | None, exclude: list[str] | None) -> list[CodecCase]:
    return [
        c
        for c in cases
        if (not include or any(fnmatch.fnmatchcase(c.id, p) for p in include))
        and not (exclude and any(fnmatch.fnmatchcase(c.id, p) for p in exclude))
    ]


def registry_dir() -> Path | None:
    """The schema registry whose writer schemas version-1 records batches use (sent to the shim in ``hello``)."""
    from sinkproto.errors import SinkError
    from sinkproto.schemas import default_registry

    try:
        return default_registry().directory.resolve()
    except (SinkError, OSError):
        return None


def load_cases(settings: CodecSettings, versions: tuple[int, ...]) -> tuple[list[CodecCase], dict[str, float]]:
    """The vector cases (``--vectors`` folders, else vectors/v0 and vectors/v1 of the versions run), then the
    generated ones; with the seconds each part took."""
    from .codec_strategies import generate

    timings: dict[str, float] = {}
    started = time.perf_counter()
    cases: list[CodecCase] = []
    if settings.vectors:
        folders = list(settings.vector_dirs) if settings.vector_dirs else [VECTOR_DIRS[v] for v in versions]
        for folder in folders:
            if folder is None:
                raise FileNotFoundError("vectors/v0 not found; run from a checkout of the kit or pass --vectors")
            found = vector_cases(folder)
            if not found:
                raise FileNotFoundError(f"no golden vector files in {folder}")
            cases += [c for c in found if c.version in versions]
    timings["vectors"] = time.perf_counter() - started
    started = time.perf_counter()
    cases += generate(settings.seed, settings.examples, versions)
    timings["generation"] = time.perf_counter() - started
    return cases, timings


def check_codec(settings: CodecSettings) -> int:
    """Run ``sink-check codec``: every selected case through the shim; print and write the report."""
    console = Console()
    versions = tuple(sorted(set(settings.versions or SINK_VERSIONS)))
    try:
        cases, timings = load_cases(settings, versions)
    except FileNotFoundError as exc:
        console.print(f"[bold magenta]sink-check codec: {exc}[/]", highlight=False)
        return 2
    cases = select_cases(cases, list(settings.include), list(settings.exclude))
    if settings.list_only:
        for case in cases:
            console.print(
                f"{case.id:<56} {case.source:<9} v{case.version} {','.join(case.requirements)}", highlight=False
            )
        return 0
    started_at, started = dt.datetime.now(dt.UTC), time.monotonic()
    console.print(
        f"sink-check codec: {len(cases)} cases of protocol version(s) {', '.join(map(str, versions))} "
        f"(seed {settings.seed}, {settings.examples} generated) through `{settings.exec}`",
        highlight=False,
    )
    exchange = time.perf_counter()
    try:
        hello, outcomes, restarts = asyncio.run(
            run_codec(
                cases,
                settings.exec,
                timeout=settings.timeout,
                schemas=registry_dir(),
                on_case=lambda o: _print_case(console, o, settings.verbose),
            )
        )
    except ShimError as exc:
        console.print(f"[bold magenta]sink-check codec: {exc}[/]", highlight=False)
        return 2
    timings["exchange"] = time.perf_counter() - exchange
    report = codec_report(
        outcomes,
        hello=hello,
        command=settings.exec,
        seed=settings.seed,
        examples=settings.examples,
        restarts=restarts,
        started=started_at,
        duration=time.monotonic() - started,
        versions=versions,
        timings=timings,
    )
    summary = report["summary"]
    for version in versions:
        support = hello.versions.get(version)
        declared = (
            "not declared: its cases are unsupported"
            if support is None
            else f"decode {', '.join(sorted(support.decode)) or '-'}; encode {', '.join(sorted(support.encode)) or '-'}; "
            f"limits {', '.join(sorted(support.limits)) or '-'}"
        )
        console.print(
            f"{'' if version != versions[0] else chr(10)}shim {hello.name!r}, protocol version {version}: {declared}",
            highlight=False,
        )
    console.print(
        "[bold]cases:[/] "
        + ", ".join(f"{n} {k}" for k, n in summary["cases"].items())
        + "  [bold]checks:[/] "
        + ", ".join(f"{n} {k}" for k, n in summary["checks"].items())
        + f"  (shim restarts: {restarts}, seed {settings.seed})",
        highlight=False,
    )
    console.print(
        f"time: vectors loaded in {timings['vectors']:.2f} s, {settings.examples} cases generated in "
        f"{timings['generation']:.2f} s, exchange with the shim {timings['exchange']:.2f} s",
        highlight=False,
    )
    from .coverage import report_coverage

    report["requirements"] = report_coverage(
        console,
        coverage_results(outcomes),
        mode="codec",
        catalogue=[c.requirements for case in cases for c in case.checks],
    )
    if settings.json:
        settings.json.write_text(json.dumps(report, indent=1) + "\n")
    if settings.html:
        from .codec_html import write_codec_html

        write_codec_html(report, settings.html)
    console.print(f"exit code {summary['exit_code']}", highlight=False)
    return int(summary["exit_code"])
