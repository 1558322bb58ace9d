"""docs/vectors/index.md documents every field the committed vector files use, and every one the JSON Schema allows.

A field added to the vector files (or to vectors/schema/vector-file.schema.json) without a word on the page
that documents the format fails here, so the page cannot fall behind the files (issue #19, item 5).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sinktest import ROOT

PAGE = (ROOT / "docs" / "vectors" / "index.md").read_text(encoding="utf-8")
# The names the page shows as code: every identifier inside a `code span` or a fenced block.
DOCUMENTED = {
    token
    for span in re.findall(r"```.*?```|`[^`\n]+`", PAGE, flags=re.DOTALL)
    for token in re.findall(r"[$A-Za-z_][A-Za-z0-9_]*", span)
}
SCHEMA = json.loads((ROOT / "vectors" / "schema" / "vector-file.schema.json").read_text(encoding="utf-8"))


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def used_fields() -> dict[str, set[str]]:
    """Field name -> the files that use it: file keys, case keys, and the keys inside value, limits,
    decided_by and the avro entries (not inside their records, whose fields are the schemas')."""
    used: dict[str, set[str]] = {}
    for version in ("v0", "v1"):
        for path in sorted((ROOT / "vectors" / version).glob("*.json")):
            document = json.loads(path.read_text(encoding="utf-8"))
            if "cases" not in document:
                continue
            names = set(document)
            for case in document["cases"]:
                names |= set(case)
                for part in ("value", "limits", "decided_by"):
                    names |= set(_keys(case.get(part)))
                for base in case.get("bases", []):
                    names |= set(base) | {k for event in base["events"] for k in event}
                for entry in case.get("avro", []):
                    names |= set(entry)
                    names |= {k for version_entry in entry.get("read_as", []) for k in version_entry}
            for name in names:
                used.setdefault(name, set()).add(f"{version}/{path.name}")
    return used


def test_the_used_fields_are_found() -> None:
    used = used_fields()
    # Guards on the collection itself: fields of both versions and of every part are seen.
    assert {
        "reader_schemas",
        "format",
        "entries",
        "canonical",
        "read_as",
        "max_record_columns",
        "$schema",
        "digest_hex",
        "base_id",
    } <= set(used)


def test_every_field_the_vector_files_use_is_documented() -> None:
    missing = {name: sorted(files) for name, files in used_fields().items() if name not in DOCUMENTED}
    assert not missing, f"fields of the vector files not documented in docs/vectors/index.md: {missing}"


def test_every_field_and_value_the_json_schema_allows_is_documented() -> None:
    # The error classes are the spec's (spec/v0/errors.md, spec/v1/errors.md), which the page links to.
    case = SCHEMA["$defs"]["case"]["properties"]
    names = (
        set(SCHEMA["properties"])
        | set(case)
        | set(SCHEMA["$defs"]["limits"]["properties"])
        | set(SCHEMA["$defs"]["avro_entry"]["properties"])
        | set(SCHEMA["$defs"]["base"]["properties"])
        | set(SCHEMA["properties"]["kind"]["enum"])
        | set(case["result"]["enum"])
    )
    missing = sorted(name for name in names if name not in DOCUMENTED)
    assert not missing, (
        f"allowed by vectors/schema/vector-file.schema.json, not documented in docs/vectors/index.md: {missing}"
    )
