"""The session file a finding is saved in, and ``sink-check replay`` reads (format 1).

A JSON object: ``format`` ``"sink-check-fuzz-session"``, ``format_version`` 1, what was
fuzzed and how (``mode``, ``seed``, ``settings``, ``target``, the instance ids), the
failure and the shrinking figures, and the ``steps``: one object per write the runner
sent (``connection``, ``direction`` ``"sent"``, ``hex``, ``delay`` in seconds before it),
with what the peer answered (``"received"``) and notes (``"note"``) in between. Replay
plays only the sent steps, one connection per ``connection`` number. A client finding
(``mode`` ``"client"``, written by :func:`.client.client_document`) has ``target``
``"listen HOST:PORT"``, the ``exec`` command and the client's ``client_instance_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..fuzz_mutations import Session, Write
from .settings import FuzzSettings
from .supervisor import FuzzTarget

__all__ = ["FORMAT", "FORMAT_VERSION", "Finding", "finding_document", "load_sessions", "steps_of"]

FORMAT = "sink-check-fuzz-session"
FORMAT_VERSION = 1


@dataclass
class Finding:
    """What a fuzz run found: the sessions that broke the peer (shrunk, if it could be) and how it went."""

    failure: str  # what the probe saw
    sessions: list[Session]  # the window of exchanges before the failing probe, then shrunk
    mutations: list[list[str]]
    exchanges: int  # exchanges played before the failing probe
    found_after: float  # seconds
    reproduced: bool = False
    shrunk: bool = False
    shrink_seconds: float = 0.0
    trials: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)


def steps_of(sessions: list[Session]) -> list[dict[str, Any]]:
    """The sent steps of ``sessions`` (what is saved when the peer cannot be recorded again)."""
    return [
        {"connection": i, "direction": "sent", "hex": w.data.hex(), "delay": w.delay}
        for i, s in enumerate(sessions)
        for w in s
    ]


def finding_document(finding: Finding, *, seed: int, target: FuzzTarget, settings: FuzzSettings) -> dict[str, Any]:
    """The session file of a server finding, as a JSON object."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kit_version": __version__,
        "mode": "server",
        "seed": seed,
        "settings": {"duration": settings.duration, "probe_every": settings.probe_every},
        "target": f"{target.host}:{target.port}",
        "server_instance_id": target.state.server_instance_id,
        "client_instance_id": target.profile.client_instance_id,
        "failure": finding.failure,
        "found_after_exchanges": finding.exchanges,
        "found_after_seconds": round(finding.found_after, 3),
        "reproduced": finding.reproduced,
        "shrunk": finding.shrunk,
        "shrink_seconds": round(finding.shrink_seconds, 3),
        "shrink_trials": finding.trials,
        "mutations": finding.mutations,  # of the exchanges in the window, before shrinking
        "steps": finding.steps,
    }


def load_sessions(document: dict[str, Any]) -> list[Session]:
    """The sessions a session file's sent steps make, one per connection (ValueError: another format)."""
    if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"not a {FORMAT} version {FORMAT_VERSION} file")
    sessions: dict[int, Session] = {}
    for step in document["steps"]:
        connection = int(step.get("connection", 0))
        sessions.setdefault(connection, [])
        if step["direction"] == "sent":
            sessions[connection].append(Write(bytes.fromhex(step["hex"]), float(step.get("delay", 0.0))))
    return [sessions[k] for k in sorted(sessions)]
