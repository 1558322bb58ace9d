"""The store's SQLite file: opening (create, check, migrate), transactions, closing.

Every part of :class:`~sinkproto.store.EventStore` (``_log``, ``_outbox``,
...) is a mixin of :class:`_StoreBase` and touches the database only
through :meth:`_StoreBase._read` and :meth:`_StoreBase._write`, so the rules
below hold for every method:

- Durability. WAL journal with ``synchronous=FULL``: every method that
  changes state has committed and synced when it returns, so a SIGKILL, and
  a power loss too, loses nothing the caller was told about. NORMAL would
  survive SIGKILL but may lose the last commits on power loss, which is the
  normal failure mode of field gateways.
- Threads. One sqlite3 connection per EventStore, opened with
  ``check_same_thread=False`` and guarded by a lock: the asyncio layer may
  call from the event loop thread or offload a call with
  ``asyncio.to_thread``; calls are serialised, never interleaved.
- No randomness inside: the instance id comes from the caller's
  ``new_instance_id``, called once, when the file is created.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from ..errors import StoreError
from ._checks import check_instance_id
from ._schema import APPLICATION_ID, FORMAT_VERSION, MIGRATIONS, SCHEMA

__all__ = ["_StoreBase"]

# How long a call waits for another process (an operator command, `sink
# status`) holding the write lock before it fails with StoreError.
_BUSY_TIMEOUT_MS = 5000
# Bytes the -wal file is truncated to after a checkpoint.
_WAL_SIZE_LIMIT = 4 * 1024 * 1024


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


class _StoreBase:
    """One open store file: its connection, its lock and its instance id."""

    def __init__(self, connection: sqlite3.Connection, instance_id: int) -> None:
        # Use EventStore.open(); the constructor only wires an opened database.
        self._db: sqlite3.Connection | None = connection
        self._instance_id = instance_id
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str | Path, *, new_instance_id: Callable[[], int]) -> Self:
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
                instance_id = _StoreBase._create_or_check(db, path, new_instance_id)
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
            instance_id = check_instance_id("new_instance_id()", new_instance_id())
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
        return check_instance_id("the stored instance id", row[0])

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

    def __enter__(self) -> Self:
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
