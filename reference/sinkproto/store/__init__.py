"""The durable event log, subscriptions and handshake state of a Sink peer (SQLite).

``EventStore.open(path, new_instance_id=...)`` gives one peer's store; see
docs/store.md for the schema and the guarantees, docs/operations.md for the
delivery policies (priority, latest-only, retention) and ``sink status``.
"""

from __future__ import annotations

from ._dead_letters import DeadLetter
from ._policy import DeliveryPolicy, PolicySet, Transmission, load_policies, parse_policies
from ._retention import RetentionReport
from ._schema import FORMAT_VERSION
from ._status import LogStatus, PeerStatus, Refusal, StoreStatus, TypeStatus
from ._store import EventStore

__all__ = [
    "EventStore",
    "DeadLetter",
    "FORMAT_VERSION",
    "DeliveryPolicy",
    "PolicySet",
    "Transmission",
    "load_policies",
    "parse_policies",
    "RetentionReport",
    "StoreStatus",
    "PeerStatus",
    "Refusal",
    "TypeStatus",
    "LogStatus",
]
