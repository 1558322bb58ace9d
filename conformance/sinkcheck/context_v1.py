"""Protocol version 1 for cases: requests, batches and answers built and read with the version-1 codec.

Both runner roles use these: server mode to talk to a server that speaks
version 1, client mode to play a version-1 (or a version-0-only) server.
Frames are built with the reference codec (``construct_codec``, ``version=1``), never
with the reference connection, so a case can send what a correct peer never
would. On a version-1 connection the peer's own traffic includes
BATCH_PUBLISH frames (BPUB-2): the helpers ACK them in the background like
PUBLISH frames.
"""

from __future__ import annotations

from functools import cache

from sinkproto import (
    Ack,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Limits,
    Response,
)
from sinkproto import construct_codec
from sinkproto.errors import DecodeError
from sinkproto.messages import BatchPublish, BatchResult, BatchV1
from sinkproto.readers import ReaderSchemas
from sinkproto.records import RecordSchemas
from sinkproto.schemas import default_registry

from .context import CaseContext
from .model import CheckFailed, Unsupported
from .wire import Wire

__all__ = [
    "ACK",
    "BATCH_PUBLISH",
    "BATCH_RESULT",
    "NACK",
    "PING",
    "PONG",
    "PUBLISH",
    "batch_frame",
    "decode_v1",
    "describe_v1", "describe_value",
    "expect_batch_answer",
    "expect_closed_v1",
    "frame_type",
    "message_id_of",
    "open_session_v1",
    "oversized_batch",
    "readable_pair",
    "recv_v1",
    "request_v1",
    "unreadable_pair",
]

CONNECTION_REQUEST, CONNECTION_RESPONSE, BATCH_PUBLISH, ACK, PUBLISH, PING, PONG, NACK, BATCH_RESULT = range(9)


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


def decode_v1(frame: bytes, limits: Limits | None = None) -> object:
    """A frame of a version-1 connection; a malformed one fails the case."""
    try:
        return construct_codec.decode_frame(frame, limits or Limits(), version=1, schemas=kit_schemas())
    except DecodeError as exc:
        raise CheckFailed(f"undecodable version-1 frame {frame[:24].hex()}: {exc.error_class} ({exc})") from None


def describe_v1(frame: bytes) -> str:
    try:
        value = construct_codec.decode_frame(frame, Limits(), version=1, schemas=kit_schemas())
    except DecodeError as exc:
        return f"undecodable: {exc.error_class}"
    if isinstance(value, BatchPublish):
        return f"batch_publish(message_id={value.message_id}, {len(value.batch.events)} events)"
    if isinstance(value, BatchResult):
        return f"batch_result(message_id={value.message_id}, " + ", ".join(
            f"{e.index}: {e.machine_message.decode('utf-8', 'replace')}" for e in value.entries) + ")"
    name = type(value).__name__.lower()
    fields = {k: getattr(value, k) for k in getattr(value, "__slots__", ()) if k != "event"}
    return f"{name}({', '.join(f'{k}={v}' for k, v in fields.items() if v is not None)})"


def describe_value(value: object) -> str:
    """A decoded version-1 frame, named as in the wire log."""
    return describe_v1(construct_codec.encode_frame(value, version=1, schemas=kit_schemas()))  # type: ignore[arg-type]


# -- server mode: the runner is a version-1 client -----------------------------------------------------


def request_v1(ctx: CaseContext, *, server_instance_id: int | None,
               reader_schemas: ReaderSchemas | None = None) -> bytes:
    """A version-1 connection request (CONN-8) as the profile's main identity."""
    return construct_codec.encode_frame(ConnectionRequest(
        version=1, app_version=ctx.profile.app_version, client_instance_id=ctx.profile.client_instance_id,
        server_instance_id=server_instance_id, reader_schemas=reader_schemas), version=1)


async def recv_v1(ctx: CaseContext, wire: Wire, what: str, timeout: float = 5.0) -> bytes:
    """The next frame that is not the server's own traffic: its PUBLISH and BATCH_PUBLISH frames are ACKed."""
    async def background(frame: bytes) -> bool:
        if frame_type(frame) in (PUBLISH, BATCH_PUBLISH) and len(frame) >= 2:
            await wire.send_frame(construct_codec.encode_frame(Ack(message_id=message_id_of(frame)), version=1))
            return True
        return False

    return await wire.next_frame(what, ctx.t(timeout), background)


async def open_session_v1(ctx: CaseContext, *, name: str | None = None,
                          reader_schemas: ReaderSchemas | None = None) -> tuple[Wire, ConnectionResponse]:
    """A version-1 connection of the main identity whose handshake completed with `connected` (VER-6, CONN-11)."""
    server_id = await ctx.learn_server_instance_id()
    wire = await ctx.connect(name=name or "v1")
    await wire.send_frame(request_v1(ctx, server_instance_id=server_id, reader_schemas=reader_schemas))
    frame = await recv_v1(ctx, wire, "the response to a version-1 request", ctx.prompt() / ctx.scale)
    response = decode_v1(frame)
    if not isinstance(response, ConnectionResponse):
        raise CheckFailed(f"{describe_v1(frame)} instead of a connection response")
    if response.response is Response.UNSUPPORTED_PROTOCOL_VERSION:
        raise CheckFailed("unsupported_protocol_version to a version-1 request, although the profile's "
                          "versions include 1")
    if response.response is not Response.CONNECTED:
        raise CheckFailed(f"{response.response.wire_name} to a known client's version-1 request (expected connected)")
    return wire, response


async def expect_closed_v1(ctx: CaseContext, wire: Wire, why: str, *, message_id: int | None = None) -> list[bytes]:
    """The server must close promptly. Its own PUBLISH/BATCH_PUBLISH frames are tolerated; any other frame is not,
    except, with ``message_id``, one answer (ACK, NACK, BATCH_RESULT) carrying it. Returns the answers seen."""
    closed, frames = await wire.expect_close(ctx.prompt())
    answers: list[bytes] = []
    for frame in frames:
        kind = frame_type(frame)
        if kind in (PUBLISH, BATCH_PUBLISH):
            continue
        if message_id is not None and kind in (ACK, NACK, BATCH_RESULT) and message_id_of(frame) == message_id \
                and not answers:
            answers.append(frame)
            continue
        raise CheckFailed(f"{why}: sent {describe_v1(frame)} instead of closing")
    if not closed:
        raise CheckFailed(f"{why}: the connection was still open after {ctx.prompt():.1f} s")
    return answers


def batch_frame(message_id: int, events: list[Event] | tuple[Event, ...]) -> bytes:
    """A well-formed BATCH_PUBLISH (BPUB-1); the encoder picks the smallest batch encoding (CODEC-5)."""
    return construct_codec.encode_frame(BatchPublish(message_id=message_id, batch=BatchV1(events=tuple(events))), version=1)


async def expect_batch_answer(ctx: CaseContext, wire: Wire, message_id: int, what: str = "") -> object:
    """The next answer to our frames: it must carry ``message_id`` (an ACK, NACK or BATCH_RESULT, decoded)."""
    while True:
        frame = await recv_v1(ctx, wire, what or f"the answer to BATCH_PUBLISH {message_id}")
        kind = frame_type(frame)
        if kind == PONG:
            continue
        if kind not in (ACK, NACK, BATCH_RESULT) or message_id_of(frame) != message_id:
            raise CheckFailed(f"{describe_v1(frame)} instead of the answer to BATCH_PUBLISH {message_id}")
        return decode_v1(frame)


def readable_pair(response: ConnectionResponse) -> tuple[int, int]:
    """An (event_type_id, schema_version) the server reads: its first declared pair, else (1, 1)."""
    declared = response.reader_schemas
    if declared is None:
        return (1, 1)
    type_id, versions = declared.entries[0]
    return (type_id, versions[0])


def unreadable_pair(ctx: CaseContext, response: ConnectionResponse) -> tuple[int, int]:
    """A pair the server cannot read: outside its declaration (SNEG-3), or the profile's ``unreadable_schema``."""
    declared = response.reader_schemas
    if declared is not None:
        type_id, versions = declared.entries[-1]
        return (type_id, versions[-1] + 1) if versions[-1] < (1 << 64) - 1 else (type_id + 1, 0)
    if ctx.profile.unreadable_schema is not None:
        return ctx.profile.unreadable_schema
    raise Unsupported("the server declared no reader schemas and the profile names no unreadable_schema")


@cache
def oversized_batch(count: int) -> bytes:
    """The batch of a BATCH_PUBLISH with ``count`` tiny events of one topic (compressed: a few dozen bytes).

    Built once per count; the encoder takes about half a second for 65,537 events.
    """
    events = tuple(Event(event_type_id=1, schema_version=1, key=b"sink-check/oversized", offset=i + 1,
                         timestamp=1_700_000_000, event_data=b"") for i in range(count))
    return construct_codec.encode_frame(BatchPublish(message_id=0, batch=BatchV1(events=events)), version=1)[2:]

