"""The deterministic simulation (sinkproto.sim) and the sans-I/O session logic below the peers (sinkproto.session).

A hypothesis state machine whose rules are the faults runs schedules and
shrinks a failure to a minimal one; seeded campaigns, the mutants (each must
be caught within a bounded number of seeds), replay files and the command
line are tested below it. Bounded: the whole file takes seconds, not minutes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sinkproto.connection import Connection, Role, State
from sinkproto.events import HandshakeRequested, PeerClosed
from sinkproto.handshake import Quarantine
from sinkproto.messages import ConnectionRequest, ConnectionResponse, Event, Response
from sinkproto.session import (
    FIELD_STEPS,
    Backoff,
    BatchPolicy,
    ClientLogic,
    ServerLogic,
    ServerPolicy,
    fall_back,
    publish_ready,
    request_for,
    version_to_offer,
)
from sinkproto.sim import (
    DROP_KINDS,
    MUTANTS,
    Schedule,
    Settings,
    Step,
    catch_mutant,
    dump,
    generate,
    load,
    run_schedule,
    run_seeds,
    shrink,
)
from sinkproto.sim._world import World
from sinkproto.store import EventStore
from sinktest import covers
from sinktools.cli import main

GUARANTEES = ("DELIV-13", "DELIV-14", "DELIV-15", "DELIV-16", "DELIV-17", "DELIV-18")
#: seeds within which every mutant must be caught (the slowest needs a few; ``sink sim --mutants`` prints them)
MUTANT_SEEDS = 40


#: the store files on a RAM disk when there is one (SQLite syncs each commit)
RAM = "/dev/shm" if Path("/dev/shm").is_dir() else None


@pytest.fixture(scope="module")
def directory() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sink-sim-test-", dir=RAM))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- the state machine: every rule is a fault or an action -----------------------------------------------


class Faults(RuleBasedStateMachine):
    """One server, two clients; hypothesis picks the versions, a refused client and the faults."""

    mutant: str | None = None  # a subclass runs a mutant (see MUTANTS)

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="sink-sim-sm-", dir=RAM))
        self.world: World | None = None

    @initialize(
        seed=st.integers(0, 2**32 - 1),
        server_versions=st.sampled_from([(0,), (0, 1), (1,)]),
        client_versions=st.tuples(st.sampled_from([(0,), (0, 1)]), st.sampled_from([(0, 1)])),
        refused=st.sampled_from([{}, {0: "quarantine"}, {0: "mismatch"}]),
        batch_size=st.sampled_from([1, 4]),
    )
    def start(
        self,
        seed: int,
        server_versions: tuple[int, ...],
        client_versions: tuple[tuple[int, ...], ...],
        refused: dict[int, str],
        batch_size: int,
    ) -> None:
        if server_versions == (1,):
            client_versions = ((0, 1), (0, 1))
        schedule = Schedule(
            seed=seed,
            clients=2,
            server_versions=server_versions,
            client_versions=client_versions,
            refused=refused,
            batch_size=batch_size,
            heal=1800.0,
            mutant=self.mutant,
        )
        self.world = World(schedule, self.directory)

    def apply(self, kind: str, *args: object) -> None:
        assert self.world is not None
        self.world.apply(Step(kind, args))

    @rule(client=st.integers(0, 1), count=st.integers(1, 5))
    def append(self, client: int, count: int) -> None:
        self.apply("append", client, count)

    @rule(client=st.integers(0, 1))
    def poison(self, client: int) -> None:
        self.apply("poison", client, 1)

    @rule(count=st.integers(1, 3))
    def server_append(self, count: int) -> None:
        self.apply("server_append", count)

    @rule(seconds=st.sampled_from([0.001, 0.02, 0.3, 2.0, 20.0]))
    def wait(self, seconds: float) -> None:
        self.apply("wait", seconds)

    @rule(client=st.integers(0, 1), kind=st.sampled_from(DROP_KINDS))
    def drop(self, client: int, kind: str) -> None:
        self.apply("drop", client, kind)

    @rule(client=st.integers(0, 1), seconds=st.sampled_from([2.0, 30.0]))
    def partition(self, client: int, seconds: float) -> None:
        self.apply("partition", client, seconds)

    @rule(node=st.integers(-1, 1), writes=st.integers(0, 4), downtime=st.sampled_from([0.0, 3.0]))
    def crash(self, node: int, writes: int, downtime: float) -> None:
        self.apply("crash", node, writes, downtime)

    @rule(node=st.integers(-1, 1), seconds=st.sampled_from([-3600.0, 172800.0]))
    def clock_jump(self, node: int, seconds: float) -> None:
        self.apply("clock_jump", node, seconds)

    @rule()
    def upgrade(self) -> None:
        self.apply("upgrade")

    @rule()
    def lose_bases(self) -> None:
        self.apply("lose_bases")  # CTX-9: another instance answers; clients meet unknown_base and fall back

    @invariant()
    def guarantees_hold(self) -> None:
        if self.world is not None:
            assert not self.world.checker.violations, [str(v) for v in self.world.checker.violations]

    def teardown(self) -> None:
        try:
            if self.world is not None:
                self.world.heal()
                assert not self.world.checker.violations, [str(v) for v in self.world.checker.violations]
        finally:
            if self.world is not None:
                self.world.close()
            shutil.rmtree(self.directory, ignore_errors=True)


Faults.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


TestFaultsBase: Any = Faults.TestCase  # hypothesis builds the unittest class of each machine


@covers(
    "DELIV-13", "DELIV-14", "DELIV-15", "DELIV-16", "DELIV-17", "DELIV-18", "DELIV-2", "MSGID-4", "DELIV-7", "DELIV-9"
)
class TestFaults(TestFaultsBase):
    """Hypothesis runs the state machine; a failure is shrunk to the fewest faults."""


def test_the_state_machine_catches_a_mutant() -> None:
    """Without the shrink phase (which takes long); shrinking is hypothesis's own, and tested for seeds below."""

    class Broken(Faults):
        mutant = "reuse-message-id"

    with pytest.raises(AssertionError, match="MSGID-4") as failure:
        run_state_machine_as_test(
            Broken,
            settings=settings(
                max_examples=100,
                stateful_step_count=20,
                deadline=None,
                derandomize=True,
                database=None,
                report_multiple_bugs=False,
                phases=(Phase.explicit, Phase.generate),
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    assert "reused message id" in str(failure.value)


# -- seeded schedules ----------------------------------------------------------------------------------


@covers(
    "DELIV-13",
    "DELIV-14",
    "DELIV-15",
    "DELIV-16",
    "DELIV-17",
    "DELIV-18",
    "DELIV-1",
    "DELIV-2",
    "DELIV-10",
    "DELIV-11",
    "MSGID-4",
    "DELIV-7",
    "DELIV-8",
    "DELIV-9",
)
def test_seeded_schedules_keep_every_guarantee(directory: Path) -> None:
    outcomes = list(run_seeds(range(60), Settings(), directory))
    failed = [str(o.violation) for o in outcomes if o.failed]
    assert not failed
    assert sum(o.sink_events for o in outcomes) > 1000  # the schedules did deliver events
    versions = {o.schedule.server_versions for o in outcomes}
    assert {(0,), (0, 1)} <= versions  # both protocol versions, and fallback from 1 to 0


def test_a_seed_is_a_schedule_and_replays_the_same(directory: Path) -> None:
    first = run_schedule(generate(7), directory)
    again = run_schedule(load(dump(generate(7))), directory)
    assert (first.events, first.sink_events, first.virtual_seconds) == (
        again.events,
        again.sink_events,
        again.virtual_seconds,
    )
    assert generate(7) == load(dump(generate(7)))
    assert generate(7) != generate(8)


# -- every check can fail: the mutants --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_mutant_is_caught_within_bounded_seeds(name: str, directory: Path) -> None:
    outcome = catch_mutant(name, range(MUTANT_SEEDS), Settings(), directory)
    assert outcome is not None, f"{name} survived {MUTANT_SEEDS} seeds"
    assert outcome.violation is not None
    assert outcome.violation.requirement in {*GUARANTEES, "DELIV-2", "MSGID-4", "CLOSE-9", "CTX-10", "CTX-11"}


@covers("DELIV-14", "MSGID-9")
def test_an_ack_before_the_commit_is_lost_by_a_server_crash(directory: Path) -> None:
    steps = (
        Step("wait", (0.5,)),
        Step("append", (0, 3)),
        Step("wait", (1.0,)),
        Step("crash", (-1, 0, 1.0)),
        Step("wait", (5.0,)),
    )
    schedule = Schedule(seed=3, clients=1, server_versions=(0,), client_versions=((0,),), steps=steps)
    assert run_schedule(schedule, directory).violation is None
    mutated = run_schedule(replace(schedule, mutant="ack-before-commit"), directory)
    assert mutated.violation is not None and mutated.violation.requirement == "DELIV-14"


def test_a_failure_shrinks_and_its_file_replays(directory: Path, tmp_path: Path) -> None:
    outcome = catch_mutant("no-dedupe", range(MUTANT_SEEDS), Settings(), directory)
    assert outcome is not None and outcome.violation is not None
    small = shrink(outcome, directory)
    assert small.violation is not None and small.violation.requirement == outcome.violation.requirement
    assert len(small.schedule.steps) < len(outcome.schedule.steps)
    path = tmp_path / "failure.json"
    path.write_text(dump(small.schedule))
    assert main(["sim", "--replay", str(path)]) == 1
    fixed = tmp_path / "fixed.json"
    fixed.write_text(dump(replace(small.schedule, mutant=None)))
    assert main(["sim", "--replay", str(fixed)]) == 0


def test_sink_sim_prints_its_figures(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["sim", "--seeds", "5", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "5 schedules in" in out and "schedules/s" in out and "simulated events" in out
    assert "every guarantee held" in out
    assert main(["sim", "--seeds", "30", "--mutant", "no-dedupe", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: DELIV-2" in out and "replay: sink sim --replay" in out
    assert list(tmp_path.glob("sim-failure-*.json"))


# -- the session logic, without I/O ---------------------------------------------------------------------


@covers("VER-2")
def test_version_fallback_is_remembered_and_reprobed() -> None:
    memory: dict[str, tuple[int, float]] = {}
    assert version_to_offer((0, 1), memory, "s", 100.0, 600.0) == 1
    assert fall_back((0, 1), memory, "s", 1, 100.0) == 0
    assert version_to_offer((0, 1), memory, "s", 699.0, 600.0) == 0
    assert version_to_offer((0, 1), memory, "s", 700.0, 600.0) == 1  # VER-4: the re-probe
    assert fall_back((0, 1), memory, "s", 0, 100.0) is None  # nothing lower to offer


@covers("DELIV-7", "DELIV-8", "DELIV-9")
def test_backoff_walks_the_table_with_jitter_and_resets() -> None:
    backoff = Backoff(lambda low, high: high)
    delays = [backoff.next_delay() for _ in range(7)]
    assert delays == pytest.approx([step * 1.1 for step in (*FIELD_STEPS, 60.0, 60.0)])
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.055)


@covers("CLOSE-9", "CLOSE-4")
def test_a_client_refused_with_retry_after_waits_that_long_then_walks_its_table(tmp_path: Path) -> None:
    store = EventStore.open(tmp_path / "c.db", new_instance_id=lambda: 7)
    logic = ClientLogic(store, server_name="s", app_version=b"t")
    server_logic = ServerLogic(
        EventStore.open(tmp_path / "s.db", new_instance_id=lambda: 9),
        ServerPolicy(quarantined={"c": Quarantine(machine_message=b"Q", human_message=b"paused")}, retry_after=90),
    )
    client = Connection(Role.CLIENT, now=0.0, message_id_start=5, versions=(0, 1))
    server = Connection(Role.SERVER, now=0.0, message_id_start=9, versions=(0, 1))
    client.send_request(request_for(1, logic.connection_request()), 0.0)
    (requested,) = server.receive_data(client.data_to_send(), 0.0)
    assert isinstance(requested, HandshakeRequested)
    response = server_logic.decide("c", requested.request)
    retry_after, text = server_logic.refusal_close(response)
    server.send_response(response, 0.0, retry_after=retry_after, human_message=text)
    (closed,) = [e for e in client.receive_data(server.data_to_send(), 0.0) if isinstance(e, PeerClosed)]
    assert (closed.error_class, closed.requirement, closed.retry_after, closed.human_message) == (
        "handshake_refused",
        "HS-18",
        90,
        b"paused",
    )
    logic.peer_closed(closed)
    backoff = Backoff(lambda low, high: high)
    assert logic.reconnect_delay(backoff) == 90  # not the 55 ms of the first step
    assert logic.reconnect_delay(backoff) == pytest.approx(1.1)  # the table goes on: retry_after was used once


def _open_pair(keepalive: float = 10.0) -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT, now=0.0, message_id_start=5, keepalive=keepalive, versions=(0, 1))
    server = Connection(Role.SERVER, now=0.0, message_id_start=9, keepalive=keepalive, versions=(0, 1))
    client.send_request(ConnectionRequest(app_version=b"t", client_instance_id=1, version=1), 0.0)
    server.receive_data(client.data_to_send(), 0.0)
    server.send_response(ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=2), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    assert client.state is server.state is State.OPEN
    return client, server


@covers("BPUB-7", "MSGID-5")
def test_publish_ready_fills_the_window_and_batches_on_version_1() -> None:
    client, _ = _open_pair()
    events = [
        Event(event_type_id=1, schema_version=1, key=b"k", offset=n, timestamp=1, event_data=b"x") for n in range(1, 8)
    ]
    sent = publish_ready(client, events, 0.0, BatchPolicy(max_batch_size=3, max_batch_delay=0.0))
    assert [len(batch) for _, batch in sent] == [3, 3, 1]  # the last, alone, goes as a PUBLISH
    assert [message_id for message_id, _ in sent] == [5, 6, 7]
    assert len(client.in_flight_batches) == 2 and len(client.in_flight) == 1


@covers("KEEP-1")
@pytest.mark.parametrize("last", [23.08665415409843, 58.75806061435595, 54.8798761388153])
def test_the_keepalive_fires_at_exactly_next_timer(last: float) -> None:
    """Found by the simulator: next_timer() said last + K while handle_timer compared now - last >= K, which
    rounding can make false at that very time, so a driver that wakes at next_timer() spun without a PING."""
    client, server = _open_pair(keepalive=10.0)
    event = Event(event_type_id=1, schema_version=1, key=b"k", offset=1, timestamp=1, event_data=b"x")
    message_id = client.publish(event, last)
    server.receive_data(client.data_to_send(), last)
    server.ack(message_id, last)
    client.receive_data(server.data_to_send(), last)  # the last frame each way at ``last``
    deadline = client.next_timer()
    assert deadline == last + 10.0
    client.handle_timer(deadline)
    assert client.data_to_send() != b""  # the PING went at the time the connection asked to be woken
