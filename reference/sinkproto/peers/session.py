"""One live connection: the asyncio driver of a sans-I/O :class:`Connection`.

It reads from the TLS stream, feeds the Connection with ``loop.time()``,
fires its timer, writes what it queues, and hands events to a callback.
Publishing returns a future resolved by the peer's ACK or NACK.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..connection import Connection, State
from ..errors import SinkError
from ..events import (
    ConnectionClosed,
    ConnectionEvent,
    EventReceived,
    ProtocolError,
    PublishAcked,
    PublishNacked,
)
from ..messages import ConnectionRequest, ConnectionResponse, Event
from ..session.answer import Answer, Tally, respond

__all__ = ["Answer", "ConnectionLost", "PeerSession", "Tally"]

READ_SIZE = 65536
CLOSE_TIMEOUT = 5.0


class ConnectionLost(SinkError):
    """The connection ended before the peer answered this PUBLISH (MSGID-13)."""


EventCallback = Callable[["PeerSession", ConnectionEvent], Awaitable[Answer | None]]


class PeerSession:
    """Drives one Connection over one stream until it is closed."""

    def __init__(
        self,
        connection: Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_event: EventCallback,
        *,
        peer: str,
        logger: logging.Logger,
    ) -> None:
        self.connection = connection
        self.peer = peer
        self._reader = reader
        self._writer = writer
        self._on_event = on_event
        self._log = logger
        self._loop = asyncio.get_running_loop()
        self._answers: dict[int, asyncio.Future[PublishAcked | PublishNacked]] = {}
        self._window = asyncio.Condition()
        self.closed: asyncio.Future[ConnectionClosed] = self._loop.create_future()
        self.tally = Tally()
        self._send_failed = False  # the transport refused a write: nothing more is written

    # -- used by the application ------------------------------------------------------------

    def now(self) -> float:
        return self._loop.time()

    async def send_request(self, request: ConnectionRequest) -> None:
        self.connection.send_request(request, self.now())
        await self._flush()

    async def send_response(
        self, response: ConnectionResponse, *, retry_after: int | None = None, human_message: bytes = b""
    ) -> None:
        """HS-3; a refusal to a version-1 request is followed by a CLOSE saying ``retry_after`` and why (CLOSE-4)."""
        events = self.connection.send_response(
            response, self.now(), retry_after=retry_after, human_message=human_message
        )
        await self._flush()
        await self._dispatch(events)

    async def wait_can_publish(self, event: Event | None = None) -> None:
        """Wait until the in-flight window (MSGID-4..MSGID-6) admits ``event``."""
        async with self._window:
            await self._window.wait_for(
                lambda: self.connection.state is State.CLOSED or self.connection.can_publish(event)
            )
        if self.connection.state is State.CLOSED:
            raise ConnectionLost("connection closed")

    async def publish(self, event: Event) -> asyncio.Future[PublishAcked | PublishNacked]:
        """Send ``event`` once the window admits it; the future resolves with the ACK or NACK."""
        await self.wait_can_publish(event)
        message_id = self.connection.publish(event, self.now())
        future: asyncio.Future[PublishAcked | PublishNacked] = self._loop.create_future()
        # A caller that only fires and forgets must not get "exception never retrieved".
        future.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        self._answers[message_id] = future
        self.tally.sent += 1
        await self._flush()
        return future

    async def close(self) -> None:
        """Close locally: nothing more is sent; the read loop ends (TRANS-7)."""
        await self._dispatch(self.connection.close())
        await self._flush()
        if not self._writer.is_closing():
            self._writer.close()  # wakes the read loop, which then finishes run()

    @property
    def in_flight(self) -> int:
        return len(self.connection.in_flight)

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> ConnectionClosed:
        """Read and drive the connection until it closes; returns how it closed."""
        try:
            while not self.closed.done():
                deadline = self.connection.next_timer()
                timeout = None if deadline is None else max(0.0, deadline - self.now())
                try:
                    data = await asyncio.wait_for(self._reader.read(READ_SIZE), timeout)
                except TimeoutError:
                    await self._dispatch(self.connection.handle_timer(self.now()))
                    await self._flush()
                    continue
                except (ConnectionError, OSError) as exc:
                    self._log.info("transport error", extra={"peer": self.peer, "error": repr(exc)})
                    data = b""
                events = self.connection.receive_data(data, self.now())
                # Dispatch before flushing: flushing may yield to other tasks, and an
                # outbox pump must not see an ACKed event that is no longer in flight
                # but not yet recorded as ACKed (it would send it again).
                await self._dispatch(events)
                await self._flush()  # e.g. a PONG or a version refusal
        finally:
            if not self.closed.done():
                await self._dispatch(self.connection.close())
            await self._shutdown_transport()
        return self.closed.result()

    async def _flush(self) -> None:
        data = self.connection.data_to_send()
        if data and not self._send_failed and not self._writer.is_closing():
            self._writer.write(data)
            try:
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                # The peer is gone (killed, unplugged). Said once, here, with the peer: asyncio's own
                # "socket.send() raised exception." per later write is what a person would see otherwise.
                # The read side sees the end and closes the connection.
                self._send_failed = True
                self._log.info("peer gone while sending", extra={"peer": self.peer, "error": repr(exc)})

    async def _dispatch(self, events: list[ConnectionEvent]) -> None:
        for event in events:
            if isinstance(event, ProtocolError):
                # ERR-7: log the error class and the requirement it violates
                self._log.warning(
                    "protocol error from peer",
                    extra={
                        "peer": self.peer,
                        "error_class": event.error_class,
                        "requirement": event.requirement,
                        "detail": event.detail,
                    },
                )
            answer = await self._on_event(self, event)
            if isinstance(event, EventReceived):
                self.tally.received += 1
            if isinstance(event, PublishAcked):
                self.tally.peer_acked += 1
            elif isinstance(event, PublishNacked):
                self.tally.peer_nacked += 1
            if isinstance(event, EventReceived) and self.connection.state is State.OPEN:
                respond(self.connection, event.message_id, answer, self.now(), self.tally)  # after storing (MSGID-9)
                await self._flush()
            elif isinstance(event, (PublishAcked, PublishNacked)):
                future = self._answers.pop(event.message_id, None)
                if future is not None and not future.done():
                    future.set_result(event)
            elif isinstance(event, ConnectionClosed):
                for future in self._answers.values():
                    if not future.done():
                        future.set_exception(ConnectionLost(f"connection closed: {event.reason}"))
                self._answers.clear()
                if not self.closed.done():
                    self.closed.set_result(event)
        async with self._window:
            self._window.notify_all()

    async def _shutdown_transport(self) -> None:
        await self._flush()
        if not self._writer.is_closing():
            self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), CLOSE_TIMEOUT)
        except (TimeoutError, ConnectionError, OSError):
            pass
