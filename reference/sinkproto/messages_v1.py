"""The logical model of protocol version 1: batch frames and batch v1 (spec/v1/frames.md, batch.md).

Frozen, keyword-only dataclasses that validate when built, like
:mod:`sinkproto.messages`, whose classes version 1 keeps. The connection
request and response of version 1 are :class:`~sinkproto.messages.ConnectionRequest`
and :class:`~sinkproto.messages.ConnectionResponse` with ``version=1`` and
``reader_schemas``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Union

from .errors import EncodeError
from .messages import MAX_MESSAGE_ID, Ack, BatchLayout, Event, Frame, Nack, _check_bytes, _check_uint

__all__ = [
    "FrameTypeV1",
    "BatchCodec",
    "BatchMode",
    "BatchFormat",
    "BatchV1",
    "BatchPublish",
    "BatchResultEntry",
    "BatchResult",
    "FrameV1",
    "MAX_BATCH_RESULT_INDEX",
]

MAX_BATCH_RESULT_INDEX = (1 << 64) - 1


class FrameTypeV1(IntEnum):
    """FRAME-7: the frame types version 1 assigns on top of version 0's."""

    BATCH_PUBLISH = 2
    BATCH_RESULT = 8


class BatchCodec(IntEnum):
    """BATCH-14: high nibble of the format byte."""

    NONE = 0
    GZIP = 1
    ZSTD = 2

    @property
    def wire_name(self) -> str:
        return self.name.lower()


class BatchMode(IntEnum):
    """BATCH-14: low nibble of the format byte. RECORDS is specified but not implemented (proposed)."""

    COLUMNS = 0
    RECORDS = 1

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


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchV1:
    """A batch v1: events, the layout flags, and the format byte (None: a version-0 batch).

    Built by an application with ``layout`` and ``format`` None, the encoder
    picks the smallest encoding (CODEC-5). With ``format`` None and a
    ``layout``, it is encoded exactly as a version-0 batch. ``layout.compressed``
    is always False in an extended batch (BATCH-13): the codec says it.
    """

    events: tuple[Event, ...]
    layout: BatchLayout | None = None
    format: BatchFormat | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.events, tuple):
            object.__setattr__(self, "events", tuple(self.events))
        if not all(isinstance(e, Event) for e in self.events):
            raise EncodeError("events must be Event instances")
        if self.format is not None and self.layout is not None and self.layout.compressed:
            raise EncodeError("an extended batch has the compressed flag clear; its codec says (BATCH-13)")


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchPublish:
    """BPUB-1: many events under one 12-bit message id."""

    message_id: int
    batch: BatchV1

    def __post_init__(self) -> None:
        _check_uint("message_id", self.message_id, MAX_MESSAGE_ID)
        if not isinstance(self.batch, BatchV1):
            raise EncodeError("batch must be a BatchV1")
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
    """BRES-1..BRES-3: the NACKed events of a batch; every other event is accepted."""

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


FrameV1 = Union[Frame, BatchPublish, BatchResult]

# Re-exported for callers that switch on answers to a batch.
_ANSWERS = (Ack, Nack, BatchResult)
