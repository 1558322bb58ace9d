"""The repository stands on its own: a fresh clone, with nothing beside it, collects its whole suite.

A user's clone has no sibling folders and no fixed workplace paths, so no
tracked file may point outside the repository (the field implementation's
bytes live in vectors/field/).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sinktest import ROOT

# Spelled in two pieces so that this file does not match its own search.
OUTSIDE_REFERENCES = ("../" + "shared", "/" + "work/")


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def checkout() -> Path:
    try:
        top = _git("rev-parse", "--show-toplevel").strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (an unpacked sdist): nothing to clone")
    return Path(top)


def test_no_tracked_file_points_outside_the_repository(checkout: Path) -> None:
    hits = []
    for needle in OUTSIDE_REFERENCES:
        # -I: text files only; exit code 1 means "no match".
        found = subprocess.run(["git", "grep", "-n", "-I", "-F", needle], cwd=checkout, capture_output=True, text=True)
        assert found.returncode in (0, 1), found.stderr
        hits += found.stdout.splitlines()
    assert hits == []


def test_a_fresh_clone_alone_in_a_folder_collects_the_whole_suite(checkout: Path, tmp_path: Path) -> None:
    clone = tmp_path / "sink"
    _git("clone", "--quiet", str(checkout), str(clone), cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sink"]  # nothing beside it
    # The clone's own code first, so that collection imports it, not this checkout's editable install.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(clone / "reference"), str(clone / "conformance")])}
    where = subprocess.run(
        [sys.executable, "-c", "import sinkproto, sinkcheck; print(sinkproto.__file__); print(sinkcheck.__file__)"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert all(Path(line).is_relative_to(clone) for line in where.stdout.split()), where.stdout
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = (collected.stdout + collected.stderr)[-3000:]
    assert collected.returncode == 0, tail
    assert "error" not in collected.stdout.splitlines()[-1].lower(), tail
    assert " tests collected" in collected.stdout, tail
