"""The live console view: a progress bar, results grouped by area, failures with acceptable reactions."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .model import Case, CaseResult, Outcome
from .runner import RunSummary

__all__ = ["LiveView", "make_console", "print_list", "print_summary"]

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
        self.progress = Progress(TextColumn("[bold]sink-check[/]"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.description}"), console=console,
                                 transient=True)
        self.task = self.progress.add_task("", total=total)

    def __enter__(self) -> "LiveView":
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
            f" [{', '.join(case.requirements)}][/]", highlight=False)
        if result.outcome not in (Outcome.PASS, Outcome.UNSUPPORTED) or self.verbose:
            self.progress.console.print(f"               observed:   {result.observed}", highlight=False)
        if result.outcome in (Outcome.FAIL, Outcome.NON_STRICT, Outcome.INFORMATIONAL, Outcome.ERROR):
            for reaction in case.reactions:
                self.progress.console.print(f"               acceptable: {reaction}", highlight=False)
        self.progress.advance(self.task)


def print_list(console: Console, cases: list[Case]) -> None:
    for case in cases:
        extra = f" [feature {case.feature}]" if case.feature else ""
        slow = " [slow]" if case.slow else ""
        console.print(f"{case.id:<52} {case.level.value:<6} {','.join(case.requirements):<28} {case.title}{extra}{slow}",
                      highlight=False)


def print_summary(console: Console, summary: RunSummary, *, hash_: str, profile: str) -> None:
    counts = ", ".join(f"{n} {name}" for name, n in summary.counts.items() if n)
    console.print(f"\n[bold]{counts}[/]  (cases {hash_}, profile {profile})", highlight=False)
    for case_id in summary.unexpected_failures:
        console.print(f"[bold red]MUST failed:[/] {case_id}", highlight=False)
    for case_id in summary.unexpected_passes:
        console.print(f"[yellow]listed as an expected failure but passed (remove it from the list):[/] {case_id}",
                      highlight=False)
    for case_id in summary.unknown_expected:
        console.print(f"[yellow]expected-failures names an unknown case:[/] {case_id}", highlight=False)
    for case_id in summary.errors:
        console.print(f"[magenta]runner error:[/] {case_id}", highlight=False)
    console.print(f"exit code {summary.exit_code}", highlight=False)
