"""mkdocs hook: figures in prose come from the code, and guide notes are shown.

``{{ figure("NAME") }}`` in a page is replaced, at build time, by the figure
``NAME`` of :data:`FIGURES`, computed from the source of truth (the committed
vectors, the sink-check catalogue and its mutants, the client's backoff
steps). An unknown name fails the build. The same substitution serves the
tests that read the pages (:func:`substitute`), so a transcript that quotes a
count is checked with the count the code has now.

``<!-- guide: skip reason="..." -->`` before a block (tests/guides.py) is
shown to the reader as a note: a block the guide tests do not run says so,
and why, on the page itself.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Written in backticks (`{{ figure("...") }}`), a reference is shown as it is: how the docs explain the syntax.
FIGURE = re.compile(r"(?<!`)\{\{\s*figure\(\s*\"([a-z0-9_.\-]+)\"\s*\)\s*\}\}")
SKIP = re.compile(r"^(?P<indent>[ \t]*)<!--\s*guide:[ \t]*skip\b(?P<arguments>[^\n]*?)-->[ \t]*$", re.MULTILINE)


@cache
def _vector_counts() -> dict[str, int]:
    from sinktools.vectors.model import load_dir

    counts = {}
    for version in ("v0", "v1"):
        files = load_dir(ROOT / "vectors" / version)
        counts.update({f"vectors.{version}.{f.kind}": len(f.cases) for f in files})
        counts[f"vectors.{version}.total"] = sum(len(f.cases) for f in files)
    return counts


@cache
def _case_counts() -> dict[str, int]:
    from sinkcheck.cases import catalogue
    from sinkcheck.selftest.mutants import MUTANTS
    from sinkproto.connection import Role

    cases = catalogue()
    checked = [m for m in MUTANTS if m.targets]  # those the self-test runs (the others serve load and fuzz tests)
    servers = sum(m.role is Role.SERVER for m in checked)
    return {
        "cases.total": len(cases),
        "cases.server": sum(c.mode == "server" for c in cases),
        "cases.server.v1": sum(c.id.startswith("server.v1.") for c in cases),
        "cases.client": sum(c.mode == "client" and not c.id.startswith("client.v1.") for c in cases),
        "cases.client.v1": sum(c.id.startswith("client.v1.") for c in cases),
        "mutants.total": len(checked),
        "mutants.server": servers,
        "mutants.client": len(checked) - servers,
    }


def _backoff_steps() -> str:
    from sinkproto.peers.backoff import FIELD_STEPS

    steps = [f"{s:g}" for s in FIELD_STEPS]
    return ", ".join(steps[:-1]) + " and " + steps[-1]


def _named() -> dict[str, Callable[[], Any]]:
    figures: dict[str, Callable[[], Any]] = {"backoff_steps": _backoff_steps}
    for name in (*_vector_counts(), *_case_counts()):
        figures[name] = lambda n=name: {**_vector_counts(), **_case_counts()}[n]
    return figures


def figure(name: str) -> str:
    """One figure as the page shows it (integers with thousands separators)."""
    figures = _named()
    if name not in figures:
        raise KeyError(f'figure("{name}") is not defined in docs/hooks/figures.py; known: {", ".join(sorted(figures))}')
    value = figures[name]()
    return f"{value:,}" if isinstance(value, int) else str(value)


def substitute(markdown: str) -> str:
    return FIGURE.sub(lambda m: figure(m.group(1)), markdown)


def _skip_note(match: re.Match[str]) -> str:
    arguments = dict(token.partition("=")[::2] for token in shlex.split(match.group("arguments")))
    indent = match.group("indent")
    reason = arguments.get("reason", "").strip()
    return f'{indent}!!! note "Not run by the guide tests"\n{indent}    {reason[:1].upper() + reason[1:]}.\n'


BENCH = re.compile(r"(?<!`)\{\{\s*bench\((.*?)\)\s*\}\}")


def bench_cell(markdown: str, table: str, *keys_and_column: str) -> str:
    """A cell of a benchmark table of the same page: ``bench("codec", "meter", "batch v1 encode", "fast µs/op")``.

    ``table`` names the markers (``<!-- bench:codec:start -->``) the benchmark rewrites; the keys
    select the row by its first cells; the last argument is the column's header. The prose then
    quotes exactly what the table holds, and follows it when the benchmark is run again.
    """
    *keys, column = keys_and_column
    start, end = f"<!-- bench:{table}:start -->", f"<!-- bench:{table}:end -->"
    if start not in markdown or end not in markdown:
        raise KeyError(f"bench({table!r}, ...): no {start} ... {end} on this page")
    header: list[str] | None = None
    for line in markdown[markdown.index(start) : markdown.index(end)].splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif column in header and cells[: len(keys)] == keys:
            return cells[header.index(column)]
    raise KeyError(f"bench({table!r}, {', '.join(map(repr, keys_and_column))}): no such row and column in that table")


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    import ast

    markdown = BENCH.sub(lambda m: bench_cell(markdown, *ast.literal_eval(f"({m.group(1)},)")), markdown)
    return SKIP.sub(_skip_note, substitute(markdown))
