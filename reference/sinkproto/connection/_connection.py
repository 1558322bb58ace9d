"""The one :class:`Connection`: dispatch of inputs through the :class:`~sinkproto.connection.Rules` it runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ..codec import DEFAULT as DEFAULT_CODEC
from ..codec import Codec
from ..errors import LimitExceeded, LocalProtocolError
from ..events import ConnectionEvent
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import (
    DECLARED_BOUNDS,
    MAX_MESSAGE_ID,
    BaseLookup,
    BatchContext,
    BatchFormat,
    BatchPublish,
    Close,
    CloseCode,
    ConnectionRequest,
    ConnectionResponse,
    ContextBase,
    DeclaredLimits,
    Event,
    Frame,
)
from ..readers import ReaderSchemas
from ..records import RecordSchemas
from ..stream import Deframer, frame_bytes
from ..versions import SUPPORTED_VERSIONS
from ._alphabet import (
    ACCEPTED,
    DEFAULT_KEEPALIVE,
    OUT_OF_PLACE_RULE,
    SILENCE_FACTOR,
    Input,
    PeerViolation,
    Refusal,
    Role,
    State,
    UnsupportedRequest,
    frame_name,
    pick,
)
from ._ledger import Ledger
from ._table import DEFAULT_RULES, Rules

__all__ = ["Connection", "SUPPORTED_VERSIONS"]


class Connection:
    """One Sink connection, client or server side, any protocol version, without I/O.

    ``versions``: the protocol versions this side speaks. A client offers the
    highest (VER-1); a server accepts any of them on one port (VER-6).
    ``negotiated_version`` is None until the handshake. ``now`` is the time
    the transport (TLS) became ready; the silence timer starts there (KEEP-5).
    ``keepalive`` is K in seconds (KEEP-1); on a version-1 connection the K
    in force (:attr:`keepalive`) is the smaller of both sides' from the
    handshake on (KEEP-7). ``max_in_flight`` bounds our
    unanswered PUBLISHes and batches (MSGID-5). ``codec`` encodes, decodes
    and deframes. ``record_schemas``: the writer schemas this side knows, for
    batches in records mode (RECORD-2). ``rules``: the transition table it
    runs (:data:`~sinkproto.connection.DEFAULT_RULES`). ``bases``: the bases
    this side holds for the peer (CTX-8, CTX-9), used once this side's
    handshake frame declared a ``context_bases`` of 1 or more (CTX-1); the
    connection keeps its own copy up to date (:attr:`bases`) and reports what
    the application persists (``BatchReceived.base``, ``BaseMissing``).
    """

    def __init__(
        self,
        role: Role,
        *,
        now: float,
        message_id_start: int,
        versions: Iterable[int] = (0,),
        keepalive: float = DEFAULT_KEEPALIVE,
        limits: Limits = DEFAULT_LIMITS,
        max_in_flight: int = MAX_MESSAGE_ID + 1,
        codec: Codec = DEFAULT_CODEC,
        record_schemas: RecordSchemas | None = None,
        rules: Rules = DEFAULT_RULES,
        bases: BaseLookup | None = None,
    ) -> None:
        versions = tuple(sorted(set(versions)))
        if not versions or any(v not in SUPPORTED_VERSIONS for v in versions):
            raise ValueError(f"versions must be some of {SUPPORTED_VERSIONS}")
        if not 0 <= message_id_start <= MAX_MESSAGE_ID:
            raise ValueError("message_id_start must be in 0..4095")
        if keepalive <= 0:
            raise ValueError("keepalive must be positive")
        if not 1 <= max_in_flight <= MAX_MESSAGE_ID + 1:
            raise ValueError("max_in_flight must be in 1..4096")
        self.role = role
        self.versions: tuple[int, ...] = versions
        self.configured_keepalive = float(keepalive)
        self.limits = limits
        self.max_in_flight = max_in_flight
        self.codec = codec
        self.record_schemas = record_schemas
        self.rules = rules
        self.ledger = Ledger(message_id_start, max_in_flight)
        self.deframer = Deframer(limits)
        self.handshake_response: ConnectionResponse | None = None
        self.negotiated_version: int | None = None
        self._wire_version = versions[-1]
        self.peer_reader_schemas: ReaderSchemas | None = None  # SNEG-4: what the peer said it reads
        self.own_declared_limits: DeclaredLimits | None = None  # DECL-1: what our handshake frame declared
        self.peer_declared_limits: DeclaredLimits | None = None  # DECL-4: what the peer's declared
        self.last_received = now
        self.last_sent = now
        self._state = State.SEND_REQUEST if role is Role.CLIENT else State.AWAIT_REQUEST
        self._silence_from = now  # re-based when a silence timer fired and its row kept the connection
        self._outgoing = bytearray()
        self._held: list[bytes] = []  # frames that arrived while the server was deciding
        self._records_for_peer: tuple[ReaderSchemas | None, RecordSchemas | None] = (None, None)
        # CTX-8, CTX-9: batch_id -> base, oldest accepted first; the application's (loaded from its store) at the start
        self.bases: dict[int, ContextBase] | None = None if bases is None else dict(bases)

    # -- the version ---------------------------------------------------------------------------------

    @property
    def wire_version(self) -> int:
        """The negotiated version, or before the handshake the highest this side speaks (VER-10)."""
        return self._wire_version

    def negotiate(
        self,
        version: int,
        peer_reader_schemas: ReaderSchemas | None,
        peer_declared_limits: DeclaredLimits | None = None,
    ) -> None:
        """The handshake settled the version (VER-6, VER-10), what the peer reads (SNEG-4) and its limits (DECL-4)."""
        self.negotiated_version = version
        self._wire_version = version
        self.peer_reader_schemas = peer_reader_schemas
        self.peer_declared_limits = peer_declared_limits

    # -- declared limits and K (spec/v1/handshake.md#declared-limits-and-keepalive) -------------------

    @property
    def peer_limits(self) -> DeclaredLimits:
        """DECL-4: the peer's receive limits, every one it did not declare at its version-0 default."""
        declared = self.peer_declared_limits
        defaults = DeclaredLimits.defaults()
        if declared is None:
            return defaults
        return DeclaredLimits(**{name: declared.value(name) for name, *_ in DECLARED_BOUNDS})

    @property
    def keepalive(self) -> float:
        """K in force (KEEP-1): on version 1 the smaller of ours and the peer's, 60 s if it declared none (KEEP-7)."""
        if (self.negotiated_version or 0) < 1:
            return self.configured_keepalive
        own = self.own_declared_limits
        ours = float(own.keepalive) if own is not None and own.keepalive is not None else self.configured_keepalive
        return min(ours, float(self.peer_limits.value("keepalive")))

    @property
    def takes_context(self) -> bool:
        """CTX-1: this side's handshake frame declared a ``context_bases`` of 1 or more: it decodes mode context."""
        own = self.own_declared_limits
        return own is not None and own.value("context_bases") >= 1

    def receivable_bases(self) -> BaseLookup | None:
        """What the decoder looks bases up in (CTX-5); None when this side takes no batch in mode context (CTX-1)."""
        if not self.takes_context:
            return None
        if self.bases is None:
            self.bases = {}
        return self.bases

    def _check_peer_limits(self, frame: Frame, encoded: bytes) -> None:
        """DECL-4: refuse, before anything is queued, a frame the peer declared it does not accept."""
        declared = self.peer_declared_limits
        if declared is None:
            return
        if len(encoded) > declared.value("max_frame_size"):
            raise LocalProtocolError(
                f"a frame of {len(encoded)} bytes is above the peer's declared "
                f"max_frame_size={declared.value('max_frame_size')}: split it",
                requirement="DECL-4",
            )
        if isinstance(frame, BatchPublish):
            # The peer's decoder, configured with what it declared, is the judge (events, inflated size, zstd window).
            peer = Limits(
                max_frame_size=declared.value("max_frame_size"),
                max_batch_events=declared.value("max_batch_events"),
                max_decompressed_size=declared.value("max_decompressed_size"),
                max_zstd_window=declared.value("max_zstd_window"),
            )
            context = frame.batch.context
            # CTX-5: the peer holds the base this batch names (it ACKed it), and takes mode context (CTX-1)
            bases: BaseLookup | None = None
            if context is not None:
                bases = {} if context.base is None else {context.base.batch_id: context.base}
            try:
                self.codec.decode_frame(
                    encoded,
                    limits=peer,
                    version=self._wire_version,
                    schemas=self.sendable_record_schemas(),
                    bases=bases,
                )
            except LimitExceeded as exc:
                raise LocalProtocolError(
                    f"the batch is above the peer's declared limits ({exc.detail}): split it", requirement="DECL-4"
                ) from None

    # -- read-only views ------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def in_flight(self) -> Mapping[int, Event]:
        return MappingProxyType(self.ledger.in_flight)

    @property
    def in_flight_batches(self) -> Mapping[int, tuple[Event, ...]]:
        return MappingProxyType(self.ledger.in_flight_batches)

    @property
    def awaiting_answer(self) -> Mapping[int, Event]:
        """PUBLISHes received from the peer that the application has not answered."""
        return MappingProxyType(self.ledger.to_answer)

    @property
    def awaiting_batch_answer(self) -> Mapping[int, tuple[Event, ...]]:
        return MappingProxyType(self.ledger.batches_to_answer)

    @property
    def next_message_id(self) -> int:
        return self.ledger.next_message_id

    def in_flight_events(self) -> list[Event]:
        """Every event of ours in flight, in PUBLISH and in batches."""
        return self.ledger.events_in_flight()

    def peer_can_read(self, event: Event) -> bool:
        """SNEG-4, SNEG-5: without a declaration from the peer, anything may be sent."""
        declared = self.peer_reader_schemas
        return declared is None or declared.can_read(event.event_type_id, event.schema_version)

    def can_publish(self, event: Event | None = None) -> bool:
        """Whether ``publish`` would accept a new PUBLISH now (and this event)."""
        ledger = self.ledger
        if (
            not self.rules.has(self.role, self._state, Input.PUBLISH, self.wire_version)
            or ledger.slots_used() >= self.max_in_flight
            or ledger.slots_used() >= self.peer_limits.value("max_in_flight")
            or ledger.id_busy(ledger.next_message_id)
        ):
            return False
        return event is None or (event.dedupe_key not in ledger.keys and self.peer_can_read(event))

    def sendable_record_schemas(self) -> RecordSchemas | None:
        """RECORD-2: the schemas both sides know, the peer by its declaration; None when the peer declared nothing."""
        declared = self.peer_reader_schemas
        if declared is None or self.record_schemas is None:
            return None
        if self._records_for_peer[0] is not declared:
            pairs = [(t, v) for t, versions in declared.entries for v in versions]
            self._records_for_peer = (declared, self.record_schemas.restricted_to(pairs))
        return self._records_for_peer[1]

    # -- the handler API (docs/reference/connection.md, "Extending the connection") ------------------

    def send(self, frame: Frame, now: float) -> None:
        """Encode ``frame`` at the wire version, frame it and queue it for the peer (within its declared limits)."""
        encoded = self.codec.encode_frame(frame, version=self._wire_version, schemas=self.sendable_record_schemas())
        self._check_peer_limits(frame, encoded)
        self._outgoing += frame_bytes(encoded)
        self.last_sent = now

    def decode(self, raw: bytes) -> Frame:
        """Decode one whole frame at the wire version (raises the codec's DecodeError)."""
        return self.codec.decode_frame(
            raw,
            limits=self.limits,
            version=self._wire_version,
            schemas=self.record_schemas,
            bases=self.receivable_bases(),
        )

    def hold(self, raw: bytes) -> None:
        self._held.append(raw)

    def take_held(self) -> list[bytes]:
        held, self._held = self._held, []
        return held

    def dispatch(self, input: Input, item: Any, now: float) -> list[ConnectionEvent]:
        """Run the row for ``input`` in the current state, enter its next state, run the entry action."""
        row = self.rules.lookup(self.role, self._state, input, self._wire_version)
        if row is None:
            return self._no_row(input, item, now)
        try:
            events = row.handler(self, item, now)
        except PeerViolation as violation:
            return self.dispatch(Input.PEER_ERROR, violation, now)
        if row.next is not None and row.next is not self._state:
            self._state = row.next
            entry = self.rules.on_enter.get(row.next)
            if entry is not None:
                events = [*events, *entry(self, row, now)]
        return events

    def _no_row(self, input: Input, item: Any, now: float) -> list[ConnectionEvent]:
        if input.is_action:
            raise LocalProtocolError(
                f"{input.label} is not allowed for a {self.role.value} in state "
                f"{self._state.value} (version {self.wire_version})",
                requirement=input.rule,
            )
        if input.kind != "frame":
            return []  # a missing PEER_ERROR, timer or transport row: nothing happens
        if isinstance(item, UnsupportedRequest) and item.error is not None:
            error = item.error
            return self.dispatch(Input.PEER_ERROR, PeerViolation(error.error_class, error.requirement, str(error)), now)
        name = "connection_request" if isinstance(item, UnsupportedRequest) else frame_name(item)
        violation = PeerViolation(
            "out_of_place_frame",
            pick(OUT_OF_PLACE_RULE, self.wire_version),
            f"{name} received by a {self.role.value} in state {self._state.value}",
        )
        return self.dispatch(Input.PEER_ERROR, violation, now)

    # -- output ---------------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    # -- local actions --------------------------------------------------------------------------------

    def send_request(self, request: ConnectionRequest, now: float) -> None:
        """Client: the first frame of the connection (HS-1), offering ``max(versions)`` (VER-1)."""
        self.dispatch(Input.SEND_REQUEST, request, now)

    def send_response(
        self,
        response: ConnectionResponse,
        now: float,
        *,
        retry_after: int | None = None,
        human_message: bytes = b"",
    ) -> list[ConnectionEvent]:
        """Server: answer the request (HS-3); a refusal closes the connection (HS-19).

        On version 1 a refusal is followed by a CLOSE (CLOSE-4) that may say
        when to come back (``retry_after``, seconds) and why (``human_message``).
        """
        if response.response in ACCEPTED:
            return self.dispatch(Input.SEND_RESPONSE_ACCEPTED, response, now)
        item: ConnectionResponse | Refusal = response
        if retry_after is not None or human_message:
            item = Refusal(response=response, retry_after=retry_after, human_message=human_message)
        return self.dispatch(Input.SEND_RESPONSE_REFUSED, item, now)

    def publish(self, event: Event, now: float) -> int:
        """Send one event; returns its message id (MSGID-1..MSGID-7, SNEG-4)."""
        self.ledger.last_allocated = None
        self.dispatch(Input.PUBLISH, event, now)
        return self._allocated()

    def publish_batch(
        self,
        events: Iterable[Event],
        now: float,
        *,
        format: BatchFormat | None = None,
        context: BatchContext | None = None,
    ) -> int:
        """Send events as one BATCH_PUBLISH (BPUB-2..BPUB-8); returns its message id.

        ``format`` None lets the encoder pick the smallest encoding (CODEC-5).
        A batch that does not fit 65,535 bytes raises EncodeError and changes
        nothing: the caller splits it (BPUB-5). ``context``: send it in mode
        context (CTX-2), with this batch id and base; only to a peer that
        declared a ``context_bases`` of 1 or more (CTX-1, else
        LocalProtocolError). Its answer (``BatchAnswered``) says whether it
        became a base (``became_base``) or the peer lacked the base
        (``unknown_base``, CTX-11).
        """
        self.ledger.last_allocated = None
        self.dispatch(Input.PUBLISH_BATCH, (tuple(events), format, context), now)
        return self._allocated()

    def _allocated(self) -> int:
        message_id = self.ledger.last_allocated
        if message_id is None:
            raise LocalProtocolError("the publish handler allocated no message id", requirement="MSGID-1")
        return message_id

    def ack(self, message_id: int, now: float) -> None:
        """Answer a received PUBLISH: stored or processed (MSGID-9)."""
        self.dispatch(Input.ACK, message_id, now)

    def nack(self, message_id: int, now: float, *, machine_message: bytes, human_message: bytes = b"") -> None:
        """Refuse a received, well-formed PUBLISH whose event cannot be processed (DELIV-12)."""
        self.dispatch(Input.NACK, (message_id, machine_message, human_message), now)

    def answer_batch(self, message_id: int, now: float, nacks: Mapping[int, tuple[bytes, bytes]] | None = None) -> None:
        """Answer a received batch once its accepted events are stored (BPUB-10, BPUB-11).

        ``nacks``: index -> (machine_message, human_message). None or empty
        sends an ACK; NACKs of every event with the same messages send a NACK
        (BRES-4); anything else a BATCH_RESULT.
        """
        self.dispatch(Input.ANSWER_BATCH, (message_id, dict(nacks or {})), now)

    def close(self, reason: Close | None = None, now: float | None = None) -> list[ConnectionEvent]:
        """The application ends the connection (TRANS-7).

        On a version-1 connection whose handshake completed, a CLOSE goes
        first (CLOSE-6): ``reason`` (default: ``no_error``, a drain) with
        ``last_message_id`` set by the connection (CLOSE-7).
        """
        item = reason if reason is not None else Close(error_class=CloseCode.NO_ERROR)
        return self.dispatch(Input.CLOSE, item, self.last_received if now is None else now)

    # -- timers (KEEP-1..KEEP-6) ----------------------------------------------------------------------

    def _silence_deadline(self) -> float:
        return max(self.last_received, self._silence_from) + SILENCE_FACTOR * self.keepalive

    def next_timer(self) -> float | None:
        """When ``handle_timer`` must be called next, or None once closed."""
        if self._state is State.CLOSED:
            return None
        version = self.wire_version
        deadline: float | None = None
        if self.rules.has(self.role, self._state, Input.TIMER_SILENCE, version):
            deadline = self._silence_deadline()
        if self.rules.has(self.role, self._state, Input.TIMER_KEEPALIVE, version):
            ping_at = max(self.last_sent, self.last_received) + self.keepalive
            deadline = ping_at if deadline is None else min(deadline, ping_at)
        return deadline

    def handle_timer(self, now: float) -> list[ConnectionEvent]:
        version = self.wire_version
        if now >= self._silence_deadline() and self.rules.has(self.role, self._state, Input.TIMER_SILENCE, version):
            self._silence_from = now  # a row that keeps the connection re-arms 1.5 K later
            return self.dispatch(Input.TIMER_SILENCE, None, now)
        if (
            self.rules.has(self.role, self._state, Input.TIMER_KEEPALIVE, version)
            and now >= max(self.last_sent, self.last_received) + self.keepalive  # the sum next_timer() gives
        ):
            return self.dispatch(Input.TIMER_KEEPALIVE, None, now)
        return []

    # -- input ----------------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[ConnectionEvent]:
        """Feed bytes received from the peer; ``b""`` means the peer closed the stream."""
        return self.dispatch(Input.DATA_RECEIVED if data else Input.PEER_CLOSED, data, now)
