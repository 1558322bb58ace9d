"""The connection-level mutants' edits: each a change of the transition table through the public seam.

A mutant of the connection is the reference :class:`~sinkproto.connection.Connection`
running a changed :class:`~sinkproto.connection.Rules` (a row replaced, added,
removed, or its handler wrapped), built from the documented handler API
(docs/reference/connection.md, "Extending the connection"). No private name
of the connection is touched. The server and client mutants share these
edits; the registry (:mod:`.mutants`) names the edit and the protocol
versions each mutant speaks (version-0 mutants pin ``(0,)``, as the version-0
reference spoke only version 0).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from sinkproto.connection import (
    DEFAULT_RULES,
    Handler,
    HandlerAPI,
    Input,
    PeerViolation,
    Refusal,
    Role,
    Row,
    Rules,
    State,
    UnknownBase,
)
from sinkproto.connection import handlers as default
from sinkproto.errors import DecodeError, UnknownType
from sinkproto.events import UNKNOWN_BASE, ConnectionEvent
from sinkproto.messages import (
    MAX_MESSAGE_ID,
    Ack,
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    ConnectionRequest,
    ConnectionResponse,
    ContextBase,
    DeclaredLimits,
    Event,
    Nack,
    Ping,
    Publish,
    Response,
)
from sinkproto.stream import Deframer

__all__ = [
    "accepts_any_version",
    "batch_ack_wrong_id",
    "batch_id_reused",
    "batch_result_shifted",
    "claims_base",
    "context_to_undeclared",
    "crash_logging",
    "crash_on_unknown_type",
    "crash_on_unknown_type_nibble",
    "drops_acks",
    "drops_unknown_base",
    "keeps_refused_base",
    "first_frame_only",
    "ignores_declaration",
    "ignores_declared_limits",
    "ignores_second_request",
    "message_id_stuck",
    "never_closes_silent",
    "never_pings",
    "no_close_v1",
    "no_pong",
    "no_reassembly",
    "open_after_refusal_client",
    "ping_first",
    "publish_before_response",
    "quirk_before_handshake",
    "server_pings",
    "stays_open_after_refusal",
    "tolerant",
    "wrong_ack_id",
    "wrong_close_class",
]

C, S = Role.CLIENT, Role.SERVER


# -- received frames ------------------------------------------------------------------------------------------


def no_pong(rules: Rules = DEFAULT_RULES) -> Rules:
    """Never answers PING (PING-1)."""
    return rules.edit(Input.RECV_PING, handler=default.ignore)


def _ack_at_once(conn: HandlerAPI, frame: Publish, now: float) -> list[ConnectionEvent]:
    conn.send(Ack(message_id=frame.message_id), now)
    return []


def quirk_before_handshake(rules: Rules = DEFAULT_RULES) -> Rules:
    """The field server's quirk: a PUBLISH before the request is ACKed, a PING answered (HS-2, PING-3)."""
    return rules.replace(
        Row(S, State.AWAIT_REQUEST, Input.RECV_PUBLISH, _ack_at_once),
        Row(S, State.AWAIT_REQUEST, Input.RECV_PING, default.send_pong),
    )


def ignores_second_request(rules: Rules = DEFAULT_RULES) -> Rules:
    """A connection request on an open connection is dropped instead of being out of place (ERR-6)."""
    return rules.replace(
        Row(S, State.OPEN, Input.RECV_REQUEST, default.ignore),
        Row(S, State.OPEN, Input.RECV_REQUEST_UNSUPPORTED, default.ignore),
    )


def tolerant(rules: Rules = DEFAULT_RULES) -> Rules:
    """Ignores malformed and out-of-place frames instead of closing (ERR-3, ERR-11)."""
    return rules.edit(Input.PEER_ERROR, handler=default.ignore, next=None)


def _refuse_without_close(conn: HandlerAPI, item: object, now: float) -> list[ConnectionEvent]:
    response = item.response if isinstance(item, Refusal) else item
    assert isinstance(response, ConnectionResponse)
    return default.send_response(conn, response, now)


def no_close_v1(rules: Rules = DEFAULT_RULES) -> Rules:
    """Closes a version-1 connection as version 0 does, without CLOSE: after a protocol error and after a
    refusal (CLOSE-3, CLOSE-4, CLOSE-6)."""
    return rules.edit(Input.PEER_ERROR, since=1, handler=default.report_error).replace(
        Row(
            S,
            State.DECIDING,
            Input.SEND_RESPONSE_REFUSED,
            _refuse_without_close,
            State.CLOSED,
            since=1,
            close_reason="handshake_refused",
        )
    )


def wrong_close_class(rules: Rules = DEFAULT_RULES) -> Rules:
    """Sends CLOSE on a version-1 protocol error, but always with error class ``out_of_place_frame`` (CLOSE-3)."""

    def misnamed(handler: Handler) -> Handler:
        def report(conn: HandlerAPI, violation: PeerViolation, now: float) -> list[ConnectionEvent]:
            wrong = "internal_error" if violation.error_class == "out_of_place_frame" else "out_of_place_frame"
            renamed = PeerViolation(wrong, violation.requirement, violation.detail, answerable=violation.answerable)
            return handler(conn, renamed, now)

        return report

    return rules.wrap(Input.PEER_ERROR, misnamed, since=1)


def crash_logging(path: str | os.PathLike[str] | None, report: str, rules: Rules = DEFAULT_RULES) -> Rules:
    """On a protocol error, append a crash report (``report`` formatted with n, error_class, requirement, detail)
    to ``path``, then close as ``rules`` do (the reference by default)."""
    crashes = [0]

    def logging_first(handler: Handler) -> Handler:
        def crash(conn: HandlerAPI, violation: PeerViolation, now: float) -> list[ConnectionEvent]:
            crashes[0] += 1
            if path is not None:
                with open(path, "a", encoding="utf-8") as log:
                    log.write(
                        report.format(
                            n=crashes[0],
                            error_class=violation.error_class,
                            requirement=violation.requirement,
                            detail=violation.detail,
                        )
                    )
            return handler(conn, violation, now)

        return crash

    return rules.wrap(Input.PEER_ERROR, logging_first)


def crash_on_unknown_type(rules: Rules = DEFAULT_RULES) -> Rules:
    """The whole process exits on a frame of an unknown type, instead of closing (ERR-3)."""

    def crash_first(handler: Handler) -> Handler:
        def crash(conn: HandlerAPI, raw: bytes, now: float) -> list[ConnectionEvent]:
            try:
                conn.decode(raw)
            except UnknownType:
                os._exit(70)
            except DecodeError:
                pass
            return handler(conn, raw, now)

        return crash

    return (
        rules.wrap(Input.FRAME_ARRIVED, crash_first, state=State.OPEN)
        .wrap(Input.FRAME_ARRIVED, crash_first, state=State.AWAIT_REQUEST)
        .wrap(Input.FRAME_ARRIVED, crash_first, state=State.AWAIT_RESPONSE)
    )


def crash_on_unknown_type_nibble(rules: Rules = DEFAULT_RULES) -> Rules:
    """Exits on a frame whose type nibble is 8..15, before decoding it (the client's fuzz-only mutant)."""

    def crash_first(handler: Handler) -> Handler:
        def crash(conn: HandlerAPI, raw: bytes, now: float) -> list[ConnectionEvent]:
            if raw and raw[0] >> 4 >= 8:
                os._exit(70)
            return handler(conn, raw, now)

        return crash

    return rules.wrap(Input.FRAME_ARRIVED, crash_first)


# -- bytes ----------------------------------------------------------------------------------------------------


def no_reassembly(rules: Rules = DEFAULT_RULES) -> Rules:
    """Treats every read as starting a new frame: partial frames are dropped (STREAM-2)."""

    def fresh(handler: Handler) -> Handler:
        def deframe_fresh(conn: HandlerAPI, data: bytes, now: float) -> list[ConnectionEvent]:
            conn.deframer = Deframer(conn.limits)
            return handler(conn, data, now)

        return deframe_fresh

    return rules.wrap(Input.DATA_RECEIVED, fresh)


def first_frame_only(rules: Rules = DEFAULT_RULES) -> Rules:
    """Processes only the first frame of each read (STREAM-3)."""

    def first_only(handler: Handler) -> Handler:
        def deframe_first_only(conn: HandlerAPI, data: bytes, now: float) -> list[ConnectionEvent]:
            try:
                frames = Deframer(conn.limits).feed(data)
            except DecodeError:
                frames = []
            if frames:
                data = len(frames[0]).to_bytes(2, "big") + frames[0]
            return handler(conn, data, now)

        return deframe_first_only

    return rules.wrap(Input.DATA_RECEIVED, first_only)


# -- handshake ------------------------------------------------------------------------------------------------


def _send_only(conn: HandlerAPI, response: ConnectionResponse, now: float) -> list[ConnectionEvent]:
    conn.send(response, now)
    conn.handshake_response = response
    return []


def _refuse_quietly(conn: HandlerAPI, item: object, now: float) -> list[ConnectionEvent]:
    return _send_only(conn, ConnectionResponse(response=Response.UNSUPPORTED_PROTOCOL_VERSION), now)


def _accept_anyway(conn: HandlerAPI, item: object, now: float) -> list[ConnectionEvent]:
    return _send_only(conn, ConnectionResponse(response=Response.CONNECTED), now)


def stays_open_after_refusal(rules: Rules = DEFAULT_RULES) -> Rules:
    """The field server's quirk after ``quarantined``, for every refusal: stays open and ACKs (HS-19)."""
    return rules.replace(
        Row(S, State.DECIDING, Input.SEND_RESPONSE_REFUSED, _send_only, State.OPEN),
        Row(S, State.DECIDING, Input.SEND_RESPONSE_REFUSED, _send_only, State.OPEN, since=1),  # no CLOSE either
        Row(S, State.AWAIT_REQUEST, Input.RECV_REQUEST_UNSUPPORTED, _refuse_quietly, State.OPEN),
    )


def accepts_any_version(rules: Rules = DEFAULT_RULES) -> Rules:
    """Answers ``connected`` to a request of a version it does not speak (HS-11)."""
    return rules.replace(Row(S, State.AWAIT_REQUEST, Input.RECV_REQUEST_UNSUPPORTED, _accept_anyway, State.OPEN))


def open_after_refusal_client(rules: Rules = DEFAULT_RULES) -> Rules:
    """Treats every response as success: stays open and publishes after a refusal (HS-15)."""
    return rules.replace(
        Row(C, State.AWAIT_RESPONSE, Input.RECV_RESPONSE_REFUSED, default.handshake_completed, State.OPEN),
        Row(C, State.AWAIT_RESPONSE, Input.RECV_RESPONSE_REFUSED, default.handshake_completed, State.OPEN, since=1),
    )


def ping_first(rules: Rules = DEFAULT_RULES) -> Rules:
    """Sends a PING before its connection request (HS-1)."""

    def first_ping(handler: Handler) -> Handler:
        def ping_then_request(conn: HandlerAPI, request: ConnectionRequest, now: float) -> list[ConnectionEvent]:
            conn.send(Ping(), now)
            return handler(conn, request, now)

        return ping_then_request

    return rules.wrap(Input.SEND_REQUEST, first_ping)


#: What publish-before-response sends right after its request.
EARLY_EVENT = Event(
    event_type_id=1, schema_version=1, key=b"mutant/early", offset=1, timestamp=1_700_000_000, event_data=b"too early"
)


def publish_before_response(rules: Rules = DEFAULT_RULES) -> Rules:
    """Does not wait for the response: a PUBLISH follows the request at once (HS-2)."""

    def then_publish(handler: Handler) -> Handler:
        def request_then_publish(conn: HandlerAPI, request: ConnectionRequest, now: float) -> list[ConnectionEvent]:
            events = handler(conn, request, now)
            conn.send(Publish(message_id=conn.ledger.next_message_id, event=EARLY_EVENT), now)
            return events

        return request_then_publish

    return rules.wrap(Input.SEND_REQUEST, then_publish)


def ignores_declaration(rules: Rules = DEFAULT_RULES) -> Rules:
    """Forgets what the peer declared it reads, so it sends every event (SNEG-4, BPUB-8)."""

    def forget(handler: Handler) -> Handler:
        def forgetting(conn: HandlerAPI, frame: Any, now: float) -> list[ConnectionEvent]:
            events = handler(conn, frame, now)
            conn.negotiate(conn.wire_version, None)
            return events

        return forgetting

    return rules.wrap(Input.RECV_REQUEST, forget, role=S).wrap(Input.RECV_RESPONSE_ACCEPTED, forget, role=C)


# -- local actions ----------------------------------------------------------------------------------------------


def ignores_declared_limits(rules: Rules = DEFAULT_RULES) -> Rules:
    """A client that reads the server's version-1 response as if it declared no limits: sends what the
    version-0 defaults allow (DECL-4)."""

    def forget(handler: Handler) -> Handler:
        def completed(conn: HandlerAPI, response: ConnectionResponse, now: float) -> list[ConnectionEvent]:
            return handler(conn, dataclasses.replace(response, declared_limits=None), now)

        return completed

    return rules.wrap(Input.RECV_RESPONSE_ACCEPTED, forget, role=C)


def _ack_next_id(conn: HandlerAPI, message_id: int, now: float) -> list[ConnectionEvent]:
    conn.ledger.answered(message_id)
    conn.send(Ack(message_id=(message_id + 1) & MAX_MESSAGE_ID), now)
    return []


def wrong_ack_id(rules: Rules = DEFAULT_RULES) -> Rules:
    """ACKs with message id + 1 (MSGID-8)."""
    return rules.edit(Input.ACK, handler=_ack_next_id)


#: drops-acks: which ACK of the process it drops: the 100th, 1,100th, 2,100th, ... (one in a thousand)
DROPPED_ACK_EVERY, DROPPED_ACK_FIRST = 1000, 100


def drops_acks(rules: Rules = DEFAULT_RULES) -> Rules:
    """Stores every event but never sends one ACK in a thousand (MSGID-8): the event stays in flight."""
    counter = iter(range(1, 1 << 62))

    def dropping(handler: Handler) -> Handler:
        def ack_or_drop(conn: HandlerAPI, message_id: int, now: float) -> list[ConnectionEvent]:
            if next(counter) % DROPPED_ACK_EVERY == DROPPED_ACK_FIRST:
                conn.ledger.answered(message_id)  # answered, as far as this server is concerned
                return []
            return handler(conn, message_id, now)

        return ack_or_drop

    return rules.wrap(Input.ACK, dropping)


def message_id_stuck(rules: Rules = DEFAULT_RULES) -> Rules:
    """Never advances its message id (MSGID-2): every PUBLISH has the same id."""

    def stuck(handler: Handler) -> Handler:
        def publish_stuck(conn: HandlerAPI, event: Event, now: float) -> list[ConnectionEvent]:
            events = handler(conn, event, now)
            if conn.ledger.last_allocated is not None:
                conn.ledger.next_message_id = conn.ledger.last_allocated
            return events

        return publish_stuck

    return rules.wrap(Input.PUBLISH, stuck)


def _answer_batch_shifted(
    conn: HandlerAPI,
    item: tuple[int, Mapping[int, tuple[bytes, bytes]]],
    now: float,
) -> list[ConnectionEvent]:
    message_id, nacks = item
    if not nacks:
        return default.answer_batch(conn, item, now)
    conn.ledger.batch_answered(message_id)
    conn.send(
        BatchResult(
            message_id=message_id,
            entries=tuple(
                BatchResultEntry(index=i + 1, machine_message=m, human_message=h) for i, (m, h) in sorted(nacks.items())
            ),
        ),
        now,
    )
    return []


def batch_result_shifted(rules: Rules = DEFAULT_RULES) -> Rules:
    """Names each NACKed event one index too far in a BATCH_RESULT (the last one out of range, BRES-3)."""
    return rules.edit(Input.ANSWER_BATCH, handler=_answer_batch_shifted)


def _answer_batch_ack_next_id(
    conn: HandlerAPI,
    item: tuple[int, Mapping[int, tuple[bytes, bytes]]],
    now: float,
) -> list[ConnectionEvent]:
    message_id, nacks = item
    if nacks:
        return default.answer_batch(conn, item, now)
    conn.ledger.batch_answered(message_id)
    conn.send(Ack(message_id=(message_id + 1) & MAX_MESSAGE_ID), now)
    return []


def batch_ack_wrong_id(rules: Rules = DEFAULT_RULES) -> Rules:
    """ACKs a whole batch with message id + 1 (BPUB-10)."""
    return rules.edit(Input.ANSWER_BATCH, handler=_answer_batch_ack_next_id)


def _batch_received_even_if_busy(conn: HandlerAPI, frame: BatchPublish, now: float) -> list[ConnectionEvent]:
    try:
        return default.batch_received(conn, frame, now)
    except PeerViolation:
        conn.ledger.batches_to_answer[frame.message_id] = frame.batch.events
        return []


def batch_id_reused(rules: Rules = DEFAULT_RULES) -> Rules:
    """Takes a BATCH_PUBLISH whose message id awaits an answer as a new batch (MSGID-4, ERR-11)."""
    return rules.edit(Input.RECV_BATCH_PUBLISH, handler=_batch_received_even_if_busy)


# -- context coding (spec/v1/context.md) ----------------------------------------------------------------------------


def _ack_unread(conn: HandlerAPI, item: UnknownBase, now: float) -> list[ConnectionEvent]:
    conn.ledger.refused_unread(item.message_id)  # answered at once, unread, as the NACK would have been
    conn.send(Ack(message_id=item.message_id), now)
    return []


def claims_base(rules: Rules = DEFAULT_RULES) -> Rules:
    """A receiver that ACKs a batch naming a base it does not hold, unread, instead of NACKing it ``unknown_base``
    (CTX-5): the events are lost, and the sender takes the batch for a base."""
    return rules.edit(Input.RECV_BATCH_UNKNOWN_BASE, handler=_ack_unread)


def keeps_refused_base(rules: Rules = DEFAULT_RULES) -> Rules:
    """A receiver that keeps a batch in mode context as a base even when it NACKed some of its events (CTX-8): a
    later batch naming it is decoded against events it never accepted."""

    def keeping(handler: Handler) -> Handler:
        def answer(
            conn: HandlerAPI, item: tuple[int, Mapping[int, tuple[bytes, bytes]]], now: float
        ) -> list[ConnectionEvent]:
            message_id, nacks = item
            context = conn.ledger.received_contexts.get(message_id)
            events = conn.ledger.batches_to_answer.get(message_id)
            answered = handler(conn, item, now)
            if context is not None and nacks and events and conn.bases is not None:
                conn.bases[context.batch_id] = ContextBase(batch_id=context.batch_id, events=events)
            return answered

        return answer

    return rules.wrap(Input.ANSWER_BATCH, keeping, role=S)


def drops_unknown_base(rules: Rules = DEFAULT_RULES) -> Rules:
    """A sender that takes NACK ``unknown_base`` for any NACK: the batch's events become dead letters instead of
    being sent again without the base (CTX-11)."""

    def plain_nack(handler: Handler) -> Handler:
        def received(conn: HandlerAPI, frame: Nack, now: float) -> list[ConnectionEvent]:
            if frame.machine_message == UNKNOWN_BASE:
                frame = dataclasses.replace(frame, machine_message=b"rejected")
            return handler(conn, frame, now)

        return received

    return rules.wrap(Input.RECV_NACK, plain_nack, role=C)


#: context-to-undeclared: the context_bases it reads into every server's declaration
ASSUMED_CONTEXT_BASES = 16


def context_to_undeclared(rules: Rules = DEFAULT_RULES) -> Rules:
    """A client that reads every version-1 server's declaration as if it declared ``context_bases``: it sends batches
    in mode context to servers that take none (CTX-1)."""

    def assume(handler: Handler) -> Handler:
        def completed(conn: HandlerAPI, response: ConnectionResponse, now: float) -> list[ConnectionEvent]:
            if conn.wire_version >= 1:
                declared = response.declared_limits or DeclaredLimits()
                if declared.value("context_bases") < 1:
                    declared = dataclasses.replace(declared, context_bases=ASSUMED_CONTEXT_BASES)
                response = dataclasses.replace(response, declared_limits=declared)
            return handler(conn, response, now)

        return completed

    return rules.wrap(Input.RECV_RESPONSE_ACCEPTED, assume, role=C)


# -- timers -----------------------------------------------------------------------------------------------------


def never_closes_silent(rules: Rules = DEFAULT_RULES) -> Rules:
    """Never closes a silent connection (KEEP-5): the silence row keeps the state."""
    return rules.edit(Input.TIMER_SILENCE, handler=default.ignore, next=None)


def server_pings(rules: Rules = DEFAULT_RULES) -> Rules:
    """The server sends PING when idle (KEEP-3)."""
    return rules.replace(Row(S, State.OPEN, Input.TIMER_KEEPALIVE, default.send_ping))


def never_pings(rules: Rules = DEFAULT_RULES) -> Rules:
    """The client never sends PING (KEEP-4)."""
    return rules.without(C, State.OPEN, Input.TIMER_KEEPALIVE)
