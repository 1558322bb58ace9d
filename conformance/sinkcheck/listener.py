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
from typing import Protocol

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
        self._server = await asyncio.start_server(self._on_connection, self.host, self.port, ssl=self._context,
                                                  ssl_handshake_timeout=10)
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


class ExecClient:
    """``--exec COMMAND``: the client runs as a subprocess; ``{host}``/``{port}`` name the runner's socket."""

    def __init__(self, command: str, *, host: str, port: int, log_path: Path | None = None) -> None:
        self.argv = [part.format(host=host, port=port) for part in shlex.split(command)]
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        if self._process is not None and self._process.returncode is None:
            return
        self.starts += 1
        log = self.log_path.open("ab") if self.log_path else asyncio.subprocess.DEVNULL
        try:
            # A process group of its own, so that stop() ends a shell wrapper and its children together.
            self._process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env={**peer_environment(), "PYTHONUNBUFFERED": "1"})
        finally:
            if not isinstance(log, int):
                log.close()

    async def restart(self, why: str) -> None:
        await self.stop()
        await self.start()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        # SIGKILL at once: a Sink client must survive power loss anyway, and it keeps the run fast.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await process.wait()

    def exit_status(self) -> int | None:
        return None if self._process is None else self._process.returncode


class ManualClient:
    """No ``--exec``: the person starts the client; the runner says what it needs and waits."""

    def __init__(self, *, host: str, port: int, say: Callable[[str], None] | None = None) -> None:
        self.host, self.port = host, port
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self._told = False

    async def start(self) -> None:
        if not self._told:
            self._told = True
            self.say(f"sink-check: start the client under test now; it must connect to {self.host}:{self.port} "
                     "(it may stay running between cases: it is expected to reconnect by itself)")

    async def restart(self, why: str) -> None:
        self.say(f"sink-check: restart the client under test now ({why})")

    async def stop(self) -> None:
        pass

    def exit_status(self) -> int | None:
        return None
