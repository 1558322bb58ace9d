"""Resource-bound verdicts: the time a peer takes to reject hostile input, judged against [limits].

Real `sink serve` subprocesses: the reference passes (the bomb case too: it speaks version 1,
so batches travel), and each resource mutant is too slow for its case.
"""

from __future__ import annotations

import asyncio
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


@pytest.mark.parametrize(("case_id", "reference", "mutant"), [
    ("server.resources.length-prefix-silence", Outcome.PASS, "prefix-stall-kept"),
    ("server.resources.overlong-varint", Outcome.PASS, "slow-reject"),
    ("server.resources.batch-gzip-bomb", Outcome.PASS, "slow-reject-v1"),
])
def test_reference_within_limits_and_mutant_too_slow(pki: Path, tmp_path: Path, case_id: str, reference: Outcome,
                                                     mutant: str) -> None:
    outcome, observed = _run(pki, tmp_path, None, case_id)
    assert outcome is reference, observed
    if reference is Outcome.PASS:
        assert "s (limit " in observed  # the verdict names the time taken and the limit
    outcome, observed = _run(pki, tmp_path, mutant, case_id)
    assert outcome is Outcome.FAIL, observed
    assert "limit" in observed
