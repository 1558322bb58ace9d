"""Where the runner finds the spec registry when it runs from a checkout of the kit."""

from __future__ import annotations

from pathlib import Path


def _find(relative: str) -> Path | None:
    here = Path(__file__).resolve()
    for folder in here.parents:
        candidate = folder / relative
        if candidate.exists():
            return candidate
    return None


SPEC_REGISTRY = _find("spec/v0/requirements.toml")
#: Version 1 defines only its own IDs (one ID space with version 0); None outside a checkout.
SPEC_REGISTRY_V1 = _find("spec/v1/requirements.toml")
