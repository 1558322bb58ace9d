"""mkdocs hook: the spec version selector.

Every page of a spec version (``spec/vN/...``) gets a selector line at its
top that names the versions and links to the same page in each version that
has it (or to that version's overview), so a reader moves between v0 and the
v1 draft without losing their place. Versions are the ``spec/v*`` folders.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LABELS = {"v0": "v0 (stable, field-compatible)", "v1": "v1 (draft)"}
PAGE = re.compile(r"^spec/(v\d+)/([^/]+\.md)$")


def versions() -> list[str]:
    return sorted((p.name for p in (ROOT / "spec").glob("v*") if p.is_dir()), key=lambda v: int(v[1:]))


def selector(version: str, page: str) -> str:
    links = []
    for other in versions():
        label = LABELS.get(other, other)
        if other == version:
            links.append(f"**{label}**")
            continue
        target = page if (ROOT / "spec" / other / page).exists() else "index.md"
        links.append(f"[{label}](../{other}/{target})")
    return '!!! info "Specification version"\n    ' + " · ".join(links) + "\n\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    match = PAGE.match(page.file.src_uri)
    if not match or len(versions()) < 2:
        return markdown
    version, name = match.groups()
    # after the page title, so the title stays the page's first heading
    lines = markdown.split("\n")
    for index, line in enumerate(lines):
        if line.startswith("# "):
            return "\n".join(lines[: index + 1]) + "\n\n" + selector(version, name) + "\n".join(lines[index + 1 :])
    return selector(version, name) + markdown
