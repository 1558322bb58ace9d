"""Server mode: the handshake (HS-*, CONN-*)."""

from __future__ import annotations

import random

from sinkproto import ConnectionResponse, Ping, Publish, Response, encode_frame

from ..context import CaseContext
from ..craft import describe_frame
from ..model import CheckFailed, Level
from . import case

REFUSAL_CLOSE = "answer {code} and close the connection"


@case(
    "server.handshake.first-contact",
    "A first request without server_instance_id gets hello_new_client",
    area="handshake",
    requirements=["HS-3", "HS-9", "CONN-5"],
    reactions=["hello_new_client carrying the server's instance id"],
)
async def first_contact(ctx: CaseContext) -> str:
    server_id = await ctx.learn_server_instance_id()
    return f"hello_new_client, server_instance_id={server_id:#010x}"


@case(
    "server.handshake.known-client",
    "A known client with both instance ids gets connected",
    area="handshake",
    requirements=["HS-9", "CONN-6"],
    reactions=["connected (0x10), then the connection stays open"],
)
async def known_client(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    ctx.meets("HS-9", "CONN-6")
    await wire.send_frame(encode_frame(Ping()))
    try:
        frame = await ctx.recv(wire, "a PONG after connected")
    except CheckFailed as exc:  # the session is not usable after connected: about PING-1, not the handshake
        raise CheckFailed(exc.observed, requirements=("PING-1",)) from None
    if frame != b"\x60\x00":
        raise CheckFailed(f"{frame.hex()} instead of PONG 6000 on a connected session", requirements=("PING-1",))
    return "connected, and the session answers a PING"


@case(
    "server.handshake.interrupted-first",
    "The same client id without server_instance_id gets hello_new_client again",
    area="handshake",
    requirements=["HS-9", "HS-10"],
    reactions=["hello_new_client with the same server_instance_id as before"],
)
async def interrupted(ctx: CaseContext) -> str:
    server_id = await ctx.learn_server_instance_id()
    wire = await ctx.connect()
    await wire.send_frame(ctx.request())
    response = await ctx.recv_response(wire)
    if response != ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=server_id):
        raise CheckFailed(
            f"{response.response.wire_name} {response.server_instance_id} (expected hello_new_client {server_id:#010x})"
        )
    return "hello_new_client with the same server instance id"


async def _refused(
    ctx: CaseContext,
    wire_identity: str,
    request: bytes,
    expected: Response,
    *,
    decides: tuple[str, ...],
    closes: tuple[str, ...],
) -> str:
    """The refusal ``expected``, then a close. ``decides``: the requirements of the response (its code and
    encoding); ``closes``: those of the close. A failed check marks only its own (the rollup)."""
    wire = await ctx.connect(wire_identity)
    await wire.send_frame(request)
    try:
        response = await ctx.recv_response(wire)
    except CheckFailed as exc:
        raise CheckFailed(exc.observed, requirements=decides) from None
    if response.response is not expected:
        raise CheckFailed(f"{response.response.wire_name} (expected {expected.wire_name})", requirements=decides)
    ctx.meets(*decides)
    await ctx.expect_closed(wire, f"after {expected.wire_name}", silent=closes, closes=closes)
    detail = ""
    if response.response is Response.QUARANTINED:
        detail = f" (machine {response.machine_message!r}, human {response.human_message!r})"
    return f"{expected.wire_name}{detail}, then the server closed the connection"


@case(
    "server.handshake.mismatch.client-instance-id",
    "Another client_instance_id with the stored server id is a mismatch",
    area="handshake",
    requirements=["HS-9", "HS-19"],
    reactions=[REFUSAL_CLOSE.format(code="instance_id_mismatch (0x12)")],
)
async def mismatch_client(ctx: CaseContext) -> str:
    server_id = await ctx.learn_server_instance_id()
    other = (ctx.profile.client_instance_id + 1) & 0xFFFF_FFFF
    return await _refused(
        ctx,
        "main",
        ctx.request(client_instance_id=other, server_instance_id=server_id),
        Response.INSTANCE_ID_MISMATCH,
        decides=("HS-9",),
        closes=("HS-19",),
    )


@case(
    "server.handshake.mismatch.server-instance-id",
    "A server_instance_id that is not the server's is a mismatch",
    area="handshake",
    requirements=["HS-9", "HS-19"],
    reactions=[REFUSAL_CLOSE.format(code="instance_id_mismatch (0x12)")],
)
async def mismatch_server(ctx: CaseContext) -> str:
    server_id = await ctx.learn_server_instance_id()
    return await _refused(
        ctx,
        "main",
        ctx.request(server_instance_id=server_id ^ 0x5A5A_5A5A),
        Response.INSTANCE_ID_MISMATCH,
        decides=("HS-9",),
        closes=("HS-19",),
    )


@case(
    "server.handshake.new-client",
    "A never-seen client identity gets hello_new_client",
    area="handshake",
    requirements=["HS-9", "HS-10"],
    feature="fresh_identity",
    reactions=["hello_new_client carrying the server's instance id"],
)
async def new_client(ctx: CaseContext) -> str:
    wire = await ctx.connect("fresh")
    await wire.send_frame(ctx.request(client_instance_id=random.SystemRandom().randrange(1 << 32)))
    response = await ctx.recv_response(wire)
    if response.response is not Response.HELLO_NEW_CLIENT:
        raise CheckFailed(f"{response.response.wire_name} (expected hello_new_client)")
    return "hello_new_client"


@case(
    "server.handshake.quarantined",
    "A quarantined identity gets quarantined with its reason, then a close",
    area="handshake",
    requirements=["HS-18", "HS-19", "CONN-7"],
    feature="quarantine",
    reactions=[REFUSAL_CLOSE.format(code="quarantined (0x13) with machine and human messages")],
)
async def quarantined(ctx: CaseContext) -> str:
    return await _refused(
        ctx, "quarantined", ctx.request(), Response.QUARANTINED, decides=("HS-18", "CONN-7"), closes=("HS-19",)
    )


@case(
    "server.handshake.unsupported-protocol-version",
    "A request for a protocol version the server does not speak is refused",
    area="handshake",
    requirements=["HS-11", "CONN-2", "VER-7"],
    reactions=[
        REFUSAL_CLOSE.format(code="unsupported_protocol_version (0x14)"),
        "the request names version 1, or version 2 when the profile's versions include 1",
    ],
)
async def unsupported_version(ctx: CaseContext) -> str:
    # A version-0 server refuses 1 (HS-11); a version-1 server accepts 0 and 1 and refuses 2..15 (VER-7).
    version = max(ctx.profile.versions) + 1
    request = bytearray(ctx.request())
    request[0] = version
    verdict = await _refused(
        ctx,
        "main",
        bytes(request),
        Response.UNSUPPORTED_PROTOCOL_VERSION,
        decides=("HS-11", "CONN-2", "VER-7"),
        closes=("HS-11", "VER-7"),
    )
    return f"version {version}: {verdict}"


@case(
    "server.handshake.unsupported-application-version",
    "The profile's rejected application version is refused",
    area="handshake",
    requirements=["HS-12", "HS-19"],
    feature="app_version_policy",
    reactions=[REFUSAL_CLOSE.format(code="unsupported_application_version (0x15)")],
)
async def unsupported_app(ctx: CaseContext) -> str:
    assert ctx.profile.rejected_app_version is not None
    return await _refused(
        ctx,
        "main",
        ctx.request(app_version=ctx.profile.rejected_app_version),
        Response.UNSUPPORTED_APPLICATION_VERSION,
        decides=("HS-12",),
        closes=("HS-19",),
    )


@case(
    "server.handshake.publish-before-request",
    "A PUBLISH before the connection request is not processed",
    area="handshake",
    requirements=["MSGID-7", "ERR-6", "ERR-3"],
    reactions=["close the connection without ACK, NACK or any response"],
)
async def publish_first(ctx: CaseContext) -> str:
    wire = await ctx.connect()
    await wire.send_frame(encode_frame(Publish(message_id=1, event=ctx.event())))
    await ctx.expect_closed(wire, "after a PUBLISH as first frame")
    return "closed without answering (the field server ACKs it: a quirk)"


@case(
    "server.handshake.ping-before-request",
    "A PING before the connection request is closed on, or at most PONGed",
    area="handshake",
    requirements=["PING-3", "ERR-4"],
    reactions=[
        "close the connection without a PONG (PING-3)",
        "non-strict, allowed in version 0 (the field server): one PONG, or nothing, then the connection "
        "request is answered as the first frame",
        "never any other frame; the PING changes no handshake state (ERR-4)",
    ],
)
async def ping_first(ctx: CaseContext) -> str:
    server_id = await ctx.learn_server_instance_id()
    wire = await ctx.connect()
    await wire.send_frame(encode_frame(Ping()))
    reaction = "neither closed nor answered the PING"
    try:
        frame = await wire.recv_frame(ctx.prompt())
        if frame is None:
            return "closed without a PONG"
    except TimeoutError:
        frame = None  # still open, silent: waiting for the request
    if frame is not None:
        if frame != b"\x60\x00":
            raise CheckFailed(
                f"{describe_frame(frame)} in answer to a PING sent before the connection request",
                requirements=("ERR-4",),
            )
        reaction = "answered the PING with a PONG"
    # Allowed in version 0 (PING-3 is a SHOULD); the connection request must then be answered as the first frame.
    await wire.send_frame(ctx.request(server_instance_id=server_id))
    try:
        response = await ctx.recv_response(wire)
    except CheckFailed as exc:
        raise CheckFailed(f"{reaction}, then: {exc.observed}", requirements=("ERR-4",)) from None
    if response.response not in (Response.CONNECTED, Response.HELLO_NEW_CLIENT):
        raise CheckFailed(
            f"{reaction}, then {response.response.wire_name} to a known client's request", requirements=("ERR-4",)
        )
    ctx.meets("ERR-4")
    raise CheckFailed(
        f"{reaction} (sent before the connection request), then answered the request with "
        f"{response.response.wire_name} (PING-3: it SHOULD close without a PONG; version 0 allows this)",
        requirements=("PING-3",),
        level=Level.SHOULD,
    )


@case(
    "server.handshake.second-request",
    "A second connection request on an open session is a protocol error",
    area="handshake",
    requirements=["ERR-6"],
    reactions=["close the connection without a second response"],
)
async def second_request(ctx: CaseContext) -> str:
    wire = await ctx.open_session()
    await wire.send_frame(ctx.request(server_instance_id=ctx.state.server_instance_id))
    await ctx.expect_closed(wire, "after a second connection request")
    return "closed without answering"


@case(
    "server.handshake.nothing-after-refusal",
    "A PUBLISH after a refusal is neither stored nor ACKed",
    area="handshake",
    requirements=["HS-20", "HS-19"],
    reactions=["close the connection; never ACK the PUBLISH"],
)
async def after_refusal(ctx: CaseContext) -> str:
    server_id = await ctx.learn_server_instance_id()
    wire = await ctx.connect()
    other = (ctx.profile.client_instance_id + 2) & 0xFFFF_FFFF
    await wire.send_frame(ctx.request(client_instance_id=other, server_instance_id=server_id))
    await wire.send_frame(encode_frame(Publish(message_id=9, event=ctx.event())))  # a faulty client does not wait
    try:
        response = await ctx.recv_response(wire)
    except CheckFailed as exc:
        raise CheckFailed(exc.observed, requirements=("HS-9",)) from None
    if response.response is not Response.INSTANCE_ID_MISMATCH:
        raise CheckFailed(f"{response.response.wire_name} (expected instance_id_mismatch)", requirements=("HS-9",))
    await ctx.expect_closed(wire, "after instance_id_mismatch and a PUBLISH", silent=("HS-20",), closes=("HS-19",))
    return "instance_id_mismatch, no ACK, closed"


@case(
    "server.handshake.nothing-after-quarantined",
    "A PUBLISH and a PING sent after the quarantined response are neither answered nor processed",
    area="handshake",
    requirements=["HS-20", "HS-18", "HS-19"],
    feature="quarantine",
    reactions=["close the connection; never ACK or NACK the PUBLISH nor answer the PING"],
)
async def after_quarantined(ctx: CaseContext) -> str:
    wire = await ctx.connect("quarantined")
    await wire.send_frame(ctx.request())
    try:
        response = await ctx.recv_response(wire)
    except CheckFailed as exc:
        raise CheckFailed(exc.observed, requirements=("HS-18",)) from None
    if response.response is not Response.QUARANTINED:
        raise CheckFailed(f"{response.response.wire_name} (expected quarantined)", requirements=("HS-18",))
    ctx.meets("HS-18")
    # A client that goes on after the refusal, as the field client does not; the field server ACKs this.
    await wire.send_frame(encode_frame(Publish(message_id=10, event=ctx.event())))
    await wire.send_frame(encode_frame(Ping()))
    await ctx.expect_closed(wire, "after quarantined, a PUBLISH and a PING", silent=("HS-20",), closes=("HS-19",))
    return "quarantined; the PUBLISH and the PING sent after it got no answer, and the server closed"


@case(
    "server.handshake.closes-silent-handshake",
    "A client that never sends a request is closed after 1.5 K",
    area="keepalive",
    requirements=["KEEP-5", "SEC-4"],
    level=Level.MUST,
    slow=True,
    timeout=0.0,
    reactions=["close the connection between 1.5 K and 2 K after TLS is up"],
)
async def silent_handshake(ctx: CaseContext) -> str:
    wire = await ctx.connect()
    k = ctx.profile.keepalive
    closed, frames = await wire.expect_close(ctx.t(2.0 * k + 1.0))
    if frames:
        raise CheckFailed(f"sent {len(frames)} frames to a client that said nothing")
    if not closed:
        raise CheckFailed(f"still open after {ctx.t(2 * k + 1):.1f} s of silence (K={k} s)")
    return "closed a connection that sent no request"
