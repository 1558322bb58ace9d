"""The message-id ledger of one connection: what is in flight and what awaits an answer (MSGID-1..MSGID-13)."""

from __future__ import annotations

from ..errors import LocalProtocolError
from ..messages import MAX_MESSAGE_ID, BatchContext, Event

__all__ = ["Ledger"]


class Ledger:
    """Our PUBLISHes and batches in flight, the peer's awaiting our answer, and the next message id.

    Handlers (default or not) keep the bookkeeping here; nothing in it
    sends a frame or changes the connection's state.
    """

    def __init__(self, message_id_start: int, max_in_flight: int) -> None:
        self.next_message_id = message_id_start
        self.max_in_flight = max_in_flight
        self.last_allocated: int | None = None  # the id the last allocate() handed out
        self.in_flight: dict[int, Event] = {}  # our PUBLISHes awaiting ACK/NACK (MSGID-3)
        self.in_flight_batches: dict[int, tuple[Event, ...]] = {}  # our batches awaiting an answer (BPUB-3)
        self.keys: set[tuple[int, bytes, int]] = set()  # dedupe keys of every event of ours in flight (MSGID-6)
        self.to_answer: dict[int, Event] = {}  # the peer's PUBLISHes we have not answered
        self.batches_to_answer: dict[int, tuple[Event, ...]] = {}  # the peer's batches we have not answered
        # CTX-2: the context of our batches in flight and of the peer's awaiting our answer (mode context only)
        self.batch_contexts: dict[int, BatchContext] = {}
        self.received_contexts: dict[int, BatchContext] = {}
        # CLOSE-7: the order in which the peer's units arrived, and the last answered in that order.
        self._received = 0
        self._arrival: dict[int, int] = {}
        self._last_answered: tuple[int, int] | None = None  # (arrival, message_id)

    def note_received(self, message_id: int) -> None:
        """The peer's PUBLISH or batch ``message_id`` arrived (after the ones noted before)."""
        self._received += 1
        self._arrival[message_id] = self._received

    def _note_answered(self, message_id: int) -> None:
        arrival = self._arrival.pop(message_id, self._received)
        if self._last_answered is None or arrival >= self._last_answered[0]:
            self._last_answered = (arrival, message_id)

    @property
    def last_answered(self) -> int | None:
        """CLOSE-7: the message id of the last of the peer's units, in arrival order, that we answered; None: none."""
        return None if self._last_answered is None else self._last_answered[1]

    def slots_used(self) -> int:
        return len(self.in_flight) + len(self.in_flight_batches)

    def id_busy(self, message_id: int) -> bool:
        return message_id in self.in_flight or message_id in self.in_flight_batches

    def allocate(self) -> int:
        """The next message id, checked against MSGID-5 (in-flight bound) and MSGID-4 (id still in flight)."""
        if self.slots_used() >= self.max_in_flight:
            raise LocalProtocolError(f"{self.slots_used()} frames in flight already", requirement="MSGID-5")
        message_id = self.next_message_id
        if self.id_busy(message_id):
            raise LocalProtocolError(
                f"message id {message_id} is still in flight; wait for its answer", requirement="MSGID-4"
            )
        self.last_allocated = message_id
        return message_id

    def advance(self, message_id: int) -> None:
        """MSGID-2: the id after ``message_id``, wrapping 4095 -> 0."""
        self.next_message_id = (message_id + 1) & MAX_MESSAGE_ID

    def add_publish(self, message_id: int, event: Event) -> None:
        self.in_flight[message_id] = event
        self.keys.add(event.dedupe_key)

    def add_batch(self, message_id: int, events: tuple[Event, ...], context: BatchContext | None = None) -> None:
        self.in_flight_batches[message_id] = events
        self.keys.update(e.dedupe_key for e in events)
        if context is not None:
            self.batch_contexts[message_id] = context

    def refused_unread(self, message_id: int) -> None:
        """The peer's batch ``message_id`` arrived and was answered at once, unread (a NACK ``unknown_base``, CTX-5)."""
        self.note_received(message_id)
        self._note_answered(message_id)

    def take_in_flight(self, message_id: int) -> Event | None:
        """Our PUBLISH ``message_id``, no longer in flight; None if it was not."""
        event = self.in_flight.pop(message_id, None)
        if event is not None:
            self.keys.discard(event.dedupe_key)
        return event

    def take_batch(self, message_id: int) -> tuple[Event, ...]:
        events = self.in_flight_batches.pop(message_id)
        self.batch_contexts.pop(message_id, None)
        self.keys.difference_update(e.dedupe_key for e in events)
        return events

    def answered(self, message_id: int) -> Event:
        """The peer's PUBLISH ``message_id`` is answered now (MSGID-8)."""
        if message_id not in self.to_answer:
            raise LocalProtocolError(
                f"no received PUBLISH with message id {message_id} awaits an answer", requirement="MSGID-8"
            )
        self._note_answered(message_id)
        return self.to_answer.pop(message_id)

    def batch_answered(self, message_id: int) -> tuple[Event, ...]:
        """The peer's batch ``message_id`` is answered now (BPUB-10)."""
        if message_id not in self.batches_to_answer:
            raise LocalProtocolError(
                f"no received batch with message id {message_id} awaits an answer", requirement="BPUB-10"
            )
        self._note_answered(message_id)
        self.received_contexts.pop(message_id, None)
        return self.batches_to_answer.pop(message_id)

    def events_in_flight(self) -> list[Event]:
        return [*self.in_flight.values(), *(e for batch in self.in_flight_batches.values() for e in batch)]

    def clear(self) -> tuple[Event, ...]:
        """Forget everything; returns our unanswered events, PUBLISHes then batches (MSGID-13, BPUB-12)."""
        unanswered = tuple(self.events_in_flight())
        for table in (self.in_flight, self.in_flight_batches, self.to_answer, self.batches_to_answer):
            table.clear()
        self.batch_contexts.clear()
        self.received_contexts.clear()
        self.keys.clear()
        return unanswered
