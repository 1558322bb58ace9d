"""The gates: mypy, ruff and the import contracts, configured in pyproject.toml, are clean.

They run here, so ``python3 kit.py test`` (the README's test command) and CI run them; each
failure message is the tool's own report. How to run them alone: docs/tools/gates.md.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sinktest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _code_packages() -> set[str]:
    """Every Python package of the kit's code: a folder with an __init__.py under reference/ or conformance/."""
    return {init.parent.name for folder in ("reference", "conformance") for init in (ROOT / folder).glob("*/__init__.py")}


def _tool(name: str) -> str:
    """A console script installed next to this interpreter (the .venv kit.py made), else on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is missing: it is in the [test] extras (pip install -e '.[test]')"
    return found


def test_mypy_finds_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from mypy import api

    monkeypatch.chdir(ROOT)  # the config's files and mypy_path are relative to the checkout
    # The cache (.mypy_cache, ignored by git) makes a run after a small change take a second or two.
    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache")])
    assert status == 0, out + err
    # The config names folders, not packages: every module of every package there was checked.
    modules = [p for p in (ROOT / "reference").rglob("*.py")] + [p for p in (ROOT / "conformance" / "sinkcheck").rglob("*.py")]
    checked = re.search(r"no issues found in (\d+) source files", out)
    assert checked and int(checked.group(1)) == len(modules), out


def test_mypy_config_is_the_one_the_gate_asks_for() -> None:
    config = PYPROJECT["tool"]["mypy"]
    assert config["warn_unused_ignores"] is True  # a type: ignore nobody needs any more is an error
    assert "ignore-without-code" in config["enable_error_code"]  # every ignore names its error code
    # The packages (the config lists folders): the kit's code, sinkcheck's runner included.
    assert {Path(f).name for f in config["files"]} >= {"reference", "sinkcheck"}


def test_ruff_check_is_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", "--output-format", "concise", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_import_contracts_hold() -> None:
    result = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", result.stdout)
    assert kept and int(kept.group(1)) == len(PYPROJECT["tool"]["importlinter"]["contracts"]), result.stdout


def test_every_code_package_is_under_the_import_contracts() -> None:
    # A new package (sinktools) is one line in root_packages; until then its imports go unchecked.
    roots = set(PYPROJECT["tool"]["importlinter"]["root_packages"])
    assert _code_packages() <= roots, f"add {sorted(_code_packages() - roots)} to [tool.importlinter] root_packages"


def test_the_gate_tools_are_test_dependencies() -> None:
    test_extras = " ".join(PYPROJECT["project"]["optional-dependencies"]["test"])
    for tool in ("mypy", "ruff", "import-linter", "types-jsonschema"):
        assert re.search(rf"(^| ){re.escape(tool)}[<>=]", test_extras), tool


def test_the_gates_page_names_every_contract() -> None:
    page = (ROOT / "docs" / "tools" / "gates.md").read_text(encoding="utf-8")
    for contract in PYPROJECT["tool"]["importlinter"]["contracts"]:
        assert f"| `{contract['id']}` |" in page, contract["id"]
