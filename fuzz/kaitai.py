"""The Kaitai-generated Python parsers, as the differential target uses them.

They are built into ``build/fuzz/kaitai/python`` (not ``build/kaitai``,
which the Kaitai test session wipes and rebuilds) with the build helper the
Kaitai engineer owns, ``spec/tools/kaitai_build.py``. A stamp over the
``.ksy`` files, the process routines and the compiler lockfile decides when
to rebuild. Conversion to the vector JSON form and the list of Kaitai's
known gaps come from ``tests/kaitai/`` so that they are maintained once.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from .target import BUILD_DIR, ROOT

__all__ = ["KSY_DIR", "PARSER_DIR", "parser_modules", "ensure_parsers", "kaitai_support", "excused_error_classes"]

KSY_DIR = ROOT / "spec" / "v0" / "ksy"
TOOLS_DIR = ROOT / "spec" / "tools"
TESTS_DIR = ROOT / "tests"
PARSER_DIR = BUILD_DIR / "kaitai" / "python"
STAMP = PARSER_DIR / ".sink-fuzz-stamp"
LANGUAGE = "python"


def parser_modules() -> tuple[str, ...]:
    """Module names of the generated parsers (one per .ksy) and the gzip routine, for instrumentation."""
    return (*sorted(p.stem for p in KSY_DIR.glob("*.ksy")), "sink_gzip")


def _source_hash() -> str:
    digest = hashlib.sha256()
    inputs = [*sorted(KSY_DIR.glob("*.ksy")), *sorted((TOOLS_DIR / "process" / "python").glob("*.py"))]
    inputs += [TOOLS_DIR / "package-lock.json", TOOLS_DIR / "kaitai_compile.mjs"]
    for path in inputs:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _import_tool(name: str, folder: Path) -> ModuleType:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def ensure_parsers() -> Path:
    """Build the parsers if the sources changed since the last build; return their folder."""
    wanted = _source_hash()
    if STAMP.is_file() and STAMP.read_text() == wanted:
        return PARSER_DIR
    kb = _import_tool("kaitai_build", TOOLS_DIR)
    node = kb.ensure_node_modules()
    # Build in a private folder, then swap it in: a fuzzing child importing
    # the old parsers, or another test session building at the same time,
    # never sees a half-written folder.
    PARSER_DIR.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix="python.new.", dir=PARSER_DIR.parent))
    kb.compile_ksy(node, LANGUAGE, fresh, kb.ksy_files())
    for routine in kb.PROCESS_FILES[LANGUAGE]:
        shutil.copy2(routine, fresh / routine.name)
    (fresh / STAMP.name).write_text(wanted)
    try:
        if PARSER_DIR.exists():
            old = PARSER_DIR.with_name(f"python.old.{os.getpid()}")
            PARSER_DIR.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        fresh.rename(PARSER_DIR)
    except OSError:
        # Another process swapped in its build first, from the same sources.
        shutil.rmtree(fresh, ignore_errors=True)
    return PARSER_DIR


def kaitai_support() -> ModuleType:
    """tests/kaitai/kaitai_support.py: parsing and conversion to the vector JSON form."""
    for folder in (TESTS_DIR, TESTS_DIR / "kaitai"):  # the test module also imports tests/sinktest.py
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    return importlib.import_module("kaitai_support")


def excused_error_classes() -> frozenset[str]:
    """Error classes that the Kaitai engineer lists as not expressible in a .ksy.

    ``NOT_REJECTED`` (tests/kaitai) names the invalid golden vectors the
    generated parsers accept, per language, each with its reason. The error
    classes of its version-0 vectors (decoder limits, LIMIT-6) are the
    rejections a Kaitai parser of the units kaitai_diff decodes may
    legitimately miss. Its version-1 entries stay out: the records mode ones
    (inconsistent_batch, unknown_format, ... that need the Avro writer
    schema) would otherwise excuse any version-0 disagreement of that class.
    """
    support = kaitai_support()
    table = getattr(support, "NOT_REJECTED", None)
    if table is None:  # where it lives today
        table = importlib.import_module("test_kaitai_differential").NOT_REJECTED
    error_classes: dict[str, str] = {}
    # NOT_REJECTED covers vectors/v0 and vectors/v1 (ids of v1 start with "v1.").
    for path in sorted((ROOT / "vectors").glob("v*/*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")).get("cases", []):
            if case.get("error_class"):
                error_classes[case["id"]] = case["error_class"]
    return frozenset(
        error_classes[case_id]
        for case_id, (languages, _why) in table.items()
        if LANGUAGE in languages and not case_id.startswith("v1.")
    )
