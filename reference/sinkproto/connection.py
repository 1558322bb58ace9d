"""The sans-I/O Sink connection, for both roles, in the style of h11.

Feed it what the transport received and the current time; it returns
events, and queues the bytes to send (``data_to_send()``). It owns no
socket, reads no clock and draws no random number: time comes in as ``now``
(seconds, any monotonic origin) and the random first message id as
``message_id_start`` (MSGID-1).

Every transition driven by a received frame is in :data:`TRANSITIONS`,
keyed by (role, state, frame type); a frame missing from the table is an
out-of-place frame, a protocol error (ERR-6). Local actions are allowed by
:data:`ACTIONS` in the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from types import MappingProxyType

from .codec import DEFAULT as DEFAULT_CODEC
from .codec import Codec
from .errors import DecodeError, LocalProtocolError, UnsupportedVersion
from .events import (
    ConnectionClosed,
    ConnectionEvent,
    EventReceived,
    HandshakeCompleted,
    HandshakeRefused,
    HandshakeRequested,
    ProtocolError,
    PublishAcked,
    PublishNacked,
)
from .limits import DEFAULT_LIMITS, Limits
from .messages import (
    MAX_MESSAGE_ID,
    Ack,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Frame,
    FrameType,
    Nack,
    Ping,
    Pong,
    Publish,
    Response,
)
from .stream import frame_bytes

__all__ = ["Role", "State", "Connection", "TRANSITIONS", "ACTIONS", "DEFAULT_KEEPALIVE"]

DEFAULT_KEEPALIVE = 60.0  # KEEP-1
SILENCE_FACTOR = 1.5  # KEEP-5
ACCEPTED = (Response.CONNECTED, Response.HELLO_NEW_CLIENT)


class Role(Enum):
    CLIENT = "client"
    SERVER = "server"


class State(Enum):
    SEND_REQUEST = "send_request"  # client: TLS is up, the request is not sent yet
    AWAIT_RESPONSE = "await_response"  # client: request sent
    AWAIT_REQUEST = "await_request"  # server: nothing received yet
    DECIDING = "deciding"  # server: request received, response not sent yet
    OPEN = "open"  # handshake complete: PUBLISH, ACK, NACK, PING, PONG
    CLOSED = "closed"  # nothing more is sent or processed


_OPEN_FRAMES = {
    FrameType.PUBLISH: "_on_publish",
    FrameType.ACK: "_on_ack",
    FrameType.NACK: "_on_nack",
    FrameType.PING: "_on_ping",
    FrameType.PONG: "_on_pong",
}

#: (role, state, received frame type) -> handler. Anything absent is ERR-6.
TRANSITIONS: Mapping[tuple[Role, State, FrameType], str] = MappingProxyType({
    (Role.SERVER, State.AWAIT_REQUEST, FrameType.CONNECTION_REQUEST): "_on_request",
    (Role.CLIENT, State.AWAIT_RESPONSE, FrameType.CONNECTION_RESPONSE): "_on_response",
    **{(role, State.OPEN, ft): handler for role in Role for ft, handler in _OPEN_FRAMES.items()},
})

#: local action -> (role, state) pairs where it is allowed, and the rule that says so.
ACTIONS: Mapping[str, tuple[frozenset[tuple[Role, State]], str]] = MappingProxyType({
    "send_request": (frozenset({(Role.CLIENT, State.SEND_REQUEST)}), "HS-1"),
    "send_response": (frozenset({(Role.SERVER, State.DECIDING)}), "HS-3"),
    "publish": (frozenset({(Role.CLIENT, State.OPEN), (Role.SERVER, State.OPEN)}), "MSGID-7"),
    "ack": (frozenset({(Role.CLIENT, State.OPEN), (Role.SERVER, State.OPEN)}), "MSGID-8"),
    "nack": (frozenset({(Role.CLIENT, State.OPEN), (Role.SERVER, State.OPEN)}), "MSGID-8"),
})

_FRAME_TYPE = {
    ConnectionRequest: FrameType.CONNECTION_REQUEST,
    ConnectionResponse: FrameType.CONNECTION_RESPONSE,
    Ack: FrameType.ACK,
    Publish: FrameType.PUBLISH,
    Ping: FrameType.PING,
    Pong: FrameType.PONG,
    Nack: FrameType.NACK,
}


class _PeerError(Exception):
    """Internal: a received frame breaks the protocol; becomes a ProtocolError event."""

    def __init__(self, error_class: str, requirement: str, detail: str) -> None:
        super().__init__(detail)
        self.error_class = error_class
        self.requirement = requirement
        self.detail = detail


class Connection:
    """One Sink connection, client or server side, without I/O.

    ``now`` is the time the transport (TLS) became ready; the silence timer
    starts there (KEEP-5). ``keepalive`` is K in seconds (KEEP-1). The client
    sends PING after K idle (KEEP-4); the server never does (KEEP-3).
    ``max_in_flight`` bounds our unanswered PUBLISHes (MSGID-5).
    ``codec`` encodes, decodes and deframes (:mod:`sinkproto.codec`; the
    fast one unless the caller picks the construct reference).
    """

    def __init__(
        self,
        role: Role,
        *,
        now: float,
        message_id_start: int,
        keepalive: float = DEFAULT_KEEPALIVE,
        limits: Limits = DEFAULT_LIMITS,
        max_in_flight: int = MAX_MESSAGE_ID + 1,
        codec: Codec = DEFAULT_CODEC,
    ) -> None:
        if not 0 <= message_id_start <= MAX_MESSAGE_ID:
            raise ValueError("message_id_start must be in 0..4095")
        if keepalive <= 0:
            raise ValueError("keepalive must be positive")
        if not 1 <= max_in_flight <= MAX_MESSAGE_ID + 1:
            raise ValueError("max_in_flight must be in 1..4096")
        self.role = role
        self.keepalive = float(keepalive)
        self.limits = limits
        self.max_in_flight = max_in_flight
        self._state = State.SEND_REQUEST if role is Role.CLIENT else State.AWAIT_REQUEST
        self.codec = codec
        self._encode_frame = codec.encode_frame
        self._decode_frame = codec.decode_frame
        self._deframer = codec.Deframer(limits)
        self._outgoing = bytearray()
        self._next_message_id = message_id_start
        self._in_flight: dict[int, Event] = {}  # our PUBLISHes awaiting ACK/NACK (MSGID-3)
        self._in_flight_keys: set[tuple[int, bytes, int]] = set()
        self._to_answer: dict[int, Event] = {}  # peer PUBLISHes we have not answered yet
        self._held: list[bytes] = []  # frames that arrived while the server was deciding
        self._last_received = now
        self._last_sent = now
        self.handshake_response: ConnectionResponse | None = None

    # -- read-only views -------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def in_flight(self) -> Mapping[int, Event]:
        return MappingProxyType(self._in_flight)

    @property
    def awaiting_answer(self) -> Mapping[int, Event]:
        """PUBLISHes received from the peer that the application has not answered."""
        return MappingProxyType(self._to_answer)

    @property
    def next_message_id(self) -> int:
        return self._next_message_id

    def can_publish(self, event: Event | None = None) -> bool:
        """Whether ``publish`` would accept a new PUBLISH now (and this event)."""
        if self._state is not State.OPEN or len(self._in_flight) >= self.max_in_flight:
            return False
        if self._next_message_id in self._in_flight:
            return False  # MSGID-4: the next id is still in flight
        return event is None or event.dedupe_key not in self._in_flight_keys

    # -- output ------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def _queue(self, frame: Frame, now: float) -> None:
        self._outgoing += frame_bytes(self._encode_frame(frame))
        self._last_sent = now

    def _allow(self, action: str) -> None:
        allowed, requirement = ACTIONS[action]
        if (self.role, self._state) not in allowed:
            raise LocalProtocolError(f"{action} is not allowed for a {self.role.value} in state {self._state.value}",
                                     requirement=requirement)

    # -- local actions -------------------------------------------------------------------------

    def send_request(self, request: ConnectionRequest, now: float) -> None:
        """Client: the first frame of the connection (HS-1)."""
        self._allow("send_request")
        self._queue(request, now)
        self._state = State.AWAIT_RESPONSE

    def send_response(self, response: ConnectionResponse, now: float) -> list[ConnectionEvent]:
        """Server: answer the request (HS-3); a refusal closes the connection (HS-19)."""
        self._allow("send_response")
        self._queue(response, now)
        self.handshake_response = response
        held, self._held = self._held, []
        if response.response not in ACCEPTED:
            self._state = State.CLOSED  # held frames are never processed (HS-20)
            return [HandshakeRefused(response=response), ConnectionClosed(reason="handshake_refused")]
        self._state = State.OPEN
        events: list[ConnectionEvent] = [HandshakeCompleted(response=response)]
        for raw in held:
            events.extend(self._receive_frame(raw, now))
            if self._state is State.CLOSED:
                break
        return events

    def publish(self, event: Event, now: float) -> int:
        """Send one event; returns its message id (MSGID-1..MSGID-7)."""
        self._allow("publish")
        if len(self._in_flight) >= self.max_in_flight:
            raise LocalProtocolError(f"{len(self._in_flight)} PUBLISH frames in flight already", requirement="MSGID-5")
        message_id = self._next_message_id
        if message_id in self._in_flight:
            raise LocalProtocolError(f"message id {message_id} is still in flight; wait for its answer",
                                     requirement="MSGID-4")
        if event.dedupe_key in self._in_flight_keys:
            raise LocalProtocolError("this (event_type_id, key, offset) is already in flight", requirement="MSGID-6")
        self._queue(Publish(message_id=message_id, event=event), now)  # EncodeError leaves all unchanged
        self._in_flight[message_id] = event
        self._in_flight_keys.add(event.dedupe_key)
        self._next_message_id = (message_id + 1) & MAX_MESSAGE_ID  # MSGID-2: wrap 4095 -> 0
        return message_id

    def ack(self, message_id: int, now: float) -> None:
        """Answer a received PUBLISH: stored or processed (MSGID-9)."""
        self._allow("ack")
        self._answered(message_id)
        self._queue(Ack(message_id=message_id), now)

    def nack(self, message_id: int, now: float, *, machine_message: bytes, human_message: bytes = b"") -> None:
        """Refuse a received, well-formed PUBLISH whose event cannot be processed (DELIV-12)."""
        self._allow("nack")
        self._answered(message_id)
        self._queue(Nack(message_id=message_id, machine_message=machine_message, human_message=human_message), now)

    def _answered(self, message_id: int) -> None:
        if message_id not in self._to_answer:
            raise LocalProtocolError(f"no received PUBLISH with message id {message_id} awaits an answer",
                                     requirement="MSGID-8")
        del self._to_answer[message_id]

    def close(self) -> list[ConnectionEvent]:
        """The application ends the connection; nothing more is sent (TRANS-7)."""
        if self._state is State.CLOSED:
            return []
        return self._closed("local_close")

    # -- timers (KEEP-1..KEEP-6) -----------------------------------------------------------------

    def next_timer(self) -> float | None:
        """When ``handle_timer`` must be called next, or None once closed."""
        if self._state is State.CLOSED:
            return None
        deadline = self._last_received + SILENCE_FACTOR * self.keepalive
        if self._pings():
            deadline = min(deadline, max(self._last_sent, self._last_received) + self.keepalive)
        return deadline

    def _pings(self) -> bool:
        return self.role is Role.CLIENT and self._state is State.OPEN  # KEEP-3, KEEP-4

    def handle_timer(self, now: float) -> list[ConnectionEvent]:
        if self._state is State.CLOSED:
            return []
        if now - self._last_received >= SILENCE_FACTOR * self.keepalive:
            return self._closed("keepalive_timeout")
        if self._pings() and now - max(self._last_sent, self._last_received) >= self.keepalive:
            self._queue(Ping(), now)
        return []

    # -- input -----------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[ConnectionEvent]:
        """Feed bytes received from the peer; ``b""`` means the peer closed the stream."""
        if self._state is State.CLOSED:
            return []  # HS-20: nothing is processed after a closing decision
        if not data:
            return self._closed("peer_closed")
        events: list[ConnectionEvent] = []
        try:
            frames = self._deframer.feed(data)
        except DecodeError as exc:
            return self._protocol_error(exc.error_class, exc.requirement, str(exc))
        for raw in frames:
            self._last_received = now
            if self._state is State.DECIDING:
                # Like h11 pausing on a pipelined request: a (faulty) client's
                # frames after its request wait for the response (HS-2, HS-20).
                self._held.append(raw)
                continue
            events.extend(self._receive_frame(raw, now))
            if self._state is State.CLOSED:
                break  # frames after a close are not processed (ERR-4, HS-20)
        return events

    def _receive_frame(self, raw: bytes, now: float) -> list[ConnectionEvent]:
        try:
            frame = self._decode_frame(raw, self.limits)
        except UnsupportedVersion as exc:
            if (self.role, self._state) == (Role.SERVER, State.AWAIT_REQUEST):
                return self._refuse_version(exc.version, now)  # HS-11
            return self._protocol_error(exc.error_class, exc.requirement, str(exc))
        except DecodeError as exc:
            return self._protocol_error(exc.error_class, exc.requirement, str(exc))
        return self._dispatch_frame(frame, now)

    # The three hooks below are what a later protocol version's Connection
    # changes (its own table and frame types); the dispatch stays here.

    def _transition_table(self) -> Mapping[tuple[Role, State, int], str]:
        return TRANSITIONS  # type: ignore[return-value]

    def _frame_kind(self, frame: object) -> tuple[int, str]:
        frame_type = _FRAME_TYPE[type(frame)]
        return frame_type, frame_type.name.lower()

    def _out_of_place_requirement(self) -> str:
        return "ERR-6"

    def _dispatch_frame(self, frame: object, now: float) -> list[ConnectionEvent]:
        """Run the handler the transition table names for this frame, or report it out of place."""
        frame_type, name = self._frame_kind(frame)
        handler_name = self._transition_table().get((self.role, self._state, frame_type))
        if handler_name is None:
            return self._protocol_error("out_of_place_frame", self._out_of_place_requirement(),
                                        f"{name} received by a {self.role.value} in state {self._state.value}")
        handler: Callable[[object, float], list[ConnectionEvent]] = getattr(self, handler_name)
        try:
            return handler(frame, now)
        except _PeerError as exc:
            return self._protocol_error(exc.error_class, exc.requirement, exc.detail)

    def _on_request(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, ConnectionRequest)
        self._state = State.DECIDING
        return [HandshakeRequested(request=frame)]

    def _on_response(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, ConnectionResponse)
        self.handshake_response = frame
        if frame.response in ACCEPTED:
            self._state = State.OPEN
            return [HandshakeCompleted(response=frame)]
        # HS-15: close without sending another frame.
        return [HandshakeRefused(response=frame), *self._closed("handshake_refused")]

    def _on_publish(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, Publish)
        if frame.message_id in self._to_answer:
            raise _PeerError("message_id_in_use", "MSGID-4",
                             f"PUBLISH {frame.message_id} arrived while the previous one with that id is unanswered")
        self._to_answer[frame.message_id] = frame.event
        return [EventReceived(message_id=frame.message_id, event=frame.event)]

    def _take_in_flight(self, message_id: int, kind: str) -> Event:
        event = self._in_flight.pop(message_id, None)
        if event is None:
            raise _PeerError("unknown_message_id", "MSGID-12", f"{kind} for message id {message_id}, which is not in flight")
        self._in_flight_keys.discard(event.dedupe_key)
        return event

    def _on_ack(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, Ack)
        return [PublishAcked(message_id=frame.message_id, event=self._take_in_flight(frame.message_id, "ACK"))]

    def _on_nack(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, Nack)
        event = self._take_in_flight(frame.message_id, "NACK")
        return [PublishNacked(message_id=frame.message_id, event=event, machine_message=frame.machine_message,
                              human_message=frame.human_message)]

    def _on_ping(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        self._queue(Pong(), now)  # PING-1
        return []

    def _on_pong(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        return []  # PING-2: its arrival already reset the silence timer

    # -- endings -------------------------------------------------------------------------------

    def _refuse_version(self, version: int, now: float) -> list[ConnectionEvent]:
        response = ConnectionResponse(response=Response.UNSUPPORTED_PROTOCOL_VERSION)
        self._queue(response, now)
        self.handshake_response = response
        return [HandshakeRefused(response=response, requested_version=version), *self._closed("handshake_refused")]

    def _protocol_error(self, error_class: str, requirement: str, detail: str) -> list[ConnectionEvent]:
        # ERR-3: no frame is sent in answer. Frames queued before the error
        # (ACKs of earlier events) may still be flushed; losing them would only
        # cause redelivery.
        return [ProtocolError(error_class=error_class, requirement=requirement, detail=detail),
                *self._closed("protocol_error")]

    def _closed(self, reason: str) -> list[ConnectionEvent]:
        self._state = State.CLOSED
        unanswered = tuple(self._in_flight.values())  # MSGID-13: not delivered
        self._in_flight.clear()
        self._in_flight_keys.clear()
        self._to_answer.clear()
        return [ConnectionClosed(reason=reason, unanswered=unanswered)]
