"""Server mode: framing, robustness against malformed input, TLS."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from sinkproto import Ack, ConnectionResponse, Nack, Ping, Response, encode_frame
from sinkproto.stream import frame_bytes

from ..context import CaseContext
from ..craft import describe_frame
from ..model import CheckFailed, Level, Unsupported
from . import case

# -- framing ------------------------------------------------------------------------------------


@case(
    "server.framing.byte-by-byte",
    "A request and a PUBLISH written one byte at a time",
    area="framing",
    requirements=["STREAM-4", "STREAM-1"],
    reactions=["the response, then the ACK"],
)
async def byte_by_byte(ctx: CaseContext) -> str:
    server_id = await ctx.learn_server_instance_id()
    wire = await ctx.connect()
    for byte in frame_bytes(ctx.request(server_instance_id=server_id)):
        await wire.send_raw(bytes([byte]), describe="1 byte")
        await asyncio.sleep(0.003)  # so the bytes arrive in separate reads, not coalesced by TCP
    response = await ctx.recv_response(wire)
    if response.response is not Response.CONNECTED:
        raise CheckFailed(f"{response.response.wire_name} instead of connected")
    for byte in frame_bytes(ctx.publish_frame(77, ctx.event())):
        await wire.send_raw(bytes([byte]), describe="1 byte")
        await asyncio.sleep(0.003)
    await ctx.expect_answer(wire, 77)
    return "connected and ACKed from single-byte writes"


@case(
    "server.framing.coalesced",
    "Twenty PUBLISH frames and a PING in one write",
    area="framing",
    requirements=["STREAM-4"],
    reactions=["twenty ACKs and a PONG"],
)
async def coalesced(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    blob = b"".join(frame_bytes(ctx.publish_frame(i, ctx.event())) for i in range(20)) + frame_bytes(
        encode_frame(Ping())
    )
    await wire.send_raw(blob, describe="20 PUBLISH + PING in one write")
    acks: set[int] = set()
    pong = False
    while len(acks) < 20 or not pong:
        frame = await ctx.recv(wire, "ACKs and a PONG")
        if frame[0] >> 4 == 3:
            acks.add(int.from_bytes(frame[:2], "big") & 0xFFF)
        elif frame[0] >> 4 == 6:
            pong = True
    if acks != set(range(20)):
        raise CheckFailed(f"ACKs for {sorted(acks)}")
    return "20 ACKs and a PONG"


@case(
    "server.framing.stall-mid-frame",
    "A PUBLISH split by a pause (K/2, at most 2 s) is still ACKed",
    area="framing",
    requirements=["STREAM-4"],
    reactions=["the ACK after the rest of the frame arrives"],
)
async def stall(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    data = frame_bytes(ctx.publish_frame(5, ctx.event()))
    await wire.send_raw(data[:7], describe="first 7 bytes of a PUBLISH")
    await ctx.sleep(min(2.0, ctx.profile.keepalive / 2))  # within the peer's patience (KEEP-5)
    await wire.send_raw(data[7:], describe="the rest of the PUBLISH")
    await ctx.expect_answer(wire, 5)
    return "ACKed after the stall"


@case(
    "server.framing.frame-65535",
    "A PUBLISH frame of exactly 65,535 bytes",
    area="framing",
    requirements=["STREAM-2", "LIMIT-1"],
    feature="frame_65535",
    reactions=["ACK"],
)
async def biggest(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    small = ctx.publish_frame(6, ctx.event(data=b""))
    pad = 65535 - len(small) - 2  # the data length varint grows from 1 to 3 bytes
    event = ctx.event(data=bytes(pad))
    frame = ctx.publish_frame(6, event)
    if len(frame) != 65535:
        raise RuntimeError(f"built a frame of {len(frame)} bytes")
    await wire.send_frame(frame)
    await ctx.expect_answer(wire, 6, timeout=10)
    return "ACKed a 65,535-byte frame"


# -- robustness --------------------------------------------------------------------------------

HOSTILE_REACTIONS = ("close the connection without answering the frame", "keep serving a second connection")


def _malformed(
    case_id: str,
    title: str,
    requirements: list[str],
    build: Callable[[CaseContext], bytes | tuple[bytes, str]],
    *,
    settle: bool = False,
) -> None:
    @case(
        f"server.malformed.{case_id}",
        title,
        area="robustness",
        requirements=["ERR-3", "ERR-5", *requirements],
        reactions=HOSTILE_REACTIONS,
    )
    async def run(ctx: CaseContext) -> str:
        wire = await ctx.open_session(name="hostile")
        if settle:
            # A server may publish its own events right after the handshake, under message ids of its own
            # random choosing (MSGID-1). A PING/PONG first lets them arrive (recv ACKs them), so that the
            # answer built below names an id the server cannot have in flight: a fixed id once named, by
            # chance, the server's own in-flight PUBLISH, and the server rightly kept the connection open.
            await wire.send_frame(encode_frame(Ping()))
            pong = await ctx.recv(wire, "a PONG")
            if pong[0] >> 4 != 6:
                raise CheckFailed(f"{describe_frame(pong)} instead of a PONG", requirements=("PING-1",))
        payload = build(ctx)
        if isinstance(payload, tuple):
            await wire.send_raw(payload[0], describe=payload[1])
        else:
            await wire.send_frame(payload)
        rules = ("ERR-3", *requirements)  # what the close without an answer is about; ERR-5 is the rest
        await ctx.expect_closed(wire, "after a malformed frame", silent=rules, closes=rules)
        try:
            healthy = await ctx.still_serves()
        except CheckFailed as exc:
            raise CheckFailed(f"closed the hostile connection, then: {exc.observed}", requirements=("ERR-5",)) from None
        return "closed without answering; " + healthy


def _unused_id(ctx: CaseContext) -> int:
    """A message id the server cannot have in flight: far from every id its PUBLISHes and batches used."""
    used = [int(r.hex[:4], 16) & 0xFFF for r in ctx.log if r.direction == "received" and r.hex[:1] in "42"]
    return ((used[-1] if used else 0) + 2048) & 0xFFF


def _publish_bytes(ctx: CaseContext) -> bytes:
    return ctx.publish_frame(3, ctx.event())


_malformed(
    "publish-truncated", "A PUBLISH whose payload ends early", ["PUB-1", "CONV-6"], lambda ctx: _publish_bytes(ctx)[:-2]
)
_malformed(
    "publish-trailing-bytes",
    "A PUBLISH with a byte after event_data",
    ["PUB-2"],
    lambda ctx: _publish_bytes(ctx) + b"\x00",
)
_malformed(
    "overlong-varint",
    "A PUBLISH whose event_type_id is an 11-byte varint",
    ["CONV-4"],
    lambda ctx: b"\x40\x03" + b"\x80" * 10 + b"\x01" + _publish_bytes(ctx)[3:],
)
_malformed(
    "varint-overflow",
    "A PUBLISH whose event_type_id is 2^64",
    ["CONV-5"],
    lambda ctx: b"\x40\x03" + b"\x80" * 9 + b"\x02" + _publish_bytes(ctx)[3:],
)
_malformed("ping-trailing-bytes", "A PING of 3 bytes", ["FRAME-4"], lambda ctx: b"\x50\x00\x00")
_malformed("ack-one-byte", "An ACK of 1 byte", ["FRAME-4"], lambda ctx: b"\x30")
_malformed("unknown-type-2", "A frame of reserved type 2", ["FRAME-3"], lambda ctx: b"\x20\x00")
_malformed("unknown-type-15", "A frame of type 15", ["FRAME-3"], lambda ctx: b"\xf0\x00\x01\x02")
_malformed("zero-length-frame", "A zero-length frame", ["STREAM-3"], lambda ctx: b"")
_malformed(
    "ack-unknown-id",
    "An ACK for a message id the server never used",
    ["MSGID-12", "ERR-6"],
    lambda ctx: encode_frame(Ack(message_id=_unused_id(ctx))),
    settle=True,
)
_malformed(
    "nack-unknown-id",
    "A NACK for a message id the server never used",
    ["MSGID-12", "ERR-6"],
    lambda ctx: encode_frame(Nack(message_id=_unused_id(ctx), machine_message=b"x", human_message=b"")),
    settle=True,
)
_malformed(
    "response-from-client",
    "A connection response sent by the client",
    ["ERR-6"],
    lambda ctx: encode_frame(ConnectionResponse(response=Response.CONNECTED)),
)
_malformed("nack-without-payload", "A NACK frame with no machine_message chunk", ["NACK-1"], lambda ctx: b"\x70\x01")


@case(
    "server.hostile.length-prefix-stall",
    "A length prefix announcing 65,535 bytes, then silence",
    area="robustness",
    requirements=["LIMIT-1", "ERR-5", "SEC-4"],
    reactions=["keep waiting or close; keep serving a second connection meanwhile"],
)
async def hostile_prefix(ctx: CaseContext) -> str:
    wire = await ctx.open_session(name="hostile")
    await wire.send_raw(b"\xff\xff" + bytes(10), describe="prefix 0xffff + 10 bytes, then nothing")
    healthy = await ctx.still_serves()
    return "the stalled connection did not disturb others; " + healthy


# -- TLS ------------------------------------------------------------------------------------


async def _tls_refused(
    ctx: CaseContext, identity: str | None, *, tls: bool = True, version: ssl.TLSVersion | None = None
) -> str:
    try:
        wire = await ctx.connect(identity, tls=tls, version=version, name="tls")
    except (ssl.SSLError, CheckFailed) as exc:
        return f"refused during the TLS handshake ({exc})"
    await wire.send_frame(ctx.request())
    try:
        frame = await wire.recv_frame(ctx.t(5))
    except TimeoutError:
        raise CheckFailed("the connection stayed open and silent instead of being refused") from None
    if frame is not None:
        raise CheckFailed(f"the server answered a Sink frame: {frame.hex()}")
    return f"closed before any Sink frame ({wire.close_reason})"


@case(
    "server.tls.no-client-certificate",
    "A TLS client without a certificate is refused",
    area="tls",
    requirements=["TRANS-3"],
    reactions=["abort the TLS handshake (certificate_required) or close before any frame"],
)
async def no_cert(ctx: CaseContext) -> str:
    return await _tls_refused(ctx, None)


@case(
    "server.tls.other-ca",
    "A client certificate from another CA is refused",
    area="tls",
    requirements=["TRANS-3"],
    reactions=["abort the TLS handshake (unknown_ca) or close before any frame"],
)
async def other_ca(ctx: CaseContext) -> str:
    if ctx.profile.identity("other_ca") is None:
        raise Unsupported("the profile has no other_ca identity")
    return await _tls_refused(ctx, "other_ca")


@case(
    "server.tls.plaintext",
    "A connection request over plain TCP is refused",
    area="tls",
    requirements=["TRANS-2"],
    reactions=["no Sink frame; close the connection"],
)
async def plaintext(ctx: CaseContext) -> str:
    return await _tls_refused(ctx, "main", tls=False)


@case(
    "server.tls.tls12",
    "TLS 1.2 is accepted",
    area="tls",
    requirements=["TRANS-1"],
    level=Level.MAY,
    reactions=["a completed handshake over TLS 1.2 (a TLS 1.3-only server is also conforming)"],
)
async def tls12(ctx: CaseContext) -> str:
    wire = await ctx.connect("main", version=ssl.TLSVersion.TLSv1_2, name="tls12")
    await wire.send_frame(ctx.request(server_instance_id=await ctx.learn_server_instance_id()))
    response = await ctx.recv_response(wire)
    return f"{response.response.wire_name} over TLS 1.2"


@case(
    "server.tls.tls13",
    "TLS 1.3 is accepted",
    area="tls",
    requirements=["TRANS-1"],
    level=Level.MAY,
    reactions=["a completed handshake over TLS 1.3"],
)
async def tls13(ctx: CaseContext) -> str:
    wire = await ctx.connect("main", version=ssl.TLSVersion.TLSv1_3, name="tls13")
    await wire.send_frame(ctx.request(server_instance_id=await ctx.learn_server_instance_id()))
    response = await ctx.recv_response(wire)
    return f"{response.response.wire_name} over TLS 1.3"


@case(
    "server.tls.tls11-refused",
    "TLS 1.1 is refused",
    area="tls",
    requirements=["TRANS-1"],
    reactions=["abort the TLS handshake"],
)
async def tls11(ctx: CaseContext) -> str:
    try:
        context = ctx.tls_context("main", version=ssl.TLSVersion.TLSv1_1)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers no TLS 1.1 cipher otherwise
    except (ssl.SSLError, ValueError) as exc:
        raise Unsupported(f"this machine's OpenSSL cannot offer TLS 1.1: {exc}") from None
    try:
        wire = await ctx.connect("main", context=context, name="tls11")
    except ssl.SSLError as exc:
        if "NO_PROTOCOLS_AVAILABLE" in str(exc) or "NO_CIPHERS_AVAILABLE" in str(exc):
            raise Unsupported(f"this machine's OpenSSL refuses to offer TLS 1.1 ({exc.reason})") from None
        return f"refused: {exc.reason}"
    except CheckFailed as exc:
        return f"refused: {exc.observed}"
    raise CheckFailed(f"a TLS 1.1 connection was established on {wire.name}")
