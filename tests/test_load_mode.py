"""sink-check load against the reference server (`sink serve` in a subprocess) and against a mutant that
ACKs the wrong message ids. Short and bounded; the 1,000-connection figure is a benchmark
(conformance/benchmarks/load_reference.py), not a test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sinkcheck.load_mode import percentile
from sinkcheck.selftest import KEEPALIVE, make_pki, reference_server
from sinktest import ROOT, covers


def load(
    tmp_path: Path, pki: Path, host: str, port: int, *extra: str, keepalive: float = KEEPALIVE
) -> tuple[int, dict[str, Any], str]:
    # the selftest server runs with a 1 s keepalive: the profile tells the load clients to PING in time
    profile = tmp_path / "profile.toml"
    profile.write_text(f'name = "load-test"\nca = "{pki / "ca.pem"}"\nkeepalive = {keepalive}\n')
    report = tmp_path / "load.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sinkcheck.cli",
            "load",
            "server",
            f"{host}:{port}",
            "--profile",
            str(profile),
            "--mint-ca-key",
            str(pki / "ca.key"),
            "--identities",
            str(tmp_path / "ids"),
            *extra,
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )  # wide: report lines stay whole
    return proc.returncode, json.loads(report.read_text()) if report.exists() else {}, proc.stdout + proc.stderr


@covers("MSGID-8", "DELIV-10")
def test_load_against_the_reference_server(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    with reference_server(pki, tmp_path) as (host, port):
        code, report, output = load(tmp_path, pki, host, port, "--clients", "20", "--rate", "100", "--duration", "2")
    assert code == 0, output
    assert report["verdict"] == "pass"
    assert report["clients"] == {**report["clients"], "requested": 20, "connected": 20}
    assert 150 <= report["published"] <= 201  # 100/s for 2 s, scheduled in 5 ms ticks
    assert report["acked"] == report["published"] and report["unanswered"] == 0 and report["lost"] is None
    assert report["errors"] == {}
    latency = report["ack_latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert report["throughput"] > 50
    for line in ("20/20 connected", "ACK latency p50", "unanswered  nothing", "PASS"):
        assert line in output
    assert report["requirements"]["exercised"].keys() == {"HS-9", "MSGID-8", "ACK-1"}
    assert {e["outcome"] for e in report["requirements"]["exercised"].values()} == {"pass"}


def test_load_catches_acks_with_the_wrong_message_id(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    with reference_server(pki, tmp_path, mutant="wrong-ack-id") as (host, port):
        code, report, output = load(
            tmp_path, pki, host, port, "--clients", "5", "--rate", "50", "--duration", "1", "--drain", "1"
        )
    assert code == 1, output
    assert report["verdict"] == "fail" and report["unanswered"] > 0
    assert report["errors"]["unknown_id"] > 0
    assert "FAIL" in output and "PUBLISH unanswered after the drain" in output
    exercised = report["requirements"]["exercised"]  # the wrong ids break MSGID-8 and ACK-1, not the handshake
    assert {rid: e["outcome"] for rid, e in exercised.items()} == {"HS-9": "pass", "MSGID-8": "fail", "ACK-1": "fail"}


def test_too_few_identities_is_a_usage_error(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sinkcheck.cli",
            "load",
            "server",
            "127.0.0.1:9",
            "--ca",
            str(pki / "ca.pem"),
            "--identities",
            str(pki),
            "--clients",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "one connection per identity" in proc.stdout.replace("\n", " ")


@pytest.mark.parametrize(("share", "expected"), [(0.5, 50.0), (0.9, 90.0), (0.99, 99.0), (1.0, 100.0), (0.001, 1.0)])
def test_percentiles_are_nearest_rank(share: float, expected: float) -> None:
    assert percentile([float(v) for v in range(100, 0, -1)], share) == expected


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The slow-acks mutant: every event stored at once, answered 0.3 s later, one after the other. Its K
    is 10 s: while it sleeps over a backlog it reads no frame, and 1.5 K of that would close the connection."""
    workdir = tmp_path_factory.mktemp("slow")
    pki = make_pki(workdir / "pki")
    with reference_server(pki, workdir, mutant="slow-acks", extra=("--keepalive", "10")) as (host, port):
        [store] = workdir.glob("server-slow-acks-*.db")
        yield pki, host, port, store


def test_late_answers_are_answered_not_lost(slow_server: Any, tmp_path: Path) -> None:
    """One client publishes 10 events in 1 s; the server ACKs one every 0.3 s, so 7 answers are
    outstanding when publishing stops and the last ones come 2 s later, more than the 1 s drain:
    the runner keeps waiting while they come, counts them late, and the store holds every event."""
    pki, host, port, store = slow_server
    code, report, output = load(
        tmp_path,
        pki,
        host,
        port,
        "--clients",
        "1",
        "--rate",
        "10",
        "--duration",
        "1",
        "--drain",
        "1",
        "--reference-store",
        str(store),
    )
    assert code == 0, output
    assert report["verdict"] == "pass"
    assert report["unanswered"] == 0 and report["acked"] == report["published"] >= 9
    assert report["late"] >= 2  # answered more than 1 s after publishing stopped: before, "never answered"
    assert report["drain_seconds"] > 1.0
    assert report["store"]["stored"] == report["store"]["published"] == report["published"]
    assert report["lost"] == 0
    assert "late: more than 1 s after publishing stopped" in output and "lost" not in output.lower()


def test_outstanding_answers_fail_no_requirement(slow_server: Any, tmp_path: Path) -> None:
    """With --drain-max 0.5 the run ends with answers outstanding: "unanswered after the drain",
    verdict incomplete, no requirement failed, MSGID-8 not checked; the store says which were stored."""
    pki, host, port, store = slow_server
    code, report, output = load(
        tmp_path,
        pki,
        host,
        port,
        "--clients",
        "1",
        "--rate",
        "10",
        "--duration",
        "1",
        "--drain",
        "1",
        "--drain-max",
        "0.5",
        "--reference-store",
        str(store),
    )
    assert code == 1, output
    assert report["verdict"] == "incomplete" and report["errors"] == {}
    assert report["unanswered"] >= 3
    assert report["store"]["unanswered_stored"] + report["store"]["unanswered_not_stored"] == report["unanswered"]
    assert report["store"]["acked_not_stored"] == 0 and report["lost"] == 0
    outcomes = {rid: e["outcome"] for rid, e in report["requirements"]["exercised"].items()}
    assert "fail" not in outcomes.values() and "MSGID-8" not in outcomes
    assert "MSGID-8" in report["requirements"]["not_checked"]
    assert f"{report['unanswered']} PUBLISH unanswered after the drain" in output and "INCOMPLETE" in output


def test_reference_store_must_exist(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sinkcheck.cli",
            "load",
            "server",
            "127.0.0.1:9",
            "--ca",
            str(pki / "ca.pem"),
            "--cert",
            str(pki / "client-sc-main.pem"),
            "--key",
            str(pki / "client-sc-main.key"),
            "--clients",
            "1",
            "--reference-store",
            str(tmp_path / "none.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert proc.returncode == 2 and "none.db: no such database" in proc.stdout
