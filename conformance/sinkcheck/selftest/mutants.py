"""The self-test's mutants: deliberately broken variants of the reference server and client, in one registry.

Each :class:`Mutant` breaks one behaviour of `sink serve` (role server) or
`sink connect` (role client), speaking the protocol versions it names, and
names the cases that must stop passing against it. The self-test runs those
cases against it: a case that still passes is a check that cannot fail. Every
case is the target of at least one mutant (checked by the self-test). A mutant
breaks its peer through documented seams only: a :class:`~sinkproto.connection.Rules`
edit (:mod:`.edits`), a handler with a public hook overridden (:mod:`.handlers`),
peer settings (limits, TLS context, record schemas) or `sink serve` options.
A few mutants target no case: they serve load mode's and fuzz mode's tests,
not the self-test. Each runs as ``python -m sinkcheck.cli _mutant-server
--mutant NAME <sink serve options>`` (or ``_mutant-client ... <sink connect
options>``).
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinkproto.connection import Role, Rules
from sinkproto.limits import Limits
from sinkproto.peers import Backoff
from sinkproto.peers.service import StoreClient, StoreServer

from . import edits, handlers

__all__ = ["CRASH_PATTERN", "CRASH_REPORT", "MUTANTS", "Mutant", "PeerSetup", "find_mutant"]

SERVER, CLIENT = Role.SERVER, Role.CLIENT


@dataclass(frozen=True)
class PeerSetup:
    """What a mutant's peer settings may depend on: its certificates folder (``--certs``) and where the
    crash-logging mutant writes (``--crash-log``)."""

    certs: Path
    crash_log: Path | None = None


def _no_settings(setup: PeerSetup) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, kw_only=True)
class Mutant:
    """A broken reference peer: `sink serve` (``role`` server) or `sink connect` (client) speaking ``versions``,
    with its connection running ``rules``, its application the ``handler`` class, and ``settings`` and (a
    server) ``serve`` changed."""

    name: str
    role: Role
    versions: tuple[int, ...]  # the protocol versions it speaks (the peer's versions=); a client offers the highest
    breaks: str  # what is wrong with it, in one line
    targets: tuple[str, ...]  # case IDs (globs) that must not pass against it; none: not run by the self-test
    rules: Rules | None = None  # a Rules edit (.edits) its connections run
    handler: type[StoreServer] | type[StoreClient] | None = None  # its handler, a hook overridden (.handlers)
    settings: Callable[[PeerSetup], dict[str, Any]] = _no_settings  # other peer keyword settings
    serve: Mapping[str, Any] = field(default_factory=dict, hash=False)  # `sink serve` options, by dest, it changes
    observed: bool = False  # run with a crash observer: the self-test passes --crash-log and sets [observe]

    def __post_init__(self) -> None:
        if self.role is CLIENT and (self.serve or self.observed):
            raise ValueError(f"client mutant {self.name}: serve and observed are `sink serve` options")

    @property
    def label(self) -> str:
        """How reports name it: ``server/NAME`` or ``client/NAME`` (the two roles share some names)."""
        return f"{self.role.value}/{self.name}"

    def peer_options(self, setup: PeerSetup) -> dict[str, Any]:
        """The peer's keyword arguments (``ssl_context=False`` becomes plaintext, no TLS)."""
        options = {**self.settings(setup), "versions": self.versions}
        if self.rules is not None:
            options["rules"] = self.rules
        if self.handler is not None:
            options["handler_class"] = self.handler
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


# -- TLS variants: the server's context --------------------------------------------------------------------------


def _tls(tweak: Callable[[ssl.SSLContext], None]) -> Callable[[PeerSetup], dict[str, Any]]:
    def settings(setup: PeerSetup) -> dict[str, Any]:
        from sinkproto.certs import DevPki
        from sinkproto.peers import server_context

        pki = DevPki(setup.certs)
        context = server_context(cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca)
        tweak(context)
        return {"ssl_context": context}

    return settings


def _verify_none(c: ssl.SSLContext) -> None:
    c.verify_mode = ssl.CERT_NONE


def _tls12_only(c: ssl.SSLContext) -> None:
    c.maximum_version = ssl.TLSVersion.TLSv1_2


def _tls13_only(c: ssl.SSLContext) -> None:
    c.minimum_version = ssl.TLSVersion.TLSv1_3


def _tls11_allowed(c: ssl.SSLContext) -> None:
    c.minimum_version = ssl.TLSVersion.TLSv1
    c.set_ciphers("DEFAULT:@SECLEVEL=0")


def _plaintext(setup: PeerSetup) -> dict[str, Any]:
    return {"ssl_context": False}


def _crash_logging(setup: PeerSetup) -> dict[str, Any]:
    return {"rules": edits.crash_logging(setup.crash_log, CRASH_REPORT)}


class _IgnoresRetryAfter(Backoff):
    """Walks its backoff steps whatever a server's CLOSE says (CLOSE-9)."""

    def next_delay(self, *, at_least: float | None = None) -> float:
        return super().next_delay()


def _ignores_retry_after(setup: PeerSetup) -> dict[str, Any]:
    return {"backoff": _IgnoresRetryAfter(random.SystemRandom().uniform)}


def _crash_logging_v1(setup: PeerSetup) -> dict[str, Any]:
    return {"rules": edits.crash_logging(setup.crash_log, CRASH_REPORT, edits.no_close_v1())}


def _fixed(**settings: Any) -> Callable[[PeerSetup], dict[str, Any]]:
    return lambda setup: dict(settings)


V0, V01 = (0,), (0, 1)

MUTANTS: tuple[Mutant, ...] = (
    # -- server, version-0 cases ------------------------------------------------------------------------------
    Mutant(
        name="no-pong",
        role=SERVER,
        versions=V0,
        breaks="never answers PING",
        targets=("server.ping.*", "server.handshake.known-client", "server.malformed.*"),
        rules=edits.no_pong(),
    ),
    Mutant(
        name="wrong-ack-id",
        role=SERVER,
        versions=V0,
        breaks="ACKs with message id + 1",
        targets=("server.publish.*", "server.framing.*", "server.connection.second-replaces-first"),
        rules=edits.wrong_ack_id(),
    ),
    Mutant(
        name="always-hello",
        role=SERVER,
        versions=V01,
        breaks="answers hello_new_client instead of connected or mismatch",
        targets=(
            "server.handshake.known-client",
            "server.handshake.mismatch.*",
            "server.handshake.nothing-after-refusal",
            "server.handshake.second-request",
        ),
        handler=handlers.AlwaysHello,
    ),
    Mutant(
        name="always-connected",
        role=SERVER,
        versions=V01,
        breaks="answers connected to everyone",
        targets=(
            "server.handshake.first-contact",
            "server.handshake.new-client",
            "server.handshake.interrupted-first",
        ),
        handler=handlers.AlwaysConnected,
    ),
    Mutant(
        name="mismatch-accepted",
        role=SERVER,
        versions=V01,
        breaks="answers connected where the ids mismatch",
        targets=("server.handshake.mismatch.*", "server.handshake.nothing-after-refusal"),
        handler=handlers.MismatchAccepted,
    ),
    Mutant(
        name="interrupted-refused",
        role=SERVER,
        versions=V01,
        breaks="treats an interrupted first handshake as a mismatch",
        targets=("server.handshake.interrupted-first",),
        handler=handlers.InterruptedRefused,
    ),
    Mutant(
        name="open-after-refusal",
        role=SERVER,
        versions=V0,
        breaks="keeps the connection open and ACKs after a refusal (field quirk)",
        targets=(
            "server.handshake.quarantined",
            "server.handshake.unsupported-*",
            "server.handshake.mismatch.*",
            "server.handshake.nothing-after-refusal",
            "server.handshake.nothing-after-quarantined",
        ),
        rules=edits.stays_open_after_refusal(),
    ),
    Mutant(
        name="any-version",
        role=SERVER,
        versions=V0,
        breaks="accepts protocol version 1",
        targets=("server.handshake.unsupported-protocol-version",),
        rules=edits.accepts_any_version(),
    ),
    Mutant(
        name="quarantine-ignored",
        role=SERVER,
        versions=V01,
        breaks="lets a quarantined client in",
        targets=("server.handshake.quarantined", "server.handshake.nothing-after-quarantined"),
        serve={"quarantine": ()},
    ),
    Mutant(
        name="app-version-ignored",
        role=SERVER,
        versions=V01,
        breaks="accepts every application version",
        targets=("server.handshake.unsupported-application-version",),
        serve={"reject_app_version": ()},
    ),
    Mutant(
        name="quirk-before-handshake",
        role=SERVER,
        versions=V0,
        breaks="ACKs a PUBLISH and answers a PING before the handshake (field quirk)",
        targets=("server.handshake.publish-before-request", "server.handshake.ping-before-request"),
        rules=edits.quirk_before_handshake(),
    ),
    Mutant(
        name="second-request-ignored",
        role=SERVER,
        versions=V0,
        breaks="ignores a second connection request",
        targets=("server.handshake.second-request",),
        rules=edits.ignores_second_request(),
    ),
    Mutant(
        name="never-closes-silent",
        role=SERVER,
        versions=V0,
        breaks="never closes a silent connection",
        targets=("server.keepalive.silence-closes", "server.handshake.closes-silent-handshake"),
        rules=edits.never_closes_silent(),
    ),
    Mutant(
        name="server-pings",
        role=SERVER,
        versions=V0,
        breaks="sends PING when idle",
        targets=("server.keepalive.never-pings",),
        rules=edits.server_pings(),
    ),
    Mutant(
        name="no-replacement",
        role=SERVER,
        versions=V01,
        breaks="keeps the older connection of a client open",
        targets=("server.connection.second-replaces-first",),
        handler=handlers.NoReplacement,
    ),
    Mutant(
        name="no-redelivery",
        role=SERVER,
        versions=V01,
        breaks="treats a sent event as delivered",
        targets=("server.delivery.redelivery",),
        handler=handlers.NoRedeliveryServer,
    ),
    Mutant(
        name="nothing-on-connect",
        role=SERVER,
        versions=V01,
        breaks="publishes nothing on connect",
        targets=("server.delivery.*",),
        serve={"publish_on_connect": 0},
    ),
    Mutant(
        name="nacks-duplicates",
        role=SERVER,
        versions=V01,
        breaks="NACKs an event it already stored",
        targets=(
            "server.publish.duplicate-event",
            "server.publish.redelivered-after-reconnect",
            "server.v1.batch.resent",
        ),
        handler=handlers.NacksDuplicates,
    ),
    Mutant(
        name="poison-accepted",
        role=SERVER,
        versions=V01,
        breaks="ACKs poison events",
        targets=("server.publish.poison-nack",),
        serve={"nack_key_prefix": None},
    ),
    Mutant(
        name="no-close-v1",
        role=SERVER,
        versions=V01,
        breaks="closes version-1 connections without CLOSE, after malformed input and after a refusal",
        targets=("server.v1.close.*",),
        rules=edits.no_close_v1(),
    ),
    Mutant(
        name="wrong-close-class",
        role=SERVER,
        versions=V01,
        breaks="sends CLOSE out_of_place_frame whatever the protocol error on a version-1 connection",
        targets=("server.v1.close.after-malformed",),
        rules=edits.wrong_close_class(),
    ),
    Mutant(
        name="tolerant",
        role=SERVER,
        versions=V0,
        breaks="ignores malformed and out-of-place frames instead of closing",
        targets=("server.malformed.*",),
        rules=edits.tolerant(),
    ),
    Mutant(
        name="crash-logging",
        role=SERVER,
        versions=V0,
        breaks="logs a crash report and closes cleanly on malformed input (field crash, seen only in its log)",
        targets=("server.malformed.*",),
        settings=_crash_logging,  # its Rules edit writes to the self-test's crash log
        observed=True,
    ),
    Mutant(
        name="crash-logging-v1",
        role=SERVER,
        versions=V01,
        breaks="logs a crash report and closes without CLOSE on malformed version-1 input (a crash, seen two ways)",
        targets=("server.v1.close.after-malformed",),
        settings=_crash_logging_v1,  # its Rules edit writes to the self-test's crash log
        observed=True,
    ),
    Mutant(
        name="crash-on-unknown-type",
        role=SERVER,
        versions=V0,
        breaks="the whole server exits on an unknown frame type (field crash, made global)",
        targets=("server.malformed.unknown-type-*",),
        rules=edits.crash_on_unknown_type(),
    ),
    Mutant(
        name="no-reassembly",
        role=SERVER,
        versions=V0,
        breaks="drops partial frames between reads",
        targets=("server.framing.byte-by-byte", "server.framing.stall-mid-frame"),
        rules=edits.no_reassembly(),
    ),
    Mutant(
        name="first-frame-only",
        role=SERVER,
        versions=V0,
        breaks="processes one frame per read",
        targets=("server.framing.coalesced",),
        rules=edits.first_frame_only(),
    ),
    Mutant(
        name="small-frames",
        role=SERVER,
        versions=V01,
        breaks="refuses frames above 60,000 bytes",
        targets=("server.framing.frame-65535",),
        settings=_fixed(limits=Limits(max_frame_size=60000)),
    ),
    Mutant(
        name="serial",
        role=SERVER,
        versions=V01,
        breaks="serves one connection at a time",
        targets=("server.hostile.length-prefix-stall", "server.connection.second-replaces-first"),
        serve={"max_sessions": 1},
    ),
    Mutant(
        name="no-client-auth",
        role=SERVER,
        versions=V01,
        breaks="accepts clients without a verified certificate",
        targets=("server.tls.no-client-certificate", "server.tls.other-ca"),
        handler=handlers.AnonymousAllowed,
        settings=_tls(_verify_none),
    ),
    Mutant(
        name="plaintext",
        role=SERVER,
        versions=V01,
        breaks="speaks Sink over plain TCP",
        targets=("server.tls.plaintext",),
        handler=handlers.AnonymousAllowed,
        settings=_plaintext,
    ),
    Mutant(
        name="tls12-only",
        role=SERVER,
        versions=V01,
        breaks="offers at most TLS 1.2",
        targets=("server.tls.tls13",),
        settings=_tls(_tls12_only),
    ),
    Mutant(
        name="tls13-only",
        role=SERVER,
        versions=V01,
        breaks="offers only TLS 1.3",
        targets=("server.tls.tls12",),
        settings=_tls(_tls13_only),
    ),
    Mutant(
        name="tls11-allowed",
        role=SERVER,
        versions=V01,
        breaks="accepts TLS 1.1",
        targets=("server.tls.tls11-refused",),
        settings=_tls(_tls11_allowed),
    ),
    # -- server, resource-bound cases: they reject the hostile input, or would close, but too late for the
    # profile's [limits] ----------------------------------------------------------------------------------------
    Mutant(
        name="slow-reject",
        role=SERVER,
        versions=V0,
        breaks=f"closes on a malformed frame only after {handlers.SLOW_REJECT_DELAY} s",
        targets=("server.resources.overlong-varint",),
        handler=handlers.SlowReject,
    ),
    Mutant(
        name="slow-reject-v1",
        role=SERVER,
        versions=V01,
        breaks=f"speaks version 1; closes on a gzip bomb only after {handlers.SLOW_REJECT_DELAY} s",
        targets=("server.resources.batch-gzip-bomb",),
        handler=handlers.SlowReject,
    ),
    Mutant(
        name="prefix-stall-kept",
        role=SERVER,
        versions=V0,
        breaks="never closes a connection stalled inside a frame",
        targets=("server.resources.length-prefix-silence",),
        rules=edits.never_closes_silent(),
    ),
    # -- server, version-1 cases (spec/v1) ------------------------------------------------------------------------
    Mutant(
        name="version-0-only",
        role=SERVER,
        versions=V0,
        breaks="refuses version 1 although the profile says it speaks it (--protocol-version 0)",
        targets=("server.v1.handshake.accepted", "server.v1.batch.ack"),
        serve={"protocol_version": 0},
    ),
    Mutant(
        name="refuses-version-0",
        role=SERVER,
        versions=(1,),
        breaks="refuses version-0 requests on its version-1 port",
        targets=("server.v1.handshake.version-0-same-port",),
    ),
    Mutant(
        name="no-reader-schemas",
        role=SERVER,
        versions=V01,
        breaks="declares no reader schemas (--no-reader-schemas)",
        targets=("server.v1.readers.declared",),
        serve={"no_reader_schemas": True},
    ),
    Mutant(
        name="ignores-client-declaration",
        role=SERVER,
        versions=V01,
        breaks="publishes events the client did not declare it reads",
        targets=("server.v1.readers.honours-client-declaration",),
        rules=edits.ignores_declaration(),
    ),
    Mutant(
        name="acks-unreadable",
        role=SERVER,
        versions=V01,
        breaks="ACKs events whose schema it cannot read, alone or in a batch",
        targets=("server.v1.publish.unknown-schema", "server.v1.batch.partial-nack"),
        handler=handlers.AcksUnreadable,
    ),
    Mutant(
        name="batch-result-shifted",
        role=SERVER,
        versions=V01,
        breaks="names each NACKed event of a batch one index too far",
        targets=("server.v1.batch.partial-nack",),
        rules=edits.batch_result_shifted(),
    ),
    Mutant(
        name="batch-ack-wrong-id",
        role=SERVER,
        versions=V01,
        breaks="ACKs a batch with message id + 1",
        targets=("server.v1.batch.ack",),
        rules=edits.batch_ack_wrong_id(),
    ),
    Mutant(
        name="oversized-batch-accepted",
        role=SERVER,
        versions=V01,
        breaks="accepts batches of up to 131,072 events",
        targets=("server.v1.batch.too-many-events",),
        handler=handlers.AcksAnyBatch,
        settings=_fixed(limits=Limits(max_batch_events=1 << 17)),
    ),
    Mutant(
        name="tolerant-v1",
        role=SERVER,
        versions=V01,
        breaks="ignores malformed and out-of-place frames on version-1 connections",
        targets=(
            "server.v1.batch.too-many-events",
            "server.v1.batch.malformed",
            "server.v1.batch.duplicate-message-id",
        ),
        rules=edits.tolerant(),
    ),
    Mutant(
        name="batch-id-reused",
        role=SERVER,
        versions=V01,
        breaks="takes a second batch with an unanswered message id as a new batch",
        targets=("server.v1.batch.duplicate-message-id",),
        rules=edits.batch_id_reused(),
    ),
    Mutant(
        name="no-records-mode",
        role=SERVER,
        versions=V01,
        breaks="declares what it reads but cannot decode records-mode batches (no writer schemas)",
        targets=("server.v1.batch.records",),
        settings=_fixed(record_schemas=None),
    ),
    # -- server, context coding (spec/v1/context.md): `sink serve` declares context_bases 16 unless told otherwise --
    Mutant(
        name="claims-base",
        role=SERVER,
        versions=V01,
        breaks="ACKs a batch naming a base it does not hold (unread) instead of NACKing it unknown_base",
        targets=(
            "server.v1.context.base-accepted",
            "server.v1.context.base-survives-reconnect",
            "server.v1.context.unknown-base",
            "server.v1.context.wrong-digest",
            "server.v1.context.partial-not-base",
        ),
        rules=edits.claims_base(),
    ),
    Mutant(
        name="forgets-bases",
        role=SERVER,
        versions=V01,
        breaks="keeps the bases of a client for one connection only (none loaded from its store)",
        targets=("server.v1.context.base-survives-reconnect",),
        handler=handlers.ForgetsBases,
    ),
    Mutant(
        name="keeps-refused-base",
        role=SERVER,
        versions=V01,
        breaks="keeps a context batch as a base although it NACKed some of its events (a BATCH_RESULT)",
        targets=("server.v1.context.partial-not-base",),
        rules=edits.keeps_refused_base(),
    ),
    Mutant(
        name="tolerant-context",
        role=SERVER,
        versions=V01,
        breaks="declares context_bases, and ignores malformed frames (context batches included) instead of closing",
        targets=("server.v1.context.malformed.*",),
        rules=edits.tolerant(),
    ),
    Mutant(
        name="context-undeclared-tolerant",
        role=SERVER,
        versions=V01,
        breaks="declares no context_bases, and ignores the context batches it cannot take instead of closing",
        targets=("server.v1.context.undeclared",),
        rules=edits.tolerant(),
        serve={"context_bases": 0},
    ),
    # -- server, slow rather than wrong: for load mode's tests (tests/test_load_mode.py), not the self-test (no
    # case may fail against it, and the catalogue's prompt reactions would) ------------------------------------
    Mutant(
        name="slow-acks",
        role=SERVER,
        versions=V01,
        breaks=f"answers each event {handlers.SLOW_ACK_DELAY} s after storing it, one after the other",
        targets=(),
        handler=handlers.SlowAcks,
    ),
    Mutant(
        name="drops-acks",
        role=SERVER,
        versions=V01,
        breaks=f"stores every event, but never sends one ACK in {edits.DROPPED_ACK_EVERY}",
        targets=(),
        rules=edits.drops_acks(),
    ),
    # -- client, version-0 cases (`sink connect`) -------------------------------------------------------------
    Mutant(
        name="ping-first",
        role=CLIENT,
        versions=V0,
        breaks="sends PING before its connection request",
        targets=("client.handshake.request-first",),
        rules=edits.ping_first(),
    ),
    Mutant(
        name="publish-before-response",
        role=CLIENT,
        versions=V0,
        breaks="publishes right after its request, before the response",
        targets=("client.handshake.waits-for-response",),
        rules=edits.publish_before_response(),
    ),
    Mutant(
        name="forgets-server-id",
        role=CLIENT,
        versions=V0,
        breaks="does not persist the server_instance_id of hello_new_client",
        targets=("client.handshake.stores-server-instance-id",),
        handler=handlers.ForgetsServerId,
    ),
    Mutant(
        name="open-after-refusal",
        role=CLIENT,
        versions=V0,
        breaks="stays open and publishes after a refusal",
        targets=("client.handshake.refused.*",),
        rules=edits.open_after_refusal_client(),
    ),
    Mutant(
        name="message-id-stuck",
        role=CLIENT,
        versions=V0,
        breaks="reuses one message id for every PUBLISH",
        targets=("client.publish.after-handshake",),
        rules=edits.message_id_stuck(),
    ),
    Mutant(
        name="no-redelivery",
        role=CLIENT,
        versions=V0,
        breaks="treats a sent event as delivered",
        targets=("client.delivery.resend-after-reconnect",),
        handler=handlers.NoRedeliveryClient,
    ),
    Mutant(
        name="resends-nacked",
        role=CLIENT,
        versions=V0,
        breaks="publishes a NACKed event again",
        targets=("client.delivery.nacked-not-resent",),
        handler=handlers.ResendsNacked,
    ),
    Mutant(
        name="wrong-ack-id",
        role=CLIENT,
        versions=V0,
        breaks="ACKs with message id + 1",
        targets=("client.messaging.*",),
        rules=edits.wrong_ack_id(),
    ),
    Mutant(
        name="no-pong",
        role=CLIENT,
        versions=V0,
        breaks="never answers PING",
        targets=("client.ping.*",),
        rules=edits.no_pong(),
    ),
    Mutant(
        name="never-pings",
        role=CLIENT,
        versions=V0,
        breaks="never sends PING",
        targets=("client.keepalive.pings-when-idle",),
        rules=edits.never_pings(),
    ),
    Mutant(
        name="never-closes-silent",
        role=CLIENT,
        versions=V0,
        breaks="never closes a silent connection",
        targets=("client.keepalive.silence-closes",),
        rules=edits.never_closes_silent(),
    ),
    Mutant(
        name="tolerant",
        role=CLIENT,
        versions=V0,
        breaks="ignores malformed and out-of-place frames",
        targets=("client.malformed.*",),
        rules=edits.tolerant(),
    ),
    # -- client, version-1 cases (`sink connect --protocol-version 1`) -----------------------------------------
    Mutant(
        name="no-fallback",
        role=CLIENT,
        versions=V01,
        breaks="offers version 1 again after unsupported_protocol_version",
        targets=("client.v1.fallback",),
        handler=handlers.ForgetsRefusal,
    ),
    Mutant(
        name="ignores-declaration",
        role=CLIENT,
        versions=V01,
        breaks="publishes events the server did not declare it reads",
        targets=("client.v1.honours-declaration",),
        rules=edits.ignores_declaration(),
    ),
    Mutant(
        name="resends-batch-nacks",
        role=CLIENT,
        versions=V01,
        breaks="publishes the NACKed events of a batch again",
        targets=("client.v1.batch-result",),
        handler=handlers.ResendsBatchNacks,
    ),
    Mutant(
        name="tolerant-v1",
        role=CLIENT,
        versions=V01,
        breaks="ignores malformed and out-of-place frames on version-1 connections",
        targets=("client.v1.batch-result-bad-index",),
        rules=edits.tolerant(),
    ),
    Mutant(
        name="batch-ack-wrong-id",
        role=CLIENT,
        versions=V01,
        breaks="ACKs the server's batch with message id + 1",
        targets=("client.v1.batch-answered",),
        rules=edits.batch_ack_wrong_id(),
    ),
    Mutant(
        name="ignores-declared-limits",
        role=CLIENT,
        versions=V01,
        breaks="sends what the version-0 defaults allow, whatever limits the server declared",
        targets=("client.v1.honours-declared-limits",),
        rules=edits.ignores_declared_limits(),
    ),
    Mutant(
        name="ignores-retry-after",
        role=CLIENT,
        versions=V01,
        breaks="reconnects on its backoff step, ignoring the retry_after of the server's CLOSE",
        targets=("client.v1.close.retry-after",),
        settings=_ignores_retry_after,
    ),
    # -- client, context coding (spec/v1/context.md) ---------------------------------------------------------------
    Mutant(
        name="codes-against-unaccepted",
        role=CLIENT,
        versions=V01,
        breaks="takes each batch it sends in mode context for a base at once, before (or without) the server's ACK",
        targets=("client.v1.context.acked-bases-only", "client.v1.context.unanswered-not-base"),
        handler=handlers.CodesAgainstUnaccepted,
    ),
    Mutant(
        name="reuses-batch-ids",
        role=CLIENT,
        versions=V01,
        breaks="gives every batch in mode context the same batch_id",
        targets=("client.v1.context.acked-bases-only",),
        handler=handlers.ReusesBatchIds,
    ),
    Mutant(
        name="keeps-bases-after-unknown-base",
        role=CLIENT,
        versions=V01,
        breaks="after NACK unknown_base resends the events naming the same base (it forgets no base)",
        targets=("client.v1.context.fallback",),
        handler=handlers.KeepsBasesAfterUnknownBase,
    ),
    Mutant(
        name="drops-unknown-base",
        role=CLIENT,
        versions=V01,
        breaks="takes NACK unknown_base for any NACK: the batch's events become dead letters, never resent",
        targets=("client.v1.context.fallback",),
        rules=edits.drops_unknown_base(),
    ),
    Mutant(
        name="context-to-undeclared",
        role=CLIENT,
        versions=V01,
        breaks="reads every server's declaration as declaring context_bases: sends mode context to servers that "
        "take none",
        targets=("client.v1.context.undeclared",),
        rules=edits.context_to_undeclared(),
    ),
    # -- client, for fuzz mode only (`sink-check fuzz client`): a crash is not something a case can tell from a
    # close, so no case targets it and the self-test does not run it ------------------------------------------
    Mutant(
        name="crash-on-unknown-type",
        role=CLIENT,
        versions=V0,
        breaks="exits on a frame of an unknown type",
        targets=(),
        rules=edits.crash_on_unknown_type_nibble(),
    ),
)


def find_mutant(role: Role, name: str) -> Mutant:
    """The mutant of ``role`` called ``name`` (a server and a client mutant may share a name)."""
    return next(m for m in MUTANTS if m.role is role and m.name == name)
