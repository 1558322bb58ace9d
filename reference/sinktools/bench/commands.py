"""``sink bench codec|wire|memory|batch|series``: running a benchmark, printing it, and the docs page update.

Each command prints its markdown table, and its progress (phase n/N) on
stderr. Only when given a page (``--update-docs``: ``docs/performance.md``;
``--docs PAGE``: another page) does it also rewrite its section of the page
(between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``) and,
for ``wire``, the chart ``docs/performance/wire.png``: a run never changes a
checkout's files unless asked to. The options are parsed in :mod:`sinktools.cli`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._report import docs_page, machine_line, replace_region

__all__ = ["cmd_batch", "cmd_codec", "cmd_memory", "cmd_series", "cmd_wire", "target_page"]


def target_page(*, update_docs: bool, docs: str | None) -> Path | None:
    """The page to rewrite: only when asked, with --update-docs (the kit's docs/performance.md) or --docs PAGE."""
    if docs:
        return Path(docs)
    if not update_docs:
        return None
    page = docs_page()
    if page is None:
        raise SystemExit("sink bench: --update-docs found no docs/performance.md here or above; pass --docs PAGE")
    return page


def _progress(text: str) -> None:
    """Where the run is (phase n/N), on stderr: stdout keeps only the table."""
    print(f"sink bench: {text}", file=sys.stderr, flush=True)


def cmd_codec(*, quick: bool, budget: float, repeats: int, page: Path | None) -> int:
    from . import codec_bench
    from .profiles import load

    budget, repeats = (0.03, 3) if quick else (budget, repeats)
    line = machine_line()
    report = codec_bench.run(load(), budget=budget, repeats=repeats, progress=_progress)
    text = codec_bench.format_report(report)
    print(text)
    if page is not None and not quick:
        replace_region(page, "codec", f"{line}\n\n{text}")
        print(f"\nwritten to {page}")
    return 0


def cmd_wire(*, quick: bool, protocols: str | None, profile: str, page: Path | None, polls: int | None = None) -> int:
    from .wire.run import main

    return main(quick=quick, protocols=protocols, profile=profile, page=page, polls=polls)


def cmd_memory(*, connections: int, page: Path | None) -> int:
    from . import memory_bench

    line = machine_line()
    report = memory_bench.run(connections=connections, progress=_progress)
    text = memory_bench.format_report(report)
    print(text)
    if page is not None and connections == memory_bench.DEFAULT_CONNECTIONS:
        replace_region(page, "memory", f"{line}\n\n{text}")
        print(f"\nwritten to {page}")
    return 0


def cmd_batch(*, page: Path | None) -> int:
    from . import batch_bench
    from .profiles import load

    _progress("[1/1] 100 meter readings as one batch v1")
    report = batch_bench.run(load()["meter"])
    text = batch_bench.format_report(report)
    print(text)
    if page is not None:
        replace_region(page, "batch", text)  # sizes, not timings: no machine line
        print(f"\nwritten to {page}")
    return 0


def cmd_series(*, page: Path | None) -> int:
    from . import series_bench
    from .series import load

    _progress("[1/1] a day of polls of the meter-series profile, one batch per poll, every encoding")
    report = series_bench.run(load())
    text = series_bench.format_report(report)
    print(text)
    if page is not None:
        replace_region(page, "series", text)  # sizes, not timings: no machine line
        print(f"\nwritten to {page}")
    return 0
