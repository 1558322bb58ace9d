"""Context coding above the codec: the connection's rows, the session's choices and fallback, the store's bases,
the simulator's world, and the asyncio peers over mutual TLS (CTX-1, CTX-5, CTX-8..CTX-12).

The events are polls of the ``meter-series`` profile (event type 1, schema version 2 of the kit's registry): a
poll has, nearly row for row, the keys of the last one, which is what context coding is for.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from peer_support import eventually, run
from sinkproto.certs import DevPki, make_dev_pki
from sinkproto.connection import Connection, Role, State
from sinkproto.errors import LocalProtocolError
from sinkproto.events import UNKNOWN_BASE, BaseMissing, BatchAnswered, BatchReceived, ProtocolError
from sinkproto.messages import (
    BatchContext,
    ConnectionRequest,
    ConnectionResponse,
    ContextBase,
    DeclaredLimits,
    Event,
    Response,
)
from sinkproto.peers import BatchPolicy, SinkClient, SinkServer, client_context, server_context
from sinkproto.peers.service import ServerPolicy, StoreClient, StoreServer
from sinkproto.readers import ReaderSchemas
from sinkproto.records import RecordSchemas
from sinkproto.schemas import default_registry
from sinkproto.session import ClientLogic, ServerLogic, publish_ready
from sinkproto.session.batching import ContextSender
from sinkproto.sim import Schedule, Step, run_schedule
from sinkproto.sim._world import World
from sinkproto.store import FORMAT_VERSION, EventStore
from sinktest import covers
from sinktools.bench.series import load as load_series
from sinktools.cli import build_parser, serve_settings

SCHEMAS = RecordSchemas.from_registry(default_registry())
READERS = ReaderSchemas.from_mapping({1: [2]})
POLLS = [p.events for p in load_series().polls]  # 96 polls of about 100 meters, type 1 version 2


def poll(n: int, *, first_offset: int = 1) -> tuple[Event, ...]:
    """Poll ``n`` as the client's store would number it: offsets count per meter (DELIV-3)."""
    return tuple(
        sorted(
            (
                Event(
                    event_type_id=e.event_type_id,
                    key=e.key,
                    offset=first_offset + n,
                    schema_version=e.schema_version,
                    timestamp=e.timestamp,
                    event_data=e.event_data,
                )
                for e in POLLS[n]
            ),
            key=lambda e: (e.event_type_id, e.key, e.offset),
        )
    )


# -- the connection ---------------------------------------------------------------------------------------------


def pair(context_bases: int = 16, bases: dict[int, ContextBase] | None = None) -> tuple[Connection, Connection]:
    """A version-1 client and server, open; the server reads type 1 version 2 and declares ``context_bases``."""
    client = Connection(Role.CLIENT, now=0.0, message_id_start=5, versions=(0, 1), record_schemas=SCHEMAS)
    server = Connection(
        Role.SERVER, now=0.0, message_id_start=9, versions=(0, 1), record_schemas=SCHEMAS, bases=bases or {}
    )
    client.send_request(ConnectionRequest(app_version=b"t", client_instance_id=1, version=1), 0.0)
    server.receive_data(client.data_to_send(), 0.0)
    declared = DeclaredLimits(context_bases=context_bases) if context_bases else None
    response = ConnectionResponse(
        response=Response.HELLO_NEW_CLIENT, server_instance_id=2, reader_schemas=READERS, declared_limits=declared
    )
    server.send_response(response, 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    assert client.state is server.state is State.OPEN
    return client, server


def deliver(sender: Connection, receiver: Connection) -> list[object]:
    return list(receiver.receive_data(sender.data_to_send(), 1.0))


@covers("CTX-8", "CTX-10")
def test_a_batch_in_mode_context_acked_whole_becomes_a_base_on_both_sides() -> None:
    client, server = pair()
    first = poll(0)
    message_id = client.publish_batch(first, 1.0, context=BatchContext(batch_id=1))
    (received,) = deliver(client, server)
    assert isinstance(received, BatchReceived) and received.context == BatchContext(batch_id=1)
    assert received.base == ContextBase(batch_id=1, events=first)
    assert server.bases == {}  # not before the ACK
    server.answer_batch(message_id, 1.0)
    assert server.bases == {1: ContextBase(batch_id=1, events=first)}
    (answered,) = deliver(server, client)
    assert isinstance(answered, BatchAnswered) and not answered.unknown_base
    assert answered.became_base is not None and answered.became_base.digest == received.base.digest
    # the next poll against it: the server decodes the same events
    second = poll(1)
    client.publish_batch(second, 2.0, context=BatchContext(batch_id=2, base=answered.became_base))
    (again,) = deliver(client, server)
    assert isinstance(again, BatchReceived) and again.events == second
    assert again.context is not None and again.context.base is not None and again.context.base.batch_id == 1


@covers("CTX-8")
def test_a_batch_with_a_nacked_event_is_never_a_base() -> None:
    client, server = pair()
    message_id = client.publish_batch(poll(0), 1.0, context=BatchContext(batch_id=1))
    deliver(client, server)
    server.answer_batch(message_id, 1.0, {0: (b"rejected", b"")})
    assert server.bases == {}
    (answered,) = deliver(server, client)
    assert isinstance(answered, BatchAnswered) and answered.became_base is None and not answered.unknown_base


@covers("CTX-5")
def test_a_missing_base_is_nacked_unknown_base_and_the_connection_stays_open() -> None:
    first = poll(0)
    base = ContextBase(batch_id=1, events=first)
    client, server = pair()  # the server holds no base: it restarted on an empty store, say
    client.publish_batch(poll(1), 1.0, context=BatchContext(batch_id=2, base=base))
    message_id = next(iter(client.in_flight_batches))
    events = deliver(client, server)
    assert [type(e) for e in events] == [BaseMissing]
    (missing,) = events
    assert isinstance(missing, BaseMissing)
    assert (missing.message_id, missing.base_id, missing.reason) == (message_id, 1, "unknown")
    assert server.state is State.OPEN and not server.awaiting_batch_answer
    assert server.ledger.last_answered == message_id  # CLOSE-7: answered
    (answered,) = deliver(server, client)
    assert isinstance(answered, BatchAnswered) and answered.unknown_base
    assert {e.machine_message for e in answered.nacked} == {UNKNOWN_BASE}
    assert answered.acked_events == () and client.state is State.OPEN


@covers("CTX-5")
def test_a_stale_base_is_unknown_too_and_every_base_of_the_peer_is_dropped() -> None:
    first, second = poll(0), poll(1)
    held = {1: ContextBase(batch_id=1, events=first), 2: ContextBase(batch_id=2, events=second)}
    client, server = pair(bases=held)
    other = ContextBase(batch_id=1, events=poll(2))  # the same id, other events: another digest
    client.publish_batch(poll(3), 1.0, context=BatchContext(batch_id=3, base=other))
    client.publish_batch(poll(4), 1.0, context=BatchContext(batch_id=4, base=held[2]))  # pipelined behind it
    events = deliver(client, server)
    assert [(type(e), getattr(e, "reason", None)) for e in events] == [(BaseMissing, "stale"), (BaseMissing, "unknown")]
    assert server.bases == {}  # the second is refused too: nothing is accepted ahead of the first's events
    answers = deliver(server, client)
    assert all(isinstance(a, BatchAnswered) and a.unknown_base for a in answers) and len(answers) == 2


@covers("CTX-1")
def test_no_batch_in_mode_context_to_a_peer_that_did_not_declare_it() -> None:
    client, _server = pair(context_bases=0)
    with pytest.raises(LocalProtocolError) as info:
        client.publish_batch(poll(0), 1.0, context=BatchContext(batch_id=1))
    assert info.value.requirement == "CTX-1"
    assert not client.in_flight_batches  # nothing changed
    assert not ContextSender.enabled(client)


@covers("CTX-1")
def test_a_receiver_that_did_not_declare_context_treats_it_as_unknown_format() -> None:
    client, server = pair(context_bases=0)
    client.peer_declared_limits = DeclaredLimits(context_bases=4)  # a client that misread the handshake
    client.publish_batch(poll(0), 1.0, context=BatchContext(batch_id=1))
    events = deliver(client, server)
    errors = [e for e in events if isinstance(e, ProtocolError)]
    assert [(e.error_class, e.requirement) for e in errors] == [("unknown_format", "CTX-1")]
    assert server.state is State.CLOSED


@covers("CTX-9")
def test_the_connection_keeps_the_last_declared_count_of_bases() -> None:
    client, server = pair(context_bases=2)
    for n in range(3):
        message_id = client.publish_batch(poll(n), 1.0, context=BatchContext(batch_id=n + 1))
        deliver(client, server)
        server.answer_batch(message_id, 1.0)
        deliver(server, client)
    assert server.bases is not None and list(server.bases) == [2, 3]


# -- the session --------------------------------------------------------------------------------------------------


def open_store(path: Path | str, instance_id: int = 0xC1) -> EventStore:
    return EventStore.open(path, new_instance_id=lambda: instance_id)


@covers("CTX-10", "CTX-11", "CTX-12", "CTX-13")
def test_the_sender_names_the_last_acked_batch_and_falls_back_after_unknown_base() -> None:
    client, server = pair()
    sender = ContextSender()
    policy = BatchPolicy(max_batch_size=1000, max_batch_delay=0.0)
    ((first_id, first),) = publish_ready(client, poll(0), 1.0, policy, sender)
    assert client.ledger.batch_contexts[first_id] == BatchContext(batch_id=1)  # the first names no base
    deliver(client, server)
    server.answer_batch(first_id, 1.0)
    (answer,) = deliver(server, client)
    assert isinstance(answer, BatchAnswered)
    assert sender.answered(answer) == ContextBase(batch_id=1, events=first)
    ((second_id, _),) = publish_ready(client, poll(1), 2.0, policy, sender)
    second = client.ledger.batch_contexts[second_id]
    assert second.batch_id == 2 and second.base is not None and second.base.batch_id == 1  # CTX-12: ids count up
    server.bases.clear()  # type: ignore[union-attr]  # the server lost its bases
    deliver(client, server)
    (refused,) = deliver(server, client)
    assert isinstance(refused, BatchAnswered) and refused.unknown_base
    assert sender.answered(refused) is None
    assert sender.bases == [] and sender.fallbacks == 1
    ((third_id, resent),) = publish_ready(client, poll(1), 3.0, policy, sender)
    assert resent == poll(1)
    assert client.ledger.batch_contexts[third_id] == BatchContext(batch_id=3)  # again a first base, no base named
    assert (sender.used, sender.based) == (3, 1)


@covers("CTX-10")
def test_a_base_past_the_declared_count_or_lifetime_is_not_named() -> None:
    client, _server = pair(context_bases=1)
    sender = ContextSender()
    for n in (1, 2):
        sender.bases.append((ContextBase(batch_id=n, events=poll(n)), 100.0))
    chosen = sender.context_for(client, poll(3), 200.0)
    assert chosen is not None and chosen.base is not None and chosen.base.batch_id == 2  # the last one only
    assert sender.context_for(client, poll(3), 100.0 + 86400.0) == BatchContext(batch_id=1)  # too old: none
    mixed = (*poll(3)[:2], Event(event_type_id=7, key=b"k", offset=1, schema_version=1, timestamp=1, event_data=b""))
    assert sender.context_for(client, mixed, 200.0) is None  # not one event type: not in mode context


@covers("CTX-11")
def test_events_wait_behind_an_unanswered_batch_naming_a_forgotten_base() -> None:
    client, _server = pair()
    sender = ContextSender()
    base = ContextBase(batch_id=1, events=poll(0))
    sender.bases.append((base, 0.0))
    policy = BatchPolicy(max_batch_size=1000, max_batch_delay=0.0)
    publish_ready(client, poll(1), 1.0, policy, sender)  # names base 1, in flight
    sender.forget()  # another batch was refused unknown_base meanwhile
    assert all(sender.held(client, e) for e in poll(2))
    assert publish_ready(client, poll(2), 2.0, policy, sender) == []  # would be accepted ahead of poll 1's resend


@covers("CTX-11")
def test_unknown_base_keeps_the_events_pending_neither_delivered_nor_dead_letters(tmp_path: Path) -> None:
    store = open_store(tmp_path / "client.db")
    store.subscribe("cloud")
    for e in poll(0):
        store.append(
            event_type_id=e.event_type_id,
            key=e.key,
            schema_version=e.schema_version,
            timestamp=e.timestamp,
            event_data=e.event_data,
        )
    logic = ClientLogic(store, server_name="cloud", app_version=b"t")
    client, server = pair()
    policy = BatchPolicy(max_batch_size=1000, max_batch_delay=0.0)
    logic.context.bases.append((ContextBase(batch_id=7, events=poll(5)), 0.0))  # a base the server lacks
    pending = logic.pending("cloud", client, policy)
    ((_, sent),) = publish_ready(client, pending, 1.0, policy, logic.context)
    deliver(client, server)
    (answer,) = deliver(server, client)
    assert isinstance(answer, BatchAnswered) and answer.unknown_base
    logic.batch_answered("cloud", answer, 1.0)
    assert store.dead_letters("cloud") == [] and store.lag("cloud") == len(sent)
    assert logic.context.bases == []
    assert logic.pending("cloud", client, policy) == pending  # all of them go again
    store.close()


@covers("CTX-1", "CTX-9")
def test_the_reference_server_declares_and_keeps_its_bases(tmp_path: Path) -> None:
    store = open_store(tmp_path / "server.db", 0x5E)
    logic = ServerLogic(store)
    v1 = ConnectionRequest(app_version=b"t", client_instance_id=1, version=1)
    assert logic.decide("c", v1).declared_limits == DeclaredLimits(context_bases=16)
    v0 = ConnectionRequest(app_version=b"t", client_instance_id=1)
    assert logic.decide("c", v0).declared_limits is None  # version 0 declares nothing
    logic.policy = ServerPolicy(context_bases=4, context_lifetime=600)
    assert logic.decide("c", v1).declared_limits == DeclaredLimits(context_bases=4, context_lifetime=600)
    received = BatchReceived(message_id=1, events=poll(0), context=BatchContext(batch_id=9))
    logic.keep_base("c", received, {}, 1000.0)
    logic.keep_base("c", BatchReceived(message_id=2, events=poll(1), context=BatchContext(batch_id=10)), {0: 1}, 1.0)
    assert logic.bases_for("c", 1000.0) == {9: received.base}  # the NACKed one is not kept
    assert logic.bases_for("c", 1700.0) == {}  # past the lifetime
    logic.policy = ServerPolicy(context_bases=0)
    assert logic.decide("c", v1).declared_limits is None and logic.bases_for("c", 0.0) is None
    store.close()


# -- the store ----------------------------------------------------------------------------------------------------


@covers("CTX-9")  # DUR-1 (a power cut) is not observable here: tests/test_spec_devices.py
def test_bases_survive_a_restart_and_are_evicted_past_the_count_and_the_lifetime(tmp_path: Path) -> None:
    path = tmp_path / "server.db"
    bases = [ContextBase(batch_id=n + 1, events=poll(n)) for n in range(4)]
    with open_store(path, 0x5E) as store:
        for n, base in enumerate(bases[:3]):
            store.keep_base("alice", base, accepted_at=1000.0 + n, keep=3, lifetime=86400)
        store.keep_base("bob", bases[3], accepted_at=1000.0, keep=3, lifetime=86400)
    with open_store(path, 0x5E) as store:  # a restart: the file is all there is
        loaded = store.context_bases("alice", now=2000.0, keep=3, lifetime=86400)
        assert loaded == {1: bases[0], 2: bases[1], 3: bases[2]}
        assert [b.digest for b in loaded.values()] == [b.digest for b in bases[:3]]
        assert list(store.context_bases("alice", now=2000.0, keep=2, lifetime=86400)) == [2, 3]  # the last 2
        store.keep_base("alice", bases[3], accepted_at=3000.0, keep=2, lifetime=86400)  # evicts 2
        assert list(store.context_bases("alice", now=3000.0, keep=2, lifetime=86400)) == [3, 4]
        replaced = ContextBase(batch_id=3, events=poll(5))
        store.keep_base("alice", replaced, accepted_at=3001.0, keep=2, lifetime=86400)  # CTX-8: same id, replaced
        assert store.context_bases("alice", now=3001.0, keep=2, lifetime=86400) == {4: bases[3], 3: replaced}
        assert list(store.context_bases("alice", now=3000.0 + 86400.5, keep=2, lifetime=86400)) == [3]
        store.forget_bases("alice")
        assert store.context_bases("alice", now=3001.0, keep=2, lifetime=86400) == {}
        assert list(store.context_bases("bob", now=2000.0, keep=3, lifetime=86400)) == [4]  # per peer
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM context_base_rows").fetchone()[0] == len(bases[3].events)  # cascaded


def test_a_format_4_store_gains_the_bases_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    open_store(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE context_base_rows")
    db.execute("DROP TABLE context_bases")
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    with open_store(path) as store:
        store.keep_base("a", ContextBase(batch_id=1, events=poll(0)), accepted_at=0.0, keep=1, lifetime=60)
        assert list(store.context_bases("a", now=1.0, keep=1, lifetime=60)) == [1]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION == 5


def test_sink_serve_wires_context_bases_into_its_policy(tmp_path: Path) -> None:
    from sinktools.commands.peers import ServeSettings, build_server

    make_dev_pki(tmp_path / "certs", ["alice"])
    settings = ServeSettings(
        certs=str(tmp_path / "certs"), db=str(tmp_path / "s.db"), context_bases=4, context_lifetime=600
    )
    server, store = build_server(settings)
    with store:
        handler = server.handler
        assert isinstance(handler, StoreServer)
        assert (handler.policy.context_bases, handler.policy.context_lifetime) == (4, 600)
        request = ConnectionRequest(app_version=b"t", client_instance_id=1, version=1)
        assert handler.logic.decide("alice", request).declared_limits == DeclaredLimits(
            context_bases=4, context_lifetime=600
        )
        assert handler.bases_for("alice") == {}


def test_sink_serve_takes_context_bases() -> None:
    parser = build_parser()
    default = serve_settings(parser.parse_args(["serve"]))
    assert (default.context_bases, default.context_lifetime) == (16, 86400)
    off = serve_settings(parser.parse_args(["serve", "--context-bases", "0", "--context-lifetime", "600"]))
    assert (off.context_bases, off.context_lifetime) == (0, 600)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--context-bases", "65"])


# -- the simulator ------------------------------------------------------------------------------------------------


@covers("CTX-11", "DELIV-13")
def test_the_simulated_client_falls_back_when_the_server_loses_its_bases(tmp_path: Path) -> None:
    steps = (
        Step("wait", (0.5,)),
        Step("append", (0, 6)),
        Step("wait", (1.0,)),
        Step("append", (0, 6)),
        Step("wait", (1.0,)),
        Step("lose_bases"),
        Step("append", (0, 6)),
        Step("wait", (1.0,)),
        Step("append", (0, 6)),
        Step("wait", (1.0,)),
    )
    schedule = Schedule(
        seed=5, clients=1, server_versions=(0, 1), client_versions=((0, 1),), batch_size=16, steps=steps
    )
    world = World(schedule, tmp_path)
    try:
        for step in steps:
            world.apply(step)
        world.heal()
        assert not world.checker.violations, [str(v) for v in world.checker.violations]
        logic = world.clients[0].logic
        assert logic is not None
        assert logic.context.based >= 2 and logic.context.fallbacks == 1
        assert world.server.store is not None and len(world.server.store.received("c0")) == 24
    finally:
        world.close()
    off = run_schedule(replace(schedule, context_bases=0), tmp_path)  # context off: the same guarantees
    assert off.violation is None


# -- the asyncio peers over mutual TLS ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return make_dev_pki(tmp_path_factory.mktemp("pki"), ["alice"])


def append_poll(store: EventStore, n: int) -> None:
    for e in POLLS[n]:
        store.append(
            event_type_id=e.event_type_id,
            key=e.key,
            schema_version=e.schema_version,
            timestamp=e.timestamp,
            event_data=e.event_data,
        )


@covers("CTX-5", "CTX-8", "CTX-9", "CTX-10", "CTX-11")
def test_polls_go_in_context_and_fall_back_when_another_server_instance_answers(
    pki: DevPki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client_store = open_store(tmp_path / "client.db")
    client_store.subscribe("cloud")
    policy = BatchPolicy(max_batch_size=1000, max_batch_delay=0.0)
    handler = StoreClient(client_store, server_name="cloud", app_version=b"gw/1", poll=0.05, batch_policy=policy)
    ssl_server = server_context(cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca)

    async def start(path: Path, port: int = 0) -> tuple[SinkServer, StoreServer, int]:
        # Another instance of the same server (the same instance id, HS-9) with a store of its own: it knows the
        # client (a shared registry of client instance ids) but none of its events or context bases.
        store = open_store(path, 0x5E)
        store.set_known_client_instance_id("alice", 0xC1)
        server_handler = StoreServer(store, ServerPolicy(readers=READERS), poll=0.05)
        server = SinkServer(server_handler, ssl_server, versions=(0, 1), record_schemas=SCHEMAS)
        _host, bound = await server.start("127.0.0.1", port)
        return server, server_handler, bound

    clients: list[SinkClient] = []

    def synced() -> bool:
        session = clients[0].session  # type: ignore[attr-defined]
        return client_store.lag("cloud") == 0 and session is not None and session.in_flight == 0

    async def scenario() -> None:
        first, first_handler, port = await start(tmp_path / "server-1.db")
        client = SinkClient(
            handler,
            client_context(ca=pki.ca, cert=pki.client_cert("alice"), key=pki.client_key("alice")),
            "127.0.0.1",
            port,
            versions=(0, 1),
            server_hostname="localhost",
            record_schemas=SCHEMAS,
        )
        clients.append(client)
        task = asyncio.create_task(client.run())
        try:
            for n in range(3):  # three polls: the first names no base, the next ones the poll before
                append_poll(client_store, n)
                await eventually(synced, 20)
            sender = handler.logic.context
            assert sender.used == 3 and sender.based == 2 and sender.fallbacks == 0
            assert [b.batch_id for b, _ in sender.bases] == [1, 2, 3]
            assert list(first_handler.store.context_bases("alice", now=2e9, keep=16, lifetime=1e12)) == [1, 2, 3]
            await first.close()
            first_handler.store.close()
            # the server comes back on an empty store: it holds none of the client's bases
            second, second_handler, _ = await start(tmp_path / "server-2.db", port)
            try:
                append_poll(client_store, 3)
                await eventually(synced, 30)
                assert sender.fallbacks == 1 and sender.used == 5  # refused against base 3, resent without one
                append_poll(client_store, 4)
                await eventually(synced, 20)
                assert sender.based == 4  # the refused one named base 3; the next poll names the new first base
                assert sender.bases[-1][0].batch_id == 6 and sender.used == 6
                first_store = open_store(tmp_path / "server-1.db", 0x5E)
                got = [e for _, e in first_store.received("alice")] + [
                    e for _, e in second_handler.store.received("alice")
                ]
                first_store.close()
                keys = [e.dedupe_key for e in got]
                assert len(keys) == len(set(keys)) == sum(len(POLLS[n]) for n in range(5))  # each exactly once
                assert client_store.dead_letters("cloud") == []
            finally:
                await client.stop()
                await asyncio.wait_for(task, 10)
                await second.close()
                second_handler.store.close()
        finally:
            if not task.done():
                task.cancel()

    with caplog.at_level("INFO"):
        run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert "context coding on" in messages
    assert "server lacks the context base, resending without context" in messages
    assert "context base missing, answered unknown_base" in messages
    client_store.close()
