"""Client mode, protocol version 1 (spec/v1): fallback to version 0, the server's reader declaration, batch answers.

The runner plays a version-0-only server (fallback) or a version-1 server.
Every case needs a client that offers version 1: the profile's ``[client]
versions`` must include 1 (derived feature ``client_v1``), otherwise the cases
are *unsupported*. The batch cases need the client to publish
(``client_publish``) and to send its backlog as a BATCH_PUBLISH (BPUB-7, a
SHOULD); a client that sends single PUBLISH frames makes them *unsupported*.
"""

from __future__ import annotations

import asyncio
import dataclasses
from functools import partial

from sinkproto import (
    Ack,
    ConnectionRequest,
    ConnectionResponse,
    Limits,
    Pong,
    Response,
    construct_codec,
    decode_frame,
    encode_frame,
)
from sinkproto.errors import DecodeError
from sinkproto.messages import BatchPublish, BatchResult, BatchResultEntry, Close, CloseCode, DeclaredLimits
from sinkproto.readers import ReaderSchemas
from sinkproto.stream import frame_bytes

from ..client_context import ClientCaseContext
from ..craft import (
    ACK,
    BATCH_PUBLISH,
    BATCH_RESULT,
    CLOSE,
    NACK,
    PING,
    PUBLISH,
    batch_frame,
    decode_or_fail,
    describe_frame,
    frame_type,
    message_id_of,
)
from ..model import CheckFailed, Unsupported
from ..wire import Wire
from . import case

client_case = partial(case, mode="client", feature="client_v1")

#: A declaration naming a pair no client publishes: everything the client has must be held back (SNEG-4).
READS_NOTHING_OF_YOURS = ReaderSchemas.from_mapping({(1 << 63) + 12345: [0]})


async def first_batch(ctx: ClientCaseContext, wire: Wire) -> BatchPublish:
    """The client's first BATCH_PUBLISH; a PUBLISH first means the client does not batch its backlog."""
    if not ctx.profile.has("client_publish"):
        raise Unsupported("needs feature client_publish: the client must have events to send")
    frame = await ctx.recv(wire, "the client's backlog as a BATCH_PUBLISH", publishes=True, version=1)
    if frame_type(frame) == PUBLISH:
        raise Unsupported("the client sent its backlog as PUBLISH frames, not as a batch (BPUB-7 is a SHOULD)")
    value = decode_or_fail(frame, version=1)
    if not isinstance(value, BatchPublish):
        raise CheckFailed(f"{describe_frame(frame, version=1)} while waiting for the client's events")
    if len(value.batch.events) < 2:
        raise Unsupported(f"the client's batch holds {len(value.batch.events)} event: a partial answer needs two")
    return value


async def quiet_window(ctx: ClientCaseContext, wire: Wire, seconds: float) -> list[object]:
    """What the client publishes during ``seconds`` (PUBLISH and BATCH_PUBLISH ACKed, PING answered)."""
    published: list[object] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + ctx.t(seconds)
    while (remaining := end - loop.time()) > 0:
        try:
            frame = await wire.recv_frame(remaining)
        except TimeoutError:
            break
        if frame is None:
            raise CheckFailed(f"the client closed the connection ({wire.close_reason})")
        kind = frame_type(frame)
        if kind == PING:
            await wire.send_frame(encode_frame(Pong()))
        elif kind in (PUBLISH, BATCH_PUBLISH):
            published.append(decode_or_fail(frame, version=1))
            await wire.send_frame(encode_frame(Ack(message_id=message_id_of(frame))))
        else:
            raise CheckFailed(f"the client sent {describe_frame(frame, version=1)}")
    return published


def events_of(frames: list[object]) -> list[tuple[int, bytes, int, int]]:
    """(event_type_id, key, offset, schema_version) of every event in PUBLISH and BATCH_PUBLISH frames."""
    out = []
    for value in frames:
        events = value.batch.events if isinstance(value, BatchPublish) else (value.event,)  # type: ignore[attr-defined]
        out += [(e.event_type_id, e.key, e.offset, e.schema_version) for e in events]
    return out


@client_case(
    "client.v1.fallback",
    "After unsupported_protocol_version to version 1, the client offers version 0",
    area="version-1",
    requirements=["VER-1", "VER-2", "CONN-10", "HS-15"],
    timeout=20,
    reactions=[
        "a version-1 request first; after 14 it closes without sending anything",
        "its next connection offers version 0 (a version-0 request)",
    ],
)
async def fallback(ctx: ClientCaseContext) -> str:
    wire = await ctx.accept("v1-offer")
    offer = await ctx.read_request(wire, version=1)
    await wire.send_frame(encode_frame(ConnectionResponse(response=Response.UNSUPPORTED_PROTOCOL_VERSION)))
    await ctx.expect_closed(wire, "after unsupported_protocol_version")
    again = await ctx.accept("fallback")
    frame = await ctx.recv(again, "the next connection request", ctx.prompt() / ctx.scale, publishes=True, pings=True)
    if frame[:1] != b"\x00":
        raise CheckFailed(
            f"after unsupported_protocol_version the client offered again {describe_frame(frame, version=1)} "
            "instead of version 0 (VER-2)"
        )
    try:
        request = decode_frame(frame, limits=Limits())
    except DecodeError as exc:
        raise CheckFailed(f"undecodable version-0 request {frame.hex()}: {exc.error_class}") from None
    if not isinstance(request, ConnectionRequest):
        raise CheckFailed(f"{describe_frame(frame, version=1)} instead of a connection request")
    await ctx.respond(again, ctx.welcome(request))
    if request.client_instance_id != offer.client_instance_id:
        raise CheckFailed(
            f"client_instance_id changed from {offer.client_instance_id:#010x} to "
            f"{request.client_instance_id:#010x} between the two offers"
        )
    return "offered 1, closed after 14, then offered 0 with the same instance ids"


@client_case(
    "client.v1.honours-declaration",
    "The client sends no event of a schema the server did not declare",
    area="version-1",
    requirements=["SNEG-4", "BPUB-8", "SNEG-6"],
    timeout=25,
    reactions=[
        "no PUBLISH or BATCH_PUBLISH while the server declares none of the client's schemas",
        "the held-back events are sent on a later connection whose server declares nothing",
    ],
)
async def honours_declaration(ctx: ClientCaseContext) -> str:
    if not ctx.profile.has("client_publish"):
        raise Unsupported("needs feature client_publish: a client with nothing to send proves nothing")
    wire, _request = await ctx.session("declared", version=1, reader_schemas=READS_NOTHING_OF_YOURS)
    window = min(1.0, 0.6 * ctx.keepalive)
    sent = await quiet_window(ctx, wire, window)
    if sent:
        first = events_of(sent)[0]
        raise CheckFailed(
            f"sent an event of (event_type_id, schema_version) ({first[0]}, {first[3]}) to a server "
            "whose declaration does not list it"
        )
    await wire.close()
    again, _ = await ctx.session("undeclared", version=1)  # no declaration: anything may be sent (SNEG-5)
    frame = await ctx.recv(
        again, "the held-back events, now that the server declares nothing", publishes=True, version=1
    )
    value = decode_or_fail(frame, version=1)
    if not isinstance(value, BatchPublish) and frame_type(frame) != PUBLISH:
        raise CheckFailed(f"{describe_frame(frame, version=1)} instead of the held-back events")
    await again.send_frame(encode_frame(Ack(message_id=message_id_of(frame))))
    return f"nothing sent during {ctx.t(window):.1f} s under the declaration; then {describe_frame(frame, version=1)} without one"


@client_case(
    "client.v1.batch-result",
    "After a BATCH_RESULT, neither the NACKed nor the accepted events are sent again",
    area="version-1",
    requirements=["BRES-6", "DELIV-11", "BRES-3"],
    timeout=25,
    needs_client_store=True,
    reactions=["on the next connection, no event of the answered batch is published again"],
)
async def batch_result(ctx: ClientCaseContext) -> str:
    wire, _request = await ctx.session("batch", version=1)
    batch = await first_batch(ctx, wire)
    result = BatchResult(
        message_id=batch.message_id,
        entries=(BatchResultEntry(index=1, machine_message=b"rejected", human_message=b"refused by sink-check"),),
    )
    await wire.send_frame(construct_codec.encode_frame(result, version=1))
    await ctx.sleep(0.3)  # let it record the answer before the connection goes
    await wire.close()
    again, _ = await ctx.session("after", version=1)
    answered = {(e.event_type_id, e.key, e.offset) for e in batch.batch.events}
    sent = events_of(await quiet_window(ctx, again, min(1.0, 0.6 * ctx.keepalive)))
    repeated = [e for e in sent if e[:3] in answered]
    if repeated:
        nacked = batch.batch.events[1]
        which = (
            "the NACKed event"
            if repeated[0][:3] == (nacked.event_type_id, nacked.key, nacked.offset)
            else "an accepted event"
        )
        raise CheckFailed(f"published {which} (offset {repeated[0][2]}) of the answered batch again")
    return (
        f"a batch of {len(batch.batch.events)} events answered with index 1 NACKed: nothing of it sent again "
        f"({len(sent)} other events)"
    )


@client_case(
    "client.v1.batch-result-bad-index",
    "A BATCH_RESULT naming an index beyond the batch is a protocol error",
    area="version-1",
    requirements=["BRES-5", "ERR-11"],
    timeout=20,
    reactions=["close the connection (its own PUBLISH, BATCH_PUBLISH or PING frames sent before are ignored)"],
)
async def batch_result_bad_index(ctx: ClientCaseContext) -> str:
    wire, _request = await ctx.session("bad-index", version=1)
    batch = await first_batch(ctx, wire)
    count = len(batch.batch.events)
    result = BatchResult(
        message_id=batch.message_id, entries=(BatchResultEntry(index=count, machine_message=b"rejected"),)
    )
    await wire.send_frame(construct_codec.encode_frame(result, version=1))
    closed, frames = await wire.expect_close(ctx.prompt())
    others = [f for f in frames if frame_type(f) not in (PUBLISH, BATCH_PUBLISH, PING, CLOSE)]  # CLOSE-3
    if others:
        raise CheckFailed(f"answered with {describe_frame(others[0], version=1)} instead of closing")
    if not closed:
        raise CheckFailed(
            f"still open {ctx.prompt():.1f} s after a BATCH_RESULT naming index {count} of a batch of {count} events"
        )
    return f"closed after a BATCH_RESULT naming index {count} of a {count}-event batch"


@client_case(
    "client.v1.batch-answered",
    "A BATCH_PUBLISH from the server is answered by one ACK",
    area="version-1",
    requirements=["BPUB-9", "BPUB-10", "BPUB-2"],
    timeout=20,
    reactions=[
        "exactly one ACK carrying the batch's message id (the client accepts every event)",
        "or one BATCH_RESULT / NACK with that id when it refuses events; nothing else for it",
    ],
)
async def batch_answered(ctx: ClientCaseContext) -> str:
    wire, _request = await ctx.session("server-batch", version=1)
    events = [ctx.event() for _ in range(3)]
    await wire.send_frame(batch_frame(0x7B1, events))
    while True:
        frame = await ctx.recv(wire, "the answer to the runner's BATCH_PUBLISH 1969", version=1)
        kind = frame_type(frame)
        if kind in (ACK, NACK, BATCH_RESULT):
            break
        raise CheckFailed(f"{describe_frame(frame, version=1)} while waiting for the answer to BATCH_PUBLISH 1969")
    if message_id_of(frame) != 0x7B1:
        raise CheckFailed(f"{describe_frame(frame, version=1)} instead of the answer to BATCH_PUBLISH 1969")
    answers = [
        f
        for f in await _frames_within(ctx, wire, 0.3)
        if frame_type(f) in (ACK, NACK, BATCH_RESULT) and message_id_of(f) == 0x7B1
    ]
    if answers:
        raise CheckFailed(
            f"answered BATCH_PUBLISH 1969 twice: {describe_frame(frame, version=1)}, then {describe_frame(answers[0], version=1)}"
        )
    return f"{describe_frame(frame, version=1)} for a batch of {len(events)} events"


async def _frames_within(ctx: ClientCaseContext, wire: Wire, seconds: float) -> list[bytes]:
    """Frames other than PING, PUBLISH and BATCH_PUBLISH (answered) that arrive within ``seconds``."""
    got: list[bytes] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + ctx.t(seconds)
    while (remaining := end - loop.time()) > 0:
        try:
            frame = await ctx.recv(wire, "nothing", remaining / ctx.scale, version=1)
        except CheckFailed:
            break
        got.append(frame)
    return got


#: CLOSE-9: the retry_after the runner's CLOSE says; shorter than the profile's reconnect_wait (3 s by default)
RETRY_AFTER = 1


@client_case(
    "client.v1.close.retry-after",
    "After a refusal whose CLOSE says retry_after, the client waits that long before reconnecting",
    area="version-1",
    requirements=["CLOSE-9", "CLOSE-10"],
    timeout=20,
    reactions=[
        f"quarantined and a CLOSE handshake_refused with retry_after {RETRY_AFTER} s: the client closes, "
        "sending nothing",
        f"its next connection comes {RETRY_AFTER} s after the CLOSE or later, not on its first backoff step (50 ms)",
    ],
)
async def retry_after(ctx: ClientCaseContext) -> str:
    wire = await ctx.accept("refused")
    await ctx.read_request(wire, version=1)
    refusal = ConnectionResponse(
        response=Response.QUARANTINED, machine_message=b"QUARANTINED", human_message=b"quarantined by sink-check"
    )
    close = Close(
        error_class=CloseCode.HANDSHAKE_REFUSED,
        requirement=b"HS-18",
        retry_after=RETRY_AFTER,
        human_message=b"sink-check: come back later",
    )
    # CLOSE-4: the response and the CLOSE in one write, as a server sends them
    both = frame_bytes(encode_frame(refusal, version=1)) + frame_bytes(encode_frame(close, version=1))
    await wire.send_raw(both, describe=f"quarantined, then CLOSE handshake_refused retry_after={RETRY_AFTER}")
    sent_at = asyncio.get_running_loop().time()
    try:
        await ctx.expect_closed(wire, "after quarantined and CLOSE")
    except CheckFailed as exc:
        raise CheckFailed(exc.observed, requirements=("CLOSE-10",)) from None
    ctx.meets("CLOSE-10")
    again = await ctx.accept("after-retry-after")  # its own reconnect, or a restart after reconnect_wait
    waited = asyncio.get_running_loop().time() - sent_at
    if waited < RETRY_AFTER:
        raise CheckFailed(
            f"reconnected {waited:.3f} s after a CLOSE saying retry_after {RETRY_AFTER} s (CLOSE-9)",
            requirements=("CLOSE-9",),
        )
    await again.close()
    return f"reconnected {waited:.2f} s after a CLOSE saying retry_after {RETRY_AFTER} s"


#: DECL-4: what the runner-as-server declares: one event per batch, so a client's backlog must go one by one
ONE_EVENT_PER_BATCH = DeclaredLimits(max_batch_events=1)


@client_case(
    "client.v1.honours-declared-limits",
    "The client honours the server's declared limits: no batch above its max_batch_events",
    area="version-1",
    requirements=["DECL-4"],
    timeout=20,
    reactions=[
        "the server declares max_batch_events 1: the client's backlog goes as PUBLISH frames (or batches of one)",
    ],
)
async def honours_declared_limits(ctx: ClientCaseContext) -> str:
    if not ctx.profile.has("client_publish"):
        raise Unsupported("needs feature client_publish: a client with nothing to send proves nothing")
    wire = await ctx.accept("declared-limits")
    request = await ctx.read_request(wire, version=1)
    response = dataclasses.replace(ctx.welcome(request), declared_limits=ONE_EVENT_PER_BATCH)
    await ctx.respond(wire, response, version=1)
    sent = await quiet_window(ctx, wire, min(1.0, 0.6 * ctx.keepalive))
    for value in sent:
        if isinstance(value, BatchPublish) and len(value.batch.events) > 1:
            raise CheckFailed(
                f"a BATCH_PUBLISH of {len(value.batch.events)} events to a server that declared max_batch_events 1"
            )
    count = len(events_of(sent))
    if count < 2:
        raise Unsupported(f"the client sent {count} event(s): a batch limit needs two to matter")
    return f"{count} events in {len(sent)} frames, none a batch above the declared max_batch_events 1"
