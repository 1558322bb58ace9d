"""``sink-check fuzz server HOST:PORT`` and ``sink-check replay FILE [HOST:PORT]`` of a server finding.

Each *exchange* is one fresh mutual-TLS connection that sends a mutated seed
session (see :mod:`sinkcheck.fuzz_mutations`), reads whatever the server answers until
it closes, answers the session's last PING, or stays quiet, and closes. The
health probe is a well-behaved connection (:meth:`CaseContext.still_serves`:
handshake, PUBLISH/ACK, PING/PONG).

With a profile ``[observe]`` section (the server's log and a crash
pattern), a crash report logged since the last probe fails the probe too:
a server whose connection process crashes and closes cleanly still serves,
and only its log shows the crash (ERR-5). Such a finding is shrunk the same
way, without restarting the server between trials.

Shrinking a crash that stops the server needs one that can be started again: ``--exec``
gives the command (:class:`.supervisor.PeerProcess`), and the runner restarts the server after every
trial that broke it. Without ``--exec`` the runner waits ``--recover`` seconds for the
server to come back (a supervisor may restart it) and otherwise saves the
finding unshrunk.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path
from typing import Any

from ..context import CaseContext, RunState
from ..fuzz_mutations import Session, Write
from ..model import CheckFailed, Unsupported
from ..observe import CrashWatch, case_observer
from ..profile import Profile
from .loop import run_fuzz
from .session_file import finding_document, load_sessions
from .settings import FuzzServerCommand, FuzzSettings
from .supervisor import PeerProcess, drain_exchange

__all__ = ["PING_BYTES", "Target", "fuzz_server", "replay", "replay_server"]

PING_BYTES = b"\x00\x02\x50\x00"  # a PING frame with its prefix: its PONG marks the end of an exchange


class Target:
    """The server under test: plays sessions on fresh connections and probes its health."""

    def __init__(self, host: str, port: int, profile: Profile, settings: FuzzSettings) -> None:
        self.host, self.port, self.profile, self.settings = host, port, profile, settings
        self.state = RunState(run_tag="fuzz")
        observer = case_observer(profile)  # the profile's [observe] log: a crash is a finding too (ERR-5)
        self.crash_watch = CrashWatch(observer) if observer is not None else None
        self.crash_only = False  # the last probe failed on an observed crash alone: the server still serves

    def reset_observation(self) -> None:
        """Forget what the log showed so far: the next probe judges only what follows."""
        if self.crash_watch is not None:
            self.crash_watch.reset()

    async def _crash(self, failure: str | None) -> str | None:
        """``failure`` of the health check, joined by any crash the observer saw since the last probe."""
        crash = await self.crash_watch.check() if self.crash_watch is not None else None
        self.crash_only = failure is None and crash is not None
        return failure if crash is None else (crash if failure is None else f"{failure}; {crash}")

    def _context(self, name: str) -> CaseContext:
        return CaseContext(
            host=self.host, port=self.port, profile=self.profile, state=self.state, case_id=f"fuzz-{name}"
        )

    async def probe(self) -> str | None:
        """None while the server still serves a well-behaved connection and its log shows no crash
        (profile ``[observe]``), else what went wrong."""
        return await self._crash(await self._health())

    async def _health(self) -> str | None:
        ctx = self._context("probe")
        try:
            await asyncio.wait_for(ctx.still_serves(), self.settings.probe_timeout)
            return None
        except TimeoutError:
            return f"a well-behaved connection did not complete within {self.settings.probe_timeout:.0f} s"
        except (CheckFailed, OSError, ssl.SSLError) as exc:
            return str(exc) or repr(exc)
        finally:
            await ctx.close_all()

    async def play(self, sessions: list[Session]) -> list[dict[str, Any]]:
        """Each session on its own connection, in order; returns the steps seen (sent and received)."""
        steps: list[dict[str, Any]] = []
        for index, session in enumerate(sessions):
            ctx = self._context(f"exchange{index}")
            try:
                wire = await ctx.connect(name=f"x{index}")
            except (CheckFailed, ssl.SSLError) as exc:
                steps.append(
                    {
                        "connection": index,
                        "direction": "note",
                        "hex": "",
                        "delay": 0.0,
                        "note": f"could not connect: {exc}",
                    }
                )
                continue
            pings = sum(1 for w in session if w.data == PING_BYTES)
            for write in session:
                if write.delay:
                    await asyncio.sleep(write.delay)
                await wire.send_raw(write.data, describe="fuzzed write")
                if wire.closed:
                    break
            await drain_exchange(wire, self.settings, pings)
            await wire.close()
            for record in ctx.log:
                if record.direction in ("sent", "received"):
                    steps.append({"connection": index, "direction": record.direction, "hex": record.hex, "delay": 0.0})
        return steps


def replay(target: Target, document: dict[str, Any]) -> str | None:
    """Play a session file against ``target``; the probe's failure if the finding reproduces, else None."""
    failure = asyncio.run(target.probe())
    if failure is not None:
        raise Unsupported(f"the server does not serve a well-behaved connection before the replay: {failure}")
    sessions = load_sessions(document)
    recorded, current = document.get("server_instance_id"), target.state.server_instance_id
    if recorded is not None and current is not None and recorded != current:
        # the session was found against another server instance: its requests name that instance's id
        old, new = int(recorded).to_bytes(4, "big"), current.to_bytes(4, "big")
        sessions = [[Write(w.data.replace(old, new), w.delay) for w in s] for s in sessions]

    async def run() -> str | None:
        await target.play(sessions)
        return await target.probe()

    return asyncio.run(run())


# -- the commands ----------------------------------------------------------------------------------------------


def fuzz_server(command: FuzzServerCommand) -> int:
    """Run ``sink-check fuzz server``: fuzz, shrink a finding, save it; the exit status."""
    try:
        profile = command.profile.load()
    except (OSError, ValueError) as exc:
        print(f"sink-check: bad profile: {exc}")
        return 2
    host, port = command.target
    settings = command.settings
    target = Target(host, port, profile, settings)
    peer = PeerProcess(command.exec, host, port, command.exec_log) if command.exec else None
    try:
        if peer is not None:
            peer.start()
        print(f"sink-check fuzz: {host}:{port}, seed {settings.seed}, {settings.duration:g} s", flush=True)
        finding, figures = run_fuzz(target, settings, peer=peer, say=lambda text: print(text, flush=True))
    except (Unsupported, RuntimeError, OSError) as exc:
        print(f"sink-check fuzz: cannot fuzz: {exc}")
        return 2
    finally:
        if peer is not None:
            peer.stop()
    print(
        f"{figures['exchanges']} exchanges in {figures['seconds']:.1f} s "
        f"({figures['exchanges_per_second']:.1f} per second), {figures['probes']} probes"
    )
    if finding is None:
        print("no finding: the server served a well-behaved connection after every mutated exchange")
        return 0
    out = command.out or Path(f"sink-fuzz-finding-seed{settings.seed}.json")
    document = finding_document(finding, seed=settings.seed, target=target, settings=settings)
    out.write_text(json.dumps(document, indent=2) + "\n")
    sent = [s for s in finding.steps if s["direction"] == "sent"]
    print(f"FINDING: {finding.failure}")
    print(
        f"shrunk: {finding.shrunk} ({finding.trials} trials, {finding.shrink_seconds:.1f} s) to "
        f"{len(finding.sessions)} connection(s), {len(sent)} write(s), {sum(len(s['hex']) // 2 for s in sent)} bytes"
    )
    print(f"saved {out}; replay: sink-check replay {out} {host}:{port}")
    return 1


def replay_server(
    document: dict[str, Any], *, target: tuple[str, int] | None, profile: Profile, settings: FuzzSettings
) -> int:
    """``sink-check replay FILE [HOST:PORT]`` for a server finding: exit 1 if it still reproduces.
    ``target``: the server (default: the one the finding was made against)."""
    sessions = load_sessions(document)
    if target is not None:
        host, port = target
    else:
        host, _, port_text = str(document.get("target", "")).rpartition(":")
        port = int(port_text) if port_text.isdigit() else 0
    server = Target(host, port, profile, settings)
    writes = sum(len(s) for s in sessions)
    try:
        failure = replay(server, document)
    except (Unsupported, OSError) as exc:
        print(f"sink-check replay: cannot replay: {exc}")
        return 2
    if failure is None:
        print(f"does not reproduce: {host}:{port} still serves after {len(sessions)} connection(s), {writes} write(s)")
        return 0
    print(f"REPRODUCES against {host}:{port}: {failure}")
    return 1
