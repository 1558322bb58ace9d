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

import argparse
import asyncio
import datetime as dt
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

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
from .runner import FAILED_OUTCOME, run_case, summarize

__all__ = ["Cell", "add_options", "cmd_matrix", "delivery_for", "run_matrix"]

PROBE_TIMEOUT = 20.0  # seconds (before --scale) for the healthy connection after a fault


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", action="store_true",
                        help="rerun the selected cases under every delivery variant through a fault proxy")
    parser.add_argument("--variants", metavar="LIST", default=",".join(VARIANTS),
                        help=f"comma-separated variants for --matrix (default: {','.join(VARIANTS)})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the `split` variant (default 0)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="--matrix: latency the proxy adds to every chunk")
    parser.add_argument("--rate", type=float, default=None, metavar="BYTES_PER_S",
                        help="--matrix: bandwidth the proxy allows in each direction")


@dataclass
class Cell:
    case_id: str
    variant: str
    outcome: Outcome
    observed: str
    duration: float

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "observed": self.observed, "duration": round(self.duration, 3)}


def delivery_for(variant: str, profile: Profile, *, seed: int = 0, latency: float = 0.0,
                 rate: float | None = None, scale: float = 1.0) -> Delivery:
    """The stall is longer than the testee's patience (1.5 K, KEEP-5), with a margin."""
    return Delivery(variant=variant, seed=seed, latency=latency, rate=rate,
                    stall=(1.5 * profile.keepalive + max(0.5, 0.3 * profile.keepalive)) * scale)


def _context_factory(delivery: Delivery, *, host: str, port: int, profile: Profile, state: RunState,
                     scale: float) -> Any:
    wire_class = type(f"SegmentingWire_{delivery.variant}", (SegmentingWire,),
                      {"delivery": delivery, "rng": random.Random(delivery.seed)})

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


async def run_matrix(cases: list[Case], *, host: str, port: int, profile: Profile, variants: list[str],
                     scale: float = 1.0, seed: int = 0, latency: float = 0.0, rate: float | None = None,
                     on_cell: Any = None) -> tuple[list[Cell], list[CaseResult]]:
    """Every case under every variant; returns the cells and the ``whole`` (or first) variant's results."""
    cells: list[Cell] = []
    baseline: list[CaseResult] = []
    state = RunState()
    baseline_variant = "whole" if "whole" in variants else variants[0]
    for variant in variants:
        delivery = delivery_for(variant, profile, seed=seed, latency=latency, rate=rate, scale=scale)
        async with FaultProxy(host, port, delivery) as proxy:
            proxy_host, proxy_port = proxy.address
            build = _context_factory(delivery, host=proxy_host, port=proxy_port, profile=profile, state=state,
                                     scale=scale)
            for case in cases:
                first = len(proxy.connections)
                result = await run_case(case, host=proxy_host, port=proxy_port, profile=profile, state=state,
                                        scale=scale, context=build(case))
                if variant == baseline_variant:
                    baseline.append(result)
                cell = Cell(case.id, variant, result.outcome, result.observed, result.duration)
                if variant in FAULTS and result.outcome is not Outcome.UNSUPPORTED:
                    cell = await _fault_cell(case, variant, result, proxy.connections[first:], host=host, port=port,
                                             profile=profile, state=state, scale=scale)
                cells.append(cell)
                if on_cell is not None:
                    on_cell(cell)
    return cells, baseline


async def _fault_cell(case: Case, variant: str, result: CaseResult, connections: list[Any], *, host: str, port: int,
                      profile: Profile, state: RunState, scale: float) -> Cell:
    started = time.monotonic()
    if result.crashes:  # the testee's log showed a crash during the case (profile [observe]): ERR-5, whatever follows
        return Cell(case.id, variant, Outcome.FAIL, result.observed, result.duration)
    faulted = [c for c in connections if c.fault]
    what = "; ".join(f"connection {c.number}: {c.fault}, testee "
                     f"{'closed it' if c.testee_closed else 'kept it open'}" for c in faulted) or "no fault applied"
    try:
        probe = await _probe(host=host, port=port, profile=profile, state=state, case=case, scale=scale)
    except CheckFailed as exc:
        return Cell(case.id, variant, FAILED_OUTCOME[case.level], f"{what}; then no healthy connection: {exc.observed}",
                    result.duration + time.monotonic() - started)
    except TimeoutError:
        return Cell(case.id, variant, FAILED_OUTCOME[case.level],
                    f"{what}; then a healthy connection got no answer within {PROBE_TIMEOUT * scale:.0f} s (hang)",
                    result.duration + time.monotonic() - started)
    except Exception as exc:  # the runner failed, not the testee
        return Cell(case.id, variant, Outcome.ERROR, f"runner error in the probe: {exc!r}",
                    result.duration + time.monotonic() - started)
    return Cell(case.id, variant, Outcome.PASS, f"{what} (case: {result.outcome.value}); {probe}",
                result.duration + time.monotonic() - started)


_MARK = {Outcome.PASS: "[green]pass[/]", Outcome.FAIL: "[red]FAIL[/]", Outcome.NON_STRICT: "[yellow]non-strict[/]",
         Outcome.INFORMATIONAL: "[cyan]info[/]", Outcome.UNSUPPORTED: "[dim]unsupp.[/]", Outcome.ERROR: "[magenta]ERROR[/]"}


def print_grid(console: Console, cells: list[Cell], cases: list[Case], variants: list[str]) -> None:
    table = Table(title="case x delivery variant")
    table.add_column("case")
    for variant in variants:
        table.add_column(variant, justify="center")
    by = {(c.case_id, c.variant): c for c in cells}
    for case in cases:
        table.add_row(case.id, *(_MARK[by[(case.id, v)].outcome] if (case.id, v) in by else "-" for v in variants))
    console.print(table)
    for cell in cells:
        if cell.outcome in (Outcome.FAIL, Outcome.NON_STRICT, Outcome.ERROR):
            console.print(f"  {cell.case_id} [{cell.variant}]: {cell.outcome.value}: {cell.observed}", highlight=False)


def matrix_section(cells: list[Cell], cases: list[Case], variants: list[str], *, seed: int, wall_time: float,
                   delivery: Delivery) -> dict[str, Any]:
    by = {(c.case_id, c.variant): c for c in cells}
    return {
        "variants": variants,
        "seed": seed,
        "stall": round(delivery.stall, 3),
        "latency": delivery.latency,
        "rate": delivery.rate,
        "wall_time": round(wall_time, 3),
        "pass_means": {**{v: "the case's normal verdict" for v in SEGMENTING},
                       **{v: "the testee then serves a second, healthy connection" for v in FAULTS}},
        "cases": [{"id": case.id, "cells": {v: by[(case.id, v)].to_json() for v in variants if (case.id, v) in by}}
                  for case in cases],
    }


def parse_variants(text: str) -> list[str]:
    variants = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"unknown variants {unknown} (known: {', '.join(VARIANTS)})")
    return variants


def cmd_matrix(cases: list[Case], *, host: str, port: int, profile: Profile, args: argparse.Namespace,
               console: Console) -> int:
    try:
        variants = parse_variants(args.variants)
    except ValueError as exc:
        console.print(f"[bold magenta]sink-check:[/] {exc}", highlight=False)
        return 2
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()

    def on_cell(cell: Cell) -> None:
        if args.verbose or cell.outcome not in (Outcome.PASS, Outcome.UNSUPPORTED):
            console.print(f"{cell.variant:>10}  {cell.case_id}: {cell.outcome.value}", highlight=False)

    cells, baseline = asyncio.run(run_matrix(cases, host=host, port=port, profile=profile, variants=variants,
                                             scale=args.scale, seed=args.seed, latency=args.latency, rate=args.rate,
                                             on_cell=on_cell))
    wall = time.monotonic() - started
    print_grid(console, cells, cases, variants)
    console.print(f"{len(cases)} cases x {len(variants)} variants in {wall:.1f} s", highlight=False)
    summary = summarize(baseline, set(), {c.id for c in cases})
    if args.json:
        document = report_document(baseline, cases=cases, profile=profile, target=f"{host}:{port}", mode="server",
                                   summary=summary, started=started_at, duration=wall)
        document["matrix"] = matrix_section(cells, cases, variants, seed=args.seed, wall_time=wall,
                                            delivery=delivery_for("stall", profile, seed=args.seed,
                                                                  latency=args.latency, rate=args.rate,
                                                                  scale=args.scale))
        write_json(document, Path(args.json))
    if any(c.outcome is Outcome.ERROR for c in cells):
        return 2
    return 1 if any(c.outcome is Outcome.FAIL for c in cells) else 0
