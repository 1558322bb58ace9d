"""The fault and segmentation matrix: a loopback proxy between runner and testee, real servers, real TLS.

The reference server (`sink serve` in a subprocess) passes a small case subset under every delivery
variant; a mutant that drops partial frames between reads is caught under `byte`; the command line
writes the case x variant grid into the JSON report.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sinkcheck.cases import catalogue
from sinkcheck.faultproxy import VARIANTS, Delivery, FaultProxy
from sinkcheck.matrix import run_matrix
from sinkcheck.model import Outcome
from sinkcheck.selftest import make_pki, reference_profile, reference_server

SUBSET = ("server.handshake.known-client", "server.publish.ack", "server.ping.pong")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def good_server(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with reference_server(pki, tmp_path_factory.mktemp("reference")) as address:
        yield address


def _subset() -> list:
    return [c for c in catalogue() if c.id in SUBSET]


def test_reference_passes_every_variant(pki: Path, good_server: tuple[str, int]) -> None:
    host, port = good_server
    cells, baseline = asyncio.run(run_matrix(_subset(), host=host, port=port, profile=reference_profile(pki),
                                             variants=list(VARIANTS)))
    assert len(cells) == len(SUBSET) * len(VARIANTS)
    bad = [(c.case_id, c.variant, c.observed) for c in cells if c.outcome is not Outcome.PASS]
    assert not bad
    assert [r.case.id for r in baseline] == [c.id for c in _subset()]  # the `whole` column
    # the fault variants did apply their fault: they are not `whole` in disguise
    for variant in ("stall", "half-close", "reset"):
        observed = [c.observed for c in cells if c.variant == variant]
        assert all("no fault applied" not in o for o in observed), observed


def test_no_reassembly_mutant_is_caught_under_byte(pki: Path, tmp_path: Path) -> None:
    with reference_server(pki, tmp_path, mutant="no-reassembly") as (host, port):
        cells, _ = asyncio.run(run_matrix(_subset(), host=host, port=port, profile=reference_profile(pki),
                                          variants=["whole", "byte"]))
    by = {(c.case_id, c.variant): c.outcome for c in cells}
    assert all(by[(case_id, "whole")] is Outcome.PASS for case_id in SUBSET)  # it is only broken by segmentation
    assert all(by[(case_id, "byte")] is Outcome.FAIL for case_id in SUBSET)


def test_proxy_segments_throttles_and_delays(good_server: tuple[str, int]) -> None:
    """`byte` at 2,000 bytes/s with 50 ms latency: a TLS handshake through it takes measurably longer."""
    import ssl
    import time

    async def handshake_time(delivery: Delivery) -> float:
        async with FaultProxy(*good_server, delivery) as proxy:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            started = time.monotonic()
            try:
                _reader, writer = await asyncio.open_connection(*proxy.address, ssl=context)
                writer.close()
            except (ssl.SSLError, ConnectionError):
                pass  # no client certificate: the server refuses, after the handshake's bytes went through
            elapsed = time.monotonic() - started
            assert proxy.connections and proxy.connections[0].sent > 0
            return elapsed

    fast = asyncio.run(handshake_time(Delivery(variant="whole")))
    slow = asyncio.run(handshake_time(Delivery(variant="byte", rate=2000, latency=0.05)))
    assert slow > fast + 0.1


def test_cli_matrix_writes_the_grid(pki: Path, good_server: tuple[str, int], tmp_path: Path) -> None:
    profile = reference_profile(pki)
    identities = "\n".join(f'[identities.{name}]\ncert = "{i.cert}"\nkey = "{i.key}"\n'
                           for name, i in profile.identities.items())
    profile_file = tmp_path / "reference.toml"
    profile_file.write_text(f'name = "matrix-test"\nca = "{profile.ca}"\nkeepalive = {profile.keepalive}\n{identities}')
    report = tmp_path / "matrix.json"
    host, port = good_server
    run = subprocess.run([sys.executable, "-m", "sinkcheck.cli", "server", f"{host}:{port}", "--profile",
                          str(profile_file), "--matrix", "--variants", "whole,split,reset", "--cases",
                          "server.ping.pong", "--json", str(report)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "200"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "case x delivery variant" in run.stdout
    matrix = json.loads(report.read_text())["matrix"]
    assert matrix["variants"] == ["whole", "split", "reset"]
    cells = matrix["cases"][0]["cells"]
    assert {v: cells[v]["outcome"] for v in matrix["variants"]} == {"whole": "pass", "split": "pass", "reset": "pass"}
