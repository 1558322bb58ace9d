"""Frames, every version, declared with construct, and the frame table keyed by type and version.

Each message is a ``Struct`` mirroring the spec's byte table, wrapped in an
``Adapter`` that turns the parsed container into the frozen message class
(and back). :data:`FRAME_CONSTRUCTS` maps each frame type to its construct
by the version that introduced (or changed) it; :func:`frame_struct` is the
frame of one version, which switches on the type nibble (FRAME-1, FRAME-7)
and rejects a type that version does not define (:data:`UNKNOWN_TYPE_RULE`).
The handshake frames are in :mod:`.handshake`, the units PUBLISH and NACK
carry in :mod:`.payloads`, the batch in :mod:`.batch_format`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from typing import Any

from construct import Adapter, BitsInteger, BitStruct, Const, Construct, Int8ub, Nibble, Peek, Struct, Switch, this

from ..errors import InvalidList, LimitExceeded, ReservedBit, UnknownType, ValueOutOfRange
from ..messages import (
    MAX_MESSAGE_ID,
    MAX_RETRY_AFTER,
    Ack,
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    Close,
    CloseCode,
    ConnectionRequest,
    ConnectionResponse,
    FrameType,
    Nack,
    NackPayload,
    Ping,
    Pong,
    Publish,
)
from ..primitives import varint_bytes
from ..versions import pick
from ._boundary import check_version
from .batch_format import batch_v1
from .handshake import connection_request, connection_response
from .payloads import event, nack_payload
from .primitives import Chunk, End, Reject, Text, limits_of, stream_varint

__all__ = ["FRAME_CONSTRUCTS", "FRAME_TYPE_OF", "UNKNOWN_TYPE_RULE", "frame_struct"]


def _id_header(frame_type: FrameType) -> Any:
    """FRAME-2, FRAME-8: type:4 | message_id:12, big-endian."""
    return BitStruct("type" / Const(int(frame_type), Nibble), "message_id" / BitsInteger(12))


# -- frames with a 12-bit message id ----------------------------------------------------------

ack_struct = Struct("header" / _id_header(FrameType.ACK), End("FRAME-4"))
publish_struct = Struct("header" / _id_header(FrameType.PUBLISH), "event" / event)
nack_struct = Struct("header" / _id_header(FrameType.NACK), "payload" / nack_payload)
# FRAME-5: the 12 bits are named but not interpreted; they are built as 0.
ping_struct = Struct("header" / _id_header(FrameType.PING), End("FRAME-4"))
pong_struct = Struct("header" / _id_header(FrameType.PONG), End("FRAME-4"))


class AckAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> Ack:
        return Ack(message_id=obj.header.message_id)

    def _encode(self, obj: Ack, context: Any, path: str) -> dict[str, Any]:
        return {"header": {"message_id": obj.message_id}}


class PublishAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> Publish:
        return Publish(message_id=obj.header.message_id, event=obj.event)

    def _encode(self, obj: Publish, context: Any, path: str) -> dict[str, Any]:
        return {"header": {"message_id": obj.message_id}, "event": obj.event}


class NackAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> Nack:
        p: NackPayload = obj.payload
        return Nack(message_id=obj.header.message_id, machine_message=p.machine_message, human_message=p.human_message)

    def _encode(self, obj: Nack, context: Any, path: str) -> dict[str, Any]:
        payload = NackPayload(machine_message=obj.machine_message, human_message=obj.human_message)
        return {"header": {"message_id": obj.message_id}, "payload": payload}


class KeepaliveAdapter(Adapter):
    def __init__(self, subcon: Any, cls: type[Ping] | type[Pong]) -> None:
        super().__init__(subcon)
        self.cls = cls

    def _decode(self, obj: Any, context: Any, path: str) -> Ping | Pong:
        return self.cls()

    def _encode(self, obj: Ping | Pong, context: Any, path: str) -> dict[str, Any]:
        return {"header": {"message_id": 0}}


# -- BPUB-1, BRES-1, BRES-2: the batch frames (version 1) -------------------------------------------


class ResultEntries(Construct):
    """BRES-1, BRES-2: nack_count (1..max_batch_events), then entries with strictly ascending indices."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> tuple[BatchResultEntry, ...]:
        limits = limits_of(context)
        at = stream.tell()
        count = stream_varint(stream, limits, what="nack_count")
        if count == 0:
            raise InvalidList(
                "nack_count is 0: a batch result NACKs at least one event", offset=at, requirement="BRES-2"
            )
        if count > limits.max_batch_events:
            raise LimitExceeded(
                f"nack_count {count} exceeds max_batch_events={limits.max_batch_events}",
                offset=at,
                requirement="BRES-2",
            )
        entries: list[BatchResultEntry] = []
        for _ in range(count):
            at = stream.tell()
            index = stream_varint(stream, limits, what="index")
            if entries and index <= entries[-1].index:
                raise InvalidList(
                    f"index {index} after {entries[-1].index}: not strictly ascending", offset=at, requirement="BRES-2"
                )
            machine = Chunk("machine_message")._parsereport(stream, context, path)
            human = Text(Chunk("human_message"), "human_message")._parsereport(stream, context, path)
            entries.append(BatchResultEntry(index=index, machine_message=machine, human_message=human))
        return tuple(entries)

    def _build(self, obj: tuple[BatchResultEntry, ...], stream: io.BytesIO, context: Any, path: str) -> Any:
        stream.write(varint_bytes(len(obj), what="nack_count"))
        for entry in obj:
            stream.write(varint_bytes(entry.index, what="index"))
            Chunk("machine_message")._build(entry.machine_message, stream, context, path)
            Chunk("human_message")._build(entry.human_message, stream, context, path)
        return obj


batch_publish_struct = Struct("header" / _id_header(FrameType.BATCH_PUBLISH), "batch" / batch_v1)
batch_result_struct = Struct("header" / _id_header(FrameType.BATCH_RESULT), "entries" / ResultEntries(), End("BRES-2"))


class BatchPublishAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> BatchPublish:
        return BatchPublish(message_id=obj.header.message_id, batch=obj.batch)

    def _encode(self, obj: BatchPublish, context: Any, path: str) -> dict[str, Any]:
        return {"header": {"message_id": obj.message_id}, "batch": obj.batch}


class BatchResultAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> BatchResult:
        return BatchResult(message_id=obj.header.message_id, entries=obj.entries)

    def _encode(self, obj: BatchResult, context: Any, path: str) -> dict[str, Any]:
        return {"header": {"message_id": obj.message_id}, "entries": obj.entries}


# -- CLOSE-1, CLOSE-2: CLOSE (version 1) ----------------------------------------------------------------

_CLOSE_CODES = frozenset(int(code) for code in CloseCode)


class CloseBody(Construct):
    """CLOSE-1, CLOSE-2: after the type nibble and close_flags, the fields they announce, each within its bounds."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> Close:
        limits = limits_of(context)
        flags = context.header.close_flags
        if flags & 0xC:
            raise ReservedBit(f"close_flags {flags:#03x} has reserved bits 3..2 set", offset=0, requirement="CLOSE-2")
        at = stream.tell()
        code = stream_varint(stream, limits, what="error_class")
        if code not in _CLOSE_CODES:
            raise ValueOutOfRange(f"close code {code} is not assigned", offset=at, requirement="CLOSE-2")
        requirement = _requirement._parsereport(stream, context, path)
        last_message_id = None
        if flags & 1:
            at = stream.tell()
            last_message_id = stream_varint(stream, limits, what="last_message_id")
            if last_message_id > MAX_MESSAGE_ID:
                raise ValueOutOfRange(
                    f"last_message_id {last_message_id} is above {MAX_MESSAGE_ID}", offset=at, requirement="CLOSE-2"
                )
        retry_after = None
        if flags & 2:
            at = stream.tell()
            retry_after = stream_varint(stream, limits, what="retry_after")
            if not 1 <= retry_after <= MAX_RETRY_AFTER:
                raise ValueOutOfRange(
                    f"retry_after {retry_after} is outside 1..{MAX_RETRY_AFTER}", offset=at, requirement="CLOSE-2"
                )
        human = _close_text._parsereport(stream, context, path)
        return Close(
            error_class=CloseCode(code),
            requirement=requirement,
            last_message_id=last_message_id,
            retry_after=retry_after,
            human_message=human,
        )

    def _build(self, obj: Close, stream: io.BytesIO, context: Any, path: str) -> Close:
        stream.write(varint_bytes(int(obj.error_class), what="error_class"))
        _requirement._build(obj.requirement, stream, context, path)
        if obj.last_message_id is not None:
            stream.write(varint_bytes(obj.last_message_id, what="last_message_id"))
        if obj.retry_after is not None:
            stream.write(varint_bytes(obj.retry_after, what="retry_after"))
        _close_text._build(obj.human_message, stream, context, path)
        return obj


_requirement = Text(Chunk("requirement", limit="max_requirement_size", rule="LIMIT-12"), "requirement")
_close_text = Text(Chunk("human_message", limit="max_close_text", rule="LIMIT-12"), "human_message")

close_struct = Struct(
    "header" / BitStruct("type" / Const(int(FrameType.CLOSE), Nibble), "close_flags" / Nibble),
    "close" / CloseBody(),
    End("CLOSE-2"),
)


class CloseAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> Close:
        close: Close = obj.close
        return close

    def _encode(self, obj: Close, context: Any, path: str) -> dict[str, Any]:
        flags = (obj.last_message_id is not None) | (obj.retry_after is not None) << 1
        return {"header": {"close_flags": flags}, "close": obj}


# -- FRAME-1, FRAME-7: the frame -------------------------------------------------------------------

# By frame type, then by the version that introduced or changed it (a version uses the entry of
# the greatest version at most its own; FrameType.since is the first key).
FRAME_CONSTRUCTS: Mapping[FrameType, Mapping[int, Any]] = {
    FrameType.CONNECTION_REQUEST: {0: connection_request(upto=0), 1: connection_request(upto=1)},
    FrameType.CONNECTION_RESPONSE: {0: connection_response(0), 1: connection_response(1)},
    FrameType.BATCH_PUBLISH: {1: BatchPublishAdapter(batch_publish_struct)},
    FrameType.ACK: {0: AckAdapter(ack_struct)},
    FrameType.PUBLISH: {0: PublishAdapter(publish_struct)},
    FrameType.PING: {0: KeepaliveAdapter(ping_struct, Ping)},
    FrameType.PONG: {0: KeepaliveAdapter(pong_struct, Pong)},
    FrameType.NACK: {0: NackAdapter(nack_struct)},
    FrameType.BATCH_RESULT: {1: BatchResultAdapter(batch_result_struct)},
    FrameType.CLOSE: {1: CloseAdapter(close_struct)},
}

# A type nibble the version does not define: FRAME-3 (the error's default) in version 0, FRAME-7 from 1.
UNKNOWN_TYPE_RULE: Mapping[int, str | None] = {0: None, 1: "FRAME-7"}


def constructs_of(version: int) -> dict[FrameType, Any]:
    """The construct of every frame type ``version`` defines."""
    picked = {frame_type: pick(entries, version) for frame_type, entries in FRAME_CONSTRUCTS.items()}
    return {frame_type: construct for frame_type, construct in picked.items() if construct is not None}


@cache
def frame_struct(version: int) -> Any:
    """The frame of a version-``version`` connection: the type nibble picks the construct (built once per version)."""
    rule = UNKNOWN_TYPE_RULE[check_version(version)]
    return Struct(
        "first_byte" / Peek(Int8ub),
        "body"
        / Switch(
            this.first_byte >> 4,
            {int(frame_type): construct for frame_type, construct in constructs_of(version).items()},
            default=Reject(
                lambda ctx, offset: UnknownType(
                    f"frame type {ctx.first_byte >> 4} is not defined in v{version}", offset=0, requirement=rule
                )
            ),
        ),
    )


FRAME_TYPE_OF: Mapping[type, FrameType] = {
    ConnectionRequest: FrameType.CONNECTION_REQUEST,
    ConnectionResponse: FrameType.CONNECTION_RESPONSE,
    BatchPublish: FrameType.BATCH_PUBLISH,
    Ack: FrameType.ACK,
    Publish: FrameType.PUBLISH,
    Ping: FrameType.PING,
    Pong: FrameType.PONG,
    Nack: FrameType.NACK,
    BatchResult: FrameType.BATCH_RESULT,
    Close: FrameType.CLOSE,
}
