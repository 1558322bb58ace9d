"""The handler-level mutants' code: reference handlers with a documented hook overridden.

A mutant of the application side is :class:`~sinkproto.peers.service.StoreServer`
or :class:`~sinkproto.peers.service.StoreClient` (or their
:class:`~sinkproto.peers.service.OutboxPump`) with one public hook
(``decide``, ``on_event``, ``on_batch``, ``on_ack``, ``on_hello``, ``on_nack``,
``on_batch_answered``, ``on_second_session``, ``on_protocol_error``,
``new_pump``, ``send``, ``anonymous``, ``version_memory``) changed; no private
name is touched (tests/test_gates.py checks). The registry in :mod:`.mutants`
names the class each mutant runs with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sinkproto import ConnectionRequest, ConnectionResponse, Response
from sinkproto.connection import Connection
from sinkproto.events import BatchAnswered, ProtocolError
from sinkproto.messages import BaseLookup, BatchContext, ContextBase, Event
from sinkproto.peers import Answer, PeerSession
from sinkproto.peers.service import OutboxPump, StoreClient, StoreServer
from sinkproto.session.batching import ContextSender

__all__ = [
    "SLOW_ACK_DELAY",
    "SLOW_REJECT_DELAY",
    "AcksAnyBatch",
    "AcksUnreadable",
    "AlwaysConnected",
    "AlwaysHello",
    "AnonymousAllowed",
    "CodesAgainstUnaccepted",
    "EagerContext",
    "ForgetfulPump",
    "ForgetsBases",
    "ForgetsRefusal",
    "ForgetsServerId",
    "InterruptedRefused",
    "KeepsBasesAfterUnknownBase",
    "MismatchAccepted",
    "NacksDuplicates",
    "NoRedeliveryClient",
    "NoRedeliveryServer",
    "NoReplacement",
    "ResendsBatchNacks",
    "ResendsNacked",
    "ReusedBatchIds",
    "ReusesBatchIds",
    "SlowAcks",
    "SlowReject",
    "StubbornContext",
]


class ForgetfulPump(OutboxPump):
    """Marks events delivered as soon as they are sent: nothing is ever re-sent (either role's outbox)."""

    async def send(self, events: list[Event]) -> None:
        for event in events:
            await self.session.publish(event)
            self.store.mark_acked(self.peer, event)


# -- server: the handshake decision ---------------------------------------------------------------------------


class AlwaysHello(StoreServer):
    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        response = await super().decide(client, request)
        if response.response in (Response.CONNECTED, Response.INSTANCE_ID_MISMATCH):
            return ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=self.store.instance_id)
        return response


class AlwaysConnected(StoreServer):
    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        await super().decide(client, request)
        return ConnectionResponse(response=Response.CONNECTED)


class MismatchAccepted(StoreServer):
    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        response = await super().decide(client, request)
        if response.response is Response.INSTANCE_ID_MISMATCH:
            return ConnectionResponse(response=Response.CONNECTED)
        return response


class InterruptedRefused(StoreServer):
    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        known = self.store.known_client_instance_id(client)
        if known is not None and request.server_instance_id is None:
            return ConnectionResponse(response=Response.INSTANCE_ID_MISMATCH)
        return await super().decide(client, request)


class AnonymousAllowed(StoreServer):
    def anonymous(self) -> str | None:
        return "anonymous"


class NoReplacement(StoreServer):
    """Keeps a client's older connection open when a newer one completes its handshake (DELIV-10)."""

    async def on_second_session(self, client: str, previous: PeerSession, session: PeerSession) -> None:
        pass


# -- server: events and batches received -------------------------------------------------------------------------


class NacksDuplicates(StoreServer):
    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None:
        if any(e == event for _, e in self.store.received(client)):
            return Answer.nack(b"DUPLICATE", b"already stored")
        return await super().on_event(session, client, event)


class AcksUnreadable(StoreServer):
    """Declares what it reads, but stores and ACKs every event, readable or not (SNEG-8)."""

    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None:
        self.store.store_received(client, event)
        return None


class AcksAnyBatch(StoreServer):
    """ACKs every batch it decodes, without storing it (paired with a raised max_batch_events)."""

    async def on_batch(self, session: PeerSession, client: str, events: tuple[Event, ...]) -> dict[int, Any]:
        return {}


#: The slow server's delay before each answer (seconds): longer than a load run's publish interval.
SLOW_ACK_DELAY = 0.3


class SlowAcks(StoreServer):
    """A saturated server, not a wrong one: it stores each event at once (durable before the ACK,
    MSGID-9) and answers it SLOW_ACK_DELAY seconds later, one event after the other, so its ACKs
    fall further behind the longer a client publishes. While it works through a backlog it reads
    no frame, so run it with a K (--keepalive) longer than the backlog takes."""

    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None:
        answer = await super().on_event(session, client, event)
        await asyncio.sleep(SLOW_ACK_DELAY)
        return answer


#: Longer than the default ``reject_within`` (5 s), short enough for the self-test.
SLOW_REJECT_DELAY = 6.5


class SlowReject(StoreServer):
    """Decides to close on a protocol error, as it must, but only SLOW_REJECT_DELAY seconds later.

    Its documented ``on_protocol_error`` hook waits before the session closes: meanwhile
    nothing more is read, as if it were still chewing on the hostile frame (inflating a bomb,
    waiting for a varint's end). A resource verdict fails on *time*: the profile's ``[limits]``.
    """

    async def on_protocol_error(self, session: PeerSession, client: str, error: ProtocolError) -> None:
        await asyncio.sleep(SLOW_REJECT_DELAY)


# -- server: its outbox -------------------------------------------------------------------------------------------


class NoRedeliveryServer(StoreServer):
    """Counts an event as delivered once sent: nothing unanswered is sent again."""

    def new_pump(self, session: PeerSession, client: str) -> OutboxPump:
        return ForgetfulPump(self.store, client, session, poll=0.1)

    async def on_ack(self, session: PeerSession, client: str, event: Event) -> None:
        pass


# -- client -------------------------------------------------------------------------------------------------------


class ForgetsServerId(StoreClient):
    """Does not persist the server_instance_id of hello_new_client (HS-13)."""

    async def on_hello(self, server_instance_id: int) -> None:
        pass


class NoRedeliveryClient(StoreClient):
    """Counts an event as delivered once sent: nothing unanswered is sent again (DELIV-1)."""

    def new_pump(self, session: PeerSession) -> OutboxPump:
        return ForgetfulPump(self.store, self.server_name, session, poll=self.poll, housekeeping=self.housekeeping)


class ResendsNacked(StoreClient):
    """Leaves a NACKed event pending, so it is published again (DELIV-11)."""

    async def on_nack(self, session: PeerSession, event: Event, machine_message: bytes, human_message: bytes) -> None:
        self.check_synced()


class ForgetsRefusal(StoreClient):
    """Never remembers that a server refused version 1: offers 1 on every connection (VER-2)."""

    @property
    def version_memory(self) -> dict[str, tuple[int, float]]:
        return {}


class ResendsBatchNacks(StoreClient):
    """Records the accepted events of an answered batch, but leaves the NACKed ones pending (BRES-6, DELIV-11)."""

    async def on_batch_answered(self, session: PeerSession, answer: BatchAnswered) -> None:
        self.store.mark_acked_many(self.server_name, answer.acked_events)
        self.check_synced()


# -- context coding (spec/v1/context.md) ---------------------------------------------------------------------------


class ForgetsBases(StoreServer):
    """Keeps a client's bases for the connection that accepted them only: none is loaded for a new one (CTX-9)."""

    def bases_for(self, client: str) -> BaseLookup | None:
        return None


class EagerContext(ContextSender):
    """Takes each batch it sends in mode context for a base as soon as it is sent: before the peer's ACK, whether or
    not one comes (CTX-10)."""

    def __init__(self) -> None:
        super().__init__()
        self.coded: dict[int, tuple[Event, ...]] = {}  # batch_id -> the events of the batch being sent with it

    def context_for(self, connection: Connection, events: Sequence[Event], now: float) -> BatchContext | None:
        context = super().context_for(connection, events, now)
        if context is not None:
            self.coded[context.batch_id] = tuple(events)
        return context

    def sent(self, context: BatchContext, now: float) -> None:
        super().sent(context, now)
        events = self.coded.pop(context.batch_id, None)
        if events:
            self.bases.append((ContextBase(batch_id=context.batch_id, events=events), now))


class CodesAgainstUnaccepted(StoreClient):
    """Codes each batch against the last one it sent, answered or not, ACKed or not (CTX-10)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logic.context = EagerContext()


class ReusedBatchIds(ContextSender):
    """Gives the next batch in mode context the id of the last one sent, its bases not forgotten (CTX-12)."""

    def sent(self, context: BatchContext, now: float) -> None:
        super().sent(context, now)
        self.next_batch_id = context.batch_id


class ReusesBatchIds(StoreClient):
    """Sends every batch in mode context under one batch_id (CTX-12)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logic.context = ReusedBatchIds()


class StubbornContext(ContextSender):
    """Forgets no base, not even after NACK ``unknown_base`` (CTX-11)."""

    def forget(self) -> None:
        pass


class KeepsBasesAfterUnknownBase(StoreClient):
    """After NACK ``unknown_base`` resends the events naming the bases the server lost (CTX-11)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logic.context = StubbornContext()
