"""Mutants for the protocol-version-1 cases (:mod:`sinkcheck.cases.server_v1`, :mod:`sinkcheck.cases.client_v1`).

Each breaks one rule of spec/v1 in the reference server (``sink serve``,
which accepts versions 0 and 1) or the reference client (``sink connect
--protocol-version 1``). :mod:`.mutants` and :mod:`.client_mutants` append
them to their lists, passing their own ``Mutant`` / ``ClientMutant`` classes
in, so that this module imports neither (they import it at load time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sinkproto.connection import Rules
from sinkproto.events import BatchAnswered
from sinkproto.limits import Limits
from sinkproto.messages import Event
from sinkproto.peers import Answer, PeerSession
from sinkproto.peers.service import StoreClient, StoreServer

from . import edits

__all__ = ["client_v1_mutants", "server_v1_mutants"]


# -- connection variants (server and client): Rules edits (.edits) on a connection speaking 0 and 1 -----------


def _rules(rules: Rules, versions: tuple[int, ...] | None = None) -> dict[str, Any]:
    return edits.peer_options(rules, versions=versions)


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


class ResendsBatchNacks(StoreClient):
    """Records the accepted events of an answered batch, but leaves the NACKed ones pending (BRES-6, DELIV-11)."""

    async def on_batch_answered(self, session: PeerSession, answer: BatchAnswered) -> None:
        self.store.mark_acked_many(self.server_name, answer.acked_events)
        self.check_synced()


def _set(**options: Any) -> Callable[[Any], dict[str, Any]]:
    """A mutant's server options (:attr:`.mutants.Mutant.options`; what they get, a ``ServerSetup``, is unused)."""
    return lambda setup: dict(options)


def server_v1_mutants(mutant: type[Any]) -> tuple[Any, ...]:
    """Server mutants, built with :class:`.mutants.Mutant`."""
    return (
        mutant(
            "version-0-only",
            "refuses version 1 although the profile says it speaks it (--protocol-version 0)",
            ("server.v1.handshake.accepted", "server.v1.batch.ack"),
            serve={"protocol_version": 0},
        ),
        mutant(
            "refuses-version-0",
            "refuses version-0 requests on its version-1 port",
            ("server.v1.handshake.version-0-same-port",),
            _set(versions=(1,)),
        ),
        mutant(
            "no-reader-schemas",
            "declares no reader schemas (--no-reader-schemas)",
            ("server.v1.readers.declared",),
            serve={"no_reader_schemas": True},
        ),
        mutant(
            "ignores-client-declaration",
            "publishes events the client did not declare it reads",
            ("server.v1.readers.honours-client-declaration",),
            _set(**_rules(edits.ignores_declaration())),
        ),
        mutant(
            "acks-unreadable",
            "ACKs events whose schema it cannot read, alone or in a batch",
            ("server.v1.publish.unknown-schema", "server.v1.batch.partial-nack"),
            _set(handler_class=AcksUnreadable),
        ),
        mutant(
            "batch-result-shifted",
            "names each NACKed event of a batch one index too far",
            ("server.v1.batch.partial-nack",),
            _set(**_rules(edits.batch_result_shifted())),
        ),
        mutant(
            "batch-ack-wrong-id",
            "ACKs a batch with message id + 1",
            ("server.v1.batch.ack",),
            _set(**_rules(edits.batch_ack_wrong_id())),
        ),
        mutant(
            "oversized-batch-accepted",
            "accepts batches of up to 131,072 events",
            ("server.v1.batch.too-many-events",),
            _set(limits=Limits(max_batch_events=1 << 17), handler_class=AcksAnyBatch),
        ),
        mutant(
            "tolerant-v1",
            "ignores malformed and out-of-place frames on version-1 connections",
            ("server.v1.batch.too-many-events", "server.v1.batch.malformed", "server.v1.batch.duplicate-message-id"),
            _set(**_rules(edits.tolerant())),
        ),
        mutant(
            "batch-id-reused",
            "takes a second batch with an unanswered message id as a new batch",
            ("server.v1.batch.duplicate-message-id",),
            _set(**_rules(edits.batch_id_reused())),
        ),
        mutant(
            "no-records-mode",
            "declares what it reads but cannot decode records-mode batches (no writer schemas)",
            ("server.v1.batch.records",),
            _set(record_schemas=None),
        ),
    )


def client_v1_mutants(mutant: type[Any]) -> tuple[Any, ...]:
    """Client mutants (each runs as ``sink connect --protocol-version 1``), built with ``ClientMutant``."""
    return (
        mutant(
            "no-fallback",
            "offers version 1 again after unsupported_protocol_version",
            ("client.v1.fallback",),
            {"handler_class": ForgetsRefusal},
            version=1,
        ),
        mutant(
            "ignores-declaration",
            "publishes events the server did not declare it reads",
            ("client.v1.honours-declaration",),
            _rules(edits.ignores_declaration()),
            version=1,
        ),
        mutant(
            "resends-batch-nacks",
            "publishes the NACKed events of a batch again",
            ("client.v1.batch-result",),
            {"handler_class": ResendsBatchNacks},
            version=1,
        ),
        mutant(
            "tolerant-v1",
            "ignores malformed and out-of-place frames on version-1 connections",
            ("client.v1.batch-result-bad-index",),
            _rules(edits.tolerant()),
            version=1,
        ),
        mutant(
            "batch-ack-wrong-id",
            "ACKs the server's batch with message id + 1",
            ("client.v1.batch-answered",),
            _rules(edits.batch_ack_wrong_id()),
            version=1,
        ),
    )
