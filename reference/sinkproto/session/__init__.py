"""The session logic between the sans-I/O connection and the event store, itself without I/O.

What a store-backed peer does with its connection's events (:mod:`.logic`),
how it batches (:mod:`.batching`), which version it offers and what it
remembers after a refusal (:mod:`.versions`), and how long it waits before
reconnecting (:mod:`.backoff`). Time and randomness come in as arguments. The
asyncio peers (:mod:`sinkproto.peers`) and the simulator (:mod:`sinkproto.sim`)
drive the same code.
"""

from __future__ import annotations

from .answer import ACK, Answer, Tally, respond
from .backoff import FIELD_STEPS, Backoff
from .batching import (
    BatchPolicy,
    BatchTimer,
    ContextSender,
    batch_order,
    batches_allowed,
    in_flight_events,
    publish_ready,
)
from .declared import PROFILES, declaration
from .logic import UNKNOWN_SCHEMA, WELCOME_EVENT_TYPE, ClientLogic, ServerLogic, ServerPolicy, StoreLogic
from .versions import StoredVersions, fall_back, request_for, version_to_offer

__all__ = [
    "ACK",
    "Answer",
    "Backoff",
    "BatchPolicy",
    "BatchTimer",
    "ClientLogic",
    "ContextSender",
    "FIELD_STEPS",
    "PROFILES",
    "ServerLogic",
    "ServerPolicy",
    "StoreLogic",
    "StoredVersions",
    "Tally",
    "UNKNOWN_SCHEMA",
    "WELCOME_EVENT_TYPE",
    "batch_order",
    "batches_allowed",
    "declaration",
    "fall_back",
    "in_flight_events",
    "publish_ready",
    "request_for",
    "respond",
    "version_to_offer",
]
