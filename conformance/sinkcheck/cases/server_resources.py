"""Server mode: resource-bound verdicts. Hostile input must be rejected, or the stalled
connection closed, within the profile's ``[limits]``; the time taken is part of the verdict.

``[limits]`` keys (seconds, before ``--scale``): ``reject_within`` (default 5.0) for a frame the
peer can judge as soon as it has it, ``close_silent_within`` (default 1.5 K + max(2, K/2)) for
a frame that never completes, so only the silence timeout (KEEP-5) can end it.
"""

from __future__ import annotations

import time
import zlib

from sinkproto import Limits, Response, construct_codec
from sinkproto.errors import DecodeError
from sinkproto.stream import frame_bytes

from ..context import CaseContext
from ..craft import describe_frame
from ..model import CheckFailed, Unsupported
from ..wire import CLOSED, Wire
from . import case

REJECT_WITHIN = 5.0  # seconds: a peer that has the whole hostile frame can judge it at once
BOMB_EXPANDED = 48 << 20  # zeros behind a ~48 KB gzip member: >1000x, above the 8 MiB default (LIMIT-3)


def limit(ctx: CaseContext, name: str) -> float:
    """A ``[limits]`` entry of the profile, scaled; the defaults follow the spec's timers."""
    defaults = {
        "reject_within": REJECT_WITHIN,
        "close_silent_within": 1.5 * ctx.profile.keepalive + max(2.0, ctx.profile.keepalive / 2),
    }
    return ctx.t(float(ctx.profile.raw.get("limits", {}).get(name, defaults[name])))


async def timed_close(
    ctx: CaseContext, wire: Wire, what: str, limit_name: str, since: float, *, publish_id: int | None = None
) -> str:
    """The peer must close ``wire`` within the limit. Frames it sends meanwhile do not decide the
    verdict, but the explanation says what arrived and when (``publish_id``: the hostile PUBLISH's
    message id, so that its ACK or NACK is named as such); the server's own PUBLISHes are left out."""
    within = limit(ctx, limit_name)
    arrived: list[tuple[float, bytes]] = []
    closed = False
    while True:
        try:
            frame = await wire.recv_frame(max(0.0, since + within - time.monotonic()))
        except TimeoutError:
            break
        if frame is CLOSED:
            closed = True
            break
        if not (frame[:1] and frame[0] >> 4 == 4):  # the server's own events are not a reaction
            arrived.append((time.monotonic() - since, frame))
    took = time.monotonic() - since
    if not closed:
        kept = (
            f"{describe_arrivals(arrived, publish_id)} and kept the connection open"
            if arrived
            else "the server sent nothing and kept the connection open"
        )
        raise CheckFailed(f"{what}: {kept}: still open after {took:.2f} s (limit {limit_name} = {within:.1f} s)")
    before = f"; before closing, {describe_arrivals(arrived, publish_id)}" if arrived else ""
    return f"{what}: closed after {took:.2f} s (limit {limit_name} = {within:.1f} s){before}"


def describe_arrivals(arrived: list[tuple[float, bytes]], publish_id: int | None = None) -> str:
    """ "the server ACKed the PUBLISH (ACK 3003) after 1 ms", one clause per frame, in order."""
    clauses = []
    for at, frame in arrived:
        kind = frame[0] >> 4 if frame else -1
        message_id = int.from_bytes(frame[:2], "big") & 0xFFF if len(frame) >= 2 else None
        when = "within 1 ms" if at < 0.001 else f"after {at * 1000:.0f} ms"
        if kind in (3, 7) and message_id == publish_id:
            verb = "ACKed" if kind == 3 else "NACKed"
            clauses.append(f"the server {verb} the PUBLISH ({'ACK' if kind == 3 else 'NACK'} {frame.hex()}) {when}")
        else:
            clauses.append(f"the server sent {describe_frame(frame)} ({frame.hex()}) {when}")
    return ", then ".join(clauses)


@case(
    "server.resources.length-prefix-silence",
    "A length prefix announcing 65,535 bytes, then silence: closed within close_silent_within",
    area="resources",
    requirements=["LIMIT-1", "KEEP-5", "SEC-4"],
    reactions=["close the stalled connection within [limits] close_silent_within", "keep serving others"],
    timeout=0,
    slow=True,
)
async def prefix_silence(ctx: CaseContext) -> str:
    wire = await ctx.open_session(name="hostile")
    await wire.send_raw(b"\xff\xff" + bytes(10), describe="prefix 0xffff + 10 bytes, then nothing")
    since = time.monotonic()
    verdict = await timed_close(ctx, wire, "the stalled connection", "close_silent_within", since)
    return f"{verdict}; " + await ctx.still_serves()


@case(
    "server.resources.overlong-varint",
    "A PUBLISH with an 11-byte varint is rejected within reject_within",
    area="resources",
    requirements=["CONV-4", "ERR-3"],
    reactions=["close the connection within [limits] reject_within"],
    timeout=0,
)
async def overlong_varint(ctx: CaseContext) -> str:
    wire = await ctx.open_session(name="hostile")
    good = ctx.publish_frame(3, ctx.event())
    await wire.send_frame(b"\x40\x03" + b"\x80" * 10 + b"\x01" + good[3:])
    since = time.monotonic()
    verdict = await timed_close(ctx, wire, "the overlong varint", "reject_within", since, publish_id=3)
    return f"{verdict}; " + await ctx.still_serves()


def gzip_bomb_frame(message_id: int, expanded: int = BOMB_EXPANDED) -> bytes:
    """BATCH_PUBLISH (type 2, FRAME-8) whose batch is a compressed version-0 batch of zeros (BATCH-12)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    body = b"".join(packer.compress(chunk) for _ in range(expanded >> 20)) + packer.flush()
    frame = bytes([0x20 | message_id >> 8, message_id & 0xFF, 0x40]) + body
    if len(frame) > 65535:
        raise RuntimeError(f"the bomb frame has {len(frame)} bytes")
    return frame


@case(
    "server.resources.batch-gzip-bomb",
    "A gzip bomb in a BATCH_PUBLISH is refused within reject_within",
    area="resources",
    requirements=["LIMIT-3"],
    reactions=[
        "close (or answer the batch with a refusal) within [limits] reject_within",
        "unsupported when the server does not speak version 1 (and the profile does not say it does)",
    ],
    timeout=0,
)
async def gzip_bomb(ctx: CaseContext) -> str:
    server_id = await ctx.learn_server_instance_id()
    wire = await ctx.connect(name="v1")
    await wire.send_frame(ctx.request(server_instance_id=server_id, version=1))
    frame = await ctx.recv(wire, "a version-1 connection response", ctx.prompt() / ctx.scale)
    try:
        response = construct_codec.decode_frame(frame, limits=Limits(), version=1)
    except DecodeError as exc:
        raise CheckFailed(f"undecodable answer to a version-1 request: {exc}") from None
    if getattr(response, "response", None) is Response.UNSUPPORTED_PROTOCOL_VERSION:
        if ctx.profile.has("server_v1"):
            raise CheckFailed(
                "unsupported_protocol_version to a version-1 request, although the profile's versions include 1"
            )
        raise Unsupported("the server does not speak protocol version 1: batches do not travel")
    if getattr(response, "response", None) is not Response.CONNECTED:
        raise CheckFailed(f"{frame.hex()} instead of connected to a version-1 request")
    bomb = gzip_bomb_frame(9)
    await wire.send_raw(
        frame_bytes(bomb), describe=f"BATCH_PUBLISH: {len(bomb)}-byte gzip bomb ({BOMB_EXPANDED >> 20} MiB of zeros)"
    )
    since = time.monotonic()
    within = limit(ctx, "reject_within")
    closed, frames = await wire.expect_close(within)
    took = time.monotonic() - since
    refused = [f for f in frames if f[:1] and f[0] >> 4 == 8]  # a BATCH_RESULT: judged, not inflated
    if not closed and not refused:
        sent = (
            f"; it sent {len(frames)} other frames ({', '.join(f.hex()[:16] for f in frames[:5])})"
            if frames
            else "; it sent nothing"
        )
        raise CheckFailed(
            f"the bomb: neither closed nor answered after {took:.2f} s (limit reject_within = {within:.1f} s){sent}"
        )
    return (
        f"the bomb: {'closed' if closed else 'answered'} after {took:.2f} s (limit reject_within = {within:.1f} s); "
        + await ctx.still_serves()
    )
