"""SQL fragments shared by the store's queries: policy conditions and the pending-events scan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..messages import Event
from ._policy import DeliveryPolicy, PolicySet
from ._schema import STATE_RETRY, from_db, to_db

__all__ = ["EVENT_COLUMNS", "event_from_row", "pending_sql", "types_where"]

# An event of our own log, from `topics t` joined with `events e`; read with event_from_row.
EVENT_COLUMNS = 't.event_type_id, t.key, e."offset", e.schema_version, e.timestamp, e.event_data'


def event_from_row(row: tuple[Any, ...]) -> Event:
    event_type_id, key, offset, schema_version, timestamp, event_data = row
    return Event(
        event_type_id=from_db(event_type_id),
        key=bytes(key),
        offset=from_db(offset),
        schema_version=from_db(schema_version),
        timestamp=from_db(timestamp),
        event_data=bytes(event_data),
    )


def types_where(policies: PolicySet, chosen: Callable[[DeliveryPolicy], bool]) -> str:
    """SQL condition on ``t.event_type_id``: the types whose policy is ``chosen``.

    The listed types are spelled out (as stored, shifted integers: no user
    text reaches the SQL); the default policy covers every other type.
    """
    picked = sorted(to_db(t) for t, p in policies.by_type.items() if chosen(p))
    others = sorted(to_db(t) for t, p in policies.by_type.items() if not chosen(p))
    if chosen(policies.default):
        return "1" if not others else f"(t.event_type_id NOT IN ({', '.join(map(str, others))}))"
    return "0" if not picked else f"(t.event_type_id IN ({', '.join(map(str, picked))}))"


def pending_sql(where: str, latest: str, columns: str) -> str:
    """The pending events of ``:peer`` among the topics ``where`` selects, as ``columns``.

    Two index scans: events above the pointer that carry no mark (for a
    latest-only type the scan starts at the topic's newest event), and
    events with a 'retry' mark. Parameters: ``:peer``, ``:zero``.
    """
    return f"""
        SELECT {columns}
        FROM topics t
        LEFT JOIN cursors c ON c.peer = :peer AND c.topic_id = t.topic_id
        JOIN events e ON e.topic_id = t.topic_id
                     AND e."offset" > CASE WHEN {latest} THEN max(t.last_offset - 1, coalesce(c.consumer_offset, :zero))
                                           ELSE coalesce(c.consumer_offset, :zero) END
        WHERE {where}
          AND NOT EXISTS (SELECT 1 FROM marks m
                          WHERE m.peer = :peer AND m.topic_id = t.topic_id AND m."offset" = e."offset")
        UNION ALL
        SELECT {columns}
        FROM marks m
        JOIN topics t ON t.topic_id = m.topic_id
        JOIN events e ON e.topic_id = m.topic_id AND e."offset" = m."offset"
        WHERE m.peer = :peer AND m.state = '{STATE_RETRY}' AND {where}"""
