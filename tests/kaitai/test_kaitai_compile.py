"""(a) Every .ksy (spec/v0/ksy and spec/v1/ksy) compiles with the pinned compiler and
follows the formats' house rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kaitai_support import KSY_DIR, KSY_DIR_V1, REPO_ROOT, TOOLS_DIR, import_kaitai_build

KSY_FILES = sorted(KSY_DIR.glob("*.ksy")) + sorted(KSY_DIR_V1.glob("*.ksy"))
# Version 1 adds its own formats and imports the version-0 ones by name.
EXPECTED_FILES_V1 = {
    "sink_frame_v1",
    "sink_batch_v1",
    "sink_batch_result",
    "sink_reader_schemas",
    "sink_declared_limits",
    "sink_close",
}
EXPECTED_FILES = EXPECTED_FILES_V1 | {
    "vlq_leb128",
    "zigzag_leb128",
    "chunk",
    "sink_frame",
    "sink_event",
    "sink_nack_payload",
    "sink_stream",
    "sink_batch",
}
REQ_ID = re.compile(r"^([A-Z]+-\d+)")
DOC_REF = re.compile(r"^spec/(v[01])/([a-z_]+\.md)#([A-Z]+-\d+)$")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def test_expected_formats_present() -> None:
    assert {p.stem for p in KSY_FILES} == EXPECTED_FILES
    assert {p.stem for p in KSY_DIR_V1.glob("*.ksy")} == EXPECTED_FILES_V1


def _version(ksy: Path) -> str:
    return "v1" if ksy.parent == KSY_DIR_V1 else "v0"


def test_compiler_is_pinned_exactly() -> None:
    pkg = json.loads((TOOLS_DIR / "package.json").read_text())
    lock = json.loads((TOOLS_DIR / "package-lock.json").read_text())
    for name, version in pkg["dependencies"].items():
        # Exact pins only: a range would let a new compiler change the generated code.
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned exactly: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert pkg["dependencies"]["kaitai-struct-compiler"] == "0.11.0"


def test_installed_compiler_version(kaitai_outputs: dict[str, Path]) -> None:
    kb = import_kaitai_build()
    assert kb.compiler_version() == "0.11.0"


@pytest.mark.parametrize("target", ["python", "javascript"])
def test_every_ksy_compiled(kaitai_outputs: dict[str, Path], target: str) -> None:
    out = kaitai_outputs[target]
    for ksy in KSY_FILES:
        meta_id = load(ksy)["meta"]["id"]
        name = f"{meta_id}.py" if target == "python" else "".join(p.title() for p in meta_id.split("_")) + ".js"
        assert (out / name).is_file(), f"{ksy.name} produced no {name}"


@pytest.mark.parametrize("ksy", KSY_FILES, ids=lambda p: p.name)
def test_each_ksy_compiles_alone(ksy: Path, tmp_path: Path, kaitai_outputs: dict[str, Path]) -> None:
    # Compiling one file by itself proves its imports are declared, not
    # satisfied by accident by another file of the same run.
    kb = import_kaitai_build()
    node = kb.ensure_node_modules()
    written = kb.compile_ksy(node, "python", tmp_path, [ksy])
    assert any(p.name == f"{ksy.stem}.py" for p in written)


@pytest.mark.parametrize("ksy", KSY_FILES, ids=lambda p: p.name)
def test_meta_and_top_level_doc(ksy: Path) -> None:
    spec = load(ksy)
    meta = spec["meta"]
    assert meta["id"] == ksy.stem
    assert meta.get("title")
    assert meta["license"] == "Apache-2.0"
    assert str(meta["ks-version"]) == "0.11"
    assert meta["endian"] == "be"
    assert REQ_ID.match(spec["doc"].strip()), "top-level doc must start with a requirement ID"
    top_ref = DOC_REF.match(spec["doc-ref"])
    assert top_ref and top_ref.group(1) == _version(ksy), "top-level doc-ref must point into its own version's spec"
    for imp in meta.get("imports", []):
        # An import resolves next to the file, then in spec/v0/ksy (the import path).
        assert (ksy.parent / f"{imp}.ksy").is_file() or (KSY_DIR / f"{imp}.ksy").is_file(), imp


def _documented(spec: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(where, node, needs_doc_ref) for every type, seq field and instance."""
    for _i, attr in enumerate(spec.get("seq", [])):
        yield f"{path}/seq/{attr['id']}", attr, True
    for name, inst in (spec.get("instances") or {}).items():
        yield f"{path}/instances/{name}", inst, True
    for name, values in (spec.get("enums") or {}).items():
        for number, entry in values.items():
            yield f"{path}/enums/{name}/{number}", entry if isinstance(entry, dict) else {}, True
    for name, sub in (spec.get("types") or {}).items():
        yield f"{path}/types/{name}", sub, True
        yield from _documented(sub, f"{path}/types/{name}")


@pytest.mark.parametrize("ksy", KSY_FILES, ids=lambda p: p.name)
def test_every_field_documented_with_requirement(ksy: Path) -> None:
    problems = []
    for where, node, needs_ref in _documented(load(ksy)):
        doc = (node.get("doc") or "").strip()
        if not REQ_ID.match(doc):
            problems.append(f"{where}: doc must start with a requirement ID: {doc[:40]!r}")
        if needs_ref and not DOC_REF.match(node.get("doc-ref", "")):
            problems.append(f"{where}: doc-ref missing or not spec/v0|v1/<file>.md#<ID>")
    assert not problems, "\n".join(problems)


def _all_doc_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "doc-ref":
                yield v
            else:
                yield from _all_doc_refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _all_doc_refs(v)


@pytest.mark.parametrize("ksy", KSY_FILES, ids=lambda p: p.name)
def test_doc_refs_resolve_to_spec_anchors(ksy: Path) -> None:
    # A doc-ref is a link into the spec prose: the file must exist and hold the
    # requirement's anchor (`<a id="ID">`), and the doc text's leading ID must
    # be a real requirement too.
    missing = []
    for ref in _all_doc_refs(load(ksy)):
        m = DOC_REF.match(ref)
        assert m, ref
        spec_file = REPO_ROOT / "spec" / m.group(1) / m.group(2)
        if not spec_file.is_file() or f'id="{m.group(3)}"' not in spec_file.read_text():
            missing.append(ref)
    assert not missing, f"doc-refs without a spec anchor: {missing}"


def test_graphviz_target_compiles(tmp_path: Path, kaitai_outputs: dict[str, Path]) -> None:
    # The diagrams come from the compiler's graphviz target; make sure it keeps
    # compiling even where `dot` is absent (rendering is a separate step).
    kb = import_kaitai_build()
    node = kb.ensure_node_modules()
    for ksy in KSY_FILES:
        written = kb.compile_ksy(node, "graphviz", tmp_path / ksy.stem, [ksy])
        assert any(p.stem == ksy.stem and p.suffix == ".dot" for p in written)


def test_committed_diagrams_are_current(tmp_path: Path, kaitai_outputs: dict[str, Path]) -> None:
    # The SVGs under docs/format/diagrams are committed (the docs site shows
    # them). Each records the digest of the graphviz source it was rendered
    # from; compiling the .ksy files again must give the same sources, so an
    # edited .ksy cannot leave a diagram stale. No `dot` needed here.
    kb = import_kaitai_build()
    fresh = {stem: kb.source_digest(path) for stem, path in kb.diagram_sources(tmp_path).items()}
    committed = {p.stem: kb.recorded_digest(p) for p in kb.DIAGRAM_DIR.glob("*.svg")}
    assert sorted(committed) == sorted(fresh), "diagram set differs: run `python spec/tools/kaitai_build.py diagrams`"
    stale = [stem for stem in fresh if fresh[stem] != committed[stem]]
    assert not stale, f"stale diagrams {stale}: run `python spec/tools/kaitai_build.py diagrams`"
