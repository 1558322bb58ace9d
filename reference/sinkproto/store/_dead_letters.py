"""Dead letters: the events a peer NACKed (DELIV-11), kept until an operator retries them.

A NACK settles the event like an ACK (the pointer moves over it, see
``_outbox.settle``) and leaves a row in ``dead_letters`` with the NACK's
messages; the event stays in ``events``. A retry removes the row and makes
the event pending again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import StoreError
from ..messages import Event
from ._base import _StoreBase
from ._checks import check_peer
from ._outbox import consumer_offset, settle, topic_of
from ._schema import STATE_NACKED, STATE_RETRY, to_db
from ._sql import EVENT_COLUMNS, event_from_row

__all__ = ["DeadLetter", "_DeadLetters"]


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLetter:
    """An event ``peer`` NACKed (DELIV-11): not sent again until retried, never deleted."""

    peer: str
    event: Event
    machine_message: bytes
    human_message: bytes
    nacked_at: float | None = None


class _DeadLetters(_StoreBase):
    """NACKs: :meth:`mark_nacked`, :meth:`dead_letters`, :meth:`retry_dead_letter`."""

    def mark_nacked(
        self,
        peer: str,
        event: Event,
        *,
        machine_message: bytes,
        human_message: bytes,
        nacked_at: float | None = None,
    ) -> None:
        """Record ``peer``'s NACK of ``event`` as a dead letter (DELIV-11).

        The event is never pending again unless :meth:`retry_dead_letter` is
        called, and never deleted. Idempotent; a repeated NACK replaces the
        messages. ``nacked_at`` is the caller's clock (unix seconds), if any.
        """
        check_peer(peer)
        if not isinstance(machine_message, bytes) or not isinstance(human_message, bytes):
            raise StoreError("machine_message and human_message must be bytes")
        with self._write() as db:
            topic_id = topic_of(db, event)
            settle(db, peer, topic_id, event.offset, STATE_NACKED)
            db.execute(
                """INSERT INTO dead_letters (peer, topic_id, "offset", machine_message, human_message, nacked_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (peer, topic_id, "offset") DO UPDATE SET
                       machine_message = excluded.machine_message,
                       human_message = excluded.human_message,
                       nacked_at = excluded.nacked_at""",
                (peer, topic_id, to_db(event.offset), machine_message, human_message, nacked_at),
            )

    def dead_letters(self, peer: str | None = None) -> list[DeadLetter]:
        """Dead letters of ``peer`` (or of every peer), by peer, then (event_type_id, key, offset)."""
        where = "" if peer is None else "WHERE d.peer = :peer"
        with self._read() as db:
            rows = db.execute(
                f"""SELECT d.peer, d.machine_message, d.human_message, d.nacked_at, {EVENT_COLUMNS}
                    FROM dead_letters d
                    JOIN topics t ON t.topic_id = d.topic_id
                    JOIN events e ON e.topic_id = d.topic_id AND e."offset" = d."offset"
                    {where}
                    ORDER BY d.peer, t.event_type_id, t.key, e."offset\"""",
                {"peer": peer},
            ).fetchall()
        return [
            DeadLetter(
                peer=row[0],
                machine_message=bytes(row[1]),
                human_message=bytes(row[2]),
                nacked_at=row[3],
                event=event_from_row(row[4:]),
            )
            for row in rows
        ]

    def retry_dead_letter(self, peer: str, event: Event) -> None:
        """Make a dead letter pending again (an operator's decision); raises StoreError if there is none."""
        check_peer(peer)
        with self._write() as db:
            topic_id = topic_of(db, event)
            offset = to_db(event.offset)
            deleted = db.execute(
                'DELETE FROM dead_letters WHERE peer = ? AND topic_id = ? AND "offset" = ?',
                (peer, topic_id, offset),
            ).rowcount
            if not deleted:
                raise StoreError(f"{peer!r} has no dead letter for {event.dedupe_key}")
            if event.offset <= consumer_offset(db, peer, topic_id):
                # The pointer has passed it: only a mark can make it pending.
                db.execute(
                    f"INSERT INTO marks (peer, topic_id, \"offset\", state) VALUES (?, ?, ?, '{STATE_RETRY}')",
                    (peer, topic_id, offset),
                )
            else:
                # Above the pointer it is pending as soon as its 'nacked' mark goes.
                db.execute(
                    'DELETE FROM marks WHERE peer = ? AND topic_id = ? AND "offset" = ?', (peer, topic_id, offset)
                )
