"""The ID lock of a vectors folder (``ids.lock.json``): every vector id ever committed and its meaning.

Read by the checker (:mod:`.check`) and extended by the regenerator (:mod:`.regenerate`). An id a
spec draft made wrong (a version-1 draft changed its bytes' meaning) is *withdrawn*: it stays in the
lock with its fingerprint and the reason, is no longer in the vectors, and is never used again.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["LOCK_NAME", "load_lock", "load_withdrawn"]

LOCK_NAME = "ids.lock.json"


def _doc(directory: Path) -> dict[str, dict[str, str]] | None:
    path = directory / LOCK_NAME
    if not path.exists():
        return None
    doc: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def load_lock(directory: Path, *, with_withdrawn: bool = False) -> dict[str, str] | None:
    """Every locked id and its fingerprint; without the withdrawn ones unless ``with_withdrawn``."""
    doc = _doc(directory)
    if doc is None:
        return None
    withdrawn = doc.get("withdrawn", {})
    return {k: v for k, v in doc["ids"].items() if with_withdrawn or k not in withdrawn}


def load_withdrawn(directory: Path) -> dict[str, str]:
    """The withdrawn ids and why each was withdrawn."""
    doc = _doc(directory)
    return dict(doc.get("withdrawn", {})) if doc is not None else {}
