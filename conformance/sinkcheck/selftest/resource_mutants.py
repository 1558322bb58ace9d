"""Mutants for the resource-bound cases (:mod:`sinkcheck.cases.server_resources`).

A resource verdict fails on *time*: these servers do reject the hostile
input, or would close the stalled connection, but too late for the
profile's ``[limits]``. :mod:`.mutants` appends them to its ``MUTANTS`` (it passes
its own classes in, so that neither module imports the other at load time, which
``python -m sinkcheck.selftest.mutants`` would turn into a circular import).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sinkproto.events import ProtocolError
from sinkproto.peers import PeerSession
from sinkproto.peers.service import StoreServer

from . import edits

__all__ = ["resource_mutants", "SLOW_REJECT_DELAY"]


#: Longer than the default ``reject_within`` (5 s), short enough for the self-test.
SLOW_REJECT_DELAY = 6.5


class SlowReject(StoreServer):
    """Decides to close on a protocol error, as it must, but only SLOW_REJECT_DELAY seconds later.

    Its documented ``on_protocol_error`` hook waits before the session closes: meanwhile
    nothing more is read, as if it were still chewing on the hostile frame (inflating a bomb,
    waiting for a varint's end).
    """

    async def on_protocol_error(self, session: PeerSession, client: str, error: ProtocolError) -> None:
        await asyncio.sleep(SLOW_REJECT_DELAY)


def resource_mutants(mutant: type[Any]) -> tuple[Any, ...]:
    """The resource mutants, built with :class:`.mutants.Mutant`."""
    return (
        mutant(
            "slow-reject",
            f"closes on a malformed frame only after {SLOW_REJECT_DELAY} s",
            ("server.resources.overlong-varint",),
            lambda setup: {"handler_class": SlowReject, "versions": (0,)},
        ),
        mutant(
            "slow-reject-v1",
            f"speaks version 1; closes on a gzip bomb only after {SLOW_REJECT_DELAY} s",
            ("server.resources.batch-gzip-bomb",),
            lambda setup: {"handler_class": SlowReject, "versions": (0, 1)},
        ),
        mutant(
            "prefix-stall-kept",
            "never closes a connection stalled inside a frame",
            ("server.resources.length-prefix-silence",),
            lambda setup: edits.peer_options(edits.never_closes_silent(), versions=(0,)),
        ),
    )
