"""Deliberately broken variants of the reference client (`sink connect`), for client mode.

Like the server mutants (:mod:`.mutants`): each breaks one behaviour and
names the client cases that must stop passing against it; every client case
is the target of at least one of them (checked by the self-test). Run as
``python -m sinkcheck.cli _mutant-client --mutant NAME <sink connect options>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sinkproto import Ack, ConnectionRequest, ConnectionResponse, Event, Ping, Publish
from sinkproto.connection import Connection, State
from sinkproto.events import ConnectionEvent, HandshakeCompleted
from sinkproto.peers import PeerSession
from sinkproto.peers.service import StoreClient

from .v1_mutants import client_v1_mutants

__all__ = ["CLIENT_MUTANTS", "FUZZ_CLIENT_MUTANTS", "ClientMutant", "client_mutant"]


@dataclass(frozen=True)
class ClientMutant:
    name: str
    breaks: str  # what is wrong with it, in one line
    targets: tuple[str, ...]  # client case IDs (globs) that must not pass against it
    options: dict[str, Any]  # passed to sinktools.commands.peers.connect: connection_class, handler_class
    version: int = 0  # the protocol version it offers (sink connect --protocol-version)


# -- Connection variants ---------------------------------------------------------------------------

EARLY_EVENT = Event(event_type_id=1, schema_version=1, key=b"mutant/early", offset=1, timestamp=1_700_000_000,
                    event_data=b"too early")


class PingFirst(Connection):
    """Sends a PING before its connection request (HS-1)."""

    def send_request(self, request: ConnectionRequest, now: float) -> None:
        self._queue(Ping(), now)
        super().send_request(request, now)


class PublishBeforeResponse(Connection):
    """Does not wait for the response: a PUBLISH follows the request at once (HS-2)."""

    def send_request(self, request: ConnectionRequest, now: float) -> None:
        super().send_request(request, now)
        self._queue(Publish(message_id=self._next_message_id, event=EARLY_EVENT), now)


class OpenAfterRefusal(Connection):
    """Treats every response as success: stays open and publishes after a refusal (HS-15)."""

    def _on_response(self, frame: Any, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, ConnectionResponse)
        self.handshake_response = frame
        self._state = State.OPEN
        return [HandshakeCompleted(response=frame)]


class MessageIdStuck(Connection):
    """Never advances its message id (MSGID-2): one PUBLISH in flight at a time, all with the same id."""

    def publish(self, event: Event, now: float) -> int:
        message_id = super().publish(event, now)
        self._next_message_id = message_id
        return message_id


class NoPong(Connection):
    def _on_ping(self, frame: Any, now: float) -> list[ConnectionEvent]:
        return []


class NeverPings(Connection):
    def _pings(self) -> bool:
        return False


class NeverClosesSilent(Connection):
    def handle_timer(self, now: float) -> list[ConnectionEvent]:
        self._last_received = now  # as if the server were always talking
        return super().handle_timer(now)


class Tolerant(Connection):
    """Ignores malformed and out-of-place frames instead of closing (ERR-3)."""

    def _protocol_error(self, error_class: str, requirement: str, detail: str) -> list[ConnectionEvent]:
        return []


class WrongAckId(Connection):
    def ack(self, message_id: int, now: float) -> None:
        self._allow("ack")
        self._answered(message_id)
        self._queue(Ack(message_id=(message_id + 1) & 0xFFF), now)


class CrashOnUnknownType(Connection):
    """Exits at once (a crash) on a frame of an unknown type (8..15) instead of closing (ERR-3)."""

    def _receive_frame(self, raw: bytes, now: float) -> list[ConnectionEvent]:
        if raw and raw[0] >> 4 >= 8:
            os._exit(70)
        return super()._receive_frame(raw, now)


# -- application (handler) variants ----------------------------------------------------------------


class ForgetsServerId(StoreClient):
    """Does not persist the server_instance_id of hello_new_client (HS-13)."""

    async def on_hello(self, server_instance_id: int) -> None:
        pass


class NoRedelivery(StoreClient):
    """Counts an event as delivered once sent: nothing unanswered is sent again (DELIV-1)."""

    async def on_connect(self, session: PeerSession) -> None:
        await super().on_connect(session)
        original = session.publish

        async def publish_and_forget(event: Event) -> Any:
            future = await original(event)
            self.store.mark_acked(self.server_name, event)
            return future

        session.publish = publish_and_forget  # type: ignore[method-assign]


class ResendsNacked(StoreClient):
    """Leaves a NACKed event pending, so it is published again (DELIV-11)."""

    async def on_nack(self, session: PeerSession, event: Event, machine_message: bytes, human_message: bytes) -> None:
        self._check_synced()


CLIENT_MUTANTS: tuple[ClientMutant, ...] = (
    ClientMutant("ping-first", "sends PING before its connection request", ("client.handshake.request-first",),
                 {"connection_class": PingFirst}),
    ClientMutant("publish-before-response", "publishes right after its request, before the response",
                 ("client.handshake.waits-for-response",), {"connection_class": PublishBeforeResponse}),
    ClientMutant("forgets-server-id", "does not persist the server_instance_id of hello_new_client",
                 ("client.handshake.stores-server-instance-id",), {"handler_class": ForgetsServerId}),
    ClientMutant("open-after-refusal", "stays open and publishes after a refusal", ("client.handshake.refused.*",),
                 {"connection_class": OpenAfterRefusal}),
    ClientMutant("message-id-stuck", "reuses one message id for every PUBLISH", ("client.publish.after-handshake",),
                 {"connection_class": MessageIdStuck}),
    ClientMutant("no-redelivery", "treats a sent event as delivered", ("client.delivery.resend-after-reconnect",),
                 {"handler_class": NoRedelivery}),
    ClientMutant("resends-nacked", "publishes a NACKed event again", ("client.delivery.nacked-not-resent",),
                 {"handler_class": ResendsNacked}),
    ClientMutant("wrong-ack-id", "ACKs with message id + 1", ("client.messaging.*",), {"connection_class": WrongAckId}),
    ClientMutant("no-pong", "never answers PING", ("client.ping.*",), {"connection_class": NoPong}),
    ClientMutant("never-pings", "never sends PING", ("client.keepalive.pings-when-idle",),
                 {"connection_class": NeverPings}),
    ClientMutant("never-closes-silent", "never closes a silent connection", ("client.keepalive.silence-closes",),
                 {"connection_class": NeverClosesSilent}),
    ClientMutant("tolerant", "ignores malformed and out-of-place frames", ("client.malformed.*",),
                 {"connection_class": Tolerant}),
)

CLIENT_MUTANTS += client_v1_mutants(ClientMutant)

# Mutants for fuzz mode only (`sink-check fuzz client`): no conformance case targets them, so the self-test
# does not run them. A crash is not something a case can tell from a close.
FUZZ_CLIENT_MUTANTS: tuple[ClientMutant, ...] = (
    ClientMutant("crash-on-unknown-type", "exits on a frame of an unknown type", (),
                 {"connection_class": CrashOnUnknownType}),
)


def client_mutant(name: str) -> ClientMutant:
    """The client mutant (of :data:`CLIENT_MUTANTS` and :data:`FUZZ_CLIENT_MUTANTS`) called ``name``."""
    return next(m for m in CLIENT_MUTANTS + FUZZ_CLIENT_MUTANTS if m.name == name)
