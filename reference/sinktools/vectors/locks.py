"""The ID lock of a vectors folder (``ids.lock.json``): every vector id ever committed and its meaning.

Read by the checker (:mod:`.check`) and extended by the regenerator (:mod:`.regenerate`).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["LOCK_NAME", "load_lock"]

LOCK_NAME = "ids.lock.json"


def load_lock(directory: Path) -> dict[str, str] | None:
    path = directory / LOCK_NAME
    if not path.exists():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8"))["ids"])
