"""The fuzz loop, the same for a server and a client: check the peer, play mutated seed sessions,
probe after every ``probe_every`` exchanges, and shrink the window before a failing probe."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from ..fuzz_mutations import Session, mutate, seed_sessions
from ..model import Unsupported
from .session_file import Finding, steps_of
from .settings import FuzzSettings
from .shrink import Broken, Shrinker
from .supervisor import FuzzTarget, Peer

__all__ = ["record", "run_fuzz"]


def run_fuzz(
    target: FuzzTarget,
    settings: FuzzSettings,
    *,
    peer: Peer | None = None,
    say: Callable[[str], None] = print,
    seeds: list[Session] | None = None,
) -> tuple[Finding | None, dict[str, Any]]:
    """Fuzz for ``settings.duration`` seconds; returns the (shrunk) finding, if any, and run figures.
    ``seeds``: the sessions to mutate (default: a client's sessions, to fuzz a server)."""
    failure = asyncio.run(target.probe())
    if failure is not None:
        raise Unsupported(f"the peer does not complete a well-behaved session before fuzzing: {failure}")
    assert target.state.server_instance_id is not None
    seeds = seeds or seed_sessions(
        seed=settings.seed,
        server_instance_id=target.state.server_instance_id,
        client_instance_id=target.profile.client_instance_id,
        app_version=target.profile.app_version,
    )

    async def sanity() -> str | None:
        await target.play(seeds)
        return await target.probe()

    failure = asyncio.run(sanity())
    if failure is not None and not target.crash_only:
        # (a crash the peer survived is no reason to stop: the seeds' ACKs name ids the peer may not have in
        # flight, a protocol error that the field server answers with a crash; the loop finds and shrinks it)
        raise Unsupported(f"the peer fails after the unmutated seed sessions: {failure}")
    rng = random.Random(settings.seed)
    figures: dict[str, Any] = {"exchanges": 0, "probes": 0}

    async def loop() -> Finding | None:
        started = time.monotonic()
        deadline = started + settings.duration
        window: list[tuple[Session, list[str]]] = []
        exchanges = 0
        while time.monotonic() < deadline:
            session, names = mutate(rng, seeds)
            await target.play([session])
            window.append((session, names))
            exchanges += 1
            if len(window) >= settings.probe_every or time.monotonic() >= deadline:
                failure = await target.probe()
                figures["probes"] += 1
                if failure is not None:
                    figures["exchanges"] = exchanges
                    return Finding(
                        failure=failure,
                        sessions=[s for s, _ in window],
                        mutations=[n for _, n in window],
                        exchanges=exchanges,
                        found_after=time.monotonic() - started,
                    )
                window.clear()
        figures["exchanges"] = exchanges
        return None

    started = time.monotonic()
    finding = asyncio.run(loop())
    figures["seconds"] = time.monotonic() - started
    figures["exchanges_per_second"] = figures["exchanges"] / max(figures["seconds"], 1e-9)
    if finding is None:
        return None, figures
    say(f"finding after {finding.exchanges} exchanges ({finding.found_after:.1f} s): {finding.failure}")
    shrinker = Shrinker(target, peer, settings)
    shrink_started = time.monotonic()
    try:
        finding.reproduced = shrinker.fails(finding.sessions)
        if finding.reproduced:
            finding.sessions = shrinker.shrink(finding.sessions, shrink_started + settings.shrink_time)
            finding.shrunk = True
        else:
            say("the window did not reproduce the failure on a second try: saved unshrunk")
        shrinker.heal()
        finding.steps = record(target, finding.sessions)
    except Broken as exc:
        say(f"not shrunk: {exc}")
        finding.steps = steps_of(finding.sessions)
    finding.shrink_seconds = time.monotonic() - shrink_started
    finding.trials = shrinker.trials
    return finding, figures


def record(target: FuzzTarget, sessions: list[Session]) -> list[dict[str, Any]]:
    """The final session once more, with what the server answered (informative; replay sends only)."""
    steps = asyncio.run(target.play(sessions))
    delays = iter(w.delay for s in sessions for w in s)
    for step in steps:
        if step["direction"] == "sent":
            step["delay"] = next(delays, 0.0)
    return steps
