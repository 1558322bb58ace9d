"""Client mode: publishing, delivery, ping, keepalive and malformed input, the runner playing the server."""

from __future__ import annotations

import asyncio
from functools import partial

from sinkproto import Ack, ConnectionResponse, Limits, Nack, Ping, Publish, Response, decode_frame, encode_frame

from ..client_context import PING, PUBLISH, ClientCaseContext, frame_message_id, frame_type
from ..craft import describe_frame
from ..model import CheckFailed, Level
from ..wire import CLOSED, Wire
from . import case

client_case = partial(case, mode="client")


async def _window(ctx: ClientCaseContext, wire: Wire, seconds: float) -> list[Publish]:
    """PUBLISH frames the client sends during ``seconds``, each ACKed; PINGs answered; the connection may close."""
    got: list[Publish] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        try:
            frame = await wire.recv_frame(remaining)
        except TimeoutError:
            break
        if frame is CLOSED:
            break
        if frame_type(frame) == PING:
            await wire.send_frame(b"\x60\x00")
        elif frame_type(frame) == PUBLISH:
            value = decode_frame(frame, limits=Limits())
            assert isinstance(value, Publish)
            got.append(value)
            await wire.send_frame(encode_frame(Ack(message_id=value.message_id)))
    return got


# -- publishing and delivery ----------------------------------------------------------------------


@client_case(
    "client.publish.after-handshake",
    "The client publishes its events with consecutive message ids",
    area="messaging",
    requirements=["MSGID-1", "MSGID-2", "MSGID-3", "MSGID-7", "PUB-1"],
    feature="client_publish",
    timeout=20,
    reactions=[
        "events_to_publish PUBLISH frames after the response, message ids consecutive (mod 4096); "
        "the session stays usable once they are ACKed"
    ],
)
async def publishes(ctx: ClientCaseContext) -> str:
    wire, _request = await ctx.session()
    got = await ctx.publishes(wire, ctx.profile.client.events_to_publish)
    ids = [p.message_id for p in got]
    for before, after in zip(ids, ids[1:]):
        if after != (before + 1) & 0xFFF:
            raise CheckFailed(f"message ids {ids}: {after} follows {before} (each PUBLISH takes the next id)")
    # MSGID-3: the client matched our ACKs to its in-flight table; an unmatched ACK would have closed it.
    await wire.send_frame(encode_frame(Ping()))
    frame = await ctx.recv(wire, "a PONG after the ACKs")
    if frame_type(frame) != 6:
        raise CheckFailed(f"{describe_frame(frame)} instead of a PONG after its events were ACKed")
    return f"{len(got)} PUBLISH frames, message ids {ids[0]}..{ids[-1]}, all ACKed; the session stays up"


@client_case(
    "client.delivery.resend-after-reconnect",
    "Events left unanswered are published again on the next connection",
    area="delivery",
    requirements=["DELIV-1", "MSGID-13"],
    feature="client_publish",
    timeout=25,
    needs_client_store=True,
    reactions=["each unanswered (event_type_id, key, offset) PUBLISHed again after reconnecting"],
)
async def resend(ctx: ClientCaseContext) -> str:
    wire, _ = await ctx.session("no-ack")
    sent = await ctx.publishes(wire, ctx.profile.client.events_to_publish, answer="none")
    await wire.close()  # never answered: they must come again
    again, _ = await ctx.session("again")
    missing = {p.event.dedupe_key for p in sent}
    while missing:
        frame = await ctx.recv(again, f"{len(missing)} unanswered event(s) again", timeout=5, publishes=True)
        value = decode_frame(frame, limits=Limits())
        if isinstance(value, Publish):
            await again.send_frame(encode_frame(Ack(message_id=value.message_id)))
            missing.discard(value.event.dedupe_key)
    return f"all {len(sent)} unanswered events were published again on the next connection"


@client_case(
    "client.delivery.nacked-not-resent",
    "A NACKed event is not published again",
    area="delivery",
    requirements=["DELIV-11"],
    level=Level.SHOULD,
    feature="client_publish",
    timeout=25,
    needs_client_store=True,
    reactions=["the NACKed event never comes again, on this connection or the next"],
)
async def nacked(ctx: ClientCaseContext) -> str:
    wire, _ = await ctx.session("nack")
    sent = await ctx.publishes(wire, ctx.profile.client.events_to_publish, answer="none")
    refused, *rest = sent
    await wire.send_frame(
        encode_frame(
            Nack(message_id=refused.message_id, machine_message=b"POISON", human_message=b"refused by sink-check")
        )
    )
    for p in rest:
        await wire.send_frame(encode_frame(Ack(message_id=p.message_id)))
    window = min(ctx.t(1.0), 0.6 * ctx.keepalive)
    seen = await _window(ctx, wire, window)
    await wire.close()
    again, _ = await ctx.session("next")
    seen += await _window(ctx, again, window)
    if any(p.event.dedupe_key == refused.event.dedupe_key for p in seen):
        raise CheckFailed(f"the NACKed event {refused.event.dedupe_key} was published again")
    return f"the NACKed event did not come again within {window:.1f} s on each of two connections"


@client_case(
    "client.messaging.acks-server-events",
    "Events the server publishes are each ACKed with their message id",
    area="messaging",
    requirements=["MSGID-8", "ACK-1", "MSGID-2"],
    timeout=15,
    reactions=["one ACK (or NACK) per PUBLISH, carrying its message id (4094, 4095, 0), in any order"],
)
async def acks_server_events(ctx: ClientCaseContext) -> str:
    wire, _ = await ctx.session()
    ids = [4094, 4095, 0]  # the server's ids wrap too (MSGID-2)
    for message_id in ids:
        await wire.send_frame(encode_frame(Publish(message_id=message_id, event=ctx.event())))
    answered: list[int] = []
    while len(answered) < len(ids):
        frame = await ctx.recv(wire, f"the answer to PUBLISH {len(answered) + 1} of {len(ids)}")
        if frame_type(frame) not in (3, 7) or (frame_type(frame) == 3 and len(frame) != 2):
            raise CheckFailed(f"{describe_frame(frame)} while waiting for ACKs of message ids {ids}")
        answered.append(frame_message_id(frame))
    if sorted(answered) != sorted(ids):
        raise CheckFailed(f"answered message ids {answered} for PUBLISH ids {ids}")
    return f"answered {answered}"


@client_case(
    "client.messaging.duplicate-event",
    "An event the server publishes twice is ACKed twice",
    area="messaging",
    requirements=["DELIV-2", "MSGID-8"],
    timeout=15,
    reactions=["ACK both PUBLISH frames (deduplicate, do not refuse)"],
)
async def duplicate(ctx: ClientCaseContext) -> str:
    wire, _ = await ctx.session()
    event = ctx.event()
    for message_id in (10, 11):
        await wire.send_frame(encode_frame(Publish(message_id=message_id, event=event)))
        frame = await ctx.recv(wire, f"the ACK of message id {message_id}")
        if frame != encode_frame(Ack(message_id=message_id)):
            raise CheckFailed(f"{describe_frame(frame)} instead of the ACK of message id {message_id}")
    return "both ACKed"


# -- ping and keepalive ------------------------------------------------------------------------------


async def _pong(ctx: ClientCaseContext, ping: bytes) -> str:
    wire, _ = await ctx.session()
    await wire.send_frame(ping)
    frame = await ctx.recv(wire, "a PONG", ctx.prompt() / ctx.scale)
    if frame != b"\x60\x00":
        raise CheckFailed(f"{frame.hex()} ({describe_frame(frame)}) instead of PONG 6000")
    return "PONG 6000"


@client_case(
    "client.ping.pong",
    "A PING from the server is answered with PONG 60 00",
    area="ping",
    requirements=["PING-1", "FRAME-5"],
    timeout=15,
    reactions=["PONG 60 00"],
)
async def ping_pong(ctx: ClientCaseContext) -> str:
    return await _pong(ctx, b"\x50\x00")


@client_case(
    "client.ping.ignored-bits",
    "A PING whose 12 bits are not zero is still answered",
    area="ping",
    requirements=["FRAME-5", "PING-1"],
    timeout=15,
    reactions=["PONG 60 00"],
)
async def ping_bits(ctx: ClientCaseContext) -> str:
    return await _pong(ctx, b"\x5a\xbc")


def _last_frame_at(ctx: ClientCaseContext, wire: Wire, direction: str | None = None) -> float:
    records = [
        r for r in ctx.log if r.connection == wire.name and r.hex and (direction is None or r.direction == direction)
    ]
    return records[-1].at if records else 0.0


@client_case(
    "client.keepalive.pings-when-idle",
    "The client sends PING after K without traffic",
    area="keepalive",
    requirements=["KEEP-4"],
    slow=True,
    timeout=0.0,
    reactions=["PING once nothing was sent or received for K (at the latest 1.5 K)"],
)
async def pings_when_idle(ctx: ClientCaseContext) -> str:
    wire, _ = await ctx.session()
    k = ctx.keepalive
    while True:
        frame = await ctx.recv(wire, "a PING on an idle connection", timeout=1.5 * k + 0.5, pings=True)
        if frame_type(frame) == PING:
            # idleness: from the frame before the PING (either direction; the client's PUBLISHes were ACKed)
            frames = [r.at for r in ctx.log if r.connection == wire.name and r.hex]
            idle = frames[-1] - frames[-2]
            await wire.send_frame(b"\x60\x00")
            if idle > 1.5 * k + 0.25:
                raise CheckFailed(f"PING after {idle:.2f} s of idleness (K={k} s)")
            return f"PING after {idle:.2f} s of idleness (K={k} s)"


@client_case(
    "client.keepalive.silence-closes",
    "The client closes a connection that stays silent for 1.5 K",
    area="keepalive",
    requirements=["KEEP-5", "KEEP-6"],
    slow=True,
    timeout=0.0,
    reactions=["close between 1.5 K and 2 K after the server's last frame"],
)
async def silence_closes(ctx: ClientCaseContext) -> str:
    wire, _ = await ctx.session()
    k = ctx.keepalive
    quiet_from = _last_frame_at(ctx, wire, "sent")  # the response: from now on the runner answers nothing
    closed, _frames = await wire.expect_close(ctx.t(2.0 * k + 1.0))
    if not closed:
        raise CheckFailed(f"still open after {ctx.t(2 * k + 1):.1f} s without a frame from the server (K={k} s)")
    elapsed = ctx.log[-1].at - quiet_from
    if elapsed < 1.5 * k - 0.05:
        raise CheckFailed(f"closed after {elapsed:.2f} s, before 1.5 K = {1.5 * k:.2f} s")
    return f"closed after {elapsed:.2f} s of silence from the server (1.5 K = {1.5 * k:.2f} s)"


# -- malformed and out-of-place frames ----------------------------------------------------------------


def _malformed(slug: str, title: str, requirements: list[str], build: object) -> None:
    @client_case(
        f"client.malformed.{slug}",
        title,
        area="robustness",
        requirements=["ERR-3", "ERR-4", *requirements],
        timeout=15,
        reactions=["close the connection without answering the frame"],
    )
    async def run(ctx: ClientCaseContext) -> str:
        wire, _ = await ctx.session("hostile")
        await ctx.sleep(0.05)  # let the client's first PUBLISH frames out: they are not answers
        await wire.send_frame(build(ctx))  # type: ignore[operator]
        await ctx.expect_closed(wire, "after a malformed frame", tolerate_traffic=True)
        return "closed without answering"


def _unused_id(ctx: ClientCaseContext) -> int:
    """A message id the client cannot have in flight: far from every id it used."""
    used = [frame_message_id(bytes.fromhex(r.hex)) for r in ctx.log if r.direction == "received" and r.hex[:1] == "4"]
    return ((used[-1] if used else 0) + 2048) & 0xFFF


_malformed("unknown-type-15", "A frame of type 15", ["FRAME-3"], lambda ctx: b"\xf0\x00\x01\x02")
_malformed(
    "publish-trailing-bytes",
    "A PUBLISH with a byte after event_data",
    ["PUB-2"],
    lambda ctx: encode_frame(Publish(message_id=5, event=ctx.event())) + b"\x00",
)
_malformed("ping-trailing-bytes", "A PING of 3 bytes", ["FRAME-4"], lambda ctx: b"\x50\x00\x00")
_malformed(
    "ack-unknown-id",
    "An ACK for a message id the client never used",
    ["MSGID-12", "ERR-6"],
    lambda ctx: encode_frame(Ack(message_id=_unused_id(ctx))),
)
_malformed(
    "nack-unknown-id",
    "A NACK for a message id the client never used",
    ["MSGID-12", "ERR-6"],
    lambda ctx: encode_frame(Nack(message_id=_unused_id(ctx), machine_message=b"x", human_message=b"")),
)
_malformed(
    "second-response",
    "A second connection response on an open session",
    ["ERR-6"],
    lambda ctx: encode_frame(ConnectionResponse(response=Response.CONNECTED)),
)
_malformed("zero-length-frame", "A zero-length frame", ["STREAM-3"], lambda ctx: b"")
