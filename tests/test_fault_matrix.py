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
    cells, baseline = asyncio.run(
        run_matrix(_subset(), host=host, port=port, profile=reference_profile(pki), variants=list(VARIANTS))
    )
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
        cells, _ = asyncio.run(
            run_matrix(_subset(), host=host, port=port, profile=reference_profile(pki), variants=["whole", "byte"])
        )
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
    identities = "\n".join(
        f'[identities.{name}]\ncert = "{i.cert}"\nkey = "{i.key}"\n' for name, i in profile.identities.items()
    )
    profile_file = tmp_path / "reference.toml"
    profile_file.write_text(f'name = "matrix-test"\nca = "{profile.ca}"\nkeepalive = {profile.keepalive}\n{identities}')
    report = tmp_path / "matrix.json"
    host, port = good_server
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sinkcheck.cli",
            "server",
            f"{host}:{port}",
            "--profile",
            str(profile_file),
            "--matrix",
            "--variants",
            "whole,split,reset",
            "--cases",
            "server.ping.pong",
            "--json",
            str(report),
            "--docs-url",
            "https://docs.example.org/sink/",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "case x delivery variant" in run.stdout
    document = json.loads(report.read_text())
    # --docs-url links the cited requirements, as in a normal run (issue 17)
    assert document["requirement_links"]["PING-1"] == "https://docs.example.org/sink/spec/v0/frames/#PING-1"
    matrix = document["matrix"]
    assert matrix["variants"] == ["whole", "split", "reset"]
    cells = matrix["cases"][0]["cells"]
    assert {v: cells[v]["outcome"] for v in matrix["variants"]} == {"whole": "pass", "split": "pass", "reset": "pass"}


# -- verdicts that must hold under segmentation (issue 16) -----------------------------------------


def test_bounded_pieces_cut_the_edges_and_bound_the_writes() -> None:
    from sinkcheck.faultproxy import CUT_EDGE, MIDDLE_PIECE, bounded_pieces

    def single(data: bytes) -> list[bytes]:
        return [data[i : i + 1] for i in range(len(data))]

    small = bytes(range(200))
    assert bounded_pieces(small, single) == single(small)  # a small write is cut at every byte
    big = bytes(65537)  # a 65,535-byte frame with its length prefix
    pieces = bounded_pieces(big, single)
    assert b"".join(pieces) == big
    assert pieces[:CUT_EDGE] == single(big[:CUT_EDGE]) and pieces[-CUT_EDGE:] == single(big[-CUT_EDGE:])
    assert len(pieces) == 2 * CUT_EDGE + -(-(len(big) - 2 * CUT_EDGE) // MIDDLE_PIECE)  # 529, not 65,537


def test_an_answer_followed_by_a_reset_is_still_read() -> None:
    """The peer answers, then resets the connection (it closed with our bytes unread): the runner
    must judge the answer it received, not lose it to the reset."""
    import socket
    import struct
    import time as _time

    from sinkcheck.wire import Wire

    async def scenario() -> tuple[bytes | None, bytes | None, str]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(4)
            writer.write(b"\x00\x02\x12\x00")  # a 2-byte frame: instance_id_mismatch
            await writer.drain()
            await asyncio.sleep(0.2)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # RST

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        async with server:
            wire = await Wire.connect(
                host,
                port,
                ssl_context=None,
                server_hostname=None,
                name="c1",
                log=lambda r: None,
                started=_time.monotonic(),
                timeout=5,
            )
            await wire.send_raw(b"\x00\x02\x50\x00")
            await asyncio.sleep(0.5)  # the answer and the reset have both arrived
            await wire.send_raw(b"\x00\x02\x50\x00")  # a faulty client keeps writing: the write meets the reset
            first = await wire.recv_frame(5)
            second = await wire.recv_frame(5)
            await wire.close()
            return first, second, wire.close_reason

    first, second, reason = asyncio.run(scenario())
    assert first == b"\x12\x00"
    assert second is None and "ConnectionResetError" in reason


def test_refusal_and_the_biggest_frame_hold_under_byte_and_split(pki: Path, good_server: tuple[str, int]) -> None:
    """The server answers instance_id_mismatch and closes while the runner still writes the PUBLISH
    byte by byte (a reset, not the server's fault); a 65,535-byte frame cut byte by byte used to
    take over a minute of the runner's own pacing."""
    host, port = good_server
    cases = [c for c in catalogue() if c.id in ("server.handshake.nothing-after-refusal", "server.framing.frame-65535")]
    cells, _ = asyncio.run(
        run_matrix(cases, host=host, port=port, profile=reference_profile(pki), variants=["byte", "split"])
    )
    assert [(c.case_id, c.variant, c.outcome) for c in cells] == [
        (c.id, v, Outcome.PASS) for v in ("byte", "split") for c in cases
    ], [c.observed for c in cells]


@pytest.fixture(scope="module")
def v0_server(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A version-0-only reference server with a store of its own (its fresh identity is still fresh)."""
    with reference_server(pki, tmp_path_factory.mktemp("v0"), extra=("--protocol-version", "0")) as address:
        yield address


def test_a_case_unsupported_in_the_run_is_unsupported_in_every_column(pki: Path, v0_server: tuple[str, int]) -> None:
    """The gzip bomb needs version 1: unsupported under `whole`, so under `stall` and `reset` too (the
    fault used to cut the very exchange that says so, and the probe then passed the cell); a
    fault-only matrix learns it from a `whole` pass it does not show."""
    host, port = v0_server
    profile = reference_profile(pki)
    profile = type(profile)(**{**profile.__dict__, "versions": (0,)})
    bomb = [c for c in catalogue() if c.id == "server.resources.batch-gzip-bomb"]
    cells, baseline = asyncio.run(
        run_matrix(bomb, host=host, port=port, profile=profile, variants=["whole", "stall", "reset"])
    )
    assert {c.variant: c.outcome for c in cells} == dict.fromkeys(("whole", "stall", "reset"), Outcome.UNSUPPORTED)
    cells, baseline = asyncio.run(run_matrix(bomb, host=host, port=port, profile=profile, variants=["reset"]))
    assert [(c.variant, c.outcome) for c in cells] == [("reset", Outcome.UNSUPPORTED)]
    assert [r.outcome for r in baseline] == [Outcome.UNSUPPORTED]


def test_the_fresh_identity_is_used_once_per_matrix(pki: Path, v0_server: tuple[str, int]) -> None:
    host, port = v0_server
    fresh = [c for c in catalogue() if c.id == "server.handshake.new-client"]
    cells, _ = asyncio.run(
        run_matrix(fresh, host=host, port=port, profile=reference_profile(pki), variants=["whole", "byte"])
    )
    assert [(c.variant, c.outcome) for c in cells] == [("whole", Outcome.PASS), ("byte", Outcome.UNSUPPORTED)]
    assert "fresh identity was used in the whole column" in cells[1].observed


def test_expected_failures_in_the_matrix(pki: Path, tmp_path: Path) -> None:
    """A listed case that fails is expected, in every column; the list goes stale by the `whole` column."""
    from sinkcheck.matrix import matrix_summary

    with reference_server(pki, tmp_path, mutant="no-reassembly") as (host, port):
        cells, baseline = asyncio.run(
            run_matrix(
                _subset(),
                host=host,
                port=port,
                profile=reference_profile(pki),
                variants=["whole", "byte"],
                expected_failures={"server.ping.pong"},
            )
        )
    by = {(c.case_id, c.variant): c for c in cells}
    assert by[("server.ping.pong", "byte")].outcome is Outcome.FAIL
    assert by[("server.ping.pong", "byte")].expected_failure
    assert not by[("server.publish.ack", "byte")].expected_failure
    summary = matrix_summary(cells, baseline, {"server.ping.pong", "server.no.such-case"})
    assert summary.unexpected_failures == ["server.handshake.known-client", "server.publish.ack"]
    assert summary.unexpected_passes == ["server.ping.pong"]  # it passes in the whole column: stale
    assert summary.unknown_expected == ["server.no.such-case"]
    assert summary.exit_code == 1


def test_cli_matrix_honours_expected_failures(pki: Path, good_server: tuple[str, int], tmp_path: Path) -> None:
    profile = reference_profile(pki)
    identities = "\n".join(
        f'[identities.{name}]\ncert = "{i.cert}"\nkey = "{i.key}"\n' for name, i in profile.identities.items()
    )
    profile_file = tmp_path / "reference.toml"
    profile_file.write_text(f'name = "matrix-test"\nca = "{profile.ca}"\nkeepalive = {profile.keepalive}\n{identities}')
    listed = tmp_path / "expected.txt"
    listed.write_text("server.ping.pong  # it passes: the list is stale\n")
    report = tmp_path / "matrix.json"
    host, port = good_server
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sinkcheck.cli",
            "server",
            f"{host}:{port}",
            "--profile",
            str(profile_file),
            "--matrix",
            "--variants",
            "whole,byte",
            "--cases",
            "server.ping.pong",
            "--expected-failures",
            str(listed),
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "listed as an expected failure but passed in the whole column" in run.stdout
    assert json.loads(report.read_text())["summary"]["unexpected_passes"] == ["server.ping.pong"]


def test_grid_shows_readable_case_ids_on_a_narrow_terminal() -> None:
    from rich.console import Console
    from sinkcheck.matrix import Cell, common_prefix, print_grid, wrap_id

    cases = [c for c in catalogue() if c.mode == "server"][::5][:12]  # several areas: the prefix is "server."
    cells = [Cell(c.id, v, Outcome.PASS, "", 0.0) for c in cases for v in VARIANTS]
    console = Console(width=80, record=True)
    print_grid(console, cells, cases, list(VARIANTS))
    text = console.export_text()
    assert "server…" not in text and "…" not in text.replace("case (server.…)", "")
    assert common_prefix([c.id for c in cases]) == "server."
    lines = text.splitlines()
    for case in cases:  # each ID, without the prefix, is in the first column, wrapped only at . and -
        wrapped = wrap_id(case.id.removeprefix("server."), 80)
        assert "\n" not in wrapped
        assert any(line.startswith(case.id.removeprefix("server.")[:12]) for line in lines), case.id
    assert wrap_id("handshake.unsupported-application-version", 22) == "handshake.unsupported-\napplication-version"
    assert max(len(line) for line in text.splitlines()) <= 80


def test_asyncio_noise_stays_off_the_console(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    import logging

    from sinkcheck.console import route_asyncio_log

    log = logging.getLogger("asyncio")
    saved = (list(log.handlers), log.propagate, log.level)
    # `sink`'s own logging set-up (run in-process by other tests) filters these lines from the logger itself
    saved_filters = list(log.filters)
    log.filters[:] = []
    try:
        route_asyncio_log(None)
        log.warning("socket.send() raised exception.")
        log.error("Task exception was never retrieved")
        route_asyncio_log(tmp_path / "debug.log")
        log.warning("SSL connection is closed")
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        log.handlers[:], log.propagate, log.level = saved[0], saved[1], saved[2]
        log.filters[:] = saved_filters
        for handler in saved[0]:
            log.addHandler(handler) if handler not in log.handlers else None
    err = capfd.readouterr().err
    assert "socket.send() raised exception." not in err and "SSL connection is closed" not in err
    assert "Task exception was never retrieved" in err  # a runner bug still shows
    assert "SSL connection is closed" in (tmp_path / "debug.log").read_text()
