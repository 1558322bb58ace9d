"""Deliberately broken variants of the reference client (`sink connect`), for client mode.

Like the server mutants (:mod:`.mutants`): each breaks one behaviour and
names the client cases that must stop passing against it; every client case
is the target of at least one of them (checked by the self-test). Run as
``python -m sinkcheck.cli _mutant-client --mutant NAME <sink connect options>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sinkproto import Event
from sinkproto.connection import Rules
from sinkproto.peers import PeerSession
from sinkproto.peers.service import OutboxPump, StoreClient

from . import edits
from .v1_mutants import client_v1_mutants

__all__ = ["CLIENT_MUTANTS", "FUZZ_CLIENT_MUTANTS", "ClientMutant", "client_mutant"]


@dataclass(frozen=True)
class ClientMutant:
    name: str
    breaks: str  # what is wrong with it, in one line
    targets: tuple[str, ...]  # client case IDs (globs) that must not pass against it
    options: dict[str, Any]  # passed to sinktools.commands.peers.connect: rules, versions, handler_class
    version: int = 0  # the protocol version it offers (sink connect --protocol-version)


# -- Connection variants: Rules edits (.edits), the version-0 reference pinned ------------------------------


def _rules(rules: Rules) -> dict[str, Any]:
    return edits.peer_options(rules, versions=(0,))


# -- application (handler) variants ----------------------------------------------------------------


class ForgetsServerId(StoreClient):
    """Does not persist the server_instance_id of hello_new_client (HS-13)."""

    async def on_hello(self, server_instance_id: int) -> None:
        pass


class ForgetfulPump(OutboxPump):
    """Marks events delivered as soon as they are sent: nothing is ever re-sent."""

    async def send(self, events: list[Event]) -> None:
        for event in events:
            await self.session.publish(event)
            self.store.mark_acked(self.peer, event)


class NoRedelivery(StoreClient):
    """Counts an event as delivered once sent: nothing unanswered is sent again (DELIV-1)."""

    def new_pump(self, session: PeerSession) -> OutboxPump:
        return ForgetfulPump(self.store, self.server_name, session, poll=self.poll, housekeeping=self.housekeeping)


class ResendsNacked(StoreClient):
    """Leaves a NACKed event pending, so it is published again (DELIV-11)."""

    async def on_nack(self, session: PeerSession, event: Event, machine_message: bytes, human_message: bytes) -> None:
        self.check_synced()


CLIENT_MUTANTS: tuple[ClientMutant, ...] = (
    ClientMutant(
        "ping-first",
        "sends PING before its connection request",
        ("client.handshake.request-first",),
        _rules(edits.ping_first()),
    ),
    ClientMutant(
        "publish-before-response",
        "publishes right after its request, before the response",
        ("client.handshake.waits-for-response",),
        _rules(edits.publish_before_response()),
    ),
    ClientMutant(
        "forgets-server-id",
        "does not persist the server_instance_id of hello_new_client",
        ("client.handshake.stores-server-instance-id",),
        {"handler_class": ForgetsServerId},
    ),
    ClientMutant(
        "open-after-refusal",
        "stays open and publishes after a refusal",
        ("client.handshake.refused.*",),
        _rules(edits.open_after_refusal_client()),
    ),
    ClientMutant(
        "message-id-stuck",
        "reuses one message id for every PUBLISH",
        ("client.publish.after-handshake",),
        _rules(edits.message_id_stuck()),
    ),
    ClientMutant(
        "no-redelivery",
        "treats a sent event as delivered",
        ("client.delivery.resend-after-reconnect",),
        {"handler_class": NoRedelivery},
    ),
    ClientMutant(
        "resends-nacked",
        "publishes a NACKed event again",
        ("client.delivery.nacked-not-resent",),
        {"handler_class": ResendsNacked},
    ),
    ClientMutant("wrong-ack-id", "ACKs with message id + 1", ("client.messaging.*",), _rules(edits.wrong_ack_id())),
    ClientMutant("no-pong", "never answers PING", ("client.ping.*",), _rules(edits.no_pong())),
    ClientMutant("never-pings", "never sends PING", ("client.keepalive.pings-when-idle",), _rules(edits.never_pings())),
    ClientMutant(
        "never-closes-silent",
        "never closes a silent connection",
        ("client.keepalive.silence-closes",),
        _rules(edits.never_closes_silent()),
    ),
    ClientMutant(
        "tolerant", "ignores malformed and out-of-place frames", ("client.malformed.*",), _rules(edits.tolerant())
    ),
)

CLIENT_MUTANTS += client_v1_mutants(ClientMutant)

# Mutants for fuzz mode only (`sink-check fuzz client`): no conformance case targets them, so the self-test
# does not run them. A crash is not something a case can tell from a close.
FUZZ_CLIENT_MUTANTS: tuple[ClientMutant, ...] = (
    ClientMutant(
        "crash-on-unknown-type", "exits on a frame of an unknown type", (), _rules(edits.crash_on_unknown_type_nibble())
    ),
)


def client_mutant(name: str) -> ClientMutant:
    """The client mutant (of :data:`CLIENT_MUTANTS` and :data:`FUZZ_CLIENT_MUTANTS`) called ``name``."""
    return next(m for m in CLIENT_MUTANTS + FUZZ_CLIENT_MUTANTS if m.name == name)
