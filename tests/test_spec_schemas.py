"""The spec's writer-schema appendix (spec/v1/schemas.json, spec/v1/schemas.md) is what schemas/ generates.

schemas/ is where maintainers edit; the appendix is the copy an implementer reads with the spec. These
tests fail, naming the command to run, when the committed appendix differs from what schemas/ generates,
and check its fingerprints with nothing but hashlib, as an implementer would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from sinkproto.schemas import Registry
from sinktest import ROOT, covers
from sinktools.spec_schemas import APPENDIX_JSON, APPENDIX_PAGE, canonical_form, plan
from sinktools.vectors.regenerate import plan as regenerate_plan

REGISTRY = Registry.load(ROOT / "schemas")
APPENDIX = json.loads((ROOT / APPENDIX_JSON).read_text(encoding="utf-8"))


def test_the_committed_appendix_is_what_schemas_generates() -> None:
    stale = [str(f.path.relative_to(ROOT)) for f in plan(REGISTRY) if f.text is not None]
    assert not stale, (
        f"{', '.join(stale)} differ from what schemas/ generates: run `sink vectors regenerate` and commit the result"
    )


def test_the_appendix_holds_every_version_of_the_registry_once() -> None:
    pairs = [(e["event_type_id"], e["schema_version"]) for e in APPENDIX["schemas"]]
    expected = sorted((t.id, v) for t in REGISTRY for v in t.versions)
    assert pairs == expected
    page = (ROOT / APPENDIX_PAGE).read_text(encoding="utf-8")
    for entry in APPENDIX["schemas"]:
        anchor = f'<a id="schema-{entry["event_type_id"]}-{entry["schema_version"]}"></a>'
        assert page.count(anchor) == 1, anchor
        assert f"```json\n{entry['canonical_form']}\n```" in page


@covers("SCHEMA-17")
def test_each_fingerprint_is_the_sha256_of_the_canonical_form_of_the_published_schema() -> None:
    for entry in APPENDIX["schemas"]:
        label = f"{entry['name']} v{entry['schema_version']}"
        assert hashlib.sha256(entry["canonical_form"].encode()).hexdigest() == entry["sha256"], label
        # The canonical form is the published schema's (and schemas/'s) one, and a fixed point.
        assert canonical_form(entry["schema"]) == entry["canonical_form"], label
        assert canonical_form(json.loads(entry["canonical_form"])) == entry["canonical_form"], label
        published = REGISTRY.types[entry["event_type_id"]].versions[entry["schema_version"]].schema
        assert entry["schema"] == published, label
        assert entry["name"] == REGISTRY.types[entry["event_type_id"]].name, label


def test_a_stale_appendix_is_reported_and_regeneration_rewrites_it(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    (tmp_path / "spec" / "v1").mkdir(parents=True)
    for name in (APPENDIX_JSON, APPENDIX_PAGE):
        shutil.copy(ROOT / name, tmp_path / name)
    registry = Registry.load(tmp_path / "schemas")
    assert all(f.text is None for f in plan(registry))
    # A maintainer edits a doc string in schemas/ (allowed, SCHEMA-6): the appendix's schema follows, the
    # canonical form (which drops docs) and the page do not change.
    path = tmp_path / "schemas" / "meter_reading" / "v2.avsc"
    schema = json.loads(path.read_text())
    schema["doc"] = "Edited."
    path.write_text(json.dumps(schema, indent=2) + "\n")
    changes = {f.path.name: f for f in plan(Registry.load(tmp_path / "schemas"))}
    assert changes["schemas.json"].text is not None and changes["schemas.md"].text is None
    # The regeneration of the vectors writes it, so `sink vectors check` reports it as stale until then.
    written = {c.path.name for c in regenerate_plan(ROOT / "vectors" / "v0", "test", tmp_path / "schemas") if c.changed}
    assert "schemas.json" in written


def test_a_page_without_the_markers_is_refused(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    (tmp_path / "spec" / "v1").mkdir(parents=True)
    (tmp_path / APPENDIX_PAGE).write_text("# Writer schemas\n")
    with pytest.raises(ValueError, match="markers"):
        plan(Registry.load(tmp_path / "schemas"))
