"""What a :class:`~sinkproto.connection.Connection` reports to its application.

Frozen, keyword-only dataclasses, like h11's events. Errors caused by the
peer are events (:class:`ProtocolError` then :class:`ConnectionClosed`), never
exceptions: a broken peer must not crash its receiver (ERR-5).
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import BatchContext, BatchResultEntry, ConnectionRequest, ConnectionResponse, ContextBase, Event

__all__ = [
    "HandshakeRequested",
    "HandshakeCompleted",
    "HandshakeRefused",
    "EventReceived",
    "PublishAcked",
    "PublishNacked",
    "BatchReceived",
    "BatchAnswered",
    "BaseMissing",
    "UNKNOWN_BASE",
    "ProtocolError",
    "PeerClosed",
    "ConnectionClosed",
    "ConnectionEvent",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class HandshakeRequested:
    """Server: the client's connection request; answer it with ``send_response``."""

    request: ConnectionRequest


@dataclass(frozen=True, kw_only=True, slots=True)
class HandshakeCompleted:
    """Both roles: ``connected`` or ``hello_new_client`` was sent (server) or received (client).

    On ``hello_new_client`` the client persists ``response.server_instance_id``
    before it publishes (HS-13).
    """

    response: ConnectionResponse


@dataclass(frozen=True, kw_only=True, slots=True)
class HandshakeRefused:
    """Both roles: any other response was sent or received; the connection is closing."""

    response: ConnectionResponse
    requested_version: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class EventReceived:
    """The peer published ``event``; answer with ``ack`` or ``nack`` (MSGID-8)."""

    message_id: int
    event: Event


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishAcked:
    """The peer ACKed our PUBLISH: the event is delivered (MSGID-11)."""

    message_id: int
    event: Event


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishNacked:
    """The peer NACKed our PUBLISH: a dead letter, not to be sent again automatically (DELIV-11)."""

    message_id: int
    event: Event
    machine_message: bytes
    human_message: bytes


#: CTX-5: the machine_message of the NACK of a batch whose base the receiver does not hold
UNKNOWN_BASE = b"unknown_base"


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchReceived:
    """Version 1: the peer published a batch; answer it with ``answer_batch`` once stored (BPUB-9..BPUB-11).

    ``context``: the batch came in mode context (CTX-2). ACKed whole, it
    becomes a base of the peer (:attr:`base`, CTX-8): the application keeps
    it durably with the batch's events (CTX-9) before it answers.
    """

    message_id: int
    events: tuple[Event, ...]
    context: BatchContext | None = None

    @property
    def base(self) -> ContextBase | None:
        """CTX-8: what this batch becomes once ACKed whole (None: not a batch in mode context)."""
        return None if self.context is None else ContextBase(batch_id=self.context.batch_id, events=self.events)


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchAnswered:
    """Version 1: the peer answered our batch: ``nacked`` events are dead letters, every other is delivered (BRES-6)."""

    message_id: int
    events: tuple[Event, ...]
    nacked: tuple[BatchResultEntry, ...] = ()
    context: BatchContext | None = None  # the batch went in mode context (CTX-2): its id and the base it named

    @property
    def became_base(self) -> ContextBase | None:
        """CTX-8, CTX-10: a batch in mode context ACKed whole is a base the sender may name from now on."""
        if self.context is None or self.nacked:
            return None
        return ContextBase(batch_id=self.context.batch_id, events=self.events)

    @property
    def unknown_base(self) -> bool:
        """CTX-11: NACKed whole with ``unknown_base``: its events stay pending, the peer's bases are forgotten."""
        return (
            self.context is not None
            and len(self.nacked) == len(self.events)
            and all(e.machine_message == UNKNOWN_BASE for e in self.nacked)
        )

    @property
    def acked_events(self) -> tuple[Event, ...]:
        refused = {e.index for e in self.nacked}
        return tuple(e for i, e in enumerate(self.events) if i not in refused)

    @property
    def nacked_events(self) -> tuple[tuple[Event, BatchResultEntry], ...]:
        return tuple((self.events[e.index], e) for e in self.nacked)


@dataclass(frozen=True, kw_only=True, slots=True)
class BaseMissing:
    """Version 1, receiver: a batch named a base we do not hold; the connection NACKed it ``unknown_base`` (CTX-5).

    Not an error: the connection stays open, the sender resends the events
    without context (CTX-11). The connection forgot every base of the peer it
    held (CTX-9 allows it), so batches pipelined behind this one name none
    that is accepted and the peer's events keep their order; the application
    forgets them in its store too. ``reason`` is ``unknown`` or ``stale``.
    """

    message_id: int
    base_id: int
    reason: str
    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ProtocolError:
    """The peer broke the protocol; the connection is closed without an answer (ERR-3)."""

    error_class: str
    requirement: str
    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerClosed:
    """Version 1: the peer sent CLOSE, saying why it closes (CLOSE-10); the connection closes next.

    ``error_class`` is the close code's name (spec/v1/errors.md#close-codes),
    ``requirement`` the ID the peer names, ``last_message_id`` the last of our
    publishable units it answered (None: none), ``retry_after`` the seconds a
    client waits before reconnecting (CLOSE-9), ``human_message`` its text.
    Our units still unanswered are not delivered, whatever it says (MSGID-13).
    """

    error_class: str
    requirement: str
    last_message_id: int | None
    retry_after: int | None
    human_message: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectionClosed:
    """The connection is over. ``unanswered``: our PUBLISHes not ACKed or NACKed (MSGID-13).

    ``reason`` is one of ``peer_closed``, ``protocol_error``, ``keepalive_timeout``,
    ``handshake_refused``, ``local_close``, ``close_received`` (the peer's CLOSE, version 1).
    """

    reason: str
    unanswered: tuple[Event, ...] = ()


ConnectionEvent = (
    HandshakeRequested
    | HandshakeCompleted
    | HandshakeRefused
    | EventReceived
    | PublishAcked
    | PublishNacked
    | BatchReceived
    | BatchAnswered
    | BaseMissing
    | ProtocolError
    | PeerClosed
    | ConnectionClosed
)
