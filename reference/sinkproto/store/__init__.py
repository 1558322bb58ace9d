"""The durable event log, subscriptions and handshake state of a Sink peer (SQLite).

``EventStore.open(path, new_instance_id=...)`` gives one peer's store; see
docs/store.md for the schema and the guarantees.
"""

from __future__ import annotations

from ._schema import FORMAT_VERSION
from ._store import DeadLetter, EventStore

__all__ = ["EventStore", "DeadLetter", "FORMAT_VERSION"]
