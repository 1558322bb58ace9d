"""CI's fuzz step: every target under libFuzzer for a short, bounded time.

Each target runs for SINK_FUZZ_SMOKE_SECONDS (default 10) from its seed
corpus, two at a time, with a fixed libFuzzer seed so that a finding
reproduces; any finding fails the test. Two canary targets prove that a
crash and a hang are caught, reported and saved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz.target import target_names  # noqa: E402

SECONDS = int(os.environ.get("SINK_FUZZ_SMOKE_SECONDS", "10"))
JOBS = 2  # CI machines have 2 cores


def _run(tmp_path: Path, *args: str, timeout: float) -> tuple[int, list[dict[str, Any]], str]:
    report = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fuzz",
            "run",
            "--fresh-corpus",
            "--seed",
            "1",
            "--work-dir",
            str(tmp_path / "work"),
            "--regressions",
            str(tmp_path / "regressions"),
            "--json",
            str(report),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    results = json.loads(report.read_text()) if report.is_file() else []
    return proc.returncode, results, proc.stdout + proc.stderr


def test_every_target_runs_without_findings(tmp_path: Path) -> None:
    names = target_names()
    rounds = -(-len(names) // JOBS)
    code, results, output = _run(
        tmp_path, "--seconds", str(SECONDS), "--jobs", str(JOBS), timeout=rounds * (SECONDS + 90)
    )
    print(output)  # the table, in the CI log
    assert [r["target"] for r in results] == names, output
    for r in results:
        assert not r["findings"], f"{r['target']}: {r['findings']}\n(log: {r['log']})"
        # A target that ran nothing, or with no coverage, proves nothing.
        assert r["executions"] > 100 and r["cov"] > 0, f"{r['target']} barely ran: {r}"
    assert code == 0, output


def test_a_crash_is_reported_and_its_input_saved(tmp_path: Path) -> None:
    from fuzz.targets._canary_crash import TRIGGER

    code, results, output = _run(tmp_path, "--targets", "_canary_crash", "--seconds", "20", timeout=120)
    assert code == 1, output
    [finding] = results[0]["findings"]
    assert finding["kind"] == "crash" and "IndexError" in finding["summary"], finding
    assert Path(finding["regression"]).read_bytes() == TRIGGER
    assert Path(finding["regression"]).parent == tmp_path / "regressions" / "_canary_crash"


def test_a_hang_is_reported_as_a_timeout(tmp_path: Path) -> None:
    from fuzz.targets._canary_hang import TRIGGER

    code, results, output = _run(
        tmp_path, "--targets", "_canary_hang", "--seconds", "20", "--timeout", "2", timeout=120
    )
    assert code == 1, output
    [finding] = results[0]["findings"]
    assert finding["kind"] == "timeout", finding
    assert Path(finding["regression"]).read_bytes() == TRIGGER


def test_libfuzzer_output_is_parsed() -> None:
    from fuzz.runner import TargetResult, parse_output

    transcript = (
        "INFO: Seed: 1\n"
        "#2\tINITED cov: 40 ft: 90 corp: 12/300b exec/s: 0 rss: 45Mb\n"
        "#4096\tpulse  cov: 52 ft: 130 corp: 20/512b lim: 43 exec/s: 2048 rss: 48Mb\n"
        "#5000\tNEW    cov: 55 ft: 140 corp: 21/530b lim: 43 exec/s: 2500 rss: 48Mb L: 18/43 MS: 1 ChangeBit-\n"
        " === Uncaught Python exception: ===\n"
        "ValueError: boom\n"
        "artifact_prefix='a/'; Test unit written to a/crash-0123abcd\n"
        "stat::number_of_executed_units: 5001\n"
        "stat::average_exec_per_sec:     1667\n"
        "stat::new_units_added:          9\n"
        "stat::peak_rss_mb:              48\n"
    )
    result = TargetResult("t")
    assert parse_output(transcript, result) == ["a/crash-0123abcd"]
    assert (result.executions, result.execs_per_sec, result.cov, result.ft) == (5001, 1667, 55, 140)
    assert (result.corpus, result.new_units, result.peak_rss_mb) == (21, 9, 48)
