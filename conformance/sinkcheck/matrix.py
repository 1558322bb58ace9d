"""``sink-check server HOST:PORT --matrix``: the selected cases under every delivery variant, as a grid.

Each variant starts a :class:`~.faultproxy.FaultProxy` in front of the testee and points the
runner at it. What "pass" means depends on the variant (docs/conformance/matrix.md):

* ``whole``, ``byte``, ``split``, ``coalesce``: bytes only arrive differently, so the case's
  normal verdict must hold.
* ``stall``, ``half-close``, ``reset``: the case's own verdict cannot hold (its bytes never all
  arrive); the cell passes when, afterwards, a second, healthy connection made directly to the
  testee completes a handshake, a publish/ACK and a PING/PONG: no crash, no hang.

In every variant, a crash the profile's ``[observe]`` log shows during the case fails the cell (ERR-5).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from .cases import catalogue
from .context import CaseContext, RunState
from .faultproxy import (
    FAULTS,
    SEGMENTING,
    VARIANTS,
    Delivery,
    FaultProxy,
    SegmentingWire,
)
from .model import Case, CaseResult, CheckFailed, Outcome
from .profile import Profile
from .reports import report_document, write_json
from .run import RunSettings
from .runner import FAILED_OUTCOME, RunSummary, load_expected_failures, run_case, summarize

__all__ = ["Cell", "MatrixSettings", "baseline_variant", "report_matrix", "common_prefix", "delivery_for", "run_matrix"]

PROBE_TIMEOUT = 20.0  # seconds (before --scale) for the healthy connection after a fault


@dataclass(frozen=True)
class MatrixSettings:
    """``sink-check server --matrix``: which variants, and how the proxy delivers."""

    variants: str = ",".join(VARIANTS)  # comma-separated, as on the command line (checked by parse_variants)
    seed: int = 0  # seed of the `split` variant
    latency: float = 0.0  # seconds the proxy adds to every chunk
    rate: float | None = None  # bytes per second the proxy allows in each direction


@dataclass
class Cell:
    case_id: str
    variant: str
    outcome: Outcome
    observed: str
    duration: float
    expected_failure: bool = False  # the case is listed in --expected-failures and the cell failed

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "observed": self.observed,
            "duration": round(self.duration, 3),
            "expected_failure": self.expected_failure,
        }


def delivery_for(
    variant: str,
    profile: Profile,
    *,
    seed: int = 0,
    latency: float = 0.0,
    rate: float | None = None,
    scale: float = 1.0,
) -> Delivery:
    """The stall is longer than the testee's patience (1.5 K, KEEP-5), with a margin."""
    return Delivery(
        variant=variant,
        seed=seed,
        latency=latency,
        rate=rate,
        stall=(1.5 * profile.keepalive + max(0.5, 0.3 * profile.keepalive)) * scale,
    )


def _context_factory(
    delivery: Delivery, *, host: str, port: int, profile: Profile, state: RunState, scale: float
) -> Any:
    wire_class = type(
        f"SegmentingWire_{delivery.variant}",
        (SegmentingWire,),
        {"delivery": delivery, "rng": random.Random(delivery.seed)},
    )

    def build(case: Case) -> CaseContext:
        ctx = CaseContext(host=host, port=port, profile=profile, state=state, case_id=case.id, scale=scale)
        if delivery.variant in SEGMENTING:
            ctx.wire_class = wire_class
        return ctx

    return build


async def _probe(*, host: str, port: int, profile: Profile, state: RunState, case: Case, scale: float) -> str:
    """A second, healthy connection straight to the testee (not through the proxy)."""
    ctx = CaseContext(host=host, port=port, profile=profile, state=state, case_id=f"{case.id}.probe", scale=scale)
    try:
        return await asyncio.wait_for(ctx.still_serves(), PROBE_TIMEOUT * scale)
    finally:
        await ctx.close_all()


def baseline_variant(variants: list[str]) -> tuple[str, bool]:
    """The column whose results are the run's normal verdicts, and whether it is one of ``variants``.

    ``whole`` when selected, else the first segmenting variant; with fault variants only, a
    ``whole`` pass that is not shown: a fault cell cannot tell by itself whether its case is
    supported (the fault cuts the very exchange that would say so)."""
    if "whole" in variants:
        return "whole", True
    segmenting = [v for v in variants if v in SEGMENTING]
    return (segmenting[0], True) if segmenting else ("whole", False)


async def run_matrix(
    cases: list[Case],
    *,
    host: str,
    port: int,
    profile: Profile,
    variants: list[str],
    scale: float = 1.0,
    seed: int = 0,
    latency: float = 0.0,
    rate: float | None = None,
    expected_failures: set[str] | None = None,
    on_cell: Any = None,
) -> tuple[list[Cell], list[CaseResult]]:
    """Every case under every variant; returns the cells and the baseline column's results (see
    :func:`baseline_variant`), which run first. A case unsupported there is unsupported in every
    column, without being run again. A listed case (``expected_failures``) whose cell fails is an
    expected failure, in every column."""
    cells: list[Cell] = []
    baseline: list[CaseResult] = []
    state = RunState()
    expected = expected_failures or set()
    first, shown = baseline_variant(variants)
    unsupported: dict[str, str] = {}
    for variant in [first, *(v for v in variants if v != first)]:
        delivery = delivery_for(variant, profile, seed=seed, latency=latency, rate=rate, scale=scale)
        async with FaultProxy(host, port, delivery) as proxy:
            proxy_host, proxy_port = proxy.address
            build = _context_factory(
                delivery, host=proxy_host, port=proxy_port, profile=profile, state=state, scale=scale
            )
            for case in cases:
                if case.id in unsupported:
                    cell = Cell(
                        case.id,
                        variant,
                        Outcome.UNSUPPORTED,
                        f"not run: unsupported in the {first} column ({unsupported[case.id]})",
                        0.0,
                    )
                elif variant != first and case.feature == "fresh_identity":
                    cell = Cell(
                        case.id,
                        variant,
                        Outcome.UNSUPPORTED,
                        f"not run: the profile's fresh identity "
                        f"was used in the {first} column, and a server knows it after one handshake",
                        0.0,
                    )
                else:
                    opened = len(proxy.connections)
                    result = await run_case(
                        case,
                        host=proxy_host,
                        port=proxy_port,
                        profile=profile,
                        state=state,
                        scale=scale,
                        context=build(case),
                    )
                    if variant == first:
                        if result.outcome is Outcome.UNSUPPORTED:
                            unsupported[case.id] = result.observed
                        result.expected_failure = _expected(case.id, result.outcome, expected)
                        baseline.append(result)
                        if not shown:
                            continue  # the hidden support pass of a fault-only matrix
                    cell = Cell(case.id, variant, result.outcome, result.observed, result.duration)
                    if variant in FAULTS and result.outcome is not Outcome.UNSUPPORTED:
                        cell = await _fault_cell(
                            case,
                            variant,
                            result,
                            proxy.connections[opened:],
                            host=host,
                            port=port,
                            profile=profile,
                            state=state,
                            scale=scale,
                        )
                cell.expected_failure = _expected(case.id, cell.outcome, expected)
                cells.append(cell)
                if on_cell is not None:
                    on_cell(cell)
    return cells, baseline


def _expected(case_id: str, outcome: Outcome, expected: set[str]) -> bool:
    return case_id in expected and outcome in (Outcome.FAIL, Outcome.NON_STRICT)


async def _fault_cell(
    case: Case,
    variant: str,
    result: CaseResult,
    connections: list[Any],
    *,
    host: str,
    port: int,
    profile: Profile,
    state: RunState,
    scale: float,
) -> Cell:
    started = time.monotonic()
    if result.crashes:  # the testee's log showed a crash during the case (profile [observe]): ERR-5, whatever follows
        return Cell(case.id, variant, Outcome.FAIL, result.observed, result.duration)
    faulted = [c for c in connections if c.fault]
    what = (
        "; ".join(
            f"connection {c.number}: {c.fault}, testee {'closed it' if c.testee_closed else 'kept it open'}"
            for c in faulted
        )
        or "no fault applied"
    )
    try:
        probe = await _probe(host=host, port=port, profile=profile, state=state, case=case, scale=scale)
    except CheckFailed as exc:
        return Cell(
            case.id,
            variant,
            FAILED_OUTCOME[case.level],
            f"{what}; then no healthy connection: {exc.observed}",
            result.duration + time.monotonic() - started,
        )
    except TimeoutError:
        return Cell(
            case.id,
            variant,
            FAILED_OUTCOME[case.level],
            f"{what}; then a healthy connection got no answer within {PROBE_TIMEOUT * scale:.0f} s (hang)",
            result.duration + time.monotonic() - started,
        )
    except Exception as exc:  # the runner failed, not the testee
        return Cell(
            case.id,
            variant,
            Outcome.ERROR,
            f"runner error in the probe: {exc!r}",
            result.duration + time.monotonic() - started,
        )
    return Cell(
        case.id,
        variant,
        Outcome.PASS,
        f"{what} (case: {result.outcome.value}); {probe}",
        result.duration + time.monotonic() - started,
    )


#: Cell marks, at most 5 characters: seven variant columns and the case IDs fit 100 columns.
_MARK = {
    Outcome.PASS: "[green]pass[/]",
    Outcome.FAIL: "[red]FAIL[/]",
    Outcome.NON_STRICT: "[yellow]n-str[/]",
    Outcome.INFORMATIONAL: "[cyan]info[/]",
    Outcome.UNSUPPORTED: "[dim]unsup[/]",
    Outcome.ERROR: "[magenta]ERROR[/]",
}
EXPECTED_MARK = "[dim red]xfail[/]"  # a listed case's failure (--expected-failures)
LEGEND = "n-str: non-strict (a SHOULD broken); unsup: unsupported; xfail: a listed expected failure"


def common_prefix(case_ids: list[str]) -> str:
    """The dotted prefix every ID shares ("server." or "server.handshake."): the grid shows the rest."""
    if not case_ids:
        return ""
    parts = [case_id.split(".") for case_id in case_ids]
    shared: list[str] = []
    for group in zip(*(p[:-1] for p in parts)):
        if len(set(group)) != 1:
            break
        shared.append(group[0])
    return "".join(f"{part}." for part in shared)


def wrap_id(case_id: str, width: int) -> str:
    """``case_id`` on lines of at most ``width`` characters, broken after a "." or "-" where it can be."""
    lines = [""]
    for token in re.findall(r"[^.-]+[.-]?|[.-]", case_id):
        if lines[-1] and len(lines[-1]) + len(token) > width:
            lines.append("")
        lines[-1] += token
    return "\n".join(lines)


def print_grid(console: Console, cells: list[Cell], cases: list[Case], variants: list[str]) -> None:
    """The grid: IDs without their common prefix, wrapped at their dots and dashes (never cut) when the
    terminal is narrow."""
    prefix = common_prefix([c.id for c in cases])
    room = max(12, console.width - sum(max(5, len(v)) + 2 for v in variants) - 1)  # marks: 5 wide at most
    table = Table(
        title="case x delivery variant",
        caption=LEGEND,
        box=None,
        padding=(0, 1),
        pad_edge=False,
        header_style="bold underline",
    )
    table.add_column(f"case ({prefix}…)" if prefix else "case", overflow="fold")
    for variant in variants:
        table.add_column(variant, justify="center", no_wrap=True, min_width=max(5, len(variant)))
    by = {(c.case_id, c.variant): c for c in cells}

    def mark(cell: Cell | None) -> str:
        if cell is None:
            return "-"
        return EXPECTED_MARK if cell.expected_failure else _MARK[cell.outcome]

    for case in cases:
        table.add_row(wrap_id(case.id[len(prefix) :], room), *(mark(by.get((case.id, v))) for v in variants))
    console.print(table)
    for cell in cells:
        if cell.outcome in (Outcome.FAIL, Outcome.NON_STRICT, Outcome.ERROR):
            tag = f"{cell.outcome.value} (expected)" if cell.expected_failure else cell.outcome.value
            console.print(f"  {cell.case_id} [{cell.variant}]: {tag}: {cell.observed}", highlight=False)


def matrix_section(
    cells: list[Cell], cases: list[Case], variants: list[str], *, seed: int, wall_time: float, delivery: Delivery
) -> dict[str, Any]:
    by = {(c.case_id, c.variant): c for c in cells}
    return {
        "variants": variants,
        "seed": seed,
        "stall": round(delivery.stall, 3),
        "latency": delivery.latency,
        "rate": delivery.rate,
        "wall_time": round(wall_time, 3),
        "pass_means": {
            **dict.fromkeys(SEGMENTING, "the case's normal verdict"),
            **dict.fromkeys(FAULTS, "the testee then serves a second, healthy connection"),
        },
        "cases": [
            {"id": case.id, "cells": {v: by[(case.id, v)].to_json() for v in variants if (case.id, v) in by}}
            for case in cases
        ],
    }


def parse_variants(text: str) -> list[str]:
    variants = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"unknown variants {unknown} (known: {', '.join(VARIANTS)})")
    return variants


def report_matrix(
    cases: list[Case],
    *,
    host: str,
    port: int,
    profile: Profile,
    matrix: MatrixSettings,
    settings: RunSettings,
    console: Console,
) -> int:
    """Run the matrix, print the grid and the summary, write the JSON report; the exit status."""
    try:
        variants = parse_variants(matrix.variants)
    except ValueError as exc:
        console.print(f"[bold magenta]sink-check:[/] {exc}", highlight=False)
        return 2
    expected = load_expected_failures(settings.expected_failures)
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()

    def on_cell(cell: Cell) -> None:
        if settings.verbose or cell.outcome not in (Outcome.PASS, Outcome.UNSUPPORTED):
            tag = f"{cell.outcome.value} (expected)" if cell.expected_failure else cell.outcome.value
            console.print(f"{cell.variant:>10}  {cell.case_id}: {tag}", highlight=False)

    cells, baseline = asyncio.run(
        run_matrix(
            cases,
            host=host,
            port=port,
            profile=profile,
            variants=variants,
            scale=settings.scale,
            seed=matrix.seed,
            latency=matrix.latency,
            rate=matrix.rate,
            expected_failures=expected,
            on_cell=on_cell,
        )
    )
    wall = time.monotonic() - started
    print_grid(console, cells, cases, variants)
    console.print(f"{len(cases)} cases x {len(variants)} variants in {wall:.1f} s", highlight=False)
    summary = matrix_summary(cells, baseline, expected)
    print_matrix_summary(console, summary, baseline_variant(variants))
    if settings.json:
        document = report_document(
            baseline,
            cases=cases,
            profile=profile,
            target=f"{host}:{port}",
            mode="server",
            summary=summary,
            started=started_at,
            duration=wall,
            docs_url=settings.docs_url,
        )
        document["matrix"] = matrix_section(
            cells,
            cases,
            variants,
            seed=matrix.seed,
            wall_time=wall,
            delivery=delivery_for(
                "stall", profile, seed=matrix.seed, latency=matrix.latency, rate=matrix.rate, scale=settings.scale
            ),
        )
        write_json(document, settings.json)
    return summary.exit_code


def matrix_summary(cells: list[Cell], baseline: list[CaseResult], expected: set[str]) -> RunSummary:
    """A normal run's summary of the baseline column (stale and unknown entries of the list), with the
    unexpected failures and runner errors of every cell."""
    summary = summarize(baseline, expected, {c.id for c in catalogue()})
    summary.unexpected_failures = sorted(
        {c.case_id for c in cells if c.outcome is Outcome.FAIL and not c.expected_failure}
        | set(summary.unexpected_failures)
    )
    summary.errors = sorted({c.case_id for c in cells if c.outcome is Outcome.ERROR} | set(summary.errors))
    return summary


def print_matrix_summary(console: Console, summary: RunSummary, baseline: tuple[str, bool]) -> None:
    for case_id in summary.unexpected_failures:
        console.print(f"[bold red]MUST failed:[/] {case_id}", highlight=False)
    for case_id in summary.unexpected_passes:
        console.print(
            f"[yellow]listed as an expected failure but passed in the {baseline[0]} column "
            f"(remove it from the list):[/] {case_id}",
            highlight=False,
        )
    for case_id in summary.unknown_expected:
        console.print(f"[yellow]expected-failures names an unknown case:[/] {case_id}", highlight=False)
    for case_id in summary.errors:
        console.print(f"[magenta]runner error:[/] {case_id}", highlight=False)
    console.print(f"exit code {summary.exit_code}", highlight=False)
