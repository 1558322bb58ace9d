"""The durable event store: offsets, subscriptions, ACK/NACK/dead letters, dedupe, handshake state, crashes."""

from __future__ import annotations

import itertools
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sinkproto import Event, SinkError, StoreError
from sinkproto.limits import MAX_FRAME_SIZE, MAX_U64
from sinkproto.store import DeadLetter, EventStore
from sinkproto.store._schema import SCHEMA, to_db
from sinktest import ROOT, covers

PEER = "server-a"


def ids(*values: int) -> Callable[[], int]:
    """A new_instance_id that hands out ``values`` in turn and fails when they run out."""
    it = iter(values)
    return lambda: next(it)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(path: Path) -> Iterator[EventStore]:
    with EventStore.open(path, new_instance_id=ids(7)) as opened:
        yield opened


def append(
    store: EventStore,
    event_type_id: int = 1,
    key: bytes = b"meter-1",
    *,
    timestamp: int = 1_700_000_000,
    data: bytes = b"x",
) -> Event:
    return store.append(event_type_id=event_type_id, key=key, schema_version=1, timestamp=timestamp, event_data=data)


def received_event(offset: int, key: bytes = b"relay-1", data: bytes = b"on") -> Event:
    return Event(event_type_id=9, schema_version=2, key=key, offset=offset, timestamp=1_700_000_000, event_data=data)


# ---------------------------------------------------------------- producing


def test_the_docs_show_the_schema_the_code_creates() -> None:
    page = (ROOT / "docs" / "store.md").read_text(encoding="utf-8")
    assert f"```sql\n{SCHEMA.strip()}\n```" in page


@covers("DELIV-3")
def test_offsets_start_at_1_and_count_per_topic(store: EventStore) -> None:
    topics = [(1, b"a"), (1, b"b"), (2, b"a"), (1, b"a"), (2, b"a"), (1, b"a"), (1, b"")]
    offsets = [append(store, t, k).offset for t, k in topics]
    assert offsets == [1, 1, 1, 2, 2, 3, 1]


def test_append_returns_the_stored_event(store: EventStore) -> None:
    event = store.append(event_type_id=3, key=b"k", schema_version=4, timestamp=5, event_data=b"\x00data")
    assert event == Event(event_type_id=3, schema_version=4, key=b"k", offset=1, timestamp=5, event_data=b"\x00data")
    store.subscribe(PEER)
    assert store.pending(PEER) == [event]


@covers("HS-5", "HS-7")
def test_instance_id_is_drawn_once_and_persisted(path: Path) -> None:
    calls: list[int] = []

    def draw() -> int:
        calls.append(1)
        return 0xDEADBEEF

    with EventStore.open(path, new_instance_id=draw) as store:
        assert store.instance_id == 0xDEADBEEF
    with EventStore.open(path, new_instance_id=draw) as store:
        assert store.instance_id == 0xDEADBEEF
    assert len(calls) == 1


@covers("DELIV-1", "DELIV-3", "DELIV-4", "DELIV-11")
def test_everything_survives_close_and_reopen(path: Path) -> None:
    with EventStore.open(path, new_instance_id=ids(11)) as store:
        store.subscribe(PEER)
        a1, a2, a3 = (append(store, key=b"a", timestamp=t) for t in (1, 2, 3))
        b1 = append(store, key=b"b")
        store.mark_acked(PEER, a1)
        store.mark_acked(PEER, a3)  # out of order: a2 still pending
        store.mark_nacked(PEER, b1, machine_message=b"422", human_message=b"bad", nacked_at=1_700_000_100)
        assert store.store_received(PEER, received_event(1))
        store.set_server_instance_id_for(PEER, 99)
    with EventStore.open(path, new_instance_id=ids()) as store:
        assert store.instance_id == 11
        assert store.pending(PEER) == [a2]
        assert store.lag(PEER) == 1
        assert store.dead_letters() == [
            DeadLetter(peer=PEER, event=b1, machine_message=b"422", human_message=b"bad", nacked_at=1_700_000_100)
        ]
        assert store.received() == [(PEER, received_event(1))]
        assert not store.store_received(PEER, received_event(1))
        assert store.server_instance_id_for(PEER) == 99
        # The producer offset survived: no offset is assigned twice (DELIV-4).
        assert append(store, key=b"a").offset == 4
        assert append(store, key=b"b").offset == 2


def test_store_is_sqlite_in_wal_mode_with_full_sync(path: Path, store: EventStore) -> None:
    assert store._db is not None
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("PRAGMA application_id").fetchone()[0] == 0x53494E4B


# ---------------------------------------------------------------- subscriptions and pending


def test_pending_is_in_topic_then_offset_order_whatever_the_append_order(store: EventStore) -> None:
    rng = random.Random(5)
    topics = [(t, k) for t in (2, 1, 300) for k in (b"b", b"a", b"ab", b"")]
    appended = [append(store, *rng.choice(topics)) for _ in range(60)]
    store.subscribe(PEER)
    expected = sorted(appended, key=lambda e: (e.event_type_id, e.key, e.offset))
    assert store.pending(PEER) == expected
    assert store.pending(PEER, limit=7) == expected[:7]
    assert store.pending(PEER, limit=0) == []
    assert store.lag(PEER) == 60
    in_flight = {e.dedupe_key for e in expected[:5]}
    assert store.pending(PEER, limit=3, exclude=in_flight) == expected[5:8]


def test_subscriptions_filter_types_are_additive_and_idempotent(store: EventStore) -> None:
    e1, e2, e3 = append(store, 1), append(store, 2), append(store, 3)
    assert store.pending("nobody") == [] and store.lag("nobody") == 0
    store.subscribe("c1", event_type_ids=[1])
    store.subscribe("c1", event_type_ids=[3, 1])
    store.subscribe("c2", event_type_ids=[])
    store.subscribe("c3")
    store.subscribe("c3", event_type_ids=[2])  # all types stays all types
    assert store.pending("c1") == [e1, e3]
    assert store.pending("c2") == []
    assert store.pending("c3") == [e1, e2, e3]
    assert store.subscriptions() == {"c1": frozenset({1, 3}), "c2": frozenset(), "c3": None}
    e4 = append(store, 3, b"other")  # new topics are covered as they appear
    assert store.pending("c1") == [e1, e3, e4]
    assert store.lag("c1") == 3


def test_a_new_subscriber_gets_the_whole_log(store: EventStore) -> None:
    events = [append(store) for _ in range(3)]
    store.subscribe("early")
    store.mark_acked("early", events[0])
    store.subscribe("late")
    assert store.pending("late") == events
    assert store.pending("early") == events[1:]


# ---------------------------------------------------------------- ACK, NACK, dead letters


@covers("DELIV-1")
def test_ack_removes_from_pending_for_that_peer_only_and_is_idempotent(store: EventStore) -> None:
    store.subscribe("c1")
    store.subscribe("c2")
    e1, e2 = append(store), append(store)
    store.mark_acked("c1", e1)
    store.mark_acked("c1", e1)
    assert store.pending("c1") == [e2]
    assert store.pending("c2") == [e1, e2]
    assert (store.lag("c1"), store.lag("c2")) == (1, 2)


@covers("MSGID-10")
def test_out_of_order_acks_within_a_topic(store: EventStore) -> None:
    store.subscribe(PEER)
    events = [append(store) for _ in range(6)]
    for index, still_pending in [
        (2, [0, 1, 3, 4, 5]),
        (0, [1, 3, 4, 5]),
        (4, [1, 3, 5]),
        (1, [3, 5]),  # the pointer jumps over the already-ACKed 3rd event
        (5, [3]),
        (3, []),
    ]:
        store.mark_acked(PEER, events[index])
        assert store.pending(PEER) == [events[i] for i in still_pending]
        assert store.lag(PEER) == len(still_pending)
    assert store._db is not None
    # Everything folded into the pointer: no marks left behind.
    assert store._db.execute("SELECT count(*) FROM marks").fetchone()[0] == 0
    assert store._db.execute("SELECT consumer_offset FROM cursors").fetchall() == [(to_db(6),)]


def test_mark_acked_many_is_one_call(store: EventStore) -> None:
    store.subscribe(PEER)
    events = [append(store, key=bytes([i % 3])) for i in range(9)]
    store.mark_acked_many(PEER, reversed(events[:8]))
    assert store.pending(PEER) == [events[8]]


@covers("DELIV-11")
def test_a_nacked_event_becomes_a_dead_letter_and_is_not_pending(store: EventStore) -> None:
    store.subscribe(PEER)
    e1, e2, e3 = append(store), append(store), append(store)
    store.mark_nacked(PEER, e2, machine_message=b"schema", human_message=b"unknown field")
    assert store.pending(PEER) == [e1, e3]
    store.mark_acked(PEER, e1)
    store.mark_nacked(
        PEER, e2, machine_message=b"schema", human_message=b"again", nacked_at=12.5
    )  # idempotent, latest wins
    assert store.pending(PEER) == [e3]
    assert store.dead_letters(PEER) == [
        DeadLetter(peer=PEER, event=e2, machine_message=b"schema", human_message=b"again", nacked_at=12.5)
    ]
    assert store.dead_letters("someone else") == []
    # An ACK is the peer's last word on the event.
    store.mark_acked(PEER, e2)
    assert store.dead_letters() == []
    assert store.pending(PEER) == [e3]


def test_retry_makes_a_dead_letter_pending_again_below_and_above_the_pointer(store: EventStore) -> None:
    store.subscribe(PEER)
    e1, e2, e3, e4 = (append(store) for _ in range(4))
    store.mark_nacked(PEER, e1, machine_message=b"1", human_message=b"")  # the pointer passes it
    store.mark_nacked(PEER, e3, machine_message=b"3", human_message=b"")  # above the pointer (e2 open)
    assert store.pending(PEER) == [e2, e4]
    store.retry_dead_letter(PEER, e1)
    store.retry_dead_letter(PEER, e3)
    assert store.pending(PEER) == [e1, e2, e3, e4]
    assert store.lag(PEER) == 4
    assert store.dead_letters() == []
    with pytest.raises(StoreError, match="no dead letter"):
        store.retry_dead_letter(PEER, e1)
    store.mark_acked(PEER, e1)
    store.mark_nacked(PEER, e3, machine_message=b"3", human_message=b"still")
    store.mark_acked_many(PEER, [e2, e4])
    assert store.pending(PEER) == []
    assert [d.event for d in store.dead_letters()] == [e3]


def test_answers_for_events_not_in_the_log_are_refused(store: EventStore) -> None:
    store.subscribe(PEER)
    append(store)
    stranger = Event(event_type_id=1, schema_version=1, key=b"meter-1", offset=2, timestamp=1, event_data=b"")
    with pytest.raises(StoreError, match="not in this store's log"):
        store.mark_acked(PEER, stranger)
    with pytest.raises(StoreError):
        store.mark_nacked(PEER, stranger, machine_message=b"", human_message=b"")
    assert store.lag(PEER) == 1


# Model-based: any sequence of answers and retries leaves pending(), lag() and
# dead_letters() exactly as a plain per-event state table says.
_OPS = st.lists(
    st.tuples(st.sampled_from(["ack", "nack", "retry"]), st.sampled_from(["c1", "c2"]), st.integers(0, 11)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=_OPS, seed=st.integers(0, 1000))
def test_answers_match_a_per_event_model(ops: list[tuple[str, str, int]], seed: int) -> None:
    rng = random.Random(seed)
    with EventStore.open(":memory:", new_instance_id=ids(1)) as store:
        events = [append(store, rng.choice([1, 2]), rng.choice([b"a", b"b"])) for _ in range(12)]
        store.subscribe("c1")
        store.subscribe("c2", event_type_ids=[1])
        state = {(peer, e.dedupe_key): "pending" for peer in ("c1", "c2") for e in events}
        for op, peer, index in ops:
            event = events[index]
            key = (peer, event.dedupe_key)
            if op == "ack":
                store.mark_acked(peer, event)
                state[key] = "acked"
            elif op == "nack":
                store.mark_nacked(peer, event, machine_message=b"m", human_message=b"h")
                state[key] = "dead"
            elif state[key] == "dead":
                store.retry_dead_letter(peer, event)
                state[key] = "pending"
            else:
                with pytest.raises(StoreError):
                    store.retry_dead_letter(peer, event)
            for p, types in (("c1", {1, 2}), ("c2", {1})):
                expected = sorted(
                    (e for e in events if e.event_type_id in types and state[(p, e.dedupe_key)] == "pending"),
                    key=lambda e: e.dedupe_key,
                )
                assert store.pending(p) == expected
                assert store.lag(p) == len(expected)
            assert {(d.peer, d.event.dedupe_key) for d in store.dead_letters()} == {
                k for k, s in state.items() if s == "dead"
            }


# ---------------------------------------------------------------- receiving


@covers("DELIV-2", "MSGID-9")
def test_store_received_dedupes_per_peer_and_is_durable_on_return(path: Path) -> None:
    with EventStore.open(path, new_instance_id=ids(1)) as store:
        assert store.store_received("c1", received_event(1)) is True
        assert store.store_received("c1", received_event(1)) is False
        # Same (event_type_id, key, offset), other bytes: still a duplicate, the first one stays.
        assert store.store_received("c1", received_event(1, data=b"off")) is False
        assert store.store_received("c2", received_event(1)) is True  # dedupe is per peer
        assert store.store_received("c1", received_event(1, key=b"relay-2")) is True
    # No close(): a second connection sees everything each call committed.
    with EventStore.open(path, new_instance_id=ids()) as other:
        assert other.received("c1") == [("c1", received_event(1)), ("c1", received_event(1, key=b"relay-2"))]
        assert other.received() == [
            ("c1", received_event(1)),
            ("c2", received_event(1)),
            ("c1", received_event(1, key=b"relay-2")),
        ]


@covers("DELIV-6")
def test_store_received_accepts_gaps_and_any_order(store: EventStore) -> None:
    for offset in (5, 2, 9, 1):
        assert store.store_received("c1", received_event(offset))
    assert [e.offset for _, e in store.received("c1")] == [5, 2, 9, 1]  # arrival order


# ---------------------------------------------------------------- handshake state


@covers("HS-10")
def test_known_client_instance_id_is_durable(path: Path) -> None:
    with EventStore.open(path, new_instance_id=ids(1)) as store:
        assert store.known_client_instance_id("meter-gw-1") is None
        store.set_known_client_instance_id("meter-gw-1", 0)
        store.set_known_client_instance_id("meter-gw-2", 0xFFFF_FFFF)
        with EventStore.open(path, new_instance_id=ids()) as other:
            assert other.known_client_instance_id("meter-gw-1") == 0
        store.set_known_client_instance_id("meter-gw-1", 5)
    with EventStore.open(path, new_instance_id=ids()) as store:
        assert store.known_client_instance_id("meter-gw-1") == 5
        assert store.known_client_instance_id("meter-gw-2") == 0xFFFF_FFFF
        assert store.server_instance_id_for("meter-gw-1") is None  # client and server tables are apart


@covers("HS-13", "HS-14")
def test_server_instance_id_is_durable_and_absent_until_set(path: Path) -> None:
    with EventStore.open(path, new_instance_id=ids(1)) as store:
        assert store.server_instance_id_for("cloud") is None
        store.set_server_instance_id_for("cloud", 1234)
        with EventStore.open(path, new_instance_id=ids()) as other:
            assert other.server_instance_id_for("cloud") == 1234
            assert other.server_instance_id_for("staging") is None


@pytest.mark.parametrize("bad", [-1, 1 << 32, True, "7"])
def test_instance_ids_must_be_u32(store: EventStore, bad: object) -> None:
    with pytest.raises(StoreError):
        store.set_known_client_instance_id("c", bad)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.set_server_instance_id_for("s", bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- u64


def test_u64_extremes_round_trip_and_keep_their_order(store: EventStore) -> None:
    store.subscribe(PEER)
    type_ids = [MAX_U64, 1 << 63, (1 << 63) - 1, 0]
    events = [
        store.append(event_type_id=t, key=b"k", schema_version=MAX_U64, timestamp=MAX_U64, event_data=b"")
        for t in type_ids
    ]
    assert [e.event_type_id for e in store.pending(PEER)] == sorted(type_ids)
    store.mark_acked(PEER, events[0])
    assert [e.event_type_id for e in store.pending(PEER)] == [0, (1 << 63) - 1, 1 << 63]
    extreme = Event(
        event_type_id=MAX_U64, schema_version=MAX_U64, key=b"k", offset=MAX_U64, timestamp=MAX_U64, event_data=b""
    )
    zero = Event(event_type_id=0, schema_version=0, key=b"", offset=0, timestamp=0, event_data=b"")
    assert store.store_received(PEER, extreme) and store.store_received(PEER, zero)
    assert not store.store_received(PEER, extreme)
    assert store.received(PEER) == [(PEER, extreme), (PEER, zero)]


def test_the_last_offset_of_a_topic_is_2_64_minus_1(store: EventStore) -> None:
    store.subscribe(PEER)
    first = append(store, MAX_U64)
    store.mark_acked(PEER, first)
    assert store._db is not None
    # No test can append 2**64 events: move the producer offset and the
    # pointer as if it had (invariant kept: every offset above the pointer
    # has an event).
    store._db.execute("UPDATE topics SET last_offset = ?", (to_db(MAX_U64 - 3),))
    store._db.execute("UPDATE cursors SET consumer_offset = ?", (to_db(MAX_U64 - 3),))
    e1, e2, e3 = append(store, MAX_U64), append(store, MAX_U64), append(store, MAX_U64)
    assert [e1.offset, e2.offset, e3.offset] == [MAX_U64 - 2, MAX_U64 - 1, MAX_U64]
    assert store.lag(PEER) == 3
    store.mark_acked(PEER, e3)
    store.mark_nacked(PEER, e1, machine_message=b"", human_message=b"")
    assert store.pending(PEER) == [e2]
    store.mark_acked(PEER, e2)
    assert store.pending(PEER) == [] and store.lag(PEER) == 0
    assert store._db.execute("SELECT consumer_offset FROM cursors").fetchone()[0] == to_db(MAX_U64)
    store.retry_dead_letter(PEER, e1)
    assert store.pending(PEER) == [e1]
    with pytest.raises(StoreError, match="every offset"):
        append(store, MAX_U64)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "fields",
    [
        {"key": "text"},
        {"event_data": bytearray(b"x")},
        {"event_type_id": -1},
        {"event_type_id": 1 << 64},
        {"schema_version": 1 << 64},
        {"timestamp": -5},
        {"event_data": b"x" * MAX_FRAME_SIZE},
    ],
)
def test_append_refuses_what_cannot_be_stored_or_sent(store: EventStore, fields: dict[str, object]) -> None:
    args: dict[str, object] = {
        "event_type_id": 1,
        "key": b"k",
        "schema_version": 1,
        "timestamp": 1,
        "event_data": b"",
    } | fields
    with pytest.raises(StoreError) as raised:
        store.append(**args)  # type: ignore[arg-type]
    assert isinstance(raised.value, SinkError)
    store.subscribe(PEER)
    assert store.pending(PEER) == []
    assert append(store, key=b"k").offset == 1  # nothing half-written


def test_an_event_filling_a_whole_frame_is_accepted(store: EventStore) -> None:
    # 2-byte header + type(1) + schema(1) + key chunk(1) + offset(1) + timestamp(1) + data chunk(3 + n)
    n = MAX_FRAME_SIZE - 2 - 5 - 3
    assert len(append(store, key=b"", timestamp=1, data=b"d" * n).event_data) == n
    with pytest.raises(StoreError, match="PUBLISH frame"):
        append(store, key=b"", timestamp=1, data=b"d" * (n + 1))


def test_a_corrupt_file_is_a_store_error(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(8192))
    with pytest.raises(StoreError):
        EventStore.open(path, new_instance_id=ids(1))


def test_another_applications_database_is_refused(path: Path) -> None:
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE accounts (id INTEGER)")
    other.close()
    with pytest.raises(StoreError, match="another application"):
        EventStore.open(path, new_instance_id=ids(1))


def test_a_newer_store_format_is_refused(path: Path) -> None:
    EventStore.open(path, new_instance_id=ids(1)).close()
    with sqlite3.connect(path) as other:
        other.execute("PRAGMA user_version = 99")
    other.close()
    with pytest.raises(StoreError, match="format 99"):
        EventStore.open(path, new_instance_id=ids())


def test_a_bad_new_instance_id_creates_nothing(path: Path) -> None:
    with pytest.raises(StoreError, match="new_instance_id"):
        EventStore.open(path, new_instance_id=ids(1 << 32))
    with EventStore.open(path, new_instance_id=ids(3)) as store:
        assert store.instance_id == 3


def test_a_closed_store_raises(path: Path) -> None:
    store = EventStore.open(path, new_instance_id=ids(1))
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        append(store)


def test_calls_from_several_threads_are_serialised(store: EventStore) -> None:
    store.subscribe(PEER)

    def work() -> None:
        for _ in range(25):
            append(store)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e.offset for e in store.pending(PEER)] == list(range(1, 101))


def test_no_part_of_the_store_hides_a_name_of_another() -> None:
    # EventStore is one mixin per idea (store/_store.py). A name defined in
    # two of them would silently resolve to the first in the MRO, and the
    # other would never run.
    owners: dict[str, list[str]] = {}
    for part in EventStore.__mro__[1:-1]:  # the parts and _StoreBase: not EventStore, not object
        for name in vars(part):
            if name.startswith("__") and name.endswith("__") and name not in ("__init__", "__enter__", "__exit__"):
                continue
            owners.setdefault(name, []).append(part.__name__)
    assert {name: parts for name, parts in owners.items() if len(parts) > 1} == {}
    assert "append" in owners and "status" in owners and "open" in owners  # the walk did see the parts


def test_the_docs_say_where_each_method_of_the_store_lives() -> None:
    page = (ROOT / "docs" / "store.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| [^|]+ \| `(_\w+)\.py` \| (.+) \|$", page.split("## In the code", 1)[1], re.MULTILINE)
    documented = {name: f"sinkproto.store.{module}" for module, names in rows for name in re.findall(r"`(\w+)`", names)}
    public = {name for name in dir(EventStore) if not name.startswith("_")}
    assert set(documented) == public
    for name, module in documented.items():
        part = next(part for part in EventStore.__mro__ if name in vars(part))
        assert part.__module__ == module, name


# ---------------------------------------------------------------- SIGKILL

# The child appends events, answers them in random order (ACK, sometimes
# NACK), stores received events (some duplicates) and records handshake
# state, printing one line after each call has returned. Whatever it printed
# the store had committed before the kill.
_CHILD = r"""
import random, sys
from sinkproto import Event
from sinkproto.store import EventStore

path, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
store = EventStore.open(path, new_instance_id=lambda: rng.getrandbits(32))
out = sys.stdout

def say(*fields):
    out.write(" ".join(str(f) for f in fields) + "\n")
    out.flush()

def ev(e):
    return f"{e.event_type_id} {e.key.hex()} {e.offset} {e.timestamp} d{e.event_data.hex()}"  # 'd': empty data still makes a field

say("I", store.instance_id)
store.subscribe("cloud")
store.set_server_instance_id_for("cloud", 0xC10D)
say("S")
store.set_known_client_instance_id("gw", 0x6A7E)
say("C")
n = 0
while True:
    batch = []
    for _ in range(rng.randint(1, 6)):
        n += 1
        e = store.append(event_type_id=rng.randrange(3), key=b"m%d" % rng.randrange(4),
                         schema_version=1, timestamp=n, event_data=rng.randbytes(rng.randrange(40)))
        say("A", ev(e))
        batch.append(e)
    rng.shuffle(batch)
    for e in batch[: rng.randint(0, len(batch))]:  # some stay unanswered, like an in-flight publish at a disconnect
        if rng.random() < 0.1:
            store.mark_nacked("cloud", e, machine_message=b"422", human_message=b"poison")
            say("N", ev(e))
        else:
            store.mark_acked("cloud", e)
            say("K", ev(e))
    r = Event(event_type_id=5, schema_version=1, key=b"cmd", offset=rng.randint(1, n), timestamp=0, event_data=b"")
    store.store_received("cloud", r)
    say("R", r.offset)
"""


def _parse_event(fields: list[str]) -> Event:
    t, key, offset, timestamp, data = fields
    return Event(
        event_type_id=int(t),
        schema_version=1,
        key=bytes.fromhex(key),
        offset=int(offset),
        timestamp=int(timestamp),
        event_data=bytes.fromhex(data[1:]),
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@covers("DELIV-1", "DELIV-3", "MSGID-9", "HS-5", "HS-10", "HS-13")
def test_sigkill_at_a_random_moment_loses_nothing(path: Path, seed: int) -> None:
    rng = random.Random(seed)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), str(seed)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    lines: list[str] = []
    try:
        wanted = rng.randint(20, 600)
        while len(lines) < wanted:
            line = child.stdout.readline().decode()
            assert line, f"child ended early: {child.wait()}"
            lines.append(line)
        time.sleep(rng.uniform(0, 0.02))  # somewhere inside a later call, at no line boundary
    finally:
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read().decode()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    lines += rest.splitlines(keepends=True)
    records = [line.split() for line in lines if line.endswith("\n")]  # a torn last line promised nothing

    appended: dict[tuple[int, bytes, int], Event] = {}
    acked: set[tuple[int, bytes, int]] = set()
    nacked: set[tuple[int, bytes, int]] = set()
    received_offsets: set[int] = set()
    for kind, *fields in records:
        if kind in "AKN":
            event = _parse_event(fields)
            if kind == "A":
                appended[event.dedupe_key] = event
            elif kind == "K":
                acked.add(event.dedupe_key)
            else:
                nacked.add(event.dedupe_key)
        elif kind == "R":
            received_offsets.add(int(fields[0]))
    assert appended, "the child was killed before it appended anything"

    with EventStore.open(path, new_instance_id=ids()) as store:
        assert ["I", str(store.instance_id)] == records[0]  # HS-5: same store, same id
        assert store.server_instance_id_for("cloud") == 0xC10D
        assert store.known_client_instance_id("gw") == 0x6A7E
        pending = {e.dedupe_key: e for e in store.pending("cloud")}
        dead = {d.event.dedupe_key: d for d in store.dead_letters("cloud")}
        # Every ACK that returned is still an ACK; every NACK still a dead letter.
        assert not acked & pending.keys()
        assert not acked & dead.keys()
        assert nacked <= dead.keys()
        assert not nacked & pending.keys()
        # Every appended event is still there, byte for byte: pending, or
        # answered by the one call the kill may have cut before its line.
        for key, event in appended.items():
            if key in pending:
                assert pending[key] == event
        unaccounted = appended.keys() - pending.keys() - acked - nacked - dead.keys()
        assert len(unaccounted) <= 1, unaccounted
        # At most one append committed without its line; it is pending.
        assert len(pending.keys() - appended.keys()) <= 1
        assert store.lag("cloud") == len(pending)
        # The producer offsets continue without reuse (DELIV-3).
        for (t, key, _), group in itertools.groupby(sorted(appended), key=lambda k: (k[0], k[1], 0)):
            last = max(k[2] for k in group)
            assert append(store, t, key).offset in (last + 1, last + 2)
        # MSGID-9: an event stored before the ACK would be sent is there.
        stored = {e.offset for _, e in store.received("cloud")}
        assert received_offsets <= stored
        assert len(store.received("cloud")) == len(stored)  # deduplicated
