"""Cases, outcomes and results: the vocabulary of a conformance run."""

from __future__ import annotations

import ast
import enum
import re
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Level", "Outcome", "Case", "CaseResult", "WireRecord", "CheckFailed", "Unsupported", "catalogue_hash",
           "show_bytes", "readable"]

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


class CheckFailed(Exception):
    """The implementation did not react in any acceptable way."""

    def __init__(self, observed: str) -> None:
        super().__init__(observed)
        self.observed = observed


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
            "wire": [record.__dict__ for record in self.wire],
        }


def catalogue_hash(cases: list[Case]) -> str:
    """Identifies the case set: "passes kit X, cases H, with profile Y" is checkable."""
    blob = json.dumps([c.describe() for c in sorted(cases, key=lambda c: c.id)], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
