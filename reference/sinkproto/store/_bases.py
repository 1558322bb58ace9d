"""Context bases: the batches in mode context this side accepted from each peer (CTX-8, CTX-9).

A receiver that declared ``context_bases`` N keeps, per peer, the last N
batches in mode context it ACKed whole, each for at least
``context_lifetime`` seconds, durably: they survive a restart (DUR-1). The
caller writes a base after the batch's events are committed and before it
sends the ACK (a crash in between loses the base, never an event: the
sender never learns it was kept). ``load`` gives a new connection what it
may decode against; a base past the count or the lifetime is evicted.
"""

from __future__ import annotations

import sqlite3

from ..errors import StoreError
from ..messages import ContextBase, Event
from ._base import _StoreBase
from ._checks import check_peer
from ._schema import from_db, to_db

__all__ = ["_ContextBases"]


class _ContextBases(_StoreBase):
    """Receiving in mode context: :meth:`keep_base`, :meth:`context_bases`, :meth:`forget_bases`."""

    def keep_base(self, peer: str, base: ContextBase, *, accepted_at: float, keep: int, lifetime: float) -> None:
        """CTX-8, CTX-9: ``base`` is ``peer``'s under its batch_id (replacing one with that id); durable on return.

        Only the last ``keep`` bases of the peer, accepted less than
        ``lifetime`` seconds before ``accepted_at``, are kept.
        """
        check_peer(peer)
        if not isinstance(base, ContextBase):
            raise StoreError(f"keep_base needs a ContextBase, got {type(base).__name__}")
        first = base.events[0]
        with self._write() as db:
            db.execute("DELETE FROM context_bases WHERE peer = ? AND batch_id = ?", (peer, base.batch_id))
            seq = db.execute(
                """INSERT INTO context_bases (peer, batch_id, event_type_id, schema_version, digest, accepted_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (
                    peer,
                    base.batch_id,
                    to_db(first.event_type_id),
                    to_db(first.schema_version),
                    base.digest,
                    float(accepted_at),
                ),
            ).lastrowid
            db.executemany(
                """INSERT INTO context_base_rows (base, "row", key, "offset", timestamp, event_data)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                [
                    (seq, row, e.key, to_db(e.offset), to_db(e.timestamp), e.event_data)
                    for row, e in enumerate(base.events)
                ],
            )
            _evict(db, peer, keep=keep, oldest=accepted_at - lifetime)

    def context_bases(self, peer: str, *, now: float, keep: int, lifetime: float) -> dict[int, ContextBase]:
        """The bases kept for ``peer`` (batch_id -> base, oldest accepted first), past ones evicted first.

        A read, and a write only when there is something to evict: a server
        calls this for every connection it accepts.
        """
        check_peer(peer)
        with self._read() as db:
            heads = db.execute(
                """SELECT seq, batch_id, event_type_id, schema_version, digest, accepted_at FROM context_bases
                   WHERE peer = ? ORDER BY seq""",
                (peer,),
            ).fetchall()
            oldest = now - lifetime
            kept = [h for h in heads[max(len(heads) - max(keep, 0), 0) :] if h[5] >= oldest]
            bases: dict[int, ContextBase] = {}
            for seq, batch_id, event_type_id, schema_version, digest, _accepted_at in kept:
                rows = db.execute(
                    'SELECT key, "offset", timestamp, event_data FROM context_base_rows WHERE base = ? ORDER BY "row"',
                    (seq,),
                ).fetchall()
                events = tuple(
                    Event(
                        event_type_id=from_db(event_type_id),
                        key=bytes(key),
                        offset=from_db(offset),
                        schema_version=from_db(schema_version),
                        timestamp=from_db(timestamp),
                        event_data=bytes(data),
                    )
                    for key, offset, timestamp, data in rows
                )
                if not events:
                    continue
                base = ContextBase(batch_id=int(batch_id), events=events)
                if base.digest != bytes(digest):
                    raise StoreError(f"context base {batch_id} of {peer} is corrupt: its digest differs (CTX-4)")
                bases[base.batch_id] = base
        if len(kept) < len(heads):
            with self._write() as db:
                _evict(db, peer, keep=keep, oldest=oldest)
        return bases

    def forget_bases(self, peer: str) -> None:
        """Drop every base kept for ``peer`` (it named one we lack: CTX-5; CTX-9 allows losing them)."""
        check_peer(peer)
        with self._write() as db:
            _evict(db, peer, keep=0, oldest=float("inf"))


def _evict(db: sqlite3.Connection, peer: str, *, keep: int, oldest: float) -> None:
    """Delete ``peer``'s bases beyond the last ``keep`` and those accepted before ``oldest`` (rows cascade)."""
    db.execute(
        """DELETE FROM context_bases WHERE peer = :peer AND (
               accepted_at < :oldest
               OR seq NOT IN (SELECT seq FROM context_bases WHERE peer = :peer ORDER BY seq DESC LIMIT :keep))""",
        {"peer": peer, "keep": max(keep, 0), "oldest": oldest},
    )
