"""Spec coverage of a run: which requirement IDs it exercised, with what result, and which MUSTs nothing covers.

Every mode reports it (console and the ``requirements`` object of the JSON
report). A requirement's result is the worst outcome among the cases that
cite it; a case that was ``unsupported`` cites it without exercising it.
A case may say per requirement what it showed (a mapping instead of a list
of IDs): a failed check marks only the requirements it is about, and a
requirement it could not observe (ERR-5 without a crash observer, ERR-7)
is ``not_checked``, never ``pass``. Every mode can pass such mappings.
The MUST lists are limited to the requirements whose ``target`` the mode can
observe (a server-mode run cannot judge an encoder).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console

from .paths import SPEC_REGISTRY, SPEC_REGISTRY_V1

__all__ = ["MODE_TARGETS", "registry", "registry_v1", "report_coverage", "requirement_coverage"]

#: Registry targets each mode can observe.
MODE_TARGETS = {
    "server": frozenset({"server", "both", "sender", "receiver"}),
    "client": frozenset({"client", "both", "sender", "receiver"}),
    "codec": frozenset({"encoder", "decoder", "both", "sender", "receiver"}),
    "load": frozenset(),  # a load run exercises few requirements, many times: no MUST lists
}
#: Codec mode sees encoders and decoders only: the byte-layout sections, and the error rules of decoders
#: and encoders (the connection-level ones, ERR-3..ERR-6, need a peer).
CODEC_PREFIXES = frozenset(
    {"CONV", "STREAM", "FRAME", "CONN", "PUB", "ACK", "NACK", "BATCH", "LIMIT", "ERR", "CODEC", "RECORD"}
)
#: Worst first. Outcomes of all modes: server/client cases, codec checks, load verdicts. ``not_checked``: cited
#: by a case that ran, but the run could not observe it (one pass elsewhere outweighs it).
SEVERITY = ("error", "fail", "non_strict", "informational", "pass", "not_checked", "unsupported")
NOT_EXERCISED = ("unsupported", "not_checked")
MUST_LEVELS = ("MUST", "MUST NOT")


def registry() -> list[dict[str, Any]]:
    """The v0 requirement registry, when the runner runs from a checkout (else empty: no MUST lists)."""
    if SPEC_REGISTRY is None or not SPEC_REGISTRY.exists():
        return []
    return list(tomllib.loads(SPEC_REGISTRY.read_text())["requirement"])


def registry_v1() -> list[dict[str, Any]]:
    """The requirements version 1 defines (its own IDs only), when the runner runs from a checkout."""
    if SPEC_REGISTRY_V1 is None or not SPEC_REGISTRY_V1.exists():
        return []
    return list(tomllib.loads(SPEC_REGISTRY_V1.read_text())["requirement"])


def requirement_coverage(
    results: Iterable[tuple[str, str, Iterable[str] | Mapping[str, str]]],
    *,
    mode: str,
    catalogue: Iterable[Iterable[str]] | None = None,
) -> dict[str, Any]:
    """``results``: (case ID, outcome, requirements) per case run, where requirements is a list of IDs (each
    takes the case's outcome) or a mapping {ID: what the case showed about it}; ``catalogue``: the
    requirement IDs of every case the mode has, run or not (to tell "not selected" from "no case at all")."""
    exercised: dict[str, dict[str, Any]] = {}
    for case_id, case_outcome, requirements in results:
        per = requirements if isinstance(requirements, Mapping) else dict.fromkeys(requirements, case_outcome)
        for rid, outcome in per.items():
            entry = exercised.setdefault(rid, {"outcome": "unsupported", "counts": {}, "cases": []})
            entry["counts"][outcome] = entry["counts"].get(outcome, 0) + 1
            entry["cases"].append(case_id)
            if SEVERITY.index(outcome) < SEVERITY.index(entry["outcome"]):
                entry["outcome"] = outcome
    targets = MODE_TARGETS.get(mode, frozenset())
    listed = registry()
    v1 = registry_v1()
    v1_ids = {r["id"] for r in v1}
    if mode in ("server", "client", "codec") and any(
        rid in v1_ids and e["outcome"] not in NOT_EXERCISED for rid, e in exercised.items()
    ):
        # A run that exercised version 1 (the peer speaks it) also lists the MUSTs version 1 adds.
        listed += v1
    musts = [
        r["id"]
        for r in listed
        if r["level"] in MUST_LEVELS
        and r.get("status", "active") == "active"
        and r["target"] in targets
        and (
            mode != "codec"
            or (r["id"].split("-")[0] in CODEC_PREFIXES and (not r["id"].startswith("ERR-") or r["target"] != "both"))
        )
    ]
    really = {rid for rid, e in exercised.items() if e["outcome"] not in NOT_EXERCISED}
    cited_anywhere = {rid for requirements in (catalogue or []) for rid in requirements} | set(exercised)
    return {
        "targets": sorted(targets),
        "exercised": dict(sorted(exercised.items(), key=lambda kv: _order(kv[0]))),
        "must_not_exercised": sorted((m for m in musts if m not in really), key=_order),
        "must_without_case": sorted((m for m in musts if m not in cited_anywhere), key=_order),
    }


def _order(rid: str) -> tuple[str, int]:
    prefix, _, number = rid.partition("-")
    return prefix, int(number) if number.isdigit() else 0


def report_coverage(
    console: Console,
    results: Iterable[tuple[str, str, Iterable[str] | Mapping[str, str]]],
    *,
    mode: str,
    catalogue: Iterable[Iterable[str]] | None = None,
) -> dict[str, Any]:
    """Compute the coverage, print its summary, return the JSON object for the report."""
    coverage = requirement_coverage(results, mode=mode, catalogue=catalogue)
    by_outcome: dict[str, list[str]] = {}
    for rid, entry in coverage["exercised"].items():
        by_outcome.setdefault(entry["outcome"], []).append(rid)
    counts = ", ".join(f"{len(by_outcome[o])} {o}" for o in SEVERITY if o in by_outcome)
    console.print(f"[bold]requirements:[/] {len(coverage['exercised'])} cited ({counts})", highlight=False)
    for outcome in ("error", "fail", "non_strict"):
        if outcome in by_outcome:
            console.print(f"  {outcome}: {', '.join(by_outcome[outcome])}", highlight=False)
    if "not_checked" in by_outcome:
        console.print(
            f"  not checked (invisible from outside the testee, or no crash observer): "
            f"{', '.join(by_outcome['not_checked'])}",
            highlight=False,
        )
    # Printed once each: a MUST no case covers is not "not exercised by this run" as well.
    uncovered = set(coverage["must_without_case"])
    not_run = [rid for rid in coverage["must_not_exercised"] if rid not in uncovered]
    if not_run:
        console.print(
            f"  MUST ({'/'.join(coverage['targets'])}) not exercised by this run (their cases were not "
            f"selected or were unsupported): {', '.join(not_run)}",
            highlight=False,
        )
    if coverage["must_without_case"]:
        console.print(
            f"  MUST ({'/'.join(coverage['targets'])}) no {mode} case covers "
            f"({len(uncovered)}): {', '.join(coverage['must_without_case'])}",
            highlight=False,
        )
    # The text of every requirement named above, so that the report reads on its own (mailed, attached to CI).
    from .reports import requirement_texts

    coverage["texts"] = requirement_texts({*coverage["exercised"], *coverage["must_not_exercised"]})
    return coverage
