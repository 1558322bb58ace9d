"""sink-check load with its Locust engine: a master and two worker processes against `sink serve`, and the
drops-acks mutant (stores every event, never sends one ACK in a thousand) caught by both engines.

Locust monkeypatches with gevent when imported, so it never runs in this process: `sink-check load`
runs in a subprocess and starts Locust's processes itself. Short and bounded, loopback only; the
connections-per-worker figures are a benchmark (conformance/benchmarks/load_engines.py), not a test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sinkcheck.load_mode import mint_identities
from sinkcheck.selftest import make_pki, reference_server
from sinkcheck.selftest.edits import DROPPED_ACK_FIRST
from sinktest import ROOT
from test_load_mode import load

# K = 30 s: a few hundred handshakes on a loaded 2-core machine take seconds, and the client's silence
# timer (1.5 K, KEEP-5) runs from TLS ready. No events published on connect: each would go to every client.
SERVER = ("--keepalive", "30", "--publish-on-connect", "0")
KEEPALIVE = 30.0


def _store(workdir: Path, mutant: str | None) -> Path:
    [store] = workdir.glob(f"server-{mutant or 'reference'}-*.db")
    return store


def test_locust_master_and_two_workers_every_event_acked_and_stored_once(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    with reference_server(pki, tmp_path, extra=SERVER) as (host, port):
        code, report, output = load(
            tmp_path,
            pki,
            host,
            port,
            *("--engine", "locust", "--workers", "2"),
            *("--clients", "240", "--rate", "240", "--duration", "2", "--drain", "5"),
            *("--reference-store", str(_store(tmp_path, None))),
            keepalive=KEEPALIVE,
        )
    assert code == 0, output
    assert report["verdict"] == "pass" and report["engine"] == "locust" and report["workers"] == 2
    assert report["clients"]["requested"] == report["clients"]["connected"] == 240
    assert 400 <= report["published"] <= 480  # 1 event/s per user for 2 s, from a random phase
    assert report["acked"] == report["published"] and report["unanswered"] == 0
    assert report["never_acked"] == {"count": 0, "events": []}
    assert report["errors"] == {} and report["duplicates"] == 0
    store = report["store"]
    assert store["published"] == store["stored"] == report["published"]
    assert store["stored_twice"] == 0 and store["acked_not_stored"] == 0 and report["lost"] == 0
    # Locust's own statistics carry the ACK latency per frame kind
    [acks] = [r for r in report["engine_stats"]["requests"] if (r["type"], r["name"]) == ("ACK", "PUBLISH")]
    assert acks["requests"] == report["acked"] and acks["failures"] == 0
    assert report["engine_stats"]["users_per_worker"] == {"0": 120, "1": 120}
    for line in ("engine      locust (2 load processes)", "240/240 connected", "PASS"):
        assert line in output
    outcomes = {rid: e["outcome"] for rid, e in report["requirements"]["exercised"].items()}
    assert outcomes == {"HS-9": "pass", "MSGID-8": "pass", "ACK-1": "pass", "MSGID-9": "pass"}


def test_a_master_and_two_workers_started_as_on_separate_machines(tmp_path: Path) -> None:
    """Three `sink-check load` processes, as on three machines: `--master --workers 2` has the scenario and
    writes the report, each `--worker --master-host H` only loads; the report aggregates both workers' users."""
    pki = make_pki(tmp_path / "pki")
    profile = tmp_path / "profile.toml"
    profile.write_text(f'name = "load-test"\nca = "{pki / "ca.pem"}"\nkeepalive = {KEEPALIVE}\n')
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        master_port = probe.getsockname()[1]
    with reference_server(pki, tmp_path, extra=SERVER) as (host, port):
        scenario = [sys.executable, "-m", "sinkcheck.cli", "load", "server", f"{host}:{port}", "--engine", "locust"]
        scenario += ["--profile", str(profile), "--mint-ca-key", str(pki / "ca.key")]
        scenario += ["--master-port", str(master_port)]

        def start(*role: str) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [*scenario, *role], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )

        # the scenario is the master's: the workers get it from there (their own options are the defaults)
        master = start(
            *("--clients", "20", "--rate", "40", "--duration", "2", "--drain", "2"),
            *("--master", "--workers", "2", "--json", str(tmp_path / "load.json")),
        )
        workers = [
            start("--worker", "--master-host", "127.0.0.1", "--identities", str(tmp_path / f"ids-{i}"))
            for i in range(2)
        ]
        output, _ = master.communicate(timeout=120)
        worker_outputs = [worker.communicate(timeout=60)[0] for worker in workers]
    assert master.returncode == 0, output
    assert [worker.returncode for worker in workers] == [0, 0], worker_outputs
    assert all("the master writes the report" in text for text in worker_outputs)
    report = json.loads((tmp_path / "load.json").read_text())
    assert report["verdict"] == "pass" and report["workers"] == 2
    assert report["clients"]["connected"] == 20 and report["acked"] == report["published"] == 40 * 2
    # the master split the users between the workers; each minted its own identities under its worker index
    assert report["engine_stats"]["users_per_worker"] == {"0": 10, "1": 10}
    minted = {path.name for i in range(2) for path in (tmp_path / f"ids-{i}").glob("client-*.pem")}
    assert len(minted) == 20 and {name[: len("client-sink-load-w0")] for name in minted} == {
        "client-sink-load-w0",
        "client-sink-load-w1",
    }


@pytest.mark.parametrize("engine", ["asyncio", "locust"])
def test_a_server_that_drops_one_ack_in_a_thousand_is_caught(tmp_path: Path, engine: str) -> None:
    """The mutant stores the event whose ACK it drops: the report names that event as published and never
    ACKed, says the store holds it, and fails MSGID-8 (later events of the same identity were ACKed)."""
    pki = make_pki(tmp_path / "pki")
    with reference_server(pki, tmp_path, mutant="drops-acks", extra=SERVER) as (host, port):
        code, report, output = load(
            tmp_path,
            pki,
            host,
            port,
            *("--engine", engine),
            *("--clients", "10", "--rate", "100", "--duration", "2", "--drain", "1"),
            *("--reference-store", str(_store(tmp_path, "drops-acks"))),
            keepalive=KEEPALIVE,
        )
    assert code == 1, output
    assert report["published"] > DROPPED_ACK_FIRST
    assert report["verdict"] == "fail" and report["engine"] == engine
    assert report["unanswered"] == 1 and report["never_acked"]["count"] == 1
    assert report["drain_seconds"] >= 1.0  # it waited --drain 1 s without an answer for that one
    assert report["errors"] == {"skipped": 1}
    assert report["store"]["unanswered_stored"] == 1 and report["store"]["acked_not_stored"] == 0
    [event] = report["never_acked"]["events"]
    assert f"never ACKed 1 published events (e.g. {event})" in output.replace("\n", "")
    outcomes = {rid: e["outcome"] for rid, e in report["requirements"]["exercised"].items()}
    assert outcomes["MSGID-8"] == "fail"


def test_locust_users_publish_version_1_batches(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    with reference_server(pki, tmp_path, extra=SERVER) as (host, port):
        code, report, output = load(
            tmp_path,
            pki,
            host,
            port,
            *("--engine", "locust", "--batch", "5"),
            *("--clients", "10", "--rate", "50", "--duration", "2", "--drain", "3"),
            *("--reference-store", str(_store(tmp_path, None))),
            keepalive=KEEPALIVE,
        )
    assert code == 0, output
    assert report["published"] == report["acked"] == report["store"]["stored"] == 100  # 10 users, 1 batch/s
    [kind] = report["engine_stats"]["requests"]
    assert (kind["type"], kind["name"], kind["requests"]) == ("BATCH_RESULT", "BATCH_PUBLISH", 100)


def test_locust_users_reconnect_and_resend_after_the_server_restarts(tmp_path: Path) -> None:
    """The server stops while the users publish and comes back on the same port and store: each user
    reconnects with the backoff and sends what was unanswered again; every event ends up ACKed and stored
    exactly once. The drops are reported as errors (closed, connect), so the verdict is fail."""
    pki = make_pki(tmp_path / "pki")
    profile = tmp_path / "profile.toml"
    profile.write_text(f'name = "load-test"\nca = "{pki / "ca.pem"}"\nkeepalive = {KEEPALIVE}\n')
    report_path = tmp_path / "load.json"
    with reference_server(pki, tmp_path, extra=SERVER) as (host, port):
        store = _store(tmp_path, None)
        command = [sys.executable, "-m", "sinkcheck.cli", "load", "server", f"{host}:{port}", "--engine", "locust"]
        command += ["--profile", str(profile), "--mint-ca-key", str(pki / "ca.key"), "--identities", str(tmp_path)]
        command += ["--clients", "10", "--rate", "20", "--duration", "10", "--drain", "5"]
        command += ["--reference-store", str(store), "--json", str(report_path)]
        loader = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log = store.with_suffix(".log")
        while log.read_text().count(" handshake ") < 10 and loader.poll() is None:  # every user is connected
            time.sleep(0.1)
        time.sleep(1)  # and publishing
    with reference_server(pki, tmp_path, extra=(*SERVER, "--listen", f"{host}:{port}", "--db", str(store))):
        output, _ = loader.communicate(timeout=120)
    report = json.loads(report_path.read_text())
    assert loader.returncode == 1, output
    assert report["reconnects"] >= 10 and report["closed_by_server"] >= 1
    assert set(report["errors"]) <= {"closed", "connect", "connection"}, report["errors"]
    assert report["published"] == report["acked"] and report["never_acked"]["count"] == 0
    assert report["store"]["stored"] == report["store"]["published"] == report["published"]
    assert report["store"]["stored_twice"] == 0 and report["lost"] == 0


def test_locust_is_not_imported_by_the_load_mode() -> None:
    """Locust monkeypatches with gevent at import: sink-check's own modules never import it."""
    import sinkcheck.cli
    import sinkcheck.load.locust_engine
    import sinkcheck.load_mode  # noqa: F401 (imported for the check below)

    assert "locust" not in sys.modules and "gevent" not in sys.modules


def test_the_locust_engine_needs_identities(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    proc = subprocess.run(
        [sys.executable, "-m", "sinkcheck.cli", "load", "server", "127.0.0.1:9", "--engine", "locust"]
        + ["--ca", str(pki / "ca.pem"), "--cert", str(pki / "client-sc-main.pem")]
        + ["--key", str(pki / "client-sc-main.key"), "--clients", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert proc.returncode == 2 and "--engine locust needs --identities DIR or --mint-ca-key KEY" in proc.stdout


def test_master_and_worker_need_the_locust_engine() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sinkcheck.cli", "load", "server", "127.0.0.1:9", "--master"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "--master and --worker need --engine locust" in proc.stderr


def test_locust_users_beyond_the_identities_given_are_errors(tmp_path: Path) -> None:
    """--identities DIR without minting: it holds 4 client identities, so of 6 users 2 have none; they are
    reported (error `identity`), the other 4 publish, and the run fails."""
    pki = make_pki(tmp_path / "pki")
    mint_identities(pki / "ca.pem", pki / "ca.key", 4, tmp_path / "four")
    with reference_server(pki, tmp_path, extra=SERVER) as (host, port):
        profile = tmp_path / "profile.toml"
        profile.write_text(f'name = "load-test"\nca = "{pki / "ca.pem"}"\nkeepalive = {KEEPALIVE}\n')
        proc = subprocess.run(
            [sys.executable, "-m", "sinkcheck.cli", "load", "server", f"{host}:{port}", "--engine", "locust"]
            + ["--profile", str(profile), "--identities", str(tmp_path / "four"), "--clients", "6", "--rate", "12"]
            + ["--duration", "1", "--drain", "2", "--json", str(tmp_path / "load.json")],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env={**os.environ, "COLUMNS": "300"},
        )
    report = json.loads((tmp_path / "load.json").read_text())
    assert proc.returncode == 1, proc.stdout
    assert report["errors"] == {"identity": 2} and report["clients"]["connected"] == 4
    assert report["published"] == report["acked"] == 4 * 2
