"""Batch publish on version-1 sessions: the batching policy and the helpers both peers share.

:class:`BatchPolicy` and :func:`send_batches` are the sending side of batch
publish (BPUB-5..BPUB-7; the policy and its timing are sans-I/O, in
:mod:`sinkproto.session.batching`), used by the store-backed outbox pump
(:class:`~sinkproto.peers.service.OutboxPump`) on version-1 sessions.
:func:`on_batch_by_event` is the default receiving side (BPUB-9), what
:meth:`~sinkproto.peers.ServerHandler.on_batch` does unless overridden.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..errors import EncodeError, LocalProtocolError
from ..messages import Event
from ..session.answer import Answer
from ..session.batching import (
    BatchPolicy,
    ContextSender,
    batch_order,
    batches_allowed,
    context_group,
    in_flight_events,
    publish_batch,
    single_in_context,
)
from .session import PeerSession

__all__ = ["BatchPolicy", "batches_allowed", "count_batch", "in_flight_events", "on_batch_by_event", "send_batches"]


class EventHandler(Protocol):
    """What :func:`on_batch_by_event` needs of a server handler (its ``on_event``)."""

    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None: ...


def count_batch(session: PeerSession, events: int, nacked: int) -> None:
    """A received batch in the session's tally: its events, ACKed but for the NACKed ones (BRES-6)."""
    session.tally.received += events
    session.tally.acked += events - nacked
    session.tally.nacked += nacked


def _above_declared(exc: LocalProtocolError) -> bool:
    """DECL-4: the frame is above what the peer declared it accepts (the connection changed nothing)."""
    return exc.requirement == "DECL-4"


async def send_batches(
    session: PeerSession,
    events: Sequence[Event],
    *,
    too_large: list[Event] | None = None,
    context: ContextSender | None = None,
) -> list[int]:
    """Send ``events`` on a version-1 session as BATCH_PUBLISH frames; returns their message ids.

    BPUB-5: a batch whose frame would pass 65,535 bytes is halved and tried
    again (the encoded size depends on compression, so it is not predicted).
    The split follows the given order (the store's delivery order), so that
    order holds from batch to batch; inside a batch the events go by
    (event_type_id, key, offset) (BPUB-6), which groups the events of a topic
    by offset and gives the column transforms their best chance. BPUB-7: a
    single event goes as a PUBLISH, which is smaller than a batch of one; so
    does an event whose one-event batch would not fit. Each batch takes one
    slot of the in-flight window (BPUB-3); this waits for a free slot.

    DECL-4: a batch above the peer's declared limits (frame size, events,
    inflated size) is halved the same way. An event that even alone is above
    the peer's declared ``max_frame_size`` is not sent: with ``too_large`` it
    is appended there and stays pending (DECL-5), else the
    :class:`~sinkproto.errors.LocalProtocolError` propagates.

    With ``context`` and a peer that declared it takes mode context, each
    batch holds one event type and goes in mode context, against the last
    base the peer ACKed (CTX-10, CTX-13; :func:`~sinkproto.session.batching.publish_batch`).
    """
    connection = session.connection
    if not batches_allowed(connection):
        raise TypeError("batches need a connection negotiated at version 1 or later")
    grouping = context if context is not None and ContextSender.enabled(connection) else None
    sent: list[int] = []
    rest = list(events)
    if grouping is not None:
        rest = [e for e in rest if not grouping.held(connection, e)]  # CTX-11, DELIV-15: wait for their answers
    while rest:
        count = len(rest)
        alone = False  # a single event whose batch of one failed goes as a PUBLISH
        while True:
            group = context_group(rest, count, grouping)
            if len(group) == 1 and (alone or not single_in_context(connection, group, session.now(), grouping)):
                try:
                    await session.publish(group[0])
                except LocalProtocolError as exc:
                    if too_large is None or not _above_declared(exc):
                        raise
                    too_large.append(group[0])  # DECL-5: kept pending, the caller reports it
                break
            await session.wait_can_publish()
            try:
                batch = sorted(group, key=batch_order)
                sent.append(publish_batch(connection, batch, session.now(), context))
                session.tally.sent += len(group)
                break
            except EncodeError:
                count = max(len(group) // 2, 1)  # BPUB-5: publish_batch changed nothing; try half as many
                alone = len(group) == 1
            except LocalProtocolError as exc:
                if not _above_declared(exc):
                    raise
                count = max(len(group) // 2, 1)  # DECL-4: above the peer's declared limits; nothing changed
                alone = len(group) == 1
        taken = {e.dedupe_key for e in group}
        rest = [e for e in rest if e.dedupe_key not in taken]
        await session._flush()
    return sent


async def on_batch_by_event(
    handler: EventHandler, session: PeerSession, client: str, events: tuple[Event, ...]
) -> dict[int, tuple[bytes, bytes]]:
    """BPUB-9: a batch is processed as its events one by one, in batch order; returns the NACKs by index."""
    nacks: dict[int, tuple[bytes, bytes]] = {}
    for index, event in enumerate(events):
        answer = await handler.on_event(session, client, event)
        if answer is not None and not answer.ack:
            nacks[index] = (answer.machine_message, answer.human_message)
    return nacks
