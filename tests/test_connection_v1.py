"""The version-1 sans-I/O connection (spec/v1): negotiation, fallback, batch publish and batch result."""

from __future__ import annotations

import pytest
from sinkproto.codec import CONSTRUCT
from sinkproto.connection import TRANSITIONS, Connection, Role, State
from sinkproto.construct_codec import encode_frame
from sinkproto.errors import LocalProtocolError
from sinkproto.events import (
    BatchAnswered,
    BatchReceived,
    ConnectionClosed,
    HandshakeCompleted,
    HandshakeRefused,
    HandshakeRequested,
    ProtocolError,
)
from sinkproto.messages import (
    Batch,
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Response,
)
from sinkproto.readers import ReaderSchemas
from sinkproto.stream import frame_bytes
from sinktest import covers

READS = ReaderSchemas.from_mapping({1: [1, 2]})


def ev(offset: int, key: bytes = b"SM5R-000100", version: int = 1, type_id: int = 1) -> Event:
    return Event(
        event_type_id=type_id,
        schema_version=version,
        key=key,
        offset=offset,
        timestamp=1_700_000_000 + offset,
        event_data=b"reading-%d" % offset,
    )


def request(version: int, reads: ReaderSchemas | None = None) -> ConnectionRequest:
    return ConnectionRequest(version=version, app_version=b"1.0.0", client_instance_id=7, reader_schemas=reads)


def handshake(
    client: Connection,
    server: Connection,
    *,
    version: int,
    client_reads: ReaderSchemas | None = None,
    server_reads: ReaderSchemas | None = None,
) -> list[object]:
    client.send_request(request(version, client_reads), 0.0)
    events = server.receive_data(client.data_to_send(), 0.0)
    if not isinstance(events[0], HandshakeRequested):
        return [*events, *client.receive_data(server.data_to_send(), 0.0)]
    answer = server.send_response(ConnectionResponse(response=Response.CONNECTED, reader_schemas=server_reads), 0.0)
    return [*events, *answer, *client.receive_data(server.data_to_send(), 0.0)]


def v1_pair(**server_options: object) -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT, versions=(0, 1), now=0.0, message_id_start=10)
    server = Connection(Role.SERVER, versions=(0, 1), now=0.0, message_id_start=20, **server_options)  # type: ignore[arg-type]
    return client, server


@covers("VER-6", "VER-10", "SNEG-3", "CONN-11")
def test_v1_handshake_negotiates_version_1_and_exchanges_declarations() -> None:
    client, server = v1_pair()
    events = handshake(client, server, version=1, client_reads=READS, server_reads=ReaderSchemas.from_mapping({9: [1]}))
    assert isinstance(events[-1], HandshakeCompleted)
    assert client.negotiated_version == server.negotiated_version == 1
    assert server.peer_reader_schemas == READS and client.peer_reader_schemas == ReaderSchemas.from_mapping({9: [1]})
    assert client.state is server.state is State.OPEN


@covers("VER-2", "VER-7", "VER-9", "HS-15")
def test_v1_client_against_v0_server_is_refused_then_falls_back() -> None:
    for v0_server in (
        Connection(Role.SERVER, now=0.0, message_id_start=0, codec=CONSTRUCT),
        Connection(Role.SERVER, versions=(0,), now=0.0, message_id_start=0),
    ):
        client = Connection(Role.CLIENT, versions=(0, 1), now=0.0, message_id_start=0)
        events = handshake(client, v0_server, version=1)
        refused = [e for e in events if isinstance(e, HandshakeRefused)]
        assert (
            refused[0].response.response is Response.UNSUPPORTED_PROTOCOL_VERSION and refused[0].requested_version == 1
        )
        # The client read what came with the refusal (no CLOSE here, CLOSE-5) and closed, sending nothing (HS-15).
        assert client.state is State.CLOSED and events[-1] == ConnectionClosed(reason="handshake_refused")
        assert client.data_to_send() == b""
    # the next attempt offers version 0: a version-0 connection with the version-0 server
    client = Connection(Role.CLIENT, versions=(0,), now=0.0, message_id_start=0)
    server = Connection(Role.SERVER, now=0.0, message_id_start=0)
    assert isinstance(handshake(client, server, version=0)[-1], HandshakeCompleted)
    assert client.negotiated_version == 0


@covers("VER-6", "VER-8", "BPUB-2", "FRAME-9", "CONN-12")
def test_v1_server_accepts_version_0_as_a_version_0_connection() -> None:
    client = Connection(Role.CLIENT, now=0.0, message_id_start=0)
    server = Connection(Role.SERVER, versions=(0, 1), now=0.0, message_id_start=0)
    client.send_request(request(0), 0.0)
    server.receive_data(client.data_to_send(), 0.0)
    with pytest.raises(LocalProtocolError) as refused:
        server.send_response(ConnectionResponse(response=Response.CONNECTED, reader_schemas=READS), 0.0)
    assert refused.value.requirement == "CONN-12"
    server.send_response(ConnectionResponse(response=Response.CONNECTED), 0.0)
    assert isinstance(client.receive_data(server.data_to_send(), 0.0)[-1], HandshakeCompleted)
    assert server.negotiated_version == 0
    with pytest.raises(LocalProtocolError) as info:
        server.publish_batch([ev(1), ev(2)], 0.0)
    assert info.value.requirement == "BPUB-2"
    # a batch frame on a version-0 connection does not even decode (FRAME-3)
    raw = encode_frame(BatchPublish(message_id=1, batch=Batch(events=(ev(1),))), version=1)  # type: ignore[arg-type]
    events = server.receive_data(frame_bytes(raw), 0.0)
    assert isinstance(events[0], ProtocolError) and events[0].error_class == "unknown_type"


@covers("BPUB-3", "BPUB-9", "BPUB-10", "BRES-3", "BRES-6", "MSGID-11")
def test_batch_with_partial_nack() -> None:
    client, server = v1_pair()
    handshake(client, server, version=1)
    batch = [ev(i, key=b"SM5R-%06d" % i) for i in range(5)]
    single = ev(1, key=b"other")
    batch_id = client.publish_batch(batch, 0.0)
    publish_id = client.publish(single, 0.0)
    assert publish_id == (batch_id + 1) % 4096  # one message id sequence for both (BPUB-3)
    assert client.in_flight_batches == {batch_id: tuple(batch)} and set(client.in_flight) == {publish_id}
    received = server.receive_data(client.data_to_send(), 0.0)
    assert received[0] == BatchReceived(message_id=batch_id, events=tuple(batch))
    server.answer_batch(batch_id, 0.0, {1: (b"unknown_schema", b""), 3: (b"rejected", b"meter retired")})
    server.ack(publish_id, 0.0)
    answers = client.receive_data(server.data_to_send(), 0.0)
    answer = answers[0]
    assert isinstance(answer, BatchAnswered)
    assert answer.acked_events == (batch[0], batch[2], batch[4])
    assert [(e, n.machine_message) for e, n in answer.nacked_events] == [
        (batch[1], b"unknown_schema"),
        (batch[3], b"rejected"),
    ]
    assert client.in_flight_batches == {} and client.in_flight == {}


@covers("BRES-4", "BPUB-10")
def test_answers_are_ack_or_nack_when_they_cover_no_or_every_event() -> None:
    client, server = v1_pair()
    handshake(client, server, version=1)
    first = client.publish_batch([ev(1), ev(2)], 0.0)
    second = client.publish_batch([ev(3), ev(4)], 0.0)
    server.receive_data(client.data_to_send(), 0.0)
    server.answer_batch(first, 0.0)
    server.answer_batch(second, 0.0, {0: (b"rejected", b"x"), 1: (b"rejected", b"x")})
    wire = server.data_to_send()
    assert wire[2] >> 4 == 3 and wire[6] >> 4 == 7  # an ACK frame, then a NACK frame
    answers = client.receive_data(wire, 0.0)
    assert answers[0] == BatchAnswered(message_id=first, events=(ev(1), ev(2)))
    assert isinstance(answers[1], BatchAnswered) and [e.index for e in answers[1].nacked] == [0, 1]


@covers("BRES-5", "ERR-11")
def test_batch_result_for_a_publish_or_out_of_range_is_a_protocol_error() -> None:
    for make in (
        lambda batch_id, publish_id: BatchResult(
            message_id=publish_id, entries=(BatchResultEntry(index=0, machine_message=b"x"),)
        ),
        lambda batch_id, publish_id: BatchResult(
            message_id=batch_id, entries=(BatchResultEntry(index=2, machine_message=b"x"),)
        ),
    ):
        client, server = v1_pair()
        handshake(client, server, version=1)
        batch_id = client.publish_batch([ev(1), ev(2)], 0.0)
        publish_id = client.publish(ev(3), 0.0)
        events = client.receive_data(frame_bytes(encode_frame(make(batch_id, publish_id), version=1)), 0.0)  # type: ignore[arg-type]
        assert isinstance(events[0], ProtocolError) and events[0].requirement == "BRES-5"
        closed = events[-1]
        assert isinstance(closed, ConnectionClosed) and set(closed.unanswered) == {ev(1), ev(2), ev(3)}  # BPUB-12


@covers("SNEG-4", "SNEG-5", "BPUB-8", "BPUB-4")
def test_sender_respects_the_peer_declaration() -> None:
    client, server = v1_pair()
    handshake(client, server, version=1, server_reads=READS)
    assert client.peer_can_read(ev(1, version=2)) and not client.peer_can_read(ev(1, version=3))
    assert not client.can_publish(ev(1, version=3))
    with pytest.raises(LocalProtocolError) as info:
        client.publish(ev(1, version=3), 0.0)
    assert info.value.requirement == "SNEG-4"
    with pytest.raises(LocalProtocolError) as info:
        client.publish_batch([ev(1), ev(2, type_id=4)], 0.0)
    assert info.value.requirement == "BPUB-8"
    with pytest.raises(LocalProtocolError) as info:
        client.publish_batch([ev(1), ev(1)], 0.0)
    assert info.value.requirement == "BPUB-4"
    assert client.in_flight == {} and client.in_flight_batches == {}  # refusals change nothing
    # no declaration: anything goes (SNEG-5)
    client2, server2 = v1_pair()
    handshake(client2, server2, version=1)
    assert client2.peer_can_read(ev(1, version=99, type_id=99))


def test_v1_table_adds_batch_frames_and_close() -> None:
    extra = [r for r in TRANSITIONS if r.since == 1 and r.input.kind == "frame"]
    assert {(r.role, r.state, r.input.label) for r in extra} == {
        *((role, State.OPEN, label) for role in Role for label in ("recv_batch_publish", "recv_batch_result")),
        *((role, State.OPEN, "recv_batch_unknown_base") for role in Role),  # CTX-5
        *((role, State.OPEN, "recv_close") for role in Role),
        (Role.CLIENT, State.AWAIT_RESPONSE, "recv_response_refused"),  # then REFUSED: a CLOSE may follow
        (Role.CLIENT, State.REFUSED, "recv_close"),
    }
    actions = [r for r in TRANSITIONS if r.since == 1 and r.input.kind == "action"]
    assert {(r.input.label, r.state) for r in actions} == {
        ("publish_batch", State.OPEN),
        ("answer_batch", State.OPEN),
        ("close", State.OPEN),  # a CLOSE first (CLOSE-6)
        ("close", State.REFUSED),  # nothing sent (HS-15)
        ("send_response_refused", State.DECIDING),  # the refusal, then a CLOSE (CLOSE-4)
    }


@covers("RECORD-2", "SNEG-3", "BATCH-14")
def test_batches_use_records_mode_only_for_schemas_the_peer_declared() -> None:
    from sinkproto.codec import FAST
    from sinkproto.records import RecordSchemas
    from sinkproto.schemas import default_registry
    from sinktools.bench.profiles import load

    schemas = RecordSchemas.from_registry(default_registry())
    meters = load()["meter"].events[:40]

    def mode_on_the_wire(server_reads: ReaderSchemas | None, codec: object) -> int:
        client = Connection(
            Role.CLIENT, versions=(0, 1), now=0.0, message_id_start=10, record_schemas=schemas, codec=codec
        )
        server = Connection(
            Role.SERVER, versions=(0, 1), now=0.0, message_id_start=20, record_schemas=schemas, codec=codec
        )
        handshake(client, server, version=1, server_reads=server_reads)
        client.publish_batch(meters, 0.0)
        wire = client.data_to_send()
        received = server.receive_data(wire, 0.0)
        assert received[0] == BatchReceived(message_id=10, events=meters)  # the server rebuilt every event_data
        # 2-byte length prefix, 2-byte BATCH_PUBLISH header, then the batch: header byte, format byte
        return wire[5] & 0x0F if wire[4] & 0x80 else -1

    for codec in (CONSTRUCT, FAST):
        assert mode_on_the_wire(ReaderSchemas.from_mapping({1: [2]}), codec) == 1  # records
        assert mode_on_the_wire(ReaderSchemas.from_mapping({1: [1, 2], 9: [1]}), codec) == 1
        # the peer declared nothing, or not this schema version: never records mode
        assert mode_on_the_wire(None, codec) in (-1, 0)
        with pytest.raises(LocalProtocolError):
            mode_on_the_wire(ReaderSchemas.from_mapping({1: [1]}), codec)  # SNEG-4 refuses before the codec
