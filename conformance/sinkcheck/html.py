"""The self-contained HTML report: one file, inline CSS, no script, no external asset.

It is rendered from the JSON report document (:func:`.reports.report_document`),
so the two never disagree. Wire logs are ``<details>`` elements: they fold
without JavaScript, and the file opens from a CI artifact or a mail attachment.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["render_html", "write_html"]

OUTCOME_ORDER = ("fail", "error", "non_strict", "informational", "unsupported", "pass")
OUTCOME_LABEL = {
    "pass": "pass",
    "fail": "FAIL",
    "non_strict": "non-strict",
    "informational": "informational",
    "unsupported": "unsupported",
    "error": "ERROR",
    "not_checked": "not checked",
}
HEX_SHOWN = 96  # bytes of a frame shown in the wire log; the JSON report keeps them all
DIRECTION = {"sent": "runner &rarr; peer", "received": "peer &rarr; runner", "event": "&middot;"}

CSS = """
:root { --fg:#1d232b; --muted:#5c6773; --line:#d9dee4; --bg:#f6f8fa;
  --pass:#1a7f37; --fail:#cf222e; --non_strict:#9a6700; --informational:#0969da; --unsupported:#6e7781;
  --error:#8250df; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  margin: 0 auto; padding: 24px 32px 64px; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
.meta { color: var(--muted); margin: 0 0 16px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; font-family: ui-monospace, Menlo, Consolas, monospace; }
.verdict { display: inline-block; padding: 6px 12px; border-radius: 6px; font-weight: 600; color: #fff; }
.verdict.ok { background: var(--pass); } .verdict.bad { background: var(--fail); }
.counts { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; }
.count { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 110px; }
.count b { display: block; font-size: 20px; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600; color: #fff;
  white-space: nowrap; }
.o-pass { background: var(--pass); } .o-fail { background: var(--fail); } .o-non_strict { background: var(--non_strict); }
.o-informational { background: var(--informational); } .o-unsupported { background: var(--unsupported); }
.o-error { background: var(--error); }
table.cases { border-collapse: collapse; width: 100%; table-layout: fixed; }
table.cases th { text-align: left; font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line);
  padding: 4px 6px; font-size: 12px; }
table.cases td { border-top: 1px solid var(--line); padding: 6px; vertical-align: top; overflow-wrap: anywhere; }
table.cases tr.wire-row td { border-top: none; padding-top: 0; }
table.cases tr.case-fail td, table.cases tr.case-error td { background: #fff5f5; }
table.cases tr.case-non_strict td { background: #fffbea; }
col.c-outcome { width: 110px; } col.c-case { width: 30%; } col.c-level { width: 64px; } col.c-req { width: 12%; }
col.c-time { width: 72px; } col.c-rid { width: 110px; } col.c-rlevel { width: 96px; }
.id { font-family: ui-monospace, Menlo, Consolas, monospace; font-weight: 600; }
.title { color: var(--muted); }
ul.reactions { margin: 2px 0 0; padding-left: 18px; }
.label { color: var(--muted); font-size: 12px; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
details { margin-top: 0; } summary { cursor: pointer; color: var(--muted); font-size: 12px; }
table.wire { border-collapse: collapse; width: 100%; margin-top: 4px; font: 12px/1.35 ui-monospace, Menlo, Consolas,
  monospace; table-layout: fixed; }
table.wire td { border-top: 1px solid var(--line); padding: 2px 4px; vertical-align: top; overflow-wrap: anywhere; }
table.wire col.w-at { width: 70px; } table.wire col.w-conn { width: 90px; } table.wire col.w-dir { width: 130px; }
table.wire col.w-hex { width: 34%; }
tr.d-sent td { background: #f1f8ff; } tr.d-received td { background: #f6fff4; } tr.d-event td { color: var(--muted); }
.hex { color: var(--muted); }
.expected { font-size: 11px; color: var(--muted); display: block; }
ul.problems li { margin: 2px 0; }
.req-mark { font-size: 11px; color: var(--muted); } .req-mark.r-fail, .req-mark.r-error { color: var(--fail); }
.req-mark.r-non_strict { color: var(--non_strict); }
pre.crash { background: #fff5f5; border-left: 3px solid var(--fail); padding: 4px 8px; margin: 4px 0; font-size: 12px;
  white-space: pre-wrap; overflow-wrap: anywhere; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _links(requirements: Iterable[str], links: dict[str, str], texts: dict[str, dict[str, Any]] | None = None) -> str:
    """Each ID: a link when the report has a docs URL; its level and text as a tooltip, and beside it below."""
    texts = texts or {}
    parts = []
    for r in requirements:
        text = texts.get(r)
        tip = f' title="{_e(text["level"])}: {_e(text["summary"])}"' if text else ""
        target = links.get(r, f"#req-{r}" if text else None)
        parts.append(f'<a href="{_e(target)}"{tip}>{_e(r)}</a>' if target else _e(r))
    return ", ".join(parts)


def _requirements_cited(document: dict[str, Any]) -> str:
    """The requirement texts the report cites, so that it reads without the spec at hand."""
    texts = document.get("requirement_texts") or {}
    if not texts:
        return ""
    links = document.get("requirement_links", {})
    rows = "".join(
        f'<tr id="req-{_e(rid)}"><td class="id">'
        + (f'<a href="{_e(links[rid])}">{_e(rid)}</a>' if rid in links else _e(rid))
        + f"</td><td>{_e(t['level'])}</td><td>{_e(t['target'])}</td><td>v{_e(t['spec_version'])}</td>"
        f"<td>{_e(t['summary'])}</td></tr>"
        for rid, t in texts.items()
    )
    where = (
        f'; IDs link to <a href="{_e(document["docs_url"])}">{_e(document["docs_url"])}</a>'
        if document.get("docs_url")
        else "; run with --docs-url BASE to link them to a docs site"
    )
    return (
        f'<h2 id="requirements">requirements cited <span class="label">({len(texts)}, from the spec registries'
        f'{where})</span></h2><table class="cases"><colgroup><col class="c-rid"><col class="c-rlevel">'
        '<col class="c-rlevel"><col class="c-level"><col></colgroup>'
        f"<tr><th>ID</th><th>level</th><th>target</th><th>spec</th><th>requirement</th></tr>{rows}</table>"
    )


def _mutants(document: dict[str, Any]) -> str:
    """sink-check selftest: each mutant, what it breaks, and whether its target cases caught it."""
    section = document.get("mutants")
    if not section:
        return ""
    rows = []
    for m in section["results"]:
        outcome = "pass" if m["caught"] else "fail"
        verdict = "caught" if m["caught"] else ("runner error" if m.get("error") else "MISSED")
        cases = ", ".join(f"{_e(c['id'])} ({_e(c['outcome'])})" for c in m["cases"]) or _e(m.get("error") or "")
        seconds = "" if m.get("seconds") is None else f"{m['seconds']:.1f} s"
        rows.append(
            f'<tr class="case-{outcome}"><td><span class="badge o-{outcome}">{verdict}</span></td>'
            f'<td><span class="id">{_e(m["mutant"])}</span><br><span class="title">{_e(m["breaks"])}</span></td>'
            f"<td>{cases}</td><td>{seconds}</td></tr>"
        )
    problems = "".join(f"<li>{_e(p)}</li>" for p in section.get("problems", []))
    return (
        f'<h2 id="mutants">mutants <span class="label">({section["caught"]} of {section["total"]} caught: each is '
        "a deliberately broken reference peer that its target cases must fail)</span></h2>"
        + (f'<ul class="problems">{problems}</ul>' if problems else "")
        + '<table class="cases"><colgroup><col class="c-outcome"><col class="c-case"><col><col class="c-time">'
        "</colgroup><tr><th>verdict</th><th>mutant</th><th>its target cases (outcome)</th><th>time</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _requirement_cell(
    case: dict[str, Any], links: dict[str, str], texts: dict[str, dict[str, Any]] | None = None
) -> str:
    """Each requirement with what the case showed about it, where that differs from the case's outcome."""
    outcomes = case.get("requirement_outcomes") or dict.fromkeys(case["requirements"], case["outcome"])
    parts = []
    for rid, outcome in outcomes.items():
        mark = (
            ""
            if outcome == case["outcome"]
            else f' <span class="req-mark r-{_e(outcome)}">{_e(OUTCOME_LABEL.get(outcome, outcome))}</span>'
        )
        parts.append(_links([rid], links, texts) + mark)
    return ", ".join(parts)


def _crashes(case: dict[str, Any]) -> str:
    return "".join(
        f'<br><span class="label">crash in the {_e(c["source"])}</span><pre class="crash">{_e(c["excerpt"])}</pre>'
        for c in case.get("crashes", [])
    )


def _rollup(document: dict[str, Any]) -> str:
    """The requirement rollup (coverage): the failed ones, and those the run could not observe."""
    exercised = document.get("requirements", {}).get("exercised", {})
    if not exercised:
        return ""
    by: dict[str, list[str]] = {}
    for rid, entry in exercised.items():
        by.setdefault(entry["outcome"], []).append(rid)
    counts = ", ".join(f"{len(ids)} {OUTCOME_LABEL.get(o, o)}" for o, ids in by.items())
    rows = "".join(
        f"<li>{_e(OUTCOME_LABEL.get(o, o))}: {_links(by[o], document.get('requirement_links', {}))}</li>"
        for o in ("error", "fail", "non_strict", "not_checked")
        if o in by
    )
    note = (
        '<p class="label">not checked: cited by a case that ran, but invisible from outside the testee '
        "(ERR-5 needs a crash observer, profile [observe]), never counted as passed.</p>"
        if "not_checked" in by
        else ""
    )
    return f'<p><b>requirements</b>: {len(exercised)} cited ({_e(counts)})</p><ul class="problems">{rows}</ul>{note}'


def _hex(text: str) -> str:
    if not text:
        return ""
    shown = " ".join(text[i : i + 2] for i in range(0, min(len(text), HEX_SHOWN * 2), 2))
    more = len(text) // 2 - HEX_SHOWN
    return shown + (f" &hellip; (+{more} bytes)" if more > 0 else "")


def _wire_log(case: dict[str, Any]) -> str:
    """Folded, except for cases that did not pass: their log is what the reader came for."""
    records = case.get("wire", [])
    if not records:
        return '<span class="label">no wire traffic</span>'
    rows = "".join(
        f'<tr class="d-{_e(w["direction"])}"><td>{w["at"]:.4f}</td><td>{_e(w["connection"])}</td>'
        f"<td>{DIRECTION.get(w['direction'], _e(w['direction']))}</td><td>{_e(w['decoded'])}</td>"
        f'<td class="hex">{_hex(w["hex"])}</td></tr>'
        for w in records
    )
    sent = sum(1 for w in records if w["direction"] == "sent")  # frames, or raw writes (byte by byte...)
    received = sum(1 for w in records if w["direction"] == "received")
    opened = " open" if case["outcome"] in ("fail", "error", "non_strict") else ""
    return (
        f"<details{opened}><summary>wire log: {sent} sent, {received} received, {len(records)} records</summary>"
        '<table class="wire"><colgroup><col class="w-at"><col class="w-conn"><col class="w-dir"><col>'
        '<col class="w-hex"></colgroup><tr><td class="label">t (s)</td><td class="label">connection</td>'
        '<td class="label">direction</td><td class="label">decoded</td><td class="label">hex</td></tr>'
        f"{rows}</table></details>"
    )


def _case_row(case: dict[str, Any], links: dict[str, str], texts: dict[str, dict[str, Any]] | None = None) -> str:
    outcome = case["outcome"]
    expected = '<span class="expected">expected failure (listed)</span>' if case.get("expected_failure") else ""
    reactions = "".join(f"<li>{_e(r)}</li>" for r in case["reactions"])
    feature = f' <span class="label">feature {_e(case["feature"])}</span>' if case.get("feature") else ""
    return (
        f'<tr class="case-{_e(outcome)}" id="{_e(case["id"])}">'
        f'<td><span class="badge o-{_e(outcome)}">{OUTCOME_LABEL.get(outcome, _e(outcome))}</span>{expected}</td>'
        f'<td><span class="id">{_e(case["id"])}</span><br><span class="title">{_e(case["title"])}</span>{feature}</td>'
        f"<td>{_e(case['level'])}</td><td>{_requirement_cell(case, links, texts)}</td>"
        f'<td><span class="label">observed</span><br>{_e(case["observed"])}{_crashes(case)}'
        f'<br><span class="label">acceptable</span><ul class="reactions">{reactions}</ul></td>'
        f"<td>{case['duration']:.3f} s</td></tr>"
        # the wire log spans the row below, so decoded frames get the table's full width
        f'<tr class="wire-row case-{_e(outcome)}"><td></td><td colspan="5">{_wire_log(case)}</td></tr>'
    )


def _area_tables(document: dict[str, Any]) -> str:
    links = document.get("requirement_links", {})
    texts = document.get("requirement_texts", {})
    areas: dict[str, list[dict[str, Any]]] = {}
    for case in document["cases"]:
        areas.setdefault(case["area"], []).append(case)
    parts = []
    for area, cases in areas.items():
        tally = ", ".join(
            f"{sum(c['outcome'] == o for c in cases)} {OUTCOME_LABEL[o]}"
            for o in OUTCOME_ORDER
            if any(c["outcome"] == o for c in cases)
        )
        rows = "".join(_case_row(c, links, texts) for c in cases)
        parts.append(
            f'<h2 id="area-{_e(area)}">{_e(area)} <span class="label">({len(cases)} cases: {tally})</span></h2>'
            '<table class="cases"><colgroup><col class="c-outcome"><col class="c-case"><col class="c-level">'
            '<col class="c-req"><col><col class="c-time"></colgroup>'
            "<tr><th>outcome</th><th>case</th><th>level</th><th>requirements</th>"
            f"<th>observed / acceptable reactions</th><th>time</th></tr>{rows}</table>"
        )
    return "".join(parts)


def _summary(document: dict[str, Any]) -> str:
    summary = document["summary"]
    ok = summary["exit_code"] == 0
    verdict = "conforming for this case set and profile" if ok else f"not conforming (exit code {summary['exit_code']})"
    counts = "".join(
        f'<div class="count"><span class="badge o-{o}">{OUTCOME_LABEL[o]}</span><b>{summary.get(o, 0)}</b></div>'
        for o in OUTCOME_ORDER
    )
    problems = []
    for key, text in (
        ("unexpected_failures", "MUST failed"),
        ("errors", "runner error"),
        ("unexpected_passes", "listed as an expected failure but passed: remove it from the list"),
        ("unknown_expected_failures", "the expected-failures list names an unknown case"),
    ):
        problems += [f'<li>{_e(text)}: <a href="#{_e(i)}">{_e(i)}</a></li>' for i in summary.get(key, [])]
    problem_list = f'<ul class="problems">{"".join(problems)}</ul>' if problems else ""
    return (
        f'<p><span class="verdict {"ok" if ok else "bad"}">{_e(verdict)}</span></p>'
        f'<div class="counts">{counts}</div>{problem_list}{_rollup(document)}'
    )


def render_html(document: dict[str, Any]) -> str:
    profile = document["profile"]
    facts = [
        ("mode", document["mode"]),
        ("target", document["target"]),
        ("kit version", document["kit_version"]),
        ("spec version", document["spec_version"]),
        ("profile", f"{profile['name']}" + (f" ({profile['path']})" if profile.get("path") else "")),
        ("features", ", ".join(profile.get("features", [])) or "none declared"),
        ("keepalive K", f"{profile.get('keepalive')} s"),
        ("case set hash", document["catalogue_hash"]),
        ("started", document["started"]),
        ("duration", f"{document['duration']} s"),
        ("host", document.get("host", "")),
    ]
    fact_list = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    areas = " &middot; ".join(
        [f'<a href="#area-{_e(a)}">{_e(a)}</a>' for a in dict.fromkeys(c["area"] for c in document["cases"])]
        + (['<a href="#mutants">mutants</a>'] if document.get("mutants") else [])
        + (['<a href="#requirements">requirements cited</a>'] if document.get("requirement_texts") else [])
    )
    title = f"sink-check {document['mode']} report: {document['target']}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f'<p class="meta">"passes sink-check {_e(document["kit_version"])}, cases {_e(document["catalogue_hash"])}, '
        f'with profile {_e(profile["name"])}" is what this report can be cited for.</p>'
        f'<dl class="facts">{fact_list}</dl>{_summary(document)}<p class="label">areas: {areas}</p>'
        f"{_area_tables(document)}{_mutants(document)}{_requirements_cited(document)}"
        f"<footer>report schema {_e(document['report_schema'])}; the JSON report (--json) holds the same "
        "data with every byte of each frame.</footer></body></html>\n"
    )


def write_html(document: dict[str, Any], path: Path) -> None:
    path.write_text(render_html(document), encoding="utf-8")
