"""The inbox: events peers published to us, deduplicated per peer (DELIV-2).

Kept apart from our own log: ``received`` holds them with the sender's
(event_type_id, key, offset), and a repeat of that triple from the same
peer stores nothing.
"""

from __future__ import annotations

from ..errors import StoreError
from ..messages import Event
from ._base import _StoreBase
from ._checks import check_peer
from ._schema import to_db
from ._sql import event_from_row

__all__ = ["_Inbox"]


class _Inbox(_StoreBase):
    """Receiving: :meth:`store_received`, :meth:`received`."""

    def store_received(self, peer: str, event: Event) -> bool:
        """Store an event ``peer`` published to us; False if it is a duplicate (DELIV-2).

        Durable when it returns, so the caller may ACK then, and only then
        (MSGID-9), whether it returned True or False. A duplicate is
        recognised by (event_type_id, key, offset) from the same peer; its
        content is not compared (DELIV-4 makes it the same event).
        """
        check_peer(peer)
        if not isinstance(event, Event):
            raise StoreError(f"store_received needs an Event, got {type(event).__name__}")
        with self._write() as db:
            inserted = db.execute(
                """INSERT INTO received (peer, event_type_id, key, "offset", schema_version, timestamp, event_data)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (peer, event_type_id, key, "offset") DO NOTHING""",
                (
                    peer,
                    to_db(event.event_type_id),
                    event.key,
                    to_db(event.offset),
                    to_db(event.schema_version),
                    to_db(event.timestamp),
                    event.event_data,
                ),
            ).rowcount
        return inserted == 1

    def received(self, peer: str | None = None) -> list[tuple[str, Event]]:
        """Events stored by :meth:`store_received` (from ``peer``, or all), in arrival order."""
        where = "" if peer is None else "WHERE peer = :peer"
        with self._read() as db:
            rows = db.execute(
                f"""SELECT peer, event_type_id, key, "offset", schema_version, timestamp, event_data
                    FROM received {where} ORDER BY seq""",
                {"peer": peer},
            ).fetchall()
        return [(row[0], event_from_row(row[1:])) for row in rows]
