"""What the fuzz commands take: the run's timing (:class:`FuzzSettings`, recorded in a finding) and each
command's settings (built by :mod:`sinkcheck.cli`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..profile import ProfileOptions

__all__ = ["FuzzClientCommand", "FuzzServerCommand", "FuzzSettings", "ReplayCommand"]


@dataclass(frozen=True)
class FuzzSettings:
    """A fuzz run's seed and timing (``--scale`` already applied); duration and probe_every go into the finding."""

    seed: int = 0
    duration: float = 10.0  # seconds of fuzzing (shrinking comes on top, bounded by shrink_time)
    probe_every: int = 1  # exchanges between health probes; a failing probe's window is bisected when shrinking
    quiet: float = 0.2  # an exchange ends when the server sent nothing for this long ...
    exchange_limit: float = 3.0  # ... or after this long in all: a server never makes a run hang
    probe_timeout: float = 10.0
    shrink_time: float = 90.0
    recover: float = 5.0  # without --exec: how long to wait for a broken server to serve again


@dataclass(frozen=True)
class FuzzServerCommand:
    """``sink-check fuzz server HOST:PORT``: the server, the run, the ``--exec`` peer, where a finding goes."""

    target: tuple[str, int]
    settings: FuzzSettings = FuzzSettings()
    profile: ProfileOptions = ProfileOptions()
    exec: str | None = None  # starts (and restarts, to shrink a crash) the server; {host}, {port} are replaced
    exec_log: Path | None = None  # where the --exec server's output is appended
    out: Path | None = None  # where a finding is saved (default sink-fuzz-finding-seedS.json)


@dataclass(frozen=True)
class FuzzClientCommand:
    """``sink-check fuzz client --exec COMMAND``: where the runner listens, the client, the run, the finding."""

    exec: str  # starts (and restarts) the client; {host}, {port} are replaced by the runner's socket
    listen: tuple[str, int] = ("127.0.0.1", 0)
    settings: FuzzSettings = FuzzSettings()
    profile: ProfileOptions = ProfileOptions()  # --cert/--key: the runner's server identity
    exec_log: Path | None = None  # where the client's output is appended
    server_instance_id: int = 0x5EC0_0001  # what the runner answers with
    out: Path | None = None  # where a finding is saved (default sink-fuzz-client-finding-seedS.json)


@dataclass(frozen=True)
class ReplayCommand:
    """``sink-check replay FILE``: a finding saved by ``sink-check fuzz``, played again."""

    file: Path
    target: tuple[str, int] | None = None  # a server finding: the server (default: the one it was made against)
    settings: FuzzSettings = FuzzSettings()
    profile: ProfileOptions = ProfileOptions()
    exec: str | None = None  # a client finding: the client to start (default: the command it was found with)
    listen: tuple[str, int] = ("127.0.0.1", 0)  # a client finding: where the runner listens
