"""The SQLite schema of the event store, its format version and the u64 encoding.

Kept apart from the store's logic so the DDL can be read (and rendered in
docs/store.md) on its own, and so that later format versions add migration
steps here without touching the query code.
"""

from __future__ import annotations

from typing import Final

from ..limits import MAX_U64

__all__ = [
    "APPLICATION_ID",
    "FORMAT_VERSION",
    "SCHEMA",
    "STATE_ACKED",
    "STATE_NACKED",
    "STATE_RETRY",
    "STATE_SUPERSEDED",
    "MIGRATIONS",
    "U64_ZERO",
    "MAX_INSTANCE_ID",
    "to_db",
    "from_db",
]

# Written to the SQLite header (PRAGMA application_id) so that opening some
# other application's database fails loudly instead of adding our tables to it.
APPLICATION_ID: Final = 0x53494E4B  # "SINK"

# PRAGMA user_version of a store created by this code. Bump it, and add a
# migration step from the previous version, whenever SCHEMA changes.
# 1: the first format. 2: delivery policies (the `policies` table,
# topics.trimmed_to for retention, the 'superseded' mark state, the peers'
# last-seen times in `subscribers`). 3: the protocol version each server
# accepts, as a version-1 client learnt it (`server_versions`, VER-3). 4: the last connection response
# that refused a handshake, per peer (`subscribers.refused_at` and the response, HS-17), for `sink status`.
# 5: the context bases a receiver keeps per peer (`context_bases`, `context_base_rows`, CTX-8, CTX-9).
FORMAT_VERSION: Final = 5

MAX_INSTANCE_ID: Final = 0xFFFF_FFFF  # HS-5/HS-7: instance ids are 32-bit on the wire

# VER-3: a version-1 client keeps, per server, the highest version that server accepted when it refused a
# higher one, and when; a restart then does not repeat the refused offer until the re-probe interval (VER-4).
SERVER_VERSIONS: Final = """CREATE TABLE server_versions (
    server     TEXT    PRIMARY KEY,
    version    INTEGER NOT NULL CHECK (version BETWEEN 0 AND 15),
    refused_at REAL    NOT NULL
)"""

# u64 encoding. SQLite INTEGER is signed 64-bit, the protocol's integers are
# unsigned 64-bit (PUB-1). We store v - 2**63: an order-preserving bijection
# from 0..2**64-1 onto -2**63..2**63-1. Unlike TEXT (wrong order: "10" < "9")
# or an 8-byte big-endian BLOB (ordered, but no arithmetic), the values stay
# native INTEGERs: indexes, range scans (offset > consumer offset), MAX() and
# differences (last_offset - consumer_offset = number of events between)
# work in SQL exactly as on the real values, in at most 8 bytes each. The
# price: raw values seen with the sqlite3 shell are shifted (offset 1 reads
# -9223372036854775807). Instance ids are 32-bit and stored unshifted.
_BIAS: Final = 1 << 63


def to_db(value: int) -> int:
    """A u64 as stored in SQLite."""
    if not 0 <= value <= MAX_U64:
        raise ValueError(f"{value} is not a u64")
    return value - _BIAS


def from_db(stored: int) -> int:
    """The u64 a stored INTEGER stands for."""
    return stored + _BIAS


U64_ZERO: Final = to_db(0)  # the consumer offset of a peer that has settled nothing in a topic

# States of a row in `marks`; see SCHEMA. Offsets above the consumer offset
# carry an answer (STATE_ACKED, STATE_NACKED), offsets at or below it
# STATE_RETRY (pending again) or STATE_SUPERSEDED (settled without being sent).
STATE_ACKED: Final = "acked"
STATE_NACKED: Final = "nacked"
STATE_RETRY: Final = "retry"
STATE_SUPERSEDED: Final = "superseded"

# CTX-8, CTX-9: the batches in mode context a receiver ACKed whole, per peer, by batch_id: the last
# `context_bases` it declared, each at least `context_lifetime` seconds. seq is the order accepted (a base
# replaced under the same batch_id gets a new one); accepted_at the caller's clock; digest the CTX-4 digest of
# the events, kept to check a loaded base. The events are its rows, in batch order.
CONTEXT_BASES: Final = """CREATE TABLE context_bases (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    peer           TEXT    NOT NULL,
    batch_id       INTEGER NOT NULL CHECK (batch_id BETWEEN 1 AND 4294967295),
    event_type_id  INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    digest         BLOB    NOT NULL,
    accepted_at    REAL    NOT NULL,
    UNIQUE (peer, batch_id)
)"""

CONTEXT_BASE_ROWS: Final = """CREATE TABLE context_base_rows (
    base       INTEGER NOT NULL REFERENCES context_bases (seq) ON DELETE CASCADE,
    "row"      INTEGER NOT NULL,
    key        BLOB    NOT NULL,
    "offset"   INTEGER NOT NULL,
    timestamp  INTEGER NOT NULL,
    event_data BLOB    NOT NULL,
    PRIMARY KEY (base, "row")
) WITHOUT ROWID"""

# Portable SQL (no STRICT tables): field gateways run Python builds with
# SQLite releases older than 3.37. Every u64 column holds to_db(value).
# "offset" is quoted everywhere because OFFSET is an SQL keyword; the
# column keeps the spec's field name.
SCHEMA: Final = f"""
-- The store's own identity (HS-5 client_instance_id / HS-7 server_instance_id).
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- One row per topic (event_type_id, key) this side produces; never deleted.
-- last_offset is the producer offset: the offset of the newest event (DELIV-3).
-- trimmed_to: the highest offset retention has deleted up to (NULL: none).
-- Events at or below it still in `events` are kept for a dead letter or a
-- retry; a new subscriber's pointer starts there.
CREATE TABLE topics (
    topic_id      INTEGER PRIMARY KEY,
    event_type_id INTEGER NOT NULL,
    key           BLOB    NOT NULL,
    last_offset   INTEGER NOT NULL,
    trimmed_to    INTEGER,
    UNIQUE (event_type_id, key)
);

-- The per-topic logs: every event this side produced, immutable (DELIV-4).
-- seq is the global append order (oldest unsent event, age-based policies).
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    topic_id       INTEGER NOT NULL REFERENCES topics (topic_id),
    "offset"       INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    timestamp      INTEGER NOT NULL,
    event_data     BLOB    NOT NULL,
    UNIQUE (topic_id, "offset")
);

-- Subscriptions: which peers receive which event types.
-- all_types = 1: every type; otherwise the types in subscription_types.
-- last_handshake_at, last_seen_at: the caller's clock (unix seconds) at the
-- peer's last completed handshake and last frame, for `sink status`.
-- refused_at, refusal, refusal_machine_message, refusal_human_message: the
-- last connection response that refused a handshake (its wire name and
-- messages, HS-17), kept for the operator; NULL: never refused.
CREATE TABLE subscribers (
    peer                    TEXT    PRIMARY KEY,
    all_types               INTEGER NOT NULL DEFAULT 0 CHECK (all_types IN (0, 1)),
    last_handshake_at       REAL,
    last_seen_at            REAL,
    refused_at              REAL,
    refusal                 TEXT,
    refusal_machine_message BLOB,
    refusal_human_message   BLOB
);

CREATE TABLE subscription_types (
    peer          TEXT    NOT NULL REFERENCES subscribers (peer),
    event_type_id INTEGER NOT NULL,
    PRIMARY KEY (peer, event_type_id)
) WITHOUT ROWID;

-- The subscription pointers: per peer and topic, the consumer offset.
-- Every event of the topic at or below it is settled for the peer
-- (ACKed or NACKed) except those with a 'retry' mark. No row = 0.
CREATE TABLE cursors (
    peer            TEXT    NOT NULL,
    topic_id        INTEGER NOT NULL REFERENCES topics (topic_id),
    consumer_offset INTEGER NOT NULL,
    PRIMARY KEY (peer, topic_id)
) WITHOUT ROWID;

-- What a pointer alone cannot say. Above the consumer offset: events
-- settled out of order (MSGID-10), state 'acked' or 'nacked'; they are
-- folded into the pointer once the gap below them closes. At or below it:
-- 'retry', an event an operator made pending again, or 'superseded', an
-- event of a latest-only topic settled unsent because a newer one was answered.
CREATE TABLE marks (
    peer     TEXT    NOT NULL,
    topic_id INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    state    TEXT    NOT NULL CHECK (state IN ('{STATE_ACKED}', '{STATE_NACKED}', '{STATE_RETRY}', '{STATE_SUPERSEDED}')),
    PRIMARY KEY (peer, topic_id, "offset"),
    FOREIGN KEY (topic_id, "offset") REFERENCES events (topic_id, "offset")
) WITHOUT ROWID;

-- NACKed events (DELIV-11) with the NACK's messages. The event stays in
-- `events`; this row is what keeps it from being sent again.
-- nacked_at is the caller's clock (unix seconds) or NULL.
CREATE TABLE dead_letters (
    peer            TEXT    NOT NULL,
    topic_id        INTEGER NOT NULL,
    "offset"        INTEGER NOT NULL,
    machine_message BLOB    NOT NULL,
    human_message   BLOB    NOT NULL,
    nacked_at       REAL,
    PRIMARY KEY (peer, topic_id, "offset"),
    FOREIGN KEY (topic_id, "offset") REFERENCES events (topic_id, "offset")
) WITHOUT ROWID;

-- Delivery policies per event type (docs/operations.md), replaced as a whole
-- by `sink policies apply`. event_type_id NULL: the default for the types
-- not listed. keep_last and keep_days are retention limits (NULL: none).
CREATE TABLE policies (
    event_type_id INTEGER UNIQUE,
    priority      INTEGER NOT NULL DEFAULT 0,
    transmission  TEXT    NOT NULL DEFAULT 'all' CHECK (transmission IN ('all', 'latest')),
    keep_last     INTEGER CHECK (keep_last >= 1),
    keep_days     REAL    CHECK (keep_days > 0)
);

-- Events peers published to us, deduplicated per peer on
-- (event_type_id, key, offset) (DELIV-2); seq is the arrival order.
CREATE TABLE received (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    peer           TEXT    NOT NULL,
    event_type_id  INTEGER NOT NULL,
    key            BLOB    NOT NULL,
    "offset"       INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    timestamp      INTEGER NOT NULL,
    event_data     BLOB    NOT NULL,
    UNIQUE (peer, event_type_id, key, "offset")
);

-- Handshake state. Server side: known_client_instance_id per client
-- identity (HS-9, HS-10). Client side: the server_instance_id received in
-- hello_new_client, per server (HS-13, HS-14).
CREATE TABLE known_clients (
    client      TEXT    PRIMARY KEY,
    instance_id INTEGER NOT NULL CHECK (instance_id BETWEEN 0 AND {MAX_INSTANCE_ID})
);

CREATE TABLE known_servers (
    server      TEXT    PRIMARY KEY,
    instance_id INTEGER NOT NULL CHECK (instance_id BETWEEN 0 AND {MAX_INSTANCE_ID})
);

{SERVER_VERSIONS};

{CONTEXT_BASES};

{CONTEXT_BASE_ROWS};
"""

# Steps from each older format to the next, run in order inside the
# transaction that opens the store, so a crash mid-migration leaves the old
# format intact. The result has the tables of SCHEMA (the test suite checks
# that a migrated store and a new one have the same columns and constraints).
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        "ALTER TABLE topics ADD COLUMN trimmed_to INTEGER",
        "ALTER TABLE subscribers ADD COLUMN last_handshake_at REAL",
        "ALTER TABLE subscribers ADD COLUMN last_seen_at REAL",
        # A CHECK constraint cannot be altered in SQLite: rebuild the table.
        f"""CREATE TABLE marks_v2 (
    peer     TEXT    NOT NULL,
    topic_id INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    state    TEXT    NOT NULL CHECK (state IN ('{STATE_ACKED}', '{STATE_NACKED}', '{STATE_RETRY}', '{STATE_SUPERSEDED}')),
    PRIMARY KEY (peer, topic_id, "offset"),
    FOREIGN KEY (topic_id, "offset") REFERENCES events (topic_id, "offset")
) WITHOUT ROWID""",
        'INSERT INTO marks_v2 (peer, topic_id, "offset", state) SELECT peer, topic_id, "offset", state FROM marks',
        "DROP TABLE marks",
        "ALTER TABLE marks_v2 RENAME TO marks",
        """CREATE TABLE policies (
    event_type_id INTEGER UNIQUE,
    priority      INTEGER NOT NULL DEFAULT 0,
    transmission  TEXT    NOT NULL DEFAULT 'all' CHECK (transmission IN ('all', 'latest')),
    keep_last     INTEGER CHECK (keep_last >= 1),
    keep_days     REAL    CHECK (keep_days > 0)
)""",
    ),
    2: (SERVER_VERSIONS,),
    3: (
        "ALTER TABLE subscribers ADD COLUMN refused_at REAL",
        "ALTER TABLE subscribers ADD COLUMN refusal TEXT",
        "ALTER TABLE subscribers ADD COLUMN refusal_machine_message BLOB",
        "ALTER TABLE subscribers ADD COLUMN refusal_human_message BLOB",
    ),
    4: (CONTEXT_BASES, CONTEXT_BASE_ROWS),
}
