"""What a store-backed peer does with each connection event, without I/O: the session logic.

:class:`ServerLogic` and :class:`ClientLogic` join a
:class:`~sinkproto.connection.Connection` and an
:class:`~sinkproto.store.EventStore`: the handshake decision and the
instance ids it records, what to publish next (the store's pending events
not already in flight), the answer to a received event (stored, and
committed, before the ACK: MSGID-9; a duplicate ACKed again: DELIV-2), the
ACKs and NACKs recorded (a NACKed event is a dead letter and never pending
again: DELIV-11), refusals recorded for the operator (HS-17). Time comes in
as ``now``; nothing here reads a clock, sleeps or touches a socket.

The asyncio peers (:mod:`sinkproto.peers.service`) and the simulator
(:mod:`sinkproto.sim`) both drive these classes. Their public methods are
the documented hooks: a subclass may override any of them (the simulator's
mutants do, to prove each delivery check can fail).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..connection import Connection
from ..events import BaseMissing, BatchAnswered, BatchReceived, PeerClosed
from ..handshake import Quarantine, decide_handshake, records_client
from ..messages import ConnectionRequest, ConnectionResponse, ContextBase, Event, Response
from ..readers import ReaderSchemas
from .answer import Answer
from .backoff import Backoff
from .batching import BatchPolicy, ContextSender, batches_allowed
from .declared import DEFAULT_CONTEXT_BASES, DEFAULT_CONTEXT_LIFETIME, context_declaration, merged

if TYPE_CHECKING:
    from ..store import EventStore

__all__ = [
    "ClientLogic",
    "ServerLogic",
    "ServerPolicy",
    "StoreLogic",
    "UNKNOWN_SCHEMA",
    "WELCOME_EVENT_TYPE",
    "pending_limit",
]

#: machine_message of the NACK of an event whose schema the receiver cannot read (SNEG-8, BRES-7)
UNKNOWN_SCHEMA = b"unknown_schema"
#: event type of the events ``publish_on_connect`` creates (a greeting per connection)
WELCOME_EVENT_TYPE = 9
#: how many pending events are asked of the store at once
BATCH = 256


def pending_limit(policy: BatchPolicy | None) -> int:
    return BATCH if policy is None else max(BATCH, policy.max_batch_size)


@dataclass
class ServerPolicy:
    """What the reference server accepts, refuses and sends (configured by ``sink serve``)."""

    quarantined: dict[str, Quarantine] = field(default_factory=dict)
    rejected_app_versions: frozenset[bytes] = frozenset()
    nack_key_prefix: bytes | None = None  # a poison trigger for tests and demos
    publish_on_connect: int = 0  # fresh events for each client after each handshake
    validate: Callable[[Event], tuple[bytes, bytes] | None] | None = None  # -> (machine, human) to NACK
    # What the server can read (version 1): declared in its accepting responses to version-1 requests (SNEG-3,
    # CONN-11), and an event of any other (event_type_id, schema_version) is NACKed unknown_schema (SNEG-8).
    # None: no declaration, every event is stored (an opaque store-and-forward server, SNEG-5).
    readers: ReaderSchemas | None = None
    # CLOSE-4, CLOSE-9: the seconds a refused client is told to wait before it reconnects (version 1); None: not said
    retry_after: int | None = None
    # CTX-1, CTX-9: the bases kept per client for context coding, declared to version-1 clients (0: none, the
    # server takes no batch in mode context), and for how long at least (seconds)
    context_bases: int = DEFAULT_CONTEXT_BASES
    context_lifetime: int = DEFAULT_CONTEXT_LIFETIME


class StoreLogic:
    """What both roles do with their store: receive, publish from the outbox, record the peer's answers."""

    def __init__(self, store: EventStore, *, on_new: Callable[[str, Event], None] | None = None) -> None:
        self.store = store
        #: called with (peer, event) once a new received event is committed: the application's processing
        self.on_new = on_new
        #: CTX-10..CTX-13: the bases of the peer we send to (a client has one peer; in memory: CTX-12)
        self.context = ContextSender()

    def store_event(self, peer: str, event: Event) -> bool:
        """Store a received event, committed when this returns (MSGID-9); False for a duplicate (DELIV-2).

        A new event is handed to ``on_new`` after the commit; a duplicate is
        neither stored nor processed again.
        """
        new = self.store.store_received(peer, event)
        if new and self.on_new is not None:
            self.on_new(peer, event)
        return new

    def pending(self, peer: str, connection: Connection, policy: BatchPolicy | None) -> list[Event]:
        """The events to publish next to ``peer``, in the store's delivery order, none already in flight.

        An event stays pending until its ACK or NACK is recorded, so whatever
        was in flight when a connection ended goes again on the next one
        (DELIV-1, MSGID-13, BPUB-12). With ``policy`` on a version-1
        connection, what the peer declared it cannot read is left out (BPUB-8).
        """
        in_flight = {e.dedupe_key for e in connection.in_flight_events()}
        batching = policy is not None and batches_allowed(connection)
        events = self.store.pending(peer, limit=pending_limit(policy if batching else None), exclude=in_flight)
        if batching:
            events = [e for e in events if connection.peer_can_read(e)]
        return events

    def acked(self, peer: str, event: Event) -> None:
        self.store.mark_acked(peer, event)

    def nacked(self, peer: str, event: Event, machine_message: bytes, human_message: bytes, now: float) -> None:
        """DELIV-11: a dead letter, never pending again."""
        self.store.mark_nacked(peer, event, machine_message=machine_message, human_message=human_message, nacked_at=now)

    def batch_answered(self, peer: str, answer: BatchAnswered, now: float) -> None:
        """BRES-6: the accepted events of a batch as ACKed (one transaction), each NACKed one as a dead letter.

        CTX-11: a NACK ``unknown_base`` of a batch in mode context records
        nothing: its events stay pending and go again, in a batch that names no
        base (the sender's bases of the peer are forgotten).
        """
        self.context.answered(answer)
        if answer.unknown_base:
            return
        self.store.mark_acked_many(peer, answer.acked_events)
        for event, entry in answer.nacked_events:
            self.nacked(peer, event, entry.machine_message, entry.human_message, now)


class ServerLogic(StoreLogic):
    """The reference server's decisions: handshake, policy checks, storing before the ACK."""

    def __init__(
        self,
        store: EventStore,
        policy: ServerPolicy | None = None,
        *,
        on_new: Callable[[str, Event], None] | None = None,
    ) -> None:
        super().__init__(store, on_new=on_new)
        self.policy = policy or ServerPolicy()

    def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        """The connection response (HS-8..HS-12); a new client's instance id is committed before it is sent (HS-10)."""
        response = decide_handshake(
            request,
            server_instance_id=self.store.instance_id,
            known_client_instance_id=self.store.known_client_instance_id(client),
            quarantine=self.policy.quarantined.get(client),
            app_version_accepted=request.app_version not in self.policy.rejected_app_versions,
        )
        if records_client(response):
            self.store.set_known_client_instance_id(client, request.client_instance_id)  # HS-10: before sending
        accepting = response.response in (Response.CONNECTED, Response.HELLO_NEW_CLIENT)
        if request.version == 1 and accepting and self.policy.readers is not None:
            response = dataclasses.replace(response, reader_schemas=self.policy.readers)  # CONN-11; never on v0
        context = context_declaration(self.policy.context_bases, self.policy.context_lifetime)
        if request.version == 1 and accepting and context is not None:  # CTX-1: this server takes mode context
            response = dataclasses.replace(response, declared_limits=merged(response.declared_limits, context))
        return response

    def bases_for(self, client: str, now: float) -> dict[int, ContextBase] | None:
        """CTX-9: the bases kept for ``client``, for a new connection to decode against; None: no context taken."""
        if self.policy.context_bases < 1:
            return None
        return self.store.context_bases(
            client, now=now, keep=self.policy.context_bases, lifetime=self.policy.context_lifetime
        )

    def keep_base(self, client: str, received: BatchReceived, nacks: Mapping[int, object], now: float) -> None:
        """CTX-8, CTX-9: a batch in mode context about to be ACKed whole is kept as a base, durably, before the ACK.

        Called once the batch's events are stored (``nacks``: what the answer
        refuses); a batch with a NACKed event is never a base.
        """
        base = received.base
        if base is not None and not nacks:
            self.store_base(client, base, now)

    def store_base(self, client: str, base: ContextBase, now: float) -> None:
        """CTX-9: ``base`` kept for ``client`` in the store, within the policy's count and lifetime."""
        if self.policy.context_bases < 1:
            return
        self.store.keep_base(
            client, base, accepted_at=now, keep=self.policy.context_bases, lifetime=self.policy.context_lifetime
        )

    def base_missing(self, client: str, missing: BaseMissing) -> None:
        """CTX-5: ``client`` named a base we lack; the connection NACKed it and forgot the client's bases: so do we."""
        self.store.forget_bases(client)

    def refusal_close(self, response: ConnectionResponse) -> tuple[int | None, bytes]:
        """CLOSE-4: what the CLOSE after a refusal says, ``(retry_after, human_message)``; the policy's
        ``retry_after`` and the response's text (the connection sends it only to a version-1 request)."""
        return self.policy.retry_after, response.human_message or b""

    def connected(self, client: str, now: float) -> None:
        """The handshake completed: ``client`` subscribes to the server's outbox; greetings if configured."""
        self.store.subscribe(client)
        for _ in range(self.policy.publish_on_connect):
            self.store.append(
                event_type_id=WELCOME_EVENT_TYPE,
                key=b"welcome/" + client.encode(),
                schema_version=1,
                timestamp=int(now),
                event_data=b"hello " + client.encode(),
            )

    def answer(self, client: str, event: Event) -> Answer | None:
        """A PUBLISH from ``client``: NACK what the policy refuses (SNEG-8), else store it; None means ACK."""
        readers = self.policy.readers
        if readers is not None and not readers.can_read(event.event_type_id, event.schema_version):
            return Answer.nack(
                UNKNOWN_SCHEMA,
                f"this server cannot read event type {event.event_type_id} "
                f"schema version {event.schema_version}".encode(),
            )  # SNEG-8
        prefix = self.policy.nack_key_prefix
        if prefix is not None and event.key.startswith(prefix):
            return Answer.nack(b"POISON", b"key prefix " + prefix + b" is refused by policy")
        if self.policy.validate is not None:
            refusal = self.policy.validate(event)
            if refusal is not None:
                return Answer.nack(*refusal)
        self.store_event(client, event)  # MSGID-9: durable before the ACK; a duplicate is ACKed again (DELIV-2)
        return None


class ClientLogic(StoreLogic):
    """The reference client's part: its handshake request, the server's instance id, refusals, storing."""

    def __init__(
        self,
        store: EventStore,
        *,
        server_name: str,
        app_version: bytes,
        on_new: Callable[[str, Event], None] | None = None,
    ) -> None:
        super().__init__(store, on_new=on_new)
        self.server_name = server_name
        self.app_version = app_version
        #: CLOSE-9: the ``retry_after`` of the server's last CLOSE, until the next reconnection delay uses it
        self.retry_after: int | None = None

    def connection_request(self) -> ConnectionRequest:
        """HS-5, HS-14: the stored instance ids and the application version."""
        return ConnectionRequest(
            app_version=self.app_version,
            client_instance_id=self.store.instance_id,
            server_instance_id=self.store.server_instance_id_for(self.server_name),
        )

    def hello(self, server_instance_id: int) -> None:
        """HS-13: the server's instance id, committed before anything is published."""
        self.store.set_server_instance_id_for(self.server_name, server_instance_id)

    def connected(self) -> None:
        self.store.subscribe(self.server_name)

    def refused(self, response: ConnectionResponse, now: float) -> None:
        """HS-17: kept for the operator (``sink status`` shows it)."""
        self.store.record_refusal(
            self.server_name,
            now,
            response=response.response.wire_name,
            machine_message=response.machine_message or b"",
            human_message=response.human_message or b"",
        )

    def peer_closed(self, closed: PeerClosed) -> None:
        """The server sent CLOSE (version 1): its ``retry_after`` bounds the next reconnection delay (CLOSE-9)."""
        self.retry_after = closed.retry_after

    def reconnect_delay(self, backoff: Backoff) -> float:
        """DELIV-7, CLOSE-9: the backoff's next step, or the server's ``retry_after`` when that is longer."""
        retry_after, self.retry_after = self.retry_after, None
        return backoff.next_delay(at_least=retry_after)

    def answer(self, event: Event) -> Answer | None:
        """A PUBLISH from the server: stored (a duplicate is ACKed again), then ACKed."""
        self.store_event(self.server_name, event)
        return None

    def synced(self) -> bool:
        """Nothing pending for the server (after an answer is recorded)."""
        return self.store.lag(self.server_name) == 0
