"""A deterministic simulation of Sink's delivery promise: one process, a virtual clock, seeded faults.

The simulator drives the real :class:`~sinkproto.connection.Connection`, the
real :class:`~sinkproto.store.EventStore` (SQLite files) and the real session
logic of :mod:`sinkproto.session` for one server and several clients, over a
simulated network that delays, splits, coalesces and drops byte streams and
partitions peers, with crash-restarts between store commits and clock jumps,
at protocol versions 0 and 1. Every schedule is reproducible from its seed
(or its JSON file) and is checked against the delivery guarantees
(:data:`GUARANTEES`, spec/v0/delivery.md). No sockets, threads or wall clock.

``sink sim`` runs campaigns, replays a schedule and runs the mutants.
"""

from __future__ import annotations

from .invariants import GUARANTEES, Checker, Violation
from .mutants import MUTANTS, Mutant
from .run import Outcome, catch_mutant, run_schedule, run_seeds, shrink
from .schedule import DROP_KINDS, REFUSALS, STEP_KINDS, Schedule, Settings, Step, dump, generate, load

__all__ = [
    "DROP_KINDS",
    "GUARANTEES",
    "MUTANTS",
    "REFUSALS",
    "STEP_KINDS",
    "Checker",
    "Mutant",
    "Outcome",
    "Schedule",
    "Settings",
    "Step",
    "Violation",
    "catch_mutant",
    "dump",
    "generate",
    "load",
    "run_schedule",
    "run_seeds",
    "shrink",
]
