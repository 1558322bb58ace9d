"""The sans-I/O Connection: handshake, publish/ACK/NACK, message ids, keepalive, protocol errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sinkproto import (
    Ack,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Ping,
    Publish,
    Response,
    encode_frame,
    frame_bytes,
)
from sinkproto.connection import TRANSITIONS, Connection, Role, State
from sinkproto.errors import LocalProtocolError
from sinkproto.events import (
    ConnectionClosed,
    EventReceived,
    HandshakeCompleted,
    HandshakeRefused,
    HandshakeRequested,
    ProtocolError,
    PublishAcked,
    PublishNacked,
)
from sinkproto.handshake import Quarantine, decide_handshake, records_client
from sinktest import covers

REQUEST = ConnectionRequest(app_version=b"1.0.0", client_instance_id=7)


def ev(offset: int = 1, key: bytes = b"meter-1") -> Event:
    return Event(event_type_id=1, schema_version=1, key=key, offset=offset, timestamp=1_700_000_000, event_data=b"x")


def pair(
    *, keepalive: float = 60.0, client_start: int = 100, server_start: int = 4000
) -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT, now=0.0, message_id_start=client_start, keepalive=keepalive)
    server = Connection(Role.SERVER, now=0.0, message_id_start=server_start, keepalive=keepalive)
    return client, server


def pump(src: Connection, dst: Connection, now: float = 0.0) -> list[object]:
    return list(dst.receive_data(src.data_to_send(), now))


def handshake(client: Connection, server: Connection, response: ConnectionResponse | None = None) -> None:
    client.send_request(REQUEST, 0.0)
    assert pump(client, server) == [HandshakeRequested(request=REQUEST)]
    response = response or ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=99)
    server.send_response(response, 0.0)
    assert pump(server, client) == [HandshakeCompleted(response=response)]
    assert client.state is server.state is State.OPEN


# -- handshake ---------------------------------------------------------------------------------


@covers("HS-9", "HS-8", "HS-18", "HS-12", "HS-10")
@pytest.mark.parametrize(
    ("known", "c", "s", "expected"),
    [
        (7, 7, 99, Response.CONNECTED),  # known client, same histories
        (None, 7, None, Response.HELLO_NEW_CLIENT),  # new client
        (None, 123, None, Response.HELLO_NEW_CLIENT),
        (7, 7, None, Response.HELLO_NEW_CLIENT),  # interrupted first handshake
        (7, 9, 99, Response.INSTANCE_ID_MISMATCH),  # wiped client
        (7, 7, 98, Response.INSTANCE_ID_MISMATCH),  # client talked to another server instance
        (None, 7, 99, Response.INSTANCE_ID_MISMATCH),  # server data replaced
        (7, 9, None, Response.INSTANCE_ID_MISMATCH),  # wiped client, never had a server id
    ],
)
def test_instance_id_table(known: int | None, c: int, s: int | None, expected: Response) -> None:
    request = ConnectionRequest(app_version=b"1", client_instance_id=c, server_instance_id=s)
    response = decide_handshake(request, server_instance_id=99, known_client_instance_id=known)
    assert response.response is expected
    assert records_client(response) == (expected is Response.HELLO_NEW_CLIENT)
    if expected is Response.HELLO_NEW_CLIENT:
        assert response.server_instance_id == 99
    # quarantine beats the application version, which beats instance ids (HS-8)
    q = decide_handshake(
        request,
        server_instance_id=99,
        known_client_instance_id=known,
        quarantine=Quarantine(machine_message=b"q", human_message=b"maintenance"),
        app_version_accepted=False,
    )
    assert q == ConnectionResponse(response=Response.QUARANTINED, machine_message=b"q", human_message=b"maintenance")
    v = decide_handshake(request, server_instance_id=99, known_client_instance_id=known, app_version_accepted=False)
    assert v.response is Response.UNSUPPORTED_APPLICATION_VERSION


@covers("HS-1", "HS-3", "HS-13")
def test_handshake_completes_on_both_sides() -> None:
    client, server = pair()
    handshake(client, server)


@covers("HS-15", "HS-19", "HS-20")
@pytest.mark.parametrize(
    "response",
    [
        ConnectionResponse(response=Response.INSTANCE_ID_MISMATCH),
        ConnectionResponse(response=Response.QUARANTINED, machine_message=b"q", human_message=b"why"),
        ConnectionResponse(response=Response.UNSUPPORTED_APPLICATION_VERSION),
    ],
)
def test_refusal_closes_both_sides_and_nothing_is_processed_after(response: ConnectionResponse) -> None:
    client, server = pair()
    client.send_request(REQUEST, 0.0)
    pump(client, server)
    assert server.send_response(response, 0.0) == [
        HandshakeRefused(response=response),
        ConnectionClosed(reason="handshake_refused"),
    ]
    assert server.state is State.CLOSED
    wire = server.data_to_send()
    assert wire == frame_bytes(encode_frame(response))
    assert client.receive_data(wire, 0.0) == [
        HandshakeRefused(response=response),
        ConnectionClosed(reason="handshake_refused"),
    ]
    assert client.data_to_send() == b""  # HS-15: no other frame
    # HS-20: a (faulty) client's PUBLISH after the refusal is ignored, not ACKed
    late = frame_bytes(encode_frame(Publish(message_id=1, event=ev())))
    assert server.receive_data(late, 1.0) == [] and server.data_to_send() == b""


@covers("HS-11", "CONN-2")
def test_other_protocol_version_is_answered_and_closed() -> None:
    server = Connection(Role.SERVER, now=0.0, message_id_start=0)
    events = server.receive_data(frame_bytes(bytes.fromhex("01") + encode_frame(REQUEST)[1:]), 0.0)
    assert isinstance(events[0], HandshakeRefused) and events[0].requested_version == 1
    assert events[-1] == ConnectionClosed(reason="handshake_refused")
    assert server.data_to_send() == frame_bytes(b"\x14")


@covers("HS-2", "ERR-6", "MSGID-7")
def test_publish_before_handshake_is_a_protocol_error_and_refused_locally() -> None:
    client, server = pair()
    with pytest.raises(LocalProtocolError) as info:
        client.publish(ev(), 0.0)
    assert info.value.requirement == "MSGID-7"
    # A faulty client that publishes first: out of place, no ACK (the field quirk ACKs it)
    events = server.receive_data(frame_bytes(encode_frame(Publish(message_id=1, event=ev()))), 0.0)
    assert events[0] == ProtocolError(
        error_class="out_of_place_frame",
        requirement="ERR-6",
        detail="publish received by a server in state await_request",
    )
    assert events[1] == ConnectionClosed(reason="protocol_error") and server.data_to_send() == b""


def test_transition_table_covers_exactly_the_allowed_frames() -> None:
    # ERR-6's table: before the handshake only the request/response; after it, the five others.
    frames = [r for r in TRANSITIONS if r.input.kind == "frame" and r.since == 0]
    assert {(r.role, r.state) for r in frames} == {
        (Role.SERVER, State.AWAIT_REQUEST),
        (Role.CLIENT, State.AWAIT_RESPONSE),
        (Role.CLIENT, State.OPEN),
        (Role.SERVER, State.OPEN),
    }
    assert len(frames) == 14  # request and response each split in two (supported/unsupported, accepted/refused)
    # Handlers never set the state: every row that leaves its state says where it goes.
    assert all(r.next is None or r.next is not r.state for r in TRANSITIONS)
    assert {r.close_reason for r in TRANSITIONS if r.next is State.CLOSED} == {
        "close_received",  # version 1: the peer's CLOSE (CLOSE-10)
        "handshake_refused",
        "keepalive_timeout",
        "peer_closed",
        "protocol_error",
        "local_close",
    }


# -- publish, ACK, NACK ------------------------------------------------------------------------


@covers("MSGID-3", "MSGID-8", "MSGID-11", "ACK-1")
def test_publish_ack_and_nack_both_directions() -> None:
    client, server = pair()
    handshake(client, server)
    a = client.publish(ev(1), 0.0)
    b = client.publish(ev(2), 0.0)
    assert (a, b) == (100, 101)
    received = pump(client, server)
    assert received == [EventReceived(message_id=100, event=ev(1)), EventReceived(message_id=101, event=ev(2))]
    server.nack(101, 0.0, machine_message=b"E42", human_message=b"bad reading")  # out of order (MSGID-10)
    server.ack(100, 0.0)
    answers = pump(server, client)
    assert answers == [
        PublishNacked(message_id=101, event=ev(2), machine_message=b"E42", human_message=b"bad reading"),
        PublishAcked(message_id=100, event=ev(1)),
    ]
    assert client.in_flight == {}
    # and the server publishes to the client with its own numbering
    assert server.publish(ev(9, b"cmd"), 0.0) == 4000
    assert pump(server, client) == [EventReceived(message_id=4000, event=ev(9, b"cmd"))]
    with pytest.raises(LocalProtocolError):
        client.ack(4001, 0.0)  # nothing to answer with that id


@covers("MSGID-6")
def test_duplicate_in_flight_is_refused_locally() -> None:
    client, server = pair()
    handshake(client, server)
    client.publish(ev(1), 0.0)
    assert not client.can_publish(ev(1)) and client.can_publish(ev(2))
    with pytest.raises(LocalProtocolError) as info:
        client.publish(ev(1), 0.0)
    assert info.value.requirement == "MSGID-6"


@covers("MSGID-1", "MSGID-2", "MSGID-4")
def test_message_ids_wrap_across_more_than_4096_publishes() -> None:
    client, server = pair(client_start=4090)
    handshake(client, server)
    seen = []
    for offset in range(1, 5001):
        message_id = client.publish(ev(offset), 0.0)
        seen.append(message_id)
        (received,) = pump(client, server)
        server.ack(received.message_id, 0.0)  # type: ignore[attr-defined]
        assert pump(server, client) == [PublishAcked(message_id=message_id, event=ev(offset))]
    assert seen[:8] == [4090, 4091, 4092, 4093, 4094, 4095, 0, 1]
    assert all((b - a) % 4096 == 1 for a, b in zip(seen, seen[1:]))


@covers("MSGID-4", "MSGID-5")
def test_next_id_in_flight_blocks_publish() -> None:
    client, server = pair(client_start=0)
    handshake(client, server)
    for offset in range(4096):
        client.publish(ev(offset + 1), 0.0)
    assert not client.can_publish()
    with pytest.raises(LocalProtocolError):
        client.publish(ev(5000), 0.0)
    small = Connection(Role.CLIENT, now=0.0, message_id_start=0, max_in_flight=2)
    s2 = Connection(Role.SERVER, now=0.0, message_id_start=0)
    handshake(small, s2)
    small.publish(ev(1), 0.0)
    small.publish(ev(2), 0.0)
    with pytest.raises(LocalProtocolError) as info:
        small.publish(ev(3), 0.0)
    assert info.value.requirement == "MSGID-5"


@covers("MSGID-12", "ERR-3")
def test_ack_for_unknown_id_is_a_protocol_error() -> None:
    client, server = pair()
    handshake(client, server)
    events = client.receive_data(frame_bytes(encode_frame(Ack(message_id=5))), 0.0)
    assert [type(e) for e in events] == [ProtocolError, ConnectionClosed]
    assert events[0].error_class == "unknown_message_id"  # type: ignore[union-attr]
    assert client.data_to_send() == b""


@covers("ERR-4", "ERR-5")
def test_malformed_publish_is_not_acked_and_closes() -> None:
    client, server = pair()
    handshake(client, server)
    bad = frame_bytes(bytes.fromhex("4001") + b"\x01\x01\x05ab")  # key chunk runs past the end
    events = server.receive_data(bad, 0.0)
    assert events[0] == ProtocolError(
        error_class="truncated",
        requirement="CONV-6",
        detail="truncated at byte 4: key announces 5 bytes but only 2 follow [CONV-6]",
    )
    assert server.data_to_send() == b"" and server.state is State.CLOSED


@covers("MSGID-13", "DELIV-1")
def test_unanswered_publishes_are_handed_back_on_close() -> None:
    client, server = pair()
    handshake(client, server)
    client.publish(ev(1), 0.0)
    client.publish(ev(2), 0.0)
    pump(client, server)
    server.ack(100, 0.0)
    pump(server, client)
    assert client.receive_data(b"", 5.0) == [ConnectionClosed(reason="peer_closed", unanswered=(ev(2),))]


# -- keepalive -----------------------------------------------------------------------------------


@covers("KEEP-3", "KEEP-4", "KEEP-5", "PING-1")
def test_client_pings_after_k_idle_and_server_answers() -> None:
    client, server = pair(keepalive=10.0)
    handshake(client, server)
    assert client.next_timer() == 10.0
    assert server.next_timer() == 15.0  # the server never pings, it only watches silence
    assert client.handle_timer(9.9) == [] and client.data_to_send() == b""
    assert client.handle_timer(10.0) == []
    assert client.data_to_send() == frame_bytes(encode_frame(Ping()))
    assert server.receive_data(frame_bytes(encode_frame(Ping())), 10.0) == []
    assert server.data_to_send() == frame_bytes(b"\x60\x00")
    assert client.receive_data(frame_bytes(b"\x60\x00"), 10.1) == []
    assert client.next_timer() == pytest.approx(20.1)


@covers("KEEP-5")
def test_silence_closes_after_one_and_a_half_k() -> None:
    client, server = pair(keepalive=10.0)
    handshake(client, server)
    assert server.handle_timer(14.9) == []
    assert server.handle_timer(15.0) == [ConnectionClosed(reason="keepalive_timeout")]
    assert server.next_timer() is None
    # also bounds the handshake: a server that never gets a request
    idle = Connection(Role.SERVER, now=100.0, message_id_start=0, keepalive=10.0)
    assert idle.handle_timer(115.0) == [ConnectionClosed(reason="keepalive_timeout")]


# -- segmentation ---------------------------------------------------------------------------------


@covers("STREAM-4")
@given(st.lists(st.integers(1, 7), min_size=1, max_size=50))
def test_events_do_not_depend_on_segmentation(steps: list[int]) -> None:
    client, server = pair()
    client.send_request(REQUEST, 0.0)
    server.receive_data(client.data_to_send(), 0.0)
    server.send_response(ConnectionResponse(response=Response.CONNECTED), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    for offset in range(1, 6):
        client.publish(ev(offset), 0.0)
    wire = client.data_to_send()
    got: list[object] = []
    position, index = 0, 0
    while position < len(wire):
        step = steps[index % len(steps)]
        got += server.receive_data(wire[position : position + step], 0.0)
        position += step
        index += 1
    assert got == [EventReceived(message_id=100 + i, event=ev(i + 1)) for i in range(5)]


@covers("HS-2", "HS-20")
def test_frames_pipelined_after_the_request_wait_for_the_decision() -> None:
    client, server = pair()
    wire = frame_bytes(encode_frame(REQUEST)) + frame_bytes(encode_frame(Publish(message_id=3, event=ev())))
    assert server.receive_data(wire, 0.0) == [HandshakeRequested(request=REQUEST)]
    refusal = ConnectionResponse(response=Response.INSTANCE_ID_MISMATCH)
    assert server.send_response(refusal, 0.0)[-1] == ConnectionClosed(reason="handshake_refused")
    assert server.data_to_send() == frame_bytes(encode_frame(refusal))  # the PUBLISH was never ACKed
    # accepted instead: the held PUBLISH is processed after the response
    _, server2 = pair()
    server2.receive_data(wire, 0.0)
    events = server2.send_response(ConnectionResponse(response=Response.CONNECTED), 0.0)
    assert events[1] == EventReceived(message_id=3, event=ev())
