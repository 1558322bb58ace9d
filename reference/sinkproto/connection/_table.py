"""THE transition table of the Sink connection: every row, every state-entry action, every version.

Like h11's ``_state.py``, everything that decides a transition lives here:
``(role, state, input) -> (handler, next state)``, each row saying from which
protocol version it applies (``since``). A received frame with no row is an
out-of-place frame (ERR-6, ERR-11 from version 1); a local action with no row
raises ``LocalProtocolError``. Handlers never set the state; rows and
:data:`ON_ENTER` do, so this table (rendered on docs/reference/connection.md)
is the whole truth. :class:`Rules` is the immutable value a connection runs,
and the documented seam to change a row (extensions, conformance mutants).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from . import handlers as h
from ._alphabet import Input, Role, State
from ._api import Handler, Row

__all__ = ["ON_ENTER", "TRANSITIONS", "DEFAULT_RULES", "Row", "Rules", "EntryAction"]

C, S = Role.CLIENT, Role.SERVER
BOTH = (C, S)


EntryAction = Callable[[Any, Row, float], list[Any]]

_STATES = {
    C: (State.SEND_REQUEST, State.AWAIT_RESPONSE, State.OPEN),
    S: (State.AWAIT_REQUEST, State.DECIDING, State.OPEN),
}


def _closing_v1(role: Role, state: State) -> list[Row]:
    """From version 1, once the handshake completed: every deliberate close sends a CLOSE first (CLOSE-3, CLOSE-6)."""
    return [
        Row(
            role,
            state,
            Input.PEER_ERROR,
            h.report_error_and_close,
            State.CLOSED,
            since=1,
            rule="CLOSE-3",
            close_reason="protocol_error",
        ),
        Row(role, state, Input.CLOSE, h.send_close, State.CLOSED, since=1, rule="CLOSE-6", close_reason="local_close"),
        Row(
            role,
            state,
            Input.TIMER_SILENCE,
            h.send_close_on_silence,
            State.CLOSED,
            since=1,
            rule="CLOSE-6",
            close_reason="keepalive_timeout",
        ),
        Row(
            role,
            state,
            Input.RECV_CLOSE,
            h.close_received,
            State.CLOSED,
            since=1,
            rule="CLOSE-10",
            close_reason="close_received",
        ),
    ]


def _refused_v1() -> list[Row]:
    """A version-1 client after a refusal reads the CLOSE that came with it, then closes (CLOSE-4, HS-15); sends nothing.

    ``refused`` lasts one ``receive_data`` call: the deframer closes it after the frames that came with the refusal.
    """
    return [
        Row(C, State.REFUSED, Input.FRAME_ARRIVED, h.decode_and_classify, since=1, rule="FRAME-1"),
        Row(
            C,
            State.REFUSED,
            Input.RECV_CLOSE,
            h.close_received,
            State.CLOSED,
            since=1,
            rule="CLOSE-10",
            close_reason="handshake_refused",
        ),
        Row(
            C,
            State.REFUSED,
            Input.PEER_ERROR,
            h.report_error,
            State.CLOSED,
            since=1,
            rule="CLOSE-11",
            close_reason="handshake_refused",
        ),
        Row(
            C,
            State.REFUSED,
            Input.CLOSE,
            h.ignore,
            State.CLOSED,
            since=1,
            rule="HS-15",
            close_reason="handshake_refused",
        ),
    ]


def _closing(role: Role, state: State) -> list[Row]:
    return [
        Row(role, state, Input.TIMER_SILENCE, h.ignore, State.CLOSED, rule="KEEP-5", close_reason="keepalive_timeout"),
        Row(role, state, Input.PEER_CLOSED, h.ignore, State.CLOSED, rule="TRANS-7", close_reason="peer_closed"),
        Row(role, state, Input.PEER_ERROR, h.report_error, State.CLOSED, rule="ERR-3", close_reason="protocol_error"),
        Row(role, state, Input.CLOSE, h.ignore, State.CLOSED, rule="TRANS-7", close_reason="local_close"),
        Row(role, state, Input.DATA_RECEIVED, h.deframe, rule="STREAM-1"),
    ]


#: Every transition of every version, flat and readable.
TRANSITIONS: tuple[Row, ...] = (
    # -- handshake, client (HS-1, HS-12, HS-15, VER-1, VER-10)
    Row(C, State.SEND_REQUEST, Input.SEND_REQUEST, h.send_request, State.AWAIT_RESPONSE, rule="HS-1"),
    Row(C, State.AWAIT_RESPONSE, Input.RECV_RESPONSE_ACCEPTED, h.handshake_completed, State.OPEN, rule="HS-12"),
    Row(
        C,
        State.AWAIT_RESPONSE,
        Input.RECV_RESPONSE_REFUSED,
        h.handshake_refused,
        State.CLOSED,
        rule="HS-15",
        close_reason="handshake_refused",
    ),
    Row(
        C,
        State.AWAIT_RESPONSE,
        Input.RECV_RESPONSE_REFUSED,
        h.handshake_refused,
        State.REFUSED,
        since=1,
        rule="CLOSE-4",
    ),
    *_refused_v1(),
    # -- handshake, server (HS-2, HS-3, HS-11, HS-19, HS-20, VER-6, VER-7)
    Row(S, State.AWAIT_REQUEST, Input.RECV_REQUEST, h.request_received, State.DECIDING, rule="HS-2"),
    Row(
        S,
        State.AWAIT_REQUEST,
        Input.RECV_REQUEST_UNSUPPORTED,
        h.refuse_version,
        State.CLOSED,
        rule="HS-11",
        close_reason="handshake_refused",
    ),
    Row(S, State.DECIDING, Input.FRAME_ARRIVED, h.hold, rule="HS-20"),
    Row(S, State.DECIDING, Input.SEND_RESPONSE_ACCEPTED, h.send_response, State.OPEN, rule="HS-3"),
    Row(
        S,
        State.DECIDING,
        Input.SEND_RESPONSE_REFUSED,
        h.send_response,
        State.CLOSED,
        rule="HS-19",
        close_reason="handshake_refused",
    ),
    Row(
        S,
        State.DECIDING,
        Input.SEND_RESPONSE_REFUSED,
        h.send_refusal,
        State.CLOSED,
        since=1,
        rule="CLOSE-4",
        close_reason="handshake_refused",
    ),
    # -- open: received frames (MSGID-4, MSGID-11, MSGID-12, PING-1, PING-2; BPUB-9, BRES-5, CTX-5 from version 1)
    *(
        Row(r, State.OPEN, i, f, rule=rule)
        for r in BOTH
        for i, f, rule in (
            (Input.RECV_PUBLISH, h.publish_received, "MSGID-11"),
            (Input.RECV_ACK, h.ack_received, "MSGID-12"),
            (Input.RECV_NACK, h.nack_received, "MSGID-12"),
            (Input.RECV_PING, h.send_pong, "PING-1"),
            (Input.RECV_PONG, h.ignore, "PING-2"),
        )
    ),
    *(
        Row(r, State.OPEN, i, f, since=1, rule=rule)
        for r in BOTH
        for i, f, rule in (
            (Input.RECV_BATCH_PUBLISH, h.batch_received, "BPUB-9"),
            (Input.RECV_BATCH_RESULT, h.batch_result_received, "BRES-5"),
            (Input.RECV_BATCH_UNKNOWN_BASE, h.base_unavailable, "CTX-5"),
        )
    ),
    # -- open: local actions (MSGID-1..MSGID-8, DELIV-12; BPUB-2..BPUB-10 from version 1)
    *(
        Row(r, State.OPEN, i, f, rule=rule)
        for r in BOTH
        for i, f, rule in (
            (Input.PUBLISH, h.publish, "MSGID-7"),
            (Input.ACK, h.ack, "MSGID-8"),
            (Input.NACK, h.nack, "MSGID-8"),
        )
    ),
    *(
        Row(r, State.OPEN, i, f, since=1, rule=rule)
        for r in BOTH
        for i, f, rule in (
            (Input.PUBLISH_BATCH, h.publish_batch, "BPUB-2"),
            (Input.ANSWER_BATCH, h.answer_batch, "BPUB-10"),
        )
    ),
    # -- keepalive: only the client pings (KEEP-3, KEEP-4)
    Row(C, State.OPEN, Input.TIMER_KEEPALIVE, h.send_ping, rule="KEEP-4"),
    # -- every live state: decode what arrives, close on silence, peer close, peer error, local close
    *(
        Row(r, s, Input.FRAME_ARRIVED, h.decode_and_classify, rule="FRAME-1")
        for r in BOTH
        for s in _STATES[r]
        if (r, s) != (S, State.DECIDING)
    ),
    *(row for r in BOTH for s in _STATES[r] for row in _closing(r, s)),
    # -- version 1, handshake complete: CLOSE before every deliberate close, and the peer's CLOSE (CLOSE-3..CLOSE-10)
    *(row for r in BOTH for row in _closing_v1(r, State.OPEN)),
    # -- closed: nothing is processed any more (HS-20, ERR-4)
    *(
        Row(r, State.CLOSED, i, h.ignore, rule="ERR-4")
        for r in BOTH
        for i in (Input.DATA_RECEIVED, Input.PEER_CLOSED, Input.TIMER_SILENCE, Input.TIMER_KEEPALIVE, Input.CLOSE)
    ),
)

#: State-entry actions, run when a row enters the state (h11's STATE_TRIGGERED_TRANSITIONS).
ON_ENTER: Mapping[State, EntryAction] = MappingProxyType({State.OPEN: h.release_held, State.CLOSED: h.closed})

_KEEP: Any = object()


class Rules:
    """An immutable set of rows and entry actions; a connection runs one (``Connection(rules=...)``).

    Build a changed copy with :meth:`replace`, :meth:`without`, :meth:`edit`
    or :meth:`wrap`; :meth:`handler` gives the default handler of a row, to
    wrap it.
    """

    def __init__(self, rows: Iterable[Row], on_enter: Mapping[State, EntryAction] = ON_ENTER) -> None:
        self.rows: tuple[Row, ...] = tuple(rows)
        self.on_enter: Mapping[State, EntryAction] = MappingProxyType(dict(on_enter))
        index: dict[tuple[Role, State, Input], list[Row]] = {}
        for row in self.rows:
            index.setdefault((row.role, row.state, row.input), []).append(row)
        self._index = {k: tuple(sorted(v, key=lambda r: -r.since)) for k, v in index.items()}
        self._resolved: dict[tuple[Role, State, Input, int], Row | None] = {}  # lookup's answers, memoised

    def __repr__(self) -> str:
        return f"<Rules: {len(self.rows)} rows>"

    def lookup(self, role: Role, state: State, input: Input, version: int) -> Row | None:
        """The row with the greatest ``since`` not above ``version``, or None."""
        key = (role, state, input, version)
        try:
            return self._resolved[key]
        except KeyError:
            pass
        found = next((row for row in self._index.get((role, state, input), ()) if row.since <= version), None)
        self._resolved[key] = found
        return found

    def has(self, role: Role, state: State, input: Input, version: int) -> bool:
        return self.lookup(role, state, input, version) is not None

    def handler(self, role: Role, state: State, input: Input, version: int = 0) -> Handler:
        row = self.lookup(role, state, input, version)
        if row is None:
            raise KeyError((role, state, input, version))
        return row.handler

    def replace(self, *rows: Row) -> Rules:
        """A copy where each row replaces the one with the same (role, state, input, since), or is added."""
        new = {row.key: row for row in rows}
        kept = [new.pop(row.key, row) for row in self.rows]
        return Rules([*kept, *new.values()], self.on_enter)

    def without(self, role: Role, state: State, input: Input, since: int = 0) -> Rules:
        """A copy without that row."""
        return Rules([r for r in self.rows if r.key != (role, state, input, since)], self.on_enter)

    def _matching(self, row: Row, input: Input, role: Role | None, state: State | None, since: int | None) -> bool:
        return (
            row.input is input
            and (role is None or row.role is role)
            and (state is None or row.state is state)
            and (since is None or row.since == since)
        )

    def edit(
        self,
        input: Input,
        *,
        role: Role | None = None,
        state: State | None = None,
        since: int | None = None,
        handler: Handler = _KEEP,
        next: State | None = _KEEP,
    ) -> Rules:
        """A copy where every row of ``input`` (narrowed by role, state, since) gets a new handler and/or next state.

        ``next=None`` makes the rows stay in their state.
        """
        changes: dict[str, Any] = {}
        if handler is not _KEEP:
            changes["handler"] = handler
        if next is not _KEEP:
            changes["next"] = next
            changes["close_reason"] = None if next is not State.CLOSED else _KEEP
        rows = []
        for row in self.rows:
            if self._matching(row, input, role, state, since):
                row_changes = {k: v for k, v in changes.items() if v is not _KEEP}
                row = replace(row, **row_changes)
            rows.append(row)
        return Rules(rows, self.on_enter)

    def wrap(
        self,
        input: Input,
        wrapper: Callable[[Handler], Handler],
        *,
        role: Role | None = None,
        state: State | None = None,
        since: int | None = None,
    ) -> Rules:
        """A copy where every matching row's handler becomes ``wrapper(its handler)``."""
        return Rules(
            [
                replace(row, handler=wrapper(row.handler)) if self._matching(row, input, role, state, since) else row
                for row in self.rows
            ],
            self.on_enter,
        )

    def with_entry(self, state: State, action: EntryAction) -> Rules:
        return Rules(self.rows, {**self.on_enter, state: action})


DEFAULT_RULES = Rules(TRANSITIONS, ON_ENTER)
