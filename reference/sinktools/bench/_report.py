"""What every benchmark's report shares: the machine line, and the docs page section a run rewrites when asked."""

from __future__ import annotations

import datetime as dt
import platform
import re
from pathlib import Path

__all__ = ["docs_page", "machine_line", "replace_region"]


def docs_page(start: Path | None = None) -> Path | None:
    """``docs/performance.md`` here or above (the kit's tree), or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "docs" / "performance.md"
        if candidate.is_file():
            return candidate
    return None


def replace_region(page: Path, name: str, text: str) -> None:
    """Put ``text`` between the page's ``bench:NAME`` markers."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    content = page.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(content):
        raise SystemExit(f"sink bench: {page} has no {start} ... {end} section")
    page.write_text(pattern.sub(lambda _: f"{start}\n{text.rstrip()}\n{end}", content), encoding="utf-8")


def machine_line(extra: str = "") -> str:
    """One line saying when and where the figures were taken."""
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {load:.1f} at the start{extra}."
    )
