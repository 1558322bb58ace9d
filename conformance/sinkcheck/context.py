"""What a case can do: open connections as the profile's identities, craft frames, check reactions."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field

from sinkproto import (
    Ack,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Limits,
    Ping,
    Publish,
    Response,
    decode_frame,
    encode_frame,
)
from sinkproto.errors import DecodeError
from sinkproto.messages import BatchPublish, Close, FrameType
from sinkproto.readers import ReaderSchemas

from .craft import ACK, BATCH_RESULT, NACK, PONG, describe_frame, frame_type, kit_schemas, message_id_of
from .model import CheckFailed, Unsupported, WireRecord
from .profile import Profile
from .wire import Wire

__all__ = ["RunState", "CaseContext"]


def own_events(version: int) -> tuple[int, ...]:
    """The frame types that carry the peer's own events on a connection of ``version``: PUBLISH, and from
    version 1 BATCH_PUBLISH (BPUB-2). The helpers ACK them in the background: they answer nothing of ours."""
    return tuple(t.value for t in (FrameType.PUBLISH, FrameType.BATCH_PUBLISH) if t.since <= version)


def describe(frame: bytes, version: int) -> str:
    """A frame of a version-``version`` connection, named as in the wire log."""
    return describe_frame(frame) if version == 0 else describe_frame(frame, version=1)


@dataclass
class RunState:
    """Facts learned during a run and shared by its cases (e.g. the server's instance id)."""

    server_instance_id: int | None = None
    run_tag: str = field(default_factory=lambda: f"{int(time.time()) % 100000:05d}")


class CaseContext:
    """Handed to every case: target address, profile, timeouts and a wire log."""

    wire_class: type[Wire] = Wire  # the fault matrix swaps in a writer that segments what cases send

    def __init__(
        self, *, host: str, port: int, profile: Profile, state: RunState, case_id: str, scale: float = 1.0
    ) -> None:
        self.host, self.port = host, port
        self.profile = profile
        self.state = state
        self.case_id = case_id
        self.scale = scale
        self.log: list[WireRecord] = []
        self.started = time.monotonic()
        self._wires: list[Wire] = []
        self._offset = 0
        self.met: set[str] = set()  # requirements whose checks passed so far (the rollup of a failed case)

    def meets(self, *requirements: str) -> None:
        """The checks about ``requirements`` passed: a later failure of this case does not blame them."""
        self.met.update(requirements)

    # -- time ---------------------------------------------------------------------------------

    def t(self, seconds: float) -> float:
        """A wait scaled by the run's factor (slow peers, loaded CI)."""
        return seconds * self.scale

    # -- connections ------------------------------------------------------------------------------

    def tls_context(self, identity: str | None = "main", *, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.profile.ca is None:
            raise Unsupported("the profile names no CA for the peer's certificate")
        context.load_verify_locations(cafile=self.profile.ca)
        context.check_hostname = True
        if version is not None:
            context.minimum_version = context.maximum_version = version
        if identity is not None:
            ident = self.profile.identity(identity)
            if ident is None:
                raise Unsupported(f"the profile has no '{identity}' identity")
            context.load_cert_chain(ident.cert, ident.key)
        return context

    async def connect(
        self,
        identity: str | None = "main",
        *,
        tls: bool = True,
        name: str | None = None,
        version: ssl.TLSVersion | None = None,
        context: ssl.SSLContext | None = None,
    ) -> Wire:
        """A new connection; a peer that cannot be reached fails the case (it stopped serving)."""
        if context is None and tls:
            context = self.tls_context(identity, version=version)
        try:
            wire = await self.wire_class.connect(
                self.host,
                self.port,
                ssl_context=context,
                server_hostname=self.profile.server_hostname,
                name=name or f"c{len(self._wires) + 1}",
                log=self.log.append,
                started=self.started,
                timeout=self.t(10),
            )
        except ssl.SSLError:
            raise  # TLS cases judge these themselves
        except (OSError, TimeoutError) as exc:
            raise CheckFailed(f"could not connect to {self.host}:{self.port}: {exc!r}") from None
        self._wires.append(wire)
        return wire

    async def close_all(self) -> None:
        for wire in self._wires:
            await wire.close()

    # -- frames ---------------------------------------------------------------------------------

    def request(
        self,
        *,
        client_instance_id: int | None = None,
        server_instance_id: int | None = None,
        app_version: bytes | None = None,
        reader_schemas: ReaderSchemas | None = None,
        version: int = 0,
    ) -> bytes:
        """A connection request offering ``version`` (from version 1 with the client's reader declaration,
        CONN-8), by default as the profile's client."""
        return encode_frame(
            ConnectionRequest(
                version=version,
                app_version=self.profile.app_version if app_version is None else app_version,
                client_instance_id=self.profile.client_instance_id
                if client_instance_id is None
                else client_instance_id,
                server_instance_id=server_instance_id,
                reader_schemas=reader_schemas,
            ),
            version=version,
        )

    def event(self, *, key: bytes | None = None, offset: int | None = None, data: bytes = b"sink-check") -> Event:
        """A fresh event whose topic is unique to this run and case, so reruns never collide."""
        self._offset += 1
        return Event(
            event_type_id=1,
            schema_version=1,
            key=key if key is not None else f"sink-check/{self.state.run_tag}/{self.case_id}".encode(),
            offset=self._offset if offset is None else offset,
            timestamp=1_700_000_000 + self._offset,
            event_data=data,
        )

    @staticmethod
    def publish_frame(message_id: int, event: Event) -> bytes:
        return encode_frame(Publish(message_id=message_id, event=event))

    # -- reactions -------------------------------------------------------------------------------

    async def recv(
        self, wire: Wire, what: str, timeout: float = 5.0, *, publishes: bool = False, version: int = 0
    ) -> bytes:
        """The next frame of a version-``version`` connection. The peer's own events (:func:`own_events`) are
        background traffic: they are ACKed and skipped unless ``publishes`` asks for them."""
        events = own_events(version)

        async def background(frame: bytes) -> bool:
            if not publishes and frame_type(frame) in events and len(frame) >= 2:
                await wire.send_frame(encode_frame(Ack(message_id=message_id_of(frame)), version=version))
                return True
            return False

        return await wire.next_frame(what, self.t(timeout), background)

    @staticmethod
    def decode(frame: bytes, version: int = 0) -> object:
        """A frame of a version-``version`` connection (records batches with the kit's schemas, RECORD-2);
        a :class:`~sinkproto.errors.DecodeError` is the caller's to judge."""
        return decode_frame(frame, limits=Limits(), version=version, schemas=kit_schemas())

    async def recv_response(self, wire: Wire, timeout: float = 5.0, *, version: int = 0) -> ConnectionResponse:
        """The connection response, promptly: before a silence timeout could have freed the server."""
        frame = await self.recv(wire, "a connection response", self.prompt(timeout) / self.scale, version=version)
        try:
            value = self.decode(frame, version)
        except DecodeError as exc:
            raise CheckFailed(f"undecodable frame instead of a connection response: {exc}") from None
        if not isinstance(value, ConnectionResponse):
            raise CheckFailed(f"{describe(frame, version)} instead of a connection response")
        return value

    def prompt(self, seconds: float = 5.0) -> float:
        """How long a "prompt" reaction may take: also less than the peer's silence timeout (1.5 K,
        counted from our last frame), so that a close caused by silence is never taken for it."""
        return min(self.t(seconds), 1.2 * self.profile.keepalive)

    async def expect_closed(
        self,
        wire: Wire,
        why: str,
        timeout: float = 5.0,
        *,
        allow: tuple[type, ...] = (),
        silent: tuple[str, ...] | None = None,
        closes: tuple[str, ...] | None = None,
        version: int = 0,
        close: tuple[str, str] | None = None,
        close_rules: tuple[str, ...] = ("CLOSE-3", "CLOSE-6"),
    ) -> None:
        """The peer must close ``wire`` (a version-``version`` connection) promptly, sending nothing but frames of
        ``allow`` types (or its own events: PUBLISH, from version 1 BATCH_PUBLISH).

        ``silent`` and ``closes`` name the requirements of the two checks (sent nothing in answer; closed),
        for the rollup; None blames every requirement of the case not met yet.

        A CLOSE before the close is tolerated, unless ``close`` (error class, requirement) says which CLOSE
        the case's requirement asks for on a version-1 connection (CLOSE-3, CLOSE-4): then a close without
        one, or a CLOSE of another class or requirement, fails the case, blaming ``close_rules`` (a close
        without CLOSE is what a crash looks like on the wire, CLOSE-6)."""
        timeout = self.prompt(timeout) / self.scale  # prompt() already applied the scale
        closed, frames = await wire.expect_close(self.t(timeout))
        sent_closes: list[Close] = []
        for frame in frames:
            try:
                value = self.decode(frame, version)
            except DecodeError:
                raise CheckFailed(
                    f"{why}: sent an undecodable frame {frame.hex()} instead of closing", requirements=silent
                ) from None
            if isinstance(value, (Publish, BatchPublish)):
                continue  # the peer's own events, sent before it read ours: not an answer
            if isinstance(value, Close):
                sent_closes.append(value)  # checked below when the case asks for one (CLOSE-3, CLOSE-4)
                continue
            if not isinstance(value, allow):
                raise CheckFailed(f"{why}: sent {describe(frame, version)} instead of closing", requirements=silent)
        if silent:
            self.meets(*silent)
        if not closed:
            raise CheckFailed(
                f"{why}: the connection was still open after {self.t(timeout):.1f} s", requirements=closes
            )
        if closes:
            self.meets(*closes)
        if close is not None and version >= 1:
            self._check_close(why, sent_closes, close, close_rules)

    def _check_close(self, why: str, sent: list[Close], expected: tuple[str, str], rules: tuple[str, ...]) -> None:
        """CLOSE-3, CLOSE-4, CLOSE-6: exactly the CLOSE ``expected`` (error class, requirement) came before the close."""
        error_class, requirement = expected
        if not sent:
            raise CheckFailed(
                f"{why}: closed without a CLOSE (expected {error_class} citing {requirement}); on a version-1 "
                "connection a close without CLOSE is reserved for transport failures, and looks like a crash (CLOSE-6)",
                requirements=rules,
            )
        got = sent[0]
        got_rule = got.requirement.decode("ascii", "replace")
        if got.error_class.wire_name != error_class or got_rule != requirement:
            raise CheckFailed(
                f"{why}: CLOSE {got.error_class.wire_name} citing {got_rule or '(none)'} "
                f"(expected {error_class} citing {requirement})",
                requirements=rules,
            )
        self.meets(*rules)

    async def expect_answer(self, wire: Wire, message_id: int, *, nack: bool = False, timeout: float = 5.0) -> bytes:
        """The next frame must be the ACK (or NACK) of ``message_id``; PUBLISHes from the peer are ACKed meanwhile."""
        want = "NACK" if nack else "ACK"
        while True:
            frame = await self.recv(wire, f"the {want} of message id {message_id}", timeout)
            kind = frame[0] >> 4
            if kind == 6:
                continue  # an unsolicited PONG is harmless
            expected_type = 7 if nack else 3
            got_id = int.from_bytes(frame[:2], "big") & 0xFFF if len(frame) >= 2 else None
            if kind != expected_type or got_id != message_id:
                raise CheckFailed(f"{describe_frame(frame)} instead of the {want} of message id {message_id}")
            return frame

    async def expect_batch_answer(self, wire: Wire, message_id: int, what: str = "", *, version: int = 1) -> object:
        """The next answer to our frames on a version-``version`` connection (batches exist from version 1): it
        must carry ``message_id`` (an ACK, NACK or BATCH_RESULT, returned decoded)."""
        while True:
            frame = await self.recv(wire, what or f"the answer to BATCH_PUBLISH {message_id}", version=version)
            kind = frame_type(frame)
            if kind == PONG:
                continue
            if kind not in (ACK, NACK, BATCH_RESULT) or message_id_of(frame) != message_id:
                raise CheckFailed(f"{describe(frame, version)} instead of the answer to BATCH_PUBLISH {message_id}")
            try:
                return self.decode(frame, version)
            except DecodeError as exc:
                raise CheckFailed(f"undecodable answer {frame[:24].hex()}: {exc.error_class} ({exc})") from None

    # -- composite steps ----------------------------------------------------------------------------

    async def learn_server_instance_id(self) -> int:
        """First contact as the main identity without a server id: hello_new_client names S (HS-9)."""
        if self.state.server_instance_id is None:
            wire = await self.connect("main", name="learn")
            await wire.send_frame(self.request())
            response = await self.handshake_response(wire)
            if response.response is not Response.HELLO_NEW_CLIENT:
                raise CheckFailed(
                    f"{response.response.wire_name} to a first request without server_instance_id "
                    "(expected hello_new_client: new client or interrupted first handshake)",
                    requirements=("HS-9",),
                )
            assert response.server_instance_id is not None
            self.state.server_instance_id = response.server_instance_id
            await wire.close()
        return self.state.server_instance_id

    async def open_session(
        self,
        identity: str = "main",
        *,
        name: str | None = None,
        version: int = 0,
        reader_schemas: ReaderSchemas | None = None,
    ) -> Wire:
        """A connection at ``version`` whose handshake completed with `connected` (known client)."""
        wire, _response = await self.session(identity, name=name, version=version, reader_schemas=reader_schemas)
        return wire

    async def session(
        self,
        identity: str = "main",
        *,
        name: str | None = None,
        version: int = 0,
        reader_schemas: ReaderSchemas | None = None,
    ) -> tuple[Wire, ConnectionResponse]:
        """:meth:`open_session`, and the server's `connected` response (from version 1 with its reader
        declaration, CONN-11). From version 1 the request also declares ``reader_schemas`` (CONN-8)."""
        server_id = await self.learn_server_instance_id()
        wire = await self.connect(identity, name=name or (f"v{version}" if version else None))
        await wire.send_frame(
            self.request(server_instance_id=server_id, reader_schemas=reader_schemas, version=version)
        )
        response = await self.handshake_response(wire, version=version)
        if version and response.response is Response.UNSUPPORTED_PROTOCOL_VERSION:
            raise CheckFailed(
                f"unsupported_protocol_version to a version-{version} request, although the profile's versions "
                f"include {version}",
                requirements=("VER-6",),
            )
        if response.response is not Response.CONNECTED:
            raise CheckFailed(
                f"{response.response.wire_name} to a known client's "
                + (f"version-{version} " if version else "")
                + "request (expected connected)",
                requirements=("HS-9",),
            )
        return wire, response

    async def handshake_response(self, wire: Wire, *, version: int = 0) -> ConnectionResponse:
        """The response of a handshake the case only needs: a failure here is about the handshake (HS-3),
        not about what the case goes on to check."""
        try:
            return await self.recv_response(wire, version=version)
        except CheckFailed as exc:
            raise CheckFailed(exc.observed, requirements=exc.requirements or ("HS-3",)) from None

    async def publish_and_expect(
        self, wire: Wire, message_id: int, event: Event | None = None, *, nack: bool = False
    ) -> bytes:
        await wire.send_frame(self.publish_frame(message_id, event or self.event()))
        return await self.expect_answer(wire, message_id, nack=nack)

    async def still_serves(self) -> str:
        """Robustness verdicts: after the hostile input, a second, well-behaved connection still works."""
        wire = await self.open_session(name="healthy")
        await self.publish_and_expect(wire, 1)
        await wire.send_frame(encode_frame(Ping()))
        frame = await self.recv(wire, "a PONG")
        if frame[0] >> 4 != 6:
            raise CheckFailed(f"{describe_frame(frame)} instead of a PONG on a healthy connection")
        await wire.close()
        return "a second connection then completed a handshake, a publish/ACK and a PING/PONG"

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.t(seconds))

    def unreadable_pair(self, response: ConnectionResponse) -> tuple[int, int]:
        """A pair the server cannot read: outside its declaration (SNEG-3), or the profile's ``unreadable_schema``."""
        declared = response.reader_schemas
        if declared is not None:
            type_id, versions = declared.entries[-1]
            return (type_id, versions[-1] + 1) if versions[-1] < (1 << 64) - 1 else (type_id + 1, 0)
        if self.profile.unreadable_schema is not None:
            return self.profile.unreadable_schema
        raise Unsupported("the server declared no reader schemas and the profile names no unreadable_schema")
