"""The logical model: frozen, keyword-only dataclasses that validate when built.

Field names are the spec's (one name per field across the spec tables, the
``.ksy`` files, the codecs, these classes and the vector JSON). Text-ish
fields (``app_version``, ``machine_message``, ``human_message``) are kept as
bytes so that decoding is lossless; the spec only says they SHOULD be UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Union

from .errors import EncodeError
from .limits import MAX_U64
from .readers import ReaderSchemas

__all__ = [
    "FrameType",
    "Response",
    "Event",
    "ConnectionRequest",
    "ConnectionResponse",
    "Publish",
    "Ack",
    "Nack",
    "NackPayload",
    "Ping",
    "Pong",
    "Frame",
    "BatchLayout",
    "Batch",
    "MAX_MESSAGE_ID",
    "MAX_INSTANCE_ID",
]

MAX_MESSAGE_ID = 0xFFF
MAX_INSTANCE_ID = 0xFFFF_FFFF


class FrameType(IntEnum):
    """FRAME-1: the high nibble of a frame's first byte."""

    CONNECTION_REQUEST = 0
    CONNECTION_RESPONSE = 1
    ACK = 3
    PUBLISH = 4
    PING = 5
    PONG = 6
    NACK = 7


class Response(IntEnum):
    """CONN-4: connection response codes (low nibble of a type-1 frame)."""

    CONNECTED = 0
    HELLO_NEW_CLIENT = 1
    INSTANCE_ID_MISMATCH = 2
    QUARANTINED = 3
    UNSUPPORTED_PROTOCOL_VERSION = 4
    UNSUPPORTED_APPLICATION_VERSION = 5

    @property
    def wire_name(self) -> str:
        return self.name.lower()

    @classmethod
    def from_wire_name(cls, name: str) -> "Response":
        return cls[name.upper()]


def _check_uint(name: str, value: object, maximum: int) -> None:
    # bool is an int subclass; True as an offset is always a bug upstream.
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise EncodeError(f"{name} must be in 0..{maximum}, got {value}")


def _check_bytes(name: str, value: object) -> None:
    if not isinstance(value, bytes):
        raise EncodeError(f"{name} must be bytes, got {type(value).__name__}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """PUB-1: one event, the PUBLISH payload and one row of a column batch."""

    event_type_id: int
    schema_version: int
    key: bytes
    offset: int
    timestamp: int
    event_data: bytes

    def __post_init__(self) -> None:
        for name in ("event_type_id", "schema_version", "offset", "timestamp"):
            _check_uint(name, getattr(self, name), MAX_U64)
        _check_bytes("key", self.key)
        _check_bytes("event_data", self.event_data)

    @property
    def dedupe_key(self) -> tuple[int, bytes, int]:
        """DELIV: an event is identified by (event_type_id, key, offset)."""
        return (self.event_type_id, self.key, self.offset)


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectionRequest:
    """CONN-1: the client's first frame."""

    app_version: bytes
    client_instance_id: int
    server_instance_id: int | None = None
    version: int = 0
    reader_schemas: ReaderSchemas | None = None  # version 1 only (CONN-8, SNEG-1)

    def __post_init__(self) -> None:
        _check_uint("version", self.version, 0xF)
        if self.reader_schemas is not None:
            if self.version != 1:
                raise EncodeError("only a version-1 connection request carries reader_schemas (CONN-8)")
            if not isinstance(self.reader_schemas, ReaderSchemas):
                raise EncodeError("reader_schemas must be a ReaderSchemas")
        _check_bytes("app_version", self.app_version)
        _check_uint("client_instance_id", self.client_instance_id, MAX_INSTANCE_ID)
        if self.server_instance_id is not None:
            _check_uint("server_instance_id", self.server_instance_id, MAX_INSTANCE_ID)


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectionResponse:
    """CONN-4..CONN-7: the server's answer; only some codes carry a payload."""

    response: Response
    server_instance_id: int | None = None
    machine_message: bytes | None = None
    human_message: bytes | None = None
    reader_schemas: ReaderSchemas | None = None  # version 1, connected and hello_new_client only (CONN-11)

    def __post_init__(self) -> None:
        if not isinstance(self.response, Response):
            raise EncodeError(f"response must be a Response, got {self.response!r}")
        if self.reader_schemas is not None:
            if self.response not in (Response.CONNECTED, Response.HELLO_NEW_CLIENT):
                raise EncodeError(f"{self.response.wire_name} carries no reader_schemas (CONN-11)")
            if not isinstance(self.reader_schemas, ReaderSchemas):
                raise EncodeError("reader_schemas must be a ReaderSchemas")
        if self.response is Response.HELLO_NEW_CLIENT:
            _check_uint("server_instance_id", self.server_instance_id, MAX_INSTANCE_ID)
        elif self.server_instance_id is not None:
            raise EncodeError(f"{self.response.wire_name} carries no server_instance_id")
        if self.response is Response.QUARANTINED:
            _check_bytes("machine_message", self.machine_message)
            _check_bytes("human_message", self.human_message)
        elif self.machine_message is not None or self.human_message is not None:
            raise EncodeError(f"{self.response.wire_name} carries no messages")


@dataclass(frozen=True, kw_only=True, slots=True)
class Publish:
    """PUB-1: one event under a 12-bit message id."""

    message_id: int
    event: Event

    def __post_init__(self) -> None:
        _check_uint("message_id", self.message_id, MAX_MESSAGE_ID)
        if not isinstance(self.event, Event):
            raise EncodeError("event must be an Event")


@dataclass(frozen=True, kw_only=True, slots=True)
class Ack:
    """ACK-1."""

    message_id: int

    def __post_init__(self) -> None:
        _check_uint("message_id", self.message_id, MAX_MESSAGE_ID)


@dataclass(frozen=True, kw_only=True, slots=True)
class NackPayload:
    """NACK-1: the payload of a NACK frame, also decodable on its own."""

    machine_message: bytes
    human_message: bytes

    def __post_init__(self) -> None:
        _check_bytes("machine_message", self.machine_message)
        _check_bytes("human_message", self.human_message)


@dataclass(frozen=True, kw_only=True, slots=True)
class Nack:
    """NACK-1: refuses the PUBLISH with the same message id."""

    message_id: int
    machine_message: bytes
    human_message: bytes

    def __post_init__(self) -> None:
        _check_uint("message_id", self.message_id, MAX_MESSAGE_ID)
        _check_bytes("machine_message", self.machine_message)
        _check_bytes("human_message", self.human_message)


@dataclass(frozen=True, kw_only=True, slots=True)
class Ping:
    """FRAME-5: the 12 bits after the type are sent as 0 and ignored."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Pong:
    """FRAME-5."""


Frame = Union[ConnectionRequest, ConnectionResponse, Publish, Ack, Nack, Ping, Pong]

_LAYOUT_BITS = (
    # (flag name, bit) in header order, most significant first (BATCH-1)
    ("compressed", 6),
    ("same_event_type_id", 5),
    ("same_schema_version", 4),
    ("same_key_length", 3),
    ("delta_offset", 2),
    ("delta_timestamp", 1),
    ("same_event_data_length", 0),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchLayout:
    """BATCH-1: the seven header flags of a column batch."""

    compressed: bool = False
    same_event_type_id: bool = False
    same_schema_version: bool = False
    same_key_length: bool = False
    delta_offset: bool = False
    delta_timestamp: bool = False
    same_event_data_length: bool = False

    FLAG_BITS = _LAYOUT_BITS

    def to_byte(self) -> int:
        return sum(1 << bit for name, bit in _LAYOUT_BITS if getattr(self, name))

    @classmethod
    def from_byte(cls, header: int) -> "BatchLayout":
        """Bit 7 is reserved; callers check it before (BATCH-1)."""
        return cls(**{name: bool(header >> bit & 1) for name, bit in _LAYOUT_BITS})


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    """A column batch: events plus, when decoded, the layout they came in.

    ``layout`` is None for a batch built by an application: the encoder then
    picks the canonical layout (BATCH-7). Equality of logical content is
    ``a.events == b.events``.
    """

    events: tuple[Event, ...]
    layout: BatchLayout | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.events, tuple):
            object.__setattr__(self, "events", tuple(self.events))
        if not all(isinstance(e, Event) for e in self.events):
            raise EncodeError("events must be Event instances")
