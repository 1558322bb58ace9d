"""Simulation mutants: a broken peer each, selected by name, that some delivery check must catch.

Each mutant changes the session logic through its documented hooks (a
subclass overriding public methods of :class:`~sinkproto.session.ServerLogic`
or :class:`~sinkproto.session.ClientLogic`) or the connection through the
:class:`~sinkproto.connection.Rules` seam. ``sink sim --mutants`` runs each
for a bounded number of seeds and prints after how many it was caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..connection import DEFAULT_RULES, Connection, Handler, HandlerAPI, Input, Role, Rules, State, handlers
from ..events import BatchAnswered, ConnectionEvent, PeerClosed
from ..messages import ContextBase, Event, Publish
from ..session.batching import BatchPolicy, ContextSender
from ..session.logic import ClientLogic, ServerLogic

__all__ = ["MUTANTS", "Mutant"]


@dataclass(frozen=True, slots=True)
class Mutant:
    """What a mutant replaces: the server's or the clients' logic class, the clients' connection rules."""

    summary: str
    catches: str  # the requirement whose check must catch it
    server_logic: type[ServerLogic] = ServerLogic
    client_logic: type[ClientLogic] = ClientLogic
    client_rules: Rules = DEFAULT_RULES


class AckBeforeCommit(ServerLogic):
    """A write-behind cache: a received event is ACKed at once and committed with the server's next store
    call for that client (the next event, an answer, a handshake); a crash in between loses it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unwritten: list[tuple[str, Event]] = []

    def write_behind(self) -> None:
        while self.unwritten:
            super().store_event(*self.unwritten.pop(0))

    def store_event(self, peer: str, event: Event) -> bool:
        self.write_behind()
        self.unwritten.append((peer, event))
        return True

    def acked(self, peer: str, event: Event) -> None:
        self.write_behind()
        super().acked(peer, event)

    def connected(self, client: str, now: float) -> None:
        self.write_behind()
        super().connected(client, now)


class NoDedupe(ServerLogic):
    """Processes a duplicate again (as if the dedupe key were not looked up)."""

    def store_event(self, peer: str, event: Event) -> bool:
        self.store.store_received(peer, event)
        if self.on_new is not None:
            self.on_new(peer, event)
        return True


class NoResend(ClientLogic):
    """Forgets the events that were in flight when a connection ended: they are never sent again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection: Connection | None = None
        self.last_in_flight: list[tuple[int, bytes, int]] = []
        self.forgotten: set[tuple[int, bytes, int]] = set()

    def pending(self, peer: str, connection: Connection, policy: BatchPolicy | None) -> list[Event]:
        if connection is not self.connection:
            self.forgotten.update(self.last_in_flight)
            self.connection = connection
        events = [e for e in super().pending(peer, connection, policy) if e.dedupe_key not in self.forgotten]
        self.last_in_flight = [e.dedupe_key for e in connection.in_flight_events()] + [e.dedupe_key for e in events]
        return events


class ResendNacked(ClientLogic):
    """Retries a NACKed event automatically: it is a dead letter and pending again at once."""

    def nacked(self, peer: str, event: Event, machine_message: bytes, human_message: bytes, now: float) -> None:
        super().nacked(peer, event, machine_message, human_message, now)
        self.store.retry_dead_letter(peer, event)


class IgnoreRetryAfter(ClientLogic):
    """Reads the server's CLOSE but reconnects on its backoff step, whatever ``retry_after`` says."""

    def peer_closed(self, closed: PeerClosed) -> None:
        self.retry_after = None


class NamesInFlightBase(ContextSender):
    """Names as the base its newest batch of the same type still in flight, before the server ACKed it."""

    def _choose(self, connection: Connection, pair: tuple[int, int], now: float) -> ContextBase | None:
        ledger = connection.ledger
        for message_id, context in reversed(list(ledger.batch_contexts.items())):
            events = ledger.in_flight_batches[message_id]
            if (events[0].event_type_id, events[0].schema_version) == pair:
                return ContextBase(batch_id=context.batch_id, events=events)
        return super()._choose(connection, pair, now)


class UnackedBase(ClientLogic):
    """CTX-10 broken: a batch in flight serves as a base (the server has usually kept it by then, so nothing else
    fails: only the check of what a sender may name catches it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = NamesInFlightBase()


class KeepsBases(ContextSender):
    """Counts a NACK unknown_base but forgets nothing: the resend names the same base again."""

    def answered(self, answer: BatchAnswered) -> ContextBase | None:
        if answer.unknown_base:
            self.fallbacks += 1
            return None
        return super().answered(answer)


class NoFallback(ClientLogic):
    """CTX-11 broken: after unknown_base the events are resent against the base the server said it lacks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = KeepsBases()


def _reuse_in_flight_id(handler: Handler) -> Handler:
    def publish(conn: HandlerAPI, event: Event, now: float) -> list[ConnectionEvent]:
        ledger = conn.ledger
        busy = next(iter(ledger.in_flight), None)
        if busy is None or event.dedupe_key in ledger.keys:
            return handler(conn, event, now)
        conn.send(Publish(message_id=busy, event=event), now)
        ledger.add_publish(busy, event)
        ledger.last_allocated = busy
        return []

    return publish


def _publish_after_refusal() -> Rules:
    # every version's row (version 1 would otherwise wait in `refused` for the server's CLOSE)
    return DEFAULT_RULES.edit(
        Input.RECV_RESPONSE_REFUSED,
        role=Role.CLIENT,
        state=State.AWAIT_RESPONSE,
        handler=handlers.handshake_completed,
        next=State.OPEN,
    )


MUTANTS: dict[str, Mutant] = {
    "ack-before-commit": Mutant("the server ACKs before its store commits", "DELIV-14", server_logic=AckBeforeCommit),
    "no-dedupe": Mutant("the server does not deduplicate", "DELIV-2", server_logic=NoDedupe),
    "no-resend": Mutant("the client forgets to resend after a reconnect", "DELIV-13", client_logic=NoResend),
    "reuse-message-id": Mutant(
        "the client reuses a message id in flight",
        "MSGID-4",
        client_rules=DEFAULT_RULES.wrap(Input.PUBLISH, _reuse_in_flight_id, role=Role.CLIENT),
    ),
    "resend-nacked": Mutant("the client resends a NACKed event", "DELIV-16", client_logic=ResendNacked),
    "ignore-retry-after": Mutant(
        "the client reconnects before the server's retry_after", "CLOSE-9", client_logic=IgnoreRetryAfter
    ),
    "publish-after-refusal": Mutant(
        "the client keeps publishing after a refusal", "DELIV-18", client_rules=_publish_after_refusal()
    ),
    "unacked-base": Mutant("the client names a base the server has not ACKed", "CTX-10", client_logic=UnackedBase),
    "no-context-fallback": Mutant(
        "the client does not fall back after unknown_base", "CTX-11", client_logic=NoFallback
    ),
}
