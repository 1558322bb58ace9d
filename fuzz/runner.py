"""Run targets under libFuzzer, each in its own process, and report what happened.

For each target: rebuild its seeds, start ``python -m fuzz.harness`` with a
time budget, read libFuzzer's output (executions, exec/s, ``cov:`` and
``ft:``), and turn every crash, timeout and out-of-memory artifact into a
finding whose input is copied to ``fuzz/regressions/<target>/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .seeds import write_seeds
from .target import BUILD_DIR, DICTIONARY, REGRESSIONS_DIR, ROOT, Target

__all__ = ["RunOptions", "FindingReport", "TargetResult", "parse_output", "run_target", "run_all", "format_table"]

# libFuzzer status lines: "#1234	NEW    cov: 56 ft: 78 corp: 9/10b lim: 4 exec/s: 11 rss: 12Mb ..."
_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)(.*)$", re.M)
_CORPUS = re.compile(r"corp: (\d+)/")
_RATE = re.compile(r"exec/s: (\d+)")
_STAT = re.compile(r"^stat::(\w+):\s*(\d+)", re.M)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")
_PY_EXCEPTION = re.compile(r"=== Uncaught Python exception: ===\n(.+)")
# Artifacts that are findings; libFuzzer's "slow-unit-" files are only a warning.
FINDING_KINDS = ("crash", "timeout", "oom", "leak")


@dataclass(frozen=True)
class RunOptions:
    seconds: int = 60
    jobs: int = 1
    seed: int | None = None  # libFuzzer -seed; None: libFuzzer picks one
    timeout: int = 10  # seconds one input may take before it is a hang
    rss_limit_mb: int = 2048
    work_dir: Path = BUILD_DIR  # seeds/, corpus/, artifacts/, logs/ under it
    regressions: Path = REGRESSIONS_DIR
    fresh_corpus: bool = False  # start from the seeds only (CI); else keep growing build/fuzz/corpus


@dataclass
class FindingReport:
    kind: str  # crash | timeout | oom | leak | error (the harness itself failed)
    summary: str
    artifact: str | None = None
    regression: str | None = None


@dataclass
class TargetResult:
    target: str
    seconds: float = 0.0
    executions: int = 0
    execs_per_sec: int = 0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    new_units: int = 0
    peak_rss_mb: int = 0
    returncode: int | None = None
    log: str = ""
    findings: list[FindingReport] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def parse_output(text: str, result: TargetResult) -> list[str]:
    """Fill ``result`` from libFuzzer's output; return the artifact paths it wrote."""
    for match in _STATUS.finditer(text):
        executions, cov, ft, rest = match.groups()
        result.executions = max(result.executions, int(executions))
        result.cov = max(result.cov, int(cov))
        result.ft = max(result.ft, int(ft))
        if corpus := _CORPUS.search(rest):
            result.corpus = int(corpus.group(1))
        if rate := _RATE.search(rest):
            result.execs_per_sec = int(rate.group(1))
    stats = {name: int(value) for name, value in _STAT.findall(text)}
    result.executions = max(result.executions, stats.get("number_of_executed_units", 0))
    # The final average is the honest figure; the status lines show a moving one.
    result.execs_per_sec = stats.get("average_exec_per_sec", result.execs_per_sec)
    result.new_units = stats.get("new_units_added", 0)
    result.peak_rss_mb = stats.get("peak_rss_mb", 0)
    return _ARTIFACT.findall(text)


def _summary(text: str, kind: str) -> str:
    exception = _PY_EXCEPTION.search(text)
    if exception:
        return exception.group(1).strip()[:500]
    for line in text.splitlines():
        if "ERROR: libFuzzer:" in line or line.startswith("ALARM:"):
            return line.strip()
    return kind


def run_target(target: Target, options: RunOptions) -> TargetResult:
    result = TargetResult(target=target.name)
    seeds = write_seeds(target, options.work_dir / "seeds")
    corpus = options.work_dir / "corpus" / target.name
    if options.fresh_corpus and corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = options.work_dir / "artifacts" / target.name
    artifacts.mkdir(parents=True, exist_ok=True)
    logs = options.work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{target.name}.log"
    result.log = str(log)
    if target.prepare is not None:
        target.prepare()
    # The first corpus folder receives new inputs; the seed folder is only read.
    command = [
        sys.executable,
        "-m",
        "fuzz.harness",
        target.name,
        str(corpus),
        str(seeds),
        f"-max_total_time={options.seconds}",
        f"-timeout={options.timeout}",
        f"-rss_limit_mb={options.rss_limit_mb}",
        f"-max_len={target.max_len}",
        f"-dict={DICTIONARY}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
        *target.libfuzzer_args,
    ]
    if options.seed is not None:
        command.append(f"-seed={options.seed}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    started = time.monotonic()
    # Seed loading and imports come on top of the budget; a child that is
    # still running well past it is hung somewhere libFuzzer cannot see.
    deadline = options.seconds + options.timeout + 120
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            result.returncode = proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            result.findings.append(
                FindingReport("timeout", f"the fuzzing process ran past {deadline} s and was killed")
            )
    result.seconds = round(time.monotonic() - started, 1)
    text = log.read_text(errors="replace")
    for artifact in parse_output(text, result):
        kind = Path(artifact).name.split("-", 1)[0]
        if kind not in FINDING_KINDS:
            continue
        regression = options.regressions / target.name / Path(artifact).name
        regression.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact, regression)
        result.findings.append(FindingReport(kind, _summary(text, kind), artifact, str(regression)))
    if result.returncode not in (0, None) and not result.findings:
        tail = "\n".join(text.splitlines()[-15:])
        result.findings.append(FindingReport("error", f"exit status {result.returncode} without an artifact:\n{tail}"))
    return result


def run_all(targets: list[Target], options: RunOptions) -> list[TargetResult]:
    # Threads only wait on child processes; the fuzzing itself runs in the children.
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        return list(pool.map(lambda t: run_target(t, options), targets))


def format_table(results: list[TargetResult]) -> str:
    header = ("target", "seconds", "executions", "exec/s", "cov", "ft", "corpus", "findings")
    rows = [header] + [
        (
            r.target,
            f"{r.seconds:.0f}",
            str(r.executions),
            str(r.execs_per_sec),
            str(r.cov),
            str(r.ft),
            str(r.corpus),
            str(len(r.findings)),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    for r in results:
        for f in r.findings:
            where = f" -> {f.regression}" if f.regression else ""
            lines.append(f"FINDING {r.target}: {f.kind}: {f.summary}{where}")
    return "\n".join(lines)
