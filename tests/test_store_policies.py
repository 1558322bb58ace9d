"""Delivery policies of the event store, without the network: priority, latest-only, retention, status, migration.

The end-to-end behaviour over real peers is in test_policies.py.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from sinkproto.errors import PolicyError, StoreError
from sinkproto.messages import Event
from sinkproto.schemas import default_registry
from sinkproto.store import (
    FORMAT_VERSION,
    DeliveryPolicy,
    EventStore,
    PolicySet,
    Refusal,
    load_policies,
    parse_policies,
)
from sinktest import ROOT, covers

PEER = "cloud"
DATA = ROOT / "tests" / "data"


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    with EventStore.open(tmp_path / "s.db", new_instance_id=lambda: 1) as opened:
        yield opened  # type: ignore[misc]


def add(store: EventStore, event_type_id: int, key: bytes, timestamp: int = 1_700_000_000) -> Event:
    return store.append(event_type_id=event_type_id, key=key, schema_version=1, timestamp=timestamp, event_data=b"x")


def topics_of(events: list[Event]) -> list[tuple[int, bytes, int]]:
    return [e.dedupe_key for e in events]


def stored_events(store: EventStore) -> int:
    return store.status().stored


# ---------------------------------------------------------------- the policy file


def test_policy_file_names_ids_and_default_inheritance(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    path.write_text(
        """
[default]
priority = 1
transmission = "all"

[event_type.credit_top_up]
priority = 100

[event_type.7]
transmission = "latest"

[event_type.meter_reading]
priority = -10
keep_last = 100
keep_days = 30
""",
        encoding="utf-8",
    )
    policies = load_policies(path, default_registry())
    assert policies.default == DeliveryPolicy(priority=1)
    assert policies.for_type(3) == DeliveryPolicy(priority=100)
    assert policies.for_type(7) == DeliveryPolicy(priority=1, transmission="latest")  # inherits priority from [default]
    assert policies.for_type(1) == DeliveryPolicy(priority=-10, keep_last=100, keep_days=30)
    assert policies.for_type(42) == policies.default


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"event_type": {"meter_reading": {"priority": "high"}}}, "priority must be an integer"),
        ({"event_type": {"1": {"transmission": "newest"}}}, "transmission must be 'all' or 'latest'"),
        ({"event_type": {"1": {"keep_last": 0}}}, "keep_last must be an integer >= 1"),
        ({"event_type": {"1": {"keep_days": -1}}}, "keep_days must be a number > 0"),
        ({"event_type": {"1": {"retention": 3}}}, "unknown key(s) retention"),
        ({"event_type": {"no_such_type": {}}}, "no event type named 'no_such_type'"),
        ({"events": {}}, "unknown top-level key(s) events"),
    ],
)
def test_bad_policy_documents_are_refused_with_the_reason(document: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=None) as caught:
        parse_policies(document, default_registry())
    assert message in str(caught.value)


def test_a_policy_file_that_does_not_parse_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[default\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="p.toml"):
        load_policies(path)


def test_names_without_a_registry_are_refused() -> None:
    with pytest.raises(PolicyError, match="need the schema registry"):
        parse_policies({"event_type": {"meter_reading": {}}})


def test_the_kits_policy_file_loads() -> None:
    policies = load_policies(ROOT / "schemas" / "policies.toml", default_registry())
    assert policies.for_type(3).priority > policies.for_type(1).priority  # payments before readings
    assert policies.for_type(7).transmission == "latest"


def test_policies_round_trip_through_the_store_and_survive_reopening(tmp_path: Path) -> None:
    policies = PolicySet(
        default=DeliveryPolicy(priority=2),
        by_type={1: DeliveryPolicy(keep_days=0.5), 9: DeliveryPolicy(transmission="latest")},
    )
    with EventStore.open(tmp_path / "s.db", new_instance_id=lambda: 1) as store:
        assert store.policies() == PolicySet()
        store.set_policies(policies)
    with EventStore.open(tmp_path / "s.db", new_instance_id=lambda: 1) as store:
        assert store.policies() == policies


# ---------------------------------------------------------------- priority


def test_pending_drains_by_priority_and_keeps_offset_order_per_topic(store: EventStore) -> None:
    store.subscribe(PEER)
    store.set_policies(PolicySet(by_type={3: DeliveryPolicy(priority=100), 1: DeliveryPolicy(priority=-10)}))
    rng = random.Random(7)
    for _ in range(600):
        add(store, rng.choice([1, 2, 3, 4]), rng.choice([b"a", b"b", b"c"]))
    pending = store.pending(PEER)
    priority = {3: 100, 1: -10}
    ranks = [priority.get(e.event_type_id, 0) for e in pending]
    assert ranks == sorted(ranks, reverse=True)
    assert len(pending) == 600 == store.lag(PEER)
    for topic in {(e.event_type_id, e.key) for e in pending}:
        offsets = [e.offset for e in pending if (e.event_type_id, e.key) == topic]
        assert offsets == list(range(1, len(offsets) + 1))
    # limit and exclude cut across the levels the same way
    assert store.pending(PEER, limit=250) == pending[:250]
    skipped = {e.dedupe_key for e in pending[:300]}
    assert store.pending(PEER, limit=50, exclude=skipped) == pending[300:350]


def test_without_policies_the_order_is_unchanged(store: EventStore) -> None:
    store.subscribe(PEER)
    for t, k in [(2, b"b"), (1, b"z"), (2, b"a"), (1, b"z")]:
        add(store, t, k)
    assert topics_of(store.pending(PEER)) == [(1, b"z", 1), (1, b"z", 2), (2, b"a", 1), (2, b"b", 1)]


# ---------------------------------------------------------------- latest only


@covers("DELIV-6")
def test_latest_only_pends_the_newest_per_topic_and_marks_the_rest_superseded(store: EventStore) -> None:
    store.subscribe(PEER)
    store.set_policies(PolicySet(by_type={7: DeliveryPolicy(transmission="latest")}))
    for _ in range(5):
        add(store, 7, b"gw-1"), add(store, 7, b"gw-2"), add(store, 1, b"m")
    pending = store.pending(PEER)
    assert topics_of(pending) == [(1, b"m", o) for o in range(1, 6)] + [(7, b"gw-1", 5), (7, b"gw-2", 5)]
    assert store.lag(PEER) == 7
    store.mark_acked_many(PEER, pending)
    assert store.pending(PEER) == [] and store.lag(PEER) == 0
    (status,) = store.status().peers
    assert {t.event_type_id: t.superseded for t in status.types} == {1: 0, 7: 8}
    assert stored_events(store) == 15  # superseded, not lost
    # while connected, each new event is the newest: all of them are sent
    new = add(store, 7, b"gw-1")
    assert store.pending(PEER) == [new]


def test_a_late_answer_to_a_superseded_event_replaces_the_mark(store: EventStore) -> None:
    store.subscribe(PEER)
    store.set_policies(PolicySet(by_type={7: DeliveryPolicy(transmission="latest")}))
    first = add(store, 7, b"gw")
    assert store.pending(PEER) == [first]  # sent, in flight ...
    second = add(store, 7, b"gw")
    assert store.pending(PEER, exclude={first.dedupe_key}) == [second]
    store.mark_acked(PEER, second)  # ... the newer one is answered first: the first is superseded
    assert store.status().peers[0].types[0].superseded == 1
    store.mark_acked(PEER, first)  # its own ACK arrives after all
    assert store.status().peers[0].types[0].superseded == 0
    assert store.lag(PEER) == 0


def test_a_nacked_newest_event_settles_the_older_ones_too(store: EventStore) -> None:
    store.subscribe(PEER)
    store.set_policies(PolicySet(default=DeliveryPolicy(transmission="latest")))
    events = [add(store, 5, b"k") for _ in range(3)]
    store.mark_nacked(PEER, events[-1], machine_message=b"E", human_message=b"")
    assert store.pending(PEER) == [] and store.lag(PEER) == 0
    assert [d.event for d in store.dead_letters(PEER)] == [events[-1]]
    store.retry_dead_letter(PEER, events[-1])
    assert store.pending(PEER) == [events[-1]] and store.lag(PEER) == 1


# ---------------------------------------------------------------- retention


def test_keep_last_deletes_only_what_every_subscriber_passed(store: EventStore) -> None:
    store.subscribe("a")
    store.subscribe("b", event_type_ids=[1])
    store.set_policies(PolicySet(by_type={1: DeliveryPolicy(keep_last=3)}))
    events = [add(store, 1, b"m") for _ in range(10)]
    assert store.apply_retention(now=0).deleted == 0  # nobody has anything yet
    store.mark_acked_many("a", events)
    store.mark_acked_many("b", events[:5])
    report = store.apply_retention(now=0)
    assert (report.deleted, report.topics) == (5, 1)  # b's pointer is at 5
    assert topics_of(store.pending("b")) == [(1, b"m", o) for o in range(6, 11)]
    store.mark_acked_many("b", events[5:])
    assert store.apply_retention(now=0).deleted == 2  # now the policy's 3 are left
    assert stored_events(store) == 3
    # a new subscriber starts at the oldest kept event; lag agrees with pending
    store.subscribe("c")
    assert topics_of(store.pending("c")) == [(1, b"m", 8), (1, b"m", 9), (1, b"m", 10)] and store.lag("c") == 3
    # offsets are never reused after retention
    assert add(store, 1, b"m").offset == 11


def test_keep_days_uses_the_callers_now_and_event_timestamps(store: EventStore) -> None:
    store.subscribe(PEER)
    store.set_policies(PolicySet(default=DeliveryPolicy(keep_days=1)))
    day = 86_400
    events = [add(store, 2, b"k", timestamp=t * day) for t in range(1, 11)]
    store.mark_acked_many(PEER, events)
    assert store.apply_retention(now=10 * day + 10).deleted == 9  # only the last day's event is young enough
    assert store.apply_retention(now=100 * day).deleted == 1  # a topic may empty out; its offset stays
    assert stored_events(store) == 0
    assert add(store, 2, b"k").offset == 11


def test_an_unsubscribed_type_is_kept_whole(store: EventStore) -> None:
    store.subscribe(PEER, event_type_ids=[1])
    store.set_policies(PolicySet(default=DeliveryPolicy(keep_last=1)))
    for _ in range(4):
        add(store, 2, b"k")
    assert store.apply_retention(now=0).deleted == 0


def test_dead_letters_and_retries_survive_retention(store: EventStore) -> None:
    store.subscribe(PEER)
    store.set_policies(PolicySet(default=DeliveryPolicy(keep_last=1)))
    events = [add(store, 1, b"k") for _ in range(6)]
    store.mark_nacked(PEER, events[1], machine_message=b"E-SCHEMA", human_message=b"bad")
    store.mark_nacked(PEER, events[2], machine_message=b"E-SCHEMA", human_message=b"bad")
    store.mark_acked_many(PEER, events[:1] + events[3:])
    store.retry_dead_letter(PEER, events[2])
    assert store.apply_retention(now=0).deleted == 3  # offsets 1, 4, 5
    assert [d.event for d in store.dead_letters(PEER)] == [events[1]]
    assert store.pending(PEER) == [events[2]] and store.lag(PEER) == 1
    store.mark_acked(PEER, events[2])
    store.retry_dead_letter(PEER, events[1])
    store.mark_acked(PEER, events[1])
    add(store, 1, b"k")
    store.mark_acked_many(PEER, store.pending(PEER))
    assert store.apply_retention(now=0).deleted == 3  # the two released ones and offset 6
    assert stored_events(store) == 1


def test_retention_runs_nothing_without_a_retention_policy(store: EventStore) -> None:
    store.subscribe(PEER)
    store.mark_acked_many(PEER, [add(store, 1, b"k") for _ in range(3)])
    assert store.apply_retention(now=1e12).deleted == 0
    with pytest.raises(StoreError):
        store.apply_retention(now="now")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(8))
def test_lag_and_pending_agree_under_random_policies_answers_and_retention(tmp_path: Path, seed: int) -> None:
    """A model check: whatever happens, lag == len(pending), pending respects priorities and offsets, and
    every event appended is either still stored or was settled for every subscriber before it went."""
    rng = random.Random(seed)
    with EventStore.open(tmp_path / "m.db", new_instance_id=lambda: 1) as store:
        peers = ["a", "b"]
        store.subscribe("a")
        store.subscribe("b", event_type_ids=[1, 2])
        settled: dict[str, set[tuple[int, bytes, int]]] = {p: set() for p in peers}
        for step in range(200):
            action = rng.random()
            if action < 0.45:
                add(store, rng.choice([1, 2, 3]), rng.choice([b"x", b"y"]), timestamp=step)
            elif action < 0.75:
                peer = rng.choice(peers)
                candidates = store.pending(peer, limit=5)
                if candidates:
                    event = rng.choice(candidates)
                    if rng.random() < 0.85:
                        store.mark_acked(peer, event)
                    else:
                        store.mark_nacked(peer, event, machine_message=b"E", human_message=b"")
                    settled[peer].add(event.dedupe_key)
            elif action < 0.82:
                letters = store.dead_letters()
                if letters:
                    letter = rng.choice(letters)
                    store.retry_dead_letter(letter.peer, letter.event)
            elif action < 0.9:
                store.set_policies(
                    PolicySet(
                        by_type={
                            t: DeliveryPolicy(
                                priority=rng.randint(-2, 2),
                                transmission=rng.choice(["all", "latest"]),
                                keep_last=rng.choice([None, 1, 3]),
                            )
                            for t in (1, 2, 3)
                        }
                    )
                )
            else:
                store.apply_retention(now=step)
            if rng.random() < 0.1:
                store.subscribe("c")
                peers = ["a", "b", "c"]
                settled.setdefault("c", set())
            for peer in peers:
                pending = store.pending(peer)
                assert store.lag(peer) == len(pending), (seed, step, peer)
                assert len(set(topics_of(pending))) == len(pending)
                policies = store.policies()
                ranks = [policies.for_type(e.event_type_id).priority for e in pending]
                assert ranks == sorted(ranks, reverse=True)
                status = store.status(peer).peers[0]
                assert status.pending == len(pending)


# ---------------------------------------------------------------- status and last seen


def test_status_per_peer_and_type(store: EventStore) -> None:
    store.subscribe(PEER)
    a1, a2 = add(store, 1, b"m", timestamp=100), add(store, 1, b"m", timestamp=200)
    b1 = add(store, 3, b"c", timestamp=50)
    store.mark_nacked(PEER, b1, machine_message=b"E-CREDIT", human_message=b"unknown meter", nacked_at=60.0)
    store.store_received(
        PEER, Event(event_type_id=2, schema_version=1, key=b"s", offset=4, timestamp=900, event_data=b"")
    )
    store.record_seen(PEER, 1000.0, handshake=True)
    store.record_seen(PEER, 1010.0)
    store.record_seen(PEER, 1005.0)  # a late, older report does not move it back
    status = store.status()
    assert status.instance_id == 1 and status.stored == 3
    (peer,) = status.peers
    assert (peer.peer, peer.subscription, peer.last_handshake_at, peer.last_seen_at) == (PEER, None, 1000.0, 1010.0)
    by_type = {t.event_type_id: t for t in peer.types}
    assert by_type[1].pending == 2 and by_type[1].oldest_unsent == a1
    assert by_type[2].received == 1 and by_type[2].newest_received_timestamp == 900
    assert by_type[3].pending == 0 and by_type[3].dead_letters == 1
    assert peer.pending == 2 and peer.dead_letters == 1
    store.mark_acked(PEER, a1)
    assert {t.event_type_id: t for t in store.status(PEER).peers[0].types}[1].oldest_unsent == a2


# ---------------------------------------------------------------- format 1 stores


def test_a_format_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript((DATA / "store-format1.sql").read_text(encoding="utf-8"))
    db.execute("PRAGMA application_id = 1397313099")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with EventStore.open(path, new_instance_id=lambda: pytest.fail("an existing store keeps its id")) as store:
        assert store.instance_id == 0x01020304
        assert topics_of(store.pending("cloud")) == [(1, b"m-1", 2), (1, b"m-2", 1)]
        assert store.lag("cloud") == 2
        assert [d.machine_message for d in store.dead_letters("cloud")] == [b"E-SCHEMA"]
        assert store.known_client_instance_id("gw-1") == 77
        assert store.subscriptions() == {"audit": frozenset({2}), "cloud": None}
        store.mark_acked("cloud", store.pending("cloud")[0])
        store.set_policies(PolicySet(default=DeliveryPolicy(transmission="latest")))
        store.record_seen("cloud", 5.0)
        store.record_refusal("cloud", 6.0, response="quarantined", machine_message=b"Q", human_message=b"why")
        assert store.status("cloud").peers[0].last_refusal == Refusal(
            response="quarantined", machine_message=b"Q", human_message=b"why", at=6.0
        )
    fresh = sqlite3.connect(tmp_path / "fresh.db")
    EventStore.open(tmp_path / "fresh.db", new_instance_id=lambda: 1).close()
    upgraded = sqlite3.connect(path)

    def shape(conn: sqlite3.Connection) -> dict[str, object]:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {
            t: (
                conn.execute(f"PRAGMA table_xinfo({t})").fetchall(),
                conn.execute(f"PRAGMA foreign_key_list({t})").fetchall(),
                [row[2:] for row in conn.execute(f"PRAGMA index_list({t})")],
            )
            for t in tables
        }

    assert shape(upgraded) == shape(fresh)
    assert upgraded.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION == 5
    # the new CHECK constraint is in place: 'superseded' is a valid state
    check = upgraded.execute("SELECT sql FROM sqlite_master WHERE name = 'marks'").fetchone()[0]
    assert "'superseded'" in check
