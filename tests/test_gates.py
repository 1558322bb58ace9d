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
    return {
        init.parent.name for folder in ("reference", "conformance") for init in (ROOT / folder).glob("*/__init__.py")
    }


def _tool(name: str) -> str:
    """A console script installed next to this interpreter (the .venv kit.py made), else on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is missing: it is in the [test] extras (pip install -e '.[test]')"
    return found


def test_mypy_finds_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from mypy import api

    monkeypatch.chdir(ROOT)  # the config's files and mypy_path are relative to the checkout
    # The cache (.mypy_cache, ignored by git) makes a run after a small change take a second or two.
    out, err, status = api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache")]
    )
    assert status == 0, out + err
    # The config names folders, not packages: every module of every package there was checked.
    modules = list((ROOT / "reference").rglob("*.py")) + list((ROOT / "conformance" / "sinkcheck").rglob("*.py"))
    checked = re.search(r"no issues found in (\d+) source files", out)
    assert checked and int(checked.group(1)) == len(modules), out


def test_mypy_config_is_the_one_the_gate_asks_for() -> None:
    config = PYPROJECT["tool"]["mypy"]
    assert config["warn_unused_ignores"] is True  # a type: ignore nobody needs any more is an error
    assert "ignore-without-code" in config["enable_error_code"]  # every ignore names its error code
    # The packages (the config lists folders): the kit's code, sinkcheck's runner included.
    assert {Path(f).name for f in config["files"]} >= {"reference", "sinkcheck"}


def test_ruff_check_is_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "check", "--output-format", "concise", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    # One style for the whole tree, so diffs show changes, not re-wrapping.
    result = subprocess.run(
        [_tool("ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_fmt_skip_without_a_reason() -> None:
    # A formatter exception must say why (none is left today).
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in ROOT.rglob("*.py")
        if not any(part in {".venv", "build", "node_modules"} for part in path.relative_to(ROOT).parts)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if line.rstrip().endswith(("# fmt: skip", "# fmt: off"))
    ]
    assert not bare, bare


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


#: Outside sinkproto.connection, the connection is used through its public API and Rules only
#: (docs/reference/connection.md, "Extending the connection"): no private module or name of the
#: package, no subclass overriding a private method, no private attribute of a connection.
_CONNECTION_PRIVATE = re.compile(
    r"sinkproto\.connection\._|from sinkproto\.connection import[^\n]*\b_[A-Za-z]|from \.\.?connection import[^\n]*\b_[A-Za-z]"
    r"|\b(?:conn|connection|self\.connection|session\.connection)\._(?!_)[a-z]"
)
_SUBCLASS = re.compile(r"^class \w+\((?:[\w.]*\.)?Connection\):\n((?:(?:    .*)?\n)*)", re.MULTILINE)


def test_nothing_outside_the_connection_package_touches_its_private_names() -> None:
    found = []
    for folder in ("reference", "conformance", "tests", "fuzz", "docs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "sinkproto/connection/" in path.as_posix() or path.name == "test_gates.py":
                continue
            text = path.read_text(encoding="utf-8")
            found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in _CONNECTION_PRIVATE.finditer(text)]
            for body in _SUBCLASS.finditer(text):
                found += [
                    f"{path.relative_to(ROOT)}: overrides {name}"
                    for name in re.findall(r"^    def (_[a-z]\w*)", body.group(1), re.MULTILINE)
                ]
    assert not found, "\n".join(found)


def test_the_private_name_check_finds_what_it_forbids() -> None:
    assert _CONNECTION_PRIVATE.search("from sinkproto.connection import _PeerError")
    assert _CONNECTION_PRIVATE.search("x = conn._held")
    assert not _CONNECTION_PRIVATE.search("from sinkproto.connection import Connection, Rules")
    body = _SUBCLASS.search("class Mutant(Connection):\n    def _on_ping(self):\n        pass\n")
    assert body and re.findall(r"^    def (_[a-z]\w*)", body.group(1), re.MULTILINE) == ["_on_ping"]


#: The self-test's mutants change behaviour through documented seams only (Rules edits, peer settings,
#: public handler and pump methods; plan #18 item 4): no override of a private method of a class,
#: no use of a private attribute of a sinkproto object, no import of a private name from sinkproto.
_SELFTEST_PRIVATE = re.compile(
    r"^    (?:async )?def (_[a-z]\w*)\((?:self|cls)\b"  # a private method defined (overridden) in a subclass
    r"|\b(?:self|session|server|client|conn|connection|handler|pump|store)\._[a-z]\w*"  # a private attribute used
    r"|^from sinkproto[\w.]* import[^\n]*\b_[A-Za-z]\w*|^import sinkproto[\w.]*\._|\bsinkproto(?:\.\w+)*\._[a-z]",
    re.MULTILINE,
)


def _selftest_private(text: str) -> list[str]:
    return [m.group(0).strip() for m in _SELFTEST_PRIVATE.finditer(text)]


def test_no_mutant_overrides_a_private_method_or_imports_a_private_name() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {hit}"
        for path in sorted((ROOT / "conformance" / "sinkcheck" / "selftest").rglob("*.py"))
        for hit in _selftest_private(path.read_text(encoding="utf-8"))
    ]
    assert not found, "\n".join(found)


def test_the_mutant_check_finds_what_it_forbids() -> None:
    assert _selftest_private("class P(OutboxPump):\n    async def _run(self) -> None:\n")
    assert not _selftest_private("def _set(**kw: Any) -> None:\n    def _inner(x):\n")
    assert _selftest_private("        pump = self._task\n")
    assert _selftest_private("from sinkproto.peers.service import _record_batch_answer\n")
    assert _selftest_private("from sinkproto.connection._table import Input\n")
    assert not _selftest_private("class P(OutboxPump):\n    async def send(self, events) -> None:\n")
    assert not _selftest_private("from sinkproto.peers import PeerSession\n                os._exit(70)\n")
