"""Batch v1 by hand: the extended header, the format byte and the encoder's choice (BATCH-12..BATCH-15, CODEC-1..CODEC-5).

Version 1 keeps the column body and header values of version 0 (BATCH-15),
read and written by :mod:`.batch`; a batch whose header has bit 7 clear is
a version-0 batch. This module adds what version 1 changes
(spec/v1/batch.md): the format byte after an extended header, its codecs
(none, gzip, zstd), the records mode (:mod:`.records`), and the smallest
encoding among them. Every error is raised where, and as, the construct
reference raises it (class, requirement ID, byte offset; ERR-2), which
tests/test_fast_codec_v1.py and the ``fast_diff`` fuzz target check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..batchrules import gzip_body, unzstd_body, zstd_body
from ..errors import EncodeError, ReservedBit, Truncated, UnknownFormat
from ..limits import Limits
from ..messages import BaseLookup, Batch, BatchCodec, BatchFormat, BatchMode
from ._values import new_batch
from .batch import LAYOUTS, Inflate, canonical_encoding, column_parts, encode_columns, inflate_gzip, read_columns
from .records import RECORDS_FLAGS, read_records_batch, records_parts

__all__ = ["encode_batch_v1", "inflate_zstd", "read_batch_v1"]

if TYPE_CHECKING:
    from ..records import RecordSchemas

_EXTENDED = 0x80  # BATCH-12: header bit 7
_COMPRESSED = 0x40  # BATCH-13: must be clear in an extended header

# -- BATCH-12..BATCH-15, CODEC-1..CODEC-5: batch v1 ----------------------------------------------


def inflate_zstd(body: bytes, limits: Limits, at: int) -> bytes:
    """CODEC-2, CODEC-3, LIMIT-9: a zstd body."""
    return unzstd_body(body, limit=limits.max_decompressed_size, window_limit=limits.max_zstd_window, offset=at)


# By the codec nibble of the format byte; None: the body as it is.
_INFLATE: dict[int, Inflate | None] = {
    BatchCodec.NONE: None,
    BatchCodec.GZIP: inflate_gzip,
    BatchCodec.ZSTD: inflate_zstd,
}
_COMPRESS: dict[BatchCodec, Callable[[bytes], bytes]] = {
    BatchCodec.NONE: bytes,
    BatchCodec.GZIP: gzip_body,
    BatchCodec.ZSTD: zstd_body,
}
# Every format byte this decoder accepts (mode columns), by its value.
_FORMATS: dict[int, BatchFormat] = {(c << 4) | BatchMode.COLUMNS: BatchFormat(codec=c) for c in BatchCodec}
_ZSTD_COLUMNS = BatchFormat(codec=BatchCodec.ZSTD).to_byte()
# Mode records (RECORD-1) and mode context (CTX-2), by codec.
_RECORDS_FORMATS: dict[int, BatchFormat] = {c: BatchFormat(codec=c, mode=BatchMode.RECORDS) for c in BatchCodec}
_CONTEXT_FORMATS: dict[int, BatchFormat] = {c: BatchFormat(codec=c, mode=BatchMode.CONTEXT) for c in BatchCodec}


def read_batch_v1(
    data: bytes, limits: Limits, schemas: RecordSchemas | None = None, bases: BaseLookup | None = None
) -> Batch:
    """BATCH-12: a batch v1 filling ``data``; offsets in its errors count from its first byte (BPUB-1).

    ``bases``: the bases this side holds for the sending peer; None: this
    side takes no batch in mode context (CTX-1).
    """
    if not data:
        raise Truncated("empty batch: no header byte", offset=0, requirement="BATCH-12")
    flags = data[0]
    if not flags & _EXTENDED:
        return new_batch(
            read_columns(data, 1, flags, limits, inflate_gzip if flags & _COMPRESSED else None), LAYOUTS[flags], None
        )
    # BATCH-13 is checked on the header byte alone, before the format byte is looked for.
    if flags & _COMPRESSED:
        raise ReservedBit(
            f"extended batch header {flags:#04x} has bit 6 (compressed) set", offset=0, requirement="BATCH-13"
        )
    if len(data) < 2:
        raise Truncated("extended batch ends before its format byte", offset=1, requirement="BATCH-12")
    fmt = _FORMATS.get(data[1])
    if fmt is None:
        codec, mode = data[1] >> 4, data[1] & 0x0F
        if codec not in BatchCodec._value2member_map_:
            raise UnknownFormat(f"batch codec {codec} is not assigned", offset=1, requirement="BATCH-14")
        if mode not in BatchMode._value2member_map_:
            raise UnknownFormat(f"batch mode {mode} is not assigned", offset=1, requirement="BATCH-14")
        if mode == BatchMode.CONTEXT:
            if bases is None:
                raise UnknownFormat(
                    "batch mode context: this side declared no context_bases", offset=1, requirement="CTX-1"
                )
            events, context = read_records_batch(data, limits, schemas, _INFLATE[codec], bases)
            return new_batch(events, LAYOUTS[RECORDS_FLAGS], _CONTEXT_FORMATS[codec], context)
        # Mode records (RECORD-1..RECORD-9).
        events, _ = read_records_batch(data, limits, schemas, _INFLATE[codec])
        return new_batch(events, LAYOUTS[RECORDS_FLAGS], _RECORDS_FORMATS[codec])
    flags &= 0x3F
    return new_batch(read_columns(data, 2, flags, limits, _INFLATE[fmt.codec]), LAYOUTS[flags], fmt)


def encode_batch_v1(value: Batch, schemas: RecordSchemas | None = None) -> bytes:
    """A batch v1, chosen as the reference chooses (the construct codec's ``encode_batch(..., version=1)``).

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
    if value.context is not None:  # CTX-2: mode context, in the codec given or the smallest (CTX-13)
        if value.layout is not None and value.layout != LAYOUTS[RECORDS_FLAGS]:
            raise EncodeError("mode context has exactly same_event_type_id and same_schema_version set (RECORD-1)")
        values, body = records_parts(events, schemas, value.context)
        best = b""
        for context_format in _CONTEXT_FORMATS.values() if fmt is None else (fmt,):
            candidate = bytes((_EXTENDED | RECORDS_FLAGS, context_format.to_byte())) + values
            candidate += _COMPRESS[context_format.codec](body)
            if not best or len(candidate) < len(best):
                best = candidate
        return best
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
