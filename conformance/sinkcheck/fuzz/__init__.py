"""``sink-check fuzz server``, ``fuzz client`` and ``replay``: mutated sessions against a live peer."""

from __future__ import annotations

from .client import ClientTarget, FuzzClientCommand, ReplayCommand, client_seed_sessions, fuzz_client, replay_finding
from .server import (
    FORMAT,
    Finding,
    FuzzServerCommand,
    FuzzSettings,
    PeerProcess,
    Target,
    finding_document,
    fuzz_server,
    load_sessions,
    replay,
    run_fuzz,
)

__all__ = ["FORMAT", "ClientTarget", "Finding", "FuzzClientCommand", "FuzzServerCommand", "FuzzSettings", "PeerProcess",
           "ReplayCommand", "Target", "client_seed_sessions", "finding_document", "fuzz_client", "fuzz_server",
           "load_sessions", "replay", "replay_finding", "run_fuzz"]
