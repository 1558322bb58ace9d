"""Client mode: the runner's TLS server socket, and the client under test it drives.

The runner plays the server. Connections from the client under test are
accepted here (mutual TLS: the runner presents the profile's ``server``
identity and requires a client certificate from the profile's CA) and wait
in a queue until a case takes them. The client itself is either started by
the runner (``--exec``: a subprocess per case, restarted for reconnect cases,
killed after the case) or by a person the runner asks.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .model import Unsupported, WireRecord
from .paths import peer_environment
from .profile import Profile
from .wire import Wire

__all__ = ["Listener", "ClientControl", "ExecClient", "ManualClient", "server_tls_context"]


def server_tls_context(profile: Profile) -> ssl.SSLContext:
    """TLS 1.2+ with the profile's server identity; client certificates must chain to the profile's CA."""
    identity = profile.identity("server")
    if identity is None or profile.ca is None:
        raise Unsupported("client mode needs the profile's CA and a 'server' identity (--ca, --cert, --key)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(identity.cert, identity.key)
    context.load_verify_locations(cafile=profile.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _discard(record: WireRecord) -> None:
    pass


class Listener:
    """Accepts the client's connections; cases ``take`` them in arrival order."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        self.host, self.port = host, port
        self._context = context
        self._queue: asyncio.Queue[Wire] = asyncio.Queue()
        self._server: asyncio.Server | None = None
        self.accepted = 0

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self.port, ssl=self._context, ssl_handshake_timeout=10
        )
        self.host, self.port = self._server.sockets[0].getsockname()[:2]
        return self.host, self.port

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        wire = Wire(reader, writer, name=f"pending{self.accepted}", log=_discard, started=time.monotonic())
        tls = writer.get_extra_info("ssl_object")
        subject = dict(x[0] for x in (writer.get_extra_info("peercert") or {}).get("subject", ()))
        wire.accepted_note = f"accepted ({tls.version() if tls else '?'}, client CN={subject.get('commonName')})"
        await self._queue.put(wire)

    async def take(self, timeout: float) -> Wire:
        """The next connection (TimeoutError when none arrives in time)."""
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def drain(self) -> None:
        """Close connections nobody took (a client reconnecting after its case ended)."""
        while not self._queue.empty():
            await self._queue.get_nowait().close()

    async def close(self) -> None:
        await self.drain()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class ClientControl(Protocol):
    """Starts, restarts and stops the client under test."""

    async def start(self) -> None: ...

    async def restart(self, why: str) -> None: ...

    async def stop(self) -> None: ...

    def exit_status(self) -> int | None: ...


class Captured:
    """A client's stderr as the runner captured it: ``total`` characters so far, the last ``KEEP`` in ``tail``."""

    KEEP = 256 * 1024

    def __init__(self) -> None:
        self.total = 0
        self.tail = ""

    def add(self, text: str) -> None:
        self.total += len(text)
        self.tail = (self.tail + text)[-self.KEEP :]


class ExecClient:
    """``--exec COMMAND``: the client runs as a subprocess; ``{host}``/``{port}`` name the runner's socket.

    Its stderr is captured (and appended to ``log_path`` with its stdout); an exit the runner did not ask
    for is recorded, with the end of its stderr, for the crash observer (:mod:`.observe`)."""

    def __init__(self, command: str, *, host: str, port: int, log_path: Path | None = None) -> None:
        self.argv = [part.format(host=host, port=port) for part in shlex.split(command)]
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._stopping: set[int] = set()  # pids the runner is ending itself
        self._readers: list[asyncio.Task[None]] = []
        self.starts = 0
        self.stderr = Captured()
        self.exits: list[tuple[int, str]] = []  # (status, stderr tail) of each exit the runner did not ask for

    async def start(self) -> None:
        if self._process is not None and self._process.returncode is None:
            return
        self.starts += 1
        log = self.log_path.open("ab") if self.log_path else asyncio.subprocess.DEVNULL
        try:
            # A process group of its own, so that stop() ends a shell wrapper and its children together.
            self._process = process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env={**peer_environment(), "PYTHONUNBUFFERED": "1"},
            )
        finally:
            if not isinstance(log, int):
                log.close()
        self._readers = [t for t in self._readers if not t.done()]
        self._readers.append(asyncio.create_task(self._watch(process)))

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        """Capture stderr until it closes, then note the exit unless the runner asked for it."""
        assert process.stderr is not None
        while chunk := await process.stderr.read(65536):
            text = chunk.decode("utf-8", "replace")
            self.stderr.add(text)
            if self.log_path is not None:
                with self.log_path.open("ab") as log:
                    log.write(chunk)
        status = await process.wait()
        if process.pid not in self._stopping:
            self.exits.append((status, self.stderr.tail[-2000:]))

    async def restart(self, why: str) -> None:
        await self.stop()
        await self.start()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            self._stopping.add(process.pid)
            # SIGKILL at once: a Sink client must survive power loss anyway, and it keeps the run fast.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await process.wait()
        # the captured stderr is complete once its pipe closed (a grandchild may hold it: do not wait forever)
        pending = [t for t in self._readers if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=2)

    def crash_sources(self, observe: Any = None) -> list[Any]:
        """For :func:`.observe.case_observer`: unrequested exits, and stderr with the profile's crash pattern."""
        from .observe import TextSource

        sources: list[Any] = [_ExitSource(self, tuple(getattr(observe, "exit_ok", (0,))))]
        pattern = getattr(observe, "crash_pattern", None)
        if pattern:
            sources.append(TextSource("client stderr", self.stderr, pattern))
        return sources

    def exit_status(self) -> int | None:
        return None if self._process is None else self._process.returncode


class _ExitSource:
    """The exits of a started client that the runner did not ask for, with a status not in ``exit_ok``."""

    reads_reports = False  # sees a dead process, not a crashed connection process inside a living one
    settles = False

    def __init__(self, client: ExecClient, exit_ok: tuple[int, ...]) -> None:
        self.client, self.exit_ok = client, exit_ok

    def mark(self) -> int:
        return len(self.client.exits)

    def since(self, mark: int) -> list[Any]:
        from .observe import Crash

        crashes = []
        for status, tail in self.client.exits[mark:]:
            if status in self.exit_ok:
                continue
            how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
            crashes.append(
                Crash(
                    "client process",
                    f"the client exited on its own ({how})"
                    + (f"; its stderr ended with:\n{tail.rstrip()}" if tail.strip() else ""),
                )
            )
        return crashes


class ManualClient:
    """No ``--exec``: the person starts the client; the runner says what it needs and waits."""

    def __init__(self, *, host: str, port: int, say: Callable[[str], None] | None = None) -> None:
        self.host, self.port = host, port
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self._told = False

    async def start(self) -> None:
        if not self._told:
            self._told = True
            self.say(
                f"sink-check: start the client under test now; it must connect to {self.host}:{self.port} "
                "(it may stay running between cases: it is expected to reconnect by itself)"
            )

    async def restart(self, why: str) -> None:
        self.say(f"sink-check: restart the client under test now ({why})")

    async def stop(self) -> None:
        pass

    def exit_status(self) -> int | None:
        return None
