"""Shrinking a finding by delta debugging (the one :func:`~sinkcheck.fuzz_mutations.ddmin`): first the
exchanges of the probe window, then the writes of each exchange, then the bytes of each write, then
the pauses. Each trial plays a candidate on a healthy peer and probes it."""

from __future__ import annotations

import asyncio
import time

from ..fuzz_mutations import Session, Write, ddmin, unframe
from .settings import FuzzSettings
from .supervisor import FuzzTarget, Peer

__all__ = ["Broken", "Shrinker"]


class Broken(Exception):
    """The peer cannot be brought back to health: shrinking stops here."""


class Shrinker:
    """Runs trials (play, probe) on a healthy peer: restarts it, or waits for it, after a trial broke it."""

    def __init__(self, target: FuzzTarget, peer: Peer | None, settings: FuzzSettings) -> None:
        self.target, self.peer, self.settings = target, peer, settings
        self.dirty = True  # the server just failed a probe
        self.trials = 0

    def heal(self) -> None:
        """Bring the peer back to health after a failed trial (raises :class:`Broken` when it cannot)."""
        if not self.dirty:
            return
        if self.peer is not None:
            self.peer.restart()
            self.dirty = False
            return
        deadline = time.monotonic() + self.settings.recover
        while time.monotonic() < deadline:
            if asyncio.run(self.target.probe()) is None:
                self.dirty = False
                return
            time.sleep(0.5)
        raise Broken(f"the server did not serve again within {self.settings.recover:.0f} s (pass --exec to shrink)")

    def fails(self, sessions: list[Session]) -> bool:
        """One trial: ``sessions`` played on a healthy peer; True when the probe after them fails."""
        self.heal()
        self.trials += 1
        self.target.reset_observation()  # a trial is judged on the crashes it causes itself

        async def trial() -> str | None:
            await self.target.play(sessions)
            return await self.target.probe()

        failed = asyncio.run(trial()) is not None
        # a crash the server survived (it logged it and still serves) needs no restart before the next trial
        self.dirty = failed and not self.target.crash_only
        return failed

    def shrink(self, sessions: list[Session], deadline: float) -> list[Session]:
        """The smallest sessions that still fail, as far as trials until ``deadline`` (monotonic) find."""

        def budget() -> bool:
            return time.monotonic() < deadline

        # 1. the exchanges of the probe window (a bisection of the window), 2. the writes of each exchange
        sessions = ddmin(sessions, self.fails, budget=budget)
        for i in range(len(sessions)):

            def with_writes(writes: list[Write], i: int = i) -> bool:
                return self.fails(sessions[:i] + [writes] + sessions[i + 1 :])

            sessions[i] = ddmin(sessions[i], with_writes, budget=budget) if len(sessions[i]) > 1 else sessions[i]
        # 3. the bytes of each write: a whole frame keeps a correct prefix, other writes shrink raw
        for i, session in enumerate(sessions):
            for j, write in enumerate(session):
                body = unframe(write.data)

                def rebuilt(
                    data: bytes, i: int = i, j: int = j, base: list[Session] = sessions, delay: float = write.delay
                ) -> list[Session]:
                    out = [list(s) for s in base]
                    out[i][j] = Write(data, delay)
                    return out

                if body is not None and len(body) > 1:
                    body = bytes(
                        ddmin(body, lambda b: self.fails(rebuilt(len(b).to_bytes(2, "big") + bytes(b))), budget=budget)
                    )
                    sessions = rebuilt(len(body).to_bytes(2, "big") + body)
                elif body is None and len(write.data) > 1:
                    sessions = rebuilt(bytes(ddmin(write.data, lambda b: self.fails(rebuilt(bytes(b))), budget=budget)))
        # 4. no pauses, if the failure does not need them
        undelayed = [[Write(w.data) for w in s] for s in sessions]
        if undelayed != sessions and budget() and self.fails(undelayed):
            sessions = undelayed
        return sessions
