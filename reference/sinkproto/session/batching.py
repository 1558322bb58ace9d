"""Batch publish on version-1 connections: the sender's policy and its timing, without I/O (BPUB-2..BPUB-8).

:class:`BatchPolicy` is local configuration; :class:`BatchTimer` says how long
to hold back a short batch (BPUB-7, the time is an argument);
:func:`publish_ready` puts pending events on a connection, as far as its
in-flight window admits, as PUBLISH frames or batches. The asyncio outbox pump
(:class:`~sinkproto.peers.service.OutboxPump`) and the simulator use them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..connection import Connection
from ..errors import EncodeError
from ..messages import Event

__all__ = [
    "BatchPolicy",
    "BatchTimer",
    "batch_order",
    "batches_allowed",
    "in_flight_events",
    "publish_ready",
]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class BatchPolicy:
    """BPUB-7: a sender's batching policy, local configuration (never negotiated).

    A batch goes as soon as it holds ``max_batch_size`` events or its oldest
    event has waited ``max_batch_delay`` seconds. A larger delay gives larger
    batches and fewer bytes per event, a smaller one lower latency.
    """

    max_batch_size: int = 1000
    max_batch_delay: float = 1.0

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.max_batch_delay < 0:
            raise ValueError("max_batch_size must be at least 1 and max_batch_delay not negative")


def batches_allowed(connection: Connection) -> bool:
    """BPUB-2: batches only on a connection whose handshake negotiated version 1."""
    return (connection.negotiated_version or 0) >= 1


def in_flight_events(connection: Connection) -> list[Event]:
    """Every event of ours in flight, in PUBLISH frames and (version 1) in batches (BPUB-4)."""
    return connection.in_flight_events()


def batch_order(event: Event) -> tuple[int, bytes, int]:
    """BPUB-6: the order of the events inside a batch."""
    return (event.event_type_id, event.key, event.offset)


class BatchTimer:
    """BPUB-7: when a short batch may go, from when each pending event was first seen.

    The backlog found on the first pass has waited for the link already, so
    it goes at once; an event seen later waits up to ``max_batch_delay``.
    """

    def __init__(self, policy: BatchPolicy) -> None:
        self.policy = policy
        self._first_seen: dict[tuple[int, bytes, int], float] | None = None

    def wait(self, events: Sequence[Event], now: float) -> float:
        """Seconds to wait before sending ``events`` as a batch; 0 to send now (or nothing to send)."""
        first_pass = self._first_seen is None
        known = self._first_seen or {}
        self._first_seen = {e.dedupe_key: float("-inf") if first_pass else known.get(e.dedupe_key, now) for e in events}
        if not events or len(events) >= self.policy.max_batch_size:
            return 0.0
        oldest = min(self._first_seen.values())
        return max(0.0, oldest + self.policy.max_batch_delay - now)


def publish_ready(
    connection: Connection, events: Sequence[Event], now: float, policy: BatchPolicy | None
) -> list[tuple[int, tuple[Event, ...]]]:
    """Publish ``events`` (in order) while the in-flight window admits them.

    Returns each frame sent: its message id and the events it carries.

    With ``policy`` on a version-1 connection they go as batches of at most
    ``max_batch_size`` (a batch whose frame would pass 65,535 bytes is halved,
    BPUB-5; a single event goes as a PUBLISH, BPUB-7), else one PUBLISH each.
    The caller keeps each event pending until its answer is recorded (DELIV-1).
    """
    sent: list[tuple[int, tuple[Event, ...]]] = []
    rest = list(events)
    batching = policy is not None and batches_allowed(connection)
    while rest and connection.can_publish(rest[0] if not batching else None):
        count = min(len(rest), policy.max_batch_size) if batching and policy is not None else 1
        while True:
            if count == 1:
                if not connection.can_publish(rest[0]):
                    return sent
                sent.append((connection.publish(rest[0], now), (rest[0],)))
                break
            batch = tuple(sorted(rest[:count], key=batch_order))
            try:
                sent.append((connection.publish_batch(batch, now), batch))
                break
            except EncodeError:
                count //= 2  # BPUB-5: publish_batch changed nothing; try half as many
        rest = rest[count:]
    return sent
