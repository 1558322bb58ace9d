"""The reference peers and CLOSE (spec/v1/errors.md): over real mutual TLS on loopback.

The server sends a CLOSE with the right class where it closes a version-1
connection (a refusal with the configured ``retry_after``, a shutdown, a
protocol error); the client logs the server's CLOSE and waits its
``retry_after`` before reconnecting (CLOSE-9).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from peer_support import run
from sinkproto.certs import DevPki, make_dev_pki
from sinkproto.connection import Connection, Role
from sinkproto.events import HandshakeCompleted, PeerClosed
from sinkproto.messages import ConnectionRequest
from sinkproto.peers import Backoff, SinkClient, client_context
from sinkproto.peers.service import StoreClient
from sinkproto.store import EventStore
from sinkproto.stream import frame_bytes
from sinktest import covers
from sinktools.commands.peers import ServeSettings, build_server


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("certs")
    make_dev_pki(path, ["bob", "alice"])
    return path


def _client(certs: Path, tmp_path: Path, name: str, port: int, **kw: Any) -> tuple[SinkClient, StoreClient]:
    pki = DevPki(certs)
    store = EventStore.open(tmp_path / f"{name}.db", new_instance_id=lambda: 0xC1)
    handler = StoreClient(store, server_name=f"127.0.0.1:{port}", app_version=b"1.0")
    context = client_context(ca=pki.ca, cert=pki.client_cert(name), key=pki.client_key(name))
    client = SinkClient(handler, context, "127.0.0.1", port, versions=(0, 1), **kw)
    return client, handler


@covers("CLOSE-4", "CLOSE-9", "CLOSE-10")
def test_a_quarantined_version_1_client_is_told_retry_after_logs_it_and_waits_it(
    certs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        settings = ServeSettings(
            certs=str(certs), db=str(tmp_path / "s.db"), quarantine=("bob:under maintenance",), retry_after=600
        )
        server, store = build_server(settings)
        _host, port = await server.start("127.0.0.1", 0)
        backoff = Backoff(lambda low, high: high)
        client, handler = _client(certs, tmp_path, "bob", port, backoff=backoff)
        with caplog.at_level(logging.INFO, logger="sinkproto.client"):
            closed = await client.connect_once()
        assert closed.reason == "handshake_refused"
        expected = PeerClosed(
            error_class="handshake_refused",
            requirement="HS-18",
            last_message_id=None,
            retry_after=600,
            human_message=b"under maintenance",
        )
        assert client.last_close == expected and handler.closes == [expected]
        (record,) = [r for r in caplog.records if r.getMessage() == "server closed"]
        fields = tuple(getattr(record, name) for name in ("error_class", "requirement", "retry_after"))
        assert fields == ("handshake_refused", "HS-18", 600)
        assert client.reconnect_delay() == 600  # CLOSE-9: not the backoff's first step (55 ms here)
        assert handler.logic.reconnect_delay(Backoff(lambda low, high: low)) == 600  # the store client's logic too
        # a version-0 client is refused the same way, with no CLOSE (version 0 has none) and its backoff step
        old, old_handler = _client(certs, tmp_path, "bob", port, backoff=Backoff(lambda low, high: high))
        old.versions = (0,)
        assert (await old.connect_once()).reason == "handshake_refused"
        assert old.last_close is None and old_handler.closes == []
        assert old.reconnect_delay() == pytest.approx(0.055)
        await server.close()
        store.close()

    run(scenario())


@covers("CLOSE-6", "CLOSE-7")
def test_a_server_shutdown_sends_a_drain_close_on_version_1(certs: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        server, store = build_server(ServeSettings(certs=str(certs), db=str(tmp_path / "s.db")))
        _host, port = await server.start("127.0.0.1", 0)
        client, handler = _client(certs, tmp_path, "alice", port)
        task = asyncio.create_task(client.connect_once())
        await asyncio.wait_for(client.connected.wait(), 20)
        await server.close()
        closed = await asyncio.wait_for(task, 20)
        assert closed.reason == "close_received"
        assert client.last_close is not None and client.last_close.error_class == "no_error"
        assert client.last_close.retry_after is None
        assert handler.closes == [client.last_close]
        store.close()

    run(scenario())


@covers("CLOSE-3", "CLOSE-8")
def test_malformed_input_on_a_version_1_connection_gets_a_close_with_its_class_and_requirement(
    certs: Path, tmp_path: Path
) -> None:
    async def scenario() -> None:
        server, store = build_server(ServeSettings(certs=str(certs), db=str(tmp_path / "s.db")))
        _host, port = await server.start("127.0.0.1", 0)
        pki = DevPki(certs)
        context = client_context(ca=pki.ca, cert=pki.client_cert("alice"), key=pki.client_key("alice"))
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
        # a sans-I/O client connection to write the request and read the answers; the bad frame goes raw
        conn = Connection(Role.CLIENT, versions=(0, 1), now=0.0, message_id_start=0)
        conn.send_request(ConnectionRequest(version=1, app_version=b"1.0", client_instance_id=0xA1), 0.0)
        writer.write(conn.data_to_send())
        events: list[object] = []
        while not any(isinstance(e, HandshakeCompleted) for e in events):
            events += conn.receive_data(await asyncio.wait_for(reader.read(65536), 20), 0.0)
        writer.write(frame_bytes(b"\xa0\x00"))  # a frame of type 10: not in version 1's registry (FRAME-7)
        received = b""
        while chunk := await asyncio.wait_for(reader.read(65536), 20):
            received += chunk
        closes = [e for e in conn.receive_data(received, 0.0) if isinstance(e, PeerClosed)]
        assert [(c.error_class, c.requirement) for c in closes] == [("unknown_type", "FRAME-7")]
        writer.close()
        await server.close()
        store.close()

    run(scenario())
