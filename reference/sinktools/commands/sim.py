"""``sink sim``: campaigns of seeded simulation schedules, replaying a failure, and the mutants.

The simulator is :mod:`sinkproto.sim`; this module adds the wall clock (for
the throughput figures), the store directory and the output.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sinkproto.sim import MUTANTS, Outcome, Settings, catch_mutant, dump, load, run_schedule, run_seeds, shrink

__all__ = ["Totals", "campaign", "mutants", "replay", "store_directory"]


def store_directory() -> tempfile.TemporaryDirectory[str]:
    """A temporary directory for the simulated stores: on a RAM disk (``/dev/shm``) when there is one."""
    shm = Path("/dev/shm")
    return tempfile.TemporaryDirectory(prefix="sink-sim-", dir=shm if shm.is_dir() else None)


@dataclass(slots=True)
class Totals:
    schedules: int = 0
    events: int = 0
    sink_events: int = 0
    virtual_seconds: float = 0.0
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.schedules += 1
        self.events += outcome.events
        self.sink_events += outcome.sink_events
        self.virtual_seconds += outcome.virtual_seconds

    def line(self) -> str:
        rate = self.seconds or 1e-9
        return (
            f"{self.schedules:,} schedules in {self.seconds:.1f} s: {self.schedules / rate:,.0f} schedules/s, "
            f"{self.events:,} simulated events ({self.events / rate:,.0f}/s), "
            f"{self.sink_events:,} Sink events appended ({self.sink_events / rate:,.0f}/s), "
            f"{self.virtual_seconds / 3600:,.1f} virtual hours"
        )


def _report_failure(outcome: Outcome, directory: Path, out: Path, stream: TextIO) -> None:
    assert outcome.violation is not None
    print(f"seed {outcome.schedule.seed} FAILED: {outcome.violation}", file=stream)
    small = shrink(outcome, directory)
    path = out / f"sim-failure-{outcome.schedule.seed}.json"
    path.write_text(dump(small.schedule) + "\n")
    print(f"shrunk from {len(outcome.schedule.steps)} to {len(small.schedule.steps)} steps:", file=stream)
    for step in small.schedule.steps:
        print(f"  {step}", file=stream)
    print(f"  -> {small.violation}", file=stream)
    print(f"replay: sink sim --replay {path}", file=stream)


def campaign(
    seeds: int,
    *,
    start: int = 0,
    settings: Settings = Settings(),
    out: Path = Path(),
    every: float = 10.0,
    stream: TextIO | None = None,
) -> int:
    """Run the schedules of seeds ``start`` to ``start + seeds - 1``; 0 if every guarantee held, else 1
    (the first failure is shrunk and written to ``out``)."""
    stream = stream or sys.stdout
    totals = Totals()
    began = last = time.perf_counter()
    with store_directory() as name:
        directory = Path(name)
        for outcome in run_seeds(range(start, start + seeds), settings, directory):
            totals.add(outcome)
            now = time.perf_counter()
            totals.seconds = now - began
            if outcome.failed:
                print(totals.line(), file=stream)
                _report_failure(outcome, directory, out, stream)
                return 1
            if now - last >= every:
                last = now
                print(f"... {totals.line()}", file=stream, flush=True)
    print(totals.line(), file=stream)
    print("every guarantee held on every schedule", file=stream)
    return 0


def replay(path: Path, *, stream: TextIO | None = None) -> int:
    """Run the schedule in ``path`` (written by a failed campaign); 1 if it still fails."""
    stream = stream or sys.stdout
    schedule = load(path.read_text())
    with store_directory() as name:
        outcome = run_schedule(schedule, Path(name))
    for step in schedule.steps:
        print(f"  {step}", file=stream)
    if outcome.violation is None:
        print(f"seed {schedule.seed}: every guarantee held", file=stream)
        return 0
    print(f"seed {schedule.seed}: {outcome.violation}", file=stream)
    return 1


def mutants(seeds: int, *, settings: Settings = Settings(), stream: TextIO | None = None) -> int:
    """Run each mutant for at most ``seeds`` seeds; print after how many a guarantee caught it. 1 if one survived."""
    stream = stream or sys.stdout
    survived = 0
    with store_directory() as name:
        for mutant, what in MUTANTS.items():
            began = time.perf_counter()
            outcome = catch_mutant(mutant, range(seeds), settings, Path(name))
            seconds = time.perf_counter() - began
            if outcome is None:
                survived += 1
                print(f"{mutant:24} SURVIVED {seeds} seeds ({what.summary})", file=stream)
                continue
            assert outcome.violation is not None
            print(
                f"{mutant:24} caught by {outcome.violation.requirement:9} after {outcome.schedule.seed + 1:3} "
                f"seed(s) in {seconds:.2f} s ({what.summary})",
                file=stream,
            )
    return 1 if survived else 0
