"""``sink-check fuzz server HOST:PORT`` and ``sink-check replay FILE``: mutated sessions against a live server.

Each *exchange* is one fresh mutual-TLS connection that sends a mutated seed
session (see :mod:`.fuzz_mutations`), reads whatever the server answers until
it closes, answers the session's last PING, or stays quiet, and closes. Every
``--probe-every`` exchanges a well-behaved connection checks that the server
still serves (:meth:`CaseContext.still_serves`: handshake, PUBLISH/ACK,
PING/PONG). When it does not, the exchanges since the last good probe are a
*finding*; it is shrunk by delta debugging (first the exchanges, which bisects
the probe window, then the writes of each exchange, then the bytes of each
write) and saved as a session file that ``sink-check replay`` plays again.

With a profile ``[observe]`` section (the server's log and a crash
pattern), a crash report logged since the last probe fails the probe too:
a server whose connection process crashes and closes cleanly still serves,
and only its log shows the crash (ERR-5). Such a finding is shrunk the same
way, without restarting the server between trials.

Shrinking a crash that stops the server needs one that can be started again: ``--exec``
gives the command, and the runner restarts the server after every trial that
broke it. Without ``--exec`` the runner waits ``--recover`` seconds for the
server to come back (a supervisor may restart it) and otherwise saves the
finding unshrunk.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..context import CaseContext, RunState
from ..fuzz_mutations import Session, Write, ddmin, mutate, seed_sessions, unframe
from ..model import CheckFailed, Unsupported
from ..observe import CrashWatch, case_observer
from ..paths import peer_environment
from ..profile import Profile, ProfileOptions

__all__ = ["FORMAT", "Finding", "FuzzServerCommand", "FuzzSettings", "PeerProcess", "Target", "fuzz_server", "replay",
           "run_fuzz"]

FORMAT = "sink-check-fuzz-session"
FORMAT_VERSION = 1
PING_BYTES = b"\x00\x02\x50\x00"  # a PING frame with its prefix: its PONG marks the end of an exchange


@dataclass(frozen=True)
class FuzzSettings:
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
        return CaseContext(host=self.host, port=self.port, profile=self.profile, state=self.state,
                           case_id=f"fuzz-{name}")

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
                steps.append({"connection": index, "direction": "note", "hex": "", "delay": 0.0,
                              "note": f"could not connect: {exc}"})
                continue
            pings = sum(1 for w in session if w.data == PING_BYTES)
            for write in session:
                if write.delay:
                    await asyncio.sleep(write.delay)
                await wire.send_raw(write.data, describe="fuzzed write")
                if wire.closed:
                    break
            await self._drain(wire, pings)
            await wire.close()
            for record in ctx.log:
                if record.direction in ("sent", "received"):
                    steps.append({"connection": index, "direction": record.direction, "hex": record.hex,
                                  "delay": 0.0})
        return steps

    async def _drain(self, wire: Any, pings: int) -> None:
        """Read until the server closes, PONGs the session's last PING, stays quiet, or the limit passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.exchange_limit
        pongs = 0
        while not wire.closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                frame = await wire.recv_frame(min(self.settings.quiet, remaining))
            except TimeoutError:
                return
            if frame is None:
                return
            if frame[:1] and frame[0] >> 4 == 6:
                pongs += 1
                if pongs >= max(1, pings):
                    return


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
        self.process = subprocess.Popen(self.command, shell=True, stdout=out, stderr=out, start_new_session=True,
                                        env=peer_environment())
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


@dataclass
class Finding:
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


class _Broken(Exception):
    """The server cannot be brought back to health: shrinking stops here."""


class Shrinker:
    """Runs trials (play, probe) on a healthy server: restarts it, or waits for it, after a trial broke it."""

    def __init__(self, target: Target, peer: PeerProcess | None, settings: FuzzSettings) -> None:
        self.target, self.peer, self.settings = target, peer, settings
        self.dirty = True  # the server just failed a probe
        self.trials = 0

    def _heal(self) -> None:
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
        raise _Broken(f"the server did not serve again within {self.settings.recover:.0f} s (pass --exec to shrink)")

    def fails(self, sessions: list[Session]) -> bool:
        self._heal()
        self.trials += 1
        reset = getattr(self.target, "reset_observation", None)
        if reset is not None:
            reset()  # a trial is judged on the crashes it causes itself

        async def trial() -> str | None:
            await self.target.play(sessions)
            return await self.target.probe()

        failed = asyncio.run(trial()) is not None
        # a crash the server survived (it logged it and still serves) needs no restart before the next trial
        self.dirty = failed and not getattr(self.target, "crash_only", False)
        return failed

    def shrink(self, sessions: list[Session], deadline: float) -> list[Session]:
        def budget() -> bool:
            return time.monotonic() < deadline

        # 1. the exchanges of the probe window (a bisection of the window), 2. the writes of each exchange
        sessions = ddmin(sessions, self.fails, budget=budget)
        for i in range(len(sessions)):
            def with_writes(writes: list[Write], i: int = i) -> bool:
                return self.fails(sessions[:i] + [writes] + sessions[i + 1:])

            sessions[i] = ddmin(sessions[i], with_writes, budget=budget) if len(sessions[i]) > 1 else sessions[i]
        # 3. the bytes of each write: a whole frame keeps a correct prefix, other writes shrink raw
        for i, session in enumerate(sessions):
            for j, write in enumerate(session):
                body = unframe(write.data)

                def rebuilt(data: bytes, i: int = i, j: int = j, base: list[Session] = sessions,
                            delay: float = write.delay) -> list[Session]:
                    out = [list(s) for s in base]
                    out[i][j] = Write(data, delay)
                    return out

                if body is not None and len(body) > 1:
                    body = bytes(ddmin(body, lambda b: self.fails(rebuilt(len(b).to_bytes(2, "big") + bytes(b))),
                                       budget=budget))
                    sessions = rebuilt(len(body).to_bytes(2, "big") + body)
                elif body is None and len(write.data) > 1:
                    sessions = rebuilt(bytes(ddmin(write.data, lambda b: self.fails(rebuilt(bytes(b))),
                                                   budget=budget)))
        # 4. no pauses, if the failure does not need them
        undelayed = [[Write(w.data) for w in s] for s in sessions]
        if undelayed != sessions and budget() and self.fails(undelayed):
            sessions = undelayed
        return sessions


def run_fuzz(target: Target, settings: FuzzSettings, *, peer: PeerProcess | None = None,
             say: Callable[[str], None] = print, seeds: list[Session] | None = None,
             ) -> tuple[Finding | None, dict[str, Any]]:
    """Fuzz for ``settings.duration`` seconds; returns the (shrunk) finding, if any, and run figures.
    ``seeds``: the sessions to mutate (default: a client's sessions, to fuzz a server)."""
    failure = asyncio.run(target.probe())
    if failure is not None:
        raise Unsupported(f"the peer does not complete a well-behaved session before fuzzing: {failure}")
    assert target.state.server_instance_id is not None
    seeds = seeds or seed_sessions(seed=settings.seed, server_instance_id=target.state.server_instance_id,
                          client_instance_id=target.profile.client_instance_id,
                          app_version=target.profile.app_version)

    async def sanity() -> str | None:
        await target.play(seeds)
        return await target.probe()

    failure = asyncio.run(sanity())
    if failure is not None and not getattr(target, "crash_only", False):
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
                    return Finding(failure=failure, sessions=[s for s, _ in window], mutations=[n for _, n in window],
                                   exchanges=exchanges, found_after=time.monotonic() - started)
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
        shrinker._heal()
        finding.steps = _record(target, finding.sessions)
    except _Broken as exc:
        say(f"not shrunk: {exc}")
        finding.steps = _steps_of(finding.sessions)
    finding.shrink_seconds = time.monotonic() - shrink_started
    finding.trials = shrinker.trials
    return finding, figures


def _record(target: Target, sessions: list[Session]) -> list[dict[str, Any]]:
    """The final session once more, with what the server answered (informative; replay sends only)."""
    steps = asyncio.run(target.play(sessions))
    delays = iter(w.delay for s in sessions for w in s)
    for step in steps:
        if step["direction"] == "sent":
            step["delay"] = next(delays, 0.0)
    return steps


def _steps_of(sessions: list[Session]) -> list[dict[str, Any]]:
    return [{"connection": i, "direction": "sent", "hex": w.data.hex(), "delay": w.delay}
            for i, s in enumerate(sessions) for w in s]


# -- session files -------------------------------------------------------------------------------------------


def finding_document(finding: Finding, *, seed: int, target: Target, settings: FuzzSettings) -> dict[str, Any]:
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kit_version": __version__, "mode": "server",
        "seed": seed, "settings": {"duration": settings.duration, "probe_every": settings.probe_every},
        "target": f"{target.host}:{target.port}", "server_instance_id": target.state.server_instance_id,
        "client_instance_id": target.profile.client_instance_id,
        "failure": finding.failure, "found_after_exchanges": finding.exchanges,
        "found_after_seconds": round(finding.found_after, 3), "reproduced": finding.reproduced,
        "shrunk": finding.shrunk, "shrink_seconds": round(finding.shrink_seconds, 3), "shrink_trials": finding.trials,
        "mutations": finding.mutations,  # of the exchanges in the window, before shrinking
        "steps": finding.steps,
    }


def load_sessions(document: dict[str, Any]) -> list[Session]:
    if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"not a {FORMAT} version {FORMAT_VERSION} file")
    sessions: dict[int, Session] = {}
    for step in document["steps"]:
        connection = int(step.get("connection", 0))
        sessions.setdefault(connection, [])
        if step["direction"] == "sent":
            sessions[connection].append(Write(bytes.fromhex(step["hex"]), float(step.get("delay", 0.0))))
    return [sessions[k] for k in sorted(sessions)]


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


# -- the command ------------------------------------------------------------------------------------------------


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
    print(f"{figures['exchanges']} exchanges in {figures['seconds']:.1f} s "
          f"({figures['exchanges_per_second']:.1f} per second), {figures['probes']} probes")
    if finding is None:
        print("no finding: the server served a well-behaved connection after every mutated exchange")
        return 0
    out = command.out or Path(f"sink-fuzz-finding-seed{settings.seed}.json")
    document = finding_document(finding, seed=settings.seed, target=target, settings=settings)
    out.write_text(json.dumps(document, indent=2) + "\n")
    sent = [s for s in finding.steps if s["direction"] == "sent"]
    print(f"FINDING: {finding.failure}")
    print(f"shrunk: {finding.shrunk} ({finding.trials} trials, {finding.shrink_seconds:.1f} s) to "
          f"{len(finding.sessions)} connection(s), {len(sent)} write(s), {sum(len(s['hex']) // 2 for s in sent)} bytes")
    print(f"saved {out}; replay: sink-check replay {out} {host}:{port}")
    return 1


def replay_server(document: dict[str, Any], *, target: tuple[str, int] | None, profile: Profile,
                  settings: FuzzSettings) -> int:
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
