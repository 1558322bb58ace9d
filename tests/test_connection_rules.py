"""The one transition table and the Rules seam: lookup by version, copies that change a row, dispatch."""

from __future__ import annotations

import pytest
from sinkproto import ConnectionRequest, ConnectionResponse, Event, Ping, Response, encode_frame, frame_bytes
from sinkproto.connection import (
    DEFAULT_RULES,
    TRANSITIONS,
    Connection,
    Input,
    PeerViolation,
    Role,
    Row,
    State,
    handlers,
)
from sinkproto.errors import LocalProtocolError
from sinkproto.events import ConnectionClosed, ConnectionEvent, ProtocolError
from sinktest import covers

C, S = Role.CLIENT, Role.SERVER
REQUEST = ConnectionRequest(app_version=b"1.0.0", client_instance_id=7)
ACCEPT = ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=99)


def ev(offset: int = 1) -> Event:
    return Event(event_type_id=1, schema_version=1, key=b"k", offset=offset, timestamp=1_700_000_000, event_data=b"x")


def opened(rules: object = DEFAULT_RULES, versions: tuple[int, ...] = (0,)) -> tuple[Connection, Connection]:
    client = Connection(C, now=0.0, message_id_start=1, versions=versions, rules=rules)  # type: ignore[arg-type]
    server = Connection(S, now=0.0, message_id_start=2, versions=versions, rules=rules)  # type: ignore[arg-type]
    client.send_request(ConnectionRequest(app_version=b"1.0.0", client_instance_id=7, version=max(versions)), 0.0)
    server.receive_data(client.data_to_send(), 0.0)
    server.send_response(ACCEPT, 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    assert client.state is server.state is State.OPEN
    return client, server


def test_lookup_takes_the_row_with_the_greatest_since_not_above_the_version() -> None:
    assert DEFAULT_RULES.lookup(C, State.OPEN, Input.PUBLISH_BATCH, 0) is None
    row = DEFAULT_RULES.lookup(C, State.OPEN, Input.PUBLISH_BATCH, 1)
    assert row is not None and row.since == 1 and row.handler is handlers.publish_batch
    later = Row(C, State.OPEN, Input.RECV_PING, handlers.ignore, since=1)
    rules = DEFAULT_RULES.replace(later)
    assert rules.handler(C, State.OPEN, Input.RECV_PING, 0) is handlers.send_pong  # version 0 keeps its row
    assert rules.handler(C, State.OPEN, Input.RECV_PING, 1) is handlers.ignore
    assert len(rules.rows) == len(TRANSITIONS) + 1


def test_every_version_1_row_is_a_batch_or_close_input_and_every_row_key_is_unique() -> None:
    assert {r.input for r in TRANSITIONS if r.since == 1} == {
        Input.RECV_BATCH_PUBLISH,
        Input.RECV_BATCH_RESULT,
        Input.RECV_BATCH_UNKNOWN_BASE,  # CTX-5: a batch whose base we lack is NACKed unknown_base
        Input.PUBLISH_BATCH,
        Input.ANSWER_BATCH,
        # CLOSE (CLOSE-3..CLOSE-10): sent before every deliberate close, received, and the refused client's wait
        Input.RECV_CLOSE,
        Input.CLOSE,
        Input.PEER_ERROR,
        Input.TIMER_SILENCE,
        Input.SEND_RESPONSE_REFUSED,
        Input.RECV_RESPONSE_REFUSED,
        Input.FRAME_ARRIVED,
    }
    assert {r.state for r in TRANSITIONS if r.since == 1 and r.input.kind != "frame"} == {
        State.OPEN,
        State.DECIDING,
        State.REFUSED,
    }
    assert len({r.key for r in TRANSITIONS}) == len(TRANSITIONS)
    assert all(r.since >= r.input.since for r in TRANSITIONS)


def test_replace_without_edit_and_wrap_return_changed_copies() -> None:
    ping = Row(S, State.OPEN, Input.TIMER_KEEPALIVE, handlers.send_ping)
    assert DEFAULT_RULES.replace(ping).has(S, State.OPEN, Input.TIMER_KEEPALIVE, 0)
    assert not DEFAULT_RULES.has(S, State.OPEN, Input.TIMER_KEEPALIVE, 0)  # the default is unchanged
    assert not DEFAULT_RULES.without(C, State.OPEN, Input.TIMER_KEEPALIVE).has(C, State.OPEN, Input.TIMER_KEEPALIVE, 0)
    stays = DEFAULT_RULES.edit(Input.PEER_ERROR, handler=handlers.ignore, next=None)
    assert {(r.next, r.close_reason, r.handler) for r in stays.rows if r.input is Input.PEER_ERROR} == {
        (None, None, handlers.ignore)
    }
    seen: list[bytes] = []

    def record(handler: handlers.Handler) -> handlers.Handler:
        def recording(conn: Connection, raw: bytes, now: float) -> list[ConnectionEvent]:
            seen.append(raw)
            return handler(conn, raw, now)

        return recording

    client, server = opened(DEFAULT_RULES.wrap(Input.FRAME_ARRIVED, record, role=S))
    assert len(seen) == 1  # the request; the client's rows are not wrapped
    client.publish(ev(), 0.0)
    server.receive_data(client.data_to_send(), 0.0)
    assert len(seen) == 2 and seen[-1][0] >> 4 == 4


@covers("KEEP-3")
def test_a_server_that_pings_is_one_added_row() -> None:
    rules = DEFAULT_RULES.replace(Row(S, State.OPEN, Input.TIMER_KEEPALIVE, handlers.send_ping))
    _client, server = opened(rules)
    assert server.next_timer() == 60.0  # K, before the silence deadline 1.5 K
    assert server.handle_timer(60.0) == [] and server.data_to_send() == frame_bytes(encode_frame(Ping()))
    _client, plain = opened()
    assert plain.next_timer() == 90.0 and plain.handle_timer(60.0) == [] and plain.data_to_send() == b""


def test_a_silence_row_that_keeps_the_connection_rearms_instead_of_firing_again() -> None:
    rules = DEFAULT_RULES.edit(Input.TIMER_SILENCE, handler=handlers.ignore, next=None)
    _client, server = opened(rules)
    assert server.handle_timer(90.0) == [] and server.state is State.OPEN
    assert server.next_timer() == 180.0


def test_a_local_action_without_a_row_raises_and_changes_nothing() -> None:
    client, _server = opened()  # version 0: no PUBLISH_BATCH row
    with pytest.raises(LocalProtocolError) as info:
        client.publish_batch([ev(1), ev(2)], 0.0)
    assert info.value.requirement == "BPUB-2"
    assert client.state is State.OPEN and client.in_flight_batches == {} and client.data_to_send() == b""
    assert client.next_message_id == 1


def test_a_peer_violation_from_a_handler_runs_the_peer_error_row() -> None:
    def refuse(conn: Connection, frame: object, now: float) -> list[ConnectionEvent]:
        raise PeerViolation("no_pings_here", "PING-1", "this server refuses PING")

    client, server = opened(DEFAULT_RULES.edit(Input.RECV_PING, role=S, handler=refuse))
    events = server.receive_data(frame_bytes(encode_frame(Ping())), 0.0)
    assert events == [
        ProtocolError(error_class="no_pings_here", requirement="PING-1", detail="this server refuses PING"),
        ConnectionClosed(reason="protocol_error"),
    ]
    assert server.state is State.CLOSED and server.data_to_send() == b""


@covers("VER-1", "VER-6", "VER-10")
def test_one_connection_negotiates_the_version() -> None:
    client, server = opened(versions=(0, 1))
    assert client.negotiated_version == server.negotiated_version == 1
    v0_client = Connection(C, now=0.0, message_id_start=0, versions=(0,))
    v01_server = Connection(S, now=0.0, message_id_start=0, versions=(0, 1))
    assert v01_server.negotiated_version is None and v01_server.wire_version == 1
    v0_client.send_request(REQUEST, 0.0)
    v01_server.receive_data(v0_client.data_to_send(), 0.0)
    assert v01_server.negotiated_version == 0 and v01_server.wire_version == 0
    with pytest.raises(LocalProtocolError) as info:  # a client offers its highest version
        Connection(C, now=0.0, message_id_start=0, versions=(0, 1)).send_request(REQUEST, 0.0)
    assert info.value.requirement == "VER-1"
    with pytest.raises(ValueError):
        Connection(C, now=0.0, message_id_start=0, versions=(2,))


def test_the_documented_handler_api_is_the_handler_api_protocol() -> None:
    # docs/reference/connection.md lists what a handler may use; HandlerAPI is that list, typed.
    import re

    from sinkproto.connection import Connection, HandlerAPI
    from sinktest import ROOT

    page = (ROOT / "docs" / "reference" / "connection.md").read_text(encoding="utf-8")
    table = page.split("use only this API", 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"`conn\.([a-z_]+)", table))
    members = set(HandlerAPI.__annotations__) | {
        name for name in vars(HandlerAPI) if not name.startswith("_") and callable(getattr(HandlerAPI, name, None))
    }
    members |= {name for name, value in vars(HandlerAPI).items() if isinstance(value, property)}
    assert documented == members
    assert all(hasattr(Connection, name) or name in Connection.__init__.__code__.co_names for name in members)
