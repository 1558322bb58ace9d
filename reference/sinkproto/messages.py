"""The logical model of every protocol version: frozen, keyword-only dataclasses that validate when built.

Field names are the spec's (one name per field across the spec tables, the
``.ksy`` files, the codecs, these classes and the vector JSON). Text-ish
fields (``app_version``, ``machine_message``, ``human_message``) are kept as
bytes so that decoding is lossless; the spec only says they SHOULD be UTF-8.

One model serves versions 0 and 1: version 1 keeps every version-0 class
and adds the batch frames and CLOSE (spec/v1/frames.md, batch.md). What a version adds
is data: :attr:`FrameType.since` says which version assigned a frame type,
and the codecs, told the version they decode for, treat a type of a later
version as unknown (FRAME-3, FRAME-7). The connection request and response
of version 1 are :class:`ConnectionRequest` (``version=1``,
``reader_schemas``, ``declared_limits``) and :class:`ConnectionResponse`
(``reader_schemas``, ``declared_limits``); its batch is :class:`Batch` with a
``format`` (BATCH-12; None: the version-0 encoding, the only one of version 0).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from .errors import EncodeError
from .limits import MAX_U64
from .primitives import varint_bytes
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
    "BatchCodec",
    "BatchMode",
    "BatchFormat",
    "BatchContext",
    "ContextBase",
    "BaseLookup",
    "MAX_BATCH_ID",
    "DIGEST_SIZE",
    "context_digest",
    "BatchPublish",
    "BatchResultEntry",
    "BatchResult",
    "CloseCode",
    "Close",
    "DeclaredLimits",
    "DECLARED_BOUNDS",
    "CONSTRAINED_PROFILE",
    "MAX_RETRY_AFTER",
    "MAX_MESSAGE_ID",
    "MAX_INSTANCE_ID",
    "MAX_BATCH_RESULT_INDEX",
]

MAX_MESSAGE_ID = 0xFFF
MAX_INSTANCE_ID = 0xFFFF_FFFF
MAX_BATCH_RESULT_INDEX = MAX_U64


class FrameType(IntEnum):
    """FRAME-1: the high nibble of a frame's first byte, for every protocol version.

    FRAME-7: version 1 assigns types 2, 8 and 9 (:attr:`since`); a decoder for
    a version-0 connection keeps treating them as ``unknown_type`` (FRAME-3).
    """

    CONNECTION_REQUEST = 0
    CONNECTION_RESPONSE = 1
    BATCH_PUBLISH = 2
    ACK = 3
    PUBLISH = 4
    PING = 5
    PONG = 6
    NACK = 7
    BATCH_RESULT = 8
    CLOSE = 9

    @property
    def since(self) -> int:
        """The protocol version that assigned this frame type (FRAME-7); 0 for version 0's."""
        return _SINCE.get(self, 0)


# FRAME-7: the frame types a later version added; every other type is version 0's.
_SINCE: dict[FrameType, int] = {FrameType.BATCH_PUBLISH: 1, FrameType.BATCH_RESULT: 1, FrameType.CLOSE: 1}


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
    def from_wire_name(cls, name: str) -> Response:
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


# DECL-1: (field, bit of limit_flags, lowest, highest, the value of a side that declares nothing).
DECLARED_BOUNDS: tuple[tuple[str, int, int, int, int], ...] = (
    ("max_frame_size", 0, 512, 0xFFFF, 0xFFFF),
    ("max_decompressed_size", 1, 1024, 8 * 1024 * 1024, 8 * 1024 * 1024),
    ("max_batch_events", 2, 1, 65536, 65536),
    ("max_in_flight", 3, 1, 4096, 4096),
    ("max_zstd_window", 4, 1024, 8 * 1024 * 1024, 8 * 1024 * 1024),
    ("keepalive", 5, 10, 0xFFFF, 60),
    # CTX-1: how many accepted batches the side keeps as bases for context coding (0: it takes no
    # batch in mode context), and for how many seconds at least (spec/v1/context.md).
    ("context_bases", 6, 0, 64, 0),
    ("context_lifetime", 7, 60, 0xFFFF_FFFF, 86400),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class DeclaredLimits:
    """DECL-1: the receive limits and keepalive interval one side declares in the version-1 handshake.

    A field left None is not declared: the peer assumes the version-0
    default (:meth:`value`). Every declared value lies within its bounds
    (:data:`DECLARED_BOUNDS`).
    """

    max_frame_size: int | None = None
    max_decompressed_size: int | None = None
    max_batch_events: int | None = None
    max_in_flight: int | None = None
    max_zstd_window: int | None = None
    keepalive: int | None = None
    context_bases: int | None = None
    context_lifetime: int | None = None

    def __post_init__(self) -> None:
        for name, _bit, lowest, highest, _default in DECLARED_BOUNDS:
            value = getattr(self, name)
            if value is not None:
                _check_uint(name, value, highest)
                if value < lowest:
                    raise EncodeError(f"{name} must be in {lowest}..{highest}, got {value} (DECL-1)")

    def value(self, name: str) -> int:
        """The declared value, or the default a side that declares nothing gets (DECL-1)."""
        declared: int | None = getattr(self, name)
        return declared if declared is not None else _DEFAULT_DECLARED[name]

    @classmethod
    def defaults(cls) -> DeclaredLimits:
        """What a peer that declares nothing is taken to declare: every version-0 default, K 60 s."""
        return cls(**_DEFAULT_DECLARED)


_DEFAULT_DECLARED = {name: default for name, _bit, _low, _high, default in DECLARED_BOUNDS}

#: The constrained profile (spec/v1/handshake.md): small frames and batches, a bounded zstd window.
CONSTRAINED_PROFILE = DeclaredLimits(
    max_frame_size=4096,
    max_decompressed_size=16384,
    max_batch_events=256,
    max_in_flight=16,
    max_zstd_window=16384,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectionRequest:
    """CONN-1: the client's first frame."""

    app_version: bytes
    client_instance_id: int
    server_instance_id: int | None = None
    version: int = 0
    reader_schemas: ReaderSchemas | None = None  # version 1 only (CONN-8, SNEG-1)
    declared_limits: DeclaredLimits | None = None  # version 1 only (CONN-8, DECL-1)

    def __post_init__(self) -> None:
        _check_uint("version", self.version, 0xF)
        if self.reader_schemas is not None:
            if self.version != 1:
                raise EncodeError("only a version-1 connection request carries reader_schemas (CONN-8)")
            if not isinstance(self.reader_schemas, ReaderSchemas):
                raise EncodeError("reader_schemas must be a ReaderSchemas")
        if self.declared_limits is not None:
            if self.version != 1:
                raise EncodeError("only a version-1 connection request carries declared_limits (CONN-8)")
            if not isinstance(self.declared_limits, DeclaredLimits):
                raise EncodeError("declared_limits must be a DeclaredLimits")
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
    declared_limits: DeclaredLimits | None = None  # version 1, connected and hello_new_client only (CONN-11)

    def __post_init__(self) -> None:
        if not isinstance(self.response, Response):
            raise EncodeError(f"response must be a Response, got {self.response!r}")
        if self.reader_schemas is not None:
            if self.response not in (Response.CONNECTED, Response.HELLO_NEW_CLIENT):
                raise EncodeError(f"{self.response.wire_name} carries no reader_schemas (CONN-11)")
            if not isinstance(self.reader_schemas, ReaderSchemas):
                raise EncodeError("reader_schemas must be a ReaderSchemas")
        if self.declared_limits is not None:
            if self.response not in (Response.CONNECTED, Response.HELLO_NEW_CLIENT):
                raise EncodeError(f"{self.response.wire_name} carries no declared_limits (CONN-11)")
            if not isinstance(self.declared_limits, DeclaredLimits):
                raise EncodeError("declared_limits must be a DeclaredLimits")
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
    def from_byte(cls, header: int) -> BatchLayout:
        """Bit 7 is reserved; callers check it before (BATCH-1)."""
        return cls(**{name: bool(header >> bit & 1) for name, bit in _LAYOUT_BITS})


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    """A batch: events plus, when decoded, the layout flags and (from version 1) the format byte they came in.

    Built by an application with ``layout`` and ``format`` None, the encoder
    picks the canonical layout in version 0 (BATCH-7) and the smallest
    encoding from version 1 (CODEC-5). ``format`` None is a batch in the
    version-0 encoding (header bit 7 clear), the only one version 0 has;
    with a ``format`` it is an extended batch (BATCH-12..BATCH-14, version 1
    on), whose ``layout.compressed`` is always False (BATCH-13): the codec
    says it. Equality of logical content is ``a.events == b.events``.
    """

    events: tuple[Event, ...]
    layout: BatchLayout | None = field(default=None)
    format: BatchFormat | None = None
    context: BatchContext | None = None  # mode context (CTX-2): this batch's id and the base it is coded against

    def __post_init__(self) -> None:
        if not isinstance(self.events, tuple):
            object.__setattr__(self, "events", tuple(self.events))
        if not all(isinstance(e, Event) for e in self.events):
            raise EncodeError("events must be Event instances")
        if self.context is not None and not isinstance(self.context, BatchContext):
            raise EncodeError("context must be a BatchContext or None")
        if self.format is None:
            return
        if not isinstance(self.format, BatchFormat):
            raise EncodeError("format must be a BatchFormat or None")
        if (self.format.mode is BatchMode.CONTEXT) != (self.context is not None):
            raise EncodeError("a batch has a context exactly when its mode is context (CTX-2)")
        if self.layout is not None and self.layout.compressed:
            raise EncodeError("an extended batch has the compressed flag clear; its codec says (BATCH-13)")


# -- version 1: the batch's format byte and the batch frames (spec/v1/batch.md, frames.md) ------------


class BatchCodec(IntEnum):
    """BATCH-14: high nibble of the format byte."""

    NONE = 0
    GZIP = 1
    ZSTD = 2

    @property
    def wire_name(self) -> str:
        return self.name.lower()


class BatchMode(IntEnum):
    """BATCH-14: low nibble of the format byte; RECORDS is the records mode (RECORD-1), CONTEXT the records
    mode coded against a base (CTX-2)."""

    COLUMNS = 0
    RECORDS = 1
    CONTEXT = 2

    @property
    def wire_name(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchFormat:
    """The format byte of an extended batch (BATCH-12..BATCH-14)."""

    codec: BatchCodec = BatchCodec.NONE
    mode: BatchMode = BatchMode.COLUMNS

    def __post_init__(self) -> None:
        if not isinstance(self.codec, BatchCodec) or not isinstance(self.mode, BatchMode):
            raise EncodeError("codec and mode must be BatchCodec and BatchMode members")

    def to_byte(self) -> int:
        return int(self.codec) << 4 | int(self.mode)


MAX_BATCH_ID = 0xFFFF_FFFF  # CTX-3: batch ids are 1..2^32-1; base_id 0 names no base
DIGEST_SIZE = 8  # CTX-4: the first 8 bytes of a SHA-256


def _check_batch_id(name: str, value: object) -> None:
    _check_uint(name, value, MAX_BATCH_ID)
    if value == 0:
        raise EncodeError(f"{name} must be in 1..{MAX_BATCH_ID}, got 0 (CTX-3)")


@dataclass(frozen=True, kw_only=True, slots=True)
class ContextBase:
    """CTX-4: an accepted batch that a batch in mode context may be coded against, by its ``batch_id``.

    ``digest`` is computed from the events (never from their encoding), so
    both sides derive the same one from what they hold.
    """

    batch_id: int
    events: tuple[Event, ...]
    digest: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_batch_id("batch_id", self.batch_id)
        if not isinstance(self.events, tuple):
            object.__setattr__(self, "events", tuple(self.events))
        if not self.events or not all(isinstance(e, Event) for e in self.events):
            raise EncodeError("a base holds at least one Event (CTX-4)")
        first = self.events[0]
        if any(e.event_type_id != first.event_type_id or e.schema_version != first.schema_version for e in self.events):
            raise EncodeError("a base's events share one event_type_id and schema_version (RECORD-1)")
        object.__setattr__(self, "digest", context_digest(self.events))


def context_digest(events: tuple[Event, ...]) -> bytes:
    """CTX-4: SHA-256 over the type, version, count and every event's key, offset, timestamp and data; 8 bytes."""
    first = events[0]
    h = hashlib.sha256()
    h.update(varint_bytes(first.event_type_id) + varint_bytes(first.schema_version) + varint_bytes(len(events)))
    for e in events:
        h.update(varint_bytes(len(e.key)) + e.key + varint_bytes(e.offset) + varint_bytes(e.timestamp))
        h.update(varint_bytes(len(e.event_data)) + e.event_data)
    return h.digest()[:DIGEST_SIZE]


#: What a decoder of mode context is given: the bases this receiver holds for the sending peer, by batch id.
BaseLookup = Mapping[int, ContextBase]


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchContext:
    """CTX-2: a batch in mode context: its own ``batch_id`` (under which the receiver keeps it as a base once it
    ACKs it, CTX-8) and the ``base`` it is coded against, or None (coded without one, but kept as a base)."""

    batch_id: int
    base: ContextBase | None = None

    def __post_init__(self) -> None:
        _check_batch_id("batch_id", self.batch_id)
        if self.base is not None and not isinstance(self.base, ContextBase):
            raise EncodeError("base must be a ContextBase or None")


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchPublish:
    """BPUB-1: many events under one 12-bit message id (version 1)."""

    message_id: int
    batch: Batch

    def __post_init__(self) -> None:
        _check_uint("message_id", self.message_id, MAX_MESSAGE_ID)
        if not isinstance(self.batch, Batch):
            raise EncodeError("batch must be a Batch")
        if not self.batch.events:
            raise EncodeError("a batch holds at least one event (BATCH-8)")


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchResultEntry:
    """BRES-1: one NACKed event of a batch, by its 0-based index."""

    index: int
    machine_message: bytes
    human_message: bytes = b""

    def __post_init__(self) -> None:
        _check_uint("index", self.index, MAX_BATCH_RESULT_INDEX)
        _check_bytes("machine_message", self.machine_message)
        _check_bytes("human_message", self.human_message)


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchResult:
    """BRES-1..BRES-3: the NACKed events of a batch; every other event is accepted (version 1)."""

    message_id: int
    entries: tuple[BatchResultEntry, ...]

    def __post_init__(self) -> None:
        _check_uint("message_id", self.message_id, MAX_MESSAGE_ID)
        if not isinstance(self.entries, tuple):
            object.__setattr__(self, "entries", tuple(self.entries))
        if not self.entries or not all(isinstance(e, BatchResultEntry) for e in self.entries):
            raise EncodeError("a batch result lists at least one BatchResultEntry (BRES-2)")
        indices = [e.index for e in self.entries]
        if any(b <= a for a, b in zip(indices, indices[1:])):
            raise EncodeError("batch result indices are strictly ascending (BRES-2)")

    @property
    def nacked(self) -> dict[int, BatchResultEntry]:
        return {e.index: e for e in self.entries}


# -- version 1: CLOSE (spec/v1/frames.md#close, errors.md#close-codes) ----------------------------------

MAX_RETRY_AFTER = 86400  # CLOSE-2: retry_after is 1..86400 seconds


class CloseCode(IntEnum):
    """The close codes (spec/v1/errors.md): a CLOSE's ``error_class``; 16 and up are the decoders' error classes."""

    NO_ERROR = 0
    HANDSHAKE_REFUSED = 1
    OUT_OF_PLACE_FRAME = 2
    UNKNOWN_MESSAGE_ID = 3
    MESSAGE_ID_IN_USE = 4
    INDEX_OUT_OF_RANGE = 5
    KEEPALIVE_TIMEOUT = 6
    INTERNAL_ERROR = 7
    TRUNCATED = 16
    TRAILING_BYTES = 17
    OVERLONG_VARINT = 18
    VARINT_OVERFLOW = 19
    VALUE_OUT_OF_RANGE = 20
    LIMIT_EXCEEDED = 21
    UNKNOWN_TYPE = 22
    UNKNOWN_RESPONSE_CODE = 23
    UNSUPPORTED_VERSION = 24
    RESERVED_BIT = 25
    BAD_COMPRESSION = 26
    INVALID_UTF8 = 27
    INCONSISTENT_BATCH = 28
    UNKNOWN_FORMAT = 29
    INVALID_LIST = 30

    @property
    def wire_name(self) -> str:
        return self.name.lower()

    @classmethod
    def from_wire_name(cls, name: str) -> CloseCode:
        """The code of an error class name; a name the registry lacks is ``internal_error`` (CLOSE-3)."""
        try:
            return cls[name.upper()]
        except KeyError:
            return cls.INTERNAL_ERROR


@dataclass(frozen=True, kw_only=True, slots=True)
class Close:
    """CLOSE-1: why a side closes a version-1 connection, how far it got, and when to come back."""

    error_class: CloseCode
    requirement: bytes = b""
    last_message_id: int | None = None
    retry_after: int | None = None
    human_message: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.error_class, CloseCode):
            raise EncodeError(f"error_class must be a CloseCode, got {self.error_class!r}")
        _check_bytes("requirement", self.requirement)
        _check_bytes("human_message", self.human_message)
        if self.last_message_id is not None:
            _check_uint("last_message_id", self.last_message_id, MAX_MESSAGE_ID)
        if self.retry_after is not None:
            _check_uint("retry_after", self.retry_after, MAX_RETRY_AFTER)
            if self.retry_after == 0:
                raise EncodeError(f"retry_after must be in 1..{MAX_RETRY_AFTER}, got 0 (CLOSE-2)")


# Every frame of every version; which ones a connection may carry is its version's (FrameType.since).
Frame = ConnectionRequest | ConnectionResponse | Publish | Ack | Nack | Ping | Pong | BatchPublish | BatchResult | Close
