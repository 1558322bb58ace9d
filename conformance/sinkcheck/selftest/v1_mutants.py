"""Mutants for the protocol-version-1 cases (:mod:`sinkcheck.cases.server_v1`, :mod:`sinkcheck.cases.client_v1`).

Each breaks one rule of spec/v1 in the reference server (``sink serve``,
which accepts versions 0 and 1) or the reference client (``sink connect
--protocol-version 1``). :mod:`.mutants` and :mod:`.client_mutants` append
them to their lists, passing their own ``Mutant`` / ``ClientMutant`` classes
in, so that this module imports neither (they import it at load time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sinkproto.connection import _PeerError
from sinkproto.connection_v1 import ConnectionV1
from sinkproto.events import BatchAnswered, ConnectionEvent
from sinkproto.limits import Limits
from sinkproto.messages import MAX_MESSAGE_ID, Ack, BatchPublish, BatchResult, BatchResultEntry, ConnectionRequest, Event
from sinkproto.peers import Answer, PeerSession
from sinkproto.peers.service import StoreClient, StoreServer

__all__ = ["client_v1_mutants", "server_v1_mutants"]


# -- connection variants (server and client) ----------------------------------------------------------------


class RefusesV0(ConnectionV1):
    """Answers unsupported_protocol_version to version 0 although it speaks 1 (VER-6)."""

    def _on_request(self, frame: Any, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, ConnectionRequest)
        if frame.version == 0:
            return self._refuse_version(0, now)
        return super()._on_request(frame, now)


class BatchResultShifted(ConnectionV1):
    """Names each NACKed event one index too far in a BATCH_RESULT (the last one out of range, BRES-3)."""

    def answer_batch(self, message_id: int, now: float, nacks: Mapping[int, tuple[bytes, bytes]] | None = None) -> None:
        if not nacks:
            return super().answer_batch(message_id, now, nacks)
        self._allow_v1("answer_batch")
        del self._batches_to_answer[message_id]
        self._queue(BatchResult(message_id=message_id, entries=tuple(
            BatchResultEntry(index=i + 1, machine_message=m, human_message=h) for i, (m, h) in sorted(nacks.items()))),
            now)


class BatchAckWrongId(ConnectionV1):
    """ACKs a whole batch with message id + 1 (BPUB-10)."""

    def answer_batch(self, message_id: int, now: float, nacks: Mapping[int, tuple[bytes, bytes]] | None = None) -> None:
        if nacks:
            return super().answer_batch(message_id, now, nacks)
        self._allow_v1("answer_batch")
        del self._batches_to_answer[message_id]
        self._queue(Ack(message_id=(message_id + 1) & MAX_MESSAGE_ID), now)


class TolerantV1(ConnectionV1):
    """Ignores malformed and out-of-place frames instead of closing (ERR-11)."""

    def _protocol_error(self, error_class: str, requirement: str, detail: str) -> list[ConnectionEvent]:
        return []


class BatchIdReused(ConnectionV1):
    """Takes a BATCH_PUBLISH whose message id awaits an answer as a new batch (MSGID-4, ERR-11)."""

    def _on_batch_publish(self, frame: BatchPublish, now: float) -> list[ConnectionEvent]:
        try:
            return super()._on_batch_publish(frame, now)
        except _PeerError:
            self._batches_to_answer[frame.message_id] = frame.batch.events
            return []


class IgnoresDeclaration(ConnectionV1):
    """Sends every event whatever the peer declared it reads (SNEG-4, BPUB-8)."""

    def peer_can_read(self, event: Event) -> bool:
        return True


# -- server handlers ---------------------------------------------------------------------------------------------


class AcksUnreadable(StoreServer):
    """Declares what it reads, but stores and ACKs every event, readable or not (SNEG-8)."""

    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None:
        self.store.store_received(client, event)
        return None


class AcksAnyBatch(StoreServer):
    """ACKs every batch it decodes, without storing it (paired with a raised max_batch_events)."""

    async def on_batch(self, session: PeerSession, client: str, events: tuple[Event, ...]) -> dict[int, Any]:
        return {}


# -- client handlers ---------------------------------------------------------------------------------------------


class ForgetsRefusal(StoreClient):
    """Never remembers that a server refused version 1: offers 1 on every connection (VER-2)."""

    @property
    def version_memory(self) -> dict[str, tuple[int, float]]:
        return {}

    @version_memory.setter
    def version_memory(self, value: dict[str, tuple[int, float]]) -> None:
        pass


class ResendsBatchNacks(StoreClient):
    """Records the accepted events of an answered batch, but leaves the NACKed ones pending (BRES-6, DELIV-11)."""

    async def on_batch_answered(self, session: PeerSession, answer: BatchAnswered) -> None:
        self.store.mark_acked_many(self.server_name, answer.acked_events)
        self._check_synced()


def _set(**options: Any) -> Callable[[Any], dict[str, Any]]:
    """A mutant's server options (:attr:`.mutants.Mutant.options`; what they get, a ``ServerSetup``, is unused)."""
    return lambda setup: dict(options)


def server_v1_mutants(mutant: type[Any]) -> tuple[Any, ...]:
    """Server mutants, built with :class:`.mutants.Mutant`."""
    return (
        mutant("version-0-only", "refuses version 1 although the profile says it speaks it (--protocol-version 0)",
               ("server.v1.handshake.accepted", "server.v1.batch.ack"), serve={"protocol_version": 0}),
        mutant("refuses-version-0", "refuses version-0 requests on its version-1 port",
               ("server.v1.handshake.version-0-same-port",), _set(connection_class=RefusesV0)),
        mutant("no-reader-schemas", "declares no reader schemas (--no-reader-schemas)", ("server.v1.readers.declared",),
               serve={"no_reader_schemas": True}),
        mutant("ignores-client-declaration", "publishes events the client did not declare it reads",
               ("server.v1.readers.honours-client-declaration",), _set(connection_class=IgnoresDeclaration)),
        mutant("acks-unreadable", "ACKs events whose schema it cannot read, alone or in a batch",
               ("server.v1.publish.unknown-schema", "server.v1.batch.partial-nack"), _set(handler_class=AcksUnreadable)),
        mutant("batch-result-shifted", "names each NACKed event of a batch one index too far",
               ("server.v1.batch.partial-nack",), _set(connection_class=BatchResultShifted)),
        mutant("batch-ack-wrong-id", "ACKs a batch with message id + 1", ("server.v1.batch.ack",),
               _set(connection_class=BatchAckWrongId)),
        mutant("oversized-batch-accepted", "accepts batches of up to 131,072 events",
               ("server.v1.batch.too-many-events",),
               _set(limits=Limits(max_batch_events=1 << 17), handler_class=AcksAnyBatch)),
        mutant("tolerant-v1", "ignores malformed and out-of-place frames on version-1 connections",
               ("server.v1.batch.too-many-events", "server.v1.batch.malformed", "server.v1.batch.duplicate-message-id"),
               _set(connection_class=TolerantV1)),
        mutant("batch-id-reused", "takes a second batch with an unanswered message id as a new batch",
               ("server.v1.batch.duplicate-message-id",), _set(connection_class=BatchIdReused)),
        mutant("no-records-mode", "declares what it reads but cannot decode records-mode batches (no writer schemas)",
               ("server.v1.batch.records",), _set(record_schemas=None)),
    )


def client_v1_mutants(mutant: type[Any]) -> tuple[Any, ...]:
    """Client mutants (each runs as ``sink connect --protocol-version 1``), built with ``ClientMutant``."""
    return (
        mutant("no-fallback", "offers version 1 again after unsupported_protocol_version", ("client.v1.fallback",),
               {"handler_class": ForgetsRefusal}, version=1),
        mutant("ignores-declaration", "publishes events the server did not declare it reads",
               ("client.v1.honours-declaration",), {"connection_class": IgnoresDeclaration}, version=1),
        mutant("resends-batch-nacks", "publishes the NACKed events of a batch again", ("client.v1.batch-result",),
               {"handler_class": ResendsBatchNacks}, version=1),
        mutant("tolerant-v1", "ignores malformed and out-of-place frames on version-1 connections",
               ("client.v1.batch-result-bad-index",), {"connection_class": TolerantV1}, version=1),
        mutant("batch-ack-wrong-id", "ACKs the server's batch with message id + 1", ("client.v1.batch-answered",),
               {"connection_class": BatchAckWrongId}, version=1),
    )
