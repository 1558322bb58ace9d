"""``sink-check selftest``: the catalogue against the reference server and client, then against every mutant.

The reference server and the reference client must pass every MUST case. Each mutant (a deliberately
broken variant, see :mod:`.mutants`) must make each of its target cases not
pass, and every case must be the target of some mutant: so no case is a
check that cannot fail. Servers and clients run as real subprocesses on loopback: the reference ones
as `sink serve` and `sink connect`, the mutants through the hidden subcommands ``sink-check
_mutant-server --mutant NAME`` and ``_mutant-client --mutant NAME`` (followed by `sink serve` or `sink
connect` options; :mod:`sinkcheck.cli` wires them).
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from sinkproto.certs import create_authority, issue_client, make_dev_pki
from sinkproto.connection import Role

from ..cases import catalogue
from ..model import Case, CaseResult, Outcome
from ..observe import ObserveSettings
from ..profile import ClientSettings, Identity, Profile
from ..run import RunSettings, run_and_report, run_client_mode
from ..runner import run_cases, select
from .mutants import CRASH_PATTERN, MUTANTS, Mutant

__all__ = [
    "SelftestSettings",
    "selftest",
    "reference_profile",
    "reference_server",
    "client_profile",
    "run_mutants",
    "observed_profile",
]

KEEPALIVE = 1.0  # short, so the keepalive cases take seconds
CLIENT_KEEPALIVE = 1.5  # the reference client's K: a little more room for prompt reactions on a loaded machine
EVENTS_TO_PUBLISH = 3
EVENTS_TO_PUBLISH_V1 = 4
IDENTITIES = ("main", "second", "quarantined", "fresh")
REJECTED_APP_VERSION = "0.0.0-rejected"
#: What a crash of the reference server (Python, asyncio) leaves in its log.
PYTHON_CRASH_PATTERN = (
    r"^Traceback \(most recent call last\):|^Task exception was never retrieved|^Exception in callback"
    r"|^Fatal error on"
)


@dataclass(frozen=True)
class SelftestSettings:
    """``sink-check selftest``: which cases, how the runs go and where their reports go, and the mutants."""

    include: tuple[str, ...] = ()  # only cases whose ID matches one of these globs (none: every case)
    exclude: tuple[str, ...] = ()  # skip cases whose ID matches one of these globs
    slow: bool = True  # run the slow cases (those that wait 1.5 K)
    run: RunSettings = RunSettings()  # the reference runs' reports; the client runs' go next to them
    mutants: bool = True  # False: only the reference server and client
    mutant_workers: int = 4  # mutants checked at once


def reference_profile(pki_dir: Path) -> Profile:
    identities = {
        name: Identity(cert=pki_dir / f"client-sc-{name}.pem", key=pki_dir / f"client-sc-{name}.key")
        for name in IDENTITIES
    }
    identities["other_ca"] = Identity(
        cert=pki_dir / "other" / "client-sc-main.pem", key=pki_dir / "other" / "client-sc-main.key"
    )
    return Profile(
        name="reference-selftest",
        ca=pki_dir / "ca.pem",
        identities=identities,
        rejected_app_version=REJECTED_APP_VERSION.encode(),
        poison_key_prefix=b"poison",
        events_on_connect=2,
        keepalive=KEEPALIVE,
        versions=(0, 1),
        features=frozenset(
            {"poison_nack", "quarantine", "app_version_policy", "publish_on_connect", "fresh_identity", "frame_65535"}
        ),
    )


def make_pki(directory: Path) -> Path:
    make_dev_pki(directory, [f"sc-{name}" for name in IDENTITIES])
    other = create_authority(directory / "other", name="ca", common_name="Some other CA")
    issue_client(other, directory / "other", "sc-main")
    return directory


@contextmanager
def reference_server(
    pki_dir: Path,
    workdir: Path,
    *,
    mutant: str | None = None,
    extra: tuple[str, ...] = (),
    log_path: Path | None = None,
) -> Iterator[tuple[str, int]]:
    """`sink serve` (or a mutant of it) in a subprocess on an ephemeral loopback port; ``extra``: more options;
    ``log_path``: where its stderr goes (default: a file in ``workdir``)."""
    db = workdir / f"server-{mutant or 'reference'}-{time.monotonic_ns()}.db"
    common = [
        "--listen",
        "127.0.0.1:0",
        "--certs",
        str(pki_dir),
        "--db",
        str(db),
        "--keepalive",
        str(KEEPALIVE),
        "--quarantine",
        "sc-quarantined:quarantined by sink-check selftest",
        "--reject-app-version",
        REJECTED_APP_VERSION,
        "--nack-key-prefix",
        "poison",
        "--publish-on-connect",
        "2",
        *extra,
    ]
    if mutant is None:
        command = [sys.executable, "-m", "sinktools.cli", "serve", *common]
    else:
        command = [sys.executable, "-m", "sinkcheck.cli", "_mutant-server", "--mutant", mutant, *common]
    log_path = log_path or workdir / f"{db.stem}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on ([\d.]+):(\d+)", line)
        if not match:
            log.flush()
            raise RuntimeError(f"server did not start: {line!r}\n{log_path.read_text()[-2000:]}")
        yield match.group(1), int(match.group(2))
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def observed_profile(profile: Profile, workdir: Path, name: str) -> tuple[Profile, tuple[str, ...]]:
    """``profile`` with a crash observer on a fresh log, and the mutant option that writes crash reports there."""
    log = workdir / f"crashes-{name}-{time.monotonic_ns()}.log"
    log.touch()
    return (
        replace(profile, observe=ObserveSettings(log=log, crash_pattern=CRASH_PATTERN, settle=0.2)),
        ("--crash-log", str(log)),
    )


def _targets(mutant_targets: tuple[str, ...], cases: list[Case]) -> list[Case]:
    return [c for c in cases if any(fnmatch.fnmatchcase(c.id, t) for t in mutant_targets)]


def selftest(settings: SelftestSettings, console: Console) -> int:
    """Run the self-test: the reference server and client, then every mutant; the exit status."""
    all_cases = catalogue()
    include, exclude = list(settings.include), list(settings.exclude)
    server_cases = select(
        [c for c in all_cases if c.mode == "server"], include=include, exclude=exclude, slow=settings.slow
    )
    client_cases = select(
        [c for c in all_cases if c.mode == "client"], include=include, exclude=exclude, slow=settings.slow
    )
    workdir = Path(tempfile.mkdtemp(prefix="sink-check-selftest-"))
    problems: list[str] = []
    reports: list[tuple[dict[str, Any], RunSettings]] = []  # each run's report and where it was written
    started = time.monotonic()
    try:
        pki_dir = make_pki(workdir / "pki")
        profile = reference_profile(pki_dir)
        if server_cases:
            console.print(f"[bold]reference server[/]: {len(server_cases)} cases")
            # its log is watched for Python crashes, so the report can say ERR-5 passed (not only "not checked")
            log = workdir / "reference-server.log"
            watched = replace(
                profile, observe=ObserveSettings(log=log, crash_pattern=PYTHON_CRASH_PATTERN, settle=0.05)
            )
            with reference_server(pki_dir, workdir, log_path=log) as (host, port):
                code = run_and_report(
                    server_cases,
                    host=host,
                    port=port,
                    profile=watched,
                    settings=settings.run,
                    console=console,
                    mode="server",
                    label=f"reference {host}:{port}",
                    documents=reports,
                )
            if code != 0:
                problems.append(f"the reference server did not pass (exit code {code})")
        # The version-0 client cases run against `sink connect` (version 0, like their mutants), the version-1
        # cases against `sink connect --protocol-version 1`. (With a version-1 client, the version-0 cases play a
        # version-0 server and the client falls back first: tests/test_sinkcheck.py runs some that way.)
        for version, cases, tag in (
            (0, [c for c in client_cases if c.feature != "client_v1"], "client"),
            (1, [c for c in client_cases if c.feature == "client_v1"], "client-v1"),
        ):
            if not cases:
                continue
            label = "reference client" + (" (--protocol-version 1)" if version else "")
            console.print(f"[bold]{label}[/]: {len(cases)} cases")
            code = run_client_mode(
                cases,
                listen=("127.0.0.1", 0),
                profile=client_profile(pki_dir, workdir, version=version),
                settings=settings.run.renamed(tag),
                console=console,
                label=label,
                documents=reports,
            )
            if code != 0:
                problems.append(f"the {label} did not pass (exit code {code})")
        if settings.mutants:
            scale = settings.run.scale
            jobs = [
                _server_job(m, server_cases, pki_dir, workdir, profile, scale)
                if m.role is Role.SERVER
                else _client_job(m, client_cases, pki_dir, workdir, scale)
                for m in MUTANTS
            ]
            mutants: list[dict[str, object]] = []
            mutant_problems = run_mutants(
                [j for j in jobs if j is not None],
                server_cases + client_cases,
                console,
                workers=settings.mutant_workers,
                results=mutants,
            )
            problems += mutant_problems
            _add_mutants_to_reports(reports, mutants, mutant_problems)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for problem in problems:
        console.print(f"[bold red]selftest:[/] {problem}", highlight=False)
    verdict = "[bold green]selftest passed[/]" if not problems else "[bold red]selftest failed[/]"
    console.print(f"{verdict} in {time.monotonic() - started:.1f} s")
    return 0 if not problems else 1


def _add_mutants_to_reports(
    reports: list[tuple[dict[str, Any], RunSettings]], mutants: list[dict[str, object]], problems: list[str]
) -> None:
    """The mutants' results go into the first run's reports (the server run's, reports/sink-check.*)."""
    if not reports:
        return
    document, where = reports[0]
    document["mutants"] = {
        "caught": sum(bool(m["caught"]) for m in mutants),
        "total": len(mutants),
        "problems": problems,
        "results": mutants,
    }
    if where.json:
        from ..reports import write_json

        write_json(document, where.json)
    if where.html:
        from ..html import write_html

        write_html(document, where.html)


#: `sink connect`'s exit statuses that are no crash: 0 synced, 3 refused (it stops and reports, HS-17)
REFERENCE_CLIENT_EXIT_OK = (0, 3)


def client_profile(pki_dir: Path, workdir: Path, *, mutant: str | None = None, version: int = 0) -> Profile:
    """The reference client (or a client mutant), started by the runner for each case, offering ``version``."""
    db = workdir / f"client-{mutant or 'reference'}-{time.monotonic_ns()}.db"
    entry = f"-m sinkcheck.cli _mutant-client --mutant {mutant}" if mutant else "-m sinktools.cli connect"
    # Version 1: meter readings (records mode, context coding), 4 of them so that under a declared max_batch_events
    # of 2 they go as two batches, the second able to name the first as its base (the context cases).
    publish = EVENTS_TO_PUBLISH_V1 if version else EVENTS_TO_PUBLISH
    command = (
        f"{shlex.quote(sys.executable)} {entry} --server {{host}}:{{port}} --certs {shlex.quote(str(pki_dir))} "
        f"--name sc-main --db {shlex.quote(str(db))} --keepalive {CLIENT_KEEPALIVE} "
        f"--publish {publish}" + (f" --protocol-version {version} --publish-records" if version else "")
    )
    return Profile(
        name="reference-client-selftest",
        ca=pki_dir / "ca.pem",
        identities={"server": Identity(cert=pki_dir / "server.pem", key=pki_dir / "server.key")},
        keepalive=CLIENT_KEEPALIVE,
        features=frozenset({"client_publish"}),
        client=ClientSettings(
            exec=command,
            events_to_publish=publish,
            keepalive=CLIENT_KEEPALIVE,
            connect_wait=10.0,
            reconnect_wait=2.0,
            versions=(0, 1) if version == 1 else (0,),
        ),
        # `sink connect` stops with exit status 3 after instance_id_mismatch (HS-16, HS-17): a
        # documented stop, not a crash; any other exit the runner did not ask for is one (ERR-5)
        observe=ObserveSettings(exit_ok=REFERENCE_CLIENT_EXIT_OK),
    )


@dataclass
class MutantJob:
    name: str
    breaks: str
    targets: list[Case]
    run: Callable[[], list[CaseResult]]


def _server_job(
    mutant: Mutant, cases: list[Case], pki_dir: Path, workdir: Path, profile: Profile, scale: float
) -> MutantJob | None:
    targets = _targets(mutant.targets, cases)
    if not targets:
        return None

    def run() -> list[CaseResult]:
        observed, extra = observed_profile(profile, workdir, mutant.name) if mutant.observed else (profile, ())
        with reference_server(pki_dir, workdir, mutant=mutant.name, extra=extra) as (host, port):
            return asyncio.run(run_cases(targets, host=host, port=port, profile=observed, scale=scale))

    return MutantJob(mutant.label, mutant.breaks, targets, run)


def _client_job(mutant: Mutant, cases: list[Case], pki_dir: Path, workdir: Path, scale: float) -> MutantJob | None:
    targets = _targets(mutant.targets, cases)
    if not targets:
        return None

    def run() -> list[CaseResult]:
        from ..client_mode import run_client_cases

        profile = client_profile(pki_dir, workdir, mutant=mutant.name, version=max(mutant.versions))
        return asyncio.run(run_client_cases(targets, listen=("127.0.0.1", 0), profile=profile, scale=scale))

    return MutantJob(mutant.label, mutant.breaks, targets, run)


def run_mutants(
    jobs: list[MutantJob],
    cases: list[Case],
    console: Console,
    *,
    workers: int = 4,
    results: list[dict[str, object]] | None = None,
) -> list[str]:
    """Each job's target cases must not pass against its mutant; every case must be some job's target.

    Jobs run in a few threads at once (each with its own event loop, peer process and socket): they
    spend their time waiting on the peer, so this divides the self-test's wall time, not its work.
    Each finished job prints a line ``[n/N] mutant NAME ... caught`` (or ``MISSED``); ``results``, when
    given, receives one JSON object per job for the reports.
    """
    problems = []
    caught: dict[str, list[str]] = {c.id: [] for c in cases}
    total = len(jobs)
    servers = sum(job.name.startswith("server/") for job in jobs)
    console.print(
        f"\n[bold]mutants[/]: {total} ({servers} server, {total - servers} client), {max(1, workers)} at "
        "once; each must make its target cases fail",
        highlight=False,
    )
    width = max((len(job.name) for job in jobs), default=0)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(_timed, job.run): job for job in jobs}
        for done, future in enumerate(as_completed(futures), 1):
            job = futures[future]
            try:
                outcomes, seconds = future.result()
            except Exception as exc:  # a mutant that cannot even start is a self-test failure, not a catch
                problems.append(f"mutant {job.name}: runner error {exc!r}")
                console.print(
                    f"[{done}/{total}] mutant {job.name:<{width}} [bold magenta]runner error[/] {exc!r}",
                    highlight=False,
                )
                if results is not None:
                    results.append(
                        {
                            "mutant": job.name,
                            "breaks": job.breaks,
                            "caught": False,
                            "seconds": None,
                            "error": repr(exc),
                            "cases": [],
                        }
                    )
                continue
            missed = [r for r in outcomes if r.outcome in (Outcome.PASS, Outcome.ERROR)]
            for result in outcomes:
                if result in missed:
                    problems.append(
                        f"mutant {job.name} ({job.breaks}): {result.case.id} gave "
                        f"{result.outcome.value}: {result.observed}"
                    )
                else:
                    caught[result.case.id].append(job.name)
            status = "[green]caught[/]" if not missed else "[bold red]MISSED[/]"
            console.print(
                f"[{done}/{total}] mutant {job.name:<{width}} {len(outcomes):>3} case"
                f"{'s' if len(outcomes) != 1 else ' '}  {status}  [dim]{seconds:.1f} s  {job.breaks}[/]",
                highlight=False,
            )
            for result in missed:
                console.print(f"    {result.case.id}: {result.outcome.value}: {result.observed}", highlight=False)
            if results is not None:
                results.append(
                    {
                        "mutant": job.name,
                        "breaks": job.breaks,
                        "caught": not missed,
                        "seconds": round(seconds, 3),
                        "error": None,
                        "cases": [
                            {"id": r.case.id, "outcome": r.outcome.value, "observed": r.observed} for r in outcomes
                        ],
                    }
                )
    for case_id, mutants in caught.items():
        if not mutants:
            problems.append(f"no mutant makes {case_id} fail: it may be a check that cannot fail")
    if results is not None:
        results.sort(key=lambda entry: str(entry["mutant"]))
    return problems


def _timed(run: Callable[[], list[CaseResult]]) -> tuple[list[CaseResult], float]:
    started = time.monotonic()
    return run(), time.monotonic() - started
