"""One run of the catalogue, from start to reports: server mode, client mode, and the self-test's runs.

:func:`run_and_report` runs cases (against a server, or through an ``execute`` such
as client mode's), prints the results live and the summary, and writes the reports
that :class:`RunSettings` asks for. :func:`run_client_mode` is client mode on top
of it. The command line (:mod:`.cli`) builds the settings; the self-test
(:mod:`.selftest`) builds its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from .cases import catalogue
from .console import LiveView, print_summary
from .model import Case, CaseResult, catalogue_hash
from .profile import Profile
from .reports import report_document, write_json, write_junit
from .runner import load_expected_failures, run_cases, summarize

__all__ = ["Execute", "RunSettings", "run_and_report", "run_client_mode"]

Execute = Callable[[set[str], Callable[[CaseResult], None]], Coroutine[Any, Any, list[CaseResult]]]


@dataclass(frozen=True)
class RunSettings:
    """How a run goes and what it writes (``sink-check server``, ``client`` and ``selftest`` options)."""

    scale: float = 1.0  # multiplies every timeout and wait
    expected_failures: Path | None = None  # case IDs known to fail, one per line
    verbose: bool = False  # print what was observed for passing cases too
    json: Path | None = None
    junit: Path | None = None
    html: Path | None = None
    docs_url: str | None = None  # link requirement IDs in the reports to this docs site

    def renamed(self, tag: str) -> RunSettings:
        """The same settings, each report next to this one's: report.json -> report.TAG.json."""

        def moved(path: Path | None) -> Path | None:
            return None if path is None else path.with_name(f"{path.stem}.{tag}{path.suffix}")

        return replace(self, json=moved(self.json), junit=moved(self.junit), html=moved(self.html))


def run_and_report(
    cases: list[Case],
    *,
    host: str,
    port: int,
    profile: Profile,
    settings: RunSettings,
    console: Console,
    mode: str,
    label: str | Callable[[], str],
    execute: Execute | None = None,
    documents: list[tuple[dict[str, Any], RunSettings]] | None = None,
) -> int:
    """Run ``cases`` (server mode against host:port, or through ``execute``), print and write the reports.

    ``documents``, when given, receives the report document and the settings that say where it was written.
    """
    expected = load_expected_failures(settings.expected_failures)
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    with LiveView(console, len(cases), verbose=settings.verbose) as view:
        if execute is None:
            run = run_cases(
                cases,
                host=host,
                port=port,
                profile=profile,
                scale=settings.scale,
                expected_failures=expected,
                on_result=view.result,
            )
        else:
            run = execute(expected, view.result)
        results: list[CaseResult] = asyncio.run(run)
    summary = summarize(results, expected, {c.id for c in catalogue()})
    hash_ = catalogue_hash(cases)
    print_summary(console, summary, hash_=hash_, profile=profile.name)
    label = label() if callable(label) else label  # client mode knows its port only once it listens
    document = report_document(
        results,
        cases=cases,
        profile=profile,
        target=label,
        mode=mode,
        summary=summary,
        started=started_at,
        duration=time.monotonic() - started,
        docs_url=settings.docs_url,
    )
    from .coverage import report_coverage

    document["requirements"] = report_coverage(
        console,
        [(r.case.id, r.outcome.value, r.requirement_outcomes()) for r in results],
        mode=mode,
        catalogue=[c.requirements for c in catalogue() if c.mode == mode],
    )
    if settings.json:
        write_json(document, settings.json)
    if settings.junit:
        write_junit(results, settings.junit, name=f"sink-check {mode} {label}")
    if settings.html:
        from .html import write_html

        write_html(document, settings.html)
    if documents is not None:
        documents.append((document, settings))
    return summary.exit_code


def run_client_mode(
    cases: list[Case],
    *,
    listen: tuple[str, int],
    profile: Profile,
    settings: RunSettings,
    console: Console,
    label: str | None = None,
    client_log: Path | None = None,
    documents: list[tuple[dict[str, Any], RunSettings]] | None = None,
) -> int:
    """Client mode: listen, start (or ask for) the client under test, run the client cases, report.

    ``client_log``: where the started client's stdout and stderr are appended (``--client-log``)."""
    from .client_mode import run_client_cases
    from .model import Unsupported

    where: list[str] = []

    def listening(host: str, port: int) -> None:
        where.append(f"{host}:{port}")
        console.print(
            f"sink-check: listening on {host}:{port} as the server"
            + (f"; client: {profile.client.exec}" if profile.client.exec else ""),
            highlight=False,
        )

    def execute(expected: set[str], on_result: Callable[[CaseResult], None]) -> Coroutine[Any, Any, list[CaseResult]]:
        return run_client_cases(
            cases,
            listen=listen,
            profile=profile,
            scale=settings.scale,
            expected_failures=expected,
            on_result=on_result,
            on_listening=listening,
            say=lambda text: console.print(f"[bold]{text}[/]", highlight=False),
            client_log=client_log,
        )

    try:
        return run_and_report(
            cases,
            host=listen[0],
            port=listen[1],
            profile=profile,
            settings=settings,
            console=console,
            mode="client",
            execute=execute,
            label=lambda: (
                f"{label or 'client under test'}, runner listening on {where[0] if where else '{}:{}'.format(*listen)}"
            ),
            documents=documents,
        )
    except (Unsupported, OSError) as exc:
        console.print(f"[bold magenta]sink-check: cannot run client mode:[/] {exc}", highlight=False)
        return 2
