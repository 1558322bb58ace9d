"""Version-1 peers over real mutual TLS on loopback: fallback against a version-0 server, batches with a partial NACK."""

from __future__ import annotations

import asyncio

import pytest
from peer_support import MemoryClient, MemoryServer, ev, eventually, run
from sinkproto import Response
from sinkproto.certs import DevPki, make_dev_pki
from sinkproto.connection import Connection
from sinkproto.peers import SinkClient, SinkServer, client_context, server_context
from sinktest import covers


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return make_dev_pki(tmp_path_factory.mktemp("pki"), ["alice"])


def v1_client(pki: DevPki, handler: MemoryClient, port: int, **kw: object) -> SinkClient:
    context = client_context(ca=pki.ca, cert=pki.client_cert("alice"), key=pki.client_key("alice"))
    return SinkClient(handler, context, "127.0.0.1", port, versions=(0, 1), server_hostname="localhost", **kw)  # type: ignore[arg-type]


async def start(pki: DevPki, handler: MemoryServer, **kw: object) -> tuple[SinkServer, int]:
    server = SinkServer(handler, server_context(cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca), **kw)  # type: ignore[arg-type]
    _host, port = await server.start("127.0.0.1", 0)
    return server, port


class SyncingClient(MemoryClient):
    """Publishes its backlog as single PUBLISHes on every connection (works on version 0 and 1)."""

    backlog: list = []

    async def on_connect(self, session) -> None:  # type: ignore[no-untyped-def]
        await super().on_connect(session)

        async def push() -> None:
            for event in self.backlog:
                await (await session.publish(event))

        asyncio.get_running_loop().create_task(push())


@covers("VER-1", "VER-2", "VER-6")
def test_v1_client_falls_back_against_a_v0_only_server_and_syncs(pki: DevPki) -> None:
    async def scenario() -> None:
        server_handler = MemoryServer()
        # SinkServer speaks only version 0 by default, and so it does with versions=(0,) said
        for options in ({}, {"versions": (0,)}):
            server_handler.received.clear()
            server, port = await start(pki, server_handler, **options)
            handler = SyncingClient()
            handler.backlog = [ev(i) for i in range(1, 4)]
            client = v1_client(pki, handler, port)
            assert client.version_to_offer() == 1
            first = await client.connect_once()  # offers 1: refused
            assert first.reason == "handshake_refused"
            assert handler.refused[-1].response is Response.UNSUPPORTED_PROTOCOL_VERSION
            assert client.version_to_offer() == 0
            assert handler.version_memory[f"127.0.0.1:{port}"][0] == 0  # per server (VER-2)
            task = asyncio.create_task(client.connect_once())  # offers 0: a version-0 connection
            await asyncio.wait_for(client.connected.wait(), 10)
            assert client.session is not None and isinstance(client.session.connection, Connection)
            assert client.session.connection.negotiated_version == 0
            await eventually(lambda: [e for _, e in server_handler.received] == handler.backlog)
            await client.stop()
            await task
            await server.close()

    run(scenario())


@covers("VER-4")
def test_fallback_memory_expires_after_the_reprobe_interval(pki: DevPki) -> None:
    now = [1000.0]
    client = v1_client(pki, MemoryClient(), 1, reprobe_after=60.0, clock=lambda: now[0])
    client._memory()[client.server_key] = (0, 1000.0)
    assert client.version_to_offer() == 0
    now[0] = 1061.0
    assert client.version_to_offer() == 1


@covers("BPUB-9", "BPUB-10", "BPUB-11", "BRES-3", "BRES-6")
def test_v1_client_and_server_exchange_a_batch_with_a_partial_nack(pki: DevPki) -> None:
    async def scenario() -> None:
        server_handler = MemoryServer()
        server, port = await start(pki, server_handler, versions=(0, 1))
        handler = MemoryClient()
        client = v1_client(pki, handler, port)
        task = asyncio.create_task(client.connect_once())
        await asyncio.wait_for(client.connected.wait(), 10)
        session = client.session
        assert session is not None and isinstance(session.connection, Connection)
        assert session.connection.negotiated_version == 1
        events = [ev(1), ev(2, b"poison-7"), ev(3), ev(4, b"poison-9"), ev(5)]
        answer = await (await client.publish_batch(session, events))
        assert answer.acked_events == (events[0], events[2], events[4])
        assert [(e.key, n.machine_message) for e, n in answer.nacked_events] == [
            (b"poison-7", b"E-POISON"),
            (b"poison-9", b"E-POISON"),
        ]
        # stored before the answer (BPUB-11), each event once, in batch order (BPUB-9)
        assert [e for _, e in server_handler.received] == [events[0], events[2], events[4]]
        await client.stop()
        await task
        await server.close()

    run(scenario())


@covers("VER-3", "VER-4")
def test_a_store_backed_client_remembers_the_fallback_across_a_restart(pki: DevPki, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sinkproto.peers.service import StoreClient
    from sinkproto.store import EventStore

    now = [5000.0]
    path = tmp_path / "client.db"

    def store_client(port: int) -> tuple[EventStore, SinkClient]:
        store = EventStore.open(path, new_instance_id=lambda: 0xC1)
        handler = StoreClient(store, server_name="cloud", app_version=b"gw/1", clock=lambda: now[0])
        return store, v1_client(pki, handler, port, clock=lambda: now[0], reprobe_after=3600.0)  # type: ignore[arg-type]

    async def scenario() -> None:
        server, port = await start(pki, MemoryServer())  # speaks only version 0
        store, client = store_client(port)
        assert client.version_to_offer() == 1
        assert (await client.connect_once()).reason == "handshake_refused"
        assert store.remembered_versions() == {f"127.0.0.1:{port}": (0, 5000.0)}  # durable on return
        store.close()
        # a restart: a new store handle, a new handler and client, nothing in memory
        store, client = store_client(port)
        assert client.version_to_offer() == 0  # no repeated refused offer (VER-3)
        now[0] += 3601.0
        assert client.version_to_offer() == 1  # the re-probe interval has passed (VER-4)
        now[0] -= 3601.0
        store.forget_version(f"127.0.0.1:{port}")  # its configuration changed
        assert client.version_to_offer() == 1
        store.close()
        await server.close()

    run(scenario())
