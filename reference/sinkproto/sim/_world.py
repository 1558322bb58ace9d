"""The simulated world of one schedule: a virtual clock, one server, its clients and the network between them.

Everything is single-threaded and deterministic: the only time is
``World.now`` (virtual seconds) and every random choice comes from the
schedule's seeded generator. The peers are the real
:class:`~sinkproto.connection.Connection`, the real event store (SQLite
files in ``directory``) and the real session logic of
:mod:`sinkproto.session`; the world plays the transport and the process
around them, the way :mod:`sinkproto.peers` does with asyncio.
"""

from __future__ import annotations

import functools
import random
import shutil
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from ..connection import DEFAULT_RULES, Connection, Role, State
from ..events import (
    BaseMissing,
    BatchAnswered,
    BatchReceived,
    ConnectionClosed,
    ConnectionEvent,
    EventReceived,
    HandshakeCompleted,
    HandshakeRefused,
    HandshakeRequested,
    PeerClosed,
    ProtocolError,
    PublishAcked,
    PublishNacked,
)
from ..handshake import Quarantine
from ..messages import ConnectionResponse, Event, Response
from ..readers import ReaderSchemas
from ..records import RecordSchemas
from ..session.answer import Tally, respond
from ..session.backoff import Backoff
from ..session.batching import BatchPolicy, publish_ready
from ..session.logic import ClientLogic, ServerLogic, ServerPolicy, StoreLogic
from ..session.versions import StoredVersions, fall_back, request_for, version_to_offer
from ._store import CrashableStore, SimulatedCrash
from .invariants import Checker
from .mutants import MUTANTS, Mutant
from .schedule import SERVER, Schedule, Step

__all__ = ["World"]

SERVER_NAME = "server"
POISON = b"poison/"
EPOCH = 1_800_000_000.0  # the wall clocks' start (a Unix time)
RETRY_AFTER = 90  # CLOSE-9: what the server's CLOSE after a refusal says, longer than the last backoff step
REPROBE_AFTER = 600.0  # VER-4, shorter than the field's day so a schedule sees a re-probe
ACCEPTED = (Response.CONNECTED, Response.HELLO_NEW_CLIENT)
_WINDOW_EVENTS = (HandshakeCompleted, PublishAcked, PublishNacked, BatchAnswered)
_TEMPLATES: dict[tuple[str, int], Path] = {}  # (directory, instance id) -> a fresh store file to copy
#: The clients' events (type 1) are meter readings in Avro, a schema both sides know, so version-1 batches may go
#: in records mode and in mode context (RECORD-2, CTX-1); the server declares that it reads them (SNEG-3).
READING_SCHEMA = {"type": "record", "name": "SimReading", "fields": [{"name": "reading", "type": "long"}]}
RECORD_SCHEMAS = RecordSchemas({(1, 1): READING_SCHEMA})
READERS = ReaderSchemas.from_mapping({1: (1,)})


def _reading(value: int) -> bytes:
    """The Avro binary of a SimReading: ``reading`` as a zigzag varint (canonical, RECORD-1)."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class Pipe:
    """One direction of one connection: chunks in transit, each with its arrival time; b"" is the end."""

    __slots__ = ("chunks", "last", "held_until", "ended")

    def __init__(self) -> None:
        self.chunks: deque[tuple[float, bytes]] = deque()
        self.last = 0.0  # arrival of the last chunk: TCP delivers in order
        self.held_until = 0.0  # a partition: TCP retransmits, nothing arrives before it heals
        self.ended = False  # the stream was closed or reset: nothing more is sent

    def send(self, rng: random.Random, data: bytes, now: float) -> None:
        if self.ended:
            return
        while data:  # split a write into segments
            cut = len(data) if rng.random() < 0.6 else rng.randint(1, len(data))
            delay = rng.expovariate(100.0) if rng.random() < 0.95 else rng.uniform(0.2, 3.0)
            self.last = max(self.last, now + delay, self.held_until + delay)
            self.chunks.append((self.last, data[:cut]))
            data = data[cut:]

    def end(self, now: float, delay: float) -> None:
        if self.ended:
            return
        self.ended = True
        self.last = max(self.last, now + delay)
        self.chunks.append((self.last, b""))

    def hold(self, until: float) -> None:
        """A partition until ``until``: what is in transit, and what is sent meanwhile, arrives after it."""
        self.held_until = max(self.held_until, until)
        self.chunks = deque((max(at, until), chunk) for at, chunk in self.chunks)
        if self.chunks:
            self.last = max(self.last, self.chunks[-1][0])

    def due(self, now: float) -> tuple[bytes, bool]:
        """What has arrived by ``now`` (coalesced into one read) and whether the end arrived."""
        data = bytearray()
        chunks = self.chunks
        while chunks and chunks[0][0] <= now:
            chunk = chunks.popleft()[1]
            if not chunk:
                chunks.clear()
                return bytes(data), True
            data += chunk
        return bytes(data), False


class Link:
    """One TCP connection between client ``client`` and the server."""

    __slots__ = (
        "client",
        "cconn",
        "sconn",
        "up",
        "down",
        "refused",
        "handshaken",
        "server_handshaken",
        "ids",
        "reprobe",
        "tally",
    )

    def __init__(self, client: int, cconn: Connection, sconn: Connection) -> None:
        self.client = client
        self.cconn: Connection | None = cconn  # None: the client's end is gone (closed or crashed)
        self.sconn: Connection | None = sconn
        self.up = Pipe()  # client -> server
        self.down = Pipe()  # server -> client
        self.refused = False  # the client's handshake was refused
        self.handshaken = False  # the client saw an accepting response
        self.server_handshaken = False
        self.ids: tuple[set[int], set[int]] = (set(), set())  # message ids in flight: the client's, the server's
        self.reprobe = False  # the client offers its highest version again (VER-4)
        self.tally = (Tally(), Tally())  # what each end carried: the client's, the server's


class Node:
    """A peer process: its store file, its store and logic while up, and when it comes back after a crash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store: CrashableStore | None = None
        self.down_until: float | None = None
        self.wall_offset = 0.0


class ClientNode(Node):
    def __init__(self, index: int, path: Path, versions: tuple[int, ...]) -> None:
        super().__init__(path)
        self.index = index
        self.name = f"c{index}"
        self.versions = versions
        self.logic: ClientLogic | None = None
        self.backoff: Backoff | None = None
        self.next_attempt: float | None = 0.0
        self.delay: float | None = None  # the delay before next_attempt (None: first attempt of the process)
        self.link: Link | None = None
        self.partitioned_until = 0.0
        self.offered = 0


class World:
    """Runs one schedule; ``checker.violations`` says what broke."""

    def __init__(self, schedule: Schedule, directory: Path) -> None:
        self.schedule = schedule
        self.rng = random.Random(schedule.seed)
        self.now = 0.0
        self.events = 0  # simulated events: deliveries, timers, attempts, steps
        self.sink_events = 0  # events appended by the peers
        self.mutant: Mutant = MUTANTS[schedule.mutant] if schedule.mutant else Mutant("", "")
        self.checker = Checker(schedule.clients, schedule.client_versions)
        self.server_versions = schedule.server_versions
        self.versions_changed = [False] * schedule.clients
        self.server = Node(_fresh_store(directory, "server.db", 0x5E4E))
        self.server_logic: ServerLogic | None = None
        self.clients = [
            ClientNode(i, _fresh_store(directory, f"c{i}.db", 0xC000 + i), schedule.client_versions[i])
            for i in range(schedule.clients)
        ]
        policy = ServerPolicy(
            nack_key_prefix=POISON, retry_after=RETRY_AFTER, readers=READERS, context_bases=schedule.context_bases
        )
        for index, why in schedule.refused.items():
            if why == "quarantine":
                policy.quarantined[f"c{index}"] = Quarantine(machine_message=b"sim", human_message=b"quarantined")
        self.policy = policy
        self.batch_policy = BatchPolicy(max_batch_size=schedule.batch_size, max_batch_delay=0.0)
        self.links: list[Link] = []
        self._start_server()
        for client in self.clients:
            self._start_client(client)
            if schedule.refused.get(client.index) == "mismatch":
                assert client.store is not None
                client.store.set_server_instance_id_for(SERVER_NAME, 0x0BAD)  # HS-9: not the server's id

    # -- processes ------------------------------------------------------------------------------------

    def wall(self, node: Node) -> float:
        return EPOCH + self.now + node.wall_offset

    def _start_server(self) -> None:
        store = CrashableStore.open(self.server.path, new_instance_id=lambda: 0x5E4E)
        self.server.store = store
        self.server_logic = self.mutant.server_logic(store, self.policy, on_new=self._server_processed)
        for client in self.clients:
            self.checker.durable(
                client.index, True, {k for _, e in store.received(client.name) for k in [e.dedupe_key]}
            )

    def _start_client(self, client: ClientNode) -> None:
        store = CrashableStore.open(client.path, new_instance_id=lambda: 0xC000 + client.index)
        client.store = store
        client.logic = self.mutant.client_logic(
            store,
            server_name=SERVER_NAME,
            app_version=b"sim",
            on_new=functools.partial(self._client_processed, client.index),
        )
        client.backoff = Backoff(self.rng.uniform)
        client.next_attempt, client.delay = self.now, None
        self.checker.restarted(client.index)
        self.checker.durable(client.index, False, {e.dedupe_key for _, e in store.received(SERVER_NAME)})

    def _server_processed(self, peer: str, event: Event) -> None:
        self.checker.processed(int(peer[1:]), True, event)

    def _client_processed(self, client: int, peer: str, event: Event) -> None:
        self.checker.processed(client, False, event)

    def crash(self, node: Node) -> None:
        """Power loss: the store object is dropped (its file keeps what was committed), every connection of the
        node vanishes; the peer of each sees the end later, or (half of the time) never and times out."""
        if node.down_until is not None:
            return
        if node.store is not None:
            node.store.close()
            node.store = None
        node.down_until = float("inf")
        for link in self.links:
            if node is self.server and link.sconn is not None:
                link.sconn = None
                self._lose(link.down)
            elif isinstance(node, ClientNode) and link.client == node.index and link.cconn is not None:
                link.cconn = None
                self._lose(link.up)
        if isinstance(node, ClientNode):
            node.link, node.logic, node.backoff, node.next_attempt = None, None, None, None
        else:
            self.server_logic = None

    def _lose(self, pipe: Pipe) -> None:
        """The sender of ``pipe`` lost power: what it sent is lost; its peer sees a reset, or (half of the
        time) nothing at all and has to notice the silence."""
        if pipe.ended:
            return
        pipe.chunks.clear()
        if self.rng.random() < 0.5:
            pipe.end(self.now, self.rng.uniform(0.0, 0.1))
        else:
            pipe.ended = True

    # -- the loop -------------------------------------------------------------------------------------

    def next_time(self) -> float | None:
        times: list[float] = []
        for node in (self.server, *self.clients):
            if node.down_until is not None and node.down_until != float("inf"):
                times.append(node.down_until)
        for client in self.clients:
            if client.next_attempt is not None and client.down_until is None:
                times.append(client.next_attempt)
        for link in self.links:
            if link.cconn is not None:
                if link.down.chunks:
                    times.append(link.down.chunks[0][0])
                timer = link.cconn.next_timer()
                if timer is not None:
                    times.append(timer)
            if link.sconn is not None:
                if link.up.chunks:
                    times.append(link.up.chunks[0][0])
                timer = link.sconn.next_timer()
                if timer is not None:
                    times.append(timer)
        return min(times) if times else None

    def run_until(self, end: float) -> None:
        while not self.checker.violations:
            when = self.next_time()
            if when is None or when > end:
                self.now = max(self.now, end)
                return
            self.now = max(self.now, when)
            self.checker.now = self.now
            self._process_due()

    def _process_due(self) -> None:
        now = self.now
        if self.server.down_until is not None and self.server.down_until <= now:
            self.server.down_until = None
            self._start_server()
        for client in self.clients:
            if client.down_until is not None and client.down_until <= now:
                client.down_until = None
                self._start_client(client)
        for client in self.clients:
            if client.next_attempt is not None and client.next_attempt <= now and client.down_until is None:
                self.events += 1
                client.next_attempt = None
                self._attempt(client)
        for link in list(self.links):
            if link.cconn is not None and link.down.chunks and link.down.chunks[0][0] <= now:
                self.events += 1
                data, end = link.down.due(now)
                self._feed(link, False, data, end)
            if link.sconn is not None and link.up.chunks and link.up.chunks[0][0] <= now:
                self.events += 1
                data, end = link.up.due(now)
                self._feed(link, True, data, end)
            for to_server in (False, True):
                conn = link.sconn if to_server else link.cconn
                if conn is not None:
                    timer = conn.next_timer()
                    if timer is not None and timer <= now:
                        self.events += 1
                        self._handle(link, to_server, functools.partial(conn.handle_timer, now))
        self.links = [link for link in self.links if link.cconn is not None or link.sconn is not None]

    def _feed(self, link: Link, to_server: bool, data: bytes, end: bool) -> None:
        now = self.now
        if data:
            conn = link.sconn if to_server else link.cconn
            assert conn is not None
            self._handle(link, to_server, functools.partial(conn.receive_data, data, now))
        if end:
            ended = link.sconn if to_server else link.cconn  # None if the data made it close already
            if ended is not None:
                self._handle(link, to_server, functools.partial(ended.receive_data, b"", now))

    def _handle(self, link: Link, server_side: bool, action: Callable[[], list[ConnectionEvent]]) -> None:
        """Run ``action`` (a connection call returning events) on one end, dispatch, pump, flush; a store crash
        inside takes the node down."""
        node = self.server if server_side else self.clients[link.client]
        try:
            events = action()
            self._dispatch(link, server_side, events)
            if any(isinstance(event, _WINDOW_EVENTS) for event in events):
                self._pump(link, server_side)  # the handshake completed, or the in-flight window has room again
        except SimulatedCrash:
            self._crashed(node)
            return
        self._flush(link)

    def _crashed(self, node: Node) -> None:
        self.crash(node)
        node.down_until = self.now + self.rng.uniform(0.0, 5.0)

    def _flush(self, link: Link) -> None:
        for conn, pipe, server_side in ((link.cconn, link.up, False), (link.sconn, link.down, True)):
            if conn is None:
                continue
            data = conn.data_to_send()
            if data:
                pipe.send(self.rng, data, self.now)
            if conn.state is State.CLOSED:
                pipe.end(self.now, self.rng.uniform(0.0, 0.01))
                if server_side:
                    link.sconn = None
                else:
                    link.cconn = None

    # -- connecting -----------------------------------------------------------------------------------

    def _attempt(self, client: ClientNode) -> None:
        self.checker.attempt(client.index, client.delay)
        assert client.store is not None and client.backoff is not None
        memory = StoredVersions(client.store)
        client.offered = version_to_offer(client.versions, memory, SERVER_NAME, self.wall(client), REPROBE_AFTER)
        remembered = memory.get(SERVER_NAME)
        # VER-4: offering the highest version again after reprobe_after (by the client's wall clock) is no failure
        reprobe = remembered is not None and self.wall(client) - remembered[1] >= REPROBE_AFTER
        if self.server.down_until is not None or client.partitioned_until > self.now:
            self._retry_later(client)  # TCP connect fails
            return
        cconn = Connection(
            Role.CLIENT,
            now=self.now,
            message_id_start=self.rng.randrange(4096),
            versions=tuple(v for v in client.versions if v <= client.offered),
            keepalive=self.schedule.keepalive,
            rules=self.mutant.client_rules,
            record_schemas=RECORD_SCHEMAS,
        )
        assert self.server_logic is not None
        sconn = Connection(
            Role.SERVER,
            now=self.now,
            message_id_start=self.rng.randrange(4096),
            versions=self.server_versions,
            keepalive=self.schedule.keepalive,
            rules=DEFAULT_RULES,
            record_schemas=RECORD_SCHEMAS,
            bases=self.server_logic.bases_for(client.name, self.wall(self.server)),  # CTX-9: from its store
        )
        link = Link(client.index, cconn, sconn)
        link.reprobe = reprobe
        self.links.append(link)
        client.link = link
        assert client.logic is not None
        request = client.logic.connection_request()
        request = request_for(client.offered, request)
        try:
            cconn.send_request(request, self.now)
        except SimulatedCrash:
            self._crashed(client)
            return
        self._flush(link)

    def _retry_later(self, client: ClientNode) -> None:
        assert client.backoff is not None and client.logic is not None
        client.delay = client.logic.reconnect_delay(client.backoff)  # DELIV-7, CLOSE-9
        client.next_attempt = self.now + client.delay

    # -- events ---------------------------------------------------------------------------------------

    def _dispatch(self, link: Link, server_side: bool, events: Iterable[ConnectionEvent]) -> None:
        for event in events:
            if server_side:
                self._server_event(link, event)
            else:
                self._client_event(link, event)

    def _answered(
        self, link: Link, upstream: bool, message_id: int, acked: Iterable[Event], nacked: Iterable[Event]
    ) -> None:
        link.ids[0 if upstream else 1].discard(message_id)
        self.checker.answered(link.client, upstream, acked, nacked)

    def _server_event(self, link: Link, event: ConnectionEvent) -> None:
        logic, conn, now = self.server_logic, link.sconn, self.now
        assert logic is not None and conn is not None
        client = f"c{link.client}"
        if isinstance(event, HandshakeRequested):
            response = logic.decide(client, event.request)
            if conn.state is State.DECIDING:
                retry_after, text = None, b""
                if response.response not in ACCEPTED and conn.negotiated_version == 1:  # version 0 has no CLOSE
                    retry_after, text = logic.refusal_close(response)
                self._dispatch(
                    link, True, conn.send_response(response, now, retry_after=retry_after, human_message=text)
                )
        elif isinstance(event, HandshakeCompleted):
            for other in self.links:  # DELIV-10: the newest connection of a client wins
                if other is not link and other.client == link.client and other.sconn is not None:
                    old = other.sconn
                    self._dispatch(other, True, old.close())
                    self._flush(other)
            link.server_handshaken = True
            logic.connected(client, self.wall(self.server))
        elif isinstance(event, EventReceived):
            if link.refused:
                self.checker.received_on_refused(link.client, True, 1)
            if conn.state is State.OPEN:
                respond(conn, event.message_id, logic.answer(client, event.event), now, link.tally[1])
        elif isinstance(event, BatchReceived):
            nacks: dict[int, tuple[bytes, bytes]] = {}
            for index, received in enumerate(event.events):
                answer = logic.answer(client, received)
                if answer is not None and not answer.ack:
                    nacks[index] = (answer.machine_message, answer.human_message)
            if event.message_id in conn.awaiting_batch_answer:
                if conn.takes_context:
                    logic.keep_base(client, event, nacks, self.wall(self.server))  # CTX-9: before the ACK
                conn.answer_batch(event.message_id, now, nacks)
        elif isinstance(event, BaseMissing):
            logic.base_missing(client, event)  # CTX-5: NACKed unknown_base; the connection stays open
        elif isinstance(event, PublishAcked):
            self._answered(link, False, event.message_id, (event.event,), ())
            logic.acked(client, event.event)
        elif isinstance(event, PublishNacked):
            logic.nacked(client, event.event, event.machine_message, event.human_message, self.wall(self.server))
            self._answered(link, False, event.message_id, (), (event.event,))  # the dead letter is committed
        elif isinstance(event, BatchAnswered):
            self._answered(link, False, event.message_id, event.acked_events, ())
            logic.batch_answered(client, event, self.wall(self.server))
            self._answered(link, False, event.message_id, (), [e for e, _ in event.nacked_events])
        elif isinstance(event, ProtocolError):
            self.checker.protocol_error(f"the server (client {link.client})", event.requirement, event.detail)
        elif isinstance(event, ConnectionClosed):
            link.ids[1].clear()

    def _client_event(self, link: Link, event: ConnectionEvent) -> None:
        client = self.clients[link.client]
        logic, conn, now = client.logic, link.cconn, self.now
        assert logic is not None and conn is not None and client.backoff is not None
        if isinstance(event, (HandshakeCompleted, HandshakeRefused)):
            response: ConnectionResponse = event.response
            accepted = response.response in ACCEPTED
            version_refused = response.response is Response.UNSUPPORTED_PROTOCOL_VERSION
            self.checker.handshake(
                link.client, accepted, version_refused, self.versions_changed[link.client] or link.reprobe
            )
            self.versions_changed[link.client] = False
            link.refused = not accepted
            if version_refused:
                fall_back(client.versions, StoredVersions(logic.store), SERVER_NAME, client.offered, self.wall(client))
            if not accepted:
                logic.refused(response, self.wall(client))
            if isinstance(event, HandshakeCompleted):
                if response.response is Response.HELLO_NEW_CLIENT and response.server_instance_id is not None:
                    logic.hello(response.server_instance_id)
                if accepted:
                    client.backoff.reset()  # DELIV-9
                link.handshaken = True
                logic.connected()
        elif isinstance(event, EventReceived):
            if link.refused:
                self.checker.received_on_refused(link.client, False, 1)
            if conn.state is State.OPEN:
                respond(conn, event.message_id, logic.answer(event.event), now, link.tally[0])
        elif isinstance(event, BatchReceived):
            if link.refused:
                self.checker.received_on_refused(link.client, False, len(event.events))
            nacks: dict[int, tuple[bytes, bytes]] = {}
            for index, received in enumerate(event.events):
                answer = logic.answer(received)
                if answer is not None and not answer.ack:
                    nacks[index] = (answer.machine_message, answer.human_message)
            if event.message_id in conn.awaiting_batch_answer:
                conn.answer_batch(event.message_id, now, nacks)
        elif isinstance(event, PublishAcked):
            self._answered(link, True, event.message_id, (event.event,), ())
            logic.acked(SERVER_NAME, event.event)
        elif isinstance(event, PublishNacked):
            logic.nacked(SERVER_NAME, event.event, event.machine_message, event.human_message, self.wall(client))
            self._answered(link, True, event.message_id, (), (event.event,))  # the dead letter is committed
        elif isinstance(event, BatchAnswered) and event.unknown_base:
            # CTX-11: neither delivered nor refused; the events stay pending and go again without the forgotten bases
            self._answered(link, True, event.message_id, (), ())
            self.checker.bases_forgotten(link.client)
            logic.batch_answered(SERVER_NAME, event, self.wall(client))
        elif isinstance(event, BatchAnswered):
            self._answered(link, True, event.message_id, event.acked_events, ())
            if event.became_base is not None:
                self.checker.base_acked(link.client, event.became_base)  # CTX-10: a base it may name from now on
            logic.batch_answered(SERVER_NAME, event, self.wall(client))
            self._answered(link, True, event.message_id, (), [e for e, _ in event.nacked_events])
        elif isinstance(event, PeerClosed):
            self.checker.peer_closed(link.client, event.retry_after)
            logic.peer_closed(event)  # CLOSE-9
        elif isinstance(event, ProtocolError):
            self.checker.protocol_error(f"client {link.client}", event.requirement, event.detail)
        elif isinstance(event, ConnectionClosed):
            link.ids[0].clear()
            if client.link is link:
                client.link = None
                self._retry_later(client)

    # -- publishing -----------------------------------------------------------------------------------

    def _pump(self, link: Link, server_side: bool) -> None:
        logic: StoreLogic | None
        if server_side:
            conn, logic, peer, ready = link.sconn, self.server_logic, f"c{link.client}", link.server_handshaken
        else:
            client = self.clients[link.client]
            conn, logic, peer, ready = link.cconn, client.logic, SERVER_NAME, link.handshaken
        if conn is None or logic is None or not ready or conn.state is not State.OPEN:
            return
        events = logic.pending(peer, conn, self.batch_policy)
        if not events:
            return
        ids = link.ids[1 if server_side else 0]
        for message_id, sent in publish_ready(conn, events, self.now, self.batch_policy, logic.context):
            if message_id in ids:
                self.checker.message_id_reused(link.client, not server_side, message_id)
            ids.add(message_id)
            self.checker.published(link.client, not server_side, sent, refused=link.refused)
            context = conn.ledger.batch_contexts.get(message_id)
            if context is not None and context.base is not None:
                self.checker.base_named(link.client, not server_side, context.base)  # CTX-10, CTX-11

    def pump_all(self) -> None:
        for link in list(self.links):
            for server_side in (False, True):
                node = self.server if server_side else self.clients[link.client]
                try:
                    self._pump(link, server_side)
                except SimulatedCrash:
                    self._crashed(node)
            self._flush(link)

    # -- steps ----------------------------------------------------------------------------------------

    def apply(self, step: Step) -> None:
        """Apply one step of the schedule, then let a little time pass."""
        self.events += 1
        self.checker.now = self.now
        kind, args = step.kind, step.args
        if kind in ("append", "poison"):
            client = self.clients[int(args[0])]
            if client.store is not None:
                for _ in range(int(args[1])):
                    if client.store is not None:
                        self._append_client(client, kind == "poison")
        elif kind == "server_append":
            if self.server.store is not None:
                for _ in range(int(args[0])):
                    if self.server.store is not None:
                        self._append_server()
        elif kind == "wait":
            self.run_until(self.now + float(args[0]))
        elif kind == "drop":
            link = self.clients[int(args[0])].link
            if link is not None:
                self._drop(link, str(args[1]))
        elif kind == "partition":
            client = self.clients[int(args[0])]
            client.partitioned_until = max(client.partitioned_until, self.now + float(args[1]))
            for link in self.links:
                if link.client == client.index:
                    link.up.hold(client.partitioned_until)
                    link.down.hold(client.partitioned_until)
        elif kind == "crash":
            node: Node = self.server if int(args[0]) == SERVER else self.clients[int(args[0])]
            if node.store is not None:
                if int(args[1]) == 0:
                    self.crash(node)
                    node.down_until = self.now + float(args[2])
                else:
                    node.store.fuse = int(args[1])
        elif kind == "clock_jump":
            node = self.server if int(args[0]) == SERVER else self.clients[int(args[0])]
            node.wall_offset += float(args[1])
        elif kind == "upgrade":
            if 1 not in self.server_versions:
                self.server_versions = (*self.server_versions, 1)
                self.versions_changed = [True] * len(self.clients)
        elif kind == "lose_bases":
            self._lose_bases()
        if kind in ("append", "poison", "server_append"):
            self.pump_all()
        self.run_until(self.now + 0.001)

    def _lose_bases(self) -> None:
        """CTX-9: another instance answers (or the server restarted on a store without them): no base is held."""
        store = self.server.store
        if store is None:
            return
        try:
            for client in self.clients:
                store.forget_bases(client.name)
        except SimulatedCrash:
            self._crashed(self.server)
            return
        for link in self.links:
            if link.sconn is not None and link.sconn.bases is not None:
                link.sconn.bases.clear()

    def _append_client(self, client: ClientNode, poison: bool) -> None:
        assert client.store is not None
        topic = b"poison/c%d" % client.index if poison else b"c%d/t%d" % (client.index, self.rng.randrange(2))
        try:
            event = client.store.append(
                event_type_id=1,
                key=topic,
                schema_version=1,
                timestamp=int(self.wall(client)),
                event_data=_reading(self.sink_events * 7 + 1000),
            )
        except SimulatedCrash:
            self._crashed(client)
            return
        self.sink_events += 1
        self.checker.appended(client.index, True, event, poison)

    def _append_server(self) -> None:
        assert self.server.store is not None
        try:
            event = self.server.store.append(
                event_type_id=2,
                key=b"s/t%d" % self.rng.randrange(2),
                schema_version=1,
                timestamp=int(self.wall(self.server)),
                event_data=b"y" * 8,
            )
        except SimulatedCrash:
            self._crashed(self.server)
            return
        self.sink_events += 1
        for client in self.clients:
            self.checker.appended(client.index, False, event)

    def _drop(self, link: Link, how: str) -> None:
        for pipe in (link.up, link.down):
            if pipe.ended:
                continue
            if how == "unread":
                pipe.chunks.clear()
            elif how == "mid_frame" and pipe.chunks:
                total = b"".join(c for _, c in pipe.chunks)
                last = pipe.chunks[-1][0]
                pipe.chunks.clear()
                if total:
                    pipe.chunks.append((last, total[: self.rng.randrange(len(total))]))
            pipe.end(self.now, self.rng.uniform(0.0, 0.05))

    def heal(self) -> None:
        """End every fault: partitions heal, crashed peers come back, fuses are removed; then run until the
        peers are in sync (or ``schedule.heal`` virtual seconds pass) and check the eventual guarantees."""
        for node in (self.server, *self.clients):
            if node.store is not None:
                node.store.fuse = None
            if node.down_until is not None:
                node.down_until = self.now
        for client in self.clients:
            client.partitioned_until = 0.0
        deadline = self.now + self.schedule.heal
        while self.now < deadline and not self.checker.violations:
            self.run_until(min(deadline, self.now + 5.0))
            self.pump_all()
            if self.synced():
                break
        self.checker.now = self.now
        if self.checker.violations:
            return
        assert self.server.store is not None
        for client in self.clients:
            assert client.store is not None
            self.checker.eventually(
                client.index,
                client.index in self.schedule.refused,
                {e.dedupe_key for _, e in self.server.store.received(client.name)},
                {e.dedupe_key for _, e in client.store.received(SERVER_NAME)},
                {d.event.dedupe_key for d in client.store.dead_letters(SERVER_NAME)},
            )

    def synced(self) -> bool:
        server = self.server.store
        if server is None or self.server.down_until is not None:
            return False
        subscribed = server.subscriptions()
        for client in self.clients:
            if client.index in self.schedule.refused:
                continue
            store = client.store
            if store is None or client.down_until is not None:
                return False
            # A peer row without all_types can exist before any handshake (a refusal, a remembered version).
            if store.subscriptions().get(SERVER_NAME, ()) is not None or store.lag(SERVER_NAME) > 0:
                return False
            if subscribed.get(client.name, ()) is not None or server.lag(client.name) > 0:
                return False
        return True

    def close(self) -> None:
        for node in (self.server, *self.clients):
            if node.store is not None:
                node.store.close()
                node.store = None


def _fresh_store(directory: Path, name: str, instance_id: int) -> Path:
    """A new, empty store file: a copy of a template made once per directory and instance id."""
    key = (str(directory), instance_id)
    template = _TEMPLATES.get(key)
    if template is None or not template.exists():
        template = directory / f"template-{instance_id:x}.db"
        CrashableStore.open(template, new_instance_id=lambda: instance_id).close()
        _TEMPLATES[key] = template
    path = directory / name
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copyfile(template, path)
    return path
