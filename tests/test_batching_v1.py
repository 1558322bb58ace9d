"""Batch publish from the store-backed peers (BPUB-5..BPUB-7, BRES-6) over real mutual TLS on loopback.

A StoreClient behind a SinkClient syncs with a StoreServer behind a
SinkServer, both speaking versions 0 and 1: on the version-1 session its outbox pump sends the backlog as
BATCH_PUBLISH frames under the batching policy, and the answers (ACK,
BATCH_RESULT) land in the store as delivered events and dead letters.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from peer_support import eventually, run
from sinkproto import Event
from sinkproto.certs import DevPki, make_dev_pki
from sinkproto.connection import DEFAULT_RULES, Connection, Handler, Input
from sinkproto.events import ConnectionEvent
from sinkproto.peers import BatchPolicy, PeerSession, SinkClient, SinkServer, client_context, server_context
from sinkproto.peers.batching import on_batch_by_event
from sinkproto.peers.service import ServerPolicy, StoreClient, StoreServer
from sinkproto.readers import ReaderSchemas
from sinkproto.records import RecordSchemas
from sinkproto.schemas import default_registry
from sinkproto.store import EventStore
from sinktest import covers

REJECTED = (b"rejected", b"meter id unknown")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return make_dev_pki(tmp_path_factory.mktemp("pki"), ["alice"])


def refuse_bad(event: Event) -> tuple[bytes, bytes] | None:
    return REJECTED if event.key.startswith(b"bad-") else None


class CountingStoreServer(StoreServer):
    """Records the size of every batch it is handed and how many events arrive at all."""

    def __init__(self, store: EventStore, policy: ServerPolicy) -> None:
        super().__init__(store, policy, poll=0.05)
        self.batches: list[int] = []
        self.events_seen = 0

    async def on_batch(
        self, session: PeerSession, client: str, events: tuple[Event, ...]
    ) -> dict[int, tuple[bytes, bytes]]:
        self.batches.append(len(events))
        return await on_batch_by_event(self, session, client, events)

    async def on_event(self, session: PeerSession, client: str, event: Event):  # type: ignore[no-untyped-def]
        self.events_seen += 1
        return await super().on_event(session, client, event)

    @property
    def singles(self) -> int:
        """Events that came as PUBLISH frames rather than inside a batch."""
        return self.events_seen - sum(self.batches)


def open_store(path: Path, instance_id: int) -> EventStore:
    return EventStore.open(path, new_instance_id=lambda: instance_id)


#: Every frame the server's connections received, as bytes: what the wire carried.
RECEIVED: list[bytes] = []


def _recording(handler: Handler) -> Handler:
    def recording(conn: Connection, raw: bytes, now: float) -> list[ConnectionEvent]:
        RECEIVED.append(raw)
        return handler(conn, raw, now)

    return recording


#: A Rules wrap of FRAME_ARRIVED (the documented seam): record, then the default handler.
RECORDING_RULES = DEFAULT_RULES.wrap(Input.FRAME_ARRIVED, _recording)


async def sync(
    pki: DevPki,
    tmp: Path,
    policy: BatchPolicy,
    fill: Callable[[EventStore], None],
    after_connect: Callable[[EventStore, StoreClient], None] | None = None,
    *,
    schemas: RecordSchemas | None = None,
) -> tuple[CountingStoreServer, EventStore, EventStore]:
    """Run client and server until the client's outbox is empty; returns the server handler and both stores.

    With ``schemas``, both sides know those writer schemas and the server
    declares them (records mode, RECORD-2); its connections record their frames.
    """
    server_store, client_store = open_store(tmp / "server.db", 0x5E), open_store(tmp / "client.db", 0xC1)
    readers = None if schemas is None else ReaderSchemas.from_mapping({1: [2]})
    server_handler = CountingStoreServer(server_store, ServerPolicy(validate=refuse_bad, readers=readers))
    server = SinkServer(
        server_handler,
        server_context(cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca),
        versions=(0, 1),
        record_schemas=schemas,
        rules=RECORDING_RULES,
    )
    _host, port = await server.start("127.0.0.1", 0)
    client_store.subscribe("cloud")
    fill(client_store)
    handler = StoreClient(client_store, server_name="cloud", app_version=b"gw/1", poll=0.05, batch_policy=policy)
    context = client_context(ca=pki.ca, cert=pki.client_cert("alice"), key=pki.client_key("alice"))
    client = SinkClient(
        handler, context, "127.0.0.1", port, versions=(0, 1), server_hostname="localhost", record_schemas=schemas
    )
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.connected.wait(), 10)
        assert client.session is not None and client.session.connection.negotiated_version == 1  # type: ignore[attr-defined]
        if after_connect is not None:
            after_connect(client_store, handler)
        await eventually(
            lambda: (
                client_store.lag("cloud") == 0
                and handler.pump is not None
                and client.session is not None
                and client.session.in_flight == 0
                and not client.session.connection.in_flight_batches
            ),
            30,
        )  # type: ignore[attr-defined]
    finally:
        await client.stop()
        await asyncio.wait_for(task, 10)
        await server.close()
    return server_handler, server_store, client_store


def reading(store: EventStore, meter: int, n: int, *, prefix: bytes = b"SM5R-", data: bytes | None = None) -> Event:
    return store.append(
        event_type_id=1,
        key=prefix + b"%06d" % meter,
        schema_version=2,
        timestamp=1_700_000_000 + 900 * n,
        event_data=data if data is not None else b"kwh=%d" % (1000 + 7 * n + meter),
    )


@covers("BPUB-5", "BPUB-7", "BRES-6", "BPUB-12")
def test_a_backlog_travels_in_batches_and_a_partial_nack_becomes_dead_letters(pki: DevPki, tmp_path: Path) -> None:
    bad = {(7, 2), (31, 0), (48, 4)}  # (meter, reading) pairs the server refuses

    def fill(store: EventStore) -> None:
        for n in range(5):
            for meter in range(50):
                reading(store, meter, n, prefix=b"bad-" if (meter, n) in bad else b"SM5R-")

    async def scenario() -> None:
        # A long delay: a backlog found when the session opens must not wait for it.
        policy = BatchPolicy(max_batch_size=100, max_batch_delay=60.0)
        server, server_store, client_store = await asyncio.wait_for(sync(pki, tmp_path, policy, fill), 50)
        with server_store, client_store:
            assert server.batches == [100, 100, 50]  # max_batch_size, in store order
            assert server.singles == 0
            received = [e for _, e in server_store.received()]
            assert len(received) == 247 and not any(e.key.startswith(b"bad-") for e in received)
            dead = client_store.dead_letters("cloud")
            assert sorted((d.event.key, d.event.timestamp) for d in dead) == sorted(
                (b"bad-%06d" % m, 1_700_000_000 + 900 * n) for m, n in bad
            )
            assert {(d.machine_message, d.human_message) for d in dead} == {REJECTED}
            assert client_store.pending("cloud", limit=10) == []  # everything answered: ACKed or a dead letter

    run(scenario())


@covers("BPUB-7")
def test_new_events_wait_for_max_batch_delay_and_go_as_one_batch(pki: DevPki, tmp_path: Path) -> None:
    def later(store: EventStore, handler: StoreClient) -> None:
        for meter in range(5):  # appended back to back after the session opened
            reading(store, meter, 0)
        assert handler.pump is not None
        handler.pump.wake.set()

    async def scenario() -> None:
        policy = BatchPolicy(max_batch_size=1000, max_batch_delay=0.3)
        server, server_store, client_store = await asyncio.wait_for(
            sync(pki, tmp_path, policy, lambda store: None, later), 50
        )
        with server_store, client_store:
            assert server.batches == [5] and server.singles == 0

    run(scenario())


@covers("BPUB-5", "BPUB-6")
def test_a_batch_too_large_for_one_frame_is_split_to_fit(pki: DevPki, tmp_path: Path) -> None:
    # 40 events of 4,000 incompressible bytes: about 160 kB, which no compression
    # brings under 65,535 bytes; halving gives 10, then 15 and 15.
    payloads = [os.urandom(4000) for _ in range(40)]

    def fill(store: EventStore) -> None:
        for n, data in enumerate(payloads):
            reading(store, n % 4, n // 4, data=data)

    async def scenario() -> None:
        policy = BatchPolicy(max_batch_size=1000, max_batch_delay=0.0)
        server, server_store, client_store = await asyncio.wait_for(sync(pki, tmp_path, policy, fill), 50)
        with server_store, client_store:
            assert server.batches == [10, 15, 15] and server.singles == 0
            assert sorted(e.event_data for _, e in server_store.received()) == sorted(payloads)

    run(scenario())


@covers("RECORD-2", "SNEG-3", "BPUB-1")
def test_batches_travel_in_records_mode_when_both_sides_know_the_schema(pki: DevPki, tmp_path: Path) -> None:
    from sinktools.bench.profiles import load

    meters = load()["meter"].events

    def fill(store: EventStore) -> None:
        for e in meters:
            store.append(
                event_type_id=e.event_type_id,
                key=e.key,
                schema_version=e.schema_version,
                timestamp=e.timestamp,
                event_data=e.event_data,
            )

    async def scenario() -> None:
        RECEIVED.clear()
        policy = BatchPolicy(max_batch_size=100, max_batch_delay=0.0)
        server, server_store, client_store = await asyncio.wait_for(
            sync(pki, tmp_path, policy, fill, schemas=RecordSchemas.from_registry(default_registry())), 50
        )
        with server_store, client_store:
            assert server.batches == [100] and server.singles == 0
            assert sorted(e.event_data for _, e in server_store.received()) == sorted(e.event_data for e in meters)
        batches = [raw for raw in RECEIVED if raw[0] >> 4 == 2]
        assert len(batches) == 1
        # extended header, mode context (the reference server declares context_bases, CTX-1): the first batch names
        # no base, so it is a records batch with a batch_id (CTX-2)
        assert batches[0][2] & 0x80 and batches[0][3] & 0x0F == 2
        assert len(batches[0]) < 1_700  # the 100 readings as records, against about 3,000 bytes as columns

    run(scenario())
