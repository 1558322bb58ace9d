"""Resource-bound verdicts: the time a peer takes to reject hostile input, judged against [limits].

Real `sink serve` subprocesses: the reference passes (the bomb case too: it speaks version 1,
so batches travel), and each resource mutant is too slow for its case.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sinkcheck.cases import catalogue
from sinkcheck.model import Outcome
from sinkcheck.runner import run_cases
from sinkcheck.selftest import make_pki, reference_profile, reference_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _run(pki: Path, workdir: Path, mutant: str | None, case_id: str) -> tuple[Outcome, str]:
    cases = [c for c in catalogue() if c.id == case_id]
    with reference_server(pki, workdir, mutant=mutant) as (host, port):
        [result] = asyncio.run(run_cases(cases, host=host, port=port, profile=reference_profile(pki)))
    return result.outcome, result.observed


@pytest.mark.parametrize(
    ("case_id", "reference", "mutant"),
    [
        ("server.resources.length-prefix-silence", Outcome.PASS, "prefix-stall-kept"),
        ("server.resources.overlong-varint", Outcome.PASS, "slow-reject"),
        ("server.resources.batch-gzip-bomb", Outcome.PASS, "slow-reject-v1"),
    ],
)
def test_reference_within_limits_and_mutant_too_slow(
    pki: Path, tmp_path: Path, case_id: str, reference: Outcome, mutant: str
) -> None:
    outcome, observed = _run(pki, tmp_path, None, case_id)
    assert outcome is reference, observed
    if reference is Outcome.PASS:
        assert "s (limit " in observed  # the verdict names the time taken and the limit
    outcome, observed = _run(pki, tmp_path, mutant, case_id)
    assert outcome is Outcome.FAIL, observed
    assert "limit" in observed


class _AcksThenKeepsOpen:
    """A wire whose peer ACKs at once and then stays open and silent (the field server's reaction)."""

    def __init__(self, frames: list[bytes], close: bool = False) -> None:
        self.frames, self.close = frames, close

    async def recv_frame(self, timeout: float) -> bytes | None:
        if self.frames:
            return self.frames.pop(0)
        if self.close:
            return None
        await asyncio.sleep(timeout)
        raise TimeoutError


def _ctx(reject_within: float) -> object:
    from types import SimpleNamespace

    from sinkcheck.profile import Profile

    return SimpleNamespace(profile=Profile(raw={"limits": {"reject_within": reject_within}}), t=lambda s: s)


def test_a_slow_verdict_says_what_arrived() -> None:
    """The field server ACKs an 11-byte varint within 1 ms and keeps the connection: the explanation
    says so, instead of only "still open after 5.01 s"."""
    import time

    from sinkcheck.cases.server_resources import timed_close
    from sinkcheck.model import CheckFailed

    with pytest.raises(CheckFailed) as failed:
        asyncio.run(
            timed_close(
                _ctx(0.2),
                _AcksThenKeepsOpen([b"\x30\x03"]),
                "the overlong varint",  # type: ignore[arg-type]
                "reject_within",
                time.monotonic(),
                publish_id=3,
            )
        )
    observed = failed.value.observed
    # how long the fake server took depends on the machine's load: "within 1 ms" or "after N ms"
    assert re.match(
        r"the overlong varint: the server ACKed the PUBLISH \(ACK 3003\) (within 1|after \d+) ms and kept "
        r"the connection open: still open after 0\.2",
        observed,
    ), observed
    with pytest.raises(CheckFailed) as failed:
        asyncio.run(
            timed_close(
                _ctx(0.1),
                _AcksThenKeepsOpen([b"\x60\x00", b"\x30\x07"]),
                "x",  # type: ignore[arg-type]
                "reject_within",
                time.monotonic(),
                publish_id=3,
            )
        )
    assert re.search(
        r"x: the server sent pong\(\) \(6000\) (within 1|after \d+) ms, then the server sent "
        r"ack\(message_id=7\) \(3007\)",
        failed.value.observed,
    ), failed.value.observed
    with pytest.raises(CheckFailed) as failed:
        asyncio.run(
            timed_close(
                _ctx(0.1),
                _AcksThenKeepsOpen([]),
                "x",
                "reject_within",  # type: ignore[arg-type]
                time.monotonic(),
            )
        )
    assert "the server sent nothing and kept the connection open" in failed.value.observed
    verdict = asyncio.run(
        timed_close(
            _ctx(1.0),
            _AcksThenKeepsOpen([b"\x30\x03"], close=True),
            "x",  # type: ignore[arg-type]
            "reject_within",
            time.monotonic(),
            publish_id=3,
        )
    )
    assert verdict.startswith("x: closed after ")
    assert re.search(
        r"\(limit reject_within = 1\.0 s\); before closing, the server ACKed the PUBLISH \(ACK 3003\) "
        r"(within 1|after \d+) ms$",
        verdict,
    ), verdict
