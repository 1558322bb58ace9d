"""The connection's roles, states and input alphabet (one enum for received frames, local actions and timers)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..errors import BaseUnavailable, DecodeError
from ..messages import (
    Ack,
    BatchPublish,
    BatchResult,
    Close,
    ConnectionRequest,
    ConnectionResponse,
    Nack,
    Ping,
    Pong,
    Publish,
    Response,
)

__all__ = [
    "ACCEPTED",
    "DEFAULT_KEEPALIVE",
    "FRAME_INPUT",
    "OUT_OF_PLACE_RULE",
    "SILENCE_FACTOR",
    "Input",
    "PeerViolation",
    "Refusal",
    "Role",
    "State",
    "UnknownBase",
    "UnsupportedRequest",
    "classify",
    "frame_name",
    "pick",
]

DEFAULT_KEEPALIVE = 60.0  # KEEP-1
SILENCE_FACTOR = 1.5  # KEEP-5


class Role(Enum):
    __hash__ = object.__hash__  # members are singletons; the table hashes them on every input

    CLIENT = "client"
    SERVER = "server"


class State(Enum):
    __hash__ = object.__hash__  # members are singletons; the table hashes them on every input

    SEND_REQUEST = "send_request"  # client: TLS is up, the request is not sent yet
    AWAIT_RESPONSE = "await_response"  # client: request sent
    AWAIT_REQUEST = "await_request"  # server: nothing received yet
    DECIDING = "deciding"  # server: request received, response not sent yet
    REFUSED = "refused"  # client, version 1: refused; reads the CLOSE that came with it, then closes (CLOSE-4, HS-15)
    OPEN = "open"  # handshake complete
    CLOSED = "closed"  # nothing more is sent or processed


class Input(Enum):
    """Everything that can happen to a connection, like h2's ``ConnectionInputs``.

    Each member is ``(name, kind, since, rule)``: ``since`` is the protocol
    version that added it, ``rule`` the requirement a missing row breaks
    (for local actions: the ``LocalProtocolError``'s requirement).
    """

    # transport
    DATA_RECEIVED = ("data_received", "transport", 0, "STREAM-1")
    FRAME_ARRIVED = ("frame_arrived", "transport", 0, "FRAME-1")
    PEER_CLOSED = ("peer_closed", "transport", 0, "TRANS-7")
    PEER_ERROR = ("peer_error", "transport", 0, "ERR-3")
    # received frames
    RECV_REQUEST = ("recv_request", "frame", 0, "HS-2")
    RECV_REQUEST_UNSUPPORTED = ("recv_request_unsupported", "frame", 0, "HS-11")
    RECV_RESPONSE_ACCEPTED = ("recv_response_accepted", "frame", 0, "HS-12")
    RECV_RESPONSE_REFUSED = ("recv_response_refused", "frame", 0, "HS-15")
    RECV_PUBLISH = ("recv_publish", "frame", 0, "MSGID-11")
    RECV_ACK = ("recv_ack", "frame", 0, "MSGID-12")
    RECV_NACK = ("recv_nack", "frame", 0, "MSGID-12")
    RECV_PING = ("recv_ping", "frame", 0, "PING-1")
    RECV_PONG = ("recv_pong", "frame", 0, "PING-2")
    RECV_BATCH_PUBLISH = ("recv_batch_publish", "frame", 1, "BPUB-9")
    RECV_BATCH_RESULT = ("recv_batch_result", "frame", 1, "BRES-5")
    RECV_CLOSE = ("recv_close", "frame", 1, "CLOSE-10")
    RECV_BATCH_UNKNOWN_BASE = ("recv_batch_unknown_base", "frame", 1, "CTX-5")  # a BATCH_PUBLISH whose base we lack
    # local actions
    SEND_REQUEST = ("send_request", "action", 0, "HS-1")
    SEND_RESPONSE_ACCEPTED = ("send_response_accepted", "action", 0, "HS-3")
    SEND_RESPONSE_REFUSED = ("send_response_refused", "action", 0, "HS-3")
    PUBLISH = ("publish", "action", 0, "MSGID-7")
    PUBLISH_BATCH = ("publish_batch", "action", 1, "BPUB-2")
    ACK = ("ack", "action", 0, "MSGID-8")
    NACK = ("nack", "action", 0, "MSGID-8")
    ANSWER_BATCH = ("answer_batch", "action", 1, "BPUB-10")
    CLOSE = ("close", "action", 0, "TRANS-7")  # from version 1 with a reason: a CLOSE frame first (CLOSE-6)
    # timers
    TIMER_KEEPALIVE = ("timer_keepalive", "timer", 0, "KEEP-4")
    TIMER_SILENCE = ("timer_silence", "timer", 0, "KEEP-5")

    __hash__ = object.__hash__  # members are singletons; the table hashes them on every input

    def __init__(self, label: str, kind: str, since: int, rule: str) -> None:
        self.label = label
        self.kind = kind
        self.since = since
        self.rule = rule

    @property
    def is_action(self) -> bool:
        return self.kind == "action"


#: Which protocol version's rule an out-of-place frame breaks (ERR-6 in version 0, ERR-11 from version 1).
OUT_OF_PLACE_RULE: dict[int, str] = {0: "ERR-6", 1: "ERR-11"}


def pick(entries: dict[int, str], version: int) -> str:
    """The entry with the greatest key not above ``version``."""
    return entries[max(k for k in entries if k <= version)]


class PeerViolation(Exception):
    """Raised by a handler: the received input breaks the protocol. The connection turns it into PEER_ERROR."""

    def __init__(self, error_class: str, requirement: str, detail: str, *, answerable: bool = True) -> None:
        super().__init__(detail)
        self.error_class = error_class
        self.requirement = requirement
        self.detail = detail
        # CLOSE-11: a malformed CLOSE is never answered with a CLOSE.
        self.answerable = answerable


@dataclass(frozen=True)
class UnsupportedRequest:
    """The item of RECV_REQUEST_UNSUPPORTED: the version asked for, and the decoder's error if it raised one."""

    version: int
    error: DecodeError | None = None


@dataclass(frozen=True)
class UnknownBase:
    """The item of RECV_BATCH_UNKNOWN_BASE: the BATCH_PUBLISH's message id and the decoder's BaseUnavailable (CTX-5)."""

    message_id: int
    error: BaseUnavailable


@dataclass(frozen=True)
class Refusal:
    """The item of SEND_RESPONSE_REFUSED when the refusal's CLOSE says more (version 1, CLOSE-4, CLOSE-9)."""

    response: ConnectionResponse
    retry_after: int | None = None
    human_message: bytes = b""


#: Received frame class -> input; ConnectionRequest and ConnectionResponse are split by :func:`classify`.
FRAME_INPUT: dict[type, Input] = {
    Publish: Input.RECV_PUBLISH,
    Ack: Input.RECV_ACK,
    Nack: Input.RECV_NACK,
    Ping: Input.RECV_PING,
    Pong: Input.RECV_PONG,
    BatchPublish: Input.RECV_BATCH_PUBLISH,
    BatchResult: Input.RECV_BATCH_RESULT,
    Close: Input.RECV_CLOSE,
}

ACCEPTED = (Response.CONNECTED, Response.HELLO_NEW_CLIENT)


def classify(frame: object, versions: tuple[int, ...]) -> tuple[Input, object]:
    """The input a decoded frame is, and the item its row's handler gets.

    Split where the next state depends on content (h11's ``(Response, _SWITCH_CONNECT)``):
    a request of a version this side speaks or not, a response that accepts or refuses.
    """
    if isinstance(frame, ConnectionRequest):
        if frame.version in versions:
            return Input.RECV_REQUEST, frame
        return Input.RECV_REQUEST_UNSUPPORTED, UnsupportedRequest(frame.version)
    if isinstance(frame, ConnectionResponse):
        return (Input.RECV_RESPONSE_ACCEPTED if frame.response in ACCEPTED else Input.RECV_RESPONSE_REFUSED), frame
    return FRAME_INPUT[type(frame)], frame


def frame_name(frame: object) -> str:
    if isinstance(frame, UnknownBase):
        return "batch_publish"
    if isinstance(frame, ConnectionRequest):
        return "connection_request"
    if isinstance(frame, ConnectionResponse):
        return "connection_response"
    return FRAME_INPUT[type(frame)].label.removeprefix("recv_")
