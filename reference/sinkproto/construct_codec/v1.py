"""Protocol version 1 in construct: spec/v1/frames.md and spec/v1/batch.md, declared like version 0.

Version 1 reuses every version-0 construct unchanged (ACK, PUBLISH, NACK,
PING, PONG, the event, the column body) and adds: the version-1 connection
request (``request_flags``, optional ``server_instance_id`` and
``reader_schemas``), the reader declaration at the end of an accepting
response, BATCH_PUBLISH (type 2), BATCH_RESULT (type 8) and batch v1 (an
``extended`` header bit, then a ``format`` byte: codec and mode).

The records mode (``mode`` 1) transposes Avro records into typed columns
(:mod:`.records`); it needs the writer schemas, passed as ``schemas=`` (a
:class:`~sinkproto.records.RecordSchemas`) to every function here.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from construct import (Adapter, BitsInteger, BitStruct, Computed, Const, Construct, If, Int8ub, Int32ub, Nibble, Peek,
    Struct, Switch, Tell, this)

from ..batchrules import canonical_layout, unzstd_body, zstd_body
from ..errors import (EncodeError, InconsistentBatch, InvalidList, LimitExceeded, ReservedBit, Truncated, UnknownFormat,
    UnknownType, UnsupportedVersion)
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import (Batch, BatchCodec, BatchFormat, BatchLayout, BatchMode, BatchPublish, BatchResult, BatchResultEntry, BatchV1,
    ConnectionRequest, ConnectionResponse, Event, Frame, FrameType, Response)
from ..primitives import varint_bytes
from ..readers import ReaderSchemas
from ..records import RecordPlan, RecordSchemas, transpose
from .batch import body_struct
from .batch import batch as batch_v0
from .frames import FRAME_CONSTRUCTS, RESPONSE_PAYLOADS, connection_request_v0, response_header, unknown_response_code
from .primitives import Chunk, End, Gzipped, Reject, Text, VarUInt, limits_of, remaining, stream_varint
from .records import records_body

__all__ = [
    "batch",
    "decode_batch",
    "decode_frame",
    "decode_reader_schemas",
    "encode_batch",
    "encode_frame",
    "encode_reader_schemas",
    "frame",
    "reader_schemas",
]


def _id_header(frame_type: int) -> Any:
    """FRAME-8: types 2 and 8 carry type:4 | message_id:12 like FRAME-2."""
    return BitStruct("type" / Const(frame_type, Nibble), "message_id" / BitsInteger(12))


# -- SNEG-1, SNEG-2: the reader declaration -------------------------------------------------------


def _bounded_count(stream: io.BytesIO, limits: Limits, what: str, limit_name: str) -> int:
    start = stream.tell()
    count = stream_varint(stream, limits, what=what)
    if count == 0:
        raise InvalidList(f"{what} is 0: a reader declaration lists at least one entry", offset=start, requirement="SNEG-2")
    bound = getattr(limits, limit_name)
    if count > bound:
        raise LimitExceeded(f"{what} {count} exceeds {limit_name}={bound}", offset=start, requirement="LIMIT-8")
    return count


class ReaderSchemasField(Construct):
    """SNEG-1: type_count, then per type event_type_id, version_count, versions; strictly ascending."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> ReaderSchemas:
        limits = limits_of(context)
        entries: list[tuple[int, tuple[int, ...]]] = []
        for _ in range(_bounded_count(stream, limits, "type_count", "max_declared_types")):
            at = stream.tell()
            type_id = stream_varint(stream, limits, what="event_type_id")
            if entries and type_id <= entries[-1][0]:
                raise InvalidList(f"event_type_id {type_id} after {entries[-1][0]}: not strictly ascending", offset=at,
                                  requirement="SNEG-2")
            versions: list[int] = []
            for _ in range(_bounded_count(stream, limits, "version_count", "max_declared_versions")):
                at = stream.tell()
                version = stream_varint(stream, limits, what="schema_version")
                if versions and version <= versions[-1]:
                    raise InvalidList(f"schema_version {version} after {versions[-1]}: not strictly ascending", offset=at,
                                      requirement="SNEG-2")
                versions.append(version)
            entries.append((type_id, tuple(versions)))
        return ReaderSchemas(entries=tuple(entries))

    def _build(self, obj: ReaderSchemas, stream: io.BytesIO, context: Any, path: str) -> ReaderSchemas:
        if not isinstance(obj, ReaderSchemas):
            raise EncodeError("reader_schemas must be a ReaderSchemas")
        out = bytearray(varint_bytes(len(obj.entries), what="type_count"))
        for type_id, versions in obj.entries:
            out += varint_bytes(type_id, what="event_type_id") + varint_bytes(len(versions), what="version_count")
            out += b"".join(varint_bytes(v, what="schema_version") for v in versions)
        stream.write(out)
        return obj


reader_schemas = ReaderSchemasField()


class OptionalTailDeclaration(Construct):
    """CONN-11: the declaration is present exactly when bytes follow."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> ReaderSchemas | None:
        return reader_schemas._parsereport(stream, context, path) if remaining(stream) else None

    def _build(self, obj: ReaderSchemas | None, stream: io.BytesIO, context: Any, path: str) -> None:
        if obj is not None:
            reader_schemas._build(obj, stream, context, path)


# -- CONN-8..CONN-10: the connection request ---------------------------------------------------------


class RequestFlags(Construct):
    """CONN-8, CONN-9: bit 0 has_server_instance_id, bit 1 has_reader_schemas, bits 7..2 reserved."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> int:
        at = stream.tell()
        raw = stream.read(1)
        if not raw:
            raise Truncated("connection request ends before request_flags", offset=at, requirement="CONN-8")
        if raw[0] & 0xFC:
            raise ReservedBit(f"request_flags {raw[0]:#04x} has reserved bits 7..2 set", offset=at, requirement="CONN-9")
        return raw[0]

    def _build(self, obj: int, stream: io.BytesIO, context: Any, path: str) -> int:
        stream.write(bytes([obj]))
        return obj


connection_request_v1 = Struct(
    "app_version" / Text(Chunk("app_version"), "app_version"),
    "client_instance_id" / Int32ub,
    "request_flags" / RequestFlags(),
    "server_instance_id" / If(this.request_flags & 1, Int32ub),
    "reader_schemas" / If(this.request_flags & 2, reader_schemas),
    End("CONN-9"),
)

connection_request_struct = Struct(
    "header" / BitStruct("type" / Const(int(FrameType.CONNECTION_REQUEST), Nibble), "version" / Nibble),
    "payload"
    / Switch(
        this.header.version,
        {0: connection_request_v0, 1: connection_request_v1},
        default=Reject(
            lambda ctx, offset: UnsupportedVersion(
                f"connection request for protocol version {ctx.header.version}; this decoder speaks 0 and 1",
                offset=0,
                version=ctx.header.version,
                requirement="CONN-10",
            )
        ),
    ),
)


class ConnectionRequestAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> ConnectionRequest:
        p = obj.payload
        return ConnectionRequest(version=obj.header.version, app_version=p.app_version, client_instance_id=p.client_instance_id,
                                 server_instance_id=p.server_instance_id, reader_schemas=p.get("reader_schemas"))

    def _encode(self, obj: ConnectionRequest, context: Any, path: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"app_version": obj.app_version, "client_instance_id": obj.client_instance_id,
                                   "server_instance_id": obj.server_instance_id}
        if obj.version == 1:
            payload["request_flags"] = (obj.server_instance_id is not None) | (obj.reader_schemas is not None) << 1
            payload["reader_schemas"] = obj.reader_schemas
        return {"header": {"version": obj.version}, "payload": payload}


connection_request = ConnectionRequestAdapter(connection_request_struct)

# -- CONN-11: the connection response ------------------------------------------------------------------

connection_response_struct = Struct(
    "header" / response_header,
    "payload" / Switch(this.header.response, {
        **RESPONSE_PAYLOADS,
        Response.CONNECTED: Struct("reader_schemas" / OptionalTailDeclaration(), End("CONN-11")),
        Response.HELLO_NEW_CLIENT: Struct("server_instance_id" / Int32ub, "reader_schemas" / OptionalTailDeclaration(),
                                          End("CONN-11")),
    }, default=Reject(unknown_response_code)),
)


class ConnectionResponseAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> ConnectionResponse:
        p = obj.payload
        return ConnectionResponse(response=Response(obj.header.response), server_instance_id=p.get("server_instance_id"),
                                  machine_message=p.get("machine_message"), human_message=p.get("human_message"),
                                  reader_schemas=p.get("reader_schemas"))

    def _encode(self, obj: ConnectionResponse, context: Any, path: str) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if obj.response in (Response.CONNECTED, Response.HELLO_NEW_CLIENT):
            payload = {"server_instance_id": obj.server_instance_id, "reader_schemas": obj.reader_schemas}
        elif obj.response is Response.QUARANTINED:
            payload = {"machine_message": obj.machine_message, "human_message": obj.human_message}
        return {"header": {"response": int(obj.response)}, "payload": payload}


connection_response = ConnectionResponseAdapter(connection_response_struct)

# -- BATCH-12..BATCH-15, CODEC-1..CODEC-3: batch v1 ----------------------------------------------------


class ExtendedHeader(Construct):
    """BATCH-12..BATCH-14: header byte with ``extended`` set and bit 6 clear, then the format byte."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> tuple[BatchLayout, BatchFormat]:
        raw = stream.read(2)
        if raw[0] & 0x40:
            raise ReservedBit(f"extended batch header {raw[0]:#04x} has bit 6 (compressed) set", offset=0,
                              requirement="BATCH-13")
        if len(raw) < 2:
            raise Truncated("extended batch ends before its format byte", offset=1, requirement="BATCH-12")
        codec, mode = raw[1] >> 4, raw[1] & 0x0F
        if codec not in BatchCodec._value2member_map_:
            raise UnknownFormat(f"batch codec {codec} is not assigned", offset=1, requirement="BATCH-14")
        if mode not in BatchMode._value2member_map_:
            raise UnknownFormat(f"batch mode {mode} is not assigned", offset=1, requirement="BATCH-14")
        layout = BatchLayout.from_byte(raw[0] & 0x3F)
        if mode == BatchMode.RECORDS and layout != RECORDS_LAYOUT:
            raise InconsistentBatch(f"records mode needs exactly same_event_type_id and same_schema_version, not "
                                    f"header {raw[0]:#04x}", offset=0, requirement="RECORD-1")
        return layout, BatchFormat(codec=BatchCodec(codec), mode=BatchMode(mode))

    def _build(self, obj: tuple[BatchLayout, BatchFormat], stream: io.BytesIO, context: Any, path: str) -> Any:
        layout, fmt = obj
        if fmt.mode is BatchMode.RECORDS and layout != RECORDS_LAYOUT:
            raise EncodeError("records mode has exactly same_event_type_id and same_schema_version set (RECORD-1)")
        stream.write(bytes([0x80 | layout.to_byte(), fmt.to_byte()]))
        return obj


class Zstded(Gzipped):
    """CODEC-2, CODEC-3: the rest of the unit is one zstd frame holding ``subcon``, bounded."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> Any:
        start = stream.tell()
        limits = limits_of(context)
        body = unzstd_body(stream.read(), limit=limits.max_decompressed_size, window_limit=limits.max_zstd_window, offset=start)
        return self.subcon._parsereport(io.BytesIO(body), context, path)

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> Any:
        inner = io.BytesIO()
        self.subcon._build(obj, inner, context, path)
        stream.write(zstd_body(inner.getvalue()))
        return obj


def _own_flag(name: str) -> Any:
    return lambda ctx: getattr(ctx.layout, name)


RECORDS_LAYOUT = BatchLayout(same_event_type_id=True, same_schema_version=True)


def _schemas_of(context: Any) -> RecordSchemas | None:
    params = getattr(context, "_params", None)
    schemas = getattr(params, "schemas", None) if params is not None else None
    return schemas if isinstance(schemas, RecordSchemas) else None


class RecordPlanField(Construct):
    """RECORD-2, LIMIT-10: the writer schema of a records batch, looked up after the header values."""

    def __init__(self) -> None:
        super().__init__()
        self.flagbuildnone = True

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> RecordPlan | None:
        if context.format.mode is not BatchMode.RECORDS:
            return None
        return _plan_for(context, stream.tell())

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> None:
        return None


def _plan_for(context: Any, at: int) -> RecordPlan:
    schemas = _schemas_of(context)
    key = (context.event_type_id, context.schema_version)
    plan = schemas.plan(*key) if schemas is not None else None
    if plan is None:
        raise UnknownFormat(f"records mode for event type {key[0]} schema version {key[1]}: no writer schema known here",
                            offset=at, requirement="RECORD-2")
    bound = limits_of(context).max_record_columns
    if len(plan.columns) > bound:
        raise LimitExceeded(f"the writer schema flattens to {len(plan.columns)} columns, over max_record_columns={bound}",
                            offset=at, requirement="LIMIT-10")
    return plan


_BODIES = {
    (BatchCodec.NONE, BatchMode.COLUMNS): body_struct,
    (BatchCodec.GZIP, BatchMode.COLUMNS): Gzipped(body_struct),
    (BatchCodec.ZSTD, BatchMode.COLUMNS): Zstded(body_struct),
    (BatchCodec.NONE, BatchMode.RECORDS): records_body,
    (BatchCodec.GZIP, BatchMode.RECORDS): Gzipped(records_body),
    (BatchCodec.ZSTD, BatchMode.RECORDS): Zstded(records_body),
}


extended_batch_struct = Struct(
    "header" / ExtendedHeader(),
    # body_struct reads its flags as ``ctx._.layout``, as in version 0.
    "layout" / Computed(lambda ctx: ctx.header[0]),
    "format" / Computed(lambda ctx: ctx.header[1]),
    "event_type_id" / If(_own_flag("same_event_type_id"), VarUInt(what="event_type_id")),
    "schema_version" / If(_own_flag("same_schema_version"), VarUInt(what="schema_version")),
    "key_length" / If(_own_flag("same_key_length"), VarUInt(what="key_length", limit="max_key_size")),
    "offset" / If(_own_flag("delta_offset"), VarUInt(what="offset")),
    "timestamp" / If(_own_flag("delta_timestamp"), VarUInt(what="timestamp")),
    "event_data_length" / If(_own_flag("same_event_data_length"), VarUInt(what="event_data_length", limit="max_event_data_size")),
    "body_offset" / Tell,
    "plan" / RecordPlanField(),
    "body" / Switch(lambda ctx: (ctx.format.codec, ctx.format.mode), _BODIES),
)


class ExtendedBatchAdapter(Adapter):
    """Version 0's columns <-> rows (``batch_v0``'s arithmetic), with the format byte carried through.

    It delegates to the version-0 adapter rather than subclassing it: a version-0 adapter gives a
    ``Batch``, this one a ``BatchV1``, which is not a ``Batch``.
    """

    def _decode(self, obj: Any, context: Any, path: str) -> BatchV1:
        if obj.format.mode is BatchMode.RECORDS:
            return BatchV1(events=obj.body, layout=obj.layout, format=obj.format)
        decoded = batch_v0._decode(obj, context, path)
        return BatchV1(events=decoded.events, layout=decoded.layout, format=obj.format)

    def _encode(self, obj: BatchV1, context: Any, path: str) -> dict[str, Any]:
        assert obj.layout is not None and obj.format is not None
        if obj.format.mode is BatchMode.RECORDS:
            return _encode_records(obj, context)
        out = batch_v0._encode(Batch(events=obj.events, layout=obj.layout), context, path)
        out["header"] = (out.pop("layout"), obj.format)
        return out


def _encode_records(obj: BatchV1, context: Any) -> dict[str, Any]:
    """RECORD-2: every event of one type and version, its event_data canonical Avro of a schema both know."""
    if obj.layout != RECORDS_LAYOUT:
        raise EncodeError("records mode has exactly same_event_type_id and same_schema_version set (RECORD-1)")
    first = obj.events[0]
    if any((e.event_type_id, e.schema_version) != (first.event_type_id, first.schema_version) for e in obj.events):
        raise EncodeError("a records batch holds events of one event_type_id and schema_version (RECORD-1)")
    schemas = _schemas_of(context)
    plan = schemas.plan(first.event_type_id, first.schema_version) if schemas is not None else None
    if plan is None:
        raise EncodeError(f"records mode needs the schema of event type {first.event_type_id} version "
                          f"{first.schema_version} (RECORD-2)")
    columns = transpose(plan, [e.event_data for e in obj.events])
    if columns is None:
        raise EncodeError("an event_data is not the canonical Avro encoding of its schema: records mode cannot carry it "
                          "(RECORD-2)")
    return {"header": (RECORDS_LAYOUT, obj.format), "event_type_id": first.event_type_id,
            "schema_version": first.schema_version, "key_length": None, "offset": None, "timestamp": None,
            "event_data_length": None, "body": (obj.events, columns, plan)}


extended_batch = ExtendedBatchAdapter(extended_batch_struct)


class BatchV1Field(Construct):
    """BATCH-12: bit 7 of the first byte picks a version-0 batch or an extended one.

    The batch is parsed from its own buffer, so the offsets in its errors
    count from the start of the batch, inside a BATCH_PUBLISH too (BPUB-1).
    """

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> BatchV1:
        data = stream.read()
        if not data:
            raise Truncated("empty batch: no header byte", offset=0, requirement="BATCH-12")
        inner = io.BytesIO(data)
        if data[0] & 0x80:
            return extended_batch._parsereport(inner, context, path)
        decoded = batch_v0._parsereport(inner, context, path)
        return BatchV1(events=decoded.events, layout=decoded.layout)

    def _build(self, obj: BatchV1, stream: io.BytesIO, context: Any, path: str) -> BatchV1:
        if not obj.events:
            raise EncodeError("a batch holds at least one event (BATCH-8)")
        if obj.format is None and obj.layout is None:
            stream.write(encode_batch(obj, schemas=_schemas_of(context)))  # CODEC-5: the smallest encoding
        elif obj.format is None:
            batch_v0._build(Batch(events=obj.events, layout=obj.layout), stream, context, path)
        else:
            layout = obj.layout or (RECORDS_LAYOUT if obj.format.mode is BatchMode.RECORDS else canonical_layout(obj.events))
            extended_batch._build(BatchV1(events=obj.events, layout=layout, format=obj.format), stream, context, path)
        return obj


batch = BatchV1Field()

# -- BPUB-1, BRES-1, BRES-2: the batch frames ---------------------------------------------------------


class ResultEntries(Construct):
    """BRES-1, BRES-2: nack_count (1..max_batch_events), then entries with strictly ascending indices."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> tuple[BatchResultEntry, ...]:
        limits = limits_of(context)
        at = stream.tell()
        count = stream_varint(stream, limits, what="nack_count")
        if count == 0:
            raise InvalidList("nack_count is 0: a batch result NACKs at least one event", offset=at, requirement="BRES-2")
        if count > limits.max_batch_events:
            raise LimitExceeded(f"nack_count {count} exceeds max_batch_events={limits.max_batch_events}", offset=at,
                                requirement="BRES-2")
        entries: list[BatchResultEntry] = []
        for _ in range(count):
            at = stream.tell()
            index = stream_varint(stream, limits, what="index")
            if entries and index <= entries[-1].index:
                raise InvalidList(f"index {index} after {entries[-1].index}: not strictly ascending", offset=at,
                                  requirement="BRES-2")
            machine = Chunk("machine_message")._parsereport(stream, context, path)
            human = Text(Chunk("human_message"), "human_message")._parsereport(stream, context, path)
            entries.append(BatchResultEntry(index=index, machine_message=machine, human_message=human))
        return tuple(entries)

    def _build(self, obj: tuple[BatchResultEntry, ...], stream: io.BytesIO, context: Any, path: str) -> Any:
        stream.write(varint_bytes(len(obj), what="nack_count"))
        for entry in obj:
            stream.write(varint_bytes(entry.index, what="index"))
            Chunk("machine_message")._build(entry.machine_message, stream, context, path)
            Chunk("human_message")._build(entry.human_message, stream, context, path)
        return obj


batch_publish_struct = Struct("header" / _id_header(FrameType.BATCH_PUBLISH), "batch" / batch)
batch_result_struct = Struct("header" / _id_header(FrameType.BATCH_RESULT), "entries" / ResultEntries(), End("BRES-2"))


class BatchPublishAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> BatchPublish:
        return BatchPublish(message_id=obj.header.message_id, batch=obj.batch)

    def _encode(self, obj: BatchPublish, context: Any, path: str) -> dict[str, Any]:
        return {"header": {"message_id": obj.message_id}, "batch": obj.batch}


class BatchResultAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> BatchResult:
        return BatchResult(message_id=obj.header.message_id, entries=obj.entries)

    def _encode(self, obj: BatchResult, context: Any, path: str) -> dict[str, Any]:
        return {"header": {"message_id": obj.message_id}, "entries": obj.entries}


# -- FRAME-7: the frame ------------------------------------------------------------------------------

FRAME_CONSTRUCTS_V1: dict[int, Any] = {
    **{int(k): v for k, v in FRAME_CONSTRUCTS.items()},
    int(FrameType.CONNECTION_REQUEST): connection_request,
    int(FrameType.CONNECTION_RESPONSE): connection_response,
    int(FrameType.BATCH_PUBLISH): BatchPublishAdapter(batch_publish_struct),
    int(FrameType.BATCH_RESULT): BatchResultAdapter(batch_result_struct),
}

frame = Struct(
    "first_byte" / Peek(Int8ub),
    "body" / Switch(this.first_byte >> 4, FRAME_CONSTRUCTS_V1,
                    default=Reject(lambda ctx, offset: UnknownType(f"frame type {ctx.first_byte >> 4} is not defined in v1",
                                                                   offset=0, requirement="FRAME-7"))),
)

FRAME_TYPE_OF_V1: dict[type, int] = {
    ConnectionRequest: int(FrameType.CONNECTION_REQUEST),
    ConnectionResponse: int(FrameType.CONNECTION_RESPONSE),
    BatchPublish: int(FrameType.BATCH_PUBLISH),
    BatchResult: int(FrameType.BATCH_RESULT),
}

# -- the API --------------------------------------------------------------------------------------------


def encode_frame(message: Frame, schemas: RecordSchemas | None = None) -> bytes:
    """Encode one frame of a version-1 connection (without the stream length prefix).

    ``schemas``: the writer schemas records mode may use, those the peer
    declared it can read (RECORD-2); without them no batch uses records mode.
    """
    from . import FRAME_TYPE_OF, _build

    frame_type = FRAME_TYPE_OF_V1.get(type(message))
    if frame_type is None:
        frame_type = FRAME_TYPE_OF.get(type(message))
    if frame_type is None:
        raise EncodeError(f"{type(message).__name__} is not a frame")
    data = _build(FRAME_CONSTRUCTS_V1[int(frame_type)], message, schemas)
    if len(data) > 0xFFFF:
        raise EncodeError(f"a frame of {len(data)} bytes does not fit the 65,535-byte limit (ERR-8, BPUB-5)")
    return data


def decode_frame(data: bytes, limits: Limits = DEFAULT_LIMITS, schemas: RecordSchemas | None = None) -> Frame:
    """Decode exactly one whole frame of a version-1 connection; ``schemas`` decode records mode."""
    from . import _check_frame_size, _parse

    _check_frame_size(data, limits)
    return _parse(frame, data, limits, "frame", schemas).body


def encode_batch(value: BatchV1, schemas: RecordSchemas | None = None) -> bytes:
    """Encode a batch v1.

    With ``value.format`` set, exactly that format (and ``value.layout``, or
    the canonical flags) is used. With ``format`` None and a ``layout``, the
    version-0 encoding of that layout. With neither, the smallest of the
    version-0 canonical encoding (BATCH-7), the extended encodings with gzip
    and zstd, and, when ``schemas`` has the events' schema and their
    event_data is canonical Avro (RECORD-2), records mode with each codec
    (CODEC-5).
    """
    from . import _build
    from . import encode_batch as encode_batch_v0

    if not value.events:
        raise EncodeError("a batch holds at least one event (BATCH-8)")
    if value.format is not None or value.layout is not None:
        return _build(batch, value, schemas)
    candidates = [encode_batch_v0(Batch(events=value.events))]
    layout = canonical_layout(value.events)
    for codec in (BatchCodec.GZIP, BatchCodec.ZSTD):
        candidates.append(_build(batch, BatchV1(events=value.events, layout=layout, format=BatchFormat(codec=codec))))
    if records_possible(value.events, schemas):
        for codec in BatchCodec:
            candidates.append(_build(batch, BatchV1(events=value.events, layout=RECORDS_LAYOUT,
                                                    format=BatchFormat(codec=codec, mode=BatchMode.RECORDS)), schemas))
    # Ties go to the earliest candidate: the version-0 form, then gzip, zstd, records.
    return min(candidates, key=len)


def records_possible(events: Sequence[Event], schemas: RecordSchemas | None) -> bool:
    """RECORD-1, RECORD-2: one event type and version, a schema both sides know, canonical Avro data."""
    if schemas is None or not events:
        return False
    first = events[0]
    if any((e.event_type_id, e.schema_version) != (first.event_type_id, first.schema_version) for e in events):
        return False
    plan = schemas.plan(first.event_type_id, first.schema_version)
    return plan is not None and transpose(plan, [e.event_data for e in events]) is not None


def decode_batch(data: bytes, limits: Limits = DEFAULT_LIMITS, schemas: RecordSchemas | None = None) -> BatchV1:
    from . import _parse

    return _parse(batch, data, limits, "batch", schemas)


def encode_reader_schemas(value: ReaderSchemas) -> bytes:
    from . import _build

    return _build(reader_schemas, value)


def decode_reader_schemas(data: bytes, limits: Limits = DEFAULT_LIMITS) -> ReaderSchemas:
    from . import _parse

    return _parse(Struct("value" / reader_schemas, End("SNEG-1")), data, limits, "reader_schemas").value
