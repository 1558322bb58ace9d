"""SinkClient: connects with mutual TLS, hands over, reconnects with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable

from ..connection import DEFAULT_KEEPALIVE, Connection, Role
from ..events import (
    ConnectionClosed,
    ConnectionEvent,
    EventReceived,
    HandshakeCompleted,
    HandshakeRefused,
    PublishAcked,
    PublishNacked,
)
from ..codec import Codec, codec_from_env
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import ConnectionRequest, ConnectionResponse, Event, Response
from .backoff import Backoff
from .session import Answer, PeerSession

__all__ = ["ClientHandler", "SinkClient"]

log = logging.getLogger("sinkproto.client")


class ClientHandler:
    """What a client application provides and decides. Override what you need."""

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


class SinkClient:
    """Connect, run one session, and reconnect after the backoff delay until ``stop()``."""

    def __init__(self, handler: ClientHandler, ssl_context: ssl.SSLContext, host: str, port: int, *,
                 server_hostname: str = "localhost", keepalive: float = DEFAULT_KEEPALIVE,
                 limits: Limits = DEFAULT_LIMITS, backoff: Backoff | None = None,
                 message_id_start: Callable[[], int] | None = None, connect_timeout: float = 30.0,
                 connection_class: Callable[..., Connection] = Connection, codec: Codec | None = None) -> None:
        # connection_class lets the conformance self-test run deliberately broken
        # variants ("mutants") of this client; production code leaves the default.
        self.connection_class = connection_class
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

    async def connect_once(self) -> ConnectionClosed:
        """One connection, from TCP connect to close. Raises OSError/ssl.SSLError if it never got up."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.ssl_context, server_hostname=self.server_hostname),
            self.connect_timeout)
        loop = asyncio.get_running_loop()
        connection = self.connection_class(Role.CLIENT, now=loop.time(), message_id_start=self._message_id_start(),
                                           keepalive=self.keepalive, limits=self.limits, codec=self.codec)
        session = PeerSession(connection, reader, writer, self._on_event, peer=f"{self.host}:{self.port}", logger=log)
        self.session = session
        await session.send_request(self.handler.connection_request())  # HS-1
        try:
            closed = await session.run()
        finally:
            self.session = None
            self.connected.clear()
        log.info("disconnected", extra={**session.tally.as_log(), "reason": closed.reason, "unanswered": len(closed.unanswered)})
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
            delay = self.backoff.next_delay()
            log.info("reconnecting", extra={"delay": round(delay, 3)})
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        self._stopping = True
        if self.session is not None:
            await self.session.close()

    async def _on_event(self, session: PeerSession, event: ConnectionEvent) -> Answer | None:
        handler = self.handler
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
            log.warning("handshake refused", extra={"response": response.response.wire_name,  # HS-17
                                                    **{k: v for k, v in messages.items() if v is not None}})
            await handler.on_refused(event.response)
        elif isinstance(event, EventReceived):
            return await handler.on_event(session, event.event)
        elif isinstance(event, PublishAcked):
            await handler.on_ack(session, event.event)
        elif isinstance(event, PublishNacked):
            await handler.on_nack(session, event.event, event.machine_message, event.human_message)
        return None
