"""EventStore: the durable event log, subscriptions and handshake state of one peer.

Design (see docs/store.md). One SQLite file, one class, assembled from one
mixin per idea; each module's docstring says how its part works:

- ``_base``: opening (create, check the format, migrate), one transaction
  per call, durability (WAL, ``synchronous=FULL``) and threads.
- ``_log``: the per-topic logs of the events this side produces (DELIV-3,
  DELIV-4).
- ``_outbox``: subscriptions as pointers, the pending events, ACKs.
- ``_policy``, ``_retention``: delivery policies (priority, latest-only
  transmission) and retention, kept in the ``policies`` table and read by
  every call that needs them, so a policy applied by another process
  (``sink policies apply``) takes effect at the running peer's next call.
- ``_dead_letters``: NACKed events (DELIV-11) and their retry.
- ``_inbox``: events received from peers, deduplicated (DELIV-2).
- ``_bases``: the context bases kept per peer (CTX-8, CTX-9).
- ``_peers``: instance ids, remembered protocol versions, contact times
  and refusals, per peer.
- ``_status``: what ``sink status`` shows.
- ``_schema`` (the tables and the format version), ``_sql`` (shared query
  fragments), ``_checks`` (argument checks).

Each mixin touches the database only through ``_StoreBase._read`` and
``_StoreBase._write``; what one part needs from another (the policies, a
peer's pointer) is a function of the open transaction, not a method, so
no mixin depends on another.

No clock, no randomness inside: the instance id comes from the caller's
``new_instance_id``, dead-letter times from ``nacked_at``, retention's
"now" and the peers' last-seen times from the arguments.
"""

from __future__ import annotations

from ._base import _StoreBase
from ._bases import _ContextBases
from ._dead_letters import DeadLetter, _DeadLetters
from ._inbox import _Inbox
from ._log import _Log
from ._outbox import _Outbox
from ._peers import _Peers
from ._policy import _Policies
from ._retention import _Retention
from ._status import _Status

__all__ = ["EventStore", "DeadLetter"]


class EventStore(
    _Log, _Outbox, _Policies, _Retention, _DeadLetters, _Inbox, _ContextBases, _Peers, _Status, _StoreBase
):
    """The durable state of one Sink peer, in one SQLite file.

    Open with :meth:`open`. All methods are synchronous and short (one
    transaction each); every method that changes state is durable when it
    returns. Misuse and database failures raise :class:`StoreError`.
    """
