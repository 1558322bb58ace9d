"""The outbox: subscriptions, the pending events of each peer, and ACKs.

Subscriptions are pointers. For each peer and topic, ``cursors`` keeps a
consumer offset; an event is *pending* for a peer when it lies above that
pointer (and is not marked settled) or carries a 'retry' mark. There is no
per-event outbox row to write: appending an event puts it in every
subscriber's outbox at once, in the same transaction (the outbox pattern,
the talk's design). ACKs and NACKs move the pointer: :func:`settle`, which
the dead letters (NACKs) use too.

The helpers that work on a pointer are functions of an open transaction,
not methods, so the other parts of the store call them without depending
on this mixin.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable

from ..errors import StoreError
from ..messages import Event
from ._base import _StoreBase
from ._checks import check_peer, stored_u64
from ._policy import read_policies
from ._schema import STATE_ACKED, STATE_NACKED, STATE_RETRY, STATE_SUPERSEDED, U64_ZERO, from_db, to_db
from ._sql import EVENT_COLUMNS, event_from_row, pending_sql, types_where

__all__ = ["_Outbox", "consumer_offset", "settle", "topic_of", "type_filter"]


def type_filter(db: sqlite3.Connection, peer: str) -> str | None:
    """SQL condition on ``t.event_type_id`` for peer's subscription; None if not subscribed."""
    row = db.execute("SELECT all_types FROM subscribers WHERE peer = ?", (peer,)).fetchone()
    if row is None:
        return None
    if row[0]:
        return "1"
    return "t.event_type_id IN (SELECT event_type_id FROM subscription_types WHERE peer = :peer)"


def topic_of(db: sqlite3.Connection, event: Event) -> int:
    """The topic_id of an event of our own log; StoreError if we never appended it."""
    row = db.execute(
        """SELECT t.topic_id FROM topics t JOIN events e ON e.topic_id = t.topic_id
           WHERE t.event_type_id = ? AND t.key = ? AND e."offset" = ?""",
        (to_db(event.event_type_id), event.key, to_db(event.offset)),
    ).fetchone()
    if row is None:
        raise StoreError(f"event {event.dedupe_key} is not in this store's log")
    return int(row[0])


def consumer_offset(db: sqlite3.Connection, peer: str, topic_id: int) -> int:
    """``peer``'s pointer in the topic: every event at or below it is settled (no row: 0)."""
    row = db.execute("SELECT consumer_offset FROM cursors WHERE peer = ? AND topic_id = ?", (peer, topic_id)).fetchone()
    return 0 if row is None else from_db(row[0])


def _is_latest_only(db: sqlite3.Connection, topic_id: int) -> bool:
    event_type_id = db.execute("SELECT event_type_id FROM topics WHERE topic_id = ?", (topic_id,)).fetchone()[0]
    return read_policies(db).for_type(from_db(event_type_id)).transmission == "latest"


def settle(db: sqlite3.Connection, peer: str, topic_id: int, offset: int, state: str) -> None:
    """Record that ``peer`` answered the event at ``offset``; advance the pointer over what is contiguous."""
    pointer = consumer_offset(db, peer, topic_id)
    if offset <= pointer:
        # Already settled, unless an operator retried it: the answer to
        # the retry settles it again. An answer to an event marked
        # superseded (it was in flight when a newer one was answered)
        # is the better record: the peer did get it.
        db.execute(
            f"""DELETE FROM marks WHERE peer = ? AND topic_id = ? AND "offset" = ?
                  AND state IN ('{STATE_RETRY}', '{STATE_SUPERSEDED}')""",
            (peer, topic_id, to_db(offset)),
        )
        return
    db.execute(
        """INSERT INTO marks (peer, topic_id, "offset", state) VALUES (?, ?, ?, ?)
           ON CONFLICT (peer, topic_id, "offset") DO UPDATE SET state = excluded.state""",
        (peer, topic_id, to_db(offset), state),
    )
    if _is_latest_only(db, topic_id):
        # Latest-only: the peer has answered a newer event, so the older
        # ones still unanswered will never be sent. Mark them superseded
        # (settled, kept in `events`) so the pointer moves over them.
        db.execute(
            f"""INSERT INTO marks (peer, topic_id, "offset", state)
                SELECT ?, topic_id, "offset", '{STATE_SUPERSEDED}' FROM events
                WHERE topic_id = ? AND "offset" > ? AND "offset" < ?
                ON CONFLICT (peer, topic_id, "offset") DO NOTHING""",
            (peer, topic_id, to_db(pointer), to_db(offset)),
        )
    # Fold the run of settled marks just above the pointer into it. The
    # run is at most the number of answers that overtook an earlier one
    # (bounded by the in-flight window), so this loop is short.
    new_pointer = pointer
    marks = db.execute(
        'SELECT "offset" FROM marks WHERE peer = ? AND topic_id = ? AND "offset" > ? ORDER BY "offset"',
        (peer, topic_id, to_db(pointer)),
    )
    for (stored,) in marks:
        if from_db(stored) != new_pointer + 1:
            break
        new_pointer += 1
    marks.close()
    if new_pointer == pointer:
        return
    # The pointer now says what the answers' marks said; superseded
    # marks stay below it as the record that those events went unsent.
    db.execute(
        f"""DELETE FROM marks WHERE peer = ? AND topic_id = ? AND "offset" > ? AND "offset" <= ?
              AND state IN ('{STATE_ACKED}', '{STATE_NACKED}')""",
        (peer, topic_id, to_db(pointer), to_db(new_pointer)),
    )
    db.execute(
        """INSERT INTO cursors (peer, topic_id, consumer_offset) VALUES (?, ?, ?)
           ON CONFLICT (peer, topic_id) DO UPDATE SET consumer_offset = excluded.consumer_offset""",
        (peer, topic_id, to_db(new_pointer)),
    )


class _Outbox(_StoreBase):
    """Subscriptions and delivery: :meth:`subscribe`, :meth:`pending`, :meth:`lag`, :meth:`mark_acked`."""

    def subscribe(self, peer: str, *, event_type_ids: Iterable[int] | None = None) -> None:
        """Let ``peer`` receive events of these types (None: all types); idempotent and additive.

        A new subscription starts at the beginning of each topic: every event
        already in the log is pending for the peer.
        """
        check_peer(peer)
        types = None if event_type_ids is None else sorted({stored_u64("event_type_id", t) for t in event_type_ids})
        with self._write() as db:
            db.execute("INSERT INTO subscribers (peer) VALUES (?) ON CONFLICT (peer) DO NOTHING", (peer,))
            if types is None:
                db.execute("UPDATE subscribers SET all_types = 1 WHERE peer = ?", (peer,))
            else:
                db.executemany(
                    "INSERT INTO subscription_types (peer, event_type_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [(peer, t) for t in types],
                )
            # Retention may have deleted the start of some topics: the
            # subscription starts at the oldest kept offset, so that every
            # offset above a pointer has its event (what `lag` counts on).
            condition = type_filter(db, peer)
            db.execute(
                f"""INSERT INTO cursors (peer, topic_id, consumer_offset)
                    SELECT :peer, t.topic_id, t.trimmed_to FROM topics t
                    WHERE t.trimmed_to IS NOT NULL AND {condition}
                    ON CONFLICT (peer, topic_id) DO UPDATE
                        SET consumer_offset = max(consumer_offset, excluded.consumer_offset)""",
                {"peer": peer},
            )
            # Answers recorded above a pointer that has just been raised past them are settled now.
            db.execute(
                f"""DELETE FROM marks WHERE peer = :peer AND state IN ('{STATE_ACKED}', '{STATE_NACKED}')
                      AND "offset" <= (SELECT c.consumer_offset FROM cursors c
                                       WHERE c.peer = marks.peer AND c.topic_id = marks.topic_id)""",
                {"peer": peer},
            )

    def subscriptions(self) -> dict[str, frozenset[int] | None]:
        """Every subscribed peer and its event types (None: all types)."""
        with self._read() as db:
            peers = db.execute("SELECT peer, all_types FROM subscribers ORDER BY peer").fetchall()
            types = db.execute("SELECT peer, event_type_id FROM subscription_types").fetchall()
        by_peer: dict[str, set[int]] = {}
        for peer, stored in types:
            by_peer.setdefault(peer, set()).add(from_db(stored))
        return {peer: None if all_types else frozenset(by_peer.get(peer, ())) for peer, all_types in peers}

    def pending(
        self,
        peer: str,
        *,
        limit: int | None = None,
        exclude: Collection[tuple[int, bytes, int]] = (),
    ) -> list[Event]:
        """Events ``peer`` has neither ACKed nor NACKed, in delivery order.

        The order: by the event types' priority, highest first, then
        (event_type_id, key, offset); so per topic in offset order (DELIV-5),
        and the same state always gives the same list. With no policies set
        every priority is 0: plain (event_type_id, key, offset) order. For a
        ``latest`` event type only the newest event of each topic is pending
        (and events an operator retried).

        At-least-once (DELIV-1): an event stays pending until its answer is
        recorded, across reconnects and restarts. ``exclude`` skips events
        by ``Event.dedupe_key``, e.g. those already in flight on the
        connection (MSGID-6), so ``limit`` counts only events to send now.
        """
        check_peer(peer)
        if limit is not None and limit <= 0:
            return []
        skip = set(exclude)
        found: list[Event] = []
        with self._read() as db:
            condition = type_filter(db, peer)
            if condition is None:
                return []
            policies = read_policies(db)
            latest = types_where(policies, lambda p: p.transmission == "latest")
            # One ordered query per priority level, highest first: each is the
            # same index walk as without policies, so pending(limit=n) still
            # reads about n events, not the whole backlog.
            for level in sorted({p.priority for p in (policies.default, *policies.by_type.values())}, reverse=True):
                in_level = types_where(policies, lambda p: p.priority == level)
                rows = db.execute(
                    pending_sql(f"({condition}) AND {in_level}", latest, EVENT_COLUMNS) + " ORDER BY 1, 2, 3",
                    {"peer": peer, "zero": U64_ZERO},
                )
                for row in rows:
                    event = event_from_row(row)
                    if event.dedupe_key in skip:
                        continue
                    found.append(event)
                    if limit is not None and len(found) >= limit:
                        break
                rows.close()
                if limit is not None and len(found) >= limit:
                    break
        return found

    def lag(self, peer: str) -> int:
        """The number of events pending for ``peer`` (``len(pending(peer))``, without reading them)."""
        check_peer(peer)
        with self._read() as db:
            condition = type_filter(db, peer)
            if condition is None:
                return 0
            latest = types_where(read_policies(db), lambda p: p.transmission == "latest")
            # Every offset from the pointer to last_offset has an event
            # (append is the only writer, retention deletes only below every
            # pointer), so last_offset - consumer_offset counts the events
            # above the pointer; the differences of shifted values are the
            # differences of the real ones. A latest-only topic has at most
            # one pending event above its pointer: the newest, if unanswered.
            above = db.execute(
                f"""SELECT coalesce(sum(CASE WHEN {latest} THEN
                            t.last_offset > coalesce(c.consumer_offset, :zero)
                            AND NOT EXISTS (SELECT 1 FROM marks m WHERE m.peer = :peer AND m.topic_id = t.topic_id
                                                                   AND m."offset" = t.last_offset)
                        ELSE t.last_offset - coalesce(c.consumer_offset, :zero) END), 0)
                    FROM topics t LEFT JOIN cursors c ON c.peer = :peer AND c.topic_id = t.topic_id
                    WHERE {condition}""",
                {"peer": peer, "zero": U64_ZERO},
            ).fetchone()[0]
            settled_above, retried = db.execute(
                f"""SELECT coalesce(sum(m.state IN ('{STATE_ACKED}', '{STATE_NACKED}') AND NOT {latest}), 0),
                           coalesce(sum(m.state = '{STATE_RETRY}'), 0)
                    FROM marks m JOIN topics t ON t.topic_id = m.topic_id
                    WHERE m.peer = :peer AND {condition}""",
                {"peer": peer},
            ).fetchone()
        return int(above) - int(settled_above) + int(retried)

    def mark_acked(self, peer: str, event: Event) -> None:
        """Record ``peer``'s ACK of ``event``: it is delivered and never pending again.

        Idempotent; ACKs may come in any order within a topic (MSGID-10). An
        ACK is the peer's last word on the event: it also clears a dead
        letter for it.
        """
        self.mark_acked_many(peer, (event,))

    def mark_acked_many(self, peer: str, events: Iterable[Event]) -> None:
        """:meth:`mark_acked` for several events in one transaction (one sync instead of many)."""
        check_peer(peer)
        with self._write() as db:
            for event in events:
                topic_id = topic_of(db, event)
                settle(db, peer, topic_id, event.offset, STATE_ACKED)
                db.execute(
                    'DELETE FROM dead_letters WHERE peer = ? AND topic_id = ? AND "offset" = ?',
                    (peer, topic_id, to_db(event.offset)),
                )
