"""The sans-I/O Sink connection, for both roles and every protocol version, in the style of h11.

Feed it what the transport received and the current time; it returns
events, and queues the bytes to send (``data_to_send()``). It owns no
socket, reads no clock and draws no random number: time comes in as ``now``
(seconds, any monotonic origin) and the random first message id as
``message_id_start`` (MSGID-1).

One transition table (:data:`TRANSITIONS`, in ``_table.py``) maps
``(role, state, input)`` to ``(handler, next state)``, each row saying from
which protocol version it applies. Inputs are received frames, local
actions, timers and transport events (:class:`Input`). A connection runs a
:class:`Rules` value (default :data:`DEFAULT_RULES`); a changed copy of it is
the documented seam to change behaviour (docs/reference/connection.md,
"Extending the connection").
"""

from __future__ import annotations

from . import handlers
from ._alphabet import (
    DEFAULT_KEEPALIVE,
    OUT_OF_PLACE_RULE,
    SILENCE_FACTOR,
    Input,
    PeerViolation,
    Refusal,
    Role,
    State,
    UnknownBase,
    UnsupportedRequest,
    classify,
)
from ._api import Handler, HandlerAPI, Row
from ._connection import SUPPORTED_VERSIONS, Connection
from ._ledger import Ledger
from ._table import DEFAULT_RULES, ON_ENTER, TRANSITIONS, Rules

__all__ = [
    "DEFAULT_KEEPALIVE",
    "DEFAULT_RULES",
    "ON_ENTER",
    "OUT_OF_PLACE_RULE",
    "SILENCE_FACTOR",
    "SUPPORTED_VERSIONS",
    "TRANSITIONS",
    "Connection",
    "Handler",
    "HandlerAPI",
    "Input",
    "Ledger",
    "PeerViolation",
    "Refusal",
    "Role",
    "Row",
    "Rules",
    "State",
    "UnknownBase",
    "UnsupportedRequest",
    "classify",
    "handlers",
]
