"""EventStore: the durable event log, subscriptions and handshake state of one peer.

Design (see docs/store.md):

- Per-topic logs. ``events`` holds every event this side produced; a topic's
  producer offset (``topics.last_offset``) and the new event commit in one
  transaction, so offsets run 1, 2, 3... per topic with no gap or reuse,
  across crashes (DELIV-3, DELIV-4).
- Subscriptions are pointers. For each peer and topic, ``cursors`` keeps a
  consumer offset; an event is *pending* for a peer when it lies above that
  pointer (and is not marked settled) or carries a 'retry' mark. There is no
  per-event outbox row to write: appending an event puts it in every
  subscriber's outbox at once, in the same transaction (the outbox pattern,
  the talk's design). ACKs and NACKs move the pointer.
- Durability. WAL journal with ``synchronous=FULL``: every method that
  changes state has committed and synced when it returns, so a SIGKILL, and
  a power loss too, loses nothing the caller was told about. NORMAL would
  survive SIGKILL but may lose the last commits on power loss, which is the
  normal failure mode of field gateways.
- Threads. One sqlite3 connection per EventStore, opened with
  ``check_same_thread=False`` and guarded by a lock: the asyncio layer may
  call from the event loop thread or offload a call with
  ``asyncio.to_thread``; calls are serialised, never interleaved.
- No clock, no randomness inside: the instance id comes from the caller's
  ``new_instance_id``, dead-letter times from ``nacked_at``, retention's
  "now" and the peers' last-seen times from the arguments.
- Delivery policies (priority, latest-only transmission, retention; see
  ``_policy``) live in the ``policies`` table and are read by every call that
  needs them, so a policy applied by another process (``sink policies
  apply``) takes effect at the running peer's next call.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..construct_codec import encode_event
from ..errors import EncodeError, StoreError
from ..limits import MAX_FRAME_SIZE, MAX_U64
from ..messages import Event
from ._policy import DeliveryPolicy, PolicySet
from ._retention import RetentionReport, apply_retention
from ._schema import (
    APPLICATION_ID,
    FORMAT_VERSION,
    MAX_INSTANCE_ID,
    MIGRATIONS,
    SCHEMA,
    STATE_ACKED,
    STATE_NACKED,
    STATE_RETRY,
    STATE_SUPERSEDED,
    U64_ZERO,
    from_db,
    to_db,
)
from ._sql import EVENT_COLUMNS, event_from_row, pending_sql, types_where
from ._status import StoreStatus, read_status

__all__ = ["EventStore", "DeadLetter"]

# A PUBLISH frame is a 2-byte header and the event payload (PUB-1), and a
# frame is at most MAX_FRAME_SIZE bytes (STREAM-2).
_PUBLISH_HEADER_SIZE = 2
# How long a call waits for another process (an operator command, `sink
# status`) holding the write lock before it fails with StoreError.
_BUSY_TIMEOUT_MS = 5000
# Bytes the -wal file is truncated to after a checkpoint.
_WAL_SIZE_LIMIT = 4 * 1024 * 1024



@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLetter:
    """An event ``peer`` NACKed (DELIV-11): not sent again until retried, never deleted."""

    peer: str
    event: Event
    machine_message: bytes
    human_message: bytes
    nacked_at: float | None = None


def _statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, split by SQLite's own tokenizer (comments may hold ';')."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    if buffer.strip():
        raise StoreError(f"incomplete SQL statement in the schema: {buffer!r}")


def _check_instance_id(what: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INSTANCE_ID:
        raise StoreError(f"{what} must be an int in 0..{MAX_INSTANCE_ID}, got {value!r}")
    return value


def _check_peer(peer: object) -> str:
    if not isinstance(peer, str) or not peer:
        raise StoreError(f"a peer is a non-empty str, got {peer!r}")
    return peer


class EventStore:
    """The durable state of one Sink peer, in one SQLite file.

    Open with :meth:`open`. All methods are synchronous and short (one
    transaction each); every method that changes state is durable when it
    returns. Misuse and database failures raise :class:`StoreError`.
    """

    def __init__(self, connection: sqlite3.Connection, instance_id: int) -> None:
        # Use EventStore.open(); the constructor only wires an opened database.
        self._db: sqlite3.Connection | None = connection
        self._instance_id = instance_id
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ life cycle

    @classmethod
    def open(cls, path: str | Path, *, new_instance_id: Callable[[], int]) -> EventStore:
        """Open the store at ``path``, creating it (and its instance id) if the file is new.

        ``new_instance_id`` is called exactly once, when the store is created
        (HS-5, HS-7); it should return a random u32 (HS-6). ``":memory:"``
        gives a store that is not durable, for unit tests of other layers.
        """
        try:
            # isolation_level=None: the sqlite3 module must not open
            # transactions behind our back; every write is an explicit
            # BEGIN IMMEDIATE ... COMMIT.
            db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open event store {path}: {exc}") from exc
        try:
            instance_id = cls._prepare(db, str(path), new_instance_id)
        except BaseException:
            db.close()
            raise
        return cls(db, instance_id)

    @staticmethod
    def _prepare(db: sqlite3.Connection, path: str, new_instance_id: Callable[[], int]) -> int:
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            # Reading the header first turns "file is not a database" into a
            # StoreError before we try to change anything.
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            if application_id not in (0, APPLICATION_ID):
                raise StoreError(f"{path} is not a Sink event store (application_id {application_id:#x})")
            # WAL: readers (an operator's `sink status`) never block the
            # writer, and a commit is one sequential append to the log.
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal" and path != ":memory:":
                raise StoreError(f"{path}: cannot enable WAL journal mode (got {mode!r})")
            db.execute("PRAGMA synchronous = FULL")  # see the module docstring
            # A checkpoint leaves the -wal file at its largest size unless told
            # otherwise; with retention the database is meant to stay bounded,
            # and so should its log.
            db.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("BEGIN IMMEDIATE")
            try:
                instance_id = EventStore._create_or_check(db, path, new_instance_id)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return instance_id
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: {exc}") from exc

    @staticmethod
    def _create_or_check(db: sqlite3.Connection, path: str, new_instance_id: Callable[[], int]) -> int:
        # Inside BEGIN IMMEDIATE, so two processes creating the same file at
        # once cannot both create the schema (or draw two instance ids).
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if application_id == 0:
            if db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise StoreError(f"{path} is a database of another application, not a Sink event store")
            instance_id = _check_instance_id("new_instance_id()", new_instance_id())
            # Not executescript(): it COMMITs first, and the schema, the
            # instance id and the header must appear in one transaction.
            for statement in _statements(SCHEMA):
                db.execute(statement)
            db.execute("INSERT INTO meta (name, value) VALUES ('instance_id', ?)", (instance_id,))
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            return instance_id
        if not 1 <= version <= FORMAT_VERSION:
            raise StoreError(f"{path} has store format {version}; this code reads formats 1 to {FORMAT_VERSION}")
        # Older formats are upgraded in this transaction: all steps or none.
        for step in range(version, FORMAT_VERSION):
            for statement in MIGRATIONS[step]:
                db.execute(statement)
        if version != FORMAT_VERSION:
            db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        row = db.execute("SELECT value FROM meta WHERE name = 'instance_id'").fetchone()
        if row is None:
            raise StoreError(f"{path} is corrupt: it has no instance id")
        return _check_instance_id("the stored instance id", row[0])

    @property
    def instance_id(self) -> int:
        """This store's instance id: client_instance_id (HS-5) or server_instance_id (HS-7)."""
        return self._instance_id

    def close(self) -> None:
        """Close the database; idempotent. Everything was already committed."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot even while another process writes."""
        with self._lock:
            db = self._connection()
            try:
                db.execute("BEGIN")
                try:
                    yield db
                finally:
                    # Ends the snapshot; nothing was written, so COMMIT and
                    # ROLLBACK are the same here.
                    if db.in_transaction:
                        db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"event store read failed: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed (and synced) when the block ends."""
        with self._lock:
            db = self._connection()
            try:
                # IMMEDIATE takes the write lock up front, so a concurrent
                # writer makes us wait (busy_timeout) instead of failing on
                # the first write inside the transaction.
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    # Also after a failed COMMIT (disk full, I/O error): the
                    # connection must not stay inside a half-done transaction.
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"event store write failed: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the event store is closed")
        return self._db

    # ------------------------------------------------------------------ producing

    def append(self, *, event_type_id: int, key: bytes, schema_version: int, timestamp: int, event_data: bytes) -> Event:
        """Add an event to its topic's log with the next offset (DELIV-3) and return it.

        The event is pending for every peer subscribed to its type as soon as
        this returns. Raises StoreError for values that cannot be stored or
        for an event too large for a PUBLISH frame (it could never be sent).
        """
        with self._write() as db:
            row = db.execute(
                "SELECT topic_id, last_offset FROM topics WHERE event_type_id = ? AND key = ?",
                (self._u64("event_type_id", event_type_id), key),
            ).fetchone()
            offset = 1 if row is None else from_db(row[1]) + 1
            if offset > MAX_U64:
                raise StoreError(f"topic ({event_type_id}, {key!r}) has used every offset up to {MAX_U64}")
            event = self._new_event(event_type_id, key, offset, schema_version, timestamp, event_data)
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

    @staticmethod
    def _new_event(event_type_id: int, key: bytes, offset: int, schema_version: int, timestamp: int, event_data: bytes) -> Event:
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

    @staticmethod
    def _u64(name: str, value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_U64:
            raise StoreError(f"{name} must be an int in 0..{MAX_U64}, got {value!r}")
        return to_db(value)

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, peer: str, *, event_type_ids: Iterable[int] | None = None) -> None:
        """Let ``peer`` receive events of these types (None: all types); idempotent and additive.

        A new subscription starts at the beginning of each topic: every event
        already in the log is pending for the peer.
        """
        _check_peer(peer)
        types = None if event_type_ids is None else sorted({self._u64("event_type_id", t) for t in event_type_ids})
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
            condition = self._type_filter(db, peer)
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

    @staticmethod
    def _type_filter(db: sqlite3.Connection, peer: str) -> str | None:
        """SQL condition on ``t.event_type_id`` for peer's subscription; None if not subscribed."""
        row = db.execute("SELECT all_types FROM subscribers WHERE peer = ?", (peer,)).fetchone()
        if row is None:
            return None
        if row[0]:
            return "1"
        return "t.event_type_id IN (SELECT event_type_id FROM subscription_types WHERE peer = :peer)"

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
        _check_peer(peer)
        if limit is not None and limit <= 0:
            return []
        skip = set(exclude)
        found: list[Event] = []
        with self._read() as db:
            condition = self._type_filter(db, peer)
            if condition is None:
                return []
            policies = self._read_policies(db)
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
        _check_peer(peer)
        with self._read() as db:
            condition = self._type_filter(db, peer)
            if condition is None:
                return 0
            latest = types_where(self._read_policies(db), lambda p: p.transmission == "latest")
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

    # ------------------------------------------------------------------ policies

    def set_policies(self, policies: PolicySet) -> None:
        """Replace the delivery policies (docs/operations.md) in one transaction.

        They take effect at the next call of every process using this file.
        Superseded marks and deleted events stay as they are: a policy
        change is not retroactive.
        """
        if not isinstance(policies, PolicySet):
            raise StoreError(f"set_policies needs a PolicySet, got {type(policies).__name__}")
        rows = [(None, policies.default)] + [(to_db(t), p) for t, p in policies.by_type.items()]
        with self._write() as db:
            db.execute("DELETE FROM policies")
            db.executemany(
                "INSERT INTO policies (event_type_id, priority, transmission, keep_last, keep_days) VALUES (?, ?, ?, ?, ?)",
                [(t, p.priority, p.transmission, p.keep_last, p.keep_days) for t, p in rows],
            )

    def policies(self) -> PolicySet:
        """The delivery policies in effect (all defaults for a store that never had any set)."""
        with self._read() as db:
            return self._read_policies(db)

    @staticmethod
    def _read_policies(db: sqlite3.Connection) -> PolicySet:
        default = DeliveryPolicy()
        by_type: dict[int, DeliveryPolicy] = {}
        rows = db.execute("SELECT event_type_id, priority, transmission, keep_last, keep_days FROM policies")
        for event_type_id, priority, transmission, keep_last, keep_days in rows:
            policy = DeliveryPolicy(priority=priority, transmission=transmission, keep_last=keep_last, keep_days=keep_days)
            if event_type_id is None:
                default = policy
            else:
                by_type[from_db(event_type_id)] = policy
        return PolicySet(default=default, by_type=by_type)

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
            return apply_retention(db, self._read_policies(db), now)

    # ------------------------------------------------------------------ status

    def record_seen(self, peer: str, at: float, *, handshake: bool = False) -> None:
        """Record that ``peer`` was heard from at ``at`` (the caller's clock, unix seconds).

        ``handshake=True``: ``at`` is also the peer's last completed
        handshake. The peers layer calls this on handshakes and, throttled,
        on frames; ``sink status`` shows the times.
        """
        _check_peer(peer)
        if not isinstance(at, (int, float)) or isinstance(at, bool):
            raise StoreError(f"at must be unix seconds, got {at!r}")
        with self._write() as db:
            db.execute("INSERT INTO subscribers (peer) VALUES (?) ON CONFLICT (peer) DO NOTHING", (peer,))
            db.execute(
                """UPDATE subscribers SET
                       last_seen_at = max(coalesce(last_seen_at, :at), :at),
                       last_handshake_at = CASE WHEN :handshake THEN :at ELSE last_handshake_at END
                   WHERE peer = :peer""",
                {"peer": peer, "at": float(at), "handshake": handshake},
            )

    def record_refusal(self, peer: str, at: float, *, response: str, machine_message: bytes = b"",
                       human_message: bytes = b"") -> None:
        """Record that ``peer`` refused a handshake at ``at`` with ``response`` (a wire name, HS-17).

        Only the last refusal per peer is kept; ``sink status`` shows it
        while it is newer than the last completed handshake.
        """
        _check_peer(peer)
        if not isinstance(at, (int, float)) or isinstance(at, bool):
            raise StoreError(f"at must be unix seconds, got {at!r}")
        if not isinstance(response, str) or not response:
            raise StoreError(f"response must be a non-empty wire name, got {response!r}")
        with self._write() as db:
            db.execute("INSERT INTO subscribers (peer) VALUES (?) ON CONFLICT (peer) DO NOTHING", (peer,))
            db.execute(
                """UPDATE subscribers SET refused_at = :at, refusal = :response, refusal_machine_message = :machine,
                       refusal_human_message = :human WHERE peer = :peer""",
                {"peer": peer, "at": float(at), "response": response, "machine": bytes(machine_message),
                 "human": bytes(human_message)},
            )

    def status(self, peer: str | None = None) -> StoreStatus:
        """The subscription state, per peer and event type (``peer``: only that one), for ``sink status``.

        One read transaction: a consistent snapshot, also while the peer
        that owns the file is running. It reads every pending event, so it
        is meant for operators, not for a hot path (use :meth:`lag`).
        """
        if peer is not None:
            _check_peer(peer)
        with self._read() as db:
            policies = self._read_policies(db)
            return read_status(
                db,
                instance_id=self._instance_id,
                policies=policies,
                only_peer=peer,
                type_filter=self._type_filter,
                pending_sql=lambda where: pending_sql(
                    where, types_where(policies, lambda p: p.transmission == "latest"), "t.event_type_id, e.seq"),
            )

    # ------------------------------------------------------------------ answers

    def mark_acked(self, peer: str, event: Event) -> None:
        """Record ``peer``'s ACK of ``event``: it is delivered and never pending again.

        Idempotent; ACKs may come in any order within a topic (MSGID-10). An
        ACK is the peer's last word on the event: it also clears a dead
        letter for it.
        """
        self.mark_acked_many(peer, (event,))

    def mark_acked_many(self, peer: str, events: Iterable[Event]) -> None:
        """:meth:`mark_acked` for several events in one transaction (one sync instead of many)."""
        _check_peer(peer)
        with self._write() as db:
            for event in events:
                topic_id = self._topic_of(db, event)
                self._settle(db, peer, topic_id, event.offset, STATE_ACKED)
                db.execute(
                    'DELETE FROM dead_letters WHERE peer = ? AND topic_id = ? AND "offset" = ?',
                    (peer, topic_id, to_db(event.offset)),
                )

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
        _check_peer(peer)
        if not isinstance(machine_message, bytes) or not isinstance(human_message, bytes):
            raise StoreError("machine_message and human_message must be bytes")
        with self._write() as db:
            topic_id = self._topic_of(db, event)
            self._settle(db, peer, topic_id, event.offset, STATE_NACKED)
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
        _check_peer(peer)
        with self._write() as db:
            topic_id = self._topic_of(db, event)
            offset = to_db(event.offset)
            deleted = db.execute(
                'DELETE FROM dead_letters WHERE peer = ? AND topic_id = ? AND "offset" = ?',
                (peer, topic_id, offset),
            ).rowcount
            if not deleted:
                raise StoreError(f"{peer!r} has no dead letter for {event.dedupe_key}")
            if event.offset <= self._consumer_offset(db, peer, topic_id):
                # The pointer has passed it: only a mark can make it pending.
                db.execute(
                    f'INSERT INTO marks (peer, topic_id, "offset", state) VALUES (?, ?, ?, \'{STATE_RETRY}\')',
                    (peer, topic_id, offset),
                )
            else:
                # Above the pointer it is pending as soon as its 'nacked' mark goes.
                db.execute('DELETE FROM marks WHERE peer = ? AND topic_id = ? AND "offset" = ?', (peer, topic_id, offset))

    def _topic_of(self, db: sqlite3.Connection, event: Event) -> int:
        """The topic_id of an event of our own log; StoreError if we never appended it."""
        row = db.execute(
            """SELECT t.topic_id FROM topics t JOIN events e ON e.topic_id = t.topic_id
               WHERE t.event_type_id = ? AND t.key = ? AND e."offset" = ?""",
            (to_db(event.event_type_id), event.key, to_db(event.offset)),
        ).fetchone()
        if row is None:
            raise StoreError(f"event {event.dedupe_key} is not in this store's log")
        return int(row[0])

    def _is_latest_only(self, db: sqlite3.Connection, topic_id: int) -> bool:
        event_type_id = db.execute("SELECT event_type_id FROM topics WHERE topic_id = ?", (topic_id,)).fetchone()[0]
        return self._read_policies(db).for_type(from_db(event_type_id)).transmission == "latest"

    @staticmethod
    def _consumer_offset(db: sqlite3.Connection, peer: str, topic_id: int) -> int:
        row = db.execute("SELECT consumer_offset FROM cursors WHERE peer = ? AND topic_id = ?", (peer, topic_id)).fetchone()
        return 0 if row is None else from_db(row[0])

    def _settle(self, db: sqlite3.Connection, peer: str, topic_id: int, offset: int, state: str) -> None:
        """Record that ``peer`` answered the event at ``offset``; advance the pointer over what is contiguous."""
        pointer = self._consumer_offset(db, peer, topic_id)
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
        if self._is_latest_only(db, topic_id):
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

    # ------------------------------------------------------------------ receiving

    def store_received(self, peer: str, event: Event) -> bool:
        """Store an event ``peer`` published to us; False if it is a duplicate (DELIV-2).

        Durable when it returns, so the caller may ACK then, and only then
        (MSGID-9), whether it returned True or False. A duplicate is
        recognised by (event_type_id, key, offset) from the same peer; its
        content is not compared (DELIV-4 makes it the same event).
        """
        _check_peer(peer)
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

    # ------------------------------------------------------------------ handshake state

    def known_client_instance_id(self, client: str) -> int | None:
        """Server side: the client_instance_id recorded for ``client`` (HS-9), or None."""
        return self._get_instance_id("known_clients", "client", client)

    def set_known_client_instance_id(self, client: str, instance_id: int) -> None:
        """Server side: record ``client``'s instance id; durable on return, before hello_new_client is sent (HS-10)."""
        self._set_instance_id("known_clients", "client", client, instance_id)

    def server_instance_id_for(self, server: str) -> int | None:
        """Client side: the server_instance_id to send to ``server`` (HS-14), or None."""
        return self._get_instance_id("known_servers", "server", server)

    def set_server_instance_id_for(self, server: str, instance_id: int) -> None:
        """Client side: record the id from hello_new_client; durable on return, before any PUBLISH (HS-13)."""
        self._set_instance_id("known_servers", "server", server, instance_id)

    def remembered_versions(self) -> dict[str, tuple[int, float]]:
        """Client side: per server, the protocol version it accepted after refusing a higher one, and when (VER-3)."""
        with self._read() as db:
            return {row[0]: (int(row[1]), float(row[2])) for row in db.execute(
                "SELECT server, version, refused_at FROM server_versions ORDER BY server")}

    def remember_version(self, server: str, version: int, refused_at: float) -> None:
        """Client side: ``server`` refused the version above ``version`` at ``refused_at``; durable on return (VER-2, VER-3)."""
        _check_peer(server)
        if not 0 <= version <= 15:
            raise StoreError(f"protocol version {version} is not in 0..15")
        with self._write() as db:
            db.execute("""INSERT INTO server_versions (server, version, refused_at) VALUES (?, ?, ?)
                          ON CONFLICT (server) DO UPDATE SET version = excluded.version, refused_at = excluded.refused_at""",
                       (server, version, float(refused_at)))

    def forget_version(self, server: str) -> None:
        """Client side: offer ``server`` the highest version again (VER-4: its configuration changed)."""
        _check_peer(server)
        with self._write() as db:
            db.execute("DELETE FROM server_versions WHERE server = ?", (server,))

    def _get_instance_id(self, table: str, column: str, name: str) -> int | None:
        _check_peer(name)
        with self._read() as db:
            row = db.execute(f"SELECT instance_id FROM {table} WHERE {column} = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def _set_instance_id(self, table: str, column: str, name: str, instance_id: int) -> None:
        _check_peer(name)
        _check_instance_id("instance_id", instance_id)
        with self._write() as db:
            db.execute(
                f"""INSERT INTO {table} ({column}, instance_id) VALUES (?, ?)
                    ON CONFLICT ({column}) DO UPDATE SET instance_id = excluded.instance_id""",
                (name, instance_id),
            )
