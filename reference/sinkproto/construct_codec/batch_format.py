"""The batch, every version: the version-1 extended header, zstd, records mode, and the smallest encoding.

:data:`BATCH` is the batch construct by version: version 0's column batch
(:mod:`.batch`), and from version 1 :class:`BatchFieldV1`, where bit 7 of
the first byte picks a version-0 batch or an extended one (BATCH-12): the
``format`` byte names the codec (none, gzip, zstd) and the mode (columns,
or records, which transposes Avro records into typed columns, :mod:`.records`).
Records mode needs the writer schemas, passed as ``schemas=`` (a
:class:`~sinkproto.records.RecordSchemas`). :func:`smallest` is the
encoder's choice when the caller fixes neither layout nor format (BATCH-7,
CODEC-5).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from construct import Adapter, Computed, Construct, If, Struct, Switch, Tell

from ..batchrules import canonical_layout, unzstd_body, zstd_body
from ..errors import EncodeError, InconsistentBatch, LimitExceeded, ReservedBit, Truncated, UnknownFormat
from ..messages import BaseLookup, Batch, BatchCodec, BatchFormat, BatchLayout, BatchMode, Event
from ..records import RecordPlan, RecordSchemas, base_columns, transpose
from ._boundary import build
from .batch import batch as batch_v0
from .batch import body_struct
from .primitives import Gzipped, VarUInt, limits_of
from .records import context_body, records_body

__all__ = ["BATCH", "RECORDS_LAYOUT", "BatchFieldV1", "batch_v0", "batch_v1", "records_possible", "smallest"]


class ExtendedHeader(Construct):
    """BATCH-12..BATCH-14: header byte with ``extended`` set and bit 6 clear, then the format byte."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> tuple[BatchLayout, BatchFormat]:
        raw = stream.read(2)
        if raw[0] & 0x40:
            raise ReservedBit(
                f"extended batch header {raw[0]:#04x} has bit 6 (compressed) set", offset=0, requirement="BATCH-13"
            )
        if len(raw) < 2:
            raise Truncated("extended batch ends before its format byte", offset=1, requirement="BATCH-12")
        codec, mode = raw[1] >> 4, raw[1] & 0x0F
        if codec not in BatchCodec._value2member_map_:
            raise UnknownFormat(f"batch codec {codec} is not assigned", offset=1, requirement="BATCH-14")
        if mode not in BatchMode._value2member_map_:
            raise UnknownFormat(f"batch mode {mode} is not assigned", offset=1, requirement="BATCH-14")
        if mode == BatchMode.CONTEXT and _bases_of(context) is None:
            raise UnknownFormat(
                "batch mode context: this side declared no context_bases", offset=1, requirement="CTX-1"
            )
        layout = BatchLayout.from_byte(raw[0] & 0x3F)
        if mode in _RECORDS_MODES and layout != RECORDS_LAYOUT:
            raise InconsistentBatch(
                f"records mode needs exactly same_event_type_id and same_schema_version, not header {raw[0]:#04x}",
                offset=0,
                requirement="RECORD-1",
            )
        return layout, BatchFormat(codec=BatchCodec(codec), mode=BatchMode(mode))

    def _build(self, obj: tuple[BatchLayout, BatchFormat], stream: io.BytesIO, context: Any, path: str) -> Any:
        layout, fmt = obj
        if fmt.mode in _RECORDS_MODES and layout != RECORDS_LAYOUT:
            raise EncodeError("records mode has exactly same_event_type_id and same_schema_version set (RECORD-1)")
        stream.write(bytes([0x80 | layout.to_byte(), fmt.to_byte()]))
        return obj


class Zstded(Gzipped):
    """CODEC-2, CODEC-3: the rest of the unit is one zstd frame holding ``subcon``, bounded."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> Any:
        start = stream.tell()
        limits = limits_of(context)
        body = unzstd_body(
            stream.read(), limit=limits.max_decompressed_size, window_limit=limits.max_zstd_window, offset=start
        )
        return self.subcon._parsereport(io.BytesIO(body), context, path)

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> Any:
        inner = io.BytesIO()
        self.subcon._build(obj, inner, context, path)
        stream.write(zstd_body(inner.getvalue()))
        return obj


def _own_flag(name: str) -> Any:
    return lambda ctx: getattr(ctx.layout, name)


RECORDS_LAYOUT = BatchLayout(same_event_type_id=True, same_schema_version=True)
# The modes whose body is the records body (RECORD-1; mode context is records mode with a base, CTX-2).
_RECORDS_MODES = (BatchMode.RECORDS, BatchMode.CONTEXT)


def _bases_of(context: Any) -> BaseLookup | None:
    """The bases this side holds for the peer (``bases=``); None: it takes no batch in mode context (CTX-1)."""
    params = getattr(context, "_params", None)
    bases: BaseLookup | None = getattr(params, "bases", None) if params is not None else None
    return bases


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
        if context.format.mode not in _RECORDS_MODES:
            return None
        return _plan_for(context, stream.tell())

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> None:
        return None


def _plan_for(context: Any, at: int) -> RecordPlan:
    schemas = _schemas_of(context)
    key = (context.event_type_id, context.schema_version)
    plan = schemas.plan(*key) if schemas is not None else None
    if plan is None:
        raise UnknownFormat(
            f"records mode for event type {key[0]} schema version {key[1]}: no writer schema known here",
            offset=at,
            requirement="RECORD-2",
        )
    bound = limits_of(context).max_record_columns
    if len(plan.columns) > bound:
        raise LimitExceeded(
            f"the writer schema flattens to {len(plan.columns)} columns, over max_record_columns={bound}",
            offset=at,
            requirement="LIMIT-10",
        )
    return plan


_BODIES = {
    (BatchCodec.NONE, BatchMode.COLUMNS): body_struct,
    (BatchCodec.GZIP, BatchMode.COLUMNS): Gzipped(body_struct),
    (BatchCodec.ZSTD, BatchMode.COLUMNS): Zstded(body_struct),
    (BatchCodec.NONE, BatchMode.RECORDS): records_body,
    (BatchCodec.GZIP, BatchMode.RECORDS): Gzipped(records_body),
    (BatchCodec.ZSTD, BatchMode.RECORDS): Zstded(records_body),
    (BatchCodec.NONE, BatchMode.CONTEXT): context_body,
    (BatchCodec.GZIP, BatchMode.CONTEXT): Gzipped(context_body),
    (BatchCodec.ZSTD, BatchMode.CONTEXT): Zstded(context_body),
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
    "event_data_length"
    / If(_own_flag("same_event_data_length"), VarUInt(what="event_data_length", limit="max_event_data_size")),
    "body_offset" / Tell,
    "plan" / RecordPlanField(),
    "body" / Switch(lambda ctx: (ctx.format.codec, ctx.format.mode), _BODIES),
)


class ExtendedBatchAdapter(Adapter):
    """Version 0's columns <-> rows (``batch_v0``'s arithmetic), with the format byte carried through.

    It delegates to the version-0 adapter, which knows no format: it gets and gives the batch without one.
    """

    def _decode(self, obj: Any, context: Any, path: str) -> Batch:
        if obj.format.mode is BatchMode.RECORDS:
            return Batch(events=obj.body, layout=obj.layout, format=obj.format)
        if obj.format.mode is BatchMode.CONTEXT:
            events, batch_context = obj.body
            return Batch(events=events, layout=obj.layout, format=obj.format, context=batch_context)
        decoded = batch_v0._decode(obj, context, path)
        return Batch(events=decoded.events, layout=decoded.layout, format=obj.format)

    def _encode(self, obj: Batch, context: Any, path: str) -> dict[str, Any]:
        assert obj.layout is not None and obj.format is not None
        if obj.format.mode in _RECORDS_MODES:
            return _encode_records(obj, context)
        out = batch_v0._encode(Batch(events=obj.events, layout=obj.layout), context, path)
        out["header"] = (out.pop("layout"), obj.format)
        return out


def _encode_records(obj: Batch, context: Any) -> dict[str, Any]:
    """RECORD-2: every event of one type and version, its event_data canonical Avro of a schema both know."""
    if obj.layout != RECORDS_LAYOUT:
        raise EncodeError("records mode has exactly same_event_type_id and same_schema_version set (RECORD-1)")
    first = obj.events[0]
    if any((e.event_type_id, e.schema_version) != (first.event_type_id, first.schema_version) for e in obj.events):
        raise EncodeError("a records batch holds events of one event_type_id and schema_version (RECORD-1)")
    schemas = _schemas_of(context)
    plan = schemas.plan(first.event_type_id, first.schema_version) if schemas is not None else None
    if plan is None:
        raise EncodeError(
            f"records mode needs the schema of event type {first.event_type_id} version "
            f"{first.schema_version} (RECORD-2)"
        )
    columns = transpose(plan, [e.event_data for e in obj.events])
    if columns is None:
        raise EncodeError(
            "an event_data is not the canonical Avro encoding of its schema: records mode cannot carry it (RECORD-2)"
        )
    body: tuple[Any, ...] = (obj.events, columns, plan)
    if obj.context is not None:  # mode context (CTX-2): the base must be records mode of the same schema
        base = obj.context.base
        if base is not None:
            first_base = base.events[0]
            if (first_base.event_type_id, first_base.schema_version) != (first.event_type_id, first.schema_version):
                raise EncodeError(
                    f"base {base.batch_id} is of event type {first_base.event_type_id} version "
                    f"{first_base.schema_version}, the batch of {first.event_type_id} version "
                    f"{first.schema_version} (CTX-10)"
                )
            if base_columns(plan, base) is None:
                raise EncodeError(f"base {base.batch_id}: an event_data is not canonical Avro of its schema (CTX-10)")
        body = (*body, obj.context)
    return {
        "header": (RECORDS_LAYOUT, obj.format),
        "event_type_id": first.event_type_id,
        "schema_version": first.schema_version,
        "key_length": None,
        "offset": None,
        "timestamp": None,
        "event_data_length": None,
        "body": body,
    }


extended_batch = ExtendedBatchAdapter(extended_batch_struct)


class BatchFieldV1(Construct):
    """BATCH-12: bit 7 of the first byte picks a version-0 batch or an extended one.

    The batch is parsed from its own buffer, so the offsets in its errors
    count from the start of the batch, inside a BATCH_PUBLISH too (BPUB-1).
    """

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> Batch:
        data = stream.read()
        if not data:
            raise Truncated("empty batch: no header byte", offset=0, requirement="BATCH-12")
        inner = io.BytesIO(data)
        if data[0] & 0x80:
            return extended_batch._parsereport(inner, context, path)
        return batch_v0._parsereport(inner, context, path)

    def _build(self, obj: Batch, stream: io.BytesIO, context: Any, path: str) -> Batch:
        if not obj.events:
            raise EncodeError("a batch holds at least one event (BATCH-8)")
        if obj.context is not None:  # mode context: in the codec given, or the smallest (CTX-13)
            if obj.layout is not None and obj.layout != RECORDS_LAYOUT:
                raise EncodeError("mode context has exactly same_event_type_id and same_schema_version set (RECORD-1)")
            formats = [obj.format] if obj.format is not None else [_context(codec) for codec in BatchCodec]
            candidates = [build(extended_batch, _with(obj, format=fmt), _schemas_of(context)) for fmt in formats]
            stream.write(min(candidates, key=len))
            return obj
        if obj.format is None and obj.layout is None:
            stream.write(smallest(obj.events, 1, _schemas_of(context)))  # CODEC-5: the smallest encoding
        elif obj.format is None:
            batch_v0._build(obj, stream, context, path)
        else:
            layout = obj.layout or (
                RECORDS_LAYOUT if obj.format.mode is BatchMode.RECORDS else canonical_layout(obj.events)
            )
            extended_batch._build(Batch(events=obj.events, layout=layout, format=obj.format), stream, context, path)
        return obj


def _context(codec: BatchCodec) -> BatchFormat:
    return BatchFormat(codec=codec, mode=BatchMode.CONTEXT)


def _with(batch: Batch, *, format: BatchFormat) -> Batch:
    """``batch`` in mode context with ``format`` and the records layout."""
    return Batch(events=batch.events, layout=RECORDS_LAYOUT, format=format, context=batch.context)


batch_v1 = BatchFieldV1()


# By version: what a batch is on a connection of that version (BATCH-1, BATCH-12).
BATCH: Mapping[int, Any] = {0: batch_v0, 1: batch_v1}


def smallest(events: Sequence[Event], version: int, schemas: RecordSchemas | None = None) -> bytes:
    """The smallest encoding of ``events`` a version-``version`` batch allows; ties go to the earliest candidate.

    Version 0: the canonical flags (BATCH-7), gzip only when the compressed
    body is smaller (the header is the same size either way: only bit 6
    differs). From version 1 (CODEC-5) also the extended encodings with gzip
    and zstd and, when ``schemas`` has the events' schema and their
    event_data is canonical Avro (RECORD-2), records mode with each codec.
    """
    layout = canonical_layout(events)
    candidates = [
        build(batch_v0, Batch(events=tuple(events), layout=layout)),
        build(batch_v0, Batch(events=tuple(events), layout=canonical_layout(events, compressed=True))),
    ]
    if version >= 1:
        for codec in (BatchCodec.GZIP, BatchCodec.ZSTD):
            candidates.append(
                build(batch_v1, Batch(events=tuple(events), layout=layout, format=BatchFormat(codec=codec)))
            )
        if records_possible(events, schemas):
            for codec in BatchCodec:
                records = BatchFormat(codec=codec, mode=BatchMode.RECORDS)
                candidates.append(
                    build(batch_v1, Batch(events=tuple(events), layout=RECORDS_LAYOUT, format=records), schemas)
                )
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
