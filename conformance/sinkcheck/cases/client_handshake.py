"""Client mode: the handshake as the client performs it (HS-*), the runner playing the server."""

from __future__ import annotations

import random
from functools import partial

from sinkproto import ConnectionResponse, Response

from ..client_context import ClientCaseContext
from ..craft import describe_frame
from ..model import CheckFailed
from . import case

client_case = partial(case, mode="client")


def _ids(request_server_id: int | None) -> str:
    return "none" if request_server_id is None else f"{request_server_id:#010x}"


@client_case(
    "client.handshake.request-first",
    "The first frame after TLS is a version-0 connection request",
    area="handshake",
    requirements=["HS-1", "CONN-1", "CONN-2"],
    timeout=15,
    reactions=["a connection request (version 0) as the first frame, promptly after TLS"],
)
async def request_first(ctx: ClientCaseContext) -> str:
    wire = await ctx.accept()
    request = await ctx.read_request(wire)
    await ctx.respond(wire, ctx.welcome(request))
    return (
        f"connection request: app_version={request.app_version!r}, client_instance_id="
        f"{request.client_instance_id:#010x}, server_instance_id={_ids(request.server_instance_id)}"
    )


@client_case(
    "client.handshake.waits-for-response",
    "Nothing is sent between the request and the response",
    area="handshake",
    requirements=["HS-2", "MSGID-7"],
    timeout=15,
    reactions=["no frame at all until the connection response arrives"],
)
async def waits_for_response(ctx: ClientCaseContext) -> str:
    wire = await ctx.accept()
    request = await ctx.read_request(wire)
    pause = min(ctx.t(1.0), 0.5 * ctx.keepalive)  # well inside the client's own 1.5 K response timeout
    closed, frames = await wire.expect_close(pause)
    if frames:
        raise CheckFailed(f"sent {describe_frame(frames[0])} before the connection response")
    if closed:
        raise CheckFailed(f"closed the connection {pause:.1f} s after its request, before any response")
    await ctx.respond(wire, ctx.welcome(request))
    return f"nothing sent during {pause:.1f} s while the response was withheld"


@client_case(
    "client.handshake.stores-server-instance-id",
    "The server_instance_id of hello_new_client is persisted and sent after a power loss",
    area="handshake",
    requirements=["HS-13", "HS-14", "HS-5"],
    timeout=20,
    needs_client_store=True,
    reactions=["after a restart, the request carries the new server_instance_id and the same client_instance_id"],
)
async def stores_server_id(ctx: ClientCaseContext) -> str:
    wire = await ctx.accept("first")
    first = await ctx.read_request(wire)
    fresh = random.SystemRandom().randrange(1 << 32)
    while fresh in (first.server_instance_id, ctx.state.server_instance_id):
        fresh = random.SystemRandom().randrange(1 << 32)
    # Later cases of this run must see the client's stored id as ours: answer connected to it.
    ctx.state.server_instance_id = fresh
    await ctx.respond(wire, ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=fresh))
    if ctx.profile.has("client_publish"):
        # HS-13: persisted before the first PUBLISH; cut the power right after that PUBLISH.
        await ctx.publishes(wire, 1, what="the client's first PUBLISH after hello_new_client", answer="none")
    else:
        await ctx.sleep(0.3)
    again = await ctx.restart_client("power loss after hello_new_client")
    second = await ctx.read_request(again)
    await ctx.respond(again, ctx.welcome(second))
    if second.server_instance_id != fresh:
        raise CheckFailed(
            f"after hello_new_client({fresh:#010x}) and a restart, the request carried "
            f"server_instance_id={_ids(second.server_instance_id)}",
            requirements=("HS-13", "HS-14"),
        )
    ctx.meets("HS-13", "HS-14")
    if second.client_instance_id != first.client_instance_id:
        raise CheckFailed(
            f"client_instance_id changed from {first.client_instance_id:#010x} to "
            f"{second.client_instance_id:#010x} across a restart",
            requirements=("HS-5",),
        )
    return f"sent server_instance_id={fresh:#010x} and the same client_instance_id after a restart"


QUARANTINE = ConnectionResponse(
    response=Response.QUARANTINED, machine_message=b"QUARANTINED", human_message=b"quarantined by sink-check"
)
REFUSALS = {
    "instance-id-mismatch": ConnectionResponse(response=Response.INSTANCE_ID_MISMATCH),
    "quarantined": QUARANTINE,
    "unsupported-protocol-version": ConnectionResponse(response=Response.UNSUPPORTED_PROTOCOL_VERSION),
    "unsupported-application-version": ConnectionResponse(response=Response.UNSUPPORTED_APPLICATION_VERSION),
}


def _refusal(slug: str, response: ConnectionResponse) -> None:
    name = response.response.wire_name
    requirements = ["HS-15", "MSGID-7"] + (["HS-16"] if response.response is Response.INSTANCE_ID_MISMATCH else [])
    reactions = [f"close the connection after {name} without sending another frame (no PUBLISH, no PING)"]
    if response.response is Response.INSTANCE_ID_MISMATCH:
        reactions.append("keep both instance ids: a later request carries the same ones (HS-16)")

    @client_case(
        f"client.handshake.refused.{slug}",
        f"After {name} the client closes and publishes nothing",
        area="handshake",
        requirements=requirements,
        reactions=reactions,
        timeout=20,
    )
    async def run(ctx: ClientCaseContext) -> str:
        wire = await ctx.accept("refused")
        request = await ctx.read_request(wire)
        await ctx.respond(wire, response)
        try:
            await ctx.expect_closed(wire, f"after {name}")
        except CheckFailed as exc:
            raise CheckFailed(exc.observed, requirements=("HS-15", "MSGID-7")) from None
        ctx.meets("HS-15", "MSGID-7")
        if response.response is not Response.INSTANCE_ID_MISMATCH:
            return f"closed after {name} without sending a frame"
        again = await ctx.accept("after-mismatch")  # its own reconnect, or a restart
        later = await ctx.read_request(again)
        await ctx.respond(again, ctx.welcome(later))
        if (later.client_instance_id, later.server_instance_id) != (
            request.client_instance_id,
            request.server_instance_id,
        ):
            raise CheckFailed(
                f"resolved the mismatch by itself: ids ({request.client_instance_id:#010x}, "
                f"{_ids(request.server_instance_id)}) became ({later.client_instance_id:#010x}, "
                f"{_ids(later.server_instance_id)})",
                requirements=("HS-16",),
            )
        return f"closed after {name} without sending a frame; the next request kept both ids"


for _slug, _response in REFUSALS.items():
    _refusal(_slug, _response)
