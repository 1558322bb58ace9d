"""The spec is self-sufficient: every golden vector decodes with only what spec/ contains (issue #19).

tests/kaitai/spec_only.py runs in a fresh interpreter with the Kaitai-generated parsers, the writer
schemas appendix and a small spec-derived decoder for what a .ksy cannot express (records mode, mode
context against the bases a case lists, and the Avro content the `avro` entries of version-0 vectors
describe), and
reads the vector files as plain JSON. Every valid or acceptable vector (version 0 and 1) must decode
to its `value`; every `unknown_base` one must stop at its base (CTX-5); every invalid one must be rejected, except the cases of CANNOT_CHECK, each with the
requirement IDs whose check needs something that is decoder configuration rather than format. The
table is exact in both directions.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sinktest import ROOT, covers

SPEC_ONLY = Path(__file__).with_name("spec_only.py")

_LIMIT = "a non-default decoder limit ({}): limits are configuration (LIMIT-6), so no format description checks them"
# Invalid vectors that pass the spec-only decoding, and the requirement IDs whose check they need.
CANNOT_CHECK: dict[str, str] = {
    "frame.size.over-configured-limit": _LIMIT.format("max_frame_size, LIMIT-1"),
    "publish.frame-size.over-configured-limit": _LIMIT.format("max_frame_size, LIMIT-1"),
    "stream.over-configured-limit": _LIMIT.format("max_frame_size, LIMIT-1"),
    "event.varint.over-configured-length": _LIMIT.format("max_varint_bytes, LIMIT-2"),
    "batch.gzip.over-configured-limit": _LIMIT.format("max_decompressed_size, LIMIT-3"),
    "batch.count.over-configured-limit": _LIMIT.format("max_batch_events, LIMIT-4"),
    "batch.key.over-configured-limit": _LIMIT.format("max_key_size, LIMIT-5"),
    "event.key.over-configured-limit": _LIMIT.format("max_key_size, LIMIT-5"),
    "publish.key.over-configured-limit": _LIMIT.format("max_key_size, LIMIT-5"),
    "publish.event-data.over-configured-limit": _LIMIT.format("max_event_data_size, LIMIT-5"),
    "v1.batch_result.count-over-configured-limit": _LIMIT.format("max_batch_events, LIMIT-4"),
    "v1.connection_request.declaration.type-count-over-configured-limit": _LIMIT.format("max_declared_types, LIMIT-8"),
    "v1.connection_request.declaration.version-count-over-configured-limit": _LIMIT.format(
        "max_declared_versions, LIMIT-8"
    ),
    "v1.close.requirement-over-configured-limit": _LIMIT.format("max_requirement_size, LIMIT-12"),
}
_RECORDS_LIMITS = {
    "dictionary-over-configured-limit": "max_dictionary_entries, RECORD-6, LIMIT-10",
    "columns-over-configured-limit": "max_record_columns, RECORD-6, LIMIT-10",
    "event-data-over-configured-limit": "max_event_data_size of a rebuilt event_data, RECORD-6, LIMIT-5",
    "key-over-configured-limit": "max_key_size, RECORD-6, LIMIT-5",
    "expansion-over-configured-limit": "max_decompressed_size of the rebuilt keys and event_data, RECORD-6, LIMIT-3",
    "items-over-configured-limit": "max_collection_items, RECORD-6, LIMIT-10",
}
CANNOT_CHECK.update(
    (f"v1.{kind}.records.{name}", _LIMIT.format(ids))
    for kind in ("batch", "batch_publish")
    for name, ids in _RECORDS_LIMITS.items()
)
CANNOT_CHECK.update(
    (
        f"v1.{kind}.context.base-key-over-configured-limit",
        _LIMIT.format("max_key_size of the base's keys, CTX-6, LIMIT-5"),
    )
    for kind in ("batch", "batch_publish")
)


@pytest.fixture(scope="module")
def report(kaitai_outputs: dict[str, Path]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(SPEC_ONLY), str(kaitai_outputs["python"])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def _vector_ids() -> dict[str, str]:
    ids = {}
    for version in ("v0", "v1"):
        for path in sorted((ROOT / "vectors" / version).glob("*.json")):
            document = json.loads(path.read_text())
            ids.update((c["id"], c["result"]) for c in document.get("cases", []))
    return ids


def test_the_decoder_uses_nothing_but_the_spec(report: dict[str, Any]) -> None:
    assert report["forbidden_modules_loaded"] == []
    imported = set()
    for node in ast.walk(ast.parse(SPEC_ONLY.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {
        "__future__",
        "hashlib",
        "importlib",
        "io",
        "json",
        "re",
        "sys",
        "collections",
        "pathlib",
        "typing",
        "kaitaistruct",
    }


def test_every_vector_is_decoded(report: dict[str, Any]) -> None:
    assert {r["id"]: r["result"] for r in report["results"]} == _vector_ids()


@covers("SCHEMA-16", "RECORD-2", "RECORD-3", "RECORD-4", "RECORD-5")
def test_every_valid_vector_decodes_to_its_value(report: dict[str, Any]) -> None:
    wrong = [
        f"{r['id']}: {r.get('rejected') or 'decodes to ' + json.dumps(r.get('value'))[:300]}"
        for r in report["results"]
        if r["result"] not in ("invalid", "unknown_base") and not r.get("matches")
    ]
    assert not wrong, "\n".join(wrong)


@covers("CTX-2", "CTX-4", "CTX-5", "CTX-6", "CTX-7")
def test_mode_context_decodes_from_the_spec_with_the_cases_bases(report: dict[str, Any]) -> None:
    """The bases' digests computed from CTX-4 alone are the vectors'; every unknown_base case stops at its base,
    every other context case decodes (or is rejected) without it."""
    with_bases = [r for r in report["results"] if "digests_match" in r]
    assert len(with_bases) >= 60, "the context vectors were not run with their bases"
    assert all(r["digests_match"] for r in with_bases), [r["id"] for r in with_bases if not r["digests_match"]]
    expected = {r["id"] for r in report["results"] if r["result"] == "unknown_base"}
    stopped = {r["id"] for r in report["results"] if "unknown_base" in r}
    assert len(expected) >= 10 and stopped == expected, stopped ^ expected


@covers("SCHEMA-1", "SCHEMA-2", "SCHEMA-4", "SCHEMA-17")
def test_the_avro_content_of_the_vectors_decodes_with_the_appendix_schemas(report: dict[str, Any]) -> None:
    checked = [r for r in report["results"] if "avro_problems" in r]
    assert len(checked) >= 20, "the vectors' avro entries were not checked"
    wrong = [f"{r['id']}: {problem}" for r in checked for problem in r["avro_problems"]]
    assert not wrong, "\n".join(wrong)


def test_every_invalid_vector_is_rejected_or_listed(report: dict[str, Any]) -> None:
    accepted = {r["id"] for r in report["results"] if r["result"] == "invalid" and "rejected" not in r}
    assert accepted - set(CANNOT_CHECK) == set(), "accepted by the spec-only decoder and not in CANNOT_CHECK"
    assert set(CANNOT_CHECK) - accepted == set(), "in CANNOT_CHECK but rejected now (or no such vector): remove them"


def test_the_documented_list_names_every_requirement_the_check_cannot_cover() -> None:
    page = (ROOT / "docs" / "format" / "generate-a-parser.md").read_text()
    section = page[page.index("{ #self-sufficiency }") :]
    for case_id, reason in CANNOT_CHECK.items():
        for rid in re.findall(r"[A-Z]+-\d+", reason):
            assert f"#{rid})" in section, (
                f"{case_id}: {rid} is not in the documented list (docs/format/generate-a-parser.md)"
            )
