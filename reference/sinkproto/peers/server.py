"""SinkServer: accepts mutually authenticated TLS connections and drives one session each."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable

from ..connection import DEFAULT_KEEPALIVE, Connection, Role, State
from ..events import (
    ConnectionClosed,
    ConnectionEvent,
    EventReceived,
    HandshakeCompleted,
    HandshakeRequested,
    PublishAcked,
    PublishNacked,
)
from ..codec import Codec, codec_from_env
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import ConnectionRequest, ConnectionResponse, Event
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

    async def on_nack(self, session: PeerSession, client: str, event: Event, machine_message: bytes,
                      human_message: bytes) -> None:
        """The client NACKed one of our events: a dead letter."""

    async def on_disconnect(self, session: PeerSession, client: str, closed: ConnectionClosed) -> None:
        """The session ended (``closed.unanswered`` were not delivered)."""


class SinkServer:
    """Accept loop, one :class:`PeerSession` per connection, newest connection per client wins (DELIV-10)."""

    def __init__(self, handler: ServerHandler, ssl_context: ssl.SSLContext | None, *,
                 keepalive: float = DEFAULT_KEEPALIVE, limits: Limits = DEFAULT_LIMITS,
                 message_id_start: Callable[[], int] | None = None,
                 connection_class: Callable[..., Connection] = Connection, codec: Codec | None = None, serial: bool = False,
                 tls_read_buffer: int | None = None) -> None:
        # connection_class lets the conformance self-test run deliberately broken
        # variants ("mutants") of this server; production code leaves the default.
        self.connection_class = connection_class
        # The fast codec unless SINK_CODEC=construct asks for the readable reference.
        self.codec = codec if codec is not None else codec_from_env()
        self._serial = asyncio.Lock() if serial else None  # one connection at a time: a mutant, never a default
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
        self.replace_previous = True  # DELIV-10; only a conformance mutant turns it off
        self.stats_every = STATS_EVERY  # seconds between the per-connection counts in the log; 0: only at close

    async def start(self, host: str, port: int) -> tuple[str, int]:
        _set_tls_read_buffer(self.tls_read_buffer)
        self._server = await asyncio.start_server(
            self._accept, host, port, ssl=self.ssl_context,
            ssl_handshake_timeout=self.keepalive if self.ssl_context is not None else None)
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
            if self._serial is not None:
                async with self._serial:
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
        connection = self.connection_class(Role.SERVER, now=loop.time(), message_id_start=self._message_id_start(),
                                           keepalive=self.keepalive, limits=self.limits, codec=self.codec)
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
        log.info("disconnected", extra={"client": client, "reason": closed.reason, "unanswered": len(closed.unanswered),
                                        **session.tally.as_log()})
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
                    await session.send_response(response)
            elif isinstance(event, HandshakeCompleted):
                previous = self.sessions.get(client)
                self.sessions[client] = session
                self._handshaken.add(session)
                if previous is not None and previous is not session and self.replace_previous:
                    log.info("replacing older connection", extra={"client": client})  # DELIV-10
                    await previous.close()
                await handler.on_connect(session, client)
            elif isinstance(event, EventReceived):
                return await handler.on_event(session, client, event.event)
            elif isinstance(event, PublishAcked):
                await handler.on_ack(session, client, event.event)
            elif isinstance(event, PublishNacked):
                await handler.on_nack(session, client, event.event, event.machine_message, event.human_message)
            return None

        return on_event
