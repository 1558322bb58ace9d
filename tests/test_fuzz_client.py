"""sink-check fuzz client and replay against real clients: the reference client (`sink connect`) survives a
short run; a client mutant that exits on an unknown frame type is found, shrunk and replayed."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from sinkcheck.fuzz_mutations import unframe
from sinkcheck.selftest import make_pki
from sinktest import ROOT


def tls(pki: Path) -> list[str]:  # client mode: the runner presents the server identity
    return ["--ca", str(pki / "ca.pem"), "--cert", str(pki / "server.pem"), "--key", str(pki / "server.key")]


def client_command(pki: Path, db: Path, mutant: str | None = None) -> str:
    entry = f"-m sinkcheck.cli _mutant-client --mutant {mutant}" if mutant else "-m sinktools.cli connect"
    return (
        f"{shlex.quote(sys.executable)} {entry} --server {{host}}:{{port}} --certs {shlex.quote(str(pki))} "
        f"--name sc-main --db {shlex.quote(str(db))} --keepalive 1 --publish 200"
    )


def sink_check(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sinkcheck.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT / "conformance",
    )


def test_fuzzing_the_reference_client_finds_nothing(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    proc = sink_check(
        "fuzz",
        "client",
        *tls(pki),
        "--seed",
        "1",
        "--duration",
        "6",
        "--exec",
        client_command(pki, tmp_path / "client.db"),
        "--out",
        str(tmp_path / "finding.json"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no finding" in proc.stdout
    assert not (tmp_path / "finding.json").exists()
    exchanges = int(proc.stdout.split(" exchanges in ")[0].split()[-1])
    assert exchanges >= 5, proc.stdout


def test_a_client_that_crashes_on_an_unknown_type_is_found_shrunk_and_replayed(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    finding = tmp_path / "finding.json"
    mutant = client_command(pki, tmp_path / "mutant.db", "crash-on-unknown-type")
    proc = sink_check(
        "fuzz",
        "client",
        *tls(pki),
        "--seed",
        "1",
        "--duration",
        "60",
        "--shrink-time",
        "60",
        "--exec",
        mutant,
        "--out",
        str(finding),
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "the client process exited with status 70" in proc.stdout, output
    document = json.loads(finding.read_text())
    assert document["format"] == "sink-check-fuzz-session" and document["mode"] == "client"
    assert document["reproduced"] and document["shrunk"], document
    sent = [s for s in document["steps"] if s["direction"] == "sent"]
    assert 1 <= len(sent) <= 3, document["steps"]
    assert any((body := unframe(bytes.fromhex(s["hex"]))) and body[0] >> 4 >= 8 for s in sent), sent
    for command, expected in ((mutant, 1), (client_command(pki, tmp_path / "reference.db"), 0)):
        replay = sink_check("replay", str(finding), "--exec", command, *tls(pki), timeout=90)
        assert replay.returncode == expected, (command, replay.stdout + replay.stderr)
