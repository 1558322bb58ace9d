"""`sink serve` as a version-1 server: versions on one port, its reader declaration from the registry, unknown_schema."""

from __future__ import annotations

import argparse
import asyncio
import random
from pathlib import Path

import pytest
from sinkproto import ConnectionRequest, Event, Response
from sinkproto.peers import SinkServer
from sinkproto.peers.service import (
    UNKNOWN_SCHEMA,
    ServerPolicy,
    StoreServer,
    registry_readers,
)
from sinkproto.readers import ReaderSchemas
from sinkproto.schemas import default_registry
from sinkproto.store import EventStore
from sinktest import covers
from sinktools.cli import add_connect_options, add_serve_options, connect_settings, serve_settings
from sinktools.commands.peers import ServeSettings, build_server

READS = ReaderSchemas.from_mapping({1: [1, 2], 7: [1, 2, 3]})


def serve_args(*argv: str) -> ServeSettings:
    parser = argparse.ArgumentParser()
    add_serve_options(parser)
    return serve_settings(parser.parse_args(list(argv)))


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore.open(tmp_path / "server.db", new_instance_id=lambda: random.randrange(1 << 32))


def request(version: int, server_instance_id: int | None = None) -> ConnectionRequest:
    return ConnectionRequest(
        version=version, app_version=b"t/1", client_instance_id=7, server_instance_id=server_instance_id
    )


def event(event_type_id: int, schema_version: int, offset: int = 1) -> Event:
    return Event(
        event_type_id=event_type_id,
        schema_version=schema_version,
        key=b"k",
        offset=offset,
        timestamp=1,
        event_data=b"x",
    )


def test_the_registry_readers_are_every_version_of_every_type() -> None:
    registry = default_registry()
    readers = registry_readers(registry)
    assert readers.as_mapping() == {t.id: tuple(sorted(t.versions)) for t in registry}
    assert readers.can_read(1, 2) and readers.can_read(7, 3) and not readers.can_read(7, 4)


@covers("CONN-11", "CONN-12", "SNEG-3")
def test_the_declaration_goes_in_accepting_responses_to_version_1_requests_only(store: EventStore) -> None:
    server = StoreServer(store, ServerPolicy(readers=READS))

    async def scenario() -> None:
        hello = await server.decide("alice", request(1))
        assert hello.response is Response.HELLO_NEW_CLIENT and hello.reader_schemas == READS
        connected = await server.decide("alice", request(1, store.instance_id))
        assert connected.response is Response.CONNECTED and connected.reader_schemas == READS
        v0 = await server.decide("alice", request(0, store.instance_id))
        assert v0.response is Response.CONNECTED and v0.reader_schemas is None
        mismatch = await server.decide("alice", request(1, store.instance_id ^ 1))
        assert mismatch.response is Response.INSTANCE_ID_MISMATCH and mismatch.reader_schemas is None
        opaque = await StoreServer(store).decide("alice", request(1, store.instance_id))
        assert opaque.reader_schemas is None  # no readers: no statement (SNEG-5)

    asyncio.run(scenario())


@covers("SNEG-8")
def test_an_unreadable_event_is_nacked_unknown_schema_and_not_stored(store: EventStore) -> None:
    server = StoreServer(store, ServerPolicy(readers=READS))

    async def scenario() -> None:
        answer = await server.on_event(None, "alice", event(7, 4))  # type: ignore[arg-type]
        assert answer is not None and not answer.ack and answer.machine_message == UNKNOWN_SCHEMA
        assert await server.on_event(None, "alice", event(7, 3)) is None  # type: ignore[arg-type]
        assert await StoreServer(store).on_event(None, "alice", event(7, 4, offset=2)) is None  # type: ignore[arg-type]

    asyncio.run(scenario())
    assert sorted(e.schema_version for _, e in store.received("alice")) == [3, 4]


@covers("VER-6", "VER-9")
def test_sink_serve_accepts_version_1_unless_limited_to_0(tmp_path: Path) -> None:
    from sinkproto.certs import make_dev_pki

    make_dev_pki(tmp_path / "certs", [])
    common = ("--certs", str(tmp_path / "certs"), "--db", str(tmp_path / "s.db"))
    server, store = build_server(serve_args(*common))
    try:
        assert isinstance(server, SinkServer) and server.versions == (0, 1)
        assert server.handler.policy.readers == registry_readers(default_registry())  # type: ignore[attr-defined]
    finally:
        store.close()
    server, store = build_server(serve_args(*common, "--protocol-version", "0", "--no-reader-schemas"))
    try:
        assert isinstance(server, SinkServer) and server.versions == (0,)
        assert server.handler.policy.readers is None  # type: ignore[attr-defined]
    finally:
        store.close()
    with pytest.raises(SystemExit):
        serve_args("--protocol-version", "2")
    connect = argparse.ArgumentParser()
    add_connect_options(connect)
    assert connect_settings(connect.parse_args(["--server", "h:1"])).protocol_version == 0
    assert connect_settings(connect.parse_args(["--server", "h:1", "--protocol-version", "1"])).protocol_version == 1


@covers("BPUB-9", "BPUB-10", "BRES-6")
def test_a_version_1_client_answers_the_servers_batch(tmp_path: Path) -> None:
    """The server's outbox pump sends its events to a version-1 client as one BATCH_PUBLISH; the client stores
    them and answers it, so they are delivered (the reference client once left such batches unanswered)."""
    from peer_support import eventually
    from sinkproto.certs import make_dev_pki
    from sinkproto.peers import SinkClient, client_context, server_context
    from sinkproto.peers.service import StoreClient

    pki = make_dev_pki(tmp_path / "pki", ["alice"])
    server_store = EventStore.open(tmp_path / "server.db", new_instance_id=lambda: 0x5E)
    client_store = EventStore.open(tmp_path / "client.db", new_instance_id=lambda: 0xC1)

    async def scenario() -> None:
        handler = StoreServer(server_store, ServerPolicy(publish_on_connect=3), poll=0.05)
        server = SinkServer(
            handler, server_context(cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca), versions=(0, 1)
        )
        _host, port = await server.start("127.0.0.1", 0)
        client_handler = StoreClient(client_store, server_name="cloud", app_version=b"gw/1", poll=0.05)
        client = SinkClient(
            client_handler,
            client_context(ca=pki.ca, cert=pki.client_cert("alice"), key=pki.client_key("alice")),
            "127.0.0.1",
            port,
            versions=(0, 1),
            server_hostname="localhost",
        )
        task = asyncio.create_task(client.run())
        try:
            await eventually(lambda: len(client_store.received("cloud")) == 3 and server_store.lag("alice") == 0, 15)
            assert client.session is not None and client.session.connection.negotiated_version == 1  # type: ignore[attr-defined]
        finally:
            await client.stop()
            await asyncio.wait_for(task, 10)
            await server.close()

    try:
        asyncio.run(scenario())
    finally:
        server_store.close()
        client_store.close()


@covers("VER-2")
def test_sink_connect_exits_0_when_the_fallback_answered_the_refusal(tmp_path: Path) -> None:
    """`sink connect --protocol-version 1` against `sink serve --protocol-version 0`, both real processes over
    mutual TLS: refused with unsupported_protocol_version, falls back, delivers its 50 events, exits 0 saying
    it fell back (it exited 3 reporting the refusal). The second run offers 0 at once (remembered)."""
    import os
    import subprocess
    import sys

    from sinkcheck.selftest import make_pki, reference_server

    pki = make_pki(tmp_path / "pki")

    def connect(host: str, port: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "sinktools.cli",
                "connect",
                "--server",
                f"{host}:{port}",
                "--certs",
                str(pki),
                "--name",
                "sc-main",
                "--db",
                str(tmp_path / "client.db"),
                "--keepalive",
                "1",
                "--protocol-version",
                "1",
                "--publish",
                "50",
                "--until-synced",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )

    with reference_server(pki, tmp_path, extra=("--protocol-version", "0")) as (host, port):
        first = connect(host, port)
        second = connect(host, port)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output
    assert (
        "sink: the server refused protocol version 1 (unsupported_protocol_version); fell back to version 0"
        in first.stdout
    )
    assert "refused the connection" not in output
    assert "sink: synced" in first.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    assert "fell back" not in second.stdout and "refused" not in second.stdout + second.stderr
    [db] = tmp_path.glob("server-reference-*.db")
    with EventStore.open(db, new_instance_id=lambda: 1) as server_store:
        keys = [e.key for _, e in server_store.received() if e.key == b"sink-connect/sc-main"]
    assert len(keys) == 100  # 50 per run, each delivered once


def test_sink_serve_max_sessions_bounds_the_connections_served_at_once(tmp_path: Path) -> None:
    from sinkproto.certs import make_dev_pki
    from sinkproto.peers import ServerHandler

    make_dev_pki(tmp_path / "certs", [])
    common = ("--certs", str(tmp_path / "certs"), "--db", str(tmp_path / "s.db"))
    for extra, expected in (((), None), (("--max-sessions", "2"), 2)):
        server, store = build_server(serve_args(*common, *extra))
        try:
            assert server.max_sessions == expected
        finally:
            store.close()
    with pytest.raises(ValueError, match="max_sessions"):
        SinkServer(ServerHandler(), None, max_sessions=0)
