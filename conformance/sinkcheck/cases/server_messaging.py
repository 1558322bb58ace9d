"""Server mode: publish, ACK, NACK, message ids, delivery, ping, keepalive, replacement."""

from __future__ import annotations

from sinkproto import Ack, Limits, Ping, Publish, decode_frame, encode_frame

from ..context import CaseContext
from ..craft import describe_frame
from ..model import CheckFailed, Level
from . import case


@case(
    "server.publish.ack",
    "A PUBLISH is ACKed with its message id",
    area="messaging",
    requirements=["MSGID-8", "ACK-1", "PUB-1"],
    reactions=["ACK carrying the PUBLISH's message id"],
)
async def publish_ack(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    frame = await ctx.publish_and_expect(wire, 0x31A)
    return f"ACK {frame.hex()}"


@case(
    "server.publish.pipelined",
    "Fifty PUBLISH frames in flight are each answered once",
    area="messaging",
    requirements=["MSGID-8", "MSGID-10", "MSGID-11"],
    reactions=["one ACK per message id, in any order"],
)
async def pipelined(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    ids = list(range(100, 150))
    for message_id in ids:
        await wire.send_frame(ctx.publish_frame(message_id, ctx.event()))
    answered: list[int] = []
    while len(answered) < len(ids):
        frame = await ctx.recv(wire, f"ACK {len(answered) + 1} of {len(ids)}")
        if frame[0] >> 4 != 3:
            raise CheckFailed(f"{describe_frame(frame)} while expecting ACKs")
        answered.append(int.from_bytes(frame[:2], "big") & 0xFFF)
    if sorted(answered) != ids:
        raise CheckFailed(f"ACKed ids {sorted(answered)} for published {ids}")
    return f"{len(ids)} ACKs, {'in order' if answered == ids else 'out of order'}"


@case(
    "server.publish.poison-nack",
    "A poison event is NACKed and the connection stays usable",
    area="messaging",
    requirements=["DELIV-12", "NACK-1", "NACK-2"],
    level=Level.SHOULD,
    feature="poison_nack",
    reactions=["NACK with the PUBLISH's message id and a machine_message; the session keeps working"],
)
async def poison(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    event = ctx.event(key=ctx.profile.poison_key_prefix + f"/{ctx.state.run_tag}".encode())
    frame = await ctx.publish_and_expect(wire, 7, event, nack=True)
    await ctx.publish_and_expect(wire, 8)
    return f"NACK {describe_frame(frame)}, then a normal publish was ACKed"


@case(
    "server.publish.message-id-wrap",
    "Message ids that wrap from 4095 to 0 are ACKed",
    area="messaging",
    requirements=["MSGID-2", "FRAME-2", "MSGID-11"],
    reactions=["an ACK for each id, 4090..4095 then 0..5"],
)
async def wrap(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    ids = [*range(4090, 4096), *range(6)]
    for message_id in ids:
        await ctx.publish_and_expect(wire, message_id)
    return "ACKed 4090..4095, 0..5"


@case(
    "server.publish.duplicate-event",
    "An event published again is ACKed again (dedupe, not refusal)",
    area="delivery",
    requirements=["DELIV-2"],
    reactions=["ACK both PUBLISH frames"],
)
async def duplicate(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    event = ctx.event()
    await ctx.publish_and_expect(wire, 20, event)
    await ctx.publish_and_expect(wire, 21, event)
    return "both ACKed"


@case(
    "server.publish.redelivered-after-reconnect",
    "An event re-sent on a new connection is ACKed",
    area="delivery",
    requirements=["DELIV-1", "DELIV-2", "MSGID-13"],
    reactions=["ACK the re-sent PUBLISH on the new connection"],
)
async def redelivered(ctx: CaseContext) -> str:
    event = ctx.event()
    first = await ctx.open_session(name="first")
    await first.send_frame(ctx.publish_frame(1, event))
    await first.close()  # gone before (or while) the ACK travels
    second = await ctx.open_session(name="second")
    await ctx.publish_and_expect(second, 2, event)
    return "the re-sent event was ACKed"


@case(
    "server.delivery.publish-on-connect",
    "The server publishes its pending events after the handshake",
    area="delivery",
    requirements=["MSGID-7", "MSGID-1", "PUB-1"],
    feature="publish_on_connect",
    reactions=["events_on_connect PUBLISH frames with distinct message ids"],
)
async def publish_on_connect(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    want = ctx.profile.events_on_connect
    seen: set[tuple[int, bytes, int]] = set()
    ids: set[int] = set()
    while len(seen) < want:
        frame = await ctx.recv(wire, f"PUBLISH {len(seen) + 1} of {want}", timeout=10, publishes=True)
        value = decode_frame(frame, limits=Limits())
        if not isinstance(value, Publish):
            raise CheckFailed(f"{describe_frame(frame)} while waiting for the server's events")
        if value.message_id in ids:
            raise CheckFailed(f"message id {value.message_id} used twice while in flight")
        ids.add(value.message_id)
        seen.add(value.event.dedupe_key)
        await wire.send_frame(encode_frame(Ack(message_id=value.message_id)))
    return f"{want} events received and ACKed"


@case(
    "server.delivery.redelivery",
    "Events not ACKed are published again on the next connection",
    area="delivery",
    requirements=["DELIV-1", "MSGID-13"],
    feature="publish_on_connect",
    reactions=["the same (event_type_id, key, offset) PUBLISHed again after reconnecting"],
)
async def redelivery(ctx: CaseContext) -> str:
    wire = await ctx.open_session(name="no-ack")
    frame = await ctx.recv(wire, "a PUBLISH from the server", timeout=10, publishes=True)
    value = decode_frame(frame, limits=Limits())
    if not isinstance(value, Publish):
        raise CheckFailed(f"{describe_frame(frame)} instead of a PUBLISH")
    await wire.close()  # never ACKed
    again = await ctx.open_session(name="again")
    while True:
        frame = await ctx.recv(again, "the same event again", timeout=10, publishes=True)
        other = decode_frame(frame, limits=Limits())
        if isinstance(other, Publish):
            await again.send_frame(encode_frame(Ack(message_id=other.message_id)))
            if other.event.dedupe_key == value.event.dedupe_key:
                return "the unACKed event came again on the next connection"


@case(
    "server.ping.pong",
    "A PING is answered with PONG 60 00",
    area="ping",
    requirements=["PING-1", "FRAME-5"],
    reactions=["PONG 60 00"],
)
async def ping_pong(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    await wire.send_frame(encode_frame(Ping()))
    frame = await ctx.recv(wire, "a PONG")
    if frame != b"\x60\x00":
        raise CheckFailed(f"{frame.hex()} ({describe_frame(frame)}) instead of 6000")
    return "PONG 6000"


@case(
    "server.ping.ignored-bits",
    "A PING whose 12 bits are not zero is still answered",
    area="ping",
    requirements=["FRAME-5", "PING-1"],
    reactions=["PONG"],
)
async def ping_bits(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    await wire.send_frame(b"\x5a\xbc")
    frame = await ctx.recv(wire, "a PONG")
    if frame[0] >> 4 != 6:
        raise CheckFailed(f"{describe_frame(frame)} instead of a PONG")
    return f"PONG {frame.hex()}"


@case(
    "server.keepalive.never-pings",
    "The server sends no PING to an idle client",
    area="keepalive",
    requirements=["KEEP-3"],
    slow=True,
    timeout=0.0,
    reactions=["no PING during K + K/2 of idleness"],
)
async def never_pings(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    k = ctx.profile.keepalive
    closed, frames = await wire.expect_close(ctx.t(1.2 * k))
    pings = [f for f in frames if f[:1] and f[0] >> 4 == 5]
    if pings:
        raise CheckFailed(f"the server sent PING {pings[0].hex()} to an idle client")
    return "no PING while idle"


@case(
    "server.keepalive.silence-closes",
    "A silent client is disconnected after 1.5 K",
    area="keepalive",
    requirements=["KEEP-5", "KEEP-6"],
    slow=True,
    timeout=0.0,
    reactions=["close between 1.5 K and 2 K after the last frame"],
)
async def silence(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    k = ctx.profile.keepalive
    loop_start = ctx.log[-1].at if ctx.log else 0.0
    closed, _frames = await wire.expect_close(ctx.t(2.0 * k + 1.0))
    if not closed:
        raise CheckFailed(f"still open after {ctx.t(2 * k + 1):.1f} s of silence (K={k} s)")
    elapsed = ctx.log[-1].at - loop_start
    if elapsed < 1.5 * k - 0.05:
        raise CheckFailed(f"closed after {elapsed:.2f} s, before 1.5 K = {1.5 * k:.2f} s")
    return f"closed after {elapsed:.2f} s of silence (1.5 K = {1.5 * k:.2f} s)"


@case(
    "server.connection.second-replaces-first",
    "A new connection of the same client closes the older one",
    area="connection",
    requirements=["DELIV-10"],
    reactions=["close the first connection once the second is connected"],
)
async def replaces(ctx: CaseContext) -> str:
    first = await ctx.open_session(name="first")
    second = await ctx.open_session(name="second")
    await ctx.expect_closed(first, "the first connection")
    await ctx.publish_and_expect(second, 1)
    return "the first connection was closed; the second works"
