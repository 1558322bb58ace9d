"""``sink-check fuzz server``, ``fuzz client`` and ``replay``: mutated sessions against a live peer.

Each *exchange* plays one mutated seed session (:mod:`sinkcheck.fuzz_mutations`)
on a fresh connection. Every ``--probe-every`` exchanges a well-behaved session
checks that the peer still serves (and, with a profile ``[observe]`` section, that
its log shows no crash). When it does not, the exchanges since the last good probe
are a *finding*: it is shrunk by delta debugging and saved as a session file that
``sink-check replay`` plays again.

The modules, in the order they build on each other:

* :mod:`.settings`: :class:`FuzzSettings` (a run's timing) and each command's settings;
* :mod:`.supervisor`: what the loop drives, a :class:`FuzzTarget`, and the :class:`Peer` process
  it restarts (:class:`PeerProcess`, a server started with ``--exec``);
* :mod:`.session_file`: the :class:`Finding` and its session file (format 1);
* :mod:`.shrink`: the :class:`Shrinker`, over the one ``ddmin``;
* :mod:`.loop`: :func:`run_fuzz`, the loop both roles share;
* :mod:`.server` and :mod:`.client`: the peer under test as a server (:class:`Target`) or as a
  client behind the runner's listener (:class:`ClientTarget`), and their commands;
* :mod:`.replay`: ``sink-check replay FILE``, for a finding of either.
"""

from __future__ import annotations

from .client import ClientTarget, client_document, client_seed_sessions, fuzz_client, replay_client
from .loop import run_fuzz
from .replay import replay_finding
from .server import Target, fuzz_server, replay, replay_server
from .session_file import FORMAT, FORMAT_VERSION, Finding, finding_document, load_sessions
from .settings import FuzzClientCommand, FuzzServerCommand, FuzzSettings, ReplayCommand
from .shrink import Shrinker
from .supervisor import FuzzTarget, Peer, PeerProcess

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ClientTarget",
    "Finding",
    "FuzzClientCommand",
    "FuzzServerCommand",
    "FuzzSettings",
    "FuzzTarget",
    "Peer",
    "PeerProcess",
    "ReplayCommand",
    "Shrinker",
    "Target",
    "client_document",
    "client_seed_sessions",
    "finding_document",
    "fuzz_client",
    "fuzz_server",
    "load_sessions",
    "replay",
    "replay_client",
    "replay_finding",
    "replay_server",
    "run_fuzz",
]
