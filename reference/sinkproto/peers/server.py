"""SinkServer: accepts mutually authenticated TLS connections and drives one session each.

The protocol versions it accepts are a setting (``versions``, VER-6, VER-9):
``(0,)`` by default, ``(0, 1)`` for version 0 and version 1 on one port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import ssl
from collections.abc import Callable, Iterable

from ..codec import Codec, codec_from_env
from ..connection import DEFAULT_KEEPALIVE, DEFAULT_RULES, Connection, Role, Rules, State
from ..events import (
    BaseMissing,
    BatchAnswered,
    BatchReceived,
    ConnectionClosed,
    ConnectionEvent,
    EventReceived,
    HandshakeCompleted,
    HandshakeRequested,
    ProtocolError,
    PublishAcked,
    PublishNacked,
)
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import BaseLookup, ConnectionRequest, ConnectionResponse, ContextBase, DeclaredLimits, Event, Response
from ..records import RecordSchemas
from ..session.declared import declaration, merged
from .batching import count_batch, on_batch_by_event
from .session import Answer, EventCallback, PeerSession
from .tls import peer_identity

__all__ = ["ServerHandler", "SinkServer"]

log = logging.getLogger("sinkproto.server")


# asyncio allocates a 256 KiB TLS read buffer per connection (CPython 3.11-3.13),
# which dominates a server's memory per idle connection (about 295 KiB each
# with 1,000 connections open, `sink bench memory`). A Sink frame is at most
# 64 KiB, so 16 KiB reads lose nothing but a few extra read calls on bulk
# transfers. The knob is asyncio's class attribute `SSLProtocol.max_size`
# (not public API): it is set only where it exists, for the whole process.
TLS_READ_BUFFER = 16 * 1024
#: seconds between two "connection counts" log lines of a long connection (received, ACKed, NACKed, ...)
STATS_EVERY = 60.0


def _set_tls_read_buffer(size: int | None) -> None:
    import asyncio.sslproto

    if size and hasattr(asyncio.sslproto.SSLProtocol, "max_size"):
        asyncio.sslproto.SSLProtocol.max_size = size


class ServerHandler:
    """What a server application decides. Override what you need.

    ``decide`` must return the connection response (see
    :func:`sinkproto.handshake.decide_handshake`) and, for ``hello_new_client``,
    record the client instance id durably before returning (HS-10).
    """

    def authenticate(self, identity: str, peercert: dict[str, object]) -> str | None:
        """Map a verified certificate to a client id; None refuses the connection."""
        return identity

    def anonymous(self) -> str | None:
        """The client id for a peer without a verified certificate: None refuses it (TRANS-3, TRANS-5)."""
        return None

    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        raise NotImplementedError

    def refusal_close(self, client: str, response: ConnectionResponse) -> tuple[int | None, bytes]:
        """CLOSE-4, CLOSE-9: ``(retry_after, human_message)`` for the CLOSE after refusing ``client`` on version 1.

        The default says no ``retry_after`` and the response's own text.
        """
        return None, response.human_message or b""

    async def on_connect(self, session: PeerSession, client: str) -> None:
        """The handshake completed; the session may publish to the client now.

        Runs inside the session's read loop: start a task for anything that
        waits on the peer (publishing a backlog), never await answers here.
        """

    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None:
        """A PUBLISH from the client: store it, then return None/ACK, or Answer.nack(...)."""
        return None

    async def on_ack(self, session: PeerSession, client: str, event: Event) -> None:
        """The client ACKed one of our events."""

    async def on_nack(
        self, session: PeerSession, client: str, event: Event, machine_message: bytes, human_message: bytes
    ) -> None:
        """The client NACKed one of our events: a dead letter."""

    async def on_disconnect(self, session: PeerSession, client: str, closed: ConnectionClosed) -> None:
        """The session ended (``closed.unanswered`` were not delivered)."""

    async def on_batch(
        self, session: PeerSession, client: str, events: tuple[Event, ...]
    ) -> dict[int, tuple[bytes, bytes]]:
        """A BATCH_PUBLISH from the client (version 1): store its events, return the NACKs by index.

        The default processes the batch as its events one by one through
        :meth:`on_event`, in batch order (BPUB-9); the answer goes after this returns (BPUB-11).
        """
        return await on_batch_by_event(self, session, client, events)

    async def on_batch_answered(self, session: PeerSession, client: str, answer: BatchAnswered) -> None:
        """The client answered a batch this server sent (BRES-6)."""

    def bases_for(self, client: str) -> BaseLookup | None:
        """CTX-9: the context bases kept for ``client``, given to each new connection with it.

        Called before the handshake; they are used once the accepting response
        declared a ``context_bases`` of 1 or more (CTX-1, see :meth:`decide`).
        The default keeps none across connections.
        """
        return None

    async def keep_base(self, session: PeerSession, client: str, base: ContextBase) -> None:
        """CTX-8, CTX-9: a batch in mode context is about to be ACKed whole: keep it as a base, durably.

        Called after :meth:`on_batch` stored the batch's events, before the ACK
        is sent. The connection keeps it in memory for the rest of the session
        already; the default keeps it nowhere else.
        """

    async def on_base_missing(self, session: PeerSession, client: str, missing: BaseMissing) -> None:
        """CTX-5: ``client`` named a base we lack; the connection NACKed the batch ``unknown_base`` and stays open."""

    async def on_second_session(self, client: str, previous: PeerSession, session: PeerSession) -> None:
        """``client`` completed a handshake on ``session`` while ``previous`` is still open.

        The default closes ``previous``: the newest connection per client wins (DELIV-10).
        """
        log.info("replacing older connection", extra={"client": client})
        await previous.close()

    async def on_protocol_error(self, session: PeerSession, client: str, error: ProtocolError) -> None:
        """The client broke the protocol; the connection closes once this returns (ERR-3, ERR-7).

        The default does nothing (the session has logged the error already).
        """


class SinkServer:
    """Accept loop, one :class:`PeerSession` per connection, newest connection per client wins (DELIV-10).

    Settings: ``versions`` the protocol versions accepted on this port (VER-6;
    ``(0, 1)`` for both), ``record_schemas`` the writer schemas for batches in
    records mode (RECORD-2), ``rules`` the connection's transition table (see
    "Extending the connection" in the docs; the default is the protocol),
    ``max_sessions`` an operational bound on connections served at once (further
    accepted connections wait for a free place; None: no bound).
    """

    def __init__(
        self,
        handler: ServerHandler,
        ssl_context: ssl.SSLContext | None,
        *,
        versions: Iterable[int] = (0,),
        keepalive: float = DEFAULT_KEEPALIVE,
        limits: Limits = DEFAULT_LIMITS,
        message_id_start: Callable[[], int] | None = None,
        codec: Codec | None = None,
        record_schemas: RecordSchemas | None = None,
        rules: Rules = DEFAULT_RULES,
        max_sessions: int | None = None,
        tls_read_buffer: int | None = None,
        declare: DeclaredLimits | None = None,
    ) -> None:
        self.versions = tuple(sorted(set(versions)))
        # DECL-1, KEEP-8: what its accepting responses to version-1 requests declare (K when it is not 60 s)
        self.declare = declare
        self.record_schemas = record_schemas
        self.rules = rules
        # The fast codec unless SINK_CODEC=construct asks for the readable reference.
        self.codec = codec if codec is not None else codec_from_env()
        if max_sessions is not None and max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.max_sessions = max_sessions
        self._places = asyncio.Semaphore(max_sessions) if max_sessions is not None else None
        # None: the module default (TLS_READ_BUFFER); 0: leave asyncio's own size.
        self.tls_read_buffer = TLS_READ_BUFFER if tls_read_buffer is None else tls_read_buffer
        self.handler = handler
        self.ssl_context = ssl_context
        self.keepalive = keepalive
        self.limits = limits
        self._message_id_start = message_id_start or (lambda: random.SystemRandom().randrange(4096))  # MSGID-1
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sessions: dict[str, PeerSession] = {}  # client -> its current, handshaken session
        self._handshaken: set[PeerSession] = set()
        self.stats_every = STATS_EVERY  # seconds between the per-connection counts in the log; 0: only at close

    async def start(self, host: str, port: int) -> tuple[str, int]:
        _set_tls_read_buffer(self.tls_read_buffer)
        self._server = await asyncio.start_server(
            self._accept,
            host,
            port,
            ssl=self.ssl_context,
            ssl_handshake_timeout=self.keepalive if self.ssl_context is not None else None,
        )
        address = self._server.sockets[0].getsockname()
        log.info("listening", extra={"address": f"{address[0]}:{address[1]}"})
        return address[0], address[1]

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        """Graceful shutdown: stop accepting, close every session, wait for them."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions.values()):
            await session.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        if self._server is not None:
            await self._server.wait_closed()

    async def _report(self, session: PeerSession, client: str) -> None:
        """Every ``stats_every`` seconds, what the connection carried so far, when that changed."""
        last = None
        while True:
            await asyncio.sleep(self.stats_every)
            now = session.tally.as_log()
            if now != last:
                log.info("connection counts", extra={"client": client, **now})
                last = now

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self._places is not None:
                async with self._places:
                    await self._serve(reader, writer)
            else:
                await self._serve(reader, writer)
        except Exception:  # ERR-5: one connection's failure never takes the server down
            log.exception("session failed")
        finally:
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peercert = writer.get_extra_info("peercert")
        identity = peer_identity(peercert)
        client = self.handler.authenticate(identity, peercert or {}) if identity else self.handler.anonymous()
        address = writer.get_extra_info("peername")
        if client is None:
            log.warning("refusing unauthenticated peer", extra={"address": str(address)})
            writer.close()
            return
        loop = asyncio.get_running_loop()
        connection = Connection(
            Role.SERVER,
            now=loop.time(),
            message_id_start=self._message_id_start(),
            versions=self.versions,
            keepalive=self.keepalive,
            limits=self.limits,
            codec=self.codec,
            record_schemas=self.record_schemas,
            rules=self.rules,
            bases=self.handler.bases_for(client),  # CTX-9: loaded before the handshake, used once it declared context
        )
        session = PeerSession(connection, reader, writer, self._on_event_for(client), peer=client, logger=log)
        log.info("connection", extra={"client": client, "address": str(address)})
        reporter = asyncio.create_task(self._report(session, client)) if self.stats_every else None
        try:
            closed = await session.run()
        finally:
            if reporter is not None:
                reporter.cancel()
        if self.sessions.get(client) is session:
            del self.sessions[client]
        log.info(
            "disconnected",
            extra={
                "client": client,
                "reason": closed.reason,
                "unanswered": len(closed.unanswered),
                **session.tally.as_log(),
            },
        )
        if session in self._handshaken:
            self._handshaken.discard(session)
            await self.handler.on_disconnect(session, client, closed)

    def _on_event_for(self, client: str) -> EventCallback:
        async def on_event(session: PeerSession, event: ConnectionEvent) -> Answer | None:
            handler = self.handler
            if isinstance(event, HandshakeRequested):
                response = await handler.decide(client, event.request)
                log.info("handshake", extra={"client": client, "response": response.response.wire_name})
                if session.connection.state is State.DECIDING:  # not closed by a timer meanwhile
                    retry_after, text = None, b""
                    refusing = response.response not in (Response.CONNECTED, Response.HELLO_NEW_CLIENT)
                    # DECL-1, KEEP-8, CTX-1: the configured declaration and what the handler's response declares
                    declared = merged(declaration(self.keepalive, self.declare), response.declared_limits)
                    if not refusing and session.connection.negotiated_version == 1 and declared is not None:
                        response = dataclasses.replace(response, declared_limits=declared)  # DECL-1, KEEP-8
                    if refusing and session.connection.negotiated_version == 1:  # version 0 has no CLOSE
                        retry_after, text = handler.refusal_close(client, response)
                    await session.send_response(response, retry_after=retry_after, human_message=text)
            elif isinstance(event, HandshakeCompleted):
                previous = self.sessions.get(client)
                self.sessions[client] = session
                self._handshaken.add(session)
                if previous is not None and previous is not session:
                    await handler.on_second_session(client, previous, session)  # DELIV-10
                await handler.on_connect(session, client)
            elif isinstance(event, EventReceived):
                return await handler.on_event(session, client, event.event)
            elif isinstance(event, PublishAcked):
                await handler.on_ack(session, client, event.event)
            elif isinstance(event, PublishNacked):
                await handler.on_nack(session, client, event.event, event.machine_message, event.human_message)
            elif isinstance(event, BatchReceived):
                nacks = await handler.on_batch(session, client, event.events)
                connection = session.connection
                base = event.base
                if base is not None and not nacks and connection.takes_context:
                    await handler.keep_base(session, client, base)  # CTX-8, CTX-9: durable before the ACK
                count_batch(session, len(event.events), len(nacks))
                if connection.negotiated_version == 1 and event.message_id in connection.awaiting_batch_answer:
                    connection.answer_batch(event.message_id, session.now(), nacks)  # BPUB-11: after storing
                    await session._flush()
            elif isinstance(event, BatchAnswered):
                session.tally.peer_acked += len(event.events) - len(event.nacked)
                session.tally.peer_nacked += len(event.nacked)
                await handler.on_batch_answered(session, client, event)  # BRES-6
            elif isinstance(event, BaseMissing):
                log.info(
                    "context base missing, answered unknown_base",
                    extra={"client": client, "base_id": event.base_id, "reason": event.reason},
                )  # CTX-5: not an error; the client resends without context (CTX-11)
                await handler.on_base_missing(session, client, event)
            elif isinstance(event, ProtocolError):
                await handler.on_protocol_error(session, client, event)
            return None

        return on_event
