"""``sink-check fuzz client --listen HOST:PORT --exec COMMAND``: mutated server sessions against a live client.

The runner listens as the server (mutual TLS, the profile's ``server``
identity, as in client mode) and starts the client under test with
``--exec``. Each *exchange* takes the client's next connection, reads its
connection request and plays one mutated seed session of server frames (the
response, events the server publishes, ACK, NACK, PING; mutated by
:mod:`sinkcheck.fuzz_mutations`), reads what the client does until it closes, PONGs
the session's last PING, stays quiet or the limit passes, and closes. The
health probe then checks that the client process is still running and that
its next connection completes a well-behaved session: handshake, one of its
PUBLISHes ACKed, PING/PONG. A failing probe makes a finding, shrunk and saved
as in server fuzzing (the same loop, :mod:`.loop`, and shrinker, :mod:`.shrink`).

The listener and the client process live in an event loop on a thread of
their own; ``play`` and ``probe`` are coroutines that run there, so the
server-mode code (which calls ``asyncio.run`` per trial) drives them as is.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sinkproto import (
    Ack,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Limits,
    Nack,
    Ping,
    Pong,
    Publish,
    Response,
    decode_frame,
    encode_frame,
    frame_bytes,
)
from sinkproto.errors import DecodeError

from ..context import RunState
from ..craft import describe_frame
from ..fuzz_mutations import Session, Write
from ..listener import ExecClient, Listener, server_tls_context
from ..model import Unsupported
from ..observe import CrashWatch, LogSource, Observer, TextSource
from ..profile import Profile
from ..wire import CLOSED, Wire
from .loop import run_fuzz
from .session_file import Finding, finding_document, load_sessions
from .settings import FuzzClientCommand, FuzzSettings, ReplayCommand
from .supervisor import drain_exchange

__all__ = ["ClientTarget", "client_document", "client_seed_sessions", "fuzz_client", "replay_client"]

T = TypeVar("T")
PUBLISH, PING, PONG = 4, 5, 6


def client_seed_sessions(*, seed: int, server_instance_id: int) -> list[Session]:
    """Well-formed server frames for after the handshake (the runner answers the request unmutated, so the
    client's reconnect backoff stays short): events, answers, PING. ``server_instance_id`` is unused."""
    key = f"sink-check/fuzz-client/{seed}".encode()

    def w(frame: object, delay: float = 0.0) -> Write:
        return Write(frame_bytes(encode_frame(frame)), delay)  # type: ignore[arg-type]

    def event(offset: int, data: bytes) -> Event:
        return Event(
            event_type_id=1, schema_version=1, key=key, offset=offset, timestamp=1_700_000_000 + offset, event_data=data
        )

    return [
        # keepalive
        [w(Ping())],
        # two events published to the client, PING
        [
            w(Publish(message_id=1, event=event(1, b"sink-check fuzz"))),
            w(Publish(message_id=2, event=event(300, bytes(range(256)) * 2))),
            w(Ping()),
        ],
        # an ACK and a NACK of the client's first PUBLISHes (after a pause, so they are in flight), PING
        [
            w(Ack(message_id=1), 0.05),
            w(Nack(message_id=2, machine_message=b"fuzz", human_message=b"sink-check fuzz")),
            w(Ping()),
        ],
        # PING, PONG (unsolicited), PING
        [w(Ping()), w(Pong()), w(Ping())],
    ]


class _Peer:
    """What :class:`.shrink.Shrinker` restarts: the client process (its connections left over are closed)."""

    def __init__(self, target: ClientTarget) -> None:
        self.target = target

    def restart(self) -> None:
        self.target.call(self.target.restart_client())

    def stop(self) -> None:
        self.target.call(self.target.control.stop())


class ClientTarget:
    """The client under test, behind the runner's listener: a :class:`.supervisor.FuzzTarget`."""

    def __init__(
        self,
        listen: tuple[str, int],
        command: str,
        profile: Profile,
        settings: FuzzSettings,
        server_instance_id: int,
        log_path: Path | None = None,
    ) -> None:
        self.profile, self.settings = profile, settings
        self.state = RunState(run_tag="fuzz-client")
        self.state.server_instance_id = server_instance_id
        self.client_instance_id: int | None = None  # learned from its first request
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-client-loop", daemon=True)
        self._thread.start()
        self.listener = Listener(*listen, server_tls_context(profile))
        self.host, self.port = self.call(self.listener.start())
        self.command = command
        self.control = ExecClient(command, host=self.host, port=self.port, log_path=log_path)
        self.peer = _Peer(self)
        # the profile's [observe]: the client's log and its stderr, read for crash reports (ERR-5)
        observe = profile.observe
        sources: list[Any] = []
        if observe is not None and observe.crash_pattern:
            if observe.log is not None:
                sources.append(LogSource(observe.log, observe.crash_pattern))
            sources.append(TextSource("client stderr", self.control.stderr, observe.crash_pattern))
        self.crash_watch = CrashWatch(Observer(sources, observe.settle)) if observe is not None and sources else None
        self.crash_only = False

    def reset_observation(self) -> None:
        if self.crash_watch is not None:
            self.crash_watch.reset()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the listener's loop and wait for it (from a thread without a running loop)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _there(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def close(self) -> None:
        async def shut() -> None:
            await self.control.stop()
            await self.listener.close()

        try:
            self.call(shut())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)

    async def restart_client(self) -> None:
        await self.control.stop()
        await self.listener.drain()
        await self.control.start()

    # -- the Target interface (coroutines, run on the listener's loop) ----------------------------------------

    async def probe(self) -> str | None:
        return await self._there(self._observed_probe())

    async def _observed_probe(self) -> str | None:
        failure = await self._probe()
        crash = await self.crash_watch.check() if self.crash_watch is not None else None
        self.crash_only = failure is None and crash is not None
        return failure if crash is None else (crash if failure is None else f"{failure}; {crash}")

    async def play(self, sessions: list[Session]) -> list[dict[str, Any]]:
        return await self._there(self._play(sessions))

    def _welcome(self, request: ConnectionRequest) -> ConnectionResponse:
        """connected when the client names our id, else hello_new_client (like client mode's lenient server)."""
        if request.server_instance_id == self.state.server_instance_id:
            return ConnectionResponse(response=Response.CONNECTED)
        return ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=self.state.server_instance_id)

    def _exited(self) -> str | None:
        status = self.control.exit_status()
        return None if status is None else f"the client process exited with status {status}"

    async def _take(self, timeout: float) -> Wire | None:
        try:
            wire = await self.listener.take(timeout)
        except TimeoutError:
            return None
        wire.adopt(name="client", log=lambda record: None, started=self.loop.time())
        return wire

    async def _probe(self) -> str | None:
        s = self.settings
        if self.control.starts == 0:
            await self.control.start()  # the first start; later ones are the shrinker's restarts
        if (exited := self._exited()) is not None:
            return exited
        wire = await self._take(s.probe_timeout)
        if wire is None:
            return self._exited() or f"the client did not connect within {s.probe_timeout:.0f} s"
        deadline = self.loop.time() + s.probe_timeout
        acked = answered = False
        try:
            while True:
                remaining = deadline - self.loop.time()
                if remaining <= 0:
                    return (
                        f"no PUBLISH ACKed and PING answered within {s.probe_timeout:.0f} s of a "
                        "well-behaved connection" + ("" if answered else " (no connection request)")
                    )
                try:
                    frame = await wire.recv_frame(remaining)
                except TimeoutError:
                    continue
                if frame is CLOSED:
                    await asyncio.sleep(0.05)
                    return self._exited() or f"the client closed a well-behaved connection ({wire.close_reason})"
                kind = frame[0] >> 4 if frame else None
                if not answered:
                    request = _decode(frame)
                    if not isinstance(request, ConnectionRequest):
                        return f"first frame {describe_frame(frame)} of a fresh connection is not a connection request"
                    answered = True
                    if self.client_instance_id is None:
                        self.client_instance_id = request.client_instance_id
                    await wire.send_frame(encode_frame(self._welcome(request)))
                    continue
                if kind == PUBLISH and len(frame) >= 2 and not acked:
                    acked = True
                    await wire.send_frame(encode_frame(Ack(message_id=int.from_bytes(frame[:2], "big") & 0xFFF)))
                    await wire.send_frame(encode_frame(Ping()))
                elif kind == PING:
                    await wire.send_frame(encode_frame(Pong()))
                elif kind == PONG and acked:
                    return None
        finally:
            await wire.close()

    async def _play(self, sessions: list[Session]) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        for index, session in enumerate(sessions):
            wire = await self._take(self.settings.probe_timeout)
            if wire is None:
                steps.append(
                    {
                        "connection": index,
                        "direction": "note",
                        "hex": "",
                        "delay": 0.0,
                        "note": self._exited() or "the client did not connect",
                    }
                )
                continue
            received: list[str] = []
            try:
                try:
                    first = await wire.recv_frame(self.settings.probe_timeout)
                except TimeoutError:
                    first = CLOSED
                if first is not CLOSED:
                    received.append(first.hex())
                    request = _decode(first)
                    if isinstance(request, ConnectionRequest):
                        await wire.send_frame(encode_frame(self._welcome(request)))
                pings = sum(1 for w in session if w.data == frame_bytes(encode_frame(Ping())))
                sent: list[Write] = []
                for write in session:
                    if write.delay:
                        await asyncio.sleep(write.delay)
                    await wire.send_raw(write.data, describe="fuzzed write")
                    sent.append(write)
                    if wire.closed:
                        break
                received.extend(
                    await drain_exchange(wire, self.settings, pings)
                )  # its PUBLISHes stay unanswered (DELIV-1)
            finally:
                await wire.close()
            steps.extend(
                {"connection": index, "direction": "sent", "hex": w.data.hex(), "delay": w.delay} for w in sent
            )
            steps.extend({"connection": index, "direction": "received", "hex": h, "delay": 0.0} for h in received)
        return steps


def _decode(frame: bytes) -> object | None:
    try:
        return decode_frame(frame, limits=Limits())
    except DecodeError:
        return None


# -- the commands ------------------------------------------------------------------------------------------------


def client_document(target: ClientTarget, finding: Finding, settings: FuzzSettings) -> dict[str, Any]:
    """The session file of a client finding: a server finding's, with the client's command and instance id."""
    document = finding_document(finding, seed=settings.seed, target=target, settings=settings)
    document.update(
        mode="client",
        target=f"listen {target.host}:{target.port}",
        exec=target.command,
        client_instance_id=target.client_instance_id,
    )
    return document


def fuzz_client(command: FuzzClientCommand) -> int:
    """Run ``sink-check fuzz client``: fuzz, shrink a finding, save it; the exit status."""
    try:
        profile = command.profile.load(identity="server")  # as in client mode: --cert/--key are the runner's
    except (OSError, ValueError) as exc:
        print(f"sink-check: bad profile: {exc}")
        return 2
    settings = command.settings
    server_id = command.server_instance_id
    try:
        target = ClientTarget(command.listen, command.exec, profile, settings, server_id, command.exec_log)
    except (Unsupported, OSError) as exc:
        print(f"sink-check fuzz client: cannot listen: {exc}")
        return 2
    try:
        print(
            f"sink-check fuzz client: listening on {target.host}:{target.port}, seed {settings.seed}, "
            f"{settings.duration:g} s",
            flush=True,
        )
        seeds = client_seed_sessions(seed=settings.seed, server_instance_id=server_id)
        finding, figures = run_fuzz(
            target, settings, peer=target.peer, seeds=seeds, say=lambda text: print(text, flush=True)
        )
    except (Unsupported, RuntimeError, OSError) as exc:
        print(f"sink-check fuzz client: cannot fuzz: {exc}")
        target.close()
        return 2
    try:
        print(
            f"{figures['exchanges']} exchanges in {figures['seconds']:.1f} s "
            f"({figures['exchanges_per_second']:.1f} per second), {figures['probes']} probes"
        )
        if finding is None:
            print("no finding: the client completed a well-behaved session after every mutated exchange")
            return 0
        out = command.out or Path(f"sink-fuzz-client-finding-seed{settings.seed}.json")
        document = client_document(target, finding, settings)
    finally:
        target.close()
    out.write_text(json.dumps(document, indent=2) + "\n")
    sent = [s for s in finding.steps if s["direction"] == "sent"]
    print(f"FINDING: {finding.failure}")
    print(
        f"shrunk: {finding.shrunk} ({finding.trials} trials, {finding.shrink_seconds:.1f} s) to "
        f"{len(finding.sessions)} connection(s), {len(sent)} write(s), {sum(len(s['hex']) // 2 for s in sent)} bytes"
    )
    print(f"saved {out}; replay: sink-check replay {out} --exec COMMAND")
    return 1


def replay_client(document: dict[str, Any], command: ReplayCommand, profile: Profile) -> int:
    """``sink-check replay FILE --exec COMMAND`` for a client finding: exit 1 if it still reproduces."""
    exec_command = command.exec or document.get("exec")
    if not exec_command:
        print("sink-check replay: a client finding needs --exec COMMAND (the client to start)")
        return 2
    sessions = load_sessions(document)
    target = ClientTarget(
        command.listen, exec_command, profile, command.settings, int(document.get("server_instance_id") or 0x5EC0_0001)
    )

    async def run() -> str | None:
        await target.play(sessions)
        return await target.probe()

    try:
        failure = asyncio.run(target.probe())
        if failure is not None:
            print(f"sink-check replay: cannot replay: the client does not complete a well-behaved session: {failure}")
            return 2
        failure = asyncio.run(run())
    finally:
        target.close()
    if failure is None:
        print(f"does not reproduce: the client still completes a session after {len(sessions)} connection(s)")
        return 0
    print(f"REPRODUCES against the client: {failure}")
    return 1
