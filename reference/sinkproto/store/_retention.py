"""Retention: delete the oldest events of a topic that every subscriber has passed.

:class:`_Retention` (a part of ``EventStore``) runs one pass in one write
transaction (``EventStore.apply_retention``). What is deleted is always a
prefix of the topic's log, cut at ``cut``:

- the policy's limit: offsets at or below ``last_offset - keep_last``, or
  below the first event stamped at or after ``now - keep_days``; with both,
  whichever cuts further (each is a bound on what is kept);
- never above the lowest pointer of the type's subscribers, so an event is
  deleted only once every subscription has passed it (nothing unsent is
  lost); a topic whose type nobody subscribes to is kept whole;
- the events a dead letter or a 'retry' mark refers to are kept below the
  cut (an operator may still want them).

``topics.trimmed_to`` records the cut; new subscribers start there, so every
offset above any pointer still has its event.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..errors import StoreError
from ._base import _StoreBase
from ._policy import PolicySet, read_policies
from ._schema import STATE_RETRY, U64_ZERO, from_db, to_db
from ._sql import types_where

__all__ = ["RetentionReport", "_Retention"]

# The events below a cut that must stay: one a dead letter or a retry refers to.
_PROTECTED = f"""(EXISTS (SELECT 1 FROM dead_letters d WHERE d.topic_id = e.topic_id AND d."offset" = e."offset")
               OR EXISTS (SELECT 1 FROM marks r WHERE r.topic_id = e.topic_id AND r."offset" = e."offset"
                                                 AND r.state = '{STATE_RETRY}'))"""


@dataclass(frozen=True, kw_only=True, slots=True)
class RetentionReport:
    """What one retention pass did."""

    deleted: int = 0  # events deleted
    topics: int = 0  # topics whose log was cut


def _policy_cut(
    db: sqlite3.Connection,
    topic_id: int,
    last_offset: int,
    trimmed_to: int,
    keep_last: int | None,
    oldest_kept: int | None,
) -> int:
    """The highest offset the policy alone would delete up to (0: none)."""
    cut = 0
    if keep_last is not None:
        cut = max(cut, last_offset - keep_last)
    if oldest_kept is not None:
        # The first event young enough to keep, walking the (topic_id, offset)
        # index from the last cut: the old events before it are deleted by
        # this pass, so the walk stays short from one pass to the next.
        row = db.execute(
            """SELECT "offset" FROM events WHERE topic_id = ? AND "offset" > ? AND timestamp >= ?
               ORDER BY "offset" LIMIT 1""",
            (topic_id, to_db(trimmed_to), to_db(oldest_kept)),
        ).fetchone()
        cut = max(cut, last_offset if row is None else from_db(row[0]) - 1)
    return cut


def _delete_unretained(db: sqlite3.Connection, policies: PolicySet, now: float) -> RetentionReport:
    """Delete what the retention policies no longer keep, as of ``now``; see the module docstring."""
    with_retention = types_where(policies, lambda p: p.has_retention)
    if with_retention == "0":
        return RetentionReport()
    deleted = trimmed = 0
    topics = db.execute(
        f"SELECT topic_id, event_type_id, last_offset, trimmed_to FROM topics t WHERE {with_retention}"
    ).fetchall()
    for topic_id, stored_type, stored_last, stored_trimmed in topics:
        policy = policies.for_type(from_db(stored_type))
        last_offset = from_db(stored_last)
        trimmed_to = 0 if stored_trimmed is None else from_db(stored_trimmed)
        cut = _policy_cut(db, topic_id, last_offset, trimmed_to, policy.keep_last, policy.oldest_kept_timestamp(now))
        if cut <= trimmed_to:
            continue
        # The lowest pointer among the type's subscribers (no cursor row: 0).
        (lowest,) = db.execute(
            """SELECT min(coalesce(c.consumer_offset, :zero))
               FROM subscribers s LEFT JOIN cursors c ON c.peer = s.peer AND c.topic_id = :topic
               WHERE s.all_types = 1 OR EXISTS (SELECT 1 FROM subscription_types st
                                                WHERE st.peer = s.peer AND st.event_type_id = :type)""",
            {"zero": U64_ZERO, "topic": topic_id, "type": stored_type},
        ).fetchone()
        if lowest is None:
            continue  # nobody subscribes to this type yet: whoever comes will want the log
        cut = min(cut, from_db(lowest))
        if cut <= trimmed_to:
            continue
        bounds = {"topic": topic_id, "cut": to_db(cut)}
        # Marks first (their foreign key refers to the event): superseded
        # marks below the pointers, and stale answers of peers that no longer
        # subscribe to the type. Retry marks protect their event and stay.
        db.execute(
            f"""DELETE FROM marks WHERE topic_id = :topic AND "offset" <= :cut AND state != '{STATE_RETRY}'
                  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.topic_id = marks.topic_id
                                  AND e."offset" = marks."offset" AND {_PROTECTED})""",
            bounds,
        )
        # From offset 1, not from the last cut: an event an earlier pass kept
        # for its dead letter or retry goes once that reference is gone.
        deleted += db.execute(
            f"""DELETE FROM events AS e WHERE e.topic_id = :topic AND e."offset" <= :cut AND NOT {_PROTECTED}""",
            bounds,
        ).rowcount
        db.execute("UPDATE topics SET trimmed_to = :cut WHERE topic_id = :topic", bounds)
        trimmed += 1
    return RetentionReport(deleted=deleted, topics=trimmed)


class _Retention(_StoreBase):
    """Retention: :meth:`apply_retention`."""

    def apply_retention(self, now: float) -> RetentionReport:
        """Delete the events the retention policies no longer keep, as of ``now`` (unix seconds).

        An event is deleted only when it is outside its type's ``keep_last``
        or ``keep_days`` limit, every subscriber of its type has passed it,
        and no dead letter or retry refers to it: nothing unsent is ever
        deleted. Topics (and so producer offsets) are never deleted. One
        transaction; the caller decides how often to run it.
        """
        if not isinstance(now, (int, float)) or isinstance(now, bool):
            raise StoreError(f"now must be unix seconds, got {now!r}")
        with self._write() as db:
            return _delete_unretained(db, read_policies(db), now)
