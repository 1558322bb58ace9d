"""asyncio peers of protocol version 1: a server that accepts versions 0 and 1, a client that falls back.

:class:`SinkServerV1` accepts version 0 and version 1 on one port (VER-6)
and answers batches through ``handler.on_batch``. :class:`SinkClientV1`
offers version 1, falls back to version 0 after ``unsupported_protocol_version``
and remembers that per server (VER-2), offering 1 again after
``reprobe_after`` seconds (VER-4). The memory goes through the handler
(``remembered_version`` / ``remember_version``) so an application can keep
it durably (VER-3); the default keeps it in the handler object.

:class:`BatchPolicy` and :func:`send_batches` are the sending side of batch
publish (BPUB-5..BPUB-7), used by the store-backed outbox pump
(:class:`~sinkproto.peers.service.OutboxPump`) on version-1 sessions. The
answers reach a handler's ``on_batch_answered`` on both peers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, MutableMapping, Sequence
from functools import partial
from typing import Any

from ..connection import Connection, Role
from ..errors import EncodeError
from ..events import BatchAnswered, BatchReceived, ConnectionClosed, ConnectionEvent, HandshakeRefused
from ..messages import ConnectionResponse, Event, Response
from ..records import RecordSchemas
from .client import ClientHandler, SinkClient
from .server import ServerHandler, SinkServer
from .session import Answer, ConnectionLost, EventCallback, PeerSession

__all__ = ["BatchPolicy", "SinkServerV1", "SinkClientV1", "batches_allowed", "in_flight_events", "on_batch_by_event",
           "publish_batch", "send_batches"]

log = logging.getLogger("sinkproto.peers.v1")


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


def _count_batch(session: PeerSession, events: int, nacked: int) -> None:
    """A received batch in the session's tally: its events, ACKed but for the NACKed ones (BRES-6)."""
    session.tally.received += events
    session.tally.acked += events - nacked
    session.tally.nacked += nacked


def _batch_order(event: Event) -> tuple[int, bytes, int]:
    return (event.event_type_id, event.key, event.offset)


async def send_batches(session: PeerSession, events: Sequence[Event]) -> list[int]:
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
    """
    connection = session.connection
    if not batches_allowed(connection):
        raise TypeError("batches need a connection negotiated at version 1 or later")
    sent: list[int] = []
    rest = list(events)
    while rest:
        count = len(rest)
        while True:
            if count == 1:
                await session.publish(rest[0])
                break
            await session.wait_can_publish()
            try:
                sent.append(connection.publish_batch(sorted(rest[:count], key=_batch_order), session.now()))
                session.tally.sent += count
                break
            except EncodeError:
                count //= 2  # BPUB-5: publish_batch changed nothing; try half as many
        rest = rest[count:]
        await session._flush()
    return sent


async def on_batch_by_event(handler: ServerHandler, session: PeerSession, client: str,
                            events: tuple[Event, ...]) -> dict[int, tuple[bytes, bytes]]:
    """BPUB-9: a batch is processed as its events one by one, in batch order; returns the NACKs by index."""
    nacks: dict[int, tuple[bytes, bytes]] = {}
    for index, event in enumerate(events):
        answer = await handler.on_event(session, client, event)
        if answer is not None and not answer.ack:
            nacks[index] = (answer.machine_message, answer.human_message)
    return nacks


class SinkServerV1(SinkServer):
    """A SinkServer that accepts every version up to ``version`` on one port (VER-6, VER-9)."""

    def __init__(self, handler: ServerHandler, ssl_context: Any, *, version: int = 1,
                 record_schemas: RecordSchemas | None = None, **options: Any) -> None:
        """``record_schemas``: the writer schemas this server knows, for batches in records mode (RECORD-2)."""
        super().__init__(handler, ssl_context, **options)
        self.version = version
        self.record_schemas = record_schemas
        # Every version up to ``version`` on one port (VER-6). A conformance mutant's connection_class may pin
        # its own versions (a version-0 mutant speaks only version 0).
        self.connection_class = partial(self.connection_class, versions=tuple(range(version + 1)),
                                        record_schemas=record_schemas)

    def _on_event_for(self, client: str) -> EventCallback:
        inner: Any = super()._on_event_for(client)

        async def on_event(session: PeerSession, event: ConnectionEvent) -> Answer | None:
            if isinstance(event, BatchReceived):
                on_batch = getattr(self.handler, "on_batch", None)
                nacks = await (on_batch(session, client, event.events) if on_batch is not None
                               else on_batch_by_event(self.handler, session, client, event.events))
                connection = session.connection
                _count_batch(session, len(event.events), len(nacks))
                if connection.negotiated_version == 1 and event.message_id in connection.awaiting_batch_answer:
                    connection.answer_batch(event.message_id, session.now(), nacks)  # BPUB-11: after storing
                    await session._flush()
                return None
            if isinstance(event, BatchAnswered):
                session.tally.peer_acked += len(event.events) - len(event.nacked)
                session.tally.peer_nacked += len(event.nacked)
                # BRES-6: the client answered a batch this server sent (an outbox pump on version 1).
                on_answer = getattr(self.handler, "on_batch_answered", None)
                if on_answer is not None:
                    await on_answer(session, client, event)
                return None
            return await inner(session, event)

        return on_event


class SinkClientV1(SinkClient):
    """A SinkClient that offers version 1 and falls back to 0 per server (VER-1..VER-5)."""

    def __init__(self, handler: ClientHandler, ssl_context: Any, host: str, port: int, *, version: int = 1,
                 reprobe_after: float = 24 * 3600.0, clock: Callable[[], float] = time.time,
                 record_schemas: RecordSchemas | None = None, **options: Any) -> None:
        """``record_schemas``: the writer schemas this client knows, for batches in records mode (RECORD-2)."""
        super().__init__(handler, ssl_context, host, port, **options)
        self.version = version
        self.record_schemas = record_schemas
        self.reprobe_after = reprobe_after
        self.clock = clock
        self.server_key = f"{host}:{port}"
        self.offered: int | None = None  # the version offered on the current or last connection
        # VER-2: each refusal the fallback answered: (version refused, version offered next, the response)
        self.fallbacks: list[tuple[int, int, ConnectionResponse]] = []
        self._batch_answers: dict[int, asyncio.Future[BatchAnswered]] = {}

    def _memory(self) -> MutableMapping[str, tuple[int, float]]:
        """The handler's ``version_memory`` (a store-backed one keeps it across restarts, VER-3), else one in memory."""
        memory: MutableMapping[str, tuple[int, float]] | None = getattr(self.handler, "version_memory", None)
        if memory is None:
            memory = {}
            setattr(self.handler, "version_memory", memory)
        return memory

    def version_to_offer(self) -> int:
        """VER-1, VER-4: the highest version, unless this server refused it less than ``reprobe_after`` ago."""
        remembered = self._memory().get(self.server_key)
        if remembered is not None and self.clock() - remembered[1] < self.reprobe_after:
            return min(self.version, remembered[0])
        return self.version

    def fell_back(self, response: ConnectionResponse) -> tuple[int, int] | None:
        """(refused, next) when ``response`` is a refusal this client answered by falling back (VER-2):
        not a failure, the next connection offers the lower version."""
        for refused, offered, answered in self.fallbacks:
            if answered is response:
                return refused, offered
        return None

    async def connect_once(self) -> ConnectionClosed:
        """One connection, offering :meth:`version_to_offer` (as SinkClient.connect_once otherwise)."""
        self.offered = offer = self.version_to_offer()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.ssl_context, server_hostname=self.server_hostname),
            self.connect_timeout)
        loop = asyncio.get_running_loop()
        connection = self.connection_class(Role.CLIENT, versions=tuple(range(offer + 1)), now=loop.time(),
                                           message_id_start=self._message_id_start(), keepalive=self.keepalive,
                                           limits=self.limits, record_schemas=self.record_schemas, codec=self.codec)
        session = PeerSession(connection, reader, writer, self._on_event, peer=self.server_key, logger=log)
        self.session = session
        await session.send_request(_request_for(offer, self.handler.connection_request()))  # HS-1, VER-1
        try:
            closed = await session.run()
        finally:
            self.session = None
            self.connected.clear()
        log.info("disconnected", extra={**session.tally.as_log(), "reason": closed.reason, "unanswered": len(closed.unanswered), "version": offer})
        await self.handler.on_disconnect(closed)
        return closed

    async def _on_event(self, session: PeerSession, event: ConnectionEvent) -> Answer | None:
        if isinstance(event, HandshakeRefused) and event.response.response is Response.UNSUPPORTED_PROTOCOL_VERSION:
            if self.offered is not None and self.offered > 0:
                # VER-2: remember that this server speaks only version 0; the next attempt offers it.
                self._memory()[self.server_key] = (self.offered - 1, self.clock())
                self.fallbacks.append((self.offered, self.offered - 1, event.response))
                log.info("server refused version, falling back", extra={"server": self.server_key, "offered": self.offered})
        if isinstance(event, BatchReceived):
            await self._answer_batch(session, event)
            return None
        if isinstance(event, BatchAnswered):
            session.tally.peer_acked += len(event.events) - len(event.nacked)
            session.tally.peer_nacked += len(event.nacked)
            future = self._batch_answers.pop(event.message_id, None)
            if future is not None and not future.done():
                future.set_result(event)
            on_answer = getattr(self.handler, "on_batch_answered", None)
            if on_answer is not None:
                await on_answer(session, event)
            return None
        if isinstance(event, ConnectionClosed):
            for future in self._batch_answers.values():
                if not future.done():
                    future.set_exception(ConnectionLost(f"connection closed: {event.reason}"))
            self._batch_answers.clear()
        return await super()._on_event(session, event)

    async def _answer_batch(self, session: PeerSession, event: BatchReceived) -> None:
        """BPUB-9..BPUB-11: a server's batch is its events one by one (``handler.on_event``), answered once."""
        nacks: dict[int, tuple[bytes, bytes]] = {}
        for index, received in enumerate(event.events):
            answer = await self.handler.on_event(session, received)
            if answer is not None and not answer.ack:
                nacks[index] = (answer.machine_message, answer.human_message)
        connection = session.connection
        _count_batch(session, len(event.events), len(nacks))
        if connection.negotiated_version == 1 and event.message_id in connection.awaiting_batch_answer:
            connection.answer_batch(event.message_id, session.now(), nacks)  # after storing
            await session._flush()

    async def publish_batch(self, session: PeerSession, events: tuple[Event, ...] | list[Event]) -> asyncio.Future[BatchAnswered]:
        """Send one BATCH_PUBLISH on a version-1 session; the future resolves with its answer (BRES-6)."""
        await session.wait_can_publish()
        connection = session.connection
        message_id = connection.publish_batch(tuple(events), session.now())
        session.tally.sent += len(events)
        future: asyncio.Future[BatchAnswered] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        self._batch_answers[message_id] = future
        await session._flush()
        return future


def _request_for(offer: int, request: Any) -> Any:
    """The handler's request adjusted to the offered version (a declaration only on version 1)."""
    if offer == request.version:
        return request
    return dataclasses.replace(request, version=offer, reader_schemas=request.reader_schemas if offer == 1 else None)


publish_batch = SinkClientV1.publish_batch
