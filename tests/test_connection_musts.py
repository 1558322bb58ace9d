"""MUST requirements of the connection layer that no vector can show: keepalive configuration, unsolicited
PONGs, silence after deciding to close, nothing before the connection response, state keyed on the
certificate identity. The last two run the reference server over mutual TLS on loopback."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from peer_support import MemoryServer, ev, run, start_server
from sinkproto import (
    ConnectionRequest,
    ConnectionResponse,
    Deframer,
    Limits,
    Ping,
    Pong,
    Publish,
    Response,
    decode_frame,
    encode_frame,
    frame_bytes,
)
from sinkproto.certs import DevPki, make_dev_pki
from sinkproto.connection import Connection, Role, State
from sinkproto.errors import LocalProtocolError
from sinkproto.events import ConnectionClosed, ProtocolError
from sinkproto.peers import client_context
from sinktest import covers

REQUEST = ConnectionRequest(app_version=b"1.0.0", client_instance_id=7)


def open_pair(keepalive: float = 60.0) -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT, now=0.0, message_id_start=1, keepalive=keepalive)
    server = Connection(Role.SERVER, now=0.0, message_id_start=2, keepalive=keepalive)
    client.send_request(REQUEST, 0.0)
    server.receive_data(client.data_to_send(), 0.0)
    server.send_response(ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=9), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    assert client.state is server.state is State.OPEN
    return client, server


@covers("KEEP-1")
def test_keepalive_interval_defaults_to_60_s_and_is_configurable() -> None:
    default = Connection(Role.CLIENT, now=0.0, message_id_start=0)
    assert default.keepalive == 60.0
    for k in (60.0, 5.0):
        client, _server = open_pair(keepalive=k)
        client.handle_timer(k - 0.01)
        assert client.data_to_send() == b""  # not idle for K yet
        client.handle_timer(k)
        assert client.data_to_send() == frame_bytes(encode_frame(Ping()))


@covers("PING-2")
def test_an_unsolicited_pong_is_accepted_on_both_sides() -> None:
    client, server = open_pair()
    pong = frame_bytes(encode_frame(Pong()))
    for side in (client, server):
        assert side.receive_data(pong, 1.0) == []
        assert side.state is State.OPEN
        assert side.data_to_send() == b""  # nothing to answer, no error
        side.publish(ev(1), 1.0)  # and the connection still works
        assert side.data_to_send()


@covers("TRANS-7")
def test_nothing_is_sent_after_deciding_to_close() -> None:
    # a protocol error: the side closes and sends nothing in answer, then refuses every action
    client, server = open_pair()
    events = server.receive_data(b"\x00\x02\x20\x00", 1.0)  # frame type 2: unknown_type
    assert isinstance(events[0], ProtocolError) and isinstance(events[-1], ConnectionClosed)
    assert server.data_to_send() == b""
    for action in (lambda: server.publish(ev(2), 1.0), lambda: server.ack(0, 1.0)):
        try:
            action()
        except LocalProtocolError:
            pass
        else:
            raise AssertionError("a closed connection accepted an action")
    assert server.receive_data(frame_bytes(encode_frame(Ping())), 1.0) == []
    assert server.data_to_send() == b""  # no PONG after the close either
    # a local close
    client.close()
    client.handle_timer(1000.0)
    assert client.data_to_send() == b""
    # a refused handshake: the required connection response, and nothing after it
    server = Connection(Role.SERVER, now=0.0, message_id_start=0)
    server.receive_data(
        frame_bytes(encode_frame(REQUEST)) + frame_bytes(encode_frame(Publish(message_id=1, event=ev(1)))), 0.0
    )
    server.send_response(ConnectionResponse(response=Response.INSTANCE_ID_MISMATCH), 0.0)
    sent = Deframer(Limits()).feed(server.data_to_send())
    assert [decode_frame(f) for f in sent] == [ConnectionResponse(response=Response.INSTANCE_ID_MISMATCH)]


async def _raw_session(pki: DevPki, name: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context: ssl.SSLContext = client_context(ca=pki.ca, cert=pki.client_cert(name), key=pki.client_key(name))
    return await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")


async def _next_frame(reader: asyncio.StreamReader, deframer: Deframer, timeout: float = 5.0) -> bytes:
    while True:
        frames = deframer.feed(await asyncio.wait_for(reader.read(65536), timeout))
        if frames:
            assert len(frames) >= 1
            return frames[0]


@covers("HS-4")
def test_server_sends_nothing_before_the_connection_response(tmp_path: Path) -> None:
    pki = make_dev_pki(tmp_path / "pki", ["alice"])

    async def scenario() -> None:
        handler = MemoryServer(to_publish=[ev(1), ev(2)])  # a server with events to push on connect
        server, port = await start_server(pki, handler)
        try:
            reader, writer = await _raw_session(pki, "alice", port)
            try:
                early = await asyncio.wait_for(reader.read(65536), 0.5)
            except TimeoutError:
                early = b""
            assert early == b"", f"the server sent {early.hex()} before any request"
            writer.write(frame_bytes(encode_frame(REQUEST)))
            deframer = Deframer(Limits())
            first = decode_frame(await _next_frame(reader, deframer))
            assert isinstance(first, ConnectionResponse) and first.response is Response.HELLO_NEW_CLIENT
            writer.close()
        finally:
            await server.close()

    run(scenario())


@covers("SEC-1")
def test_server_keys_client_state_on_the_certificate_identity(tmp_path: Path) -> None:
    pki = make_dev_pki(tmp_path / "pki", ["alice", "bob"])

    async def handshake(port: int, name: str, request: ConnectionRequest) -> ConnectionResponse:
        reader, writer = await _raw_session(pki, name, port)
        writer.write(frame_bytes(encode_frame(request)))
        response = decode_frame(await _next_frame(reader, Deframer(Limits())))
        writer.close()
        assert isinstance(response, ConnectionResponse)
        return response

    async def scenario() -> None:
        handler = MemoryServer(server_instance_id=0x5EED)
        server, port = await start_server(pki, handler)
        try:
            first = await handshake(port, "alice", REQUEST)
            assert first.response is Response.HELLO_NEW_CLIENT
            known = ConnectionRequest(app_version=b"1.0.0", client_instance_id=7, server_instance_id=0x5EED)
            assert (await handshake(port, "alice", known)).response is Response.CONNECTED
            # bob sends alice's frame values: the server must judge bob's identity, which it has never seen
            assert (await handshake(port, "bob", known)).response is Response.INSTANCE_ID_MISMATCH
            assert set(handler.known) == {"alice"}
        finally:
            await server.close()

    run(scenario())
