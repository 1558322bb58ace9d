"""Deliberately broken variants of the reference server ("mutants").

Each mutant breaks one behaviour and names the cases that must stop passing
against it. The self-test runs those cases against it: a case that still
passes is a check that cannot fail. Every server case is the target of at
least one mutant (checked by the self-test). Run as
``python -m sinkcheck.cli _mutant-server --mutant NAME <sink serve options>``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinkproto import ConnectionRequest, ConnectionResponse, Response
from sinkproto.connection import Rules
from sinkproto.limits import Limits
from sinkproto.messages import Event
from sinkproto.peers import Answer, PeerSession
from sinkproto.peers.service import OutboxPump, StoreServer

from . import edits

__all__ = ["Mutant", "MUTANTS", "SLOW_MUTANTS", "ServerSetup", "server_mutant"]


@dataclass(frozen=True)
class ServerSetup:
    """What a mutant's server options may depend on: its `sink serve` certificates folder (``--certs``) and
    where the crash-logging mutant writes (``--crash-log``)."""

    certs: Path
    crash_log: Path | None = None


def _no_options(setup: ServerSetup) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Mutant:
    """A broken reference server: `sink serve` with ``serve`` options changed and the server built with
    ``options`` (keyword arguments of the server: rules, versions, handler_class, ssl_context, ...)."""

    name: str
    breaks: str  # what is wrong with it, in one line
    targets: tuple[str, ...]  # case IDs (globs) that must not pass against it
    options: Callable[[ServerSetup], dict[str, Any]] = _no_options
    observed: bool = False  # run with a crash observer: the self-test passes --crash-log and sets [observe]
    serve: Mapping[str, Any] = field(default_factory=dict, hash=False)  # `sink serve` options, by dest, it changes

    def server_options(self, setup: ServerSetup) -> dict[str, Any]:
        """The server's keyword arguments (``ssl_context=False`` becomes plaintext, no TLS)."""
        options = self.options(setup)
        if options.get("ssl_context") is False:
            options["ssl_context"] = None
            options["plaintext"] = True
        return options


#: What the crash-logging mutant writes, and the self-test's [observe] crash_pattern that finds it.
CRASH_REPORT = (
    "[error] GenServer #PID<0.{n}.0> terminating\n"
    "** (FunctionClauseError) no function clause matching in Sink.Connection.handle_frame/2\n"
    "    (sink-check mutant) {error_class} ({requirement}): {detail}\n"
    "Last message: {{:ssl, ...}}\n"
)
CRASH_PATTERN = r"GenServer .* terminating"


# -- Connection variants: Rules edits (.edits), the version-0 reference pinned ---------------------------


def _rules(rules: Rules) -> Callable[[ServerSetup], dict[str, Any]]:
    return lambda setup: edits.peer_options(rules, versions=(0,))


# -- handler variants ---------------------------------------------------------------------------


class AlwaysHello(StoreServer):
    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        response = await super().decide(client, request)
        if response.response in (Response.CONNECTED, Response.INSTANCE_ID_MISMATCH):
            return ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=self.store.instance_id)
        return response


class AlwaysConnected(StoreServer):
    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        await super().decide(client, request)
        return ConnectionResponse(response=Response.CONNECTED)


class MismatchAccepted(StoreServer):
    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        response = await super().decide(client, request)
        if response.response is Response.INSTANCE_ID_MISMATCH:
            return ConnectionResponse(response=Response.CONNECTED)
        return response


class InterruptedRefused(StoreServer):
    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        known = self.store.known_client_instance_id(client)
        if known is not None and request.server_instance_id is None:
            return ConnectionResponse(response=Response.INSTANCE_ID_MISMATCH)
        return await super().decide(client, request)


class NacksDuplicates(StoreServer):
    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None:
        if any(e == event for _, e in self.store.received(client)):
            return Answer.nack(b"DUPLICATE", b"already stored")
        return await super().on_event(session, client, event)


class NoReplacement(StoreServer):
    """Keeps a client's older connection open when a newer one completes its handshake (DELIV-10)."""

    async def on_second_session(self, client: str, previous: PeerSession, session: PeerSession) -> None:
        pass


class ForgetfulPump(OutboxPump):
    """Marks events delivered as soon as they are sent: nothing is ever re-sent."""

    async def send(self, events: list[Event]) -> None:
        for event in events:
            await self.session.publish(event)
            self.store.mark_acked(self.peer, event)


class NoRedelivery(StoreServer):
    def new_pump(self, session: PeerSession, client: str) -> OutboxPump:
        return ForgetfulPump(self.store, client, session, poll=0.1)

    async def on_ack(self, session: PeerSession, client: str, event: Event) -> None:
        pass


#: The slow server's delay before each answer (seconds): longer than a load run's publish interval.
SLOW_ACK_DELAY = 0.3


class SlowAcks(StoreServer):
    """A saturated server, not a wrong one: it stores each event at once (durable before the ACK,
    MSGID-9) and answers it SLOW_ACK_DELAY seconds later, one event after the other, so its ACKs
    fall further behind the longer a client publishes. While it works through a backlog it reads
    no frame, so run it with a K (--keepalive) longer than the backlog takes."""

    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None:
        answer = await super().on_event(session, client, event)
        await asyncio.sleep(SLOW_ACK_DELAY)
        return answer


# -- TLS variants ------------------------------------------------------------------------------


def _context(setup: ServerSetup, tweak: Callable[[ssl.SSLContext], None]) -> ssl.SSLContext:
    from sinkproto.certs import DevPki
    from sinkproto.peers import server_context

    pki = DevPki(setup.certs)
    context = server_context(cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca)
    tweak(context)
    return context


class AnonymousAllowed(StoreServer):
    def anonymous(self) -> str | None:
        return "anonymous"


def _verify_none(c: ssl.SSLContext) -> None:
    c.verify_mode = ssl.CERT_NONE


def _tls12_only(c: ssl.SSLContext) -> None:
    c.maximum_version = ssl.TLSVersion.TLSv1_2


def _tls13_only(c: ssl.SSLContext) -> None:
    c.minimum_version = ssl.TLSVersion.TLSv1_3


def _tls11_allowed(c: ssl.SSLContext) -> None:
    c.minimum_version = ssl.TLSVersion.TLSv1
    c.set_ciphers("DEFAULT:@SECLEVEL=0")


def _set(**kw: Any) -> Callable[[ServerSetup], dict[str, Any]]:
    return lambda setup: dict(kw)


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "no-pong",
        "never answers PING",
        ("server.ping.*", "server.handshake.known-client", "server.malformed.*"),
        _rules(edits.no_pong()),
    ),
    Mutant(
        "wrong-ack-id",
        "ACKs with message id + 1",
        ("server.publish.*", "server.framing.*", "server.connection.second-replaces-first"),
        _rules(edits.wrong_ack_id()),
    ),
    Mutant(
        "always-hello",
        "answers hello_new_client instead of connected or mismatch",
        (
            "server.handshake.known-client",
            "server.handshake.mismatch.*",
            "server.handshake.nothing-after-refusal",
            "server.handshake.second-request",
        ),
        _set(handler_class=AlwaysHello),
    ),
    Mutant(
        "always-connected",
        "answers connected to everyone",
        ("server.handshake.first-contact", "server.handshake.new-client", "server.handshake.interrupted-first"),
        _set(handler_class=AlwaysConnected),
    ),
    Mutant(
        "mismatch-accepted",
        "answers connected where the ids mismatch",
        ("server.handshake.mismatch.*", "server.handshake.nothing-after-refusal"),
        _set(handler_class=MismatchAccepted),
    ),
    Mutant(
        "interrupted-refused",
        "treats an interrupted first handshake as a mismatch",
        ("server.handshake.interrupted-first",),
        _set(handler_class=InterruptedRefused),
    ),
    Mutant(
        "open-after-refusal",
        "keeps the connection open and ACKs after a refusal (field quirk)",
        (
            "server.handshake.quarantined",
            "server.handshake.unsupported-*",
            "server.handshake.mismatch.*",
            "server.handshake.nothing-after-refusal",
            "server.handshake.nothing-after-quarantined",
        ),
        _rules(edits.stays_open_after_refusal()),
    ),
    Mutant(
        "any-version",
        "accepts protocol version 1",
        ("server.handshake.unsupported-protocol-version",),
        _rules(edits.accepts_any_version()),
    ),
    Mutant(
        "quarantine-ignored",
        "lets a quarantined client in",
        ("server.handshake.quarantined", "server.handshake.nothing-after-quarantined"),
        serve={"quarantine": ()},
    ),
    Mutant(
        "app-version-ignored",
        "accepts every application version",
        ("server.handshake.unsupported-application-version",),
        serve={"reject_app_version": ()},
    ),
    Mutant(
        "quirk-before-handshake",
        "ACKs a PUBLISH and answers a PING before the handshake (field quirk)",
        ("server.handshake.publish-before-request", "server.handshake.ping-before-request"),
        _rules(edits.quirk_before_handshake()),
    ),
    Mutant(
        "second-request-ignored",
        "ignores a second connection request",
        ("server.handshake.second-request",),
        _rules(edits.ignores_second_request()),
    ),
    Mutant(
        "never-closes-silent",
        "never closes a silent connection",
        ("server.keepalive.silence-closes", "server.handshake.closes-silent-handshake"),
        _rules(edits.never_closes_silent()),
    ),
    Mutant("server-pings", "sends PING when idle", ("server.keepalive.never-pings",), _rules(edits.server_pings())),
    Mutant(
        "no-replacement",
        "keeps the older connection of a client open",
        ("server.connection.second-replaces-first",),
        _set(handler_class=NoReplacement),
    ),
    Mutant(
        "no-redelivery",
        "treats a sent event as delivered",
        ("server.delivery.redelivery",),
        _set(handler_class=NoRedelivery),
    ),
    Mutant(
        "nothing-on-connect", "publishes nothing on connect", ("server.delivery.*",), serve={"publish_on_connect": 0}
    ),
    Mutant(
        "nacks-duplicates",
        "NACKs an event it already stored",
        ("server.publish.duplicate-event", "server.publish.redelivered-after-reconnect", "server.v1.batch.resent"),
        _set(handler_class=NacksDuplicates),
    ),
    Mutant("poison-accepted", "ACKs poison events", ("server.publish.poison-nack",), serve={"nack_key_prefix": None}),
    Mutant(
        "tolerant",
        "ignores malformed and out-of-place frames instead of closing",
        ("server.malformed.*",),
        _rules(edits.tolerant()),
    ),
    Mutant(
        "crash-logging",
        "logs a crash report and closes cleanly on malformed input (field crash, seen only in its log)",
        ("server.malformed.*",),
        lambda setup: edits.peer_options(edits.crash_logging(setup.crash_log, CRASH_REPORT), versions=(0,)),
        observed=True,
    ),
    Mutant(
        "crash-on-unknown-type",
        "the whole server exits on an unknown frame type (field crash, made global)",
        ("server.malformed.unknown-type-*",),
        _rules(edits.crash_on_unknown_type()),
    ),
    Mutant(
        "no-reassembly",
        "drops partial frames between reads",
        ("server.framing.byte-by-byte", "server.framing.stall-mid-frame"),
        _rules(edits.no_reassembly()),
    ),
    Mutant(
        "first-frame-only",
        "processes one frame per read",
        ("server.framing.coalesced",),
        _rules(edits.first_frame_only()),
    ),
    Mutant(
        "small-frames",
        "refuses frames above 60,000 bytes",
        ("server.framing.frame-65535",),
        _set(limits=Limits(max_frame_size=60000)),
    ),
    Mutant(
        "serial",
        "serves one connection at a time",
        ("server.hostile.length-prefix-stall", "server.connection.second-replaces-first"),
        serve={"max_sessions": 1},
    ),
    Mutant(
        "no-client-auth",
        "accepts clients without a verified certificate",
        ("server.tls.no-client-certificate", "server.tls.other-ca"),
        lambda setup: {"ssl_context": _context(setup, _verify_none), "handler_class": AnonymousAllowed},
    ),
    Mutant(
        "plaintext",
        "speaks Sink over plain TCP",
        ("server.tls.plaintext",),
        lambda setup: {"ssl_context": False, "handler_class": AnonymousAllowed},
    ),
    Mutant(
        "tls12-only",
        "offers at most TLS 1.2",
        ("server.tls.tls13",),
        lambda setup: {"ssl_context": _context(setup, _tls12_only)},
    ),
    Mutant(
        "tls13-only",
        "offers only TLS 1.3",
        ("server.tls.tls12",),
        lambda setup: {"ssl_context": _context(setup, _tls13_only)},
    ),
    Mutant(
        "tls11-allowed",
        "accepts TLS 1.1",
        ("server.tls.tls11-refused",),
        lambda setup: {"ssl_context": _context(setup, _tls11_allowed)},
    ),
)

from .resource_mutants import resource_mutants  # noqa: E402 - the resource-bound cases' mutants
from .v1_mutants import server_v1_mutants  # noqa: E402 - the version-1 cases' mutants

MUTANTS += resource_mutants(Mutant)
MUTANTS += server_v1_mutants(Mutant)

#: Servers that are slow, not wrong: for load mode's tests (tests/test_load_mode.py), not the self-test
#: (no case may fail against them, and the catalogue's prompt reactions would).
SLOW_MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "slow-acks",
        f"answers each event {SLOW_ACK_DELAY} s after storing it, one after the other",
        (),
        _set(handler_class=SlowAcks),
    ),
)


def server_mutant(name: str) -> Mutant:
    """The server mutant (of :data:`MUTANTS` and :data:`SLOW_MUTANTS`) called ``name``."""
    return next(m for m in MUTANTS + SLOW_MUTANTS if m.name == name)
