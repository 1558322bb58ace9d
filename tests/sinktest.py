"""Helpers shared by the test modules (importable because pytest's pythonpath has tests/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "vectors" / "v0"
# The field implementation's encoded cases (vectors/field/README.md): external ground truth, not golden vectors.
FIELD_VECTORS = ROOT / "vectors" / "field" / "v0-elixir-encoded.json"


def covers(*requirement_ids: str) -> Any:
    """Mark a test as evidence for spec requirements (checked by test_spec_coverage)."""
    return pytest.mark.covers(*requirement_ids)


def load_field_cases() -> list[dict[str, Any]]:
    return list(json.loads(FIELD_VECTORS.read_text(encoding="utf-8"))["cases"])
