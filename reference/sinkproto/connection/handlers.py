"""The default handlers of the transition table, written only against the documented handler API.

A handler is ``handler(conn, item, now) -> list[ConnectionEvent]``. It may
send frames (``conn.send``), keep the books (``conn.ledger``), hold frames,
negotiate, dispatch further inputs, raise ``PeerViolation`` (a received
input breaks the protocol) or ``LocalProtocolError`` (a local action is
refused; nothing changes). It never sets the state: the row it sits in and
the state-entry actions do (docs/reference/connection.md, "Extending the
connection"). A mutant or an extension replaces a row's handler through
:class:`~sinkproto.connection.Rules`, using these as building blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import BaseUnavailable, DecodeError, LocalProtocolError, UnsupportedVersion
from ..events import (
    UNKNOWN_BASE,
    BaseMissing,
    BatchAnswered,
    BatchReceived,
    ConnectionClosed,
    ConnectionEvent,
    EventReceived,
    HandshakeCompleted,
    HandshakeRefused,
    HandshakeRequested,
    PeerClosed,
    ProtocolError,
    PublishAcked,
    PublishNacked,
)
from ..messages import (
    Ack,
    Batch,
    BatchContext,
    BatchFormat,
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    Close,
    CloseCode,
    ConnectionRequest,
    ConnectionResponse,
    ContextBase,
    DeclaredLimits,
    Event,
    Nack,
    Ping,
    Pong,
    Publish,
    Response,
)
from ._alphabet import ACCEPTED, Input, PeerViolation, Refusal, Role, State, UnknownBase, UnsupportedRequest, classify
from ._api import Handler, HandlerAPI, Row

__all__ = [
    "Handler",
    "ack",
    "ack_received",
    "answer_batch",
    "base_unavailable",
    "batch_received",
    "batch_result_received",
    "close_received",
    "closed",
    "decode_and_classify",
    "deframe",
    "handshake_completed",
    "handshake_refused",
    "hold",
    "ignore",
    "nack",
    "nack_received",
    "publish",
    "publish_batch",
    "publish_received",
    "refuse_version",
    "release_held",
    "report_error",
    "report_error_and_close",
    "request_received",
    "send_close",
    "send_close_on_silence",
    "send_refusal",
    "send_ping",
    "send_pong",
    "send_request",
    "send_response",
]


def ignore(conn: HandlerAPI, item: Any, now: float) -> list[ConnectionEvent]:
    """Do nothing (a PONG's arrival already reset the silence timer, PING-2)."""
    return []


# -- transport ------------------------------------------------------------------------------------


def deframe(conn: HandlerAPI, data: bytes, now: float) -> list[ConnectionEvent]:
    """STREAM-1..STREAM-4: split the bytes into frames; each is FRAME_ARRIVED, until the connection closes."""
    try:
        frames = conn.deframer.feed(data)
    except DecodeError as exc:
        raise PeerViolation(exc.error_class, exc.requirement, str(exc)) from exc
    events: list[ConnectionEvent] = []
    for raw in frames:
        conn.last_received = now
        events.extend(conn.dispatch(Input.FRAME_ARRIVED, raw, now))
        if conn.state is State.CLOSED:
            break  # frames after a close are not processed (ERR-4, HS-20)
    if conn.state is State.REFUSED:
        # HS-15, CLOSE-4: a refused client reads the CLOSE that came with the refusal, then closes.
        events.extend(conn.dispatch(Input.CLOSE, None, now))
    return events


def decode_and_classify(conn: HandlerAPI, raw: bytes, now: float) -> list[ConnectionEvent]:
    """FRAME-1: decode one frame at the connection's version and dispatch the input it is."""
    try:
        frame = conn.decode(raw)
    except BaseUnavailable as exc:
        if not conn.takes_context:
            # CTX-1: we declared no context_bases, so a batch in mode context is malformed at its format byte.
            return conn.dispatch(
                Input.PEER_ERROR, PeerViolation("unknown_format", "CTX-1", f"a batch in mode context: {exc}"), now
            )
        message_id = ((raw[0] & 0x0F) << 8) | raw[1]  # BPUB-1: the base is looked up after the 2-byte header
        return conn.dispatch(Input.RECV_BATCH_UNKNOWN_BASE, UnknownBase(message_id, exc), now)
    except UnsupportedVersion as exc:
        return conn.dispatch(Input.RECV_REQUEST_UNSUPPORTED, UnsupportedRequest(exc.version, exc), now)
    except DecodeError as exc:
        # CLOSE-11: a malformed CLOSE (type 9 from version 1) is not answered with a CLOSE.
        answerable = not (conn.wire_version >= 1 and raw[:1] and raw[0] >> 4 == 9)
        violation = PeerViolation(exc.error_class, exc.requirement, str(exc), answerable=answerable)
        return conn.dispatch(Input.PEER_ERROR, violation, now)
    received, item = classify(frame, conn.versions)
    return conn.dispatch(received, item, now)


def hold(conn: HandlerAPI, raw: bytes, now: float) -> list[ConnectionEvent]:
    """HS-2, HS-20: like h11 pausing on a pipelined request, frames after the request wait for the response."""
    conn.hold(raw)
    return []


def report_error(conn: HandlerAPI, violation: PeerViolation, now: float) -> list[ConnectionEvent]:
    """ERR-3: report the violation; nothing is sent in answer (the row closes the connection)."""
    return [
        ProtocolError(error_class=violation.error_class, requirement=violation.requirement, detail=violation.detail)
    ]


# CLOSE-2, LIMIT-12: what a receiver at its default limits accepts of a CLOSE's text fields.
_MAX_REQUIREMENT = 32
_MAX_CLOSE_TEXT = 1024


def _utf8_prefix(data: bytes, size: int) -> bytes:
    """At most ``size`` bytes of ``data``, not ending inside a UTF-8 sequence."""
    if len(data) <= size:
        return data
    cut = data[: max(size, 0)]
    while cut and cut[-1] & 0xC0 == 0x80:  # drop a cut continuation byte ...
        cut = cut[:-1]
    if cut and cut[-1] >= 0xC0:  # ... and the lead byte it belonged to
        cut = cut[:-1]
    return cut


def send_close(conn: HandlerAPI, close: Close, now: float) -> list[ConnectionEvent]:
    """CLOSE-6, CLOSE-7, CLOSE-8: the last frame, with how far we got; cut to fit what the peer accepts (DECL-4)."""
    close = Close(
        error_class=close.error_class,
        requirement=close.requirement[:_MAX_REQUIREMENT],
        last_message_id=conn.ledger.last_answered,
        retry_after=close.retry_after if conn.role is Role.SERVER else None,  # CLOSE-9: only a server sets it
        human_message=_utf8_prefix(close.human_message, _MAX_CLOSE_TEXT),
    )
    room = conn.peer_limits.value("max_frame_size") - 16 - len(close.requirement)  # 16: every other field, at most
    if len(close.human_message) > room:
        close = Close(
            error_class=close.error_class,
            requirement=close.requirement,
            last_message_id=close.last_message_id,
            retry_after=close.retry_after,
            human_message=_utf8_prefix(close.human_message, room),
        )
    conn.send(close, now)
    return []


def report_error_and_close(conn: HandlerAPI, violation: PeerViolation, now: float) -> list[ConnectionEvent]:
    """CLOSE-3: report the violation, and tell the peer its error class and requirement (not for a bad CLOSE)."""
    events = report_error(conn, violation, now)
    if violation.answerable:
        close = Close(
            error_class=CloseCode.from_wire_name(violation.error_class),
            requirement=violation.requirement.encode("ascii", "replace"),
            human_message=violation.detail.encode(),
        )
        send_close(conn, close, now)
    return events


def send_close_on_silence(conn: HandlerAPI, item: object, now: float) -> list[ConnectionEvent]:
    """KEEP-5, CLOSE-6: nothing heard for 1.5 K; the peer may still read a CLOSE."""
    return send_close(conn, Close(error_class=CloseCode.KEEPALIVE_TIMEOUT, requirement=b"KEEP-5"), now)


def close_received(conn: HandlerAPI, close: Close, now: float) -> list[ConnectionEvent]:
    """CLOSE-10: the peer closes and says why; nothing is sent in answer (the row closes)."""
    return [
        PeerClosed(
            error_class=close.error_class.wire_name,
            requirement=close.requirement.decode("ascii", "replace"),
            last_message_id=close.last_message_id,
            retry_after=close.retry_after,
            human_message=close.human_message,
        )
    ]


# -- handshake --------------------------------------------------------------------------------------


def send_request(conn: HandlerAPI, request: ConnectionRequest, now: float) -> list[ConnectionEvent]:
    """HS-1, VER-1: the client's first frame offers its highest version."""
    offered = max(conn.versions)
    if request.version != offered:
        raise LocalProtocolError(
            f"this connection offers version {offered}, the request says {request.version}", requirement="VER-1"
        )
    _check_own_declaration(conn, request.declared_limits)
    conn.send(request, now)
    conn.own_declared_limits = request.declared_limits
    return []


_OWN_LIMITS = ("max_frame_size", "max_decompressed_size", "max_batch_events", "max_zstd_window")


def _check_own_declaration(conn: HandlerAPI, declared: DeclaredLimits | None) -> None:
    """DECL-3: never declare more than our own decoder accepts."""
    if declared is None:
        return
    for name in _OWN_LIMITS:
        value = getattr(declared, name)
        if value is not None and value > getattr(conn.limits, name):
            raise LocalProtocolError(
                f"declared {name}={value} is above this side's decoder limit {getattr(conn.limits, name)}",
                requirement="DECL-3",
            )


def handshake_completed(conn: HandlerAPI, response: ConnectionResponse, now: float) -> list[ConnectionEvent]:
    """HS-12, VER-10: accepted at the version offered; keep the server's reader declaration and limits (SNEG-4, DECL-4)."""
    conn.negotiate(max(conn.versions), response.reader_schemas, response.declared_limits)
    conn.handshake_response = response
    return [HandshakeCompleted(response=response)]


def handshake_refused(conn: HandlerAPI, response: ConnectionResponse, now: float) -> list[ConnectionEvent]:
    """HS-15: refused; the row closes without sending another frame."""
    conn.negotiate(max(conn.versions), response.reader_schemas)
    conn.handshake_response = response
    return [HandshakeRefused(response=response)]


def request_received(conn: HandlerAPI, request: ConnectionRequest, now: float) -> list[ConnectionEvent]:
    """HS-2, VER-6: the request's version is the connection's; the application decides."""
    conn.negotiate(request.version, request.reader_schemas, request.declared_limits)
    return [HandshakeRequested(request=request)]


def refuse_version(conn: HandlerAPI, item: UnsupportedRequest, now: float) -> list[ConnectionEvent]:
    """HS-11, VER-7, VER-9: answer unsupported_protocol_version (the row closes)."""
    response = ConnectionResponse(response=Response.UNSUPPORTED_PROTOCOL_VERSION)
    conn.send(response, now)
    conn.handshake_response = response
    return [HandshakeRefused(response=response, requested_version=item.version)]


def send_response(conn: HandlerAPI, response: ConnectionResponse, now: float) -> list[ConnectionEvent]:
    """HS-3: the server's answer; a reader declaration needs a version-1 connection (CONN-12)."""
    if isinstance(response, Refusal):
        raise LocalProtocolError("a refusal says more in a CLOSE, which version 0 has not", requirement="FRAME-9")
    if response.reader_schemas is not None and (conn.negotiated_version or 0) < 1:
        raise LocalProtocolError("a version-0 connection carries no reader declaration", requirement="CONN-12")
    _check_own_declaration(conn, response.declared_limits)
    conn.send(response, now)
    conn.handshake_response = response
    conn.own_declared_limits = response.declared_limits
    if response.response in ACCEPTED:
        return [HandshakeCompleted(response=response)]
    return [HandshakeRefused(response=response)]


# CLOSE-4: the requirement a refusal's CLOSE names.
_REFUSAL_RULE = {
    Response.INSTANCE_ID_MISMATCH: b"HS-9",
    Response.QUARANTINED: b"HS-18",
    Response.UNSUPPORTED_APPLICATION_VERSION: b"HS-12",
}


def send_refusal(conn: HandlerAPI, item: ConnectionResponse | Refusal, now: float) -> list[ConnectionEvent]:
    """HS-19, CLOSE-4, CLOSE-5: the refusal, then (to a version-1 request) a CLOSE saying when to come back."""
    refusal = item if isinstance(item, Refusal) else Refusal(response=item)
    events = send_response(conn, refusal.response, now)
    rule = _REFUSAL_RULE.get(refusal.response.response)
    if rule is not None and conn.negotiated_version == 1:  # never after unsupported_protocol_version (CLOSE-5)
        close = Close(
            error_class=CloseCode.HANDSHAKE_REFUSED,
            requirement=rule,
            retry_after=refusal.retry_after,
            human_message=refusal.human_message,
        )
        send_close(conn, close, now)
    return events


# -- received frames ---------------------------------------------------------------------------------


def publish_received(conn: HandlerAPI, frame: Publish, now: float) -> list[ConnectionEvent]:
    """MSGID-4, MSGID-11: the id must not be awaiting our answer."""
    ledger = conn.ledger
    if frame.message_id in ledger.to_answer:
        raise PeerViolation(
            "message_id_in_use",
            "MSGID-4",
            f"PUBLISH {frame.message_id} arrived while the previous one with that id is unanswered",
        )
    if frame.message_id in ledger.batches_to_answer:
        raise PeerViolation(
            "message_id_in_use", "MSGID-4", f"PUBLISH {frame.message_id} while a batch with that id is unanswered"
        )
    ledger.to_answer[frame.message_id] = frame.event
    ledger.note_received(frame.message_id)
    return [EventReceived(message_id=frame.message_id, event=frame.event)]


def _not_in_flight(kind: str, message_id: int) -> PeerViolation:
    return PeerViolation(
        "unknown_message_id", "MSGID-12", f"{kind} for message id {message_id}, which is not in flight"
    )


def ack_received(conn: HandlerAPI, frame: Ack, now: float) -> list[ConnectionEvent]:
    """MSGID-12: an ACK answers our PUBLISH or our whole batch."""
    ledger = conn.ledger
    if frame.message_id in ledger.in_flight_batches:
        context = ledger.batch_contexts.get(frame.message_id)
        return [BatchAnswered(message_id=frame.message_id, events=ledger.take_batch(frame.message_id), context=context)]
    event = ledger.take_in_flight(frame.message_id)
    if event is None:
        raise _not_in_flight("ACK", frame.message_id)
    return [PublishAcked(message_id=frame.message_id, event=event)]


def nack_received(conn: HandlerAPI, frame: Nack, now: float) -> list[ConnectionEvent]:
    """MSGID-12, BRES-4: a NACK answers our PUBLISH, or refuses every event of our batch."""
    ledger = conn.ledger
    if frame.message_id in ledger.in_flight_batches:
        context = ledger.batch_contexts.get(frame.message_id)
        events = ledger.take_batch(frame.message_id)
        entries = tuple(
            BatchResultEntry(index=i, machine_message=frame.machine_message, human_message=frame.human_message)
            for i in range(len(events))
        )
        # CTX-11: a NACK unknown_base of a batch in mode context; BatchAnswered.unknown_base tells the sender
        return [BatchAnswered(message_id=frame.message_id, events=events, nacked=entries, context=context)]
    event = ledger.take_in_flight(frame.message_id)
    if event is None:
        raise _not_in_flight("NACK", frame.message_id)
    return [
        PublishNacked(
            message_id=frame.message_id,
            event=event,
            machine_message=frame.machine_message,
            human_message=frame.human_message,
        )
    ]


def send_pong(conn: HandlerAPI, frame: object, now: float) -> list[ConnectionEvent]:
    """PING-1."""
    conn.send(Pong(), now)
    return []


def batch_received(conn: HandlerAPI, frame: BatchPublish, now: float) -> list[ConnectionEvent]:
    """BPUB-9, MSGID-4: the application answers it with ``answer_batch``."""
    ledger = conn.ledger
    if frame.message_id in ledger.batches_to_answer or frame.message_id in ledger.to_answer:
        raise PeerViolation(
            "message_id_in_use", "MSGID-4", f"BATCH_PUBLISH {frame.message_id} while a frame with that id is unanswered"
        )
    context = frame.batch.context
    if context is not None and not conn.takes_context:
        raise PeerViolation(
            "unknown_format", "CTX-1", "a batch in mode context, and this side declared no context_bases"
        )
    ledger.batches_to_answer[frame.message_id] = frame.batch.events
    if context is not None:
        ledger.received_contexts[frame.message_id] = context
    ledger.note_received(frame.message_id)
    return [BatchReceived(message_id=frame.message_id, events=frame.batch.events, context=context)]


def base_unavailable(conn: HandlerAPI, item: UnknownBase, now: float) -> list[ConnectionEvent]:
    """CTX-5: a BATCH_PUBLISH names a base we do not hold: NACK it ``unknown_base``; not an error, the connection stays.

    Every base of the peer is dropped with it (CTX-9 lets a receiver lose
    them): a batch pipelined behind this one that names a base is NACKed too,
    so none of the peer's later events is accepted before these are resent
    (CTX-11), and a topic's events keep their order (DELIV-15).
    """
    ledger = conn.ledger
    message_id = item.message_id
    if message_id in ledger.batches_to_answer or message_id in ledger.to_answer:
        raise PeerViolation(
            "message_id_in_use", "MSGID-4", f"BATCH_PUBLISH {message_id} while a frame with that id is unanswered"
        )
    error = item.error
    ledger.refused_unread(message_id)
    conn.send(Nack(message_id=message_id, machine_message=UNKNOWN_BASE, human_message=error.detail.encode()), now)
    if conn.bases is not None:
        conn.bases.clear()
    return [BaseMissing(message_id=message_id, base_id=error.base_id, reason=error.reason, detail=error.detail)]


def batch_result_received(conn: HandlerAPI, frame: BatchResult, now: float) -> list[ConnectionEvent]:
    """BRES-5: a BATCH_RESULT answers one of our batches and names only its indexes."""
    ledger = conn.ledger
    events = ledger.in_flight_batches.get(frame.message_id)
    if events is None:
        what = "a PUBLISH" if frame.message_id in ledger.in_flight else "nothing in flight"
        raise PeerViolation(
            "unknown_message_id", "BRES-5", f"BATCH_RESULT for message id {frame.message_id}, which is {what}"
        )
    context = ledger.batch_contexts.get(frame.message_id)
    if frame.entries[-1].index >= len(events):
        raise PeerViolation(
            "index_out_of_range",
            "BRES-5",
            f"BATCH_RESULT names index {frame.entries[-1].index} of a batch of {len(events)} events",
        )
    ledger.take_batch(frame.message_id)
    return [BatchAnswered(message_id=frame.message_id, events=events, nacked=frame.entries, context=context)]


# -- local actions -------------------------------------------------------------------------------------


def _check_peer_in_flight(conn: HandlerAPI) -> None:
    """DECL-4: no more units in flight than the peer declared it takes."""
    bound = conn.peer_limits.value("max_in_flight")
    if conn.ledger.slots_used() >= bound:
        raise LocalProtocolError(
            f"{conn.ledger.slots_used()} frames in flight, the peer's declared max_in_flight", requirement="DECL-4"
        )


def publish(conn: HandlerAPI, event: Event, now: float) -> list[ConnectionEvent]:
    """MSGID-1..MSGID-7, SNEG-4: one event as a PUBLISH with the next message id."""
    ledger = conn.ledger
    _check_peer_in_flight(conn)
    message_id = ledger.allocate()
    if event.dedupe_key in ledger.keys:
        raise LocalProtocolError("this (event_type_id, key, offset) is already in flight", requirement="MSGID-6")
    if not conn.peer_can_read(event):
        raise LocalProtocolError(
            f"the peer does not read event type {event.event_type_id} version {event.schema_version}",
            requirement="SNEG-4",
        )
    conn.send(Publish(message_id=message_id, event=event), now)  # EncodeError leaves all unchanged
    ledger.add_publish(message_id, event)
    ledger.advance(message_id)
    return []


def publish_batch(
    conn: HandlerAPI,
    item: tuple[tuple[Event, ...], BatchFormat | None, BatchContext | None],
    now: float,
) -> list[ConnectionEvent]:
    """BPUB-2..BPUB-8: events as one BATCH_PUBLISH; an oversized batch raises EncodeError and changes nothing.

    With a ``context`` the batch goes in mode context (CTX-2), only to a peer
    that declared a ``context_bases`` of 1 or more (CTX-1).
    """
    events, format, context = item
    ledger = conn.ledger
    if context is not None and conn.peer_limits.value("context_bases") < 1:
        raise LocalProtocolError("the peer declared no context_bases: no batch in mode context", requirement="CTX-1")
    _check_peer_in_flight(conn)
    message_id = ledger.allocate()
    keys = [e.dedupe_key for e in events]
    if len(set(keys)) != len(keys) or not ledger.keys.isdisjoint(keys):
        raise LocalProtocolError("an event of this batch is already in flight or twice in it", requirement="BPUB-4")
    unreadable = [e for e in events if not conn.peer_can_read(e)]
    if unreadable:
        raise LocalProtocolError(f"the peer does not read {len(unreadable)} events of this batch", requirement="BPUB-8")
    conn.send(BatchPublish(message_id=message_id, batch=Batch(events=events, format=format, context=context)), now)
    ledger.add_batch(message_id, events, context)
    ledger.advance(message_id)
    return []


def ack(conn: HandlerAPI, message_id: int, now: float) -> list[ConnectionEvent]:
    """MSGID-8, MSGID-9: the received PUBLISH is stored or processed."""
    conn.ledger.answered(message_id)
    conn.send(Ack(message_id=message_id), now)
    return []


def nack(conn: HandlerAPI, item: tuple[int, bytes, bytes], now: float) -> list[ConnectionEvent]:
    """MSGID-8, DELIV-12: the received PUBLISH is well formed but cannot be processed."""
    message_id, machine_message, human_message = item
    conn.ledger.answered(message_id)
    conn.send(Nack(message_id=message_id, machine_message=machine_message, human_message=human_message), now)
    return []


def answer_batch(
    conn: HandlerAPI,
    item: tuple[int, Mapping[int, tuple[bytes, bytes]]],
    now: float,
) -> list[ConnectionEvent]:
    """BPUB-10, BRES-3, BRES-4: ACK, NACK or BATCH_RESULT for a received batch."""
    message_id, nacks = item
    events = conn.ledger.batches_to_answer.get(message_id)
    if events is None:
        raise LocalProtocolError(
            f"no received batch with message id {message_id} awaits an answer", requirement="BPUB-10"
        )
    if any(not 0 <= i < len(events) for i in nacks):
        raise LocalProtocolError("a NACKed index is not an event of the batch", requirement="BRES-3")
    frame: Ack | Nack | BatchResult
    if not nacks:
        frame = Ack(message_id=message_id)
    elif len(nacks) == len(events) and len(set(nacks.values())) == 1:
        machine, human = next(iter(nacks.values()))
        frame = Nack(message_id=message_id, machine_message=machine, human_message=human)
    else:
        frame = BatchResult(
            message_id=message_id,
            entries=tuple(
                BatchResultEntry(index=i, machine_message=m, human_message=h) for i, (m, h) in sorted(nacks.items())
            ),
        )
    conn.send(frame, now)
    context = conn.ledger.received_contexts.get(message_id)
    conn.ledger.batch_answered(message_id)
    if context is not None and isinstance(frame, Ack) and conn.bases is not None:
        _keep_base(conn, conn.bases, ContextBase(batch_id=context.batch_id, events=events))
    return []


def _keep_base(conn: HandlerAPI, bases: dict[int, ContextBase], base: ContextBase) -> None:
    """CTX-8, CTX-9: an ACKed batch in mode context is a base, replacing one with its id; the last N are kept."""
    bases.pop(base.batch_id, None)
    bases[base.batch_id] = base
    own = conn.own_declared_limits
    keep = own.value("context_bases") if own is not None else 0
    while len(bases) > keep:
        del bases[next(iter(bases))]  # insertion order: the oldest accepted goes first


# -- timers ------------------------------------------------------------------------------------------------


def send_ping(conn: HandlerAPI, item: object, now: float) -> list[ConnectionEvent]:
    """KEEP-4: idle for K, the client pings."""
    conn.send(Ping(), now)
    return []


# -- state-entry actions (h11's STATE_TRIGGERED transitions) ----------------------------------------------


def release_held(conn: HandlerAPI, row: Row, now: float) -> list[ConnectionEvent]:
    """Entering open: the frames held while the server decided are processed, until one closes (HS-20)."""
    events: list[ConnectionEvent] = []
    for raw in conn.take_held():
        events.extend(conn.dispatch(Input.FRAME_ARRIVED, raw, now))
        if conn.state is State.CLOSED:
            break
    return events


def closed(conn: HandlerAPI, row: Row, now: float) -> list[ConnectionEvent]:
    """Entering closed: held frames are dropped (HS-20); our unanswered events are reported (MSGID-13, BPUB-12)."""
    conn.take_held()
    return [ConnectionClosed(reason=row.close_reason or row.input.label, unanswered=conn.ledger.clear())]
