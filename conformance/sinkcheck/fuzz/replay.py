"""``sink-check replay FILE``: a finding saved by ``sink-check fuzz``, of a server or a client, played again."""

from __future__ import annotations

import json

from .client import replay_client
from .server import replay_server
from .session_file import load_sessions
from .settings import ReplayCommand

__all__ = ["replay_finding"]


def replay_finding(command: ReplayCommand) -> int:
    """Run ``sink-check replay FILE``: a server or a client finding, as the file says; exit 1 if it reproduces."""
    try:
        document = json.loads(command.file.read_text())
        load_sessions(document)  # a file of another format is refused before anything starts
        if document.get("mode") == "client":
            # as in client mode: --cert/--key are the runner's server identity
            return replay_client(document, command, command.profile.load(identity="server"))
        profile = command.profile.load()
    except (OSError, ValueError, KeyError) as exc:
        print(f"sink-check replay: {exc}")
        return 2
    return replay_server(document, target=command.target, profile=profile, settings=command.settings)
