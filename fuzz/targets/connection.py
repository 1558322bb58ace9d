"""connection, connection_v1: the sans-I/O Connection, both roles, driven by arbitrary programs.

The input is a small program: the first byte picks the role, then each
instruction byte is one of: feed the next N bytes as received data (in
whatever slicing the program says), jump the clock and fire the timer,
publish, answer the oldest received event, send the handshake message,
close the peer's stream. Findings: any exception from ``receive_data`` or
``handle_timer``; a local action refused with anything but
``LocalProtocolError``; a frame the connection emits that does not decode;
events after ``ConnectionClosed``; an in-flight table above 4096.

``connection_v1`` runs a connection that speaks versions 0 and 1: the
client offers version 1 (with declared limits from the instruction's
argument), frames are decoded at the connection's wire version, and on an
open connection the handshake instruction closes it with a reason (a CLOSE,
spec/v1/errors.md#closing-a-version-1-connection).
"""

from __future__ import annotations

from functools import partial

from ..seeds import units, units_v1
from ..target import Check, Finding, Seed, Target

FEED, TIMER, PUBLISH, ANSWER, HANDSHAKE, EOF = range(6)


def setup(version: int = 0) -> Check:
    from sinkproto import (
        Close,
        CloseCode,
        ConnectionRequest,
        ConnectionResponse,
        DeclaredLimits,
        Deframer,
        Event,
        Limits,
        Response,
        decode_frame,
    )
    from sinkproto.connection import Connection, Role, State
    from sinkproto.errors import DecodeError, LocalProtocolError, SinkError
    from sinkproto.events import ConnectionClosed, EventReceived, HandshakeRequested
    from sinkproto.handshake import decide_handshake

    def check(data: bytes) -> None:
        if not data:
            return
        role = Role.CLIENT if data[0] & 1 else Role.SERVER
        now = 0.0
        conn = Connection(
            role,
            now=now,
            message_id_start=data[0] >> 1 & 0xFFF,
            keepalive=5.0,
            max_in_flight=64,
            versions=range(version + 1),
        )
        wire = Deframer(Limits())  # what the connection sends must always decode
        awaiting: list[int] = []
        closed = False
        position, offset = 1, 0

        def drain() -> None:
            for frame in wire.feed(conn.data_to_send()):
                try:
                    decode_frame(frame, limits=Limits(), version=conn.wire_version)
                except DecodeError as exc:
                    raise Finding(f"the connection emitted an undecodable frame {frame.hex()}: {exc}") from None

        def observe(events: list[object]) -> None:
            nonlocal closed
            for event in events:
                if closed:
                    raise Finding(f"event {event!r} after ConnectionClosed")
                if isinstance(event, EventReceived):
                    awaiting.append(event.message_id)
                if isinstance(event, HandshakeRequested):
                    response = decide_handshake(event.request, server_instance_id=1, known_client_instance_id=None)
                    observe(conn.send_response(response, now))
                if isinstance(event, ConnectionClosed):
                    closed = True
            if len(conn.in_flight) > 4096:
                raise Finding("in-flight table above 4096")

        def local(action: object) -> None:
            try:
                result = action()  # type: ignore[operator]
            except LocalProtocolError:
                return
            except SinkError as exc:
                raise Finding(f"local action refused with {type(exc).__name__}, not LocalProtocolError") from exc
            if isinstance(result, list):
                observe(result)

        while position < len(data):
            op = data[position] % 6
            arg = data[position + 1] if position + 1 < len(data) else 0
            position += 2
            if op == FEED:
                chunk = data[position : position + arg]
                position += arg
                observe(conn.receive_data(chunk, now) if chunk else [])
            elif op == TIMER:
                now += arg / 10
                observe(conn.handle_timer(now))
            elif op == PUBLISH:
                offset += 1
                event = Event(event_type_id=arg, schema_version=1, key=b"k", offset=offset, timestamp=1, event_data=b"")
                local(lambda: conn.publish(event, now))
            elif op == ANSWER and awaiting:
                message_id = awaiting.pop(0)
                if arg & 1:
                    local(lambda: conn.nack(message_id, now, machine_message=b"E", human_message=b""))
                else:
                    local(lambda: conn.ack(message_id, now))
            elif op == HANDSHAKE and version == 1 and conn.state is State.OPEN:
                reason = Close(error_class=CloseCode.NO_ERROR if arg & 1 else CloseCode.INTERNAL_ERROR)
                local(lambda: conn.close(reason, now))
            elif op == HANDSHAKE:
                if role is Role.CLIENT and version == 1:
                    declared = DeclaredLimits(max_frame_size=512 + arg, max_in_flight=1 + arg % 8, keepalive=10 + arg)
                    request = ConnectionRequest(
                        version=1, app_version=b"f", client_instance_id=arg, declared_limits=declared
                    )
                    local(lambda: conn.send_request(request, now))
                elif role is Role.CLIENT:
                    local(lambda: conn.send_request(ConnectionRequest(app_version=b"f", client_instance_id=arg), now))
                else:
                    local(lambda: conn.send_response(ConnectionResponse(response=Response.CONNECTED), now))
            elif op == EOF:
                observe(conn.receive_data(b"", now))
            drain()
        if conn.state is State.CLOSED and conn.next_timer() is not None:
            raise Finding("a closed connection still asks for a timer")

    return check


def _seeds(version: int = 0) -> list[Seed]:
    """Programs that feed real frames from the vectors (of ``version``), after a completed handshake."""
    out: list[Seed] = []
    # a version-1 request declaring keepalive 180 s (DECL-1), or version 0's
    request = bytes.fromhex("000f 01 05 312e302e30 00001234 04 20 b401" if version else "000b0005312e302e3000001234")
    frames = units_v1("frame") if version else units("frame")
    for name, frame in frames[:200]:
        if len(frame) > 250:
            continue
        framed = len(frame).to_bytes(2, "big") + frame
        # server: receive a request, answer it (automatic), then the frame
        out.append(
            (
                f"server.{name}",
                bytes([0, FEED, len(request)])
                + request
                + bytes([FEED, len(framed)])
                + framed
                + bytes([ANSWER, 0, TIMER, 60]),
            )
        )
        # client: send the request, then receive the frame as if it were the response
        out.append(
            (f"client.{name}", bytes([1, HANDSHAKE, 7, FEED, len(framed)]) + framed + bytes([PUBLISH, 1, TIMER, 80]))
        )
    return out


TARGETS = (
    Target(
        name="connection",
        description="Connection (client and server roles): frame sequences, local actions and clock jumps",
        setup=setup,
        seeds=_seeds,
    ),
    Target(
        name="connection_v1",
        description="Connection speaking versions 0 and 1: declared limits, CLOSE sent and received, batches",
        setup=partial(setup, 1),
        seeds=partial(_seeds, 1),
    ),
)
