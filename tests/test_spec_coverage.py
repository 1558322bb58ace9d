"""The spec, its registry, the vectors and the tests cannot drift apart.

- every ID tagged in the prose is in requirements.toml and vice versa, with the same level;
- every requirement ID cited by a vector or a test exists;
- every MUST / MUST NOT requirement of the codec sections is cited by at least one vector or test.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from sinktest import ROOT

from sinkproto.vectors.model import load_dir

SPEC = ROOT / "spec" / "v0"
REGISTRY = tomllib.loads((SPEC / "requirements.toml").read_text())["requirement"]
BY_ID = {r["id"]: r for r in REGISTRY}
TAG = re.compile(r'<a id="([A-Z]+-\d+)"></a>\*\*\[\1\]\*\*(.*)')
KEYWORDS = ("MUST NOT", "SHOULD NOT", "MUST", "SHOULD", "MAY")
# The sections whose requirements a codec implements: byte layouts, framing, limits.
CODEC_PREFIXES = {"CONV", "STREAM", "FRAME", "CONN", "PUB", "ACK", "NACK", "BATCH", "LIMIT"}


def tagged_in_prose() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(SPEC.glob("*.md")):
        for match in TAG.finditer(path.read_text()):
            assert match.group(1) not in found, f"{match.group(1)} tagged twice"
            found[match.group(1)] = (path.name, match.group(2))
    return found


def cited_by_tests() -> set[str]:
    """IDs named in covers(...) decorators anywhere under tests/."""
    cited: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "covers":
                cited.update(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return cited


def cited_by_vectors() -> set[str]:
    return {r for vf in load_dir(ROOT / "vectors" / "v0") for c in vf.cases for r in c.requirements}


def test_registry_and_prose_agree() -> None:
    prose = tagged_in_prose()
    assert set(prose) == set(BY_ID), (set(prose) ^ set(BY_ID))
    for rid, (filename, sentence) in prose.items():
        entry = BY_ID[rid]
        assert entry["section"] == f"{filename}#{rid}", rid
        level = next(k for k in KEYWORDS if k in sentence)
        assert entry["level"] == level, f"{rid}: registry says {entry['level']}, prose says {level}"


def test_ids_are_well_formed_and_unique() -> None:
    ids = [r["id"] for r in REGISTRY]
    assert len(ids) == len(set(ids))
    for rid in ids:
        assert re.fullmatch(r"[A-Z]+-[1-9]\d*", rid), rid


def test_every_cited_id_exists() -> None:
    dangling = (cited_by_tests() | cited_by_vectors()) - set(BY_ID)
    assert not dangling, f"cited but not in the spec: {sorted(dangling)}"


def test_every_codec_must_is_cited() -> None:
    cited = cited_by_tests() | cited_by_vectors()
    musts = {r["id"] for r in REGISTRY if r["level"] in ("MUST", "MUST NOT") and r["id"].split("-")[0] in CODEC_PREFIXES}
    missing = sorted(musts - cited, key=lambda i: (i.split("-")[0], int(i.split("-")[1])))
    assert not missing, f"MUST requirements of the codec sections cited by no vector or test: {missing}"
