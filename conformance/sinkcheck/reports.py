"""Reports: the JSON document (stable schema), JUnit XML for CI, and console lines."""

from __future__ import annotations

import datetime as dt
import json
import platform
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from . import __version__
from .model import Case, CaseResult, Outcome, catalogue_hash
from .profile import Profile
from .runner import RunSummary

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "DOCS_BASE",
    "docs_spec_base",
    "requirement_url",
    "requirement_texts",
    "report_document",
    "write_json",
    "write_junit",
]

REPORT_SCHEMA_VERSION = 1
#: The docs site as `python3 kit.py docs` serves it: a value for --docs-url, never a default (a mailed
#: report's links would point at the reader's own machine).
DOCS_BASE = "http://127.0.0.1:8000/"


def docs_spec_base(docs_url: str) -> str:
    """The version-0 spec folder under a docs site's root URL (``--docs-url``)."""
    return docs_url.rstrip("/") + "/spec/v0/"


def requirement_url(requirement: str, sections: dict[str, str], base: str = docs_spec_base(DOCS_BASE)) -> str:
    """``sections`` values are ``file.md#ID`` (version 0, under ``base``) or ``../v1/file.md#ID``."""
    section = sections.get(requirement)
    if section is None:
        return f"{base}#{requirement}"
    page, anchor = section.split("#", 1)
    if page.startswith("../"):
        base, page = base.rstrip("/").rsplit("/", 1)[0] + "/", page.removeprefix("../")
    return f"{base}{page.removesuffix('.md')}/#{anchor}"


def requirement_sections() -> dict[str, str]:
    """{requirement ID: "file.md#ID"} from the spec registries (v1 IDs: "../v1/file.md#ID"), when at hand."""
    import tomllib

    from .paths import SPEC_REGISTRY, SPEC_REGISTRY_V1

    sections: dict[str, str] = {}
    for path, prefix in ((SPEC_REGISTRY, ""), (SPEC_REGISTRY_V1, "../v1/")):
        if path is not None and path.exists():
            sections.update({r["id"]: prefix + r["section"] for r in tomllib.loads(path.read_text())["requirement"]})
    return sections


def requirement_texts(requirements: set[str] | list[str]) -> dict[str, dict[str, Any]]:
    """{ID: level, target, summary, spec version} of each requirement, from the spec registries, when at hand.

    A report carries the texts it cites, so that it reads on its own (mailed, attached to a CI run).
    """
    import tomllib

    from .paths import SPEC_REGISTRY, SPEC_REGISTRY_V1

    known: dict[str, dict[str, Any]] = {}
    for path, version in ((SPEC_REGISTRY, 0), (SPEC_REGISTRY_V1, 1)):
        if path is not None and path.exists():
            for r in tomllib.loads(path.read_text())["requirement"]:
                known[r["id"]] = {
                    "level": r["level"],
                    "target": r["target"],
                    "summary": r["summary"],
                    "spec_version": version,
                }
    return {rid: known[rid] for rid in sorted(requirements) if rid in known}


def spec_version(profile: Profile, mode: str) -> int:
    """The highest protocol version the run checks: what the profile says the peer speaks (codec mode: 0)."""
    if mode == "server":
        return max(profile.versions)
    if mode == "client":
        return max(profile.client.versions)
    return 0


def report_document(
    results: list[CaseResult],
    *,
    cases: list[Case],
    profile: Profile,
    target: str,
    mode: str,
    summary: RunSummary,
    started: dt.datetime,
    duration: float,
    docs_url: str | None = None,
) -> dict[str, Any]:
    """The JSON report. Requirement IDs link to the docs site only with ``docs_url`` (its root URL)."""
    sections = requirement_sections()
    cited = {rid for r in results for rid in (*r.case.requirements, *r.requirement_outcomes())}
    return {
        "report_schema": REPORT_SCHEMA_VERSION,
        "tool": "sink-check",
        "kit_version": __version__,
        "spec_version": spec_version(profile, mode),
        "mode": mode,
        "target": target,
        "profile": {
            "name": profile.name,
            "path": str(profile.source) if profile.source else None,
            "features": sorted(profile.features),
            # the peer's K: in client mode, the client's own (profile [client] keepalive)
            "keepalive": profile.client_keepalive if mode == "client" else profile.keepalive,
        },
        "catalogue_hash": catalogue_hash(cases),
        "started": started.isoformat(),
        "duration": round(duration, 3),
        "host": platform.node(),
        "summary": {
            **summary.counts,
            "exit_code": summary.exit_code,
            "unexpected_failures": summary.unexpected_failures,
            "unexpected_passes": summary.unexpected_passes,
            "unknown_expected_failures": summary.unknown_expected,
            "errors": summary.errors,
        },
        "docs_url": docs_url,
        "requirement_links": {}
        if docs_url is None
        else {rid: requirement_url(rid, sections, docs_spec_base(docs_url)) for rid in sorted(cited)},
        "requirement_texts": requirement_texts(cited),
        "cases": [r.to_json() for r in results],
    }


def write_json(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, indent=1) + "\n")


def write_junit(results: list[CaseResult], path: Path, *, name: str) -> None:
    """One testcase per case; fail/non_strict/error as <failure>/<error>, unsupported as <skipped>."""
    suite = ET.Element(
        "testsuite",
        name=name,
        tests=str(len(results)),
        failures=str(sum(r.outcome is Outcome.FAIL and not r.expected_failure for r in results)),
        errors=str(sum(r.outcome is Outcome.ERROR for r in results)),
        skipped=str(sum(r.outcome is Outcome.UNSUPPORTED for r in results)),
        time=f"{sum(r.duration for r in results):.3f}",
    )
    for r in results:
        tc = ET.SubElement(
            suite,
            "testcase",
            classname=f"sink-check.{r.case.mode}.{r.case.area}",
            name=r.case.id,
            time=f"{r.duration:.3f}",
        )
        ET.SubElement(tc, "properties").extend(
            [ET.Element("property", name="requirement", value=rid) for rid in r.case.requirements]
            + [
                ET.Element("property", name="level", value=r.case.level.value),
                ET.Element("property", name="outcome", value=r.outcome.value),
            ]
        )
        message = f"{r.observed} | acceptable: {'; '.join(r.case.reactions)}"
        if r.outcome is Outcome.FAIL and not r.expected_failure:
            ET.SubElement(tc, "failure", message=message, type="MUST").text = _wire_text(r)
        elif r.outcome is Outcome.ERROR:
            ET.SubElement(tc, "error", message=r.observed, type="runner")
        elif r.outcome is Outcome.UNSUPPORTED:
            ET.SubElement(tc, "skipped", message=r.observed)
        elif r.outcome in (Outcome.NON_STRICT, Outcome.INFORMATIONAL) or r.expected_failure:
            ET.SubElement(tc, "system-out").text = f"{r.outcome.value}: {message}"
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def _wire_text(result: CaseResult) -> str:
    return "\n".join(f"{w.at:8.4f} {w.connection:>8} {w.direction:>8} {w.decoded} {w.hex[:80]}" for w in result.wire)
