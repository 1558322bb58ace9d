"""SinkClient: connects with mutual TLS, hands over, reconnects with backoff.

The protocol versions it speaks are a setting (``versions``): it offers the
highest (VER-1), falls back to the next lower one after
``unsupported_protocol_version`` and remembers that per server (VER-2),
offering the highest again after ``reprobe_after`` seconds (VER-4). The
memory is the handler's ``version_memory`` mapping, so an application can keep
it durably (VER-3); by default it lives in the handler object.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterable, MutableMapping

from ..codec import Codec, codec_from_env
from ..connection import DEFAULT_KEEPALIVE, DEFAULT_RULES, Connection, Role, Rules
from ..events import (
    BatchAnswered,
    BatchReceived,
    ConnectionClosed,
    ConnectionEvent,
    EventReceived,
    HandshakeCompleted,
    HandshakeRefused,
    PeerClosed,
    PublishAcked,
    PublishNacked,
)
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import ConnectionRequest, ConnectionResponse, DeclaredLimits, Event, Response
from ..records import RecordSchemas
from ..session.declared import declaration
from ..session.versions import fall_back, request_for, version_to_offer
from .backoff import Backoff
from .batching import count_batch
from .session import Answer, ConnectionLost, PeerSession

__all__ = ["ClientHandler", "SinkClient"]

log = logging.getLogger("sinkproto.client")


class ClientHandler:
    """What a client application provides and decides. Override what you need."""

    @property
    def version_memory(self) -> MutableMapping[str, tuple[int, float]]:
        """VER-2, VER-3: per server (``host:port``), the version to offer and since when (``time.time()``).

        The default keeps it in this handler object; override it with a durable
        mapping to keep the fallback across restarts (StoreClient keeps it in its store).
        """
        memory: MutableMapping[str, tuple[int, float]] = self.__dict__.setdefault("_version_memory", {})
        return memory

    def connection_request(self) -> ConnectionRequest:
        """The request to send: stored instance ids (HS-5, HS-14) and the application version."""
        raise NotImplementedError

    async def on_hello(self, server_instance_id: int) -> None:
        """Persist the server's instance id before anything is published (HS-13)."""

    async def on_connect(self, session: PeerSession) -> None:
        """The handshake completed. Runs inside the read loop: start a task to publish a backlog."""

    async def on_refused(self, response: ConnectionResponse) -> None:
        """Report mismatch, quarantine or version refusals to the operator (HS-16, HS-17)."""

    async def on_event(self, session: PeerSession, event: Event) -> Answer | None:
        """A PUBLISH from the server (e.g. a command): store it, then ACK (None) or NACK."""
        return None

    async def on_ack(self, session: PeerSession, event: Event) -> None:
        """The server ACKed one of our events."""

    async def on_nack(self, session: PeerSession, event: Event, machine_message: bytes, human_message: bytes) -> None:
        """The server NACKed one of our events: a dead letter, not sent again (DELIV-11)."""

    async def on_disconnect(self, closed: ConnectionClosed) -> None:
        """The connection ended; ``closed.unanswered`` go again on the next connection (DELIV-1)."""

    async def on_batch_answered(self, session: PeerSession, answer: BatchAnswered) -> None:
        """The server answered one of our batches (BRES-6)."""

    async def on_peer_closed(self, closed: PeerClosed) -> None:
        """Version 1: the server sent CLOSE saying why (CLOSE-10); the client has logged it and honours its
        ``retry_after`` (CLOSE-9). ``on_disconnect`` follows."""


class SinkClient:
    """Connect, run one session, and reconnect after the backoff delay until ``stop()``.

    Settings: ``versions`` the protocol versions it speaks (it offers the
    highest, VER-1; ``(0, 1)`` offers 1 and falls back to 0 per server),
    ``reprobe_after`` seconds before a server that refused a version is offered
    it again (VER-4), ``record_schemas`` the writer schemas for batches in
    records mode (RECORD-2), ``rules`` the connection's transition table (see
    "Extending the connection" in the docs; the default is the protocol).
    """

    def __init__(
        self,
        handler: ClientHandler,
        ssl_context: ssl.SSLContext,
        host: str,
        port: int,
        *,
        versions: Iterable[int] = (0,),
        server_hostname: str = "localhost",
        keepalive: float = DEFAULT_KEEPALIVE,
        limits: Limits = DEFAULT_LIMITS,
        backoff: Backoff | None = None,
        message_id_start: Callable[[], int] | None = None,
        connect_timeout: float = 30.0,
        codec: Codec | None = None,
        record_schemas: RecordSchemas | None = None,
        rules: Rules = DEFAULT_RULES,
        reprobe_after: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
        declare: DeclaredLimits | None = None,
    ) -> None:
        self.versions = tuple(sorted(set(versions)))
        self.declare = declare  # DECL-1, KEEP-8: what its version-1 requests declare (K when it is not 60 s)
        if not self.versions:
            raise ValueError("versions must not be empty")
        self.record_schemas = record_schemas
        self.rules = rules
        self.reprobe_after = reprobe_after
        self.clock = clock
        self.server_key = f"{host}:{port}"
        self.offered: int | None = None  # the version offered on the current or last connection
        # VER-2: each refusal the fallback answered: (version refused, version offered next, the response)
        self.fallbacks: list[tuple[int, int, ConnectionResponse]] = []
        self._batch_answers: dict[int, asyncio.Future[BatchAnswered]] = {}
        # The fast codec unless SINK_CODEC=construct asks for the readable reference.
        self.codec = codec if codec is not None else codec_from_env()
        rng = random.SystemRandom()
        self.handler = handler
        self.ssl_context = ssl_context
        self.host, self.port, self.server_hostname = host, port, server_hostname
        self.keepalive = keepalive
        self.limits = limits
        self.backoff = backoff or Backoff(rng.uniform)
        self._message_id_start = message_id_start or (lambda: rng.randrange(4096))  # MSGID-1
        self.connect_timeout = connect_timeout
        self.session: PeerSession | None = None
        self.connected = asyncio.Event()
        self._stopping = False
        self.last_response: ConnectionResponse | None = None
        self.last_close: PeerClosed | None = None  # the server's CLOSE on the last connection (version 1)

    def _memory(self) -> MutableMapping[str, tuple[int, float]]:
        """The handler's ``version_memory`` (a store-backed one keeps it across restarts, VER-3), else one in memory."""
        return self.handler.version_memory

    def version_to_offer(self) -> int:
        """VER-1, VER-4: the highest version, unless this server refused it less than ``reprobe_after`` ago."""
        if len(self.versions) == 1:
            return self.versions[-1]
        return version_to_offer(self.versions, self._memory(), self.server_key, self.clock(), self.reprobe_after)

    def fell_back(self, response: ConnectionResponse) -> tuple[int, int] | None:
        """(refused, next) when ``response`` is a refusal this client answered by falling back (VER-2):
        not a failure, the next connection offers the lower version."""
        for refused, offered, answered in self.fallbacks:
            if answered is response:
                return refused, offered
        return None

    async def connect_once(self) -> ConnectionClosed:
        """One connection, from TCP connect to close, offering :meth:`version_to_offer`.

        Raises OSError/ssl.SSLError if it never got up.
        """
        self.offered = offer = self.version_to_offer()
        self.last_close = None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.ssl_context, server_hostname=self.server_hostname),
            self.connect_timeout,
        )
        loop = asyncio.get_running_loop()
        connection = Connection(
            Role.CLIENT,
            now=loop.time(),
            message_id_start=self._message_id_start(),
            versions=tuple(v for v in self.versions if v <= offer),
            keepalive=self.keepalive,
            limits=self.limits,
            codec=self.codec,
            record_schemas=self.record_schemas,
            rules=self.rules,
        )
        session = PeerSession(connection, reader, writer, self._on_event, peer=self.server_key, logger=log)
        self.session = session
        request = request_for(offer, self.handler.connection_request())
        declared = declaration(self.keepalive, self.declare)
        if offer == 1 and declared is not None:
            request = dataclasses.replace(request, declared_limits=declared)  # DECL-1, KEEP-8
        await session.send_request(request)  # HS-1, VER-1
        try:
            closed = await session.run()
        finally:
            self.session = None
            self.connected.clear()
        log.info(
            "disconnected",
            extra={
                **session.tally.as_log(),
                "reason": closed.reason,
                "unanswered": len(closed.unanswered),
                "version": offer,
            },
        )
        await self.handler.on_disconnect(closed)
        return closed

    async def run(self) -> None:
        """Stay connected until ``stop()``: reconnect with backoff (DELIV-7..DELIV-9)."""
        while not self._stopping:
            try:
                await self.connect_once()
            except (OSError, ssl.SSLError, TimeoutError) as exc:
                log.warning("connection failed", extra={"error": repr(exc)})
            if self._stopping:
                break
            delay = self.reconnect_delay()
            log.info("reconnecting", extra={"delay": round(delay, 3)})
            await asyncio.sleep(delay)

    def reconnect_delay(self) -> float:
        """DELIV-7..DELIV-9, CLOSE-9: the backoff's next step, or the server's ``retry_after`` when longer."""
        close = self.last_close
        return self.backoff.next_delay(at_least=None if close is None else close.retry_after)

    async def stop(self) -> None:
        self._stopping = True
        if self.session is not None:
            await self.session.close()

    async def publish_batch(
        self, session: PeerSession, events: tuple[Event, ...] | list[Event]
    ) -> asyncio.Future[BatchAnswered]:
        """Send one BATCH_PUBLISH on a version-1 session; the future resolves with its answer (BRES-6)."""
        await session.wait_can_publish()
        message_id = session.connection.publish_batch(tuple(events), session.now())
        session.tally.sent += len(events)
        future: asyncio.Future[BatchAnswered] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        self._batch_answers[message_id] = future
        await session._flush()
        return future

    async def _answer_batch(self, session: PeerSession, event: BatchReceived) -> None:
        """BPUB-9..BPUB-11: a server's batch is its events one by one (``handler.on_event``), answered once."""
        nacks: dict[int, tuple[bytes, bytes]] = {}
        for index, received in enumerate(event.events):
            answer = await self.handler.on_event(session, received)
            if answer is not None and not answer.ack:
                nacks[index] = (answer.machine_message, answer.human_message)
        connection = session.connection
        count_batch(session, len(event.events), len(nacks))
        if connection.negotiated_version == 1 and event.message_id in connection.awaiting_batch_answer:
            connection.answer_batch(event.message_id, session.now(), nacks)  # after storing
            await session._flush()

    async def _on_event(self, session: PeerSession, event: ConnectionEvent) -> Answer | None:
        handler = self.handler
        if isinstance(event, HandshakeRefused) and event.response.response is Response.UNSUPPORTED_PROTOCOL_VERSION:
            lower = None
            if self.offered is not None and self.offered > self.versions[0]:
                # VER-2: remember that this server speaks only lower versions; the next attempt offers one.
                lower = fall_back(self.versions, self._memory(), self.server_key, self.offered, self.clock())
            if lower is not None and self.offered is not None:
                self.fallbacks.append((self.offered, lower, event.response))
                log.info(
                    "server refused version, falling back", extra={"server": self.server_key, "offered": self.offered}
                )
        if isinstance(event, BatchReceived):
            await self._answer_batch(session, event)
            return None
        if isinstance(event, BatchAnswered):
            session.tally.peer_acked += len(event.events) - len(event.nacked)
            session.tally.peer_nacked += len(event.nacked)
            future = self._batch_answers.pop(event.message_id, None)
            if future is not None and not future.done():
                future.set_result(event)
            await handler.on_batch_answered(session, event)
            return None
        if isinstance(event, ConnectionClosed):
            for future in self._batch_answers.values():
                if not future.done():
                    future.set_exception(ConnectionLost(f"connection closed: {event.reason}"))
            self._batch_answers.clear()
        if isinstance(event, PeerClosed):
            self.last_close = event
            fields = {
                "server": self.server_key,
                "error_class": event.error_class,
                "requirement": event.requirement,
                "last_message_id": event.last_message_id,
                "retry_after": event.retry_after,
                "human_message": event.human_message.decode("utf-8", "replace"),
            }
            level = logging.INFO if event.error_class == "no_error" else logging.WARNING
            log.log(level, "server closed", extra={k: v for k, v in fields.items() if v is not None})  # CLOSE-10
            await handler.on_peer_closed(event)
            return None
        if isinstance(event, HandshakeCompleted):
            self.last_response = event.response
            if event.response.response is Response.HELLO_NEW_CLIENT:
                assert event.response.server_instance_id is not None
                await handler.on_hello(event.response.server_instance_id)
            self.backoff.reset()  # DELIV-9: only after connected or hello_new_client
            log.info("connected", extra={"response": event.response.response.wire_name})
            self.connected.set()
            await handler.on_connect(session)
        elif isinstance(event, HandshakeRefused):
            self.last_response = event.response
            response = event.response
            messages = {"machine_message": response.machine_message, "human_message": response.human_message}
            log.warning(
                "handshake refused",
                extra={
                    "response": response.response.wire_name,  # HS-17
                    **{k: v for k, v in messages.items() if v is not None},
                },
            )
            await handler.on_refused(event.response)
        elif isinstance(event, EventReceived):
            return await handler.on_event(session, event.event)
        elif isinstance(event, PublishAcked):
            await handler.on_ack(session, event.event)
        elif isinstance(event, PublishNacked):
            await handler.on_nack(session, event.event, event.machine_message, event.human_message)
        return None
