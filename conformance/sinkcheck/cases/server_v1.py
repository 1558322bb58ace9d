"""Server mode, protocol version 1 (spec/v1): versions on one port, reader declarations, batch publish.

Every case here needs a server that accepts version 1: the profile's
``versions`` must include 1 (derived feature ``server_v1``), otherwise the
cases are *unsupported*. A server limited to version 0 is checked by the
version-0 cases, which then expect a version-1 request to be refused.
"""

from __future__ import annotations

import dataclasses

from sinkproto import Ack, Event, Nack, Ping, Response, construct_codec, encode_frame
from sinkproto.messages import Batch, BatchCodec, BatchFormat, BatchMode, BatchPublish, BatchResult
from sinkproto.readers import ReaderSchemas
from sinkproto.schemas import default_registry
from sinkproto.stream import frame_bytes

from ..context import CaseContext
from ..craft import (
    ACK,
    BATCH_PUBLISH,
    BATCH_RESULT,
    CLOSE,
    NACK,
    PONG,
    PUBLISH,
    batch_frame,
    describe_frame,
    describe_value,
    frame_type,
    kit_schemas,
    message_id_of,
    oversized_batch,
    readable_pair,
)
from ..model import CheckFailed, Level, Unsupported
from ..wire import Wire
from . import case

V1 = "server_v1"
UNKNOWN_SCHEMA = b"unknown_schema"


def event_as(ctx: CaseContext, pair: tuple[int, int], topic: str = "") -> Event:
    """A fresh event of this run and case (its own topic), with the given (event_type_id, schema_version)."""
    event = ctx.event(key=f"sink-check/{ctx.state.run_tag}/{ctx.case_id}{topic}".encode())
    return dataclasses.replace(event, event_type_id=pair[0], schema_version=pair[1])


async def pong(ctx: CaseContext, wire: Wire, why: str) -> None:
    """PING, and the next frame that is not the server's own traffic must be the PONG."""
    await wire.send_frame(encode_frame(Ping()))
    frame = await ctx.recv(wire, f"a PONG {why}", version=1)
    if frame_type(frame) != PONG:
        raise CheckFailed(f"{describe_frame(frame, version=1)} instead of a PONG {why}")


# -- versions and declarations ------------------------------------------------------------------------------


@case(
    "server.v1.handshake.accepted",
    "A version-1 request is accepted with a version-1 response",
    area="version-1",
    requirements=["VER-6", "CONN-8", "CONN-11"],
    feature=V1,
    reactions=[
        "connected in the version-1 layout (10, optionally followed by a reader declaration)",
        "the session then answers a PING",
    ],
)
async def accepted(ctx: CaseContext) -> str:
    wire, response = await ctx.session(version=1)
    await pong(ctx, wire, "on the version-1 session")
    declared = (
        "no declaration"
        if response.reader_schemas is None
        else f"a declaration of {len(response.reader_schemas.entries)} event types"
    )
    return f"connected ({declared}); PING answered"


@case(
    "server.v1.handshake.version-0-same-port",
    "A version-0 request on the same port gets a version-0 session",
    area="version-1",
    requirements=["VER-6", "VER-8", "CONN-12"],
    feature=V1,
    reactions=["connected as exactly the byte 10 (no reader declaration)", "a PUBLISH on it is ACKed"],
)
async def version_0_same_port(ctx: CaseContext) -> str:
    server_id = await ctx.learn_server_instance_id()
    wire = await ctx.connect(name="v0")
    await wire.send_frame(ctx.request(server_instance_id=server_id))
    frame = await ctx.recv(wire, "the response to a version-0 request", ctx.prompt() / ctx.scale)
    if frame != b"\x10":
        raise CheckFailed(
            f"{frame.hex()} ({describe_frame(frame, version=1)}) instead of connected (10) in the version-0 layout"
        )
    await ctx.publish_and_expect(wire, 0x123)
    return "connected (10) to a version-0 request on the version-1 port; PUBLISH ACKed"


@case(
    "server.v1.readers.declared",
    "The server declares the schemas it reads, in a well-formed declaration",
    area="version-1",
    requirements=["SNEG-9", "SNEG-1", "CONN-11"],
    feature=V1,
    level=Level.SHOULD,
    reactions=["connected followed by reader_schemas: type_count >= 1, ids and versions strictly ascending"],
)
async def declared(ctx: CaseContext) -> str:
    _wire, response = await ctx.session(version=1)  # the strict decoder already refused a malformed declaration
    if response.reader_schemas is None:
        raise CheckFailed("connected without a reader declaration: a sender cannot know what this server reads")
    pairs = sum(len(v) for _t, v in response.reader_schemas.entries)
    types = ", ".join(f"{t}: {list(v)}" for t, v in response.reader_schemas.entries[:6])
    return f"declares {pairs} (event_type_id, schema_version) pairs ({types}{', ...' if pairs > 6 else ''})"


@case(
    "server.v1.readers.honours-client-declaration",
    "The server sends no event the client did not declare",
    area="version-1",
    requirements=["SNEG-4", "BPUB-8", "SNEG-6"],
    feature=V1,
    reactions=[
        "no PUBLISH or BATCH_PUBLISH of an undeclared schema, although the server has events to send",
        "unsupported without publish_on_connect (the server would have nothing to send)",
    ],
)
async def honours_client_declaration(ctx: CaseContext) -> str:
    if not ctx.profile.has("publish_on_connect"):
        raise Unsupported("needs feature publish_on_connect: a server with nothing to send proves nothing")
    # A pair no server uses: every event the server has for us must be held back (SNEG-6), none sent.
    nothing = ReaderSchemas.from_mapping({(1 << 63) + 12345: [0]})
    wire, _response = await ctx.session(version=1, reader_schemas=nothing)
    window = ctx.t(min(1.0, 0.5 * ctx.profile.keepalive))
    closed, frames = await wire.expect_close(window)
    sent = [f for f in frames if frame_type(f) in (PUBLISH, BATCH_PUBLISH)]
    if sent:
        raise CheckFailed(
            f"sent {describe_frame(sent[0], version=1)} to a client that declared it reads none of its schemas"
        )
    if closed:
        raise CheckFailed("closed the session of a client that declared reader schemas")
    await pong(ctx, wire, "after the quiet window")
    return (
        f"nothing published during {window:.1f} s to a client that reads none of its {ctx.profile.events_on_connect} "
        "new events; the session stays up"
    )


# -- PUBLISH and BATCH_PUBLISH answers -------------------------------------------------------------------------


@case(
    "server.v1.publish.unknown-schema",
    "A PUBLISH of a schema the server cannot read is NACKed unknown_schema",
    area="version-1",
    requirements=["SNEG-8", "BRES-7", "DELIV-12"],
    feature=V1,
    reactions=["NACK with the PUBLISH's message id and machine_message unknown_schema; the session keeps working"],
)
async def publish_unknown_schema(ctx: CaseContext) -> str:
    wire, response = await ctx.session(version=1)
    pair = ctx.unreadable_pair(response)
    await wire.send_frame(ctx.publish_frame(0x2A, event_as(ctx, pair)))
    answer = await ctx.expect_batch_answer(wire, 0x2A, "the NACK of the unreadable event")
    if not isinstance(answer, Nack) or answer.machine_message != UNKNOWN_SCHEMA:
        raise CheckFailed(f"{describe_value(answer)} instead of a NACK with machine_message unknown_schema for {pair}")
    await wire.send_frame(ctx.publish_frame(0x2B, event_as(ctx, readable_pair(response))))
    again = await ctx.expect_batch_answer(wire, 0x2B, "the ACK of a readable event")
    if not isinstance(again, Ack):
        raise CheckFailed(f"{describe_value(again)} instead of an ACK for a readable event after the NACK")
    return f"NACK unknown_schema for (event_type_id, schema_version) {pair}; a readable event was then answered"


@case(
    "server.v1.batch.ack",
    "A batch of readable events is answered by one ACK",
    area="version-1",
    requirements=["BPUB-1", "BPUB-9", "BPUB-10"],
    feature=V1,
    reactions=["exactly one ACK carrying the BATCH_PUBLISH's message id, nothing else for it"],
)
async def batch_ack(ctx: CaseContext) -> str:
    wire, response = await ctx.session(version=1)
    pair = readable_pair(response)
    events = [event_as(ctx, pair) for _ in range(5)]
    await wire.send_frame(batch_frame(0x0B1, events))
    answer = await ctx.expect_batch_answer(wire, 0x0B1)
    if not isinstance(answer, Ack):
        raise CheckFailed(
            f"{describe_value(answer)} instead of an ACK for a batch of {len(events)} readable events {pair}"
        )
    await pong(ctx, wire, "after the ACK (no second answer to the batch)")
    return f"one ACK for a batch of {len(events)} events of {pair}"


@case(
    "server.v1.batch.partial-nack",
    "A batch with unreadable events gets a BATCH_RESULT naming exactly them",
    area="version-1",
    requirements=["SNEG-8", "BRES-1", "BRES-3", "BPUB-10"],
    feature=V1,
    reactions=["one BATCH_RESULT with the batch's message id listing indices 1 and 3, each unknown_schema"],
)
async def batch_partial_nack(ctx: CaseContext) -> str:
    wire, response = await ctx.session(version=1)
    good, bad = readable_pair(response), ctx.unreadable_pair(response)
    events = [
        event_as(ctx, good, "/a"),
        event_as(ctx, bad, "/b"),
        event_as(ctx, good, "/a"),
        event_as(ctx, bad, "/b"),
        event_as(ctx, good, "/a"),
    ]
    await wire.send_frame(batch_frame(0x0B2, events))
    answer = await ctx.expect_batch_answer(wire, 0x0B2)
    if not isinstance(answer, BatchResult):
        raise CheckFailed(
            f"{describe_value(answer)} instead of a BATCH_RESULT for a batch whose events 1 and 3 are {bad}, "
            "which the server cannot read"
        )
    got = [(e.index, e.machine_message) for e in answer.entries]
    if got != [(1, UNKNOWN_SCHEMA), (3, UNKNOWN_SCHEMA)]:
        raise CheckFailed(
            f"BATCH_RESULT entries {[(i, m.decode('utf-8', 'replace')) for i, m in got]} "
            "(expected 1 and 3, unknown_schema)"
        )
    await pong(ctx, wire, "after the BATCH_RESULT")
    return f"BATCH_RESULT: indices 1 and 3 unknown_schema ({bad}); events 0, 2, 4 ({good}) accepted"


@case(
    "server.v1.batch.resent",
    "A batch sent again on a new connection is ACKed again (dedupe, not refusal)",
    area="version-1",
    requirements=["BPUB-9", "BPUB-12", "DELIV-2"],
    feature=V1,
    reactions=["ACK the batch on both connections"],
)
async def batch_resent(ctx: CaseContext) -> str:
    first, response = await ctx.session(version=1, name="first")
    pair = readable_pair(response)
    events = [event_as(ctx, pair) for _ in range(3)]
    await first.send_frame(batch_frame(0x0C1, events))
    answer = await ctx.expect_batch_answer(first, 0x0C1)
    if not isinstance(answer, Ack):
        raise CheckFailed(f"{describe_value(answer)} instead of an ACK for the first sending")
    await first.close()  # as if the ACK had been lost with the connection
    second, _ = await ctx.session(version=1, name="second")
    again = events + [event_as(ctx, pair)]  # the same events, regrouped with a new one, under a new message id
    await second.send_frame(batch_frame(0x0C2, again))
    answer = await ctx.expect_batch_answer(second, 0x0C2)
    if not isinstance(answer, Ack):
        raise CheckFailed(
            f"{describe_value(answer)} instead of an ACK for a batch re-sending 3 stored events with a new one"
        )
    return "the re-sent events (with a new one, new message id) were ACKed again"


METER_READING_V2 = (1, 2)


def meter_readings(ctx: CaseContext, count: int) -> list[Event]:
    """``count`` readings of meter_reading v2 (Avro from the registry) as fresh events of this case, from 17 meters."""
    registry = default_registry()
    events = []
    for i in range(count):
        serial = f"SM5R-{100_000 + 17 * (i % 17):06d}"
        record = {
            "meter_serial": serial,
            "interval_seconds": 900,
            "active_energy_import_wh": 1_000_000 + 997 * i,
            "active_energy_export_wh": 0 if i % 5 else 40_000 + i,
            "voltage_dv": 2200 + i % 250,
            "current_ma": 37 * i,
            "power_factor_permille": 800 + i % 200,
            "frequency_mhz": 49_950 + i % 100,
            "reactive_energy_varh": None if i % 3 else 10_000 + i,
            "phase": "SINGLE",
        }
        event = event_as(ctx, METER_READING_V2, f"/{serial}")
        events.append(dataclasses.replace(event, event_data=registry.encode(*METER_READING_V2, record)))
    return events


@case(
    "server.v1.batch.records",
    "A batch in records mode, of a schema the server declared, is rebuilt and ACKed",
    area="version-1",
    requirements=["RECORD-1", "RECORD-2", "RECORD-3", "RECORD-4", "RECORD-5", "BPUB-10"],
    feature=V1,
    reactions=["one ACK for the batch (its events rebuilt from the columns with the writer schema)"],
)
async def batch_records(ctx: CaseContext) -> str:
    wire, response = await ctx.session(version=1)
    declared = response.reader_schemas
    if declared is None or not declared.can_read(*METER_READING_V2):
        raise Unsupported(
            "records mode needs the server to declare meter_reading v2 (1, 2), the schema this case writes (RECORD-2)"
        )
    events = tuple(meter_readings(ctx, 40))
    # zstd, as a sender picks it for real data (CODEC-5); the transforms are the canonical ones (RECORD-9).
    batch = Batch(events=events, format=BatchFormat(codec=BatchCodec.ZSTD, mode=BatchMode.RECORDS))
    frame = construct_codec.encode_frame(BatchPublish(message_id=0x0D1, batch=batch), version=1, schemas=kit_schemas())
    await wire.send_frame(frame)
    answer = await ctx.expect_batch_answer(wire, 0x0D1, "the answer to a records-mode BATCH_PUBLISH")
    if not isinstance(answer, Ack):
        raise CheckFailed(
            f"{describe_value(answer)} instead of an ACK for a records-mode batch of {len(events)} "
            f"meter readings the server declared it reads"
        )
    await pong(ctx, wire, "after the ACK")
    return f"one ACK for {len(events)} meter readings in records mode with zstd ({len(frame)}-byte frame)"


# -- hostile batches ----------------------------------------------------------------------------------------------


@case(
    "server.v1.batch.too-many-events",
    "A batch of max_batch_events + 1 events is a protocol error",
    area="version-1",
    requirements=["LIMIT-4", "ERR-11", "ERR-10"],
    feature=V1,
    timeout=20,
    reactions=["close the connection without ACK, NACK or BATCH_RESULT"],
)
async def too_many_events(ctx: CaseContext) -> str:
    count = ctx.profile.max_batch_events + 1
    batch = oversized_batch(count)  # built before the session, so the server is not kept waiting
    wire, _response = await ctx.session(version=1)
    frame = bytes([0x20, 0x0D]) + batch
    await wire.send_raw(frame_bytes(frame), describe=f"BATCH_PUBLISH 13: {count} events in {len(batch)} bytes")
    await ctx.expect_closed(wire, f"after a batch of {count} events", version=1)
    return f"closed without answering a batch of {count} events (max_batch_events {ctx.profile.max_batch_events})"


@case(
    "server.v1.batch.malformed",
    "A BATCH_PUBLISH with an unknown batch codec is a protocol error, never NACKed",
    area="version-1",
    requirements=["ERR-11", "BATCH-14", "ERR-10"],
    feature=V1,
    reactions=["close the connection without ACK, NACK or BATCH_RESULT"],
)
async def malformed(ctx: CaseContext) -> str:
    wire, response = await ctx.session(version=1)
    good = batch_frame(0x0E, [event_as(ctx, readable_pair(response))])
    # extended header (bit 7) and a format byte naming codec 3, which is unassigned (unknown_format)
    hostile = good[:2] + bytes([(good[2] | 0x80) & ~0x40, 0x30]) + (good[4:] if good[2] & 0x80 else good[3:])
    await wire.send_frame(hostile)
    await ctx.expect_closed(wire, "after a batch with codec 3", version=1)
    return "closed without answering a batch whose format byte names codec 3"


@case(
    "server.v1.batch.duplicate-message-id",
    "Two BATCH_PUBLISH frames with one message id in one write: closed",
    area="version-1",
    requirements=["ERR-11", "MSGID-4"],
    feature=V1,
    reactions=[
        "close the connection (at most one answer, to the first batch)",
        "or answer both, when the first was answered before the second was read",
    ],
)
async def duplicate_message_id(ctx: CaseContext) -> str:
    wire, response = await ctx.session(version=1)
    pair = readable_pair(response)
    blob = frame_bytes(batch_frame(0x0F0, [event_as(ctx, pair, "/1"), event_as(ctx, pair, "/1")])) + frame_bytes(
        batch_frame(0x0F0, [event_as(ctx, pair, "/2"), event_as(ctx, pair, "/2")])
    )
    await wire.send_raw(blob, describe="two BATCH_PUBLISH 240 in one write")
    closed, frames = await wire.expect_close(ctx.prompt())
    answers = [f for f in frames if frame_type(f) in (ACK, NACK, BATCH_RESULT) and message_id_of(f) == 0x0F0]
    others = [f for f in frames if f not in answers and frame_type(f) not in (PUBLISH, BATCH_PUBLISH, CLOSE)]
    if others:
        raise CheckFailed(f"sent {describe_frame(others[0], version=1)}")
    if closed and len(answers) <= 1:
        return f"closed ({len(answers)} answer to the first batch)"
    if len(answers) == 2:
        return "answered both: the first batch was answered before the second was read"
    raise CheckFailed(
        f"{len(answers)} answer(s) to two batches with one message id, and the connection "
        f"{'closed' if closed else 'stayed open'}"
    )


# -- CLOSE (spec/v1/errors.md#closing-a-connection) --------------------------------------------------------------


@case(
    "server.v1.close.after-malformed",
    "After malformed input on a version-1 connection the server sends CLOSE with the error class, then closes",
    area="version-1",
    requirements=["CLOSE-3", "CLOSE-6"],
    feature=V1,
    reactions=[
        "a CLOSE with error_class unknown_type citing FRAME-7, then the close",
        "a close without CLOSE is reported as such: on the wire it is what a crash looks like (CLOSE-6)",
    ],
)
async def close_after_malformed(ctx: CaseContext) -> str:
    wire, _response = await ctx.session(version=1)
    await wire.send_frame(b"\xa0\x00")  # type 10: not in version 1's registry (FRAME-7)
    await ctx.expect_closed(
        wire, "after a frame of type 10", version=1, silent=("CLOSE-3",), close=("unknown_type", "FRAME-7")
    )
    return "CLOSE unknown_type citing FRAME-7, then closed"


@case(
    "server.v1.close.after-refusal",
    "A refusal of a version-1 request is followed by CLOSE handshake_refused citing the refusal's rule",
    area="version-1",
    requirements=["CLOSE-4", "HS-19"],
    feature=V1,
    reactions=["instance_id_mismatch, then a CLOSE with error_class handshake_refused citing HS-9, then the close"],
)
async def close_after_refusal(ctx: CaseContext) -> str:
    server_id = await ctx.learn_server_instance_id()
    wire = await ctx.connect("main", name="v1-refused")
    await wire.send_frame(ctx.request(server_instance_id=server_id ^ 0x5A5A_5A5A, version=1))
    response = await ctx.recv_response(wire, version=1)
    if response.response is not Response.INSTANCE_ID_MISMATCH:
        raise CheckFailed(f"{response.response.wire_name} (expected instance_id_mismatch)", requirements=("HS-19",))
    await ctx.expect_closed(
        wire,
        "after instance_id_mismatch",
        version=1,
        closes=("HS-19",),
        close=("handshake_refused", "HS-9"),
        close_rules=("CLOSE-4",),
    )
    return "instance_id_mismatch, CLOSE handshake_refused citing HS-9, then closed"
