"""mkdocs hook: serve the normative sources from where they live.

The spec prose (spec/v0/*.md, spec/v1/*.md) and the CHANGELOG are the single source of
truth; rather than copying them into docs/, this hook adds them to the site
as generated files, so a page can never drift from the spec it shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]

# (folder in the repository, URL prefix on the site)
SOURCES = [(ROOT / "spec" / "v0", "spec/v0"), (ROOT / "spec" / "v1", "spec/v1")]
SINGLE_FILES = [(ROOT / "CHANGELOG.md", "changelog.md")]


def on_files(files: Files, config: Any) -> Files:
    for folder, prefix in SOURCES:
        # The pages, the machine-readable appendices they link to (spec/v1/schemas.json) and their figures.
        for path in sorted([*folder.glob("*.md"), *folder.glob("*.json"), *folder.glob("*.svg")]):
            files.append(File.generated(config, f"{prefix}/{path.name}", abs_src_path=str(path)))
    for path, uri in SINGLE_FILES:
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
