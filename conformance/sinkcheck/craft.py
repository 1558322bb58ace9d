"""Frames for cases, built and read with the reference codec at a connection's version (no connection, no case context).

Frames are built with the reference codec (``construct_codec``, ``version=1``), never
with the reference connection, so a case can send what a correct peer never
would. The helpers that talk to a peer (requests, sessions, answers) are in
``context.py``.
"""

from __future__ import annotations

from functools import cache

from sinkproto import ConnectionResponse, Event, Limits, construct_codec
from sinkproto.errors import DecodeError
from sinkproto.jsonform import to_json
from sinkproto.messages import Batch, BatchPublish, BatchResult
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
    "batch_frame",
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


def decode_or_fail(frame: bytes, *, version: int, limits: Limits | None = None) -> object:
    """A frame of a version-``version`` connection; a malformed one fails the case."""
    try:
        return construct_codec.decode_frame(frame, limits=limits or Limits(), version=version, schemas=kit_schemas())
    except DecodeError as exc:
        raise CheckFailed(
            f"undecodable version-{version} frame {frame[:24].hex()}: {exc.error_class} ({exc})"
        ) from None


def describe_frame(frame: bytes, *, version: int = 0) -> str:
    """A frame of a version-``version`` connection as the wire log and the verdicts name it."""
    try:
        value = construct_codec.decode_frame(frame, limits=Limits(), version=version, schemas=kit_schemas())
    except DecodeError as exc:
        return f"undecodable: {exc.error_class}"
    if version == 0:  # the log's historical form: the JSON form's fields, the event by its topic and offset
        obj = to_json(value)
        kind = obj.pop("type")
        detail = ", ".join(f"{k}={v}" for k, v in obj.items() if k != "event")
        if isinstance(event := obj.get("event"), dict):
            detail = f"message_id={obj['message_id']}, event=({event['event_type_id']}, {event['key_hex']}, {event['offset']})"
        return f"{kind}({detail})"
    if isinstance(value, BatchPublish):
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
