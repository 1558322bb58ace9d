"""The event log: the events this side produces, one log per topic.

``events`` holds every event this side produced; a topic's producer offset
(``topics.last_offset``) and the new event commit in one transaction, so
offsets run 1, 2, 3... per topic with no gap or reuse, across crashes
(DELIV-3, DELIV-4).
"""

from __future__ import annotations

from ..construct_codec import encode_event
from ..errors import EncodeError, StoreError
from ..limits import MAX_FRAME_SIZE, MAX_U64
from ..messages import Event
from ._base import _StoreBase
from ._checks import stored_u64
from ._schema import from_db, to_db

__all__ = ["_Log"]

# A PUBLISH frame is a 2-byte header and the event payload (PUB-1), and a
# frame is at most MAX_FRAME_SIZE bytes (STREAM-2).
_PUBLISH_HEADER_SIZE = 2


def _new_event(
    event_type_id: int, key: bytes, offset: int, schema_version: int, timestamp: int, event_data: bytes
) -> Event:
    """The event to append, or StoreError if it cannot be stored or could never be sent."""
    try:
        event = Event(
            event_type_id=event_type_id,
            schema_version=schema_version,
            key=key,
            offset=offset,
            timestamp=timestamp,
            event_data=event_data,
        )
        size = _PUBLISH_HEADER_SIZE + len(encode_event(event))
    except EncodeError as exc:
        raise StoreError(f"cannot store event: {exc}") from exc
    if size > MAX_FRAME_SIZE:
        raise StoreError(f"event needs a {size}-byte PUBLISH frame; a frame is at most {MAX_FRAME_SIZE} bytes")
    return event


class _Log(_StoreBase):
    """Producing: :meth:`append`."""

    def append(
        self, *, event_type_id: int, key: bytes, schema_version: int, timestamp: int, event_data: bytes
    ) -> Event:
        """Add an event to its topic's log with the next offset (DELIV-3) and return it.

        The event is pending for every peer subscribed to its type as soon as
        this returns. Raises StoreError for values that cannot be stored or
        for an event too large for a PUBLISH frame (it could never be sent).
        """
        with self._write() as db:
            row = db.execute(
                "SELECT topic_id, last_offset FROM topics WHERE event_type_id = ? AND key = ?",
                (stored_u64("event_type_id", event_type_id), key),
            ).fetchone()
            offset = 1 if row is None else from_db(row[1]) + 1
            if offset > MAX_U64:
                raise StoreError(f"topic ({event_type_id}, {key!r}) has used every offset up to {MAX_U64}")
            event = _new_event(event_type_id, key, offset, schema_version, timestamp, event_data)
            if row is None:
                topic_id = db.execute(
                    "INSERT INTO topics (event_type_id, key, last_offset) VALUES (?, ?, ?)",
                    (to_db(event_type_id), key, to_db(offset)),
                ).lastrowid
            else:
                topic_id = row[0]
                db.execute("UPDATE topics SET last_offset = ? WHERE topic_id = ?", (to_db(offset), topic_id))
            db.execute(
                'INSERT INTO events (topic_id, "offset", schema_version, timestamp, event_data) VALUES (?, ?, ?, ?, ?)',
                (topic_id, to_db(offset), to_db(schema_version), to_db(timestamp), event_data),
            )
        return event
