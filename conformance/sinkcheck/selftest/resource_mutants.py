"""Mutants for the resource-bound cases (:mod:`sinkcheck.cases.server_resources`).

A resource verdict fails on *time*: these servers do reject the hostile
input, or would close the stalled connection, but too late for the
profile's ``[limits]``. :mod:`.mutants` appends them to its ``MUTANTS`` (it passes
its own classes in, so that neither module imports the other at load time, which
``python -m sinkcheck.selftest.mutants`` would turn into a circular import).
"""

from __future__ import annotations

from typing import Any

from sinkproto.connection import DEFAULT_RULES

from . import edits
from .edits import SLOW_REJECT_DELAY, SlowReject

__all__ = ["resource_mutants", "SLOW_REJECT_DELAY"]


def resource_mutants(mutant: type[Any]) -> tuple[Any, ...]:
    """The resource mutants, built with :class:`.mutants.Mutant`."""
    return (
        mutant("slow-reject", f"closes on a malformed frame only after {SLOW_REJECT_DELAY} s",
               ("server.resources.overlong-varint",),
               lambda setup: {"connection_class": edits.connection(DEFAULT_RULES, versions=(0,), cls=SlowReject)}),
        mutant("slow-reject-v1", f"speaks version 1; closes on a gzip bomb only after {SLOW_REJECT_DELAY} s",
               ("server.resources.batch-gzip-bomb",),
               lambda setup: {"connection_class": edits.connection(DEFAULT_RULES, versions=(0, 1), cls=SlowReject)}),
        mutant("prefix-stall-kept", "never closes a connection stalled inside a frame",
               ("server.resources.length-prefix-silence",),
               lambda setup: {"connection_class": edits.connection(edits.never_closes_silent(), versions=(0,))}),
    )
