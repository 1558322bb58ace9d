-- A format-1 event store (written by the code of commit 82c1ce0) for the migration test.
-- cloud: m-1 offsets 1 and 3 ACKed (3 out of order), relay 1 NACKed, relay 2 ACKed; audit: types {2}.
BEGIN TRANSACTION;
CREATE TABLE cursors (
    peer            TEXT    NOT NULL,
    topic_id        INTEGER NOT NULL REFERENCES topics (topic_id),
    consumer_offset INTEGER NOT NULL,
    PRIMARY KEY (peer, topic_id)
) WITHOUT ROWID;
INSERT INTO "cursors" VALUES('cloud',1,-9223372036854775807);
INSERT INTO "cursors" VALUES('cloud',2,-9223372036854775806);
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
INSERT INTO "dead_letters" VALUES('cloud',2,-9223372036854775807,X'452D534348454D41',X'626164',1700000100.0);
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    topic_id       INTEGER NOT NULL REFERENCES topics (topic_id),
    "offset"       INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    timestamp      INTEGER NOT NULL,
    event_data     BLOB    NOT NULL,
    UNIQUE (topic_id, "offset")
);
INSERT INTO "events" VALUES(1,1,-9223372036854775807,-9223372036854775807,-9223372035154775808,X'6430');
INSERT INTO "events" VALUES(2,1,-9223372036854775806,-9223372036854775807,-9223372035154775807,X'6431');
INSERT INTO "events" VALUES(3,1,-9223372036854775805,-9223372036854775807,-9223372035154775806,X'6432');
INSERT INTO "events" VALUES(4,2,-9223372036854775807,-9223372036854775807,-9223372035154775805,X'6433');
INSERT INTO "events" VALUES(5,2,-9223372036854775806,-9223372036854775807,-9223372035154775804,X'6434');
INSERT INTO "events" VALUES(6,3,-9223372036854775807,-9223372036854775807,-9223372035154775803,X'6435');
CREATE TABLE known_clients (
    client      TEXT    PRIMARY KEY,
    instance_id INTEGER NOT NULL CHECK (instance_id BETWEEN 0 AND 4294967295)
);
INSERT INTO "known_clients" VALUES('gw-1',77);
CREATE TABLE known_servers (
    server      TEXT    PRIMARY KEY,
    instance_id INTEGER NOT NULL CHECK (instance_id BETWEEN 0 AND 4294967295)
);
CREATE TABLE marks (
    peer     TEXT    NOT NULL,
    topic_id INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    state    TEXT    NOT NULL CHECK (state IN ('acked', 'nacked', 'retry')),
    PRIMARY KEY (peer, topic_id, "offset"),
    FOREIGN KEY (topic_id, "offset") REFERENCES events (topic_id, "offset")
) WITHOUT ROWID;
INSERT INTO "marks" VALUES('cloud',1,-9223372036854775805,'acked');
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO "meta" VALUES('instance_id',16909060);
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
INSERT INTO "received" VALUES(1,'cloud',-9223372036854775807,X'6D2D32',-9223372036854775807,-9223372036854775807,-9223372035154775803,X'6435');
CREATE TABLE subscribers (
    peer      TEXT    PRIMARY KEY,
    all_types INTEGER NOT NULL DEFAULT 0 CHECK (all_types IN (0, 1))
);
INSERT INTO "subscribers" VALUES('cloud',1);
INSERT INTO "subscribers" VALUES('audit',0);
CREATE TABLE subscription_types (
    peer          TEXT    NOT NULL REFERENCES subscribers (peer),
    event_type_id INTEGER NOT NULL,
    PRIMARY KEY (peer, event_type_id)
) WITHOUT ROWID;
INSERT INTO "subscription_types" VALUES('audit',-9223372036854775806);
CREATE TABLE topics (
    topic_id      INTEGER PRIMARY KEY,
    event_type_id INTEGER NOT NULL,
    key           BLOB    NOT NULL,
    last_offset   INTEGER NOT NULL,
    UNIQUE (event_type_id, key)
);
INSERT INTO "topics" VALUES(1,-9223372036854775807,X'6D2D31',-9223372036854775805);
INSERT INTO "topics" VALUES(2,-9223372036854775806,X'72656C6179',-9223372036854775806);
INSERT INTO "topics" VALUES(3,-9223372036854775807,X'6D2D32',-9223372036854775807);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('events',6);
INSERT INTO "sqlite_sequence" VALUES('received',1);
COMMIT;
