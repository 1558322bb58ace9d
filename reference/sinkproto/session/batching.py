"""Batch publish on version-1 connections: the sender's policy and its timing, without I/O (BPUB-2..BPUB-8).

:class:`BatchPolicy` is local configuration; :class:`BatchTimer` says how long
to hold back a short batch (BPUB-7, the time is an argument);
:func:`publish_ready` puts pending events on a connection, as far as its
in-flight window admits, as PUBLISH frames or batches. :class:`ContextSender`
is the sender's side of context coding (CTX-10..CTX-13): the batch ids, the
bases the peer ACKed, the fallback after ``unknown_base``;
:func:`publish_batch` sends one batch in mode context when it can. The asyncio
outbox pump (:class:`~sinkproto.peers.service.OutboxPump`) and the simulator
use them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..connection import Connection
from ..errors import EncodeError
from ..events import BatchAnswered
from ..messages import MAX_BATCH_ID, BatchContext, ContextBase, Event

__all__ = [
    "BatchPolicy",
    "BatchTimer",
    "ContextSender",
    "batch_order",
    "context_group",
    "publish_batch",
    "single_in_context",
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


#: CTX-10: a base is named only while it is this much younger than the peer's context_lifetime (seconds): the
#: receiver's clock started when it accepted the batch, before its ACK reached us, and the new batch takes time too
LIFETIME_MARGIN = 60.0


class ContextSender:
    """CTX-10..CTX-13: what a sender knows of one peer's context bases, without I/O.

    The reference sender gives each batch in mode context the next
    ``batch_id``, counting up from 1 for the life of the object (CTX-12: the
    peer's bases are forgotten with it at a restart); it names as the base
    the last batch of the same event type and schema version the peer ACKed
    whole, among the peer's last ``context_bases`` and younger than its
    ``context_lifetime`` (CTX-10, CTX-13). :meth:`answered` takes each answer:
    an ACKed batch becomes a base, a NACK ``unknown_base`` forgets them all
    (CTX-11). ``used``, ``based`` and ``fallbacks`` count batches sent in mode
    context, those with a base, and ``unknown_base`` answers (for the logs).
    """

    def __init__(self) -> None:
        self.next_batch_id = 1
        self.bases: list[tuple[ContextBase, float]] = []  # ACKed, oldest first, with when each was sent
        self.generation = 0  # how many times the bases were forgotten (CTX-11)
        self._sent: dict[int, tuple[float, int]] = {}  # batch_id -> (when sent, generation), until answered
        self.used = 0
        self.based = 0
        self.fallbacks = 0

    @staticmethod
    def enabled(connection: Connection) -> bool:
        """CTX-1: the peer declared a ``context_bases`` of 1 or more on this version-1 connection."""
        return batches_allowed(connection) and connection.peer_limits.value("context_bases") >= 1

    def context_for(self, connection: Connection, events: Sequence[Event], now: float) -> BatchContext | None:
        """The context to send ``events`` with, or None: the peer takes none, or they cannot be coded in it.

        Mode context needs records mode (RECORD-1, RECORD-2): one event type
        and schema version, whose writer schema both sides know.
        """
        if not events or not self.enabled(connection):
            return None
        first = events[0]
        pair = (first.event_type_id, first.schema_version)
        if any((e.event_type_id, e.schema_version) != pair for e in events):
            return None
        schemas = connection.sendable_record_schemas()
        if schemas is None or pair not in schemas:
            return None
        if self.next_batch_id > MAX_BATCH_ID:  # CTX-12: ids run out; forgetting the bases frees them all
            self.forget()
        return BatchContext(batch_id=self.next_batch_id, base=self._choose(connection, pair, now))

    def _choose(self, connection: Connection, pair: tuple[int, int], now: float) -> ContextBase | None:
        limits = connection.peer_limits
        count = limits.value("context_bases")
        fresh_after = now - max(float(limits.value("context_lifetime")) - LIFETIME_MARGIN, 0.0)
        for base, sent_at in reversed(self.bases[-count:]):
            first = base.events[0]
            if (first.event_type_id, first.schema_version) == pair and sent_at > fresh_after:
                return base
        # A batch of this pair in flight names a base we no longer choose (past the count or the lifetime): name it
        # again rather than none, so that if the peer lacks it, this batch is refused with it and not accepted ahead
        # of its events (DELIV-15: a topic's events keep their order across the resend, CTX-11).
        for context in self._in_flight(connection, pair):
            if self._sent[context.batch_id][1] == self.generation:
                return context.base
        return None

    def _in_flight(self, connection: Connection, pair: tuple[int, int]) -> list[BatchContext]:
        """Our batches of ``pair`` in flight that name a base, newest first."""
        found = []
        for context in reversed(list(connection.ledger.batch_contexts.values())):
            base = context.base
            if base is not None and context.batch_id in self._sent:
                first = base.events[0]
                if (first.event_type_id, first.schema_version) == pair:
                    found.append(context)
        return found

    def held(self, connection: Connection, event: Event) -> bool:
        """CTX-11, DELIV-15: ``event`` waits while a batch of its type names a base we forgot and is unanswered.

        The peer refuses such a batch ``unknown_base`` (it dropped its bases
        when it refused the one that made us forget them); a batch or a
        PUBLISH sent meanwhile would be accepted ahead of those events, out of
        their topics' order. Once it is answered, everything goes again.
        """
        if not self.generation or not self.enabled(connection):
            return False
        pair = (event.event_type_id, event.schema_version)
        return any(self._sent[c.batch_id][1] != self.generation for c in self._in_flight(connection, pair))

    def sent(self, context: BatchContext, now: float) -> None:
        """The batch went with ``context`` (the connection accepted it)."""
        self._sent[context.batch_id] = (now, self.generation)
        while len(self._sent) > _SENT_KEPT:  # answers lost with their connection: the oldest go first
            del self._sent[next(iter(self._sent))]
        self.next_batch_id = max(self.next_batch_id, context.batch_id + 1)
        self.used += 1
        self.based += context.base is not None

    def answered(self, answer: BatchAnswered) -> ContextBase | None:
        """CTX-8, CTX-11: the peer answered a batch; returns the base it became, if it did."""
        context = answer.context
        if context is None:
            return None
        sent = self._sent.pop(context.batch_id, None)
        sent_at = None if sent is None else sent[0]
        if answer.unknown_base:
            self.fallbacks += 1
            self.forget()
            return None
        base = answer.became_base
        if base is None:
            return None
        self.bases = [(b, t) for b, t in self.bases if b.batch_id != base.batch_id]
        self.bases.append((base, sent_at if sent_at is not None else float("-inf")))
        del self.bases[:-MAX_CONTEXT_BASES]
        return base

    def forget(self) -> None:
        """CTX-11: every base of the peer is forgotten; the next batch names none."""
        self.bases.clear()
        self.generation += 1
        if self.next_batch_id > MAX_BATCH_ID:
            self.next_batch_id = 1
            self._sent.clear()


#: DECL-1: the most bases a peer declares it keeps; the sender remembers no more
MAX_CONTEXT_BASES = 64
#: batches sent whose answer is awaited, remembered at most (MSGID-5: 4,096 in flight on one connection)
_SENT_KEPT = 2 * 4096


def context_group(events: Sequence[Event], count: int, context: ContextSender | None) -> tuple[Event, ...]:
    """Up to ``count`` of ``events`` (in their order) for the next batch.

    With a peer that takes mode context, only events of the first one's event
    type and schema version, so the batch can be coded in it (RECORD-1); a
    topic is one event type, so each topic's events keep their order (BPUB-6).
    """
    if context is None or not events:
        return tuple(events[:count])
    pair = (events[0].event_type_id, events[0].schema_version)
    return tuple(e for e in events if (e.event_type_id, e.schema_version) == pair)[:count]


def single_in_context(
    connection: Connection, group: Sequence[Event], now: float, context: ContextSender | None
) -> bool:
    """Whether one event goes as a batch in mode context rather than a PUBLISH (BPUB-7's choice).

    While batches of its type name a base, a PUBLISH of it could be accepted
    ahead of their events should the peer refuse them ``unknown_base``
    (DELIV-15); a batch of one naming the same base is refused with them.
    """
    if context is None:
        return False
    chosen = context.context_for(connection, group, now)
    return chosen is not None and chosen.base is not None


def publish_batch(
    connection: Connection, events: Sequence[Event], now: float, context: ContextSender | None = None
) -> int:
    """Send ``events`` as one BATCH_PUBLISH, in mode context when ``context`` says the peer takes it (CTX-1).

    A batch that cannot be coded in mode context (event data not canonical
    Avro, too large) goes without it; EncodeError only when it fits neither
    way (the caller splits it, BPUB-5).
    """
    chosen = None if context is None else context.context_for(connection, events, now)
    if chosen is not None and context is not None:
        try:
            message_id = connection.publish_batch(events, now, context=chosen)
        except EncodeError:
            pass  # not codable in mode context: as before
        else:
            context.sent(chosen, now)
            return message_id
    return connection.publish_batch(events, now)


def publish_ready(
    connection: Connection,
    events: Sequence[Event],
    now: float,
    policy: BatchPolicy | None,
    context: ContextSender | None = None,
) -> list[tuple[int, tuple[Event, ...]]]:
    """Publish ``events`` (in order) while the in-flight window admits them.

    Returns each frame sent: its message id and the events it carries.

    With ``policy`` on a version-1 connection they go as batches of at most
    ``max_batch_size`` (a batch whose frame would pass 65,535 bytes is halved,
    BPUB-5; a single event goes as a PUBLISH, BPUB-7), else one PUBLISH each.
    The caller keeps each event pending until its answer is recorded (DELIV-1).
    With ``context`` and a peer that takes it, batches go in mode context
    (:func:`publish_batch`, CTX-10), each of one event type.
    """
    sent: list[tuple[int, tuple[Event, ...]]] = []
    rest = list(events)
    batching = policy is not None and batches_allowed(connection)
    grouping = context if batching and context is not None and ContextSender.enabled(connection) else None
    if grouping is not None:
        rest = [e for e in rest if not grouping.held(connection, e)]  # CTX-11, DELIV-15
    while rest and connection.can_publish(rest[0] if not batching else None):
        count = min(len(rest), policy.max_batch_size) if batching and policy is not None else 1
        alone = False  # a single event whose batch of one failed goes as a PUBLISH
        while True:
            group = context_group(rest, count, grouping)
            if len(group) == 1 and (alone or not single_in_context(connection, group, now, grouping)):
                if not connection.can_publish(group[0]):
                    return sent
                sent.append((connection.publish(group[0], now), group))
                break
            batch = tuple(sorted(group, key=batch_order))
            try:
                sent.append((publish_batch(connection, batch, now, context), batch))
                break
            except EncodeError:
                count = max(len(group) // 2, 1)  # BPUB-5: publish_batch changed nothing; try half as many
                alone = len(group) == 1
        taken = {e.dedupe_key for e in group}
        rest = [e for e in rest if e.dedupe_key not in taken]
    return sent
