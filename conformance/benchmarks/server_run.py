"""Wall time of a full server-mode run of sink-check against the reference server.

    .venv/bin/python conformance/benchmarks/server_run.py [--repeat N]

Prints two figures: every server case (the keepalive cases wait 1.5 K to 2 K,
with the self-test's K = 1 s) and the run without slow cases (``--no-slow``),
whose goal is under 15 s. The server is `sink serve` in a subprocess on
loopback, as in the self-test; the runner is in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sinkcheck.cases import catalogue
from sinkcheck.model import Outcome
from sinkcheck.runner import run_cases, select
from sinkcheck.selftest import KEEPALIVE, make_pki, reference_profile, reference_server

GOAL = 15.0  # seconds, without the keepalive cases (issue 7)


def timed_run(slow: bool, pki: Path, workdir: Path) -> tuple[float, int, int]:
    """(seconds, cases, cases that did not pass) for one run against a fresh reference server."""
    cases = select([c for c in catalogue() if c.mode == "server"], slow=slow)
    with reference_server(pki, workdir) as (host, port):
        started = time.perf_counter()
        results = asyncio.run(run_cases(cases, host=host, port=port, profile=reference_profile(pki)))
        elapsed = time.perf_counter() - started
    bad = sum(r.outcome not in (Outcome.PASS, Outcome.UNSUPPORTED, Outcome.INFORMATIONAL) for r in results)
    return elapsed, len(cases), bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind; the median is reported")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sink-check-bench-"))
    pki = make_pki(workdir / "pki")
    figures = {}
    for label, slow in (("all server cases", True), ("--no-slow", False)):
        runs = [timed_run(slow, pki, workdir) for _ in range(args.repeat)]
        times = [t for t, _, _ in runs]
        figures[label] = statistics.median(times)
        print(
            f"{label:<18} {runs[0][1]:>3} cases  median {statistics.median(times):6.2f} s  "
            f"(min {min(times):.2f}, max {max(times):.2f}; K = {KEEPALIVE} s)"
            + (f"  {max(b for _, _, b in runs)} did not pass!" if any(b for _, _, b in runs) else "")
        )
    ok = figures["--no-slow"] < GOAL
    print(f"goal: --no-slow under {GOAL:.0f} s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
