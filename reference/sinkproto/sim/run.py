"""Running schedules: one, a seed's, a shrunk failing one, and every mutant until a check catches it.

The functions take plain values and a directory for the store files (a
temporary directory; a RAM disk such as ``/dev/shm`` makes a campaign
faster). Nothing here reads a clock: the caller measures throughput.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ._world import World
from .invariants import Violation
from .mutants import MUTANTS
from .schedule import Schedule, Settings, generate

__all__ = ["Outcome", "catch_mutant", "run_schedule", "run_seeds", "shrink"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one schedule did: the first violation (None: every guarantee held) and how much it simulated."""

    schedule: Schedule
    violation: Violation | None
    events: int  # simulated events: deliveries, timer firings, connection attempts, steps
    sink_events: int  # events the peers appended
    virtual_seconds: float

    @property
    def failed(self) -> bool:
        return self.violation is not None


def run_schedule(schedule: Schedule, directory: Path) -> Outcome:
    """Run ``schedule`` with fresh stores in ``directory``: every step, then heal and check."""
    world = World(schedule, directory)
    try:
        for step in schedule.steps:
            world.apply(step)
            if world.checker.violations:
                break
        if not world.checker.violations:
            world.heal()
    finally:
        world.close()
    violations = world.checker.violations
    return Outcome(
        schedule=schedule,
        violation=violations[0] if violations else None,
        events=world.events,
        sink_events=world.sink_events,
        virtual_seconds=world.now,
    )


def run_seeds(seeds: range, settings: Settings, directory: Path) -> Iterator[Outcome]:
    """The outcome of each seed's schedule, in order."""
    for seed in seeds:
        yield run_schedule(generate(seed, settings), directory)


def shrink(outcome: Outcome, directory: Path) -> Outcome:
    """A smaller schedule failing the same requirement: steps are dropped while it still fails (greedy)."""
    assert outcome.violation is not None
    best = outcome
    requirement = outcome.violation.requirement
    index = len(best.schedule.steps) - 1
    while index >= 0:
        candidate = run_schedule(best.schedule.without(index), directory)
        if candidate.violation is not None and candidate.violation.requirement == requirement:
            best = candidate
        index -= 1
    return best


def catch_mutant(name: str, seeds: range, settings: Settings, directory: Path) -> Outcome | None:
    """The first outcome of ``seeds`` in which mutant ``name`` breaks a guarantee; None if it survives them all."""
    if name not in MUTANTS:
        raise KeyError(name)
    mutated = replace(settings, mutant=name)
    for outcome in run_seeds(seeds, mutated, directory):
        if outcome.failed:
            return outcome
    return None
