"""Write the golden vector files from their sources (``sink vectors generate``, an alias of ``regenerate``)."""

from __future__ import annotations

from pathlib import Path

from .regenerate import SPEC_VERSION, regenerate

__all__ = ["generate", "SPEC_VERSION"]


def generate(directory: Path, kit_version: str, schemas_dir: Path | None = None) -> list[Path]:
    """Write every vector file that changed and extend the ID lock with new IDs; return what was written.

    The lock is append-only: an ID already locked keeps its fingerprint, so a
    change of meaning shows up in ``sink vectors check`` instead of being
    silently re-locked here. The schema version lock is left alone: this is
    the library entry point, also used on scratch folders.
    """
    changes = regenerate(directory, kit_version, schemas_dir, schema_lock=False)
    return [c.path for c in changes if c.changed]
