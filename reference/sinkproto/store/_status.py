"""The subscription state of a store, per peer and event type: what ``sink status`` shows.

Read in one transaction by ``EventStore.status`` (its :class:`_Status` part). No clock:
ages ("freshness") are computed by whoever holds a "now", from the times
and timestamps returned here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ..messages import Event
from ._base import _StoreBase
from ._checks import check_peer
from ._outbox import type_filter
from ._policy import PolicySet, read_policies
from ._schema import STATE_SUPERSEDED, U64_ZERO, from_db
from ._sql import EVENT_COLUMNS, event_from_row, pending_sql, types_where

__all__ = ["LogStatus", "PeerStatus", "Refusal", "StoreStatus", "TypeStatus", "_Status", "read_status"]


@dataclass(frozen=True, kw_only=True, slots=True)
class TypeStatus:
    """One peer and one event type, both directions.

    Outgoing (our log, the peer's subscription): ``pending`` events (the
    lag), the ``oldest_unsent`` of them (smallest append order), events
    ``superseded`` by a latest-only policy, ``dead_letters``. Incoming
    (what the peer published to us): ``received`` events and the newest
    one's timestamp, which tells how fresh our data from that peer is.
    """

    event_type_id: int
    pending: int = 0
    oldest_unsent: Event | None = None
    superseded: int = 0
    dead_letters: int = 0
    received: int = 0
    newest_received_timestamp: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Refusal:
    """The last connection response that refused a handshake with a peer (HS-17), and when (the caller's clock)."""

    response: str  # its wire name, e.g. instance_id_mismatch
    machine_message: bytes
    human_message: bytes
    at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerStatus:
    """One peer: its subscription (None: all types; empty: none), when it was last heard from, per-type state,
    and the last refusal of a handshake (None: never refused)."""

    peer: str
    subscription: frozenset[int] | None
    last_handshake_at: float | None
    last_seen_at: float | None
    types: tuple[TypeStatus, ...]
    last_refusal: Refusal | None = None

    @property
    def pending(self) -> int:
        return sum(t.pending for t in self.types)

    @property
    def dead_letters(self) -> int:
        return sum(t.dead_letters for t in self.types)


@dataclass(frozen=True, kw_only=True, slots=True)
class LogStatus:
    """Our own log of one event type: topics, events still stored, the newest event's timestamp."""

    event_type_id: int
    topics: int
    stored: int
    produced: int  # events ever appended (the sum of the producer offsets)
    newest_timestamp: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreStatus:
    instance_id: int
    policies: PolicySet
    log: tuple[LogStatus, ...]
    peers: tuple[PeerStatus, ...]

    @property
    def stored(self) -> int:
        return sum(entry.stored for entry in self.log)


def _by_type(rows: list[tuple[int, ...]]) -> dict[int, tuple[int, ...]]:
    return {from_db(row[0]): tuple(row[1:]) for row in rows}


def _peer_status(db: sqlite3.Connection, peer: str, row: tuple[Any, ...] | None, latest: str) -> PeerStatus:
    # row: the peer's row of the subscribers table (sqlite3 values are untyped: Any, as fetchone() gives them)
    params = {"peer": peer, "zero": U64_ZERO}
    condition = type_filter(db, peer)
    pending: dict[int, tuple[int, ...]] = {}
    subscribed: set[int] = set()
    if condition is not None:
        pending_events = pending_sql(condition, latest, "t.event_type_id, e.seq")
        pending = _by_type(
            db.execute(
                f"SELECT event_type_id, count(*), min(seq) FROM ({pending_events}) GROUP BY 1", params
            ).fetchall()
        )
        # Every type of our log the peer receives gets a row, pending or not:
        # "0 pending" is an answer an operator asks for.
        subscribed = {
            from_db(t)
            for (t,) in db.execute(f"SELECT DISTINCT t.event_type_id FROM topics t WHERE {condition}", params)
        }
    superseded = _by_type(
        db.execute(
            f"""SELECT t.event_type_id, count(*) FROM marks m JOIN topics t ON t.topic_id = m.topic_id
            WHERE m.peer = :peer AND m.state = '{STATE_SUPERSEDED}' GROUP BY 1""",
            params,
        ).fetchall()
    )
    dead = _by_type(
        db.execute(
            """SELECT t.event_type_id, count(*) FROM dead_letters d JOIN topics t ON t.topic_id = d.topic_id
           WHERE d.peer = :peer GROUP BY 1""",
            params,
        ).fetchall()
    )
    received = _by_type(
        db.execute(
            "SELECT event_type_id, count(*), max(timestamp) FROM received WHERE peer = :peer GROUP BY 1", params
        ).fetchall()
    )
    types = []
    for event_type_id in sorted({*subscribed, *pending, *superseded, *dead, *received}):
        count, oldest_seq = pending.get(event_type_id, (0, None))
        oldest = None
        if oldest_seq is not None:
            oldest = event_from_row(
                db.execute(
                    f"SELECT {EVENT_COLUMNS} FROM events e JOIN topics t ON t.topic_id = e.topic_id WHERE e.seq = ?",
                    (oldest_seq,),
                ).fetchone()
            )
        got, newest = received.get(event_type_id, (0, None))
        types.append(
            TypeStatus(
                event_type_id=event_type_id,
                pending=count,
                oldest_unsent=oldest,
                superseded=superseded.get(event_type_id, (0,))[0],
                dead_letters=dead.get(event_type_id, (0,))[0],
                received=got,
                newest_received_timestamp=None if newest is None else from_db(newest),
            )
        )
    subscription: frozenset[int] | None = frozenset()
    handshake = seen = None
    refusal = None
    if row is not None:
        all_types, handshake, seen, refused_at, response, machine, human = row
        if refused_at is not None and response is not None:
            refusal = Refusal(
                response=str(response),
                machine_message=bytes(machine or b""),
                human_message=bytes(human or b""),
                at=float(refused_at),
            )
        if all_types:
            subscription = None
        else:
            subscription = frozenset(
                from_db(t)
                for (t,) in db.execute("SELECT event_type_id FROM subscription_types WHERE peer = ?", (peer,))
            )
    return PeerStatus(
        peer=peer,
        subscription=subscription,
        last_handshake_at=handshake,
        last_seen_at=seen,
        types=tuple(types),
        last_refusal=refusal,
    )


def read_status(db: sqlite3.Connection, *, instance_id: int, policies: PolicySet, only_peer: str | None) -> StoreStatus:
    """The store's status; the pending events are counted with the scan ``EventStore.pending`` uses."""
    log = [
        LogStatus(
            event_type_id=from_db(t),
            topics=topics,
            stored=stored or 0,
            produced=int(produced),
            newest_timestamp=None if newest is None else from_db(newest),
        )
        for t, topics, produced, stored, newest in db.execute(
            """SELECT t.event_type_id, count(*), total(t.last_offset - :zero),
                      sum((SELECT count(*) FROM events e WHERE e.topic_id = t.topic_id)),
                      max((SELECT max(e.timestamp) FROM events e WHERE e.topic_id = t.topic_id))
               FROM topics t GROUP BY t.event_type_id ORDER BY t.event_type_id""",
            {"zero": U64_ZERO},
        )
    ]
    subscribers = {
        row[0]: tuple(row[1:])
        for row in db.execute(
            """SELECT peer, all_types, last_handshake_at, last_seen_at, refused_at, refusal, refusal_machine_message,
                  refusal_human_message FROM subscribers"""
        )
    }
    if only_peer is not None:
        names = [only_peer]
    else:
        names = sorted(
            {
                *subscribers,
                *(p for (p,) in db.execute("SELECT DISTINCT peer FROM received")),
                *(p for (p,) in db.execute("SELECT DISTINCT peer FROM dead_letters")),
            }
        )
    latest = types_where(policies, lambda p: p.transmission == "latest")
    peers = tuple(_peer_status(db, name, subscribers.get(name), latest) for name in names)
    return StoreStatus(instance_id=instance_id, policies=policies, log=tuple(log), peers=peers)


class _Status(_StoreBase):
    """What ``sink status`` shows: :meth:`status`."""

    def status(self, peer: str | None = None) -> StoreStatus:
        """The subscription state, per peer and event type (``peer``: only that one), for ``sink status``.

        One read transaction: a consistent snapshot, also while the peer
        that owns the file is running. It reads every pending event, so it
        is meant for operators, not for a hot path (use :meth:`lag`).
        """
        if peer is not None:
            check_peer(peer)
        with self._read() as db:
            return read_status(db, instance_id=self._instance_id, policies=read_policies(db), only_peer=peer)
