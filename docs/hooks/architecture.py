"""mkdocs hook: the layers and their contract, rendered from ``[tool.importlinter]`` in pyproject.toml.

The page docs/architecture.md holds the marker ``<!-- import-contracts -->``;
it is replaced with one section per contract that ``lint-imports`` checks
(tests/test_gates.py runs it), so the page shows exactly the rules the build
enforces and cannot drift from them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- import-contracts -->"


def _modules(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _layers(contract: dict[str, Any]) -> list[str]:
    containers = contract.get("containers", [])
    prefix = f"{containers[0]}." if len(containers) == 1 else ""
    out = ["| layer (top imports below) | modules |", "|---|---|"]
    for depth, layer in enumerate(contract["layers"], start=1):
        siblings = [f"{prefix}{name.strip()}" for name in layer.split("|")]
        note = " (independent of each other)" if len(siblings) > 1 else ""
        out.append(f"| {depth} | {_modules(siblings)}{note} |")
    return out


def render(pyproject: Path = ROOT / "pyproject.toml") -> str:
    config = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]
    out = [
        f"Root packages: {_modules(config['root_packages'])}. "
        f"{len(config['contracts'])} contracts, checked by `lint-imports` on every test run.",
        "",
    ]
    for contract in config["contracts"]:
        out += [
            f"### `{contract['id']}` ({contract['type']})",
            "",
            contract["name"][0].upper() + contract["name"][1:] + ".",
            "",
        ]
        kind = contract["type"]
        if kind == "layers":
            out += _layers(contract)
        elif kind == "forbidden":
            out += [
                f"- modules: {_modules(contract['source_modules'])}",
                f"- may not import: {_modules(contract['forbidden_modules'])}",
            ]
        elif kind == "independence":
            out += [f"- none of these imports another: {_modules(contract['modules'])}"]
        else:  # a contract type this page does not know yet: show it raw rather than hide it
            out += ["```toml", *(f"{key} = {value!r}" for key, value in contract.items()), "```"]
        ignored = contract.get("ignore_imports", [])
        if ignored:
            out += [
                "",
                "Allowed for now (debt, each line names what removes it):",
                "",
                *(f"- `{line}`" for line in ignored),
            ]
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, render())
    return markdown
