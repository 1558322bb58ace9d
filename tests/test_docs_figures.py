"""Figures the docs state in prose come from the code (docs/hooks/figures.py) or are checked here."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from sinkproto.peers.backoff import FIELD_STEPS
from sinktest import ROOT, load_field_cases
from sinktools.vectors.model import load_dir


def _hook():
    spec = importlib.util.spec_from_file_location("figures_hook", ROOT / "docs" / "hooks" / "figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIGURES = _hook()
PAGES = sorted((ROOT / "docs").rglob("*.md"))


def test_figures_are_the_codes_counts() -> None:
    assert FIGURES.figure("vectors.v0.total") == f"{sum(len(f.cases) for f in load_dir(ROOT / 'vectors' / 'v0')):,}"
    assert FIGURES.figure("vectors.v0.batch") == str(
        next(len(f.cases) for f in load_dir(ROOT / "vectors" / "v0") if f.kind == "batch")
    )
    assert FIGURES.figure("backoff_steps").endswith(f" and {FIELD_STEPS[-1]:g}")
    with pytest.raises(KeyError, match="not defined"):
        FIGURES.figure("no.such.figure")


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT / "docs")) for p in PAGES])
def test_every_reference_on_a_page_resolves(page: Path) -> None:
    """What the build does, page by page and fast: an unknown figure or a vanished table cell fails."""
    text = page.read_text(encoding="utf-8")
    rendered = FIGURES.on_page_markdown(text)
    assert not FIGURES.FIGURE.search(rendered) and not FIGURES.BENCH.search(rendered)


def test_a_bench_reference_quotes_its_tables_cell_and_fails_when_it_is_gone() -> None:
    page = "<!-- bench:t:start -->\n| Profile | Operation | fast µs/op |\n|---|---|---:|\n| meter | encode | 1,002 |\n<!-- bench:t:end -->\n"
    assert FIGURES.bench_cell(page, "t", "meter", "encode", "fast µs/op") == "1,002"
    with pytest.raises(KeyError, match="no such row"):
        FIGURES.bench_cell(page, "t", "random", "encode", "fast µs/op")
    with pytest.raises(KeyError, match="no such row"):
        FIGURES.bench_cell(page, "t", "meter", "encode", "slow µs/op")


def test_a_skipped_guide_block_is_shown_with_its_reason() -> None:
    out = FIGURES.on_page_markdown(
        'Text.\n\n<!-- guide: skip reason="needs two machines" -->\n```sh\nsink serve\n```\n'
    )
    assert '!!! note "Not run by the guide tests"\n    Needs two machines.\n' in out


def test_readme_field_case_count_is_the_field_vectors() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"exact bytes that implementation's encoder\s+produced for (\d+) inputs", readme)
    assert stated is not None and int(stated.group(1)) == len(load_field_cases())


def test_performance_prose_quotes_its_tables_not_typed_figures() -> None:
    """The figures of the codec table that the prose discusses are references, not numbers typed in (and gone stale)."""
    text = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    prose = re.sub(r"<!-- bench:(\w[\w-]*):start -->.*?<!-- bench:\1:end -->", "", text, flags=re.DOTALL)
    rendered = FIGURES.on_page_markdown(text)
    table = rendered[rendered.index("<!-- bench:codec:start -->") : rendered.index("<!-- bench:codec:end -->")]
    fast_cells = {row.split("|")[4].strip() for row in table.splitlines() if row.startswith("| ") and "batch v1" in row}
    typed = [cell for cell in fast_cells if re.search(rf"(?<![\d,.]){re.escape(cell)} µs", prose)]
    assert typed == [], f"typed instead of {{{{ bench(...) }}}}: {typed}"
