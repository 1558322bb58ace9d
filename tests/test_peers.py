"""The asyncio peers over real mutual TLS on loopback."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest
from peer_support import MemoryClient, MemoryServer, ev, eventually, make_client, run, start_server
from sinkproto import Response
from sinkproto.certs import DevPki, create_authority, issue_client, make_dev_pki
from sinkproto.handshake import Quarantine
from sinkproto.peers import Backoff, client_context
from sinktest import covers


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return make_dev_pki(tmp_path_factory.mktemp("pki"), ["alice", "bob"])


@covers("HS-9", "HS-10", "HS-13", "HS-14", "TRANS-3", "TRANS-4", "TRANS-5", "MSGID-8")
def test_new_client_then_known_client_and_publish_both_ways(pki: DevPki) -> None:
    async def scenario() -> None:
        server_handler = MemoryServer(to_publish=[ev(1, b"relay-cmd", 5)])
        server, port = await start_server(pki, server_handler)
        handler = MemoryClient()
        client = make_client(pki, "alice", handler, port)
        task = asyncio.create_task(client.connect_once())
        await asyncio.wait_for(client.connected.wait(), 10)
        assert client.last_response is not None and client.last_response.response is Response.HELLO_NEW_CLIENT
        assert handler.server_instance_id == 99 and server_handler.known == {"alice": 7}
        assert client.session is not None
        answers = [await client.session.publish(ev(i)) for i in range(1, 4)]
        results = [await a for a in answers]
        assert [r.event for r in results] == [ev(1), ev(2), ev(3)]
        assert [e for _, e in server_handler.received] == [ev(1), ev(2), ev(3)]
        await eventually(
            lambda: handler.received == [ev(1, b"relay-cmd", 5)] and server_handler.acked == handler.received
        )
        await client.stop()
        await task
        # reconnect: the stored ids give `connected`
        client2 = make_client(pki, "alice", handler, port)
        task2 = asyncio.create_task(client2.connect_once())
        await asyncio.wait_for(client2.connected.wait(), 10)
        assert client2.last_response is not None and client2.last_response.response is Response.CONNECTED
        await client2.stop()
        await task2
        await server.close()

    run(scenario())


@covers("HS-15", "HS-16", "HS-17", "HS-18", "HS-19", "DELIV-9")
@pytest.mark.parametrize("case", ["mismatch", "quarantined", "app_version"])
def test_refusals_close_and_do_not_reset_backoff(pki: DevPki, case: str) -> None:
    async def scenario() -> None:
        server_handler = MemoryServer(known={"bob": 1234})
        if case == "quarantined":
            server_handler.quarantined["bob"] = Quarantine(machine_message=b"maint", human_message=b"under maintenance")
        if case == "app_version":
            server_handler.refused_versions.add(b"0.9")
        server, port = await start_server(pki, server_handler)
        handler = MemoryClient(
            client_instance_id=1234 if case != "mismatch" else 9,
            server_instance_id=99,
            app_version=b"0.9" if case == "app_version" else b"1.0.0",
        )
        steps: list[float] = []
        backoff = Backoff(lambda lo, hi: 1.0, steps=(0.01, 0.02, 0.03))
        client = make_client(pki, "bob", handler, port, backoff=backoff)
        closed = await client.connect_once()
        steps.append(backoff.next_delay())
        closed2 = await client.connect_once()
        steps.append(backoff.next_delay())
        expected = {
            "mismatch": Response.INSTANCE_ID_MISMATCH,
            "quarantined": Response.QUARANTINED,
            "app_version": Response.UNSUPPORTED_APPLICATION_VERSION,
        }[case]
        assert closed.reason == closed2.reason == "handshake_refused"
        assert [r.response for r in handler.refused] == [expected, expected]
        if case == "quarantined":
            assert handler.refused[0].human_message == b"under maintenance"
        assert steps == [0.01, 0.02]  # never reset by a refused handshake
        assert handler.server_instance_id == 99  # HS-16: nothing resolved on its own
        await server.close()

    run(scenario())


@covers("DELIV-12", "NACK-1", "MSGID-11")
def test_nack_reaches_the_publisher(pki: DevPki) -> None:
    async def scenario() -> None:
        server_handler = MemoryServer()
        server, port = await start_server(pki, server_handler)
        handler = MemoryClient()
        client = make_client(pki, "alice", handler, port)
        task = asyncio.create_task(client.connect_once())
        await asyncio.wait_for(client.connected.wait(), 10)
        assert client.session is not None
        bad = await client.session.publish(ev(1, b"poison-1"))
        good = await client.session.publish(ev(1, b"meter-9"))
        assert (await bad).__class__.__name__ == "PublishNacked" and (await good).__class__.__name__ == "PublishAcked"
        assert handler.nacked == [(ev(1, b"poison-1"), b"E-POISON", b"cannot parse poison-1")]
        assert client.session.connection.state.value == "open"  # a NACK does not break the connection
        await client.stop()
        await task
        await server.close()

    run(scenario())


@covers("MSGID-2", "MSGID-4")
def test_message_ids_wrap_over_real_tls(pki: DevPki) -> None:
    async def scenario() -> None:
        server_handler = MemoryServer()
        server, port = await start_server(pki, server_handler)
        handler = MemoryClient()
        client = make_client(pki, "alice", handler, port, message_id_start=lambda: 4000)
        task = asyncio.create_task(client.connect_once())
        await asyncio.wait_for(client.connected.wait(), 10)
        session = client.session
        assert session is not None
        futures = [await session.publish(ev(i)) for i in range(1, 4301)]
        answers = await asyncio.gather(*futures)
        ids = [a.message_id for a in answers]
        assert ids[0] == 4000 and ids[96] == 0 and len(set(ids)) == 4096
        assert len(server_handler.received) == 4300
        await client.stop()
        await task
        await server.close()

    run(scenario())


@covers("KEEP-4", "KEEP-5", "PING-1")
def test_keepalive_pings_keep_an_idle_connection_up_and_silence_closes_it(pki: DevPki) -> None:
    async def scenario() -> None:
        server_handler = MemoryServer()
        server, port = await start_server(pki, server_handler, keepalive=0.3)
        handler = MemoryClient()
        client = make_client(pki, "alice", handler, port, keepalive=0.2)
        task = asyncio.create_task(client.connect_once())
        await asyncio.wait_for(client.connected.wait(), 10)
        await asyncio.sleep(1.2)  # several server silence periods: only the client's PINGs keep it open
        assert client.session is not None and client.session.connection.state.value == "open"
        await client.stop()
        await task
        # a peer that completes TLS and then says nothing is closed after 1.5 K
        context = client_context(ca=pki.ca, cert=pki.client_cert("bob"), key=pki.client_key("bob"))
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert 0.4 <= asyncio.get_running_loop().time() - started < 2.0
        writer.close()
        await server.close()

    run(scenario())


@covers("DELIV-10")
def test_second_connection_replaces_the_first(pki: DevPki) -> None:
    async def scenario() -> None:
        server_handler = MemoryServer()
        server, port = await start_server(pki, server_handler)
        first = make_client(pki, "alice", MemoryClient(), port)
        t1 = asyncio.create_task(first.connect_once())
        await asyncio.wait_for(first.connected.wait(), 10)
        second = make_client(pki, "alice", MemoryClient(server_instance_id=99), port)
        t2 = asyncio.create_task(second.connect_once())
        await asyncio.wait_for(second.connected.wait(), 10)
        closed_first = await asyncio.wait_for(t1, 10)
        assert closed_first.reason == "peer_closed"
        assert server.sessions["alice"] is not None and len(server.sessions) == 1
        await second.stop()
        await t2
        await server.close()

    run(scenario())


@covers("TRANS-3")
def test_client_certificate_from_another_ca_and_no_certificate_are_rejected(pki: DevPki, tmp_path: Path) -> None:
    evil = create_authority(tmp_path, name="evil-ca", common_name="Evil CA")
    issue_client(evil, tmp_path, "alice")

    def attempt(context: ssl.SSLContext) -> str:
        """A blocking TLS client, so the alert's reason is visible (asyncio reports a bare EOF).

        Over TLS 1.3 the client learns of the rejection on its first read (field facts).
        """
        with socket.create_connection(("127.0.0.1", port_box[0]), timeout=5) as raw:
            try:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(b"\x00\x0b" + bytes.fromhex("0005312e302e3000000007"))
                    return f"read {tls.recv(100)!r}"
            except ssl.SSLError as exc:
                return str(exc.reason)

    port_box: list[int] = []

    async def scenario() -> None:
        server_handler = MemoryServer()
        server, port = await start_server(pki, server_handler)
        port_box.append(port)
        wrong_ca = client_context(ca=pki.ca, cert=tmp_path / "client-alice.pem", key=tmp_path / "client-alice.key")
        # asyncio's TLS server aborts the handshake without flushing the alert, so
        # the client sees the connection end before any Sink byte (an alert if any).
        assert await asyncio.to_thread(attempt, wrong_ca) in ("read b''", "TLSV1_ALERT_UNKNOWN_CA")
        no_cert = ssl.create_default_context(cafile=pki.ca)
        assert await asyncio.to_thread(attempt, no_cert) in ("read b''", "TLSV13_ALERT_CERTIFICATE_REQUIRED")
        assert server_handler.connects == [] and server_handler.known == {}
        # and the same server does accept a good certificate: hello_new_client comes back
        good = client_context(ca=pki.ca, cert=pki.client_cert("alice"), key=pki.client_key("alice"))
        assert (await asyncio.to_thread(attempt, good)).startswith("read b'\\x00\\x05\\x11")
        await server.close()

    run(scenario())


@covers("PUB-1", "ACK-1")
@pytest.mark.parametrize(("server_codec", "client_codec"), [("construct", "fast"), ("fast", "construct")])
def test_fast_and_reference_codecs_interoperate_over_tls(pki: DevPki, server_codec: str, client_codec: str) -> None:
    from sinkproto.codec import get_codec

    async def scenario() -> None:
        server_handler = MemoryServer(to_publish=[ev(1, b"relay-cmd", 5)])
        server, port = await start_server(pki, server_handler, codec=get_codec(server_codec))
        handler = MemoryClient()
        client = make_client(pki, "alice", handler, port, codec=get_codec(client_codec))
        assert client.codec.name == client_codec and server.codec.name == server_codec
        task = asyncio.create_task(client.connect_once())
        await asyncio.wait_for(client.connected.wait(), 10)
        assert client.session is not None and client.session.connection.codec.name == client_codec
        results = [await (await client.session.publish(ev(i))) for i in range(1, 4)]
        assert [r.event for r in results] == [ev(1), ev(2), ev(3)]
        await eventually(lambda: handler.received == [ev(1, b"relay-cmd", 5)])
        await client.stop()
        await task
        await server.close()

    run(scenario())


def test_sink_codec_environment_selects_the_reference_codec(monkeypatch: pytest.MonkeyPatch, pki: DevPki) -> None:
    monkeypatch.setenv("SINK_CODEC", "construct")
    client = make_client(pki, "alice", MemoryClient(), 1)
    assert client.codec.name == "construct"
