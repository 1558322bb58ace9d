"""Delivery policies over real peers: StoreClient / StoreServer, SinkClient / SinkServer, mutual TLS on loopback.

What the server receives is observed in arrival order. The stores live on a
tmpfs when there is one: these tests are about order and bookkeeping, and
thousands of synced commits on a disk would take minutes (durability is
test_store.py's SIGKILL test).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from peer_support import MemoryServer, eventually, make_client, run, start_server
from sinkproto import Event
from sinkproto.certs import DevPki, make_dev_pki
from sinkproto.peers import Answer, PeerSession, SinkClient
from sinkproto.peers.service import StoreClient
from sinkproto.store import DeliveryPolicy, EventStore, PolicySet
from sinktest import ROOT, covers
from sinktools.cli import main as sink_main

SINK = [sys.executable, "-m", "sinktools.cli"]
POLICY_FILE = ROOT / "schemas" / "policies.toml"
# schemas/policies.toml: credit_top_up 100, load_limit_command 90, tariff_schedule 50, meter_state_change 40,
# meter_reading -10 (keep_last 100); firmware_status and base_station_health latest-only.
KIT_PRIORITY = {3: 100, 4: 90, 5: 50, 2: 40, 1: -10}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return make_dev_pki(tmp_path_factory.mktemp("pki"), ["gw"])


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        folder = Path(tempfile.mkdtemp(prefix="sink-policies-", dir="/dev/shm"))
        yield folder
        shutil.rmtree(folder, ignore_errors=True)
    else:
        yield tmp_path


def open_store(path: Path) -> EventStore:
    return EventStore.open(path, new_instance_id=lambda: 0x0A0B0C0D)


@dataclass
class CountingServer(MemoryServer):
    """Records every PUBLISH it is handed, duplicates and NACKed ones included."""

    arrivals: list[Event] = field(default_factory=list)

    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None:
        self.arrivals.append(event)
        return await super().on_event(session, client, event)


class Gateway:
    """A StoreClient over a real SinkClient; start/stop simulate the link coming and going."""

    def __init__(self, pki: DevPki, store: EventStore, port: int, **options: float) -> None:
        self.pki, self.store, self.port = pki, store, port
        self.handler = StoreClient(store, server_name="cloud", app_version=b"gw/1", poll=0.05, **options)
        self.client: SinkClient | None = None
        self.task: asyncio.Task[object] | None = None

    async def start(self) -> None:
        self.client = make_client(self.pki, "gw", self.handler, self.port)
        self.task = asyncio.create_task(self.client.run())
        await asyncio.wait_for(self.client.connected.wait(), 10)

    async def synced(self, timeout: float = 30.0) -> None:
        await eventually(lambda: self.handler.synced.is_set() and self.store.lag("cloud") == 0, timeout)

    async def stop(self) -> None:
        assert self.client is not None and self.task is not None
        await self.client.stop()
        # Let run() end by itself: it calls on_disconnect, which stops the outbox pump
        # (cancelling it instead could leave the pump running against a store closed next).
        await asyncio.wait_for(self.task, 10)


def first_arrivals(server: CountingServer) -> list[Event]:
    """Arrival order with redeliveries (at-least-once) removed: the first copy of each event."""
    seen: set[tuple[int, bytes, int]] = set()
    order = []
    for event in server.arrivals:
        if event.dedupe_key not in seen:
            seen.add(event.dedupe_key)
            order.append(event)
    return order


def apply_kit_policies(db: Path) -> None:
    assert sink_main(["policies", "apply", "--db", str(db), str(POLICY_FILE)]) == 0


# ---------------------------------------------------------------- priority


@covers("DELIV-5", "DELIV-1")
def test_a_backlog_of_thousands_drains_in_priority_order(pki: DevPki, fast_dir: Path) -> None:
    db = fast_dir / "gw.db"
    open_store(db).close()
    apply_kit_policies(db)
    import random

    rng = random.Random(12)
    with open_store(db) as store:
        store.subscribe("cloud")
        # Days offline: readings, state changes, payments and commands, interleaved as they happened.
        for n in range(3000):
            event_type_id = rng.choices([1, 2, 3, 4, 5], weights=[70, 10, 8, 7, 5])[0]
            store.append(
                event_type_id=event_type_id,
                key=b"meter-%d" % rng.randrange(12),
                schema_version=1,
                timestamp=1_700_000_000 + n,
                event_data=b"%d" % n,
            )

        async def scenario() -> CountingServer:
            server_handler = CountingServer()
            server, port = await start_server(pki, server_handler)
            gateway = Gateway(pki, store, port)
            await gateway.start()
            await gateway.synced()
            await gateway.stop()
            await server.close()
            return server_handler

        server_handler = run(scenario())
    order = first_arrivals(server_handler)
    assert len(order) == 3000
    ranks = [KIT_PRIORITY[e.event_type_id] for e in order]
    assert ranks == sorted(ranks, reverse=True), "a lower-priority event arrived before a higher-priority one"
    for topic in {(e.event_type_id, e.key) for e in order}:
        offsets = [e.offset for e in order if (e.event_type_id, e.key) == topic]
        assert offsets == list(range(1, len(offsets) + 1)), f"topic {topic} out of offset order"


# ---------------------------------------------------------------- latest only


@covers("DELIV-6")
def test_latest_sends_only_the_newest_event_of_each_topic_after_an_outage(pki: DevPki, fast_dir: Path) -> None:
    db = fast_dir / "gw.db"
    open_store(db).close()
    apply_kit_policies(db)  # base_station_health (7): latest-only

    async def scenario() -> None:
        with open_store(db) as store:
            store.subscribe("cloud")
            for n in range(40):  # the outage: health reports of 5 base stations pile up, with readings
                for station in range(5):
                    store.append(
                        event_type_id=7, key=b"bs-%d" % station, schema_version=1, timestamp=n, event_data=b"h"
                    )
                if n % 2:
                    store.append(event_type_id=1, key=b"meter-1", schema_version=1, timestamp=n, event_data=b"r")
            server_handler = CountingServer()
            server, port = await start_server(pki, server_handler)
            gateway = Gateway(pki, store, port)
            await gateway.start()
            await gateway.synced()
            health = [e for e in server_handler.arrivals if e.event_type_id == 7]
            assert sorted((e.key, e.offset) for e in health) == [(b"bs-%d" % s, 40) for s in range(5)]
            assert [e.offset for e in server_handler.arrivals if e.event_type_id == 1] == list(range(1, 21))
            # Superseded, not lost: every report is still in the log, and status counts them.
            status = store.status("cloud")
            assert {t.event_type_id: t.superseded for t in status.peers[0].types}[7] == 5 * 39
            assert {entry.event_type_id: entry.stored for entry in status.log}[7] == 200
            # While the link is up every new report is the newest: each one is sent.
            for station in range(5):
                store.append(event_type_id=7, key=b"bs-%d" % station, schema_version=1, timestamp=99, event_data=b"h")
            await gateway.synced()
            await eventually(lambda: sum(e.event_type_id == 7 for e in server_handler.arrivals) >= 10)
            assert sorted((e.key, e.offset) for e in server_handler.arrivals if e.offset == 41) == [
                (b"bs-%d" % s, 41) for s in range(5)
            ]
            await gateway.stop()
            await server.close()

    run(scenario())


# ---------------------------------------------------------------- retention soak


@covers("DELIV-1", "DELIV-6")
def test_retention_keeps_the_store_bounded_through_a_soak_and_loses_nothing_unsent(pki: DevPki, fast_dir: Path) -> None:
    db = fast_dir / "gw.db"
    keys = [b"meter-%d" % i for i in range(10)]
    keep = 20
    with open_store(db) as store:
        store.subscribe("cloud")
        store.set_policies(
            PolicySet(
                by_type={
                    1: DeliveryPolicy(keep_last=keep),
                    7: DeliveryPolicy(transmission="latest", keep_last=1, priority=5),
                }
            )
        )
    sizes: list[int] = []
    stored_after_sync: list[int] = []
    produced = dict.fromkeys(keys, 0)
    clock = [1_700_000_000.0]

    def now() -> float:
        clock[0] += 1.0
        return clock[0]

    def burst(store: EventStore, n: int) -> None:
        for i in range(n):
            key = keys[i % len(keys)]
            store.append(event_type_id=1, key=key, schema_version=1, timestamp=int(now()), event_data=b"r" * 40)
            produced[key] += 1
            if i % 25 == 0:
                store.append(event_type_id=7, key=b"bs", schema_version=1, timestamp=int(now()), event_data=b"h" * 40)

    async def scenario() -> CountingServer:
        server_handler = CountingServer()
        server, port = await start_server(pki, server_handler)
        with open_store(db) as store:
            for _cycle in range(6):
                gateway = Gateway(pki, store, port, clock=now, retention_every=0.0)
                await gateway.start()
                burst(store, 250)  # online: sent as produced, retention runs in the pump's loop
                await gateway.synced()
                await gateway.stop()
                # Offline: a backlog builds; retention must keep every unsent event.
                burst(store, 250)
                report = store.apply_retention(now())
                assert store.lag("cloud") >= 250 - 10  # all readings unsent (health is latest-only)
                assert store.status().stored >= store.lag("cloud")
                assert report.deleted <= len(keys) * keep * 2
                await gateway.start()
                await gateway.synced()
                store.apply_retention(now())
                stored_after_sync.append(store.status().stored)
                # The -wal file is capped (journal_size_limit); the database file is what retention bounds.
                wal = Path(f"{db}-wal")
                assert not wal.exists() or wal.stat().st_size <= 5 * 1024 * 1024
                with sqlite3.connect(db) as checkpoint:
                    checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                sizes.append(db.stat().st_size)
                await gateway.stop()
        await server.close()
        return server_handler

    server_handler = run(scenario())
    # Bounded: after each sync and retention pass, keep_last per reading topic plus the newest health report.
    assert stored_after_sync == [len(keys) * keep + 1] * 6
    # The file stops growing once it holds the working set (freed pages are reused): 3,000+ events
    # went through, and the last cycles end no bigger than the second did.
    assert max(sizes[2:]) <= sizes[1] * 1.1, sizes
    # Nothing unsent was lost: the server got every reading of every topic, in offset order.
    readings = first_arrivals(server_handler)
    for key in keys:
        offsets = [e.offset for e in readings if e.event_type_id == 1 and e.key == key]
        assert offsets == list(range(1, produced[key] + 1))
    print(f"soak: {sum(produced.values())} readings; store sizes after each cycle (bytes): {sizes}")


# ---------------------------------------------------------------- dead letters


@covers("DELIV-11", "DELIV-12")
def test_a_dead_letter_is_never_retried_in_a_loop_survives_restart_and_is_retried_by_command(
    pki: DevPki, fast_dir: Path
) -> None:
    db = fast_dir / "gw.db"

    async def scenario() -> None:
        server_handler = CountingServer(poison_prefix=b"poison")
        server, port = await start_server(pki, server_handler)

        def poison_arrivals() -> int:
            return sum(e.key.startswith(b"poison") for e in server_handler.arrivals)

        with open_store(db) as store:
            store.append(event_type_id=2, key=b"poison-meter", schema_version=1, timestamp=5, event_data=b"?")
            for n in range(20):
                store.append(event_type_id=1, key=b"meter-1", schema_version=1, timestamp=n, event_data=b"r")
            gateway = Gateway(pki, store, port)
            await gateway.start()
            await gateway.synced()
            await asyncio.sleep(1.0)  # 20 outbox polls: a loop would have resent it by now
            assert poison_arrivals() == 1
            await gateway.stop()
            await gateway.start()  # a reconnect does not resend it either
            await gateway.synced()
            await asyncio.sleep(0.3)
            await gateway.stop()
            assert poison_arrivals() == 1
        # Restart: a new process would open the same file.
        with open_store(db) as store:
            (letter,) = store.dead_letters("cloud")
            assert (letter.event.key, letter.machine_message, letter.human_message) == (
                b"poison-meter",
                b"E-POISON",
                b"cannot parse poison-meter",
            )
            assert letter.nacked_at is not None
            gateway = Gateway(pki, store, port)
            await gateway.start()
            await gateway.synced()
            await asyncio.sleep(0.5)
            assert poison_arrivals() == 1
            # An operator retries it with the command, from another process, against the running peer's store.
            command = await asyncio.create_subprocess_exec(
                *SINK,
                "dead-letters",
                "retry",
                "--db",
                str(db),
                "--peer",
                "cloud",
                "--machine-message",
                "E-POISON",
                stdout=asyncio.subprocess.DEVNULL,
            )
            assert await asyncio.wait_for(command.wait(), 60) == 0
            await eventually(lambda: poison_arrivals() == 2)  # sent once more ...
            await gateway.synced()
            await asyncio.sleep(0.5)
            assert poison_arrivals() == 2  # ... refused again, and not retried again
            assert len(store.dead_letters("cloud")) == 1
            await gateway.stop()
        await server.close()

    run(scenario())


def test_dead_letters_export_as_json_lines_and_list(fast_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = fast_dir / "gw.db"
    with open_store(db) as store:
        store.subscribe("cloud")
        events = [
            store.append(event_type_id=1, key=b"m-%d" % i, schema_version=1, timestamp=i, event_data=b"\xff")
            for i in range(3)
        ]
        store.mark_nacked(
            "cloud", events[0], machine_message=b"E-SCHEMA", human_message=b"unknown field", nacked_at=9.5
        )
        store.mark_nacked("cloud", events[2], machine_message=b"E-RANGE", human_message=b"", nacked_at=10.0)
    out = fast_dir / "dead.jsonl"
    assert sink_main(["dead-letters", "export", "--db", str(db), "-o", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(d["event"]["key_hex"], d["machine_message"], d["human_message"], d["nacked_at"]) for d in lines] == [
        (b"m-0".hex(), "E-SCHEMA", "unknown field", 9.5),
        (b"m-2".hex(), "E-RANGE", "", 10.0),
    ]
    assert lines[0]["event"]["event_data_hex"] == "ff" and lines[0]["peer"] == "cloud"
    capsys.readouterr()
    assert sink_main(["dead-letters", "list", "--db", str(db), "--machine-message", "E-RANGE"]) == 0
    listed = capsys.readouterr()
    assert "m-2@1" in listed.out and "E-RANGE" in listed.out and "m-0" not in listed.out
    assert sink_main(["dead-letters", "retry", "--db", str(db), "--peer", "cloud"]) == 2  # names nothing: refused
    assert (
        sink_main(["dead-letters", "retry", "--db", str(db), "--peer", "cloud", "--key", "m-0", "--offset", "1"]) == 0
    )
    with open_store(db) as store:
        assert [d.event for d in store.dead_letters()] == [events[2]]
        assert store.pending("cloud") == [events[0], events[1]]
    assert sink_main(["dead-letters", "list", "--db", str(fast_dir / "missing.db")]) == 1  # no store is created


# ---------------------------------------------------------------- sink status against a running peer


def _start_sink_serve(tmp: Path, pki_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [*SINK, "serve", "--listen", "127.0.0.1:0", "--certs", str(pki_dir), "--db", str(tmp / "server.db"), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert server.stdout is not None
    match = re.search(r"listening on [\d.]+:(\d+)", server.stdout.readline())
    assert match, "server did not start"
    return server, int(match.group(1))


def _status(db: Path, *extra: str) -> dict[str, object]:
    done = subprocess.run(
        [*SINK, "status", "--db", str(db), "--json", *extra], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_sink_status_against_a_running_server_and_client(pki: DevPki, fast_dir: Path) -> None:
    server, port = _start_sink_serve(
        fast_dir, pki.directory, "--publish-on-connect", "2", "--nack-key-prefix", "poison"
    )
    try:
        db = fast_dir / "gw.db"

        async def scenario() -> None:
            with open_store(db) as store:
                for n in range(10):
                    store.append(
                        event_type_id=1, key=b"meter-1", schema_version=1, timestamp=1_700_000_000 + n, event_data=b"r"
                    )
                store.append(
                    event_type_id=2, key=b"poison-1", schema_version=1, timestamp=1_700_000_100, event_data=b"?"
                )
                handler = StoreClient(store, server_name="cloud", app_version=b"gw/1", poll=0.05)
                client = make_client(pki, "gw", handler, port)
                task = asyncio.create_task(client.run())
                await asyncio.wait_for(client.connected.wait(), 10)
                await eventually(lambda: handler.synced.is_set() and len(store.received("cloud")) == 2, 30)
                # Both peers are running: the status commands read their live stores.
                server_view = await asyncio.to_thread(_status, fast_dir / "server.db", "--now", "1700000200")
                client_view = await asyncio.to_thread(_status, db, "--now", "1700000200")
                await client.stop()
                await asyncio.wait_for(task, 10)

            (gw,) = server_view["peers"]  # type: ignore[index]
            assert gw["peer"] == "gw" and gw["last_handshake_at"] is not None and gw["last_seen_at"] is not None
            types = {t["event_type_id"]: t for t in gw["types"]}
            assert types[1]["received"] == 10 and types[1]["newest_received_timestamp"] == 1_700_000_009
            assert types[1]["freshness_s"] == pytest.approx(191.0)
            assert types[1]["name"] == "meter_reading"
            assert types[9]["pending"] == 0 and types[9]["oldest_unsent"] is None  # the welcome events were ACKed
            (cloud,) = client_view["peers"]  # type: ignore[index]
            assert cloud["peer"] == "cloud" and cloud["pending"] == 0 and cloud["dead_letters"] == 1
            ctypes = {t["event_type_id"]: t for t in cloud["types"]}
            assert ctypes[2]["dead_letters"] == 1 and ctypes[9]["received"] == 2
            assert client_view["stored"] == 11

        run(scenario())
        # The text form too, and with pending events: the oldest unsent one with its age.
        with open_store(db) as store:
            store.append(event_type_id=1, key=b"meter-1", schema_version=1, timestamp=1_700_000_150, event_data=b"r")
            store.append(event_type_id=1, key=b"meter-1", schema_version=1, timestamp=1_700_000_160, event_data=b"r")
        view = _status(db, "--now", "1700000200", "--peer", "cloud")
        (t1,) = [t for t in view["peers"][0]["types"] if t["event_type_id"] == 1]  # type: ignore[index]
        assert t1["pending"] == 2 and t1["oldest_unsent"] == {
            "key": "meter-1",
            "key_hex": b"meter-1".hex(),
            "offset": 11,
            "timestamp": 1_700_000_150,
            "age_s": 50.0,
        }
        text = subprocess.run(
            [*SINK, "status", "--db", str(db), "--now", "1700000200"], capture_output=True, text=True, timeout=60
        )
        assert text.returncode == 0, text.stderr
        assert "peer cloud" in text.stdout and "meter-1@11 50s ago" in text.stdout
    finally:
        server.terminate()
        server.wait(10)
