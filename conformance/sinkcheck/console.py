"""The live console view: a progress bar, results grouped by area, failures with acceptable reactions."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .model import Case, CaseResult, Outcome
from .runner import RunSummary

__all__ = ["LiveView", "make_console", "print_list", "print_summary", "requirement_marks", "route_asyncio_log"]

STYLE = {
    Outcome.PASS: "green",
    Outcome.FAIL: "bold red",
    Outcome.NON_STRICT: "yellow",
    Outcome.INFORMATIONAL: "cyan",
    Outcome.UNSUPPORTED: "dim",
    Outcome.ERROR: "bold magenta",
}


def make_console() -> Console:
    """The runner's console: lines are never hard-wrapped (a terminal folds them at its own width, a CI log
    or a file keeps them whole), so a requirement list or a command line is never cut mid-ID."""
    return Console(soft_wrap=True)


class LiveView:
    def __init__(self, console: Console, total: int, *, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self._area: str | None = None
        self.progress = Progress(
            TextColumn("[bold]sink-check[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("", total=total)

    def __enter__(self) -> LiveView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def result(self, result: CaseResult) -> None:
        case = result.case
        if case.area != self._area:
            self._area = case.area
            self.progress.console.rule(f"[bold]{case.area}", align="left")
        tag = result.outcome.value.upper() + (" (expected)" if result.expected_failure else "")
        self.progress.console.print(
            f"[{STYLE[result.outcome]}]{tag:<14}[/] {case.id} [dim]{result.duration * 1000:.0f} ms"
            f" [{requirement_marks(result)}][/]",
            highlight=False,
        )
        if result.outcome not in (Outcome.PASS, Outcome.UNSUPPORTED) or self.verbose:
            # escaped: a crash report's "[error]" is text, not console markup
            self.progress.console.print(f"               observed:   {escape(result.observed)}", highlight=False)
        for crash in result.crashes:
            self.progress.console.print(f"               crash in the {crash['source']}:", highlight=False)
            for line in crash["excerpt"].splitlines():
                self.progress.console.print(f"                 | {line}", highlight=False, markup=False)
        if result.outcome in (Outcome.FAIL, Outcome.NON_STRICT, Outcome.INFORMATIONAL, Outcome.ERROR):
            for reaction in case.reactions:
                self.progress.console.print(f"               acceptable: {reaction}", highlight=False)
        self.progress.advance(self.task)


def requirement_marks(result: CaseResult) -> str:
    """The cited requirements, each marked with what the case showed about it where that differs from
    the case's outcome: "HS-18, HS-19 fail, CONN-7", "ERR-3, ERR-5 not checked"."""
    marks = []
    for rid, outcome in result.requirement_outcomes().items():
        marks.append(rid if outcome == result.outcome.value else f"{rid} {outcome.replace('_', ' ')}")
    return ", ".join(marks)


def print_list(console: Console, cases: list[Case]) -> None:
    for case in cases:
        extra = f" [feature {case.feature}]" if case.feature else ""
        slow = " [slow]" if case.slow else ""
        console.print(
            f"{case.id:<52} {case.level.value:<6} {','.join(case.requirements):<28} {case.title}{extra}{slow}",
            highlight=False,
        )


def print_summary(console: Console, summary: RunSummary, *, hash_: str, profile: str) -> None:
    counts = ", ".join(f"{n} {name}" for name, n in summary.counts.items() if n)
    console.print(f"\n[bold]{counts}[/]  (cases {hash_}, profile {profile})", highlight=False)
    for case_id in summary.unexpected_failures:
        console.print(f"[bold red]MUST failed:[/] {case_id}", highlight=False)
    for case_id in summary.unexpected_passes:
        console.print(
            f"[yellow]listed as an expected failure but passed (remove it from the list):[/] {case_id}", highlight=False
        )
    for case_id in summary.unknown_expected:
        console.print(f"[yellow]expected-failures names an unknown case:[/] {case_id}", highlight=False)
    for case_id in summary.errors:
        console.print(f"[magenta]runner error:[/] {case_id}", highlight=False)
    console.print(f"exit code {summary.exit_code}", highlight=False)


def route_asyncio_log(path: Path | None) -> None:
    """Keep asyncio's own log records off the runner's console.

    A run closes and resets hundreds of connections on purpose; asyncio logs
    writes after a close ("SSL connection is closed", "socket.send() raised
    exception.") as warnings, which Python would print on stderr between the
    results. They go to ``path`` (``--debug-log``), with everything else asyncio
    logs; without it, only its errors (an exception nobody handled: a runner
    bug) still reach stderr.
    """
    log = logging.getLogger("asyncio")
    log.propagate = False
    for previous in list(log.handlers):
        if getattr(previous, "sink_check", False):
            log.removeHandler(previous)
            previous.close()
    handler: logging.Handler
    if path is not None:
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.setLevel(logging.DEBUG)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.ERROR)
    setattr(handler, "sink_check", True)  # noqa: B010 (a mark on a stdlib object, not an attribute it declares); marks the handler this function added (removed by its next call)
    log.addHandler(handler)
