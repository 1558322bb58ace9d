"""Regenerate the golden vector files from their sources (``sink vectors generate``)."""

from __future__ import annotations

import json
from pathlib import Path

from .cases import FILE_DESCRIPTIONS, build_all
from .check import LOCK_NAME, load_lock
from .model import VectorFile, dump_file, fingerprint

__all__ = ["generate"]

SPEC_VERSION = 0


def generate(directory: Path, kit_version: str) -> list[Path]:
    """Write one file per kind and extend the ID lock with new IDs.

    The lock is append-only: an ID already locked keeps its fingerprint, so a
    change of meaning shows up in ``sink vectors check`` instead of being
    silently re-locked here.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    lock = load_lock(directory) or {}
    for kind, cases in build_all():
        vf = VectorFile(kind=kind, spec_version=SPEC_VERSION, kit_version=kit_version,
                        description=FILE_DESCRIPTIONS[kind], cases=cases)
        path = directory / f"{kind}.json"
        path.write_text(dump_file(vf), encoding="utf-8")
        written.append(path)
        for case in cases:
            lock.setdefault(case.id, fingerprint(kind, case))
    lock_doc = {
        "description": "Every vector id ever committed and the fingerprint of its meaning. Append-only: "
        "ids are never removed, renumbered or reused (sink vectors check enforces it).",
        "ids": dict(sorted(lock.items())),
    }
    (directory / LOCK_NAME).write_text(json.dumps(lock_doc, indent=1) + "\n", encoding="utf-8")
    return written
