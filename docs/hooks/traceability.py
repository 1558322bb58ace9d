"""mkdocs hook: generated reference pages that tie the spec to its evidence.

- ``spec/v0/requirements-index.md``: every requirement ID (a link to its
  anchor) with level, target, interop flag, and which golden vectors, tests
  and conformance cases cite it;
- ``vectors/reference.md``: every golden vector case, per file.

Both are built from the sources (requirements.toml, vectors/v0/*.json, the
``covers(...)`` markers of tests/, the sink-check catalogue) at build time,
never written by hand.
"""

from __future__ import annotations

import ast
import json
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "v0"


def _test_citations() -> dict[str, list[str]]:
    cited: dict[str, list[str]] = defaultdict(list)
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "covers":
                    for arg in decorator.args:
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                            cited[arg.value].append(f"{path.relative_to(ROOT / 'tests')}::{node.name}")
    return cited


def _vector_files() -> list[dict[str, Any]]:
    files = []
    for path in sorted((ROOT / "vectors" / "v0").glob("*.json")):
        document = json.loads(path.read_text())
        if "cases" in document:
            files.append(document)
    return files


def _case_citations() -> dict[str, list[str]]:
    cited: dict[str, list[str]] = defaultdict(list)
    try:
        from sinkcheck.cases import catalogue
    except ImportError:  # the runner is not installed: the index says so instead of guessing
        return cited
    for case in catalogue():
        for requirement in case.requirements:
            cited[requirement].append(case.id)
    return cited


def _some(items: list[str], limit: int = 4) -> str:
    if not items:
        return "—"
    shown = ", ".join(f"`{i}`" for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def requirements_index() -> str:
    registry = tomllib.loads((SPEC / "requirements.toml").read_text())["requirement"]
    by_vector: dict[str, list[str]] = defaultdict(list)
    for document in _vector_files():
        for case in document["cases"]:
            for requirement in case["requirements"]:
                by_vector[requirement].append(case["id"])
    by_test = _test_citations()
    by_case = _case_citations()
    lines = [
        "# Requirements index",
        "",
        "Every requirement of the v0 specification, generated from `spec/v0/requirements.toml`, the golden",
        "vectors, the `covers(...)` markers of the test suite and the `sink-check` case catalogue. IDs are",
        "stable: never renumbered, never reused.",
        "",
        f"{len(registry)} requirements; "
        f"{sum(1 for r in registry if by_vector[r['id']] or by_test[r['id']] or by_case[r['id']])} cited by at least "
        "one vector, test or conformance case.",
        "",
        "| ID | level | target | interop | summary | vectors | tests | conformance cases |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in registry:
        rid = r["id"]
        page, anchor = r["section"].split("#", 1)
        lines.append(
            f"| [{rid}]({page}#{anchor}) | {r['level']} | {r['target']} | {'yes' if r['interop'] else 'no'} | "
            f"{r['summary'].replace('|', '/')} | {_some(by_vector[rid])} | {_some(by_test[rid], 2)} | "
            f"{_some(by_case[rid], 3)} |"
        )
    return "\n".join(lines) + "\n"


def vectors_reference() -> str:
    lines = [
        "# Vector reference",
        "",
        "Every case of the golden vectors, generated from `vectors/v0/*.json`. "
        "The file format is described in [Vector files](index.md).",
        "",
    ]
    for document in _vector_files():
        cases = document["cases"]
        lines += [
            f"## `{document['kind']}.json`",
            "",
            document.get("description", ""),
            "",
            f"{len(cases)} cases.",
            "",
            "| id | result | error class | requirements | description |",
            "|---|---|---|---|---|",
        ]
        for case in cases:
            result = case["result"] + ("" if case.get("canonical", True) else " (non-canonical)")
            requirements = ", ".join(f"[{r}](../spec/v0/requirements-index.md)" for r in case["requirements"])
            lines.append(
                f"| `{case['id']}` | {result} | {case.get('error_class') or ''} | {requirements} | "
                f"{case['description'].replace('|', '/')} |"
            )
        lines.append("")
    return "\n".join(lines)


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, "spec/v0/requirements-index.md", content=requirements_index()))
    files.append(File.generated(config, "vectors/reference.md", content=vectors_reference()))
    return files
