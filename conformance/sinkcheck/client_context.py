"""What a client-mode case can do: take the client's connections, answer as a server would, check reactions.

The runner plays the server with raw frames built by the reference codec;
like server mode, it never uses the reference state machine to decide.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field

from sinkproto import (
    Ack,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Limits,
    Pong,
    Publish,
    Response,
    decode_frame,
    encode_frame,
)
from sinkproto.errors import DecodeError
from sinkproto.readers import ReaderSchemas

from .context import describe, own_events
from .craft import describe_frame
from .listener import ClientControl, Listener
from .model import CheckFailed, WireRecord
from .profile import Profile
from .wire import Wire

__all__ = ["ClientRunState", "ClientCaseContext", "frame_type"]

PUBLISH, PING, PONG = 4, 5, 6


def frame_type(frame: bytes) -> int | None:
    return frame[0] >> 4 if frame else None


def frame_message_id(frame: bytes) -> int:
    return int.from_bytes(frame[:2], "big") & 0xFFF


@dataclass
class ClientRunState:
    """Facts shared by the cases of one client-mode run."""

    server_instance_id: int  # what the runner answers in hello_new_client (the profile's, or a case's fresh one)
    client_instance_id: int | None = None  # learned from the client's first request
    run_tag: str = field(default_factory=lambda: f"{int(time.time()) % 100000:05d}")


class ClientCaseContext:
    """Handed to every client-mode case."""

    def __init__(
        self,
        *,
        listener: Listener,
        control: ClientControl,
        profile: Profile,
        state: ClientRunState,
        case_id: str,
        scale: float = 1.0,
        drain: bool = True,
        version_0_server: bool = False,
    ) -> None:
        self.listener = listener
        self.control = control
        self.profile = profile
        self.state = state
        self.case_id = case_id
        self.scale = scale
        self.log: list[WireRecord] = []
        self.started = time.monotonic()
        self._wires: list[Wire] = []
        self._drain = drain  # exec mode: connections left over belong to a killed process
        # A version-0 case with a client that offers version 1: the runner plays a version-0-only server,
        # which refuses version 1 (HS-11); the client must come back offering 0 (VER-2) and the case goes on.
        self.version_0_server = version_0_server
        self._offset = 0
        self.met: set[str] = set()  # requirements whose checks passed so far (the rollup of a failed case)

    def meets(self, *requirements: str) -> None:
        """The checks about ``requirements`` passed: a later failure of this case does not blame them."""
        self.met.update(requirements)

    def crash_sources(self) -> list[object]:
        """A client the runner started (--exec): its exits and, with ``[observe] crash_pattern``, its stderr."""
        sources = getattr(self.control, "crash_sources", None)
        return sources(self.profile.observe) if callable(sources) else []

    # -- time ---------------------------------------------------------------------------------

    @property
    def keepalive(self) -> float:
        """The client's K (KEEP-1)."""
        return self.profile.client_keepalive

    def t(self, seconds: float) -> float:
        return seconds * self.scale

    def prompt(self, seconds: float = 5.0) -> float:
        """How long a "prompt" reaction may take: also less than the client's silence timeout (1.5 K,
        counted from our last frame), so that a close caused by silence is never taken for it."""
        return min(self.t(seconds), 1.2 * self.keepalive)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.t(seconds))

    # -- the client's connections -----------------------------------------------------------------

    async def accept(self, name: str | None = None) -> Wire:
        """The client's next connection. The first one of a case starts the client; later ones are
        reconnects: if none comes within ``reconnect_wait``, the client is restarted."""
        settings = self.profile.client
        if not self._wires:
            await self.control.start()
            wire = await self._take(settings.connect_wait, "after it was started")
        else:
            try:
                wire = await self.listener.take(self.t(settings.reconnect_wait))
            except TimeoutError:
                self._note(f"no reconnect within {self.t(settings.reconnect_wait):.1f} s: restarting the client")
                await self.control.restart(f"it did not reconnect within {settings.reconnect_wait} s")
                wire = await self._take(settings.connect_wait, "after it was restarted")
        wire.adopt(name=name or f"c{len(self._wires) + 1}", log=self.log.append, started=self.started)
        wire.note(wire.accepted_note)
        self._wires.append(wire)
        return await self._version_0_only(wire)

    async def _version_0_only(self, wire: Wire) -> Wire:
        """As a version-0 server: a version-1 request gets ``unsupported_protocol_version``; the client's next
        connection, which must offer version 0 (VER-2), replaces ``wire``. Any other first frame is left
        for the case to read."""
        if not self.version_0_server:
            return wire
        try:
            frame = await wire.recv_frame(self.prompt())
        except TimeoutError:
            return wire  # nothing yet: the case judges a silent client
        if frame is None or frame[:1] != b"\x01":
            if frame is not None:
                wire.unread(frame)
            return wire
        wire.note("the runner plays a version-0 server: version 1 refused (VER-2: the client must offer 0 next)")
        await wire.send_frame(encode_frame(ConnectionResponse(response=Response.UNSUPPORTED_PROTOCOL_VERSION)))
        await wire.expect_close(self.prompt())
        await wire.close()
        wait = self.t(self.profile.client.reconnect_wait)
        try:
            again = await self.listener.take(wait)
        except TimeoutError:
            raise CheckFailed(
                f"after unsupported_protocol_version to its version-1 request, the client did not "
                f"reconnect within {wait:.1f} s (to offer version 0, VER-2)"
            ) from None
        again.adopt(name=f"{wire.name}-v0", log=self.log.append, started=self.started)
        again.note(again.accepted_note)
        self._wires.append(again)
        return again

    async def restart_client(self, why: str) -> Wire:
        """Stop the client (a power loss, with --exec) and take the connection of its next start."""
        self._note(f"restarting the client: {why}")
        await self.control.restart(why)
        wire = await self._take(self.profile.client.connect_wait, "after it was restarted")
        wire.adopt(name=f"c{len(self._wires) + 1}", log=self.log.append, started=self.started)
        wire.note(wire.accepted_note)
        self._wires.append(wire)
        return await self._version_0_only(wire)

    async def _take(self, wait: float, when: str) -> Wire:
        try:
            return await self.listener.take(self.t(wait))
        except TimeoutError:
            status = self.control.exit_status()
            extra = f" (its process exited with status {status})" if status is not None else ""
            raise CheckFailed(f"the client did not connect within {self.t(wait):.1f} s {when}{extra}") from None

    def _note(self, text: str) -> None:
        self.log.append(
            WireRecord(
                at=round(time.monotonic() - self.started, 4),
                connection="runner",
                direction="event",
                hex="",
                decoded=text,
            )
        )

    async def close_all(self) -> None:
        for wire in self._wires:
            await wire.close()
        await self.control.stop()
        if self._drain:
            await self.listener.drain()

    # -- frames in ----------------------------------------------------------------------------------

    async def recv(
        self,
        wire: Wire,
        what: str,
        timeout: float = 5.0,
        *,
        publishes: bool = False,
        pings: bool = False,
        version: int = 0,
    ) -> bytes:
        """The next frame of a version-``version`` connection. The client's own events (PUBLISH, from version 1
        BATCH_PUBLISH) are ACKed and its PINGs answered in the background, as a live server would, unless
        ``publishes`` / ``pings`` ask for them."""
        events = own_events(version)

        async def background(frame: bytes) -> bool:
            kind = frame_type(frame)
            if kind in events and not publishes and len(frame) >= 2:
                await wire.send_frame(encode_frame(Ack(message_id=frame_message_id(frame)), version=version))
                return True
            if kind == PING and not pings and len(frame) == 2:
                await wire.send_frame(encode_frame(Pong()))
                return True
            return False

        return await wire.next_frame(what, self.t(timeout), background)

    async def read_request(self, wire: Wire, *, version: int = 0) -> ConnectionRequest:
        """The first frame must be a connection request (HS-1), offering ``version`` (VER-1: a client offers the
        highest version it speaks to a server that never refused it)."""
        # prompt() is already scaled; recv() scales its timeout again
        frame = await self.recv(
            wire, "the connection request", self.prompt() / self.scale, publishes=True, pings=True, version=version
        )
        try:
            value = decode_frame(frame, limits=Limits(), version=version)
        except DecodeError as exc:
            raise CheckFailed(
                f"first frame {frame.hex()} is undecodable ({exc.error_class}), not a connection request"
            ) from None
        if not isinstance(value, ConnectionRequest):
            raise CheckFailed(f"first frame is {describe(frame, version)}, not a connection request")
        if value.version != version:
            raise CheckFailed(
                f"the client offered version {value.version} to a version-{version} server it has never been "
                "refused by (VER-1)"
            )
        if self.state.client_instance_id is None:
            self.state.client_instance_id = value.client_instance_id
        return value

    def welcome(self, request: ConnectionRequest) -> ConnectionResponse:
        """What a lenient server answers: connected when the client names our id, else hello_new_client.
        (A strict server would answer instance_id_mismatch to a stale id, and the client would be stuck.)"""
        if request.server_instance_id == self.state.server_instance_id:
            return ConnectionResponse(response=Response.CONNECTED)
        return ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=self.state.server_instance_id)

    async def respond(self, wire: Wire, response: ConnectionResponse, *, version: int = 0) -> None:
        await wire.send_frame(encode_frame(response, version=version))

    async def session(
        self, name: str | None = None, *, version: int = 0, reader_schemas: ReaderSchemas | None = None
    ) -> tuple[Wire, ConnectionRequest]:
        """A version-``version`` connection whose handshake the runner completed (connected or hello_new_client;
        from version 1 with ``reader_schemas`` as the server's declaration, CONN-11)."""
        wire = await self.accept(name)
        request = await self.read_request(wire, version=version)
        response = dataclasses.replace(self.welcome(request), reader_schemas=reader_schemas)
        await self.respond(wire, response, version=version)
        return wire, request

    async def publishes(
        self, wire: Wire, count: int, *, what: str = "", timeout: float = 5.0, answer: str = "ack"
    ) -> list[Publish]:
        """The client's next ``count`` PUBLISH frames; each is ACKed, NACKed or left unanswered (``answer``)."""
        got: list[Publish] = []
        while len(got) < count:
            frame = await self.recv(wire, what or f"PUBLISH {len(got) + 1} of {count}", timeout, publishes=True)
            try:
                value = decode_frame(frame, limits=Limits())
            except DecodeError as exc:
                raise CheckFailed(f"undecodable frame {frame.hex()} ({exc.error_class}) from the client") from None
            if not isinstance(value, Publish):
                raise CheckFailed(f"{describe_frame(frame)} while waiting for the client's PUBLISH frames")
            got.append(value)
            if answer == "ack":
                await wire.send_frame(encode_frame(Ack(message_id=value.message_id)))
        return got

    async def expect_closed(
        self, wire: Wire, why: str, timeout: float = 5.0, *, tolerate_traffic: bool = False
    ) -> None:
        """The client must close ``wire`` promptly. Without ``tolerate_traffic`` it may send nothing at all;
        with it, its own PUBLISH and PING frames (sent before it read ours) are not taken for an answer."""
        closed, frames = await wire.expect_close(self.prompt(timeout))
        for frame in frames:
            if tolerate_traffic and frame_type(frame) in (PUBLISH, PING):
                continue
            raise CheckFailed(f"{why}: the client sent {describe_frame(frame)} instead of closing")
        if not closed:
            raise CheckFailed(f"{why}: the connection was still open after {self.prompt(timeout):.1f} s")

    # -- frames out ---------------------------------------------------------------------------------

    def event(self, *, key: bytes | None = None, data: bytes = b"sink-check") -> Event:
        """A fresh event from the runner-as-server, unique to this run and case."""
        self._offset += 1
        return Event(
            event_type_id=1,
            schema_version=1,
            key=key if key is not None else f"sink-check/{self.state.run_tag}/{self.case_id}".encode(),
            offset=self._offset,
            timestamp=1_700_000_000 + self._offset,
            event_data=data,
        )
