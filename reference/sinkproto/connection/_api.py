"""What a handler is written against: the connection's handler API, ``Handler`` and ``Row``.

The handlers (``handlers.py``), the table (``_table.py``) and the connection
(``_connection.py``) all depend on these types; keeping them here, below all
three, lets each import them at run time instead of the handlers naming the
connection and the table (an import loop). :class:`HandlerAPI` is the
documented handler API (docs/reference/connection.md, "Extending the
connection"): a replacement handler may use exactly this of the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..codec import Codec
from ..events import ConnectionEvent
from ..limits import Limits
from ..messages import BaseLookup, ConnectionResponse, ContextBase, DeclaredLimits, Event, Frame
from ..readers import ReaderSchemas
from ..records import RecordSchemas
from ..stream import Deframer
from ._alphabet import Input, Role, State
from ._ledger import Ledger

__all__ = ["Handler", "HandlerAPI", "Row"]


class HandlerAPI(Protocol):
    """The part of a :class:`~sinkproto.connection.Connection` a handler may use."""

    role: Role
    versions: tuple[int, ...]
    limits: Limits
    codec: Codec
    record_schemas: RecordSchemas | None
    ledger: Ledger
    deframer: Deframer
    handshake_response: ConnectionResponse | None
    negotiated_version: int | None
    own_declared_limits: DeclaredLimits | None
    peer_declared_limits: DeclaredLimits | None
    last_received: float
    bases: dict[int, ContextBase] | None

    @property
    def state(self) -> State: ...

    @property
    def wire_version(self) -> int: ...

    def send(self, frame: Frame, now: float) -> None: ...

    def decode(self, raw: bytes) -> Frame: ...

    def hold(self, raw: bytes) -> None: ...

    def take_held(self) -> list[bytes]: ...

    def dispatch(self, input: Input, item: Any, now: float) -> list[ConnectionEvent]: ...

    def negotiate(
        self,
        version: int,
        peer_reader_schemas: ReaderSchemas | None,
        peer_declared_limits: DeclaredLimits | None = None,
    ) -> None: ...

    @property
    def peer_limits(self) -> DeclaredLimits: ...

    def peer_can_read(self, event: Event) -> bool: ...

    @property
    def takes_context(self) -> bool: ...

    def receivable_bases(self) -> BaseLookup | None: ...


# handler(conn, item, now): ``item`` is what the input carries (a frame, an event, bytes, a Row for
# state-entry actions); the events it returns go to the application.
Handler = Callable[[HandlerAPI, Any, float], list[ConnectionEvent]]


@dataclass(frozen=True)
class Row:
    """One transition: in ``state``, ``input`` runs ``handler``, then the connection enters ``next`` (None: stays).

    ``since``: the protocol version from which the row applies (the row with
    the greatest ``since`` not above the connection's version wins).
    ``close_reason``: the ``ConnectionClosed.reason`` of a row that enters closed.
    """

    role: Role
    state: State
    input: Input
    handler: Handler
    next: State | None = None
    since: int = 0
    rule: str = ""
    close_reason: str | None = None

    @property
    def key(self) -> tuple[Role, State, Input, int]:
        return self.role, self.state, self.input, self.since
