"""Client mode, context coding (spec/v1/context.md): the runner plays a version-1 server that declares ``context_bases``.

The runner declares ``context_bases`` (CTX-1) with ``max_in_flight`` 1 and a ``max_batch_events`` of half
the client's backlog, so that a client's backlog goes as several batches, each sent after the answer to the
one before: a client that codes against what the runner accepted can then name a base. The runner decodes
every batch against the bases it holds for the client, the batches in mode context it ACKed (CTX-8); a
batch naming another cannot be decoded (CTX-5) and shows which base it named.

A client may never use context coding (nothing obliges a sender to): then the cases that need its context
batches are *unsupported*, and so is a case whose situation the client's traffic never created (no later
batch after the answer it is about, no batch naming a base for the runner to refuse); never passed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache, partial

from sinkproto import Ack, Nack, Pong, construct_codec, encode_frame
from sinkproto.errors import BaseUnavailable
from sinkproto.messages import (
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    ContextBase,
    DeclaredLimits,
    Event,
    Publish,
)
from sinkproto.readers import ReaderSchemas
from sinkproto.schemas import default_registry

from ..client_context import ClientCaseContext
from ..craft import (
    BATCH_PUBLISH,
    PING,
    PUBLISH,
    context_batch_id,
    decode_or_fail,
    describe_frame,
    frame_type,
    message_id_of,
)
from ..model import CheckFailed, Unsupported
from ..wire import Wire
from . import case

client_case = partial(case, mode="client", feature="client_v1", area="context")

UNKNOWN_BASE = b"unknown_base"
#: What the runner declares: bases kept, for the default lifetime (CTX-1, CTX-9).
CONTEXT_BASES = 16


def declaration(ctx: ClientCaseContext, *, context_bases: int = CONTEXT_BASES) -> DeclaredLimits:
    """The runner's declared limits: ``context_bases``; one batch in flight and half the backlog per batch, so the
    client's backlog goes as several batches, each sent once the one before is answered (DECL-4)."""
    per_batch = max(1, ctx.profile.client.events_to_publish // 2)
    return DeclaredLimits(
        max_batch_events=per_batch, max_in_flight=1, context_bases=context_bases if context_bases else None
    )


@dataclass
class Sent:
    """One frame of the client's events, as the runner read it against the bases it held then."""

    message_id: int
    events: tuple[Event, ...]  # empty when the batch named a base the runner lacks (unreadable past the digest)
    mode_context: bool
    batch: bool = True  # a BATCH_PUBLISH (False: a PUBLISH)
    batch_id: int | None = None  # mode context: the batch's id
    named: int | None = None  # mode context: the base it names (None: no base)
    missing: BaseUnavailable | None = None  # the base it named is not one the runner holds

    @property
    def name(self) -> str:
        return "a context batch" if self.batch_id is None else f"context batch {self.batch_id}"

    def describe(self) -> str:
        if not self.mode_context:
            return f"message {self.message_id}: {len(self.events)} event(s) without context"
        base = f"naming base {self.named}" if self.named is not None else "without a base"
        count = len(self.events)
        size = f"{count} event{'s' if count != 1 else ''}" if not self.missing else "not readable past its digest"
        return f"message {self.message_id}: {self.name} {base} ({size})"


@dataclass
class RunnerServer:
    """The bases the runner holds for the client (CTX-8) and what the client sent, frame by frame."""

    bases: dict[int, ContextBase] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def read(self, frame: bytes) -> Sent:
        """A PUBLISH or BATCH_PUBLISH of the client, decoded against the bases held now."""
        message_id = message_id_of(frame)
        try:
            value = decode_or_fail(frame, version=1, bases=self.bases)
        except BaseUnavailable as exc:
            item = Sent(message_id, (), True, named=exc.base_id, missing=exc)
            item.batch_id = context_batch_id(frame)
            self.sent.append(item)
            return item
        if isinstance(value, Publish):
            item = Sent(message_id, (value.event,), False, batch=False)
        elif isinstance(value, BatchPublish):
            context = value.batch.context
            item = Sent(message_id, value.batch.events, context is not None)
            if context is not None:
                item.batch_id = context.batch_id
                item.named = context.base.batch_id if context.base is not None else None
        else:
            raise CheckFailed(f"{describe_frame(frame, version=1)} while waiting for the client's events")
        self.sent.append(item)
        return item

    def keep(self, item: Sent) -> None:
        """``item`` was ACKed whole: a batch in mode context is now a base of the runner's (CTX-8)."""
        if item.mode_context and item.batch_id is not None and item.events:
            self.bases[item.batch_id] = ContextBase(batch_id=item.batch_id, events=item.events)


Answerer = Callable[[Wire, Sent], Awaitable[None]]


async def ack(wire: Wire, item: Sent, server: RunnerServer) -> None:
    await wire.send_frame(encode_frame(Ack(message_id=item.message_id), version=1))
    server.keep(item)


async def traffic(
    ctx: ClientCaseContext,
    wire: Wire,
    server: RunnerServer,
    answer: Answerer,
    *,
    until: Callable[[], bool],
    seconds: float,
) -> bool:
    """Read the client's frames until ``until()`` holds or ``seconds`` pass (False: time ran out). Its events go
    to ``answer``, its PINGs are answered; anything else fails the case. A close by the client ends it too."""
    loop = asyncio.get_running_loop()
    end = loop.time() + ctx.t(seconds)
    while not until():
        remaining = end - loop.time()
        if remaining <= 0:
            return False
        try:
            frame = await wire.recv_frame(remaining)
        except TimeoutError:
            return False
        if frame is None:
            return until()
        kind = frame_type(frame)
        if kind == PING:
            await wire.send_frame(encode_frame(Pong()))
        elif kind in (PUBLISH, BATCH_PUBLISH):
            await answer(wire, server.read(frame))
        else:
            raise CheckFailed(f"the client sent {describe_frame(frame, version=1)}")
    return True


def summary(server: RunnerServer) -> str:
    return "; ".join(item.describe() for item in server.sent) or "nothing"


def context_batches(server: RunnerServer) -> list[Sent]:
    return [item for item in server.sent if item.mode_context]


def no_context(server: RunnerServer) -> Unsupported:
    return Unsupported(
        f"the client sent no batch in mode context to a server declaring context_bases {CONTEXT_BASES} "
        f"(it need not use context coding); it sent: {summary(server)}"
    )


def needs_publish(ctx: ClientCaseContext) -> None:
    if not ctx.profile.has("client_publish"):
        raise Unsupported("needs feature client_publish: the client must have events to send")


@cache
def kit_readers() -> ReaderSchemas:
    """The runner reads every version of every type of the kit's registry: mode context needs records mode, which a
    sender uses only for a schema its peer declared it reads (RECORD-2)."""
    return ReaderSchemas.from_mapping({t.id: tuple(t.versions) for t in default_registry()})


async def context_session(ctx: ClientCaseContext, name: str, *, context_bases: int = CONTEXT_BASES) -> Wire:
    """A version-1 session whose response declares the runner's limits (with ``context_bases``, 0: none) and the kit
    registry's schemas."""
    wire = await ctx.accept(name)
    request = await ctx.read_request(wire, version=1)
    response = dataclasses.replace(
        ctx.welcome(request),
        declared_limits=declaration(ctx, context_bases=context_bases),
        reader_schemas=kit_readers(),
    )
    await ctx.respond(wire, response, version=1)
    return wire


def names_unaccepted(item: Sent, refused: dict[int, str]) -> CheckFailed:
    """CTX-10: ``item`` names a base the runner never ACKed."""
    assert item.named is not None
    why = refused.get(item.named, "which the runner never received")
    return CheckFailed(
        f"{item.name} names base {item.named}, {why}: a sender names only batches the receiver ACKed (CTX-10)",
        requirements=("CTX-10",),
    )


# -- CTX-10: only ACKed batches are bases ------------------------------------------------------------------------


@client_case(
    "client.v1.context.acked-bases-only",
    "After the runner answers a context batch with a BATCH_RESULT (or NACK), no later batch names it",
    requirements=["CTX-10", "CTX-8", "CTX-12"],
    timeout=20,
    reactions=[
        "the runner answers the client's first context batch with a BATCH_RESULT NACKing one event (a NACK if it "
        "holds one event), then ACKs every batch",
        "no later batch names that batch; every base named is one the runner ACKed",
        "no two context batches of the connection have one batch_id (no NACK unknown_base made the client forget "
        "its bases, CTX-12)",
    ],
)
async def acked_bases_only(ctx: ClientCaseContext) -> str:
    needs_publish(ctx)
    wire = await context_session(ctx, "context")
    server = RunnerServer()
    refused: dict[int, str] = {}
    ids: set[int] = set()

    async def answer(wire: Wire, item: Sent) -> None:
        if item.missing is not None:
            raise names_unaccepted(item, refused)
        if item.mode_context and item.batch_id is not None:
            if item.batch_id in ids:
                raise CheckFailed(
                    f"{item.name} has the batch_id of an earlier context batch of this connection, although the "
                    "client forgot no base since (no NACK unknown_base): CTX-12 gives each batch its own id",
                    requirements=("CTX-12",),
                )
            ids.add(item.batch_id)
        if not item.mode_context or refused:
            await ack(wire, item, server)
            return
        assert item.batch_id is not None
        if len(item.events) >= 2:
            refused[item.batch_id] = "which the runner answered with a BATCH_RESULT"
            result = BatchResult(
                message_id=item.message_id,
                entries=(BatchResultEntry(index=0, machine_message=b"rejected", human_message=b"sink-check"),),
            )
            await wire.send_frame(construct_codec.encode_frame(result, version=1))
        else:
            refused[item.batch_id] = "which the runner NACKed"
            await wire.send_frame(
                encode_frame(
                    Nack(message_id=item.message_id, machine_message=b"rejected", human_message=b"sink-check"),
                    version=1,
                )
            )

    def later_context_batch() -> bool:
        batches = context_batches(server)
        return bool(refused) and len(batches) >= 2

    await traffic(ctx, wire, server, answer, until=later_context_batch, seconds=min(4.0, 2.5 * ctx.keepalive))
    batches = context_batches(server)
    if not batches:
        raise no_context(server)
    if len(batches) < 2:
        raise Unsupported(
            f"after the answer to context batch {batches[0].batch_id} the client sent no other context batch "
            f"(nothing to observe); it sent: {summary(server)}"
        )
    ctx.meets("CTX-8")
    return f"no batch named the refused batch {next(iter(refused))}, each has its own batch_id: {summary(server)}"


@client_case(
    "client.v1.context.unanswered-not-base",
    "A context batch left unanswered when the connection ends is named by no batch of the next connection",
    requirements=["CTX-10"],
    timeout=25,
    reactions=[
        "the runner leaves the client's first context batch unanswered and closes the connection",
        "on the next connection the client sends its events again (DELIV-1), naming no base but those the runner "
        "ACKed: a batch whose answer was lost is not a base",
    ],
)
async def unanswered_not_base(ctx: ClientCaseContext) -> str:
    needs_publish(ctx)
    wire = await context_session(ctx, "unanswered")
    server = RunnerServer()
    lost: dict[int, str] = {}

    async def first(wire: Wire, item: Sent) -> None:
        if item.missing is not None:
            raise names_unaccepted(item, lost)
        if item.mode_context and not lost:
            assert item.batch_id is not None
            lost[item.batch_id] = "whose answer was lost with the connection (the runner never answered it)"
            return
        await ack(wire, item, server)

    await traffic(ctx, wire, server, first, until=lambda: bool(lost), seconds=min(4.0, 2.5 * ctx.keepalive))
    if not lost:
        raise no_context(server)
    await wire.close()
    again = await context_session(ctx, "next-connection")
    before = len(server.sent)

    async def later(wire: Wire, item: Sent) -> None:
        if item.missing is not None:
            raise names_unaccepted(item, lost)
        await ack(wire, item, server)

    def resent() -> bool:
        return any(item.mode_context for item in server.sent[before:])

    await traffic(ctx, again, server, later, until=resent, seconds=min(4.0, 2.5 * ctx.keepalive))
    after = server.sent[before:]
    if not any(item.mode_context for item in after):
        raise Unsupported(
            f"on the next connection the client sent no context batch (nothing to observe): {summary(server)}"
        )
    return f"batch {next(iter(lost))} left unanswered; next connection: {'; '.join(i.describe() for i in after)}"


# -- CTX-11: after NACK unknown_base, the same events again, naming no forgotten base ------------------------------


@client_case(
    "client.v1.context.fallback",
    "After NACK unknown_base the client sends the same events again, naming no base it had",
    requirements=["CTX-11"],
    timeout=25,
    reactions=[
        "the runner ACKs the client's context batches until one names a base; that one it NACKs unknown_base, "
        "forgetting every base (as a server that lost its store)",
        "the client sends the same events again (same event_type_id, key and offset), in batches naming none of "
        "the bases it had, and drops none of them",
    ],
)
async def fallback(ctx: ClientCaseContext) -> str:
    needs_publish(ctx)
    wire = await context_session(ctx, "fallback")
    server = RunnerServer()
    nacked: list[Sent] = []
    forgotten: dict[int, str] = {}

    async def answer(wire: Wire, item: Sent) -> None:
        if item.missing is not None:
            if item.named in forgotten:
                raise CheckFailed(
                    f"{item.name} names base {item.named}, {forgotten[item.named]}: after NACK "
                    "unknown_base a sender forgets every base of the peer (CTX-11)",
                    requirements=("CTX-11",),
                )
            raise names_unaccepted(item, forgotten)
        if not nacked and item.named is not None:
            nacked.append(item)
            forgotten.update((bid, "forgotten at the runner's NACK unknown_base") for bid in server.bases)
            server.bases.clear()  # the runner lost its store: it holds no base any more (CTX-9 allows it)
            await wire.send_frame(
                encode_frame(
                    Nack(message_id=item.message_id, machine_message=UNKNOWN_BASE, human_message=b"sink-check"),
                    version=1,
                )
            )
            return
        await ack(wire, item, server)

    def pending() -> set[tuple[int, bytes, int]]:
        if not nacked:
            return set()
        keys = {e.dedupe_key for e in nacked[0].events}
        after = server.sent[server.sent.index(nacked[0]) + 1 :]
        return keys - {e.dedupe_key for item in after for e in item.events}

    def resent() -> bool:
        return bool(nacked) and not pending()

    window = min(6.0, 4.0 * ctx.keepalive)
    await traffic(ctx, wire, server, answer, until=resent, seconds=window)
    if not context_batches(server):
        raise no_context(server)
    if not nacked:
        raise Unsupported(
            f"no context batch of the client named a base, so the runner had none to refuse: {summary(server)}"
        )
    if missing := pending():
        raise CheckFailed(
            f"{len(missing)} of the {len(nacked[0].events)} events of batch {nacked[0].batch_id}, NACKed "
            f"unknown_base, were not sent again within {ctx.t(window):.1f} s (CTX-11: they stay pending and are "
            f"resent): {summary(server)}",
            requirements=("CTX-11",),
        )
    return f"NACK unknown_base for batch {nacked[0].batch_id} naming base {nacked[0].named}; then {summary(server)}"


# -- CTX-1: no context to a server that did not declare it ---------------------------------------------------------


@client_case(
    "client.v1.context.undeclared",
    "The client sends no batch in mode context to a server that declared no context_bases",
    requirements=["CTX-1"],
    timeout=20,
    reactions=[
        "the runner declares the same limits as the other context cases, without context_bases: the client's "
        "batches are in mode columns or records, never context",
    ],
)
async def undeclared(ctx: ClientCaseContext) -> str:
    needs_publish(ctx)
    wire = await context_session(ctx, "undeclared", context_bases=0)
    server = RunnerServer()

    async def answer(wire: Wire, item: Sent) -> None:
        if item.mode_context:
            raise CheckFailed(
                f"sent {item.describe()} to a server that declared no context_bases (CTX-1)",
                requirements=("CTX-1",),
            )
        await ack(wire, item, server)

    target = ctx.profile.client.events_to_publish

    def all_sent() -> bool:
        return sum(len(item.events) for item in server.sent) >= target

    await traffic(ctx, wire, server, answer, until=all_sent, seconds=min(4.0, 2.5 * ctx.keepalive))
    batches = [item for item in server.sent if item.batch]
    if not batches:
        raise Unsupported(f"the client sent no batch, so none that could have been in mode context: {summary(server)}")
    return f"{len(batches)} batch(es), none in mode context: {summary(server)}"
