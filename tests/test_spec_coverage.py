"""The spec, its registry, the vectors and the tests cannot drift apart.

- every ID tagged in the prose is in requirements.toml and vice versa, with the same level;
- every requirement ID cited by a vector or a test exists;
- every MUST / MUST NOT requirement of the codec sections is cited by at least one vector or test;
- every MUST / MUST NOT requirement is cited by a conformance case, a vector or a test (or listed, with
  the reason, as not checkable by software).

Version 1 (spec/v1) shares the ID space of version 0: its registry holds only the IDs it defines, never
one of version 0's, names the version-0 IDs it supersedes, and its links to version-0 requirements must
land on IDs that exist there.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from sinktest import ROOT
from sinktools.vectors.model import load_dir

SPEC = ROOT / "spec" / "v0"
REGISTRY = tomllib.loads((SPEC / "requirements.toml").read_text())["requirement"]
BY_ID = {r["id"]: r for r in REGISTRY}
SPEC_V1 = ROOT / "spec" / "v1"
REGISTRY_V1_DOC = tomllib.loads((SPEC_V1 / "requirements.toml").read_text())
REGISTRY_V1 = REGISTRY_V1_DOC["requirement"]
BY_ID_V1 = {r["id"]: r for r in REGISTRY_V1}
ALL_IDS = set(BY_ID) | set(BY_ID_V1)
LINK = re.compile(r"\]\((\.\./v0/)?([a-z_-]+\.md)#([A-Z]+-\d+)\)")
TAG = re.compile(r'<a id="([A-Z]+-\d+)"></a>\*\*\[\1\]\*\*(.*)')
KEYWORDS = ("MUST NOT", "SHOULD NOT", "MUST", "SHOULD", "MAY")
# The sections whose requirements a codec implements: byte layouts, framing, limits.
CODEC_PREFIXES = {"CONV", "STREAM", "FRAME", "CONN", "PUB", "ACK", "NACK", "BATCH", "LIMIT"}


def tagged_in_prose(spec: Path = SPEC) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(spec.glob("*.md")):
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
    return {
        r
        for version in ("v0", "v1")
        for vf in load_dir(ROOT / "vectors" / version)
        for c in vf.cases
        for r in c.requirements
    }


@pytest.mark.parametrize(("spec", "by_id"), [(SPEC, BY_ID), (SPEC_V1, BY_ID_V1)], ids=["v0", "v1"])
def test_registry_and_prose_agree(spec: Path, by_id: dict[str, dict[str, object]]) -> None:
    prose = tagged_in_prose(spec)
    assert set(prose) == set(by_id), set(prose) ^ set(by_id)
    for rid, (filename, sentence) in prose.items():
        entry = by_id[rid]
        assert entry["section"] == f"{filename}#{rid}", rid
        level = next(k for k in KEYWORDS if k in sentence)
        assert entry["level"] == level, f"{rid}: registry says {entry['level']}, prose says {level}"


@pytest.mark.parametrize("registry", [REGISTRY, REGISTRY_V1], ids=["v0", "v1"])
def test_ids_are_well_formed_and_unique(registry: list[dict[str, object]]) -> None:
    ids = [str(r["id"]) for r in registry]
    assert len(ids) == len(set(ids))
    for rid in ids:
        assert re.fullmatch(r"[A-Z]+-[1-9]\d*", rid), rid


def test_every_cited_id_exists() -> None:
    dangling = (cited_by_tests() | cited_by_vectors()) - ALL_IDS
    assert not dangling, f"cited but not in the spec: {sorted(dangling)}"


def cited_by_cases() -> set[str]:
    """IDs cited by the conformance catalogue (sink-check server and client cases)."""
    from sinkcheck.cases import catalogue

    return {rid for case in catalogue() for rid in case.requirements}


# MUST requirements that no software check can observe, with the reason. Keep it exact:
# test_every_must_is_covered fails on an entry that a case, vector or test now cites.
NOT_CHECKABLE: dict[str, str] = {}


def test_every_must_is_covered() -> None:
    """Every active MUST / MUST NOT of spec/v0 has a conformance case, a golden vector or a test citing it."""
    covered = cited_by_tests() | cited_by_vectors() | cited_by_cases()
    musts = {r["id"] for r in REGISTRY if r["level"] in ("MUST", "MUST NOT") and r.get("status", "active") == "active"}
    missing = sorted(musts - covered - set(NOT_CHECKABLE), key=lambda i: (i.split("-")[0], int(i.split("-")[1])))
    assert not missing, f"MUST requirements with no conformance case, vector or test: {missing}"
    stale = sorted(set(NOT_CHECKABLE) & covered)
    assert not stale, f"listed as not checkable but now covered (remove them from NOT_CHECKABLE): {stale}"
    assert set(NOT_CHECKABLE) <= musts, f"not MUST requirements of v0: {sorted(set(NOT_CHECKABLE) - musts)}"


def test_every_codec_must_is_cited() -> None:
    cited = cited_by_tests() | cited_by_vectors()
    musts = {
        r["id"] for r in REGISTRY if r["level"] in ("MUST", "MUST NOT") and r["id"].split("-")[0] in CODEC_PREFIXES
    }
    missing = sorted(musts - cited, key=lambda i: (i.split("-")[0], int(i.split("-")[1])))
    assert not missing, f"MUST requirements of the codec sections cited by no vector or test: {missing}"


# -- version 1 ------------------------------------------------------------------------------


def test_v1_ids_share_one_space_with_v0() -> None:
    """A version-1 ID is new: never one of version 0's, and numbered after them within a prefix."""
    assert not set(BY_ID_V1) & set(BY_ID)
    highest_v0: dict[str, int] = {}
    for rid in BY_ID:
        prefix, number = rid.split("-")
        highest_v0[prefix] = max(highest_v0.get(prefix, 0), int(number))
    for rid in BY_ID_V1:
        prefix, number = rid.split("-")
        assert int(number) > highest_v0.get(prefix, 0), f"{rid} reuses a number below version 0's {prefix} IDs"


def test_v1_superseded_ids_are_v0_ids_and_named_by_their_replacement() -> None:
    inherits = REGISTRY_V1_DOC["inherits"]
    assert inherits["from"] == 0
    superseded = set(inherits["superseded"])
    assert superseded <= set(BY_ID)
    named = {r["supersedes"] for r in REGISTRY_V1 if "supersedes" in r}
    assert named == superseded
    for rid in superseded:
        assert BY_ID[rid]["status"] == "active", f"{rid} stays in force for version 0"


def test_v1_entries_have_the_registry_keys() -> None:
    for entry in REGISTRY_V1:
        assert {"id", "level", "target", "section", "interop", "status", "summary"} <= set(entry), entry["id"]
        assert entry["status"] in ("active", "proposed"), entry["id"]
        assert entry["target"] in ("client", "server", "both", "encoder", "decoder", "sender", "receiver"), entry["id"]


def test_v1_links_to_requirements_land() -> None:
    """Every `[X](file.md#ID)` in spec/v1 names an ID that is tagged in that file (v1, or v0 for ../v0/ links)."""
    v0 = tagged_in_prose(SPEC)
    v1 = tagged_in_prose(SPEC_V1)
    broken = []
    for path in sorted(SPEC_V1.glob("*.md")):
        for match in LINK.finditer(path.read_text()):
            in_v0, filename, rid = match.groups()
            tagged = v0 if in_v0 else v1
            if tagged.get(rid, ("",))[0] != filename:
                broken.append(f"{path.name}: {match.group(0)}")
    assert not broken, broken


# The chapters of spec/v1 whose requirements a codec implements: byte layouts and limits.
CODEC_FILES_V1 = {"frames.md", "batch.md", "limits.md"}


def test_every_active_v1_codec_must_is_cited() -> None:
    """Active (not proposed) MUSTs of the v1 codec chapters are cited by a vector or a test."""
    cited = cited_by_tests() | cited_by_vectors()
    musts = {
        r["id"]
        for r in REGISTRY_V1
        if r["level"] in ("MUST", "MUST NOT")
        and r["status"] == "active"
        and r["section"].split("#")[0] in CODEC_FILES_V1
    }
    assert musts, "no v1 codec requirements found"
    missing = sorted(musts - cited)
    assert not missing, f"v1 codec MUST requirements cited by no vector or test: {missing}"


def test_the_codec_rules_of_context_coding_are_vectored() -> None:
    """CTX-1 to CTX-7 fix bytes and decoder verdicts: each is cited by a golden vector (the peers' rules,
    CTX-8 to CTX-13, are the peers' tests' and the conformance cases')."""
    codec_rules = {f"CTX-{n}" for n in range(1, 8)}
    assert codec_rules <= set(BY_ID_V1)
    missing = sorted(codec_rules - cited_by_vectors())
    assert not missing, f"context coding rules cited by no vector: {missing}"
