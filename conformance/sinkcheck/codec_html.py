"""The self-contained HTML report of ``sink-check codec`` (``--html``), rendered from its JSON report.

Same look as the other modes' report (the CSS of :mod:`.html`): the shim and
what it declares per protocol version, the counts, then one table per source
(vectors, generated) with every case that did not pass first, each check's
expected and received answer, and the requirements each failed check is about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .html import CSS, OUTCOME_LABEL, _e, _links

__all__ = ["render_codec_html", "write_codec_html"]

ORDER = ("fail", "unsupported", "pass")


def _check_rows(case: dict[str, Any], links: dict[str, str]) -> str:
    rows = []
    for check in case["checks"]:
        request = ""
        if check["outcome"] == "fail" and case["source"] == "generated":
            request = f'<br><span class="label">request</span> <span class="hex">{_e(check["request"])}</span>'
        rows.append(
            f'<li><span class="badge o-{_e(check["outcome"])}">{_e(OUTCOME_LABEL.get(check["outcome"], check["outcome"]))}'
            f'</span> {_e(check["label"])} <span class="label">[{_links(check.get("requirements", []), links)}]</span>'
            f'<br><span class="label">expected</span> {_e(check["expected"])}'
            f'<br><span class="label">got</span> {_e(check["got"])}{request}</li>'
        )
    return f'<ul class="reactions">{"".join(rows)}</ul>'


def _table(title: str, cases: list[dict[str, Any]], links: dict[str, str]) -> str:
    if not cases:
        return ""
    cases = sorted(cases, key=lambda c: ORDER.index(c["outcome"]))  # stable: file or draw order within an outcome
    tally = ", ".join(
        f"{sum(c['outcome'] == o for c in cases)} {OUTCOME_LABEL[o]}"
        for o in ORDER
        if any(c["outcome"] == o for c in cases)
    )
    rows = "".join(
        f'<tr class="case-{_e(c["outcome"])}" id="{_e(c["id"])}">'
        f'<td><span class="badge o-{_e(c["outcome"])}">{_e(OUTCOME_LABEL.get(c["outcome"], c["outcome"]))}</span></td>'
        f'<td><span class="id">{_e(c["id"])}</span><br><span class="label">{_e(c["kind"])}, protocol version '
        f"{_e(c.get('protocol_version', 0))}</span></td>"
        f"<td>{_links(c.get('failed_requirements') or c['requirements'], links)}</td>"
        f"<td>{_check_rows(c, links)}</td></tr>"
        for c in cases
    )
    return (
        f'<h2 id="source-{_e(title)}">{_e(title)} <span class="label">({len(cases)} cases: {tally})</span></h2>'
        '<table class="cases"><colgroup><col class="c-outcome"><col class="c-case"><col class="c-req"><col>'
        "</colgroup><tr><th>outcome</th><th>case</th><th>requirements</th><th>checks</th></tr>"
        f"{rows}</table>"
    )


def render_codec_html(report: dict[str, Any]) -> str:
    summary = report["summary"]
    links = report.get("requirement_links", {})
    shim = report["shim"]
    declared = (
        "; ".join(
            f"version {v}: decode {', '.join(s['decode']) or '-'}, encode {', '.join(s['encode']) or '-'}, "
            f"limits {', '.join(s['limits']) or '-'}"
            for v, s in shim.get("protocol_versions", {}).items()
        )
        or "nothing"
    )
    timings = report.get("timings", {})
    facts = [
        ("mode", "codec"),
        ("shim", shim["name"]),
        ("command", report["command"]),
        ("declares", declared),
        ("protocol versions run", ", ".join(map(str, report.get("spec_versions", [0])))),
        ("kit version", report["kit_version"]),
        ("seed", report["seed"]),
        ("generated cases", report["examples"]),
        ("started", report["started"]),
        ("duration", f"{report['duration']} s"),
        ("time", ", ".join(f"{k} {v} s" for k, v in timings.items()) or "-"),
        ("shim restarts", summary["shim_restarts"]),
    ]
    fact_list = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    ok = summary["exit_code"] == 0
    verdict = "no check failed" if ok else f"{summary['cases']['fail']} cases failed (exit code {summary['exit_code']})"
    counts = "".join(
        f'<div class="count"><span class="badge o-{o}">{OUTCOME_LABEL[o]}</span>'
        f'<b>{summary["cases"].get(o, 0)}</b><span class="label">{summary["checks"].get(o, 0)} checks</span>'
        "</div>"
        for o in ORDER
    )
    failing = "".join(f'<li><a href="#{_e(i)}">{_e(i)}</a></li>' for i in summary["failed"])
    coverage = report.get("requirements", {})
    failed_reqs = [rid for rid, entry in coverage.get("exercised", {}).items() if entry["outcome"] == "fail"]
    title = f"sink-check codec report: {shim['name']}"
    cases = report["cases"]
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>"
        f'<dl class="facts">{fact_list}</dl>'
        f'<p><span class="verdict {"ok" if ok else "bad"}">{_e(verdict)}</span></p><div class="counts">{counts}</div>'
        + (f'<p class="label">requirements failed: {_links(failed_reqs, links)}</p>' if failed_reqs else "")
        + (f'<ul class="problems">{failing}</ul>' if failing else "")
        + _table("vectors", [c for c in cases if c["source"] == "vector"], links)
        + _table("generated", [c for c in cases if c["source"] == "generated"], links)
        + f"<footer>report schema {_e(report['report_schema'])}; the JSON report (--json) holds the same data "
        "with every request.</footer></body></html>\n"
    )


def write_codec_html(report: dict[str, Any], path: Path) -> None:
    path.write_text(render_codec_html(report), encoding="utf-8")
