"""Cases, outcomes and results: the vocabulary of a conformance run."""

from __future__ import annotations

import ast
import enum
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Level",
    "Outcome",
    "Case",
    "CaseResult",
    "WireRecord",
    "CheckFailed",
    "Unsupported",
    "catalogue_hash",
    "show_bytes",
    "readable",
    "NOT_CHECKED",
    "INSIDE_ONLY",
    "requirement_outcomes",
]

BYTES_SHOWN = 64  # bytes of a value shown in an observation; the wire log keeps them all


def show_bytes(value: bytes) -> str:
    """Bytes as a person reads them in a report: hex, then the printable text (``61 62 ("ab")``), never ``b'ab'``."""
    if not value:
        return "(empty)"
    shown = value[:BYTES_SHOWN]
    text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in shown)
    more = f" ... ({len(value)} bytes)" if len(value) > BYTES_SHOWN else ""
    return f'{shown.hex(" ")}{more} ("{text}")'


_BYTES_LITERAL = re.compile(r"""(?<![\w'"])b(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")""")


def readable(observed: str) -> str:
    """An observation with every Python bytes literal in it (``b'...'``, from a repr) shown by :func:`show_bytes`."""

    def replace(match: re.Match[str]) -> str:
        try:
            value = ast.literal_eval(match[0])
        except (ValueError, SyntaxError):
            return match[0]
        return show_bytes(value) if isinstance(value, bytes) else match[0]

    return _BYTES_LITERAL.sub(replace, observed)


class Level(enum.Enum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"  # a MUST is broken
    NON_STRICT = "non_strict"  # a SHOULD is broken
    INFORMATIONAL = "informational"  # a MAY case, or an observation with no requirement behind it
    UNSUPPORTED = "unsupported"  # the profile declares the feature absent
    ERROR = "error"  # the runner itself failed; never counted as a pass


#: A requirement a case cites but whose check the run could not make (see :func:`requirement_outcomes`).
NOT_CHECKED = "not_checked"
#: Requirements only visible inside the testee: never "pass" on what the wire shows. ERR-5 ("neither
#: crashes") becomes checkable with a crash observer (profile ``[observe]``); ERR-7 (logging) never is.
INSIDE_ONLY = frozenset({"ERR-5", "ERR-7"})


class CheckFailed(Exception):
    """The implementation did not react in any acceptable way.

    ``requirements``: what the failed check is about (None: every requirement the case cites and has
    not yet seen met); only these are marked failed in the requirement rollup. ``level``: the level of
    the broken rule when it differs from the case's (a SHOULD inside a case that also checks MUSTs).
    """

    def __init__(
        self, observed: str, *, requirements: tuple[str, ...] | list[str] | None = None, level: Level | None = None
    ) -> None:
        super().__init__(observed)
        self.observed = observed
        self.requirements = tuple(requirements) if requirements is not None else None
        self.level = level


class Unsupported(Exception):
    """The case needs something the profile does not provide."""


@dataclass(frozen=True, kw_only=True)
class Case:
    """One conformance case. ``id`` is semantic and stable: never positional, never reused."""

    id: str
    title: str
    mode: str  # "server" (the runner plays clients) or "client" (the runner plays the server)
    area: str
    requirements: tuple[str, ...]
    level: Level
    reactions: tuple[str, ...]  # acceptable reactions, shown beside what arrived on failure
    run: Callable[[Any], Awaitable[str]] = field(compare=False, repr=False)  # CaseContext or ClientCaseContext
    feature: str | None = None  # optional feature the profile must declare
    timeout: float = 10.0  # seconds, before the global scale factor
    slow: bool = False  # e.g. keepalive cases that wait 1.5 K
    # client mode: the case checks what the client keeps across a restart or a reconnect (its instance ids,
    # its unanswered and answered events); unsupported with [client] keeps_store = false. Not in describe():
    # it does not change what the case checks, only whether it applies.
    needs_client_store: bool = field(default=False, compare=False)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "mode": self.mode,
            "area": self.area,
            "requirements": list(self.requirements),
            "level": self.level.value,
            "reactions": list(self.reactions),
            "feature": self.feature,
            "timeout": self.timeout,
            "slow": self.slow,
        }


@dataclass(frozen=True)
class WireRecord:
    """One frame (or raw chunk) on the wire, for the report's per-case log."""

    at: float  # seconds since the case started
    connection: str
    direction: str  # "sent" | "received" | "event"
    hex: str
    decoded: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "decoded", readable(self.decoded))  # notes may quote bytes, as observations do


@dataclass
class CaseResult:
    case: Case
    outcome: Outcome
    observed: str
    duration: float
    wire: list[WireRecord] = field(default_factory=list)
    expected_failure: bool = False
    #: {requirement ID: outcome value or "not_checked"}: what this case showed about each requirement it
    #: cites (and ERR-5 when a crash was observed). Empty: every cited requirement takes the case's outcome.
    requirements: dict[str, str] = field(default_factory=dict)
    crashes: list[dict[str, str]] = field(default_factory=list)  # {"source", "excerpt"}: observed crashes

    def requirement_outcomes(self) -> dict[str, str]:
        return dict(self.requirements) or dict.fromkeys(self.case.requirements, self.outcome.value)

    def __post_init__(self) -> None:
        # Every report (console, JSON, JUnit, HTML) shows bytes as hex and text, whatever a case wrote.
        self.observed = readable(self.observed)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.case.describe(),
            "outcome": self.outcome.value,
            "observed": self.observed,
            "duration": round(self.duration, 4),
            "expected_failure": self.expected_failure,
            "requirement_outcomes": self.requirement_outcomes(),
            "crashes": list(self.crashes),
            "wire": [record.__dict__ for record in self.wire],
        }


def requirement_outcomes(
    case: Case,
    outcome: Outcome,
    *,
    met: set[str] | frozenset[str] = frozenset(),
    failed: tuple[str, ...] | None = None,
    crash_observed: bool = False,
    crash_watched: bool = False,
) -> dict[str, str]:
    """What one case showed about each requirement it cites.

    A passing case met every requirement it cites. In a case that did not pass, a failed check marks
    only the requirements it is about (``failed``; None: every cited one not in ``met``); the others
    count as passed only if their own checks passed before (``met``), else they are ``not_checked``.
    Requirements only visible inside the testee (:data:`INSIDE_ONLY`) are never passed on the wire's
    word: ERR-5 passes only when a crash observer watched the case (``crash_watched``) and saw nothing.
    An observed crash fails ERR-5, cited or not.
    """
    if outcome in (Outcome.UNSUPPORTED, Outcome.ERROR):
        results = dict.fromkeys(case.requirements, outcome.value)
    else:
        blamed = set(failed) if failed is not None else None
        results = {}
        for rid in case.requirements:
            if outcome is Outcome.PASS or (rid in met and (blamed is None or rid not in blamed)):
                results[rid] = Outcome.PASS.value
            elif blamed is None or rid in blamed:
                results[rid] = outcome.value
            else:
                results[rid] = NOT_CHECKED
        for rid in sorted((blamed or set()) - set(case.requirements)):
            results[rid] = outcome.value
    for rid, value in results.items():
        if rid in INSIDE_ONLY and value == Outcome.PASS.value and not (rid == "ERR-5" and crash_watched):
            results[rid] = NOT_CHECKED
    if crash_observed:
        results["ERR-5"] = Outcome.FAIL.value
    return results


def catalogue_hash(cases: list[Case]) -> str:
    """Identifies the case set: "passes kit X, cases H, with profile Y" is checkable."""
    blob = json.dumps([c.describe() for c in sorted(cases, key=lambda c: c.id)], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
