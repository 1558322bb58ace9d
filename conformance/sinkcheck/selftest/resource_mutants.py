"""Mutants for the resource-bound cases (:mod:`sinkcheck.cases.server_resources`).

A resource verdict fails on *time*: these servers do reject the hostile
input, or would close the stalled connection, but too late for the
profile's ``[limits]``. :mod:`.mutants` appends them to its ``MUTANTS`` (it passes
its own classes in, so that neither module imports the other at load time, which
``python -m sinkcheck.selftest.mutants`` would turn into a circular import).
"""

from __future__ import annotations

from typing import Any

from sinkproto.connection import Connection
from sinkproto.connection_v1 import ConnectionV1
from sinkproto.events import ConnectionEvent

__all__ = ["resource_mutants", "SLOW_REJECT_DELAY"]

#: Longer than the default ``reject_within`` (5 s), short enough for the self-test.
SLOW_REJECT_DELAY = 6.5


class SlowReject(Connection):
    """Decides to close on a protocol error, as it must, but only SLOW_REJECT_DELAY seconds later.

    Meanwhile it reads and drops everything and does not close for silence: as if
    it were still chewing on the hostile frame (inflating a bomb, waiting for a varint's end).
    """

    _pending: tuple[str, str, str] | None = None
    _pending_since = 0.0

    def _protocol_error(self, error_class: str, requirement: str, detail: str) -> list[ConnectionEvent]:
        if self._pending is None:
            self._pending, self._pending_since = (error_class, requirement, detail), self._last_received
        return []

    def receive_data(self, data: bytes, now: float) -> list[ConnectionEvent]:
        if self._pending is not None:
            return []
        return super().receive_data(data, now)

    def next_timer(self) -> float | None:
        if self._pending is not None:
            return self._pending_since + SLOW_REJECT_DELAY
        return super().next_timer()

    def handle_timer(self, now: float) -> list[ConnectionEvent]:
        if self._pending is not None:
            if now < self._pending_since + SLOW_REJECT_DELAY:
                return []
            pending, self._pending = self._pending, None
            return super()._protocol_error(*pending)
        return super().handle_timer(now)


class SlowRejectV1(SlowReject, ConnectionV1):
    """The same, on a server that speaks version 1 (batches travel), for the gzip bomb."""

    def __init__(self, role: Any, **options: Any) -> None:
        ConnectionV1.__init__(self, role, **{"version": 1, **options})


def resource_mutants(mutant: type[Any], never_closes_silent: type[Connection]) -> tuple[Any, ...]:
    """The resource mutants, built with :class:`.mutants.Mutant` and its NeverClosesSilent connection."""

    def use(cls: type[Connection]) -> Any:
        return lambda setup: {"connection_class": cls}

    return (
        mutant("slow-reject", f"closes on a malformed frame only after {SLOW_REJECT_DELAY} s",
               ("server.resources.overlong-varint",), use(SlowReject)),
        mutant("slow-reject-v1", f"speaks version 1; closes on a gzip bomb only after {SLOW_REJECT_DELAY} s",
               ("server.resources.batch-gzip-bomb",), use(SlowRejectV1)),
        mutant("prefix-stall-kept", "never closes a connection stalled inside a frame",
               ("server.resources.length-prefix-silence",), use(never_closes_silent)),
    )
