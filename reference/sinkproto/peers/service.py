"""Store-backed reference applications: the server behind ``sink serve`` and the client behind ``sink connect``.

Both keep everything in an :class:`~sinkproto.store.EventStore`: received
events (deduplicated, stored before the ACK), the events they publish
(at-least-once, from a per-peer subscription, in the order the store's
delivery policies give), dead letters, and the handshake state (instance
ids). The decisions are the sans-I/O session logic of
:mod:`sinkproto.session.logic` (which the simulator drives too); this module
adds the asyncio tasks around it. :class:`Housekeeping` brings the clock the store does not read: it
runs retention passes and records when each peer was last seen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, MutableMapping

from ..errors import LocalProtocolError
from ..events import BaseMissing, BatchAnswered, ConnectionClosed, PeerClosed
from ..messages import BaseLookup, ConnectionRequest, ConnectionResponse, ContextBase, Event
from ..readers import ReaderSchemas
from ..schemas import Registry
from ..session.batching import BatchPolicy, BatchTimer, ContextSender, batches_allowed
from ..session.logic import UNKNOWN_SCHEMA, WELCOME_EVENT_TYPE, ClientLogic, ServerLogic, ServerPolicy, StoreLogic
from ..session.versions import StoredVersions
from ..store import EventStore
from .batching import send_batches
from .client import ClientHandler
from .server import ServerHandler
from .session import Answer, ConnectionLost, PeerSession

__all__ = [
    "BatchPolicy",
    "Housekeeping",
    "OutboxPump",
    "ServerPolicy",
    "StoreServer",
    "StoreClient",
    "UNKNOWN_SCHEMA",
    "WELCOME_EVENT_TYPE",
    "registry_readers",
]

log = logging.getLogger("sinkproto.service")

#: seconds between retention passes of a running peer
RETENTION_EVERY = 60.0
#: seconds between two writes of a peer's last-seen time (each write is a synced commit)
SEEN_EVERY = 5.0


class Housekeeping:
    """The store's chores that need a clock, for one running peer (server or client).

    Retention runs at most every ``retention_every`` seconds, from the
    pumps' loops, so a server with many sessions runs one pass, not one per
    session. Last-seen times are written at most every ``seen_every``
    seconds per peer (a frame per write would be a sync per frame), and at
    the end of a session, so the stored time is never older than the last
    frame by more than that.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        clock: Callable[[], float] = time.time,
        retention_every: float = RETENTION_EVERY,
        seen_every: float = SEEN_EVERY,
    ) -> None:
        self.store, self.clock = store, clock
        self.retention_every, self.seen_every = retention_every, seen_every
        self._last_retention: float | None = None
        self._written: dict[str, float] = {}  # peer -> clock of the last write
        self._unwritten: dict[str, float] = {}  # peer -> a newer time not yet written

    def handshake(self, peer: str) -> None:
        now = self.clock()
        self.store.record_seen(peer, now, handshake=True)
        self._written[peer] = now
        self._unwritten.pop(peer, None)

    def seen(self, peer: str) -> None:
        now = self.clock()
        if now - self._written.get(peer, float("-inf")) >= self.seen_every:
            self.store.record_seen(peer, now)
            self._written[peer] = now
            self._unwritten.pop(peer, None)
        else:
            self._unwritten[peer] = now

    def flush(self, peer: str) -> None:
        """Write the last-seen time kept back by the throttle (the session is ending)."""
        at = self._unwritten.pop(peer, None)
        if at is not None:
            self.store.record_seen(peer, at)
            self._written[peer] = at

    def retention(self) -> None:
        now = self.clock()
        if self._last_retention is not None and now - self._last_retention < self.retention_every:
            return
        self._last_retention = now
        report = self.store.apply_retention(now)
        if report.deleted:
            log.info("retention", extra={"deleted": report.deleted, "topics": report.topics})


class OutboxPump:
    """Publishes a peer's pending events over one session, pipelined up to the in-flight window.

    The store is the outbox: an event stays pending until its ACK or NACK is
    recorded, so whatever is in flight when the session ends is simply
    pending again for the next one (DELIV-1, MSGID-13, BPUB-12).

    With a ``batch_policy`` and a session that negotiated version 1, pending
    events go as BATCH_PUBLISH frames (BPUB-7, see :func:`send_batches`);
    on a version-0 session (after a fallback) they go one PUBLISH each.
    """

    def __init__(
        self,
        store: EventStore,
        peer: str,
        session: PeerSession,
        *,
        poll: float = 0.5,
        housekeeping: Housekeeping | None = None,
        batch_policy: BatchPolicy | None = None,
        context: ContextSender | None = None,
    ) -> None:
        self.store, self.peer, self.session = store, peer, session
        self.logic = StoreLogic(store)
        #: CTX-10..CTX-13: the peer's bases, kept by the owner across sessions; None: never mode context
        self.context = context
        self._context_logged = False
        self.wake = asyncio.Event()
        self.poll = poll
        self.housekeeping = housekeeping
        self.batch_policy = batch_policy
        # When the pump first saw each pending event (loop clock), for max_batch_delay (BPUB-7).
        self._timer = BatchTimer(batch_policy) if batch_policy is not None else None
        self._task: asyncio.Task[None] | None = None
        #: DECL-5: events above the peer's declared max_frame_size, kept pending (not sent on this session)
        self.too_large: dict[tuple[int, bytes, int], Event] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-{self.peer}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, ConnectionLost):
                pass

    async def send(self, events: list[Event]) -> None:
        """Send pending ``events`` one PUBLISH each (a version-0 session, or no batching policy).

        An override point: an event stays pending until its answer is recorded
        (``on_ack``/``on_nack`` of the handler), never when sent (DELIV-1).
        """
        for event in events:
            try:
                await self.session.publish(event)
            except LocalProtocolError as exc:
                if exc.requirement != "DECL-4":
                    raise
                self._hold([event])

    def idle(self) -> bool:
        """Nothing pending beyond what is in flight, and nothing in flight."""
        return self.session.in_flight == 0 and self.store.lag(self.peer) == 0

    async def _run(self) -> None:
        while True:
            if self.housekeeping is not None:
                self.housekeeping.retention()
            # The store decides the order (priorities, latest-only); each
            # batch is asked for afresh, so an urgent event appended during a
            # long drain goes out with the next batch.
            connection = self.session.connection
            policy = self.batch_policy if batches_allowed(connection) else None
            # BPUB-8: on a batching session, what the peer declared it cannot read is not sent at all.
            events = self.logic.pending(self.peer, connection, policy)
            events = [e for e in events if e.dedupe_key not in self.too_large]  # DECL-5: they stay pending
            if policy is not None and self.context is not None and ContextSender.enabled(connection):
                # CTX-11, DELIV-15: events wait while batches of their type that name a forgotten base are unanswered
                events = [e for e in events if not self.context.held(connection, e)]
            if policy is None or self._timer is None:
                await self.send(events)
            else:
                wait = self._timer.wait(events, self.session.now())
                if wait > 0:
                    await self._sleep(wait)
                    continue
                if events:
                    too_large: list[Event] = []
                    self._log_context()
                    await send_batches(
                        self.session, events[: policy.max_batch_size], too_large=too_large, context=self.context
                    )
                    self._hold(too_large)
            if not events:
                await self._sleep(self.poll)

    def _log_context(self) -> None:
        """Once per session: whether batches go in mode context (CTX-1: the peer declared context_bases)."""
        if self._context_logged or self.context is None:
            return
        self._context_logged = True
        limits = self.session.connection.peer_limits
        if ContextSender.enabled(self.session.connection):
            log.info(
                "context coding on",
                extra={
                    "peer": self.peer,
                    "context_bases": limits.value("context_bases"),
                    "context_lifetime": limits.value("context_lifetime"),
                    "bases_known": len(self.context.bases),
                },
            )

    def _hold(self, events: list[Event]) -> None:
        """DECL-5: no frame within the peer's declared max_frame_size carries these; pending, reported once."""
        for event in events:
            if event.dedupe_key not in self.too_large:
                self.too_large[event.dedupe_key] = event
                log.warning(
                    "event above the peer's declared frame size, kept pending",
                    extra={
                        "peer": self.peer,
                        "offset": event.offset,
                        "size": len(event.event_data),
                        "max_frame_size": self.session.connection.peer_limits.value("max_frame_size"),
                        "requirement": "DECL-5",
                    },
                )

    async def _sleep(self, timeout: float) -> None:
        """Wait ``timeout`` seconds or until new events are announced (``wake``)."""
        self.wake.clear()
        try:
            await asyncio.wait_for(self.wake.wait(), timeout)
        except TimeoutError:
            pass


def registry_readers(registry: Registry) -> ReaderSchemas:
    """What a reader with this schema registry can read: every version of every type (SCHEMA-4, SNEG-3).

    The registry's evolution rules let the latest version of a type read every
    earlier one (SCHEMA-13), so a reader declares all of them.
    """
    return ReaderSchemas.from_mapping({t.id: tuple(t.versions) for t in registry})


class StoreServer(ServerHandler):
    def __init__(
        self,
        store: EventStore,
        policy: ServerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        retention_every: float = RETENTION_EVERY,
        seen_every: float = SEEN_EVERY,
        poll: float = 0.5,
        batch_policy: BatchPolicy | None = BatchPolicy(),
    ) -> None:
        self.store = store
        self.logic = ServerLogic(store, policy)
        self.batch_policy = batch_policy  # used on version-1 sessions only (BPUB-7)
        self.clock = clock
        self.poll = poll
        self.housekeeping = Housekeeping(store, clock=clock, retention_every=retention_every, seen_every=seen_every)
        self.pumps: dict[PeerSession, OutboxPump] = {}

    @property
    def policy(self) -> ServerPolicy:
        """What the server accepts, refuses and sends (the session logic's policy)."""
        return self.logic.policy

    @policy.setter
    def policy(self, policy: ServerPolicy) -> None:
        self.logic.policy = policy

    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        return self.logic.decide(client, request)

    def refusal_close(self, client: str, response: ConnectionResponse) -> tuple[int | None, bytes]:
        return self.logic.refusal_close(response)  # CLOSE-4: the policy's retry_after

    async def on_connect(self, session: PeerSession, client: str) -> None:
        self.logic.connected(client, self.clock())
        self.housekeeping.handshake(client)
        pump = self.new_pump(session, client)
        self.pumps[session] = pump
        pump.start()

    def new_pump(self, session: PeerSession, client: str) -> OutboxPump:
        """The outbox pump of a new session with ``client`` (an override point: a subclass of OutboxPump)."""
        return OutboxPump(
            self.store, client, session, poll=self.poll, housekeeping=self.housekeeping, batch_policy=self.batch_policy
        )

    def notify(self, client: str) -> None:
        """New events for ``client`` were appended: publish them now rather than at the next poll."""
        for session, pump in self.pumps.items():
            if session.peer == client:
                pump.wake.set()

    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None:
        self.housekeeping.seen(client)
        return self.logic.answer(client, event)  # MSGID-9: stored before the ACK; DELIV-2: duplicates ACKed

    async def on_batch_answered(self, session: PeerSession, client: str, answer: BatchAnswered) -> None:
        """BRES-6: the client's answer to a batch the pump sent (version 1)."""
        self.housekeeping.seen(client)
        self.logic.batch_answered(client, answer, self.clock())

    def bases_for(self, client: str) -> BaseLookup | None:
        """CTX-9: the bases kept in the store for ``client`` (within the policy's count and lifetime)."""
        return self.logic.bases_for(client, self.clock())

    async def keep_base(self, session: PeerSession, client: str, base: ContextBase) -> None:
        """CTX-8, CTX-9: in the store, after the batch's events, before the ACK."""
        self.logic.store_base(client, base, self.clock())

    async def on_base_missing(self, session: PeerSession, client: str, missing: BaseMissing) -> None:
        self.logic.base_missing(client, missing)

    async def on_ack(self, session: PeerSession, client: str, event: Event) -> None:
        self.housekeeping.seen(client)
        self.logic.acked(client, event)

    async def on_nack(
        self, session: PeerSession, client: str, event: Event, machine_message: bytes, human_message: bytes
    ) -> None:
        self.housekeeping.seen(client)
        self.logic.nacked(client, event, machine_message, human_message, self.clock())

    async def on_disconnect(self, session: PeerSession, client: str, closed: ConnectionClosed) -> None:
        pump = self.pumps.pop(session, None)
        if pump is not None:
            await pump.stop()
        self.housekeeping.flush(client)


class StoreClient(ClientHandler):
    """A client that syncs its store with one server, identified by ``server_name``."""

    def __init__(
        self,
        store: EventStore,
        *,
        server_name: str,
        app_version: bytes,
        clock: Callable[[], float] = time.time,
        retention_every: float = RETENTION_EVERY,
        seen_every: float = SEEN_EVERY,
        poll: float = 0.5,
        batch_policy: BatchPolicy | None = BatchPolicy(),
    ) -> None:
        self.store = store
        self.logic = ClientLogic(store, server_name=server_name, app_version=app_version)
        self.batch_policy = batch_policy  # used on version-1 sessions only (BPUB-7)
        self.clock = clock
        self.poll = poll
        self.housekeeping = Housekeeping(store, clock=clock, retention_every=retention_every, seen_every=seen_every)
        self.pump: OutboxPump | None = None
        self.refused: ConnectionResponse | None = None  # the last refusal
        self.refusals: list[ConnectionResponse] = []  # every refusal since the handler was made, oldest first
        self.refused_now = asyncio.Event()  # set at each refusal and each CLOSE, for whoever reports them
        self.closes: list[PeerClosed] = []  # every CLOSE the server sent (version 1), oldest first
        self.synced = asyncio.Event()

    @property
    def server_name(self) -> str:
        return self.logic.server_name

    @server_name.setter
    def server_name(self, name: str) -> None:
        self.logic.server_name = name

    @property
    def app_version(self) -> bytes:
        return self.logic.app_version

    @app_version.setter
    def app_version(self, version: bytes) -> None:
        self.logic.app_version = version

    @property
    def version_memory(self) -> MutableMapping[str, tuple[int, float]]:
        """What a version-1 client remembers of each server's protocol version, kept in the store (VER-3)."""
        return StoredVersions(self.store)

    def connection_request(self) -> ConnectionRequest:
        return self.logic.connection_request()

    async def on_hello(self, server_instance_id: int) -> None:
        self.logic.hello(server_instance_id)  # HS-13

    async def on_connect(self, session: PeerSession) -> None:
        self.logic.connected()
        self.housekeeping.handshake(self.server_name)
        self.pump = self.new_pump(session)
        self.pump.start()
        self.check_synced()

    def new_pump(self, session: PeerSession) -> OutboxPump:
        """The outbox pump of a new session (an override point: a subclass of OutboxPump)."""
        return OutboxPump(
            self.store,
            self.server_name,
            session,
            poll=self.poll,
            housekeeping=self.housekeeping,
            batch_policy=self.batch_policy,
            context=self.logic.context,  # CTX-10: the server's bases, known across sessions (not across restarts)
        )

    async def on_refused(self, response: ConnectionResponse) -> None:
        """HS-17: kept for the operator, in memory and in the store (``sink status`` shows it)."""
        self.refused = response
        self.refusals.append(response)
        self.logic.refused(response, self.clock())
        self.refused_now.set()

    async def on_peer_closed(self, closed: PeerClosed) -> None:
        """CLOSE-9, CLOSE-10: kept for the operator; the logic remembers its ``retry_after``."""
        self.closes.append(closed)
        self.logic.peer_closed(closed)
        self.refused_now.set()

    async def on_event(self, session: PeerSession, event: Event) -> Answer | None:
        self.housekeeping.seen(self.server_name)
        return self.logic.answer(event)

    async def on_ack(self, session: PeerSession, event: Event) -> None:
        self.housekeeping.seen(self.server_name)
        self.logic.acked(self.server_name, event)
        self.check_synced()

    async def on_nack(self, session: PeerSession, event: Event, machine_message: bytes, human_message: bytes) -> None:
        self.housekeeping.seen(self.server_name)
        self.logic.nacked(self.server_name, event, machine_message, human_message, self.clock())
        log.warning(
            "event refused",
            extra={"offset": event.offset, "machine_message": machine_message, "human_message": human_message},
        )
        self.check_synced()

    async def on_batch_answered(self, session: PeerSession, answer: BatchAnswered) -> None:
        """BRES-6: NACKed events of the batch are dead letters, every other one is delivered."""
        self.housekeeping.seen(self.server_name)
        self.logic.batch_answered(self.server_name, answer, self.clock())
        if answer.unknown_base and answer.context is not None:
            base = answer.context.base
            log.warning(
                "server lacks the context base, resending without context",
                extra={
                    "base_id": base.batch_id if base is not None else 0,
                    "events": len(answer.events),
                    "fallbacks": self.logic.context.fallbacks,
                    "requirement": "CTX-11",
                },
            )
        elif answer.nacked:
            log.warning(
                "events of a batch refused", extra={"refused": len(answer.nacked), "events": len(answer.events)}
            )
        self.check_synced()

    async def on_disconnect(self, closed: ConnectionClosed) -> None:
        if self.pump is not None:
            await self.pump.stop()
            self.pump = None
        self.housekeeping.flush(self.server_name)

    def check_synced(self) -> None:
        """Set or clear ``synced``: whether nothing is pending for the server (after an answer is recorded)."""
        if self.logic.synced():
            self.synced.set()
        else:
            self.synced.clear()
