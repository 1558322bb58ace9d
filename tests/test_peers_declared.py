"""The reference peers and declared limits (spec/v1/handshake.md#declared-limits-and-keepalive), over mutual TLS.

Each peer declares its K when it is not 60 s (KEEP-8) and, if configured,
the constrained profile; the client's outbox splits a batch above the
server's declared limits (DECL-4) and keeps an event no frame within them
can carry pending, reported (DECL-5).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from peer_support import eventually, run
from sinkproto.certs import DevPki, make_dev_pki
from sinkproto.messages import CONSTRAINED_PROFILE, DeclaredLimits
from sinkproto.peers import SinkClient, client_context
from sinkproto.peers.service import StoreClient
from sinkproto.session import declaration
from sinkproto.store import EventStore
from sinktest import covers
from sinktools.commands.peers import ServeSettings, build_server


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("certs")
    make_dev_pki(path, ["alice"])
    return path


def _client(certs: Path, store: EventStore, port: int, **kw: Any) -> tuple[SinkClient, StoreClient]:
    pki = DevPki(certs)
    handler = StoreClient(store, server_name=f"127.0.0.1:{port}", app_version=b"1.0", poll=0.05)
    context = client_context(ca=pki.ca, cert=pki.client_cert("alice"), key=pki.client_key("alice"))
    return SinkClient(handler, context, "127.0.0.1", port, versions=(0, 1), **kw), handler


@covers("KEEP-8")
def test_a_k_other_than_60_s_is_declared_whole_seconds_only() -> None:
    assert declaration(60.0) is None
    assert declaration(30.0) == DeclaredLimits(keepalive=30)
    assert declaration(0.5) is None  # not representable (10..65535 whole seconds): left out
    assert declaration(60.0, CONSTRAINED_PROFILE) == CONSTRAINED_PROFILE
    assert declaration(20.0, CONSTRAINED_PROFILE) == dataclasses.replace(CONSTRAINED_PROFILE, keepalive=20)


@covers("KEEP-8", "KEEP-7", "DECL-1")
def test_both_peers_declare_their_k_and_the_smaller_is_in_force(certs: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        server, server_store = build_server(ServeSettings(certs=str(certs), db=str(tmp_path / "s.db"), keepalive=30))
        _host, port = await server.start("127.0.0.1", 0)
        store = EventStore.open(tmp_path / "c.db", new_instance_id=lambda: 0xA1)
        client, _handler = _client(certs, store, port, keepalive=20.0, declare=CONSTRAINED_PROFILE)
        task = asyncio.create_task(client.connect_once())
        await asyncio.wait_for(client.connected.wait(), 20)
        assert client.session is not None
        connection = client.session.connection
        assert connection.own_declared_limits == dataclasses.replace(CONSTRAINED_PROFILE, keepalive=20)
        # K and (CTX-1) the bases `sink serve` keeps per client, 16 by default
        assert connection.peer_declared_limits == DeclaredLimits(keepalive=30, context_bases=16)
        assert connection.keepalive == 20.0
        server_side = server.sessions["alice"].connection
        assert server_side.peer_declared_limits == connection.own_declared_limits
        assert server_side.keepalive == 20.0
        await client.stop()
        await task
        await server.close()
        store.close()
        server_store.close()

    run(scenario())


@covers("DECL-4", "DECL-5")
def test_the_client_splits_batches_to_the_servers_declared_limits_and_keeps_a_too_large_event_pending(
    certs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        settings = ServeSettings(
            certs=str(certs), db=str(tmp_path / "s.db"), declare_limits="constrained", no_reader_schemas=True
        )
        server, server_store = build_server(settings)
        _host, port = await server.start("127.0.0.1", 0)
        store = EventStore.open(tmp_path / "c.db", new_instance_id=lambda: 0xA1)
        for index in range(40):  # 40 x 300 incompressible bytes: above 4096 bytes as one batch
            store.append(event_type_id=1, key=b"k", schema_version=1, timestamp=index, event_data=os.urandom(300))
        store.append(event_type_id=1, key=b"big", schema_version=1, timestamp=99, event_data=os.urandom(5000))
        client, handler = _client(certs, store, port)
        with caplog.at_level(logging.WARNING, logger="sinkproto.service"):
            task = asyncio.create_task(client.connect_once())
            await eventually(lambda: len(server_store.received("alice")) == 40, 30)
            await eventually(lambda: any("declared frame size" in r.getMessage() for r in caplog.records), 10)
        assert client.session is not None
        assert client.session.connection.peer_declared_limits == dataclasses.replace(
            CONSTRAINED_PROFILE, context_bases=16
        )  # the profile and the bases kept per client (CTX-1)
        # every other event ACKed; the 5000-byte one pending, not a dead letter (DECL-5)
        await eventually(lambda: store.lag(handler.server_name) == 1, 10)
        assert store.dead_letters(handler.server_name) == []
        (record,) = [r for r in caplog.records if "declared frame size" in r.getMessage()]
        assert (record.requirement, record.max_frame_size) == ("DECL-5", 4096)
        await client.stop()
        await task
        await server.close()
        store.close()
        server_store.close()

    run(scenario())
