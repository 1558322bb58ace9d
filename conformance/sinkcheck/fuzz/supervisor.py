"""What the fuzz loop supervises: the peer under test as a target it plays sessions on and probes
(:class:`FuzzTarget`), and the process it restarts to shrink a crash (:class:`Peer`; for a server
started with ``--exec``, :class:`PeerProcess`)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Protocol

from ..context import RunState
from ..fuzz_mutations import Session
from ..paths import peer_environment
from ..profile import Profile
from ..wire import CLOSED
from .settings import FuzzSettings

__all__ = ["FuzzTarget", "Peer", "PeerProcess"]


class FuzzTarget(Protocol):
    """The peer under test: :class:`.server.Target` (a server) or :class:`.client.ClientTarget` (a client)."""

    host: str
    port: int
    profile: Profile
    state: RunState
    crash_only: bool  # the last probe failed on an observed crash alone: the peer still serves

    async def probe(self) -> str | None:
        """None while the peer completes a well-behaved session (and its log shows no crash), else what failed."""

    async def play(self, sessions: list[Session]) -> list[dict[str, Any]]:
        """Each session on its own connection, in order; the steps seen (sent and received)."""

    def reset_observation(self) -> None:
        """Forget the crashes observed so far: the next probe judges only what follows."""


class Peer(Protocol):
    """The process of the peer under test, which the shrinker restarts after a trial that broke it."""

    def restart(self) -> None: ...

    def stop(self) -> None: ...


class PeerProcess:
    """``--exec``: the server under test as a subprocess the runner may restart (to shrink a crash)."""

    def __init__(self, command: str, host: str, port: int, log: Path | None) -> None:
        self.command = command.replace("{host}", host).replace("{port}", str(port))
        self.host, self.port, self.log = host, port, log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 30.0) -> None:
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        # a new session, so stop() ends the shell and the server it started, and nothing else
        self.process = subprocess.Popen(
            self.command, shell=True, stdout=out, stderr=out, start_new_session=True, env=peer_environment()
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"--exec exited with code {self.process.returncode} before listening")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"--exec did not listen on {self.host}:{self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
            except ProcessLookupError:
                pass
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


PONG = 6  # frame type of PONG (FRAME-1): the answer that ends an exchange


async def drain_exchange(wire: Any, settings: FuzzSettings, pings: int) -> list[str]:
    """Read until the peer closes, PONGs the session's last PING, stays quiet, or the exchange limit passes:
    the frames read, as hex. Both roles end an exchange this way (a PING after each session marks its end)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.exchange_limit
    seen: list[str] = []
    pongs = 0
    while not wire.closed:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            frame = await wire.recv_frame(min(settings.quiet, remaining))
        except TimeoutError:
            break
        if frame is CLOSED:
            break
        seen.append(frame.hex())
        if frame[:1] and frame[0] >> 4 == PONG:
            pongs += 1
            if pongs >= max(1, pings):
                break
    return seen
