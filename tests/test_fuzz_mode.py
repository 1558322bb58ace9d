"""sink-check fuzz and replay against real servers on loopback: the reference (`sink serve`) survives a
10-second run; the crash-on-unknown-type mutant is found, shrunk to a few bytes and replayed."""

from __future__ import annotations

import json
import random
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

from sinkcheck.fuzz import load_sessions
from sinkcheck.fuzz_mutations import Write, ddmin, mutate, seed_sessions, unframe
from sinkcheck.selftest import KEEPALIVE, make_pki, reference_server
from sinktest import ROOT


def tls(pki: Path) -> list[str]:
    return [
        "--ca",
        str(pki / "ca.pem"),
        "--cert",
        str(pki / "client-sc-main.pem"),
        "--key",
        str(pki / "client-sc-main.key"),
    ]


def sink_check(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sinkcheck.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


def test_mutations_are_seeded_and_ddmin_finds_a_minimal_sublist() -> None:
    seeds = seed_sessions(seed=3, server_instance_id=0x1234, client_instance_id=0x5151_0001, app_version=b"x")
    assert all(unframe(w.data) is not None for s in seeds for w in s)  # seed sessions are whole frames
    first = [mutate(random.Random(3), seeds) for _ in range(50)]
    again = [mutate(random.Random(3), seeds) for _ in range(50)]
    assert first == again
    calls: list[int] = []

    def fails(items: list[int]) -> bool:
        calls.append(1)
        return 3 in items and 17 in items

    assert ddmin(list(range(20)), fails) == [3, 17]
    assert ddmin(b"\x00\x01\x80\x00", lambda b: 0x80 in b) == [0x80]  # equal values stay distinct items
    assert ddmin([Write(b"a"), Write(b"b")], lambda w: True, budget=lambda: False) == [Write(b"a"), Write(b"b")]


def test_fuzzing_the_reference_server_for_10_seconds_finds_nothing(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    with reference_server(pki, tmp_path) as (host, port):
        proc = sink_check(
            "fuzz",
            "server",
            f"{host}:{port}",
            *tls(pki),
            "--seed",
            "7",
            "--duration",
            "10",
            "--out",
            str(tmp_path / "finding.json"),
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no finding" in proc.stdout
    assert not (tmp_path / "finding.json").exists()
    exchanges = int(proc.stdout.split(" exchanges in ")[0].split()[-1])
    assert exchanges >= 30, proc.stdout  # about 10 per second with a probe after each


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_crash_on_unknown_type_mutant_is_found_shrunk_and_replayed(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    port = free_port()
    # --exec: the runner restarts the mutant after each shrinking trial that crashed it
    command = (
        f"{shlex.quote(sys.executable)} -m sinkcheck.cli _mutant-server --mutant crash-on-unknown-type "
        f"--listen {{host}}:{{port}} --certs {pki} --db {tmp_path / 'mutant.db'} --keepalive {KEEPALIVE}"
    )
    finding = tmp_path / "finding.json"
    started = time.monotonic()
    proc = sink_check(
        "fuzz",
        "server",
        f"127.0.0.1:{port}",
        *tls(pki),
        "--seed",
        "1",
        "--duration",
        "60",
        "--probe-every",
        "4",
        "--exec",
        command,
        "--out",
        str(finding),
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert time.monotonic() - started < 120, output
    document = json.loads(finding.read_text())
    assert document["format"] == "sink-check-fuzz-session" and document["format_version"] == 1
    assert document["seed"] == 1 and document["kit_version"] and document["reproduced"] and document["shrunk"]
    sent = [s for s in document["steps"] if s["direction"] == "sent"]
    assert 1 <= len(sent) <= 3, document["steps"]
    assert all(set(s) >= {"direction", "hex", "delay"} for s in document["steps"])
    # an unknown frame type (8..15) must be in what is left: that is what crashes the mutant
    assert any((body := unframe(bytes.fromhex(s["hex"]))) and body[0] >> 4 >= 8 for s in sent), sent
    for mutant, expected in (("crash-on-unknown-type", 1), (None, 0)):
        with reference_server(pki, tmp_path, mutant=mutant) as (host, port):
            replay = sink_check("replay", str(finding), f"{host}:{port}", *tls(pki), timeout=60)
        assert replay.returncode == expected, (mutant, replay.stdout + replay.stderr)


def test_a_session_file_saved_before_the_fuzz_package_split_still_replays(tmp_path: Path) -> None:
    """tests/data/fuzz-finding-server-format1.json: a finding against the crash-on-unknown-type mutant as
    `sink-check fuzz server` saved it before sinkcheck.fuzz was split out of fuzz_mode.py (format 1, kept
    unshrunk with --shrink-time 0: four connections, a pause, received steps and a note)."""
    path = ROOT / "tests" / "data" / "fuzz-finding-server-format1.json"
    sessions = load_sessions(json.loads(path.read_text()))
    assert [len(s) for s in sessions] == [2, 5, 3, 0]  # only the sent steps; the note leaves its connection empty
    assert sessions[1][1] == Write(bytes.fromhex("00023001"), 0.02)
    assert any(body and body[0] >> 4 >= 8 for body in (unframe(w.data) for w in sessions[2]))  # the crashing frame
    pki = make_pki(tmp_path / "pki")
    for mutant, expected in (("crash-on-unknown-type", 1), (None, 0)):
        with reference_server(pki, tmp_path, mutant=mutant) as (host, port):
            replay = sink_check("replay", str(path), f"{host}:{port}", *tls(pki), timeout=60)
        assert replay.returncode == expected, (mutant, replay.stdout + replay.stderr)
        assert ("REPRODUCES" if expected else "does not reproduce: ") in replay.stdout, replay.stdout
