"""The version-1 connection and CLOSE (spec/v1/errors.md#closing-a-version-1-connection), declared limits and K.

A version-1 connection sends a CLOSE before every deliberate close (a
protocol error, a refusal, the application's close, a silent peer) and turns
the peer's CLOSE into a :class:`PeerClosed` event; a version-0 connection is
unchanged (no CLOSE ever sent; type 9 stays ``unknown_type``). The
handshake's declared limits bind what each side sends (DECL-4), and K is the
smaller of both sides' (KEEP-7).
"""

from __future__ import annotations

import pytest
from sinkproto.codec import CONSTRUCT
from sinkproto.connection import Connection, Role, State
from sinkproto.errors import LocalProtocolError
from sinkproto.events import (
    ConnectionClosed,
    HandshakeRefused,
    HandshakeRequested,
    PeerClosed,
    ProtocolError,
)
from sinkproto.limits import Limits
from sinkproto.messages import (
    CONSTRAINED_PROFILE,
    BatchCodec,
    BatchFormat,
    Close,
    CloseCode,
    ConnectionRequest,
    ConnectionResponse,
    DeclaredLimits,
    Event,
    Frame,
    Response,
)
from sinkproto.stream import Deframer, frame_bytes
from sinktest import covers


def ev(offset: int, size: int = 10) -> Event:
    return Event(
        event_type_id=1, schema_version=1, key=b"k", offset=offset, timestamp=1_700_000_000, event_data=b"x" * size
    )


def frames(data: bytes, version: int = 1) -> list[Frame]:
    return [CONSTRUCT.decode_frame(raw, version=version) for raw in Deframer().feed(data)]


def pair(
    version: int = 1,
    *,
    client_declares: DeclaredLimits | None = None,
    server_declares: DeclaredLimits | None = None,
    client_keepalive: float = 60.0,
    server_keepalive: float = 60.0,
) -> tuple[Connection, Connection]:
    """A client and a server after a handshake at ``version``."""
    versions = tuple(range(version + 1))
    client = Connection(Role.CLIENT, versions=versions, now=0.0, message_id_start=10, keepalive=client_keepalive)
    server = Connection(Role.SERVER, versions=(0, 1), now=0.0, message_id_start=20, keepalive=server_keepalive)
    client.send_request(
        ConnectionRequest(version=version, app_version=b"1.0", client_instance_id=7, declared_limits=client_declares),
        0.0,
    )
    assert isinstance(server.receive_data(client.data_to_send(), 0.0)[0], HandshakeRequested)
    server.send_response(ConnectionResponse(response=Response.CONNECTED, declared_limits=server_declares), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    assert client.state is server.state is State.OPEN and client.negotiated_version == version
    return client, server


# -- sending CLOSE -------------------------------------------------------------------------------------


@covers("CLOSE-3", "CLOSE-8", "CLOSE-10", "ERR-11")
def test_a_protocol_error_on_version_1_sends_close_with_class_and_requirement() -> None:
    for bad, code, rule in (
        (b"\xa0\x00", CloseCode.UNKNOWN_TYPE, "FRAME-7"),
        (
            CONSTRUCT.encode_frame(ConnectionRequest(app_version=b"", client_instance_id=1)),
            CloseCode.OUT_OF_PLACE_FRAME,
            "ERR-11",
        ),
        (b"\x30\x05", CloseCode.UNKNOWN_MESSAGE_ID, "MSGID-12"),  # an ACK for nothing in flight
    ):
        client, server = pair()
        events = server.receive_data(frame_bytes(bad), 1.0)
        assert isinstance(events[0], ProtocolError) and events[-1] == ConnectionClosed(reason="protocol_error")
        (close,) = frames(server.data_to_send())
        assert isinstance(close, Close)
        assert (close.error_class, close.requirement, close.last_message_id) == (code, rule.encode(), None)
        # The client learns why (CLOSE-10) and closes without sending anything (CLOSE-8).
        events = client.receive_data(frame_bytes(CONSTRUCT.encode_frame(close, version=1)), 2.0)
        assert events[0] == PeerClosed(
            error_class=code.wire_name,
            requirement=rule,
            last_message_id=None,
            retry_after=None,
            human_message=close.human_message,
        )
        assert events[-1] == ConnectionClosed(reason="close_received")
        assert client.state is State.CLOSED and client.data_to_send() == b""


@covers("CLOSE-3", "VER-8", "FRAME-9")
def test_a_version_0_connection_never_sends_close_and_type_9_stays_unknown() -> None:
    client, server = pair(version=0)
    close = CONSTRUCT.encode_frame(Close(error_class=CloseCode.NO_ERROR), version=1)
    events = server.receive_data(frame_bytes(close), 1.0)
    assert isinstance(events[0], ProtocolError) and events[0].error_class == "unknown_type"
    assert events[0].requirement == "FRAME-3"
    assert server.data_to_send() == b""  # ERR-3: nothing in answer on version 0
    assert client.close() == [ConnectionClosed(reason="local_close")] and client.data_to_send() == b""


@covers("CLOSE-11")
def test_a_malformed_close_is_not_answered_with_a_close() -> None:
    client, server = pair()
    events = server.receive_data(frame_bytes(bytes.fromhex("90 08 00 00")), 1.0)  # close code 8 is unassigned
    assert isinstance(events[0], ProtocolError) and events[0].error_class == "value_out_of_range"
    assert events[-1] == ConnectionClosed(reason="protocol_error") and server.data_to_send() == b""


@covers("CLOSE-6", "CLOSE-7", "CLOSE-8")
def test_a_local_close_on_version_1_is_a_drain_naming_the_last_unit_answered() -> None:
    client, server = pair()
    ids = [client.publish(ev(i), 1.0) for i in (1, 2, 3)]
    received = server.receive_data(client.data_to_send(), 1.0)
    assert [e.message_id for e in received] == ids  # type: ignore[union-attr]
    server.ack(ids[1], 2.0)  # answered out of order: the second, then the first
    server.ack(ids[0], 2.0)
    events = server.close(now=3.0)
    assert events == [ConnectionClosed(reason="local_close")]
    ack1, ack0, close = frames(server.data_to_send())
    assert close == Close(error_class=CloseCode.NO_ERROR, last_message_id=ids[1])  # the later arrival answered
    # The client: two delivered, the third not (MSGID-13), whatever last_message_id says (CLOSE-10).
    events = client.receive_data(frame_bytes(CONSTRUCT.encode_frame(ack1, version=1)), 4.0)
    events += client.receive_data(frame_bytes(CONSTRUCT.encode_frame(ack0, version=1)), 4.0)
    events += client.receive_data(frame_bytes(CONSTRUCT.encode_frame(close, version=1)), 4.0)
    assert isinstance(events[-2], PeerClosed) and events[-2].last_message_id == ids[1]
    assert events[-1] == ConnectionClosed(reason="close_received", unanswered=(ev(3),))
    assert server.close() == [] and server.data_to_send() == b""  # nothing after a CLOSE (CLOSE-8)


@covers("CLOSE-6")
def test_a_close_with_a_reason_and_a_silent_peer() -> None:
    client, server = pair(server_keepalive=10.0, client_keepalive=10.0)
    client.close(Close(error_class=CloseCode.INTERNAL_ERROR, requirement=b"", human_message=b"store full"))
    (close,) = frames(client.data_to_send())
    assert close == Close(error_class=CloseCode.INTERNAL_ERROR, human_message=b"store full")
    # KEEP-5: silence for 1.5 K closes, with a CLOSE the peer may still read.
    assert server.handle_timer(15.0)[-1] == ConnectionClosed(reason="keepalive_timeout")
    (close,) = frames(server.data_to_send())
    assert close == Close(error_class=CloseCode.KEEPALIVE_TIMEOUT, requirement=b"KEEP-5")


@covers("CLOSE-9")
def test_a_client_never_sets_retry_after() -> None:
    client, _ = pair()
    client.close(Close(error_class=CloseCode.NO_ERROR, retry_after=60))
    (close,) = frames(client.data_to_send())
    assert isinstance(close, Close) and close.retry_after is None


# -- refusals ------------------------------------------------------------------------------------------


@covers("CLOSE-4", "CLOSE-10", "HS-19")
def test_a_refusal_of_a_version_1_request_is_followed_by_close_and_the_client_reads_it() -> None:
    for response, rule in (
        (ConnectionResponse(response=Response.QUARANTINED, machine_message=b"q", human_message=b"paused"), "HS-18"),
        (ConnectionResponse(response=Response.INSTANCE_ID_MISMATCH), "HS-9"),
        (ConnectionResponse(response=Response.UNSUPPORTED_APPLICATION_VERSION), "HS-12"),
    ):
        client = Connection(Role.CLIENT, versions=(0, 1), now=0.0, message_id_start=0)
        server = Connection(Role.SERVER, versions=(0, 1), now=0.0, message_id_start=0)
        client.send_request(ConnectionRequest(version=1, app_version=b"a", client_instance_id=1), 0.0)
        server.receive_data(client.data_to_send(), 0.0)
        events = server.send_response(response, 0.0, retry_after=600, human_message=b"try later")
        assert events[-1] == ConnectionClosed(reason="handshake_refused")
        wire = server.data_to_send()
        refusal, close = frames(wire)
        assert refusal == response
        assert close == Close(
            error_class=CloseCode.HANDSHAKE_REFUSED,
            requirement=rule.encode(),
            retry_after=600,
            human_message=b"try later",
        )
        # The client waits in REFUSED for the CLOSE, then reports it with its retry_after and closes.
        events = client.receive_data(wire, 0.0)
        assert isinstance(events[0], HandshakeRefused) and events[0].response == response
        assert events[1] == PeerClosed(
            error_class="handshake_refused",
            requirement=rule,
            last_message_id=None,
            retry_after=600,
            human_message=b"try later",
        )
        assert events[-1] == ConnectionClosed(reason="handshake_refused")
        assert client.state is State.CLOSED and client.data_to_send() == b""


@covers("CLOSE-11", "HS-15")
def test_a_refused_client_closes_after_what_came_with_the_refusal() -> None:
    refusal = frame_bytes(b"\x12")
    for after, expected in (
        (b"", [ConnectionClosed(reason="handshake_refused")]),  # the CLOSE did not come with it: closed anyway
        (
            frame_bytes(bytes.fromhex("90 08 00 00")),
            ["value_out_of_range", ConnectionClosed(reason="handshake_refused")],
        ),
    ):
        client = Connection(Role.CLIENT, versions=(0, 1), now=0.0, message_id_start=0)
        client.send_request(ConnectionRequest(version=1, app_version=b"a", client_instance_id=1), 0.0)
        client.data_to_send()
        events = client.receive_data(refusal + after, 0.0)
        assert isinstance(events[0], HandshakeRefused)
        assert [e.error_class if isinstance(e, ProtocolError) else e for e in events[1:]] == expected
        assert client.state is State.CLOSED and client.data_to_send() == b""  # a malformed CLOSE is not answered
        # A CLOSE that comes later finds the client closed: nothing is processed any more.
        late = frame_bytes(
            CONSTRUCT.encode_frame(Close(error_class=CloseCode.HANDSHAKE_REFUSED, retry_after=9), version=1)
        )
        assert client.receive_data(late, 1.0) == []


@covers("CLOSE-4", "CLOSE-5", "CONN-12")
def test_no_close_after_a_refusal_to_version_0_or_after_unsupported_protocol_version() -> None:
    # A version-0 request to a version-1 server: the refusal alone, as in version 0.
    server = Connection(Role.SERVER, versions=(0, 1), now=0.0, message_id_start=0)
    server.receive_data(
        frame_bytes(CONSTRUCT.encode_frame(ConnectionRequest(app_version=b"a", client_instance_id=1))), 0.0
    )
    server.send_response(ConnectionResponse(response=Response.INSTANCE_ID_MISMATCH), 0.0)
    assert server.data_to_send() == frame_bytes(b"\x12")
    server = Connection(Role.SERVER, versions=(0, 1), now=0.0, message_id_start=0)
    server.receive_data(
        frame_bytes(CONSTRUCT.encode_frame(ConnectionRequest(app_version=b"a", client_instance_id=1))), 0.0
    )
    with pytest.raises(LocalProtocolError) as info:  # a version-0 connection has no CLOSE to say more in
        server.send_response(ConnectionResponse(response=Response.INSTANCE_ID_MISMATCH), 0.0, retry_after=5)
    assert info.value.requirement == "FRAME-9" and server.state is State.DECIDING
    # A version-1 request to a server configured for version 0 only (VER-9): `14` alone, like a version-0 server.
    server = Connection(Role.SERVER, versions=(0,), now=0.0, message_id_start=0)
    request = ConnectionRequest(version=1, app_version=b"a", client_instance_id=1)
    server.receive_data(frame_bytes(CONSTRUCT.encode_frame(request, version=1)), 0.0)
    assert server.data_to_send() == frame_bytes(b"\x14")


# -- declared limits and K -----------------------------------------------------------------------------


@covers("DECL-4", "DECL-7")
def test_a_sender_honours_the_peers_declared_limits() -> None:
    client, server = pair(server_declares=DeclaredLimits(max_frame_size=512, max_batch_events=2, max_in_flight=3))
    assert client.peer_declared_limits == DeclaredLimits(max_frame_size=512, max_batch_events=2, max_in_flight=3)
    assert client.peer_limits.max_decompressed_size == 8 * 1024 * 1024  # undeclared: the default
    assert server.peer_declared_limits is None and server.peer_limits == DeclaredLimits.defaults()
    with pytest.raises(LocalProtocolError) as info:
        client.publish(ev(1, size=600), 1.0)  # a PUBLISH of more than 512 bytes
    assert info.value.requirement == "DECL-4" and client.data_to_send() == b"" and not client.in_flight
    with pytest.raises(LocalProtocolError) as info:
        client.publish_batch([ev(1), ev(2), ev(3)], 1.0)  # three events, two declared
    assert info.value.requirement == "DECL-4" and client.data_to_send() == b"" and not client.in_flight_batches
    client.publish_batch([ev(1), ev(2)], 1.0)
    client.publish(ev(3), 1.0)
    client.publish(ev(4), 1.0)
    assert not client.can_publish()
    with pytest.raises(LocalProtocolError) as info:  # a fourth unit in flight, three declared
        client.publish(ev(5), 1.0)
    assert info.value.requirement == "DECL-4"
    # The server's own frames toward the undeclaring client are bound only by the defaults.
    server.publish(ev(9, size=600), 1.0)


@covers("DECL-4")
def test_a_batch_that_inflates_above_the_declared_size_is_refused() -> None:
    client, _ = pair(server_declares=CONSTRAINED_PROFILE)
    big = [
        Event(event_type_id=1, schema_version=1, key=b"k%d" % i, offset=i, timestamp=0, event_data=b"\x00" * 1000)
        for i in range(30)
    ]  # 30 KB that compress well below 4096 bytes of frame, above 16384 inflated
    with pytest.raises(LocalProtocolError) as info:
        client.publish_batch(big, 1.0, format=BatchFormat(codec=BatchCodec.GZIP))
    assert info.value.requirement == "DECL-4" and "max_decompressed_size" in str(info.value)
    with pytest.raises(LocalProtocolError) as info:  # the smallest encoding is zstd, its window too large
        client.publish_batch(big, 1.0)
    assert info.value.requirement == "DECL-4" and "max_zstd_window" in str(info.value)
    assert client.data_to_send() == b"" and not client.in_flight_batches
    client.publish_batch(big[:10], 1.0)  # 10 KB inflated: fits


@covers("DECL-3")
def test_a_side_never_declares_more_than_its_decoder_accepts() -> None:
    client = Connection(Role.CLIENT, versions=(0, 1), now=0.0, message_id_start=0, limits=Limits(max_frame_size=4096))
    too_much = ConnectionRequest(
        version=1, app_version=b"a", client_instance_id=1, declared_limits=DeclaredLimits(max_frame_size=8192)
    )
    with pytest.raises(LocalProtocolError) as info:
        client.send_request(too_much, 0.0)
    assert info.value.requirement == "DECL-3" and client.state is State.SEND_REQUEST
    client.send_request(
        ConnectionRequest(version=1, app_version=b"a", client_instance_id=1, declared_limits=CONSTRAINED_PROFILE), 0.0
    )
    assert client.own_declared_limits == CONSTRAINED_PROFILE


@covers("KEEP-7", "KEEP-2")
def test_k_is_the_smaller_of_both_sides_and_version_0_keeps_its_own() -> None:
    client, server = pair(client_declares=DeclaredLimits(keepalive=30))
    assert client.keepalive == server.keepalive == 30.0
    client, server = pair(client_declares=DeclaredLimits(keepalive=300), server_declares=DeclaredLimits(keepalive=120))
    assert client.keepalive == server.keepalive == 120.0
    client, server = pair(client_keepalive=5.0)  # nothing declared: the server counts the client's K as 60 s
    assert client.keepalive == 5.0 and server.keepalive == 60.0
    assert client.next_timer() == 5.0  # the client pings after its K of idleness
    client, server = pair(version=0, client_keepalive=5.0, server_keepalive=90.0)
    assert (client.keepalive, server.keepalive) == (5.0, 90.0)


@covers("DECL-4", "CLOSE-6")
def test_a_close_is_cut_to_fit_the_peers_declared_frame_size() -> None:
    client, server = pair(client_declares=DeclaredLimits(max_frame_size=512))
    server.close(Close(error_class=CloseCode.NO_ERROR, human_message="é".encode() * 600))
    (raw,) = Deframer().feed(server.data_to_send())
    close = CONSTRUCT.decode_frame(raw, version=1)
    assert len(raw) <= 512 and isinstance(close, Close)
    assert close.human_message.decode() == "é" * (len(close.human_message) // 2)  # never cut inside a character
