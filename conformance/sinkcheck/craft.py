"""Frames for cases, built and read with the reference codec at a connection's version (no connection, no case context).

Frames are built with the reference codec (``construct_codec``, ``version=1``), never
with the reference connection, so a case can send what a correct peer never
would. The helpers that talk to a peer (requests, sessions, answers) are in
``context.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sinkproto import ConnectionResponse, Event, Limits, construct_codec
from sinkproto.errors import BaseUnavailable, DecodeError
from sinkproto.jsonform import to_json
from sinkproto.messages import (
    BaseLookup,
    Batch,
    BatchCodec,
    BatchFormat,
    BatchMode,
    BatchPublish,
    BatchResult,
    ContextBase,
    Frame,
)
from sinkproto.primitives import read_varint, varint_bytes, zigzag_encode
from sinkproto.records import RecordSchemas
from sinkproto.schemas import default_registry

from .model import CheckFailed

__all__ = [
    "ACK",
    "BATCH_PUBLISH",
    "BATCH_RESULT",
    "CLOSE",
    "NACK",
    "PING",
    "PONG",
    "PUBLISH",
    "AGAINST_BASE",
    "ContextParts",
    "batch_frame",
    "context_batch_id",
    "context_frame",
    "context_parts",
    "decode_or_fail",
    "describe_frame",
    "describe_value",
    "frame_type",
    "kit_schemas",
    "message_id_of",
    "oversized_batch",
    "readable_pair",
]

CONNECTION_REQUEST, CONNECTION_RESPONSE, BATCH_PUBLISH, ACK, PUBLISH, PING, PONG, NACK, BATCH_RESULT, CLOSE = range(10)


def frame_type(frame: bytes) -> int | None:
    return frame[0] >> 4 if frame else None


def message_id_of(frame: bytes) -> int:
    return int.from_bytes(frame[:2], "big") & 0xFFF


@cache
def kit_schemas() -> RecordSchemas:
    """The writer schemas the runner knows: the schema registry's (schemas/ here or above, else the kit's).

    Records batches (RECORD-2) decode with them, and the records case writes with them.
    """
    return RecordSchemas.from_registry(default_registry())


def runner_decode(frame: bytes, *, version: int, limits: Limits, bases: BaseLookup | None = None) -> Frame:
    """A frame as the runner reads it, with the construct codec, given the context ``bases`` the runner holds for the
    peer (CTX-5; None: the runner takes no batch in mode context, CTX-1)."""
    return construct_codec.decode_frame(frame, limits=limits, version=version, schemas=kit_schemas(), bases=bases)


def decode_or_fail(
    frame: bytes, *, version: int, limits: Limits | None = None, bases: BaseLookup | None = None
) -> object:
    """A frame of a version-``version`` connection; a malformed one fails the case. ``bases``: the context bases
    the runner holds for the peer (CTX-8); a batch naming another raises :class:`BaseUnavailable` (CTX-5),
    for the case to judge."""
    try:
        return runner_decode(frame, version=version, limits=limits or Limits(), bases=bases)
    except DecodeError as exc:
        raise CheckFailed(
            f"undecodable version-{version} frame {frame[:24].hex()}: {exc.error_class} ({exc})"
        ) from None


def describe_frame(frame: bytes, *, version: int = 0) -> str:
    """A frame of a version-``version`` connection as the wire log and the verdicts name it."""
    try:
        value = runner_decode(frame, version=version, limits=Limits(), bases={})  # shown whatever was declared
    except DecodeError as exc:
        return f"undecodable: {exc.error_class}"
    except BaseUnavailable as exc:  # a context batch naming a base: the log holds no bases (CTX-5)
        return f"batch_publish(message_id={message_id_of(frame)}, context, base {exc.base_id})"
    if version == 0:  # the log's historical form: the JSON form's fields, the event by its topic and offset
        obj = to_json(value)
        kind = obj.pop("type")
        detail = ", ".join(f"{k}={v}" for k, v in obj.items() if k != "event")
        if isinstance(event := obj.get("event"), dict):
            detail = f"message_id={obj['message_id']}, event=({event['event_type_id']}, {event['key_hex']}, {event['offset']})"
        return f"{kind}({detail})"
    if isinstance(value, BatchPublish):
        context = value.batch.context
        if context is not None:
            base = f"base {context.base.batch_id}" if context.base is not None else "no base"
            return (
                f"batch_publish(message_id={value.message_id}, {len(value.batch.events)} events, "
                f"context batch {context.batch_id}, {base})"
            )
        return f"batch_publish(message_id={value.message_id}, {len(value.batch.events)} events)"
    if isinstance(value, BatchResult):
        return (
            f"batch_result(message_id={value.message_id}, "
            + ", ".join(f"{e.index}: {e.machine_message.decode('utf-8', 'replace')}" for e in value.entries)
            + ")"
        )
    name = type(value).__name__.lower()
    fields = {k: getattr(value, k) for k in getattr(value, "__slots__", ()) if k != "event"}
    return f"{name}({', '.join(f'{k}={v}' for k, v in fields.items() if v is not None)})"


def describe_value(value: object) -> str:
    """A decoded version-1 frame, named as in the wire log."""
    return describe_frame(construct_codec.encode_frame(value, version=1, schemas=kit_schemas()), version=1)  # type: ignore[arg-type]


def batch_frame(message_id: int, events: list[Event] | tuple[Event, ...]) -> bytes:
    """A well-formed BATCH_PUBLISH (BPUB-1); the encoder picks the smallest batch encoding (CODEC-5)."""
    return construct_codec.encode_frame(
        BatchPublish(message_id=message_id, batch=Batch(events=tuple(events))), version=1
    )


def readable_pair(response: ConnectionResponse) -> tuple[int, int]:
    """An (event_type_id, schema_version) the server reads: its first declared pair, else (1, 1)."""
    declared = response.reader_schemas
    if declared is None:
        return (1, 1)
    type_id, versions = declared.entries[0]
    return (type_id, versions[0])


@cache
def oversized_batch(count: int) -> bytes:
    """The batch of a BATCH_PUBLISH with ``count`` tiny events of one topic (compressed: a few dozen bytes).

    Built once per count; the encoder takes about half a second for 65,537 events.
    """
    events = tuple(
        Event(
            event_type_id=1,
            schema_version=1,
            key=b"sink-check/oversized",
            offset=i + 1,
            timestamp=1_700_000_000,
            event_data=b"",
        )
        for i in range(count)
    )
    return construct_codec.encode_frame(BatchPublish(message_id=0, batch=Batch(events=events)), version=1)[2:]


# -- context coding (spec/v1/context.md): batches built byte by byte ---------------------------------------------

#: CTX-7: bit 7 of a column's transform byte, ``against_base``
AGAINST_BASE = 0x80


@dataclass(frozen=True)
class ContextParts:
    """A records-mode BATCH_PUBLISH cut into its parts, to be put together again in mode context (CTX-2).

    ``frame_header``: the frame's 2 bytes (type, message id); ``header_values``: ``event_type_id`` and
    ``schema_version``; ``count``: the events; ``columns``: every column chunk (length, transform, payload) in the
    order of RECORD-3 (keys, offsets, timestamps, then the schema's columns).
    """

    frame_header: bytes
    header_values: bytes
    count: int
    columns: tuple[bytes, ...]


def context_parts(message_id: int, events: tuple[Event, ...] | list[Event]) -> ContextParts:
    """The records-mode encoding of ``events`` (codec none, the reference encoder's transforms), cut into parts.

    The runner builds its context batches from these by hand, not with the reference encoder's context coding:
    a peer is checked against the spec's layout (CTX-2), not against the reference codec's reading of it, and a
    case can build what a correct encoder never would (CTX-3, CTX-6, CTX-7).
    """
    batch = Batch(events=tuple(events), format=BatchFormat(codec=BatchCodec.NONE, mode=BatchMode.RECORDS))
    frame = construct_codec.encode_frame(
        BatchPublish(message_id=message_id, batch=batch), version=1, schemas=kit_schemas()
    )
    # frame: type and message id (2 bytes), header byte, format byte, event_type_id, schema_version, body (RECORD-3)
    pos = 4
    _type_id, pos = _varint(frame, pos)
    _version, pos = _varint(frame, pos)
    values_end = pos
    count, pos = _varint(frame, pos)
    columns = []
    while pos < len(frame):
        length, start = _varint(frame, pos)
        columns.append(frame[pos : start + length])
        pos = start + length
    return ContextParts(frame_header=frame[:2], header_values=frame[4:values_end], count=count, columns=tuple(columns))


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A varint of a frame the reference encoder built: (value, position after it)."""
    return read_varint(data, pos, len(data), Limits(), "varint")


def context_batch_id(frame: bytes) -> int | None:
    """The ``batch_id`` of a BATCH_PUBLISH in mode context with codec none, read where CTX-2 puts it (after the
    header values), or None: another codec (the id is inside the compressed body), or not such a batch.

    A batch naming a base the runner lacks cannot be decoded (CTX-5); this names it in the verdict all the same.
    """
    if len(frame) < 4 or frame_type(frame) != BATCH_PUBLISH or not frame[2] & 0x80:
        return None
    if frame[3] != BatchFormat(codec=BatchCodec.NONE, mode=BatchMode.CONTEXT).to_byte():
        return None
    try:
        _type_id, pos = _varint(frame, 4)
        _version, pos = _varint(frame, pos)
        batch_id, _pos = _varint(frame, pos)
    except DecodeError:
        return None
    return batch_id


def int_column(values: list[int] | tuple[int, ...]) -> bytes:
    """An int column chunk with transform 0 ``plain``: zigzag varints (RECORD-5)."""
    payload = b"".join(varint_bytes(zigzag_encode(v)) for v in values)
    return varint_bytes(len(payload) + 1) + b"\x00" + payload


def against_base(column: bytes) -> bytes:
    """``column`` with bit 7 (``against_base``, CTX-7) of its transform byte set."""
    _length, start = _varint(column, 0)
    return column[:start] + bytes([column[start] | AGAINST_BASE]) + column[start + 1 :]


def context_frame(
    message_id: int,
    events: tuple[Event, ...] | list[Event],
    *,
    batch_id: int,
    base: ContextBase | None = None,
    base_id: int | None = None,
    digest: bytes | None = None,
    base_rows: list[int] | None = None,
    cut: int | None = None,
    column_edit: tuple[int, bytes] | None = None,
) -> bytes:
    """A BATCH_PUBLISH in mode context (CTX-2), codec none, built by hand.

    Against ``base`` every row is a new key (``base_rows`` all -1, CTX-6) and no column has ``against_base``: the
    simplest coding every decoder must take. The rest makes it malformed or names what the receiver lacks:
    ``base_id`` and ``digest`` replace the base's; ``base_rows`` replaces the column's values (the keys column is
    left whole); ``cut`` ends the body after that many bytes; ``column_edit`` (index, chunk) replaces one column of
    :func:`context_parts` (0 keys, 1 offsets, 2 timestamps, ...).
    """
    parts = context_parts(message_id, events)
    named = base_id if base_id is not None else (base.batch_id if base is not None else 0)
    body = varint_bytes(batch_id) + varint_bytes(named)
    if named:
        body += digest if digest is not None else (base.digest if base is not None else bytes(8))
    body += varint_bytes(parts.count)
    if named:
        body += int_column(base_rows if base_rows is not None else [-1] * parts.count)
    columns = list(parts.columns)
    if column_edit is not None:
        columns[column_edit[0]] = column_edit[1]
    body += b"".join(columns)
    if cut is not None:
        body = body[:cut]
    header = bytes([0xB0, BatchFormat(codec=BatchCodec.NONE, mode=BatchMode.CONTEXT).to_byte()])
    return parts.frame_header + header + parts.header_values + body
