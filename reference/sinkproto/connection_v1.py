"""The sans-I/O connection of protocol version 1 (spec/v1): negotiation, batch publish, batch result.

:class:`ConnectionV1` is a :class:`~sinkproto.connection.Connection` that
also speaks version 1. ``version`` is what it offers (client) or the highest
version it accepts (server: every version from 0 up to it, on one port,
VER-6). The negotiated version is the version of the accepted connection
request; a connection negotiated at version 0 is a version-0 connection in
every respect (VER-8): the version-0 transition table, version-0 codec.
Frames of a version-1 connection go through the ``*_v1`` functions of
the connection's ``codec`` (:class:`~sinkproto.codec.Codec`: fast or construct).

Fallback memory is not kept here (a Connection lives for one connection):
the client application or the peers layer remembers, per server, that it
must offer 0 (VER-2), and builds the next ConnectionV1 with ``version=0``.

Every transition driven by a received frame is in :data:`TRANSITIONS_V1`
(version-0's :data:`~sinkproto.connection.TRANSITIONS` plus the batch frames
in the open state of a version-1 connection); anything absent is ERR-11.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .connection import ACTIONS, TRANSITIONS, Connection, Role, State, _PeerError
from .errors import DecodeError, LocalProtocolError, UnsupportedVersion
from .events import BatchAnswered, BatchReceived, ConnectionClosed, ConnectionEvent, PublishAcked, PublishNacked
from .messages import (Ack, BatchFormat, BatchPublish, BatchResult, BatchResultEntry, BatchV1, ConnectionRequest,
    ConnectionResponse, Event, Frame, FrameType, Nack, Ping, Pong, Publish, MAX_MESSAGE_ID)
from .readers import ReaderSchemas
from .records import RecordSchemas

__all__ = ["ConnectionV1", "TRANSITIONS_V1", "ACTIONS_V1", "VERSIONS"]

VERSIONS = (0, 1)

_FRAME_TYPE_V1: dict[type, int] = {
    ConnectionRequest: FrameType.CONNECTION_REQUEST,
    ConnectionResponse: FrameType.CONNECTION_RESPONSE,
    Ack: FrameType.ACK,
    Publish: FrameType.PUBLISH,
    Ping: FrameType.PING,
    Pong: FrameType.PONG,
    Nack: FrameType.NACK,
    BatchPublish: FrameType.BATCH_PUBLISH,
    BatchResult: FrameType.BATCH_RESULT,
}

#: Version-0's table plus the batch frames, allowed only once a version-1 handshake completed (ERR-11).
TRANSITIONS_V1: Mapping[tuple[Role, State, int], str] = MappingProxyType({
    # Item by item: a Mapping's key type is invariant, so TRANSITIONS (keyed by FrameType) cannot be spread as is.
    **{key: handler for key, handler in TRANSITIONS.items()},
    **{(role, State.OPEN, FrameType.BATCH_PUBLISH): "_on_batch_publish" for role in Role},
    **{(role, State.OPEN, FrameType.BATCH_RESULT): "_on_batch_result" for role in Role},
})

#: Local actions of version 1; each is also refused on a connection negotiated at version 0 (BPUB-2).
ACTIONS_V1: Mapping[str, tuple[frozenset[tuple[Role, State]], str]] = MappingProxyType({
    **ACTIONS,
    "publish_batch": (frozenset({(Role.CLIENT, State.OPEN), (Role.SERVER, State.OPEN)}), "BPUB-2"),
    "answer_batch": (frozenset({(Role.CLIENT, State.OPEN), (Role.SERVER, State.OPEN)}), "BPUB-10"),
})


class ConnectionV1(Connection):
    """A Connection that offers (client) or accepts (server) protocol version 1."""

    def __init__(self, role: Role, *, version: int = 1, record_schemas: RecordSchemas | None = None, **options: Any) -> None:
        """``record_schemas``: the writer schemas this side knows, for batches in records mode (RECORD-2).

        Received records batches decode with them; sent batches use records
        mode only for the pairs the peer also declared it reads.
        """
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}")
        super().__init__(role, **options)
        self.version = version
        self.record_schemas = record_schemas
        self._records_for_peer: tuple[ReaderSchemas | None, RecordSchemas | None] = (None, None)
        self.negotiated_version: int | None = None
        self.peer_reader_schemas: ReaderSchemas | None = None  # SNEG-4: what the peer said it reads
        self._v0_encode, self._v0_decode = self._encode_frame, self._decode_frame
        self._encode_frame = self._encode_versioned
        self._decode_frame = self._decode_versioned
        self._batches_in_flight: dict[int, tuple[Event, ...]] = {}  # ours, awaiting an answer (BPUB-3)
        self._batches_to_answer: dict[int, tuple[Event, ...]] = {}  # the peer's, not answered yet

    # -- the version on the wire ----------------------------------------------------------------

    @property
    def wire_version(self) -> int:
        """The negotiated version, or before the handshake the version offered / the highest accepted (VER-10)."""
        return self.version if self.negotiated_version is None else self.negotiated_version

    def _encode_versioned(self, frame: Any) -> bytes:
        return self.codec.encode_frame_v1(frame, self.sendable_record_schemas()) if self.wire_version == 1 else self._v0_encode(frame)

    def _decode_versioned(self, raw: bytes, limits: Any) -> Any:
        if self.wire_version == 1:
            return self.codec.decode_frame_v1(raw, limits, self.record_schemas)
        return self._v0_decode(raw, limits)

    def sendable_record_schemas(self) -> RecordSchemas | None:
        """RECORD-2: the schemas both sides know, the peer by its declaration; None when the peer declared nothing."""
        declared = self.peer_reader_schemas
        if declared is None or self.record_schemas is None:
            return None
        if self._records_for_peer[0] is not declared:
            pairs = [(t, v) for t, versions in declared.entries for v in versions]
            self._records_for_peer = (declared, self.record_schemas.restricted_to(pairs))
        return self._records_for_peer[1]

    @property
    def in_flight_batches(self) -> Mapping[int, tuple[Event, ...]]:
        return MappingProxyType(self._batches_in_flight)

    @property
    def awaiting_batch_answer(self) -> Mapping[int, tuple[Event, ...]]:
        return MappingProxyType(self._batches_to_answer)

    def in_flight_events(self) -> list[Event]:
        """Every event of ours in flight, in PUBLISH and in batches."""
        return [*self._in_flight.values(), *(e for batch in self._batches_in_flight.values() for e in batch)]

    def peer_can_read(self, event: Event) -> bool:
        """SNEG-4, SNEG-5: without a declaration from the peer, anything may be sent."""
        declared = self.peer_reader_schemas
        return declared is None or declared.can_read(event.event_type_id, event.schema_version)

    def _slots_used(self) -> int:
        return len(self._in_flight) + len(self._batches_in_flight)

    def _id_busy(self, message_id: int) -> bool:
        return message_id in self._in_flight or message_id in self._batches_in_flight

    def can_publish(self, event: Event | None = None) -> bool:
        if self._state is not State.OPEN or self._slots_used() >= self.max_in_flight or self._id_busy(self._next_message_id):
            return False
        return event is None or (event.dedupe_key not in self._in_flight_keys and self.peer_can_read(event))

    # -- local actions ------------------------------------------------------------------------------

    def _allow_v1(self, action: str) -> None:
        allowed, requirement = ACTIONS_V1[action]
        if (self.role, self._state) not in allowed or self.negotiated_version != 1:
            raise LocalProtocolError(f"{action} needs an open version-1 connection (state {self._state.value}, "
                                     f"version {self.negotiated_version})", requirement=requirement)

    def send_request(self, request: ConnectionRequest, now: float) -> None:
        if request.version != self.version:
            raise LocalProtocolError(f"this connection offers version {self.version}, the request says {request.version}",
                                     requirement="VER-1")
        super().send_request(request, now)

    def send_response(self, response: ConnectionResponse, now: float) -> list[ConnectionEvent]:
        if response.reader_schemas is not None and self.negotiated_version != 1:
            raise LocalProtocolError("a version-0 connection carries no reader declaration", requirement="CONN-12")
        return super().send_response(response, now)

    def _next_id(self, reason: str) -> int:
        if self._slots_used() >= self.max_in_flight:
            raise LocalProtocolError(f"{self._slots_used()} frames in flight already", requirement="MSGID-5")
        message_id = self._next_message_id
        if self._id_busy(message_id):
            raise LocalProtocolError(f"message id {message_id} is still in flight; wait for its answer", requirement="MSGID-4")
        return message_id

    def publish(self, event: Event, now: float) -> int:
        """One event as a PUBLISH; refused if the peer declared it cannot read it (SNEG-4)."""
        self._allow("publish")
        message_id = self._next_id("publish")
        if event.dedupe_key in self._in_flight_keys:
            raise LocalProtocolError("this (event_type_id, key, offset) is already in flight", requirement="MSGID-6")
        if not self.peer_can_read(event):
            raise LocalProtocolError(f"the peer does not read event type {event.event_type_id} version {event.schema_version}",
                                     requirement="SNEG-4")
        self._queue(Publish(message_id=message_id, event=event), now)
        self._in_flight[message_id] = event
        self._in_flight_keys.add(event.dedupe_key)
        self._next_message_id = (message_id + 1) & MAX_MESSAGE_ID
        return message_id

    def publish_batch(self, events: tuple[Event, ...] | list[Event], now: float, *, format: BatchFormat | None = None) -> int:
        """Send events as one BATCH_PUBLISH (BPUB-2..BPUB-8); returns its message id.

        ``format`` None lets the encoder pick the smallest encoding (CODEC-5).
        A batch that does not fit 65,535 bytes raises EncodeError and changes
        nothing: the caller splits it (BPUB-5).
        """
        self._allow_v1("publish_batch")
        events = tuple(events)
        message_id = self._next_id("publish_batch")
        keys = [e.dedupe_key for e in events]
        if len(set(keys)) != len(keys) or self._in_flight_keys.intersection(keys):
            raise LocalProtocolError("an event of this batch is already in flight or twice in it", requirement="BPUB-4")
        unreadable = [e for e in events if not self.peer_can_read(e)]
        if unreadable:
            raise LocalProtocolError(f"the peer does not read {len(unreadable)} events of this batch", requirement="BPUB-8")
        self._queue(BatchPublish(message_id=message_id, batch=BatchV1(events=events, format=format)), now)
        self._batches_in_flight[message_id] = events
        self._in_flight_keys.update(keys)
        self._next_message_id = (message_id + 1) & MAX_MESSAGE_ID
        return message_id

    def answer_batch(self, message_id: int, now: float, nacks: Mapping[int, tuple[bytes, bytes]] | None = None) -> None:
        """Answer a received batch once its accepted events are stored (BPUB-10, BPUB-11).

        ``nacks``: index -> (machine_message, human_message). None or empty
        sends an ACK; NACKs of every event with the same messages send a NACK
        (BRES-4); anything else a BATCH_RESULT.
        """
        self._allow_v1("answer_batch")
        events = self._batches_to_answer.get(message_id)
        if events is None:
            raise LocalProtocolError(f"no received batch with message id {message_id} awaits an answer", requirement="BPUB-10")
        nacks = dict(nacks or {})
        if any(not 0 <= i < len(events) for i in nacks):
            raise LocalProtocolError("a NACKed index is not an event of the batch", requirement="BRES-3")
        frame: Frame | BatchResult
        if not nacks:
            frame = Ack(message_id=message_id)
        elif len(nacks) == len(events) and len(set(nacks.values())) == 1:
            machine, human = next(iter(nacks.values()))
            frame = Nack(message_id=message_id, machine_message=machine, human_message=human)
        else:
            frame = BatchResult(message_id=message_id, entries=tuple(
                BatchResultEntry(index=i, machine_message=m, human_message=h) for i, (m, h) in sorted(nacks.items())))
        self._queue(frame, now)
        del self._batches_to_answer[message_id]

    # -- input ----------------------------------------------------------------------------------

    def _receive_frame(self, raw: bytes, now: float) -> list[ConnectionEvent]:
        try:
            frame = self._decode_frame(raw, self.limits)
        except UnsupportedVersion as exc:
            if (self.role, self._state) == (Role.SERVER, State.AWAIT_REQUEST):
                return self._refuse_version(exc.version, now)  # VER-7 (HS-11 for a version-0 server)
            return self._protocol_error(exc.error_class, exc.requirement, str(exc))
        except DecodeError as exc:
            return self._protocol_error(exc.error_class, exc.requirement, str(exc))
        return self._dispatch_frame(frame, now)

    def _transition_table(self) -> Mapping[tuple[Role, State, int], str]:
        return TRANSITIONS_V1 if self.wire_version == 1 else TRANSITIONS  # type: ignore[return-value]

    def _frame_kind(self, frame: object) -> tuple[int, str]:
        frame_type = _FRAME_TYPE_V1[type(frame)]
        name = FrameType(frame_type).name
        return frame_type, name.lower()

    def _out_of_place_requirement(self) -> str:
        return "ERR-11" if self.wire_version == 1 else "ERR-6"

    def _on_request(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, ConnectionRequest)
        if frame.version > self.version:  # a version-0 server decodes with version 0 and never gets here
            return self._refuse_version(frame.version, now)  # VER-9
        self.negotiated_version = frame.version  # VER-6
        self.peer_reader_schemas = frame.reader_schemas
        return super()._on_request(frame, now)

    def _on_response(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, ConnectionResponse)
        self.negotiated_version = self.version
        self.peer_reader_schemas = frame.reader_schemas
        return super()._on_response(frame, now)

    def _on_publish(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, Publish)
        if frame.message_id in self._batches_to_answer:
            raise _PeerError("message_id_in_use", "MSGID-4", f"PUBLISH {frame.message_id} while a batch with that id is unanswered")
        return super()._on_publish(frame, now)

    def _on_batch_publish(self, frame: BatchPublish, now: float) -> list[ConnectionEvent]:
        if frame.message_id in self._batches_to_answer or frame.message_id in self._to_answer:
            raise _PeerError("message_id_in_use", "MSGID-4",
                             f"BATCH_PUBLISH {frame.message_id} while a frame with that id is unanswered")
        self._batches_to_answer[frame.message_id] = frame.batch.events
        return [BatchReceived(message_id=frame.message_id, events=frame.batch.events)]

    def _take_batch(self, message_id: int) -> tuple[Event, ...]:
        events = self._batches_in_flight.pop(message_id)
        self._in_flight_keys.difference_update(e.dedupe_key for e in events)
        return events

    def _on_ack(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, Ack)
        if frame.message_id in self._batches_in_flight:
            return [BatchAnswered(message_id=frame.message_id, events=self._take_batch(frame.message_id))]
        return super()._on_ack(frame, now)

    def _on_nack(self, frame: Frame, now: float) -> list[ConnectionEvent]:
        assert isinstance(frame, Nack)
        if frame.message_id in self._batches_in_flight:
            events = self._take_batch(frame.message_id)
            entries = tuple(BatchResultEntry(index=i, machine_message=frame.machine_message, human_message=frame.human_message)
                            for i in range(len(events)))
            return [BatchAnswered(message_id=frame.message_id, events=events, nacked=entries)]
        return super()._on_nack(frame, now)

    def _on_batch_result(self, frame: BatchResult, now: float) -> list[ConnectionEvent]:
        events = self._batches_in_flight.get(frame.message_id)
        if events is None:
            what = "a PUBLISH" if frame.message_id in self._in_flight else "nothing in flight"
            raise _PeerError("unknown_message_id", "BRES-5", f"BATCH_RESULT for message id {frame.message_id}, which is {what}")
        if frame.entries[-1].index >= len(events):
            raise _PeerError("index_out_of_range", "BRES-5",
                             f"BATCH_RESULT names index {frame.entries[-1].index} of a batch of {len(events)} events")
        self._take_batch(frame.message_id)
        return [BatchAnswered(message_id=frame.message_id, events=events, nacked=frame.entries)]

    def _closed(self, reason: str) -> list[ConnectionEvent]:
        batched = tuple(e for batch in self._batches_in_flight.values() for e in batch)
        self._batches_in_flight.clear()
        self._batches_to_answer.clear()
        closed = super()._closed(reason)
        if not batched:
            return closed
        first = closed[0]
        assert isinstance(first, ConnectionClosed)
        # MSGID-13, BPUB-12: the events of unanswered batches are not delivered either.
        return [ConnectionClosed(reason=first.reason, unanswered=first.unanswered + batched)]


_unused = (PublishAcked, PublishNacked)
