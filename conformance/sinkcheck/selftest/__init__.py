"""``sink-check selftest``: the catalogue against the reference server, then against every mutant.

The reference server must pass every MUST case. Each mutant (a deliberately
broken variant, see :mod:`.mutants`) must make each of its target cases not
pass, and every case must be the target of some mutant: so no case is a
check that cannot fail. Servers run as real subprocesses on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from sinkproto.certs import create_authority, issue_client, make_dev_pki

from ..cases import catalogue
from ..model import Case, Outcome
from ..profile import Identity, Profile
from ..runner import run_cases, select
from .mutants import MUTANTS

__all__ = ["selftest", "reference_profile", "reference_server"]

KEEPALIVE = 1.0  # short, so the keepalive cases take seconds
IDENTITIES = ("main", "second", "quarantined", "fresh")
REJECTED_APP_VERSION = "0.0.0-rejected"


def reference_profile(pki_dir: Path) -> Profile:
    identities = {name: Identity(cert=pki_dir / f"client-sc-{name}.pem", key=pki_dir / f"client-sc-{name}.key")
                  for name in IDENTITIES}
    identities["other_ca"] = Identity(cert=pki_dir / "other" / "client-sc-main.pem",
                                      key=pki_dir / "other" / "client-sc-main.key")
    return Profile(name="reference-selftest", ca=pki_dir / "ca.pem", identities=identities,
                   rejected_app_version=REJECTED_APP_VERSION.encode(), poison_key_prefix=b"poison",
                   events_on_connect=2, keepalive=KEEPALIVE,
                   features=frozenset({"poison_nack", "quarantine", "app_version_policy", "publish_on_connect",
                                       "fresh_identity", "frame_65535"}))


def make_pki(directory: Path) -> Path:
    make_dev_pki(directory, [f"sc-{name}" for name in IDENTITIES])
    other = create_authority(directory / "other", name="ca", common_name="Some other CA")
    issue_client(other, directory / "other", "sc-main")
    return directory


@contextmanager
def reference_server(pki_dir: Path, workdir: Path, *, mutant: str | None = None) -> Iterator[tuple[str, int]]:
    """`sink serve` (or a mutant of it) in a subprocess on an ephemeral loopback port."""
    db = workdir / f"server-{mutant or 'reference'}-{time.monotonic_ns()}.db"
    common = ["--listen", "127.0.0.1:0", "--certs", str(pki_dir), "--db", str(db), "--keepalive", str(KEEPALIVE),
              "--quarantine", "sc-quarantined:quarantined by sink-check selftest", "--reject-app-version",
              REJECTED_APP_VERSION, "--nack-key-prefix", "poison", "--publish-on-connect", "2"]
    if mutant is None:
        command = [sys.executable, "-m", "sinkproto.cli", "serve", *common]
    else:
        command = [sys.executable, "-m", "sinkcheck.selftest.mutants", "--mutant", mutant, *common]
    log = (workdir / f"{db.stem}.log").open("w")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on ([\d.]+):(\d+)", line)
        if not match:
            log.flush()
            raise RuntimeError(f"server did not start: {line!r}\n{(workdir / f'{db.stem}.log').read_text()[-2000:]}")
        yield match.group(1), int(match.group(2))
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _targets(mutant_targets: tuple[str, ...], cases: list[Case]) -> list[Case]:
    return [c for c in cases if any(fnmatch.fnmatchcase(c.id, t) for t in mutant_targets)]


def selftest(args: argparse.Namespace, console: Console) -> int:
    cases = select([c for c in catalogue() if c.mode == "server"], include=args.cases, exclude=args.exclude,
                   slow=not args.no_slow)
    workdir = Path(tempfile.mkdtemp(prefix="sink-check-selftest-"))
    problems: list[str] = []
    try:
        pki_dir = make_pki(workdir / "pki")
        profile = reference_profile(pki_dir)
        console.print(f"[bold]reference server[/]: {len(cases)} cases")
        with reference_server(pki_dir, workdir) as (host, port):
            from ..cli import run_and_report

            code = run_and_report(cases, host=host, port=port, profile=profile, args=args, console=console,
                                  mode="server", label=f"reference {host}:{port}")
        if code != 0:
            problems.append(f"the reference server did not pass (exit code {code})")
        if not args.no_mutants:
            problems += run_mutants(cases, pki_dir, workdir, profile, args.scale, console)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for problem in problems:
        console.print(f"[bold red]selftest:[/] {problem}", highlight=False)
    console.print("[bold green]selftest passed[/]" if not problems else "[bold red]selftest failed[/]")
    return 0 if not problems else 1


def run_mutants(cases: list[Case], pki_dir: Path, workdir: Path, profile: Profile, scale: float,
                console: Console) -> list[str]:
    problems = []
    caught: dict[str, list[str]] = {c.id: [] for c in cases}
    for mutant in MUTANTS:
        targets = _targets(mutant.targets, cases)
        if not targets:
            continue
        with reference_server(pki_dir, workdir, mutant=mutant.name) as (host, port):
            results = asyncio.run(run_cases(targets, host=host, port=port, profile=profile, scale=scale))
        for result in results:
            if result.outcome in (Outcome.PASS, Outcome.ERROR):
                problems.append(f"mutant {mutant.name} ({mutant.breaks}): {result.case.id} gave "
                                f"{result.outcome.value}: {result.observed}")
                console.print(f"  {result.case.id}: {result.outcome.value}: {result.observed}", highlight=False)
            else:
                caught[result.case.id].append(mutant.name)
        ok = all(r.outcome not in (Outcome.PASS, Outcome.ERROR) for r in results)
        status = "[green]caught[/]" if ok else "[red]NOT caught[/]"
        console.print(f"mutant {mutant.name:<24} {len(results):>3} cases  {status}", highlight=False)
    for case_id, mutants in caught.items():
        if not mutants:
            problems.append(f"no mutant makes {case_id} fail: it may be a check that cannot fail")
    return problems
