"""The docs site builds with --strict: no broken link, no page missing from the nav."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sinktest import ROOT


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "spec" / "v0" / "frames" / "index.html").exists()
    assert (tmp_path / "site" / "search" / "search_index.json").exists()
    html = (tmp_path / "site" / "index.html").read_text()
    assert "fonts.googleapis.com" not in html  # nothing fetched at view time
