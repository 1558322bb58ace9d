"""sink-check load against the reference server (`sink serve` in a subprocess) and against a mutant that
ACKs the wrong message ids. Short and bounded; the 1,000-connection figure is a benchmark
(conformance/benchmarks/load_reference.py), not a test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sinktest import ROOT, covers

from sinkcheck.load_mode import percentile
from sinkcheck.selftest import KEEPALIVE, make_pki, reference_server


def load(tmp_path: Path, pki: Path, host: str, port: int, *extra: str) -> tuple[int, dict[str, Any], str]:
    # the selftest server runs with a 1 s keepalive: the profile tells the load clients to PING in time
    profile = tmp_path / "profile.toml"
    profile.write_text(f'name = "load-test"\nca = "{pki / "ca.pem"}"\nkeepalive = {KEEPALIVE}\n')
    report = tmp_path / "load.json"
    proc = subprocess.run([sys.executable, "-m", "sinkcheck.cli", "load", "server", f"{host}:{port}", "--profile",
                           str(profile), "--mint-ca-key", str(pki / "ca.key"), "--identities", str(tmp_path / "ids"),
                           *extra, "--json", str(report)], capture_output=True, text=True, timeout=180, cwd=ROOT)
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
    assert report["acked"] == report["published"] and report["unanswered"] == 0 and not report["lost"]
    assert report["errors"] == {}
    latency = report["ack_latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert report["throughput"] > 50
    for line in ("20/20 connected", "ACK latency p50", "lost        nothing", "PASS"):
        assert line in output


def test_load_catches_acks_with_the_wrong_message_id(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    with reference_server(pki, tmp_path, mutant="wrong-ack-id") as (host, port):
        code, report, output = load(tmp_path, pki, host, port, "--clients", "5", "--rate", "50", "--duration", "1",
                                    "--drain", "1")
    assert code == 1, output
    assert report["verdict"] == "fail" and report["lost"]
    assert report["errors"]["unknown_id"] > 0
    assert "FAIL" in output and "never answered" in output


def test_too_few_identities_is_a_usage_error(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    proc = subprocess.run([sys.executable, "-m", "sinkcheck.cli", "load", "server", "127.0.0.1:9", "--ca",
                           str(pki / "ca.pem"), "--identities", str(pki), "--clients", "50"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "one connection per identity" in proc.stdout.replace("\n", " ")


@pytest.mark.parametrize(("share", "expected"), [(0.5, 50.0), (0.9, 90.0), (0.99, 99.0), (1.0, 100.0), (0.001, 1.0)])
def test_percentiles_are_nearest_rank(share: float, expected: float) -> None:
    assert percentile([float(v) for v in range(100, 0, -1)], share) == expected
