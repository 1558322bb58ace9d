"""The one error hierarchy of the kit.

Every failure the codec, the deframer or (later) the connection state machine
reports is a :class:`SinkError`. Decoders raise :class:`DecodeError`
subclasses only; each one names its ``error_class`` (the same string the
golden vectors use), the byte ``offset`` where decoding failed and the spec
requirement it enforces, so a person reading a report can jump to the rule.
"""

from __future__ import annotations

__all__ = [
    "SinkError",
    "EncodeError",
    "DecodeError",
    "Truncated",
    "TrailingBytes",
    "OverlongVarint",
    "VarintOverflow",
    "ValueOutOfRange",
    "LimitExceeded",
    "UnknownType",
    "UnknownResponseCode",
    "UnsupportedVersion",
    "ReservedBit",
    "BadCompression",
    "InconsistentBatch",
    "InvalidUtf8",
    "UnknownFormat",
    "InvalidList",
    "SchemaError",
    "ERROR_CLASSES",
    "error_for_class",
]


class SinkError(Exception):
    """Root of every error this kit raises on purpose."""


class EncodeError(SinkError, ValueError):
    """A value cannot be put on the wire (out of range, too long, inconsistent)."""


class DecodeError(SinkError):
    """Bytes received from a peer do not form a valid message.

    ``error_class`` is the stable, language-neutral name used by the vectors
    and conformance reports; ``requirement`` is the spec requirement ID the
    input violates; ``offset`` is the byte offset (within the decoded unit)
    at which the problem was detected.
    """

    error_class: str = "malformed"
    default_requirement: str = "ERR-1"

    def __init__(self, detail: str, *, offset: int, requirement: str | None = None) -> None:
        self.detail = detail
        self.offset = offset
        self.requirement = requirement or self.default_requirement
        super().__init__(f"{self.error_class} at byte {offset}: {detail} [{self.requirement}]")


class Truncated(DecodeError):
    error_class = "truncated"
    default_requirement = "CONV-6"


class TrailingBytes(DecodeError):
    error_class = "trailing_bytes"
    default_requirement = "PUB-2"


class OverlongVarint(DecodeError):
    error_class = "overlong_varint"
    default_requirement = "CONV-4"


class VarintOverflow(DecodeError):
    error_class = "varint_overflow"
    default_requirement = "CONV-5"


class ValueOutOfRange(DecodeError):
    error_class = "value_out_of_range"
    default_requirement = "BATCH-9"


class LimitExceeded(DecodeError):
    error_class = "limit_exceeded"
    default_requirement = "LIMIT-6"


class UnknownType(DecodeError):
    error_class = "unknown_type"
    default_requirement = "FRAME-3"


class UnknownResponseCode(DecodeError):
    error_class = "unknown_response_code"
    default_requirement = "CONN-4"


class UnsupportedVersion(DecodeError):
    """A connection request for a protocol version this decoder does not speak.

    The frame header was understood, so the receiver can still answer
    ``unsupported_protocol_version`` (CONN-2); ``version`` says what was asked.
    """

    error_class = "unsupported_version"
    default_requirement = "CONN-2"

    def __init__(self, detail: str, *, offset: int, version: int, requirement: str | None = None) -> None:
        self.version = version
        super().__init__(detail, offset=offset, requirement=requirement)


class ReservedBit(DecodeError):
    error_class = "reserved_bit"
    default_requirement = "BATCH-1"


class BadCompression(DecodeError):
    error_class = "bad_compression"
    default_requirement = "BATCH-6"


class InconsistentBatch(DecodeError):
    error_class = "inconsistent_batch"
    default_requirement = "BATCH-5"


class UnknownFormat(DecodeError):
    """Version 1: an extended batch names a codec or mode that is not assigned (BATCH-14)."""

    error_class = "unknown_format"
    default_requirement = "BATCH-14"


class InvalidList(DecodeError):
    """Version 1: a list that must be non-empty and strictly ascending is not (SNEG-2, BRES-2)."""

    error_class = "invalid_list"
    default_requirement = "SNEG-2"


class InvalidUtf8(DecodeError):
    """Only raised when the decoder was asked to be strict about UTF-8 text."""

    error_class = "invalid_utf8"
    default_requirement = "ERR-9"


class SchemaError(SinkError):
    """``event_data`` cannot be given meaning through the schema registry.

    Not a :class:`DecodeError`: Sink itself never looks inside ``event_data``
    (PUB-3), so a frame whose event data does not decode is still a valid
    frame. ``reason`` is one of ``REASONS``; ``requirement`` is the rule of
    spec/v0/schemas.md at stake.
    """

    # not_flattenable: records mode of batch v1 cannot carry the schema (RECORD-4).
    REASONS = (
        "unknown_event_type",
        "unknown_schema_version",
        "undecodable",
        "invalid_record",
        "bad_registry",
        "not_flattenable",
    )

    def __init__(self, detail: str, *, reason: str, requirement: str = "SCHEMA-1") -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown SchemaError reason {reason!r}")
        self.detail = detail
        self.reason = reason
        self.requirement = requirement
        super().__init__(f"{reason}: {detail} [{requirement}]")


ERROR_CLASSES: dict[str, type[DecodeError]] = {
    cls.error_class: cls
    for cls in (
        Truncated,
        TrailingBytes,
        OverlongVarint,
        VarintOverflow,
        ValueOutOfRange,
        LimitExceeded,
        UnknownType,
        UnknownResponseCode,
        UnsupportedVersion,
        ReservedBit,
        BadCompression,
        InconsistentBatch,
        InvalidUtf8,
        UnknownFormat,
        InvalidList,
    )
}


def error_for_class(name: str) -> type[DecodeError]:
    """The exception class for a vector's ``error_class`` string."""
    return ERROR_CLASSES[name]


class LocalProtocolError(SinkError):
    """The local application asked a Connection for something the protocol forbids now.

    ``requirement`` names the rule (e.g. MSGID-6 for a duplicate in flight).
    Nothing was sent; the connection is unchanged.
    """

    def __init__(self, detail: str, *, requirement: str) -> None:
        self.detail = detail
        self.requirement = requirement
        super().__init__(f"{detail} [{requirement}]")


__all__ += ["LocalProtocolError"]


class StoreError(SinkError):
    """The event store cannot do what was asked.

    A database that is corrupt, of another application or of a newer
    format, an I/O failure (disk full, locked too long), or misuse: an event
    that cannot be stored or sent, an answer for an event this store never
    appended, a retry of a dead letter that does not exist.
    """


__all__ += ["StoreError"]


class PolicyError(SinkError):
    """A delivery policy file (docs/operations.md) that cannot be applied.

    TOML that does not parse, an unknown event type name, an unknown key, or
    a value out of range (a ``transmission`` other than ``all``/``latest``, a
    ``keep_last`` below 1). Raised before anything is written to a store.
    """


__all__ += ["PolicyError"]


class BaseUnavailable(SinkError):
    """A batch in mode ``context`` names a base this receiver does not hold (CTX-5).

    Not a :class:`DecodeError`: the batch may be perfectly well formed; this
    receiver lacks the state to read it (a restart that lost its store,
    another server instance, a base it evicted). The connection answers the
    BATCH_PUBLISH with a NACK whose ``machine_message`` is
    :attr:`machine_message` and the sender resends the events without context
    (CTX-11). ``reason`` is ``unknown`` (no accepted batch with that id) or
    ``stale`` (one with that id, but another digest, event type or schema
    version); ``offset`` is the byte of ``base_id`` in the batch body.
    """

    machine_message = b"unknown_base"
    REASONS = ("unknown", "stale")

    def __init__(self, detail: str, *, base_id: int, digest: bytes, reason: str, offset: int) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown BaseUnavailable reason {reason!r}")
        self.detail = detail
        self.base_id = base_id
        self.digest = digest
        self.reason = reason
        self.offset = offset
        self.requirement = "CTX-5"
        super().__init__(f"unknown_base ({reason}) at byte {offset}: {detail} [CTX-5]")


__all__ += ["BaseUnavailable"]
