"""Protocol version 1 by hand: the same API, values, bytes and errors as :mod:`sinkproto.construct_codec.v1`.

Version 1 keeps every version-0 frame and the column body, so this module
only adds what version 1 changes (spec/v1/frames.md, batch.md) and hands
the rest to the version-0 readers and writers of :mod:`.frames` and
:mod:`.batch`: ACK, PUBLISH, PING, PONG and NACK frames, the header values
and body of a batch (BATCH-15), the version-0 connection request layout.
Every error is raised where, and as, the construct reference raises it
(class, requirement ID, byte offset; ERR-2), which tests/test_fast_codec_v1.py
and the ``fast_diff`` fuzz target check.

The records mode of batch v1 (``mode`` 1, RECORD-*) is :mod:`.records`;
the frame and batch functions take the writer schemas it needs as
``schemas``, as the reference does (tests/test_fast_records.py compares
the two on records batches and BATCH_PUBLISH frames).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..batchrules import gzip_body, unzstd_body, zstd_body
from ..errors import (EncodeError, InvalidList, LimitExceeded, ReservedBit, Truncated, UnknownFormat, UnknownType,
    UnsupportedVersion)
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import (BatchCodec, BatchFormat, BatchMode, BatchPublish, BatchResult, BatchResultEntry, BatchV1, ConnectionRequest,
    ConnectionResponse, Event, Frame, Response)
from ..primitives import check_end, cut_in_field, read_chunk_length, read_varint, varint_bytes
from ..readers import ReaderSchemas
from .batch import LAYOUTS, Inflate, canonical_encoding, column_parts, encode_columns, inflate_gzip, read_columns
from .frames import (as_bytes, check_frame_size, check_text, decode_connection_request, decode_connection_response,
    decode_frame_bytes, encode_chunk, encode_connection_request, encode_connection_response, read_request_head)
from .frames import encode_frame as encode_frame_v0
from .records import RECORDS_FLAGS, read_records_batch, records_parts

__all__ = [
    "decode_batch",
    "decode_frame",
    "decode_reader_schemas",
    "encode_batch",
    "encode_frame",
    "encode_reader_schemas",
]

if TYPE_CHECKING:
    from ..records import RecordSchemas

_EXTENDED = 0x80  # BATCH-12: header bit 7
_COMPRESSED = 0x40  # BATCH-13: must be clear in an extended header
_HAS_SERVER_INSTANCE_ID = 0x01  # CONN-8: request_flags bit 0
_HAS_READER_SCHEMAS = 0x02  # CONN-8: request_flags bit 1

# -- SNEG-1, SNEG-2: the reader declaration -------------------------------------------------


def _declared_count(data: bytes, pos: int, end: int, limits: Limits, what: str, bound: int, bound_name: str) -> tuple[int, int]:
    count, after = read_varint(data, pos, end, limits, what)
    if count == 0:
        raise InvalidList(f"{what} is 0: a reader declaration lists at least one entry", offset=pos, requirement="SNEG-2")
    if count > bound:
        raise LimitExceeded(f"{what} {count} exceeds {bound_name}={bound}", offset=pos, requirement="LIMIT-8")
    return count, after


def read_reader_schemas(data: bytes, pos: int, end: int, limits: Limits) -> tuple[ReaderSchemas, int]:
    """SNEG-1: type_count, then per type event_type_id, version_count, versions; both lists strictly ascending."""
    entries: list[tuple[int, tuple[int, ...]]] = []
    last_type = -1
    type_count, pos = _declared_count(data, pos, end, limits, "type_count", limits.max_declared_types, "max_declared_types")
    for _ in range(type_count):
        at = pos
        type_id, pos = read_varint(data, pos, end, limits, "event_type_id")
        if type_id <= last_type:
            raise InvalidList(f"event_type_id {type_id} after {last_type}: not strictly ascending", offset=at, requirement="SNEG-2")
        last_type = type_id
        versions: list[int] = []
        last_version = -1
        version_count, pos = _declared_count(
            data, pos, end, limits, "version_count", limits.max_declared_versions, "max_declared_versions"
        )
        for _ in range(version_count):
            at = pos
            version, pos = read_varint(data, pos, end, limits, "schema_version")
            if version <= last_version:
                raise InvalidList(
                    f"schema_version {version} after {last_version}: not strictly ascending", offset=at, requirement="SNEG-2"
                )
            last_version = version
            versions.append(version)
        entries.append((type_id, tuple(versions)))
    return ReaderSchemas(entries=tuple(entries)), pos


def encode_reader_schemas(value: ReaderSchemas) -> bytes:
    """SNEG-1 (the declaration was validated, sorted and deduplicated when built)."""
    if not isinstance(value, ReaderSchemas):
        raise EncodeError("reader_schemas must be a ReaderSchemas")
    parts = [varint_bytes(len(value.entries))]
    for type_id, versions in value.entries:
        parts.append(varint_bytes(type_id))
        parts.append(varint_bytes(len(versions)))
        parts.extend(map(varint_bytes, versions))
    return b"".join(parts)


def decode_reader_schemas(data: bytes, limits: Limits = DEFAULT_LIMITS) -> ReaderSchemas:
    """A reader declaration on its own; nothing may follow it (SNEG-1)."""
    data = as_bytes(data, "reader_schemas")
    value, pos = read_reader_schemas(data, 0, len(data), limits)
    check_end(data, pos, "SNEG-1")
    return value


# -- CONN-8..CONN-11: the connection request and response -------------------------------------


def _decode_connection_request(data: bytes, limits: Limits) -> ConnectionRequest:
    version = data[0] & 0x0F
    if version == 0:
        return decode_connection_request(data, limits)  # VER-6: a version-0 request keeps its layout
    if version != 1:
        raise UnsupportedVersion(
            f"connection request for protocol version {version}; this decoder speaks 0 and 1",
            offset=0,
            version=version,
            requirement="CONN-10",
        )
    app_version, client_instance_id, pos = read_request_head(data, limits)
    end = len(data)
    if pos >= end:
        raise Truncated("connection request ends before request_flags", offset=pos, requirement="CONN-8")
    flags = data[pos]
    if flags & 0xFC:
        raise ReservedBit(f"request_flags {flags:#04x} has reserved bits 7..2 set", offset=pos, requirement="CONN-9")
    pos += 1
    server_instance_id = None
    if flags & _HAS_SERVER_INSTANCE_ID:
        if end - pos < 4:
            raise cut_in_field(data)
        server_instance_id = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
    reader_schemas = None
    if flags & _HAS_READER_SCHEMAS:
        reader_schemas, pos = read_reader_schemas(data, pos, end, limits)
    check_end(data, pos, "CONN-9")
    return ConnectionRequest(
        version=1,
        app_version=app_version,
        client_instance_id=client_instance_id,
        server_instance_id=server_instance_id,
        reader_schemas=reader_schemas,
    )


def _decode_connection_response(data: bytes, limits: Limits) -> ConnectionResponse:
    code = data[0] & 0x0F
    if code > Response.HELLO_NEW_CLIENT:
        return decode_connection_response(data, limits)  # the refusals are version 0's (CONN-4..CONN-7)
    end = len(data)
    pos = 1
    server_instance_id = None
    if code == Response.HELLO_NEW_CLIENT:
        if end < 5:
            raise cut_in_field(data)
        server_instance_id = int.from_bytes(data[1:5], "big")
        pos = 5
    reader_schemas = None
    if pos < end:  # CONN-11: the declaration is present exactly when bytes follow
        reader_schemas, pos = read_reader_schemas(data, pos, end, limits)
    check_end(data, pos, "CONN-11")
    return ConnectionResponse(response=Response(code), server_instance_id=server_instance_id, reader_schemas=reader_schemas)


def _encode_connection_request(value: ConnectionRequest) -> bytes:
    if value.version != 1:
        return encode_connection_request(value)  # version 0's layout; other versions are refused there
    flags = (value.server_instance_id is not None) | (value.reader_schemas is not None) << 1
    parts = [b"\x01", encode_chunk(value.app_version, "app_version"), value.client_instance_id.to_bytes(4, "big"), bytes((flags,))]
    if value.server_instance_id is not None:
        parts.append(value.server_instance_id.to_bytes(4, "big"))
    if value.reader_schemas is not None:
        parts.append(encode_reader_schemas(value.reader_schemas))
    return b"".join(parts)


def _encode_connection_response(value: ConnectionResponse) -> bytes:
    if value.reader_schemas is None:
        return encode_connection_response(value)  # without a declaration, version 0's bytes
    head = bytes((0x10 | value.response,))
    if value.response is Response.HELLO_NEW_CLIENT:
        head += value.server_instance_id.to_bytes(4, "big")  # type: ignore[union-attr]
    return head + encode_reader_schemas(value.reader_schemas)


# -- BATCH-12..BATCH-15, CODEC-1..CODEC-5: batch v1 ----------------------------------------------


def inflate_zstd(body: bytes, limits: Limits, at: int) -> bytes:
    """CODEC-2, CODEC-3, LIMIT-9: a zstd body."""
    return unzstd_body(body, limit=limits.max_decompressed_size, window_limit=limits.max_zstd_window, offset=at)


# By the codec nibble of the format byte; None: the body as it is.
_INFLATE: dict[int, Inflate | None] = {BatchCodec.NONE: None, BatchCodec.GZIP: inflate_gzip, BatchCodec.ZSTD: inflate_zstd}
_COMPRESS: dict[BatchCodec, Callable[[bytes], bytes]] = {
    BatchCodec.NONE: bytes,
    BatchCodec.GZIP: gzip_body,
    BatchCodec.ZSTD: zstd_body,
}
# Every format byte this decoder accepts (mode columns), by its value.
_FORMATS: dict[int, BatchFormat] = {(c << 4) | BatchMode.COLUMNS: BatchFormat(codec=c) for c in BatchCodec}
_ZSTD_COLUMNS = BatchFormat(codec=BatchCodec.ZSTD).to_byte()
# Mode records (RECORD-1), by codec.
_RECORDS_FORMATS: dict[int, BatchFormat] = {c: BatchFormat(codec=c, mode=BatchMode.RECORDS) for c in BatchCodec}

_new = object.__new__
_set_batch_events = BatchV1.__dict__["events"].__set__
_set_batch_layout = BatchV1.__dict__["layout"].__set__
_set_batch_format = BatchV1.__dict__["format"].__set__


def _new_batch(events: tuple[Event, ...], flags: int, fmt: BatchFormat | None) -> BatchV1:
    # As in .frames.new_event: built from checked parts, so not validated again.
    batch: BatchV1 = _new(BatchV1)
    _set_batch_events(batch, events)
    _set_batch_layout(batch, LAYOUTS[flags])
    _set_batch_format(batch, fmt)
    return batch


def read_batch(data: bytes, limits: Limits, schemas: RecordSchemas | None = None) -> BatchV1:
    """BATCH-12: a batch v1 filling ``data``; offsets in its errors count from its first byte (BPUB-1)."""
    if not data:
        raise Truncated("empty batch: no header byte", offset=0, requirement="BATCH-12")
    flags = data[0]
    if not flags & _EXTENDED:
        return _new_batch(read_columns(data, 1, flags, limits, inflate_gzip if flags & _COMPRESSED else None), flags, None)
    # BATCH-13 is checked on the header byte alone, before the format byte is looked for.
    if flags & _COMPRESSED:
        raise ReservedBit(f"extended batch header {flags:#04x} has bit 6 (compressed) set", offset=0, requirement="BATCH-13")
    if len(data) < 2:
        raise Truncated("extended batch ends before its format byte", offset=1, requirement="BATCH-12")
    fmt = _FORMATS.get(data[1])
    if fmt is None:
        codec, mode = data[1] >> 4, data[1] & 0x0F
        if codec not in BatchCodec._value2member_map_:
            raise UnknownFormat(f"batch codec {codec} is not assigned", offset=1, requirement="BATCH-14")
        if mode not in BatchMode._value2member_map_:
            raise UnknownFormat(f"batch mode {mode} is not assigned", offset=1, requirement="BATCH-14")
        # Mode records, the only other one assigned (RECORD-1..RECORD-9).
        events = read_records_batch(data, limits, schemas, _INFLATE[codec])
        return _new_batch(events, RECORDS_FLAGS, _RECORDS_FORMATS[codec])
    flags &= 0x3F
    return _new_batch(read_columns(data, 2, flags, limits, _INFLATE[fmt.codec]), flags, fmt)


def decode_batch(data: bytes, limits: Limits = DEFAULT_LIMITS, schemas: RecordSchemas | None = None) -> BatchV1:
    return read_batch(as_bytes(data, "batch"), limits, schemas)


def encode_batch(value: BatchV1, schemas: RecordSchemas | None = None) -> bytes:
    """A batch v1, chosen as the reference chooses (:func:`sinkproto.construct_codec.v1.encode_batch`).

    ``format`` set: exactly that format, in ``layout`` or the canonical
    flags. ``format`` None with a ``layout``: the version-0 batch in that
    layout. Neither: the smallest of the version-0 canonical batch
    (BATCH-7) and the extended ones with gzip and zstd, then, when
    ``schemas`` lets records mode carry the events (RECORD-1, RECORD-2), the
    records batches with each codec (CODEC-5).
    """
    events = value.events
    if not events:
        raise EncodeError("a batch holds at least one event (BATCH-8)")
    fmt = value.format
    if fmt is not None and fmt.mode is BatchMode.RECORDS:
        if value.layout is not None and value.layout != LAYOUTS[RECORDS_FLAGS]:
            raise EncodeError("records mode has exactly same_event_type_id and same_schema_version set (RECORD-1)")
        values, records = records_parts(events, schemas)
        return bytes((_EXTENDED | RECORDS_FLAGS, fmt.to_byte())) + values + _COMPRESS[fmt.codec](records)
    if fmt is None and value.layout is not None:
        return encode_columns(events, value.layout)
    flags, head, body = column_parts(events, value.layout)
    if fmt is not None:
        return bytes((_EXTENDED | flags, fmt.to_byte())) + head + _COMPRESS[fmt.codec](body)
    # The extended gzip candidate is the version-0 gzip batch plus the format
    # byte, so it never beats the version-0 candidate (the smaller of plain and
    # gzip): only zstd is compared. Ties go to version 0, as in the reference.
    version_0 = canonical_encoding(flags, head, body, gzip_body(body))
    zstd = bytes((_EXTENDED | flags, _ZSTD_COLUMNS)) + head + zstd_body(body)
    best = zstd if len(zstd) < len(version_0) else version_0
    if schemas is None:
        return best
    try:
        values, records = records_parts(events, schemas)
    except EncodeError:  # records mode cannot carry these events
        return best
    for records_format in _RECORDS_FORMATS.values():
        compressed = _COMPRESS[records_format.codec](records)
        candidate = bytes((_EXTENDED | RECORDS_FLAGS, records_format.to_byte())) + values + compressed
        if len(candidate) < len(best):
            best = candidate
    return best


# -- BPUB-1, BRES-1, BRES-2: the batch frames -----------------------------------------------------

_set_publish_id = BatchPublish.__dict__["message_id"].__set__
_set_publish_batch = BatchPublish.__dict__["batch"].__set__


def _decode_batch_publish(data: bytes, limits: Limits, schemas: RecordSchemas | None = None) -> BatchPublish:
    if len(data) < 2:
        raise cut_in_field(data)
    frame: BatchPublish = _new(BatchPublish)
    _set_publish_id(frame, (data[0] & 0x0F) << 8 | data[1])
    _set_publish_batch(frame, read_batch(data[2:], limits, schemas))
    return frame


def _decode_batch_result(data: bytes, limits: Limits) -> BatchResult:
    end = len(data)
    if end < 2:
        raise cut_in_field(data)
    count, pos = read_varint(data, 2, end, limits, "nack_count")
    if count == 0:
        raise InvalidList("nack_count is 0: a batch result NACKs at least one event", offset=2, requirement="BRES-2")
    if count > limits.max_batch_events:
        raise LimitExceeded(f"nack_count {count} exceeds max_batch_events={limits.max_batch_events}", offset=2,
                            requirement="BRES-2")  # fmt: skip
    entries: list[BatchResultEntry] = []
    last = -1
    for _ in range(count):
        at = pos
        index, pos = read_varint(data, pos, end, limits, "index")
        if index <= last:
            raise InvalidList(f"index {index} after {last}: not strictly ascending", offset=at, requirement="BRES-2")
        last = index
        length, start = read_chunk_length(data, pos, end, limits, "machine_message", None)
        machine = data[start : start + length]
        pos = start + length
        length, start = read_chunk_length(data, pos, end, limits, "human_message", None)
        human = check_text(data[start : start + length], limits, "human_message", pos)
        pos = start + length
        entries.append(BatchResultEntry(index=index, machine_message=machine, human_message=human))
    check_end(data, pos, "BRES-2")
    return BatchResult(message_id=(data[0] & 0x0F) << 8 | data[1], entries=tuple(entries))


def _encode_batch_publish(value: BatchPublish, schemas: RecordSchemas | None = None) -> bytes:
    message_id = value.message_id
    return bytes((0x20 | message_id >> 8, message_id & 0xFF)) + encode_batch(value.batch, schemas)


def _encode_batch_result(value: BatchResult) -> bytes:
    message_id = value.message_id
    parts = [bytes((0x80 | message_id >> 8, message_id & 0xFF)), varint_bytes(len(value.entries), what="nack_count")]
    for entry in value.entries:
        parts.append(varint_bytes(entry.index, what="index"))
        parts.append(encode_chunk(entry.machine_message, "machine_message"))
        parts.append(encode_chunk(entry.human_message, "human_message"))
    return b"".join(parts)


# -- FRAME-7: the frame ----------------------------------------------------------------------------

# By type nibble: version 1's own frames, version 0's frames (types 3..7) as they are, then the unassigned types.
_DECODERS: tuple[Callable[[bytes, Limits], Frame] | None, ...] = (
    _decode_connection_request,
    _decode_connection_response,
    _decode_batch_publish,
    *(decode_frame_bytes,) * 5,
    _decode_batch_result,
    *(None,) * 7,
)

_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    ConnectionRequest: _encode_connection_request,
    ConnectionResponse: _encode_connection_response,
    BatchPublish: _encode_batch_publish,
    BatchResult: _encode_batch_result,
}


def decode_frame(data: bytes, limits: Limits = DEFAULT_LIMITS, schemas: RecordSchemas | None = None) -> Frame:
    """Decode exactly one whole frame of a version-1 connection (the deframer has removed the length prefix)."""
    if type(data) is not bytes:
        data = as_bytes(data, "frame")
    if not data or len(data) > limits.max_frame_size:
        check_frame_size(data, limits)
    decoder = _DECODERS[data[0] >> 4]
    if decoder is None:
        raise UnknownType(f"frame type {data[0] >> 4} is not defined in v1", offset=0, requirement="FRAME-7")
    if decoder is _decode_batch_publish:  # the one frame holding a batch, which may be in mode records
        return _decode_batch_publish(data, limits, schemas)
    return decoder(data, limits)


def encode_frame(message: Frame, schemas: RecordSchemas | None = None) -> bytes:
    """Encode one frame of a version-1 connection (without the stream length prefix)."""
    encoder = _ENCODERS.get(type(message))
    if type(message) is BatchPublish:  # the one frame holding a batch, which may be in mode records
        data = _encode_batch_publish(message, schemas)
    else:
        data = encode_frame_v0(message) if encoder is None else encoder(message)
    if len(data) > 0xFFFF:
        raise EncodeError(f"a frame of {len(data)} bytes does not fit the 65,535-byte limit (ERR-8, BPUB-5)")
    return data
