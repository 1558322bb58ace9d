"""batch, batch_v1: ``decode_batch(..., version=N)`` on arbitrary bytes, compressed bodies included.

Two targets from one module, one per protocol version: ``batch`` decodes
at version 0, ``batch_v1`` at version 1 (``TARGETS`` below).

Version 0 (``batch``): mutating gzip bytes mostly yields bad_compression, so the interesting body
paths would be fuzzed almost only uncompressed. To reach them under gzip as
well, every input is also decoded with its compression flipped (body gzipped,
or inflated, by the harness); both forms must give the same events or the
same error class (BATCH-6: compression is transparent).

Version 1 (``batch_v1``: version-0 and extended batches): as at version 0,
mutated compressed bytes mostly stop at ``bad_compression``; so every extended batch (mode ``columns`` or
``records``) is also decoded with its body carried by each other codec
(none, gzip, zstd: the harness decompresses and recompresses, bounded),
and all forms must give the same events and format-independent layout, or
the same error class (CODEC-1, CODEC-2: the codec is transparent). Then
the round trip and the limits, as in ``batch``, plus ``max_zstd_window``
and, for records mode, ``max_record_columns``. Records batches decode with
the writer schemas of the kit's registry (RECORD-2).
"""

from __future__ import annotations

import zlib

from ..seeds import units, units_v1
from ..target import Check, Seed, Target

COMPRESSED = 0x40  # BATCH-1 header bit 6
RESERVED = 0x80  # BATCH-1 header bit 7
# The six header values present when their flag is set (BATCH-2): bits 5..0.
# Bound on what the harness itself inflates: it must not become the bomb.
FLIP_INFLATE_LIMIT = 1 << 20


def flip_compression(data: bytes) -> bytes | None:
    """The same batch with bit 6 toggled and the body gzipped or inflated; None when not possible."""
    if not data or data[0] & RESERVED:
        return None
    from sinkproto.batchrules import body_offset  # here: the harness imports the kit once instrumented

    start = body_offset(data)
    if start is None:
        return None
    head, body = bytes([data[0] ^ COMPRESSED]) + data[1:start], data[start:]
    if not data[0] & COMPRESSED:
        packer = zlib.compressobj(-1, zlib.DEFLATED, 31)
        return head + packer.compress(body) + packer.flush()
    inflater = zlib.decompressobj(31)
    try:
        plain = inflater.decompress(body, FLIP_INFLATE_LIMIT)
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
        return None
    return head + plain


def _bombs() -> list[Seed]:
    """Bodies that inflate past max_decompressed_size (8 MiB) from under 20 kB (LIMIT-3)."""

    def gzip(body: bytes) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        return packer.compress(body) + packer.flush()

    from sinkproto.primitives import varint_bytes  # here: the harness imports this module before it instruments the kit

    size = 9 << 20
    # A well-formed one-event batch (every same_* and delta flag set, so the
    # body is count, keys, offsets, timestamps, event_data) whose event data
    # is 9 MiB of zeros: valid in every respect but the size limit.
    header = bytes([0x7F, 1, 1, 0, 0, 0]) + varint_bytes(size)
    body = b"\x01" + b"\x00" + b"\x01\x00" + b"\x01\x00"
    return [
        ("bomb.zeros", bytes([COMPRESSED]) + gzip(bytes(size))),
        ("bomb.event-data", header + gzip(body + bytes(size))),
    ]


def setup_v0() -> Check:
    from dataclasses import replace

    from sinkproto import Batch, DecodeError, Limits, decode_batch, encode_batch

    from ..oracles import TIGHT_VARINTS, check_roundtrip, check_tighter, decode_or_none
    from ..target import Finding

    def decode(data: bytes) -> Batch | DecodeError:
        return decode_or_none(decode_batch, data, bounded_offset=False)

    def check(data: bytes) -> None:
        batch = decode(data)
        flipped = flip_compression(data)
        if flipped is not None:
            other = decode(flipped)
            if isinstance(batch, DecodeError) or isinstance(other, DecodeError):
                mine = batch.error_class if isinstance(batch, DecodeError) else "accepted"
                theirs = other.error_class if isinstance(other, DecodeError) else "accepted"
                if mine != theirs:
                    raise Finding(f"compression is not transparent: {mine} as sent, {theirs} flipped ({flipped.hex()})")
            elif batch.events != other.events or batch.layout != replace(
                other.layout, compressed=not other.layout.compressed
            ):
                raise Finding(f"compression is not transparent: the flipped batch {flipped.hex()} decodes differently")
        if isinstance(batch, DecodeError):
            return
        assert batch.layout is not None  # a decoded batch records its layout
        check_roundtrip(batch, encode_batch, decode_batch)
        check_tighter(decode_batch, data, batch, TIGHT_VARINTS, must_fail=False)
        # Each limit set one below what this batch needs must refuse it (LIMIT-3..5).
        events = batch.events
        needs = {
            "max_key_size": max(len(e.key) for e in events),
            "max_event_data_size": max(len(e.event_data) for e in events),
            "max_batch_events": len(events),
            # Any body holds at least its count byte, so 0 refuses every compressed batch.
            "max_decompressed_size": 1 if batch.layout.compressed else 0,
        }
        for name, needed in needs.items():
            if needed > 0:
                check_tighter(decode_batch, data, batch, Limits(**{name: needed - 1}), must_fail=True)

    return check


EXTENDED = 0x80  # BATCH-12: header bit 7
# COMPRESSED (above) must be clear in an extended header (BATCH-13).
CODECS = (0, 1, 2)  # none, gzip, zstd (BATCH-14)
# Bound on what the harness itself decompresses: it must not become the bomb.
RECODE_LIMIT = 1 << 20


def plain_body(codec: int, body: bytes) -> bytes | None:
    """The body without its codec, or None when it does not decompress cleanly within the harness bound."""
    if codec == 0:
        return body
    if codec == 1:
        inflater = zlib.decompressobj(31)
        try:
            plain = inflater.decompress(body, RECODE_LIMIT)
        except zlib.error:
            return None
        return plain if inflater.eof and not inflater.unused_data and not inflater.unconsumed_tail else None
    import zstandard

    try:
        params = zstandard.get_frame_parameters(body)
        if params.window_size > RECODE_LIMIT or params.dict_id:
            return None
        inflater = zstandard.ZstdDecompressor(max_window_size=RECODE_LIMIT).decompressobj()
        plain = inflater.decompress(body[:RECODE_LIMIT])
    except zstandard.ZstdError:
        return None
    return plain if inflater.eof and not inflater.unused_data and len(plain) <= RECODE_LIMIT else None


def zstd_window(data: bytes) -> int:
    """The window size named by the zstd frame of an extended batch with codec zstd that decoded."""
    import zstandard
    from sinkproto.batchrules import body_offset

    start = body_offset(data, 2)
    assert start is not None  # it decoded
    return int(zstandard.get_frame_parameters(data[start:]).window_size)


def recoded(data: bytes) -> list[bytes]:
    """The same extended batch with its body under each other codec; [] when not an extended batch of mode 0 or 1."""
    if (
        len(data) < 2
        or data[0] & (EXTENDED | COMPRESSED) != EXTENDED
        or data[1] & 0x0F > 1
        or data[1] >> 4 not in CODECS
    ):
        return []
    from sinkproto.batchrules import body_offset  # here: the harness imports the kit once instrumented

    start = body_offset(data, 2)
    if start is None:
        return []
    plain = plain_body(data[1] >> 4, data[start:])
    if plain is None:
        return []
    from sinkproto.batchrules import gzip_body, zstd_body

    pack = {0: bytes, 1: gzip_body, 2: zstd_body}
    mode = data[1] & 0x0F
    return [
        data[:1] + bytes((codec << 4 | mode,)) + data[2:start] + pack[codec](plain)
        for codec in CODECS
        if codec != data[1] >> 4
    ]


def setup_v1() -> Check:
    from functools import partial

    from sinkproto import DecodeError, Limits
    from sinkproto.codec import DEFAULT
    from sinkproto.messages import BatchMode, BatchV1
    from sinkproto.records import RecordSchemas
    from sinkproto.schemas import default_registry

    from ..oracles import REQUIREMENT_IDS_V1, TIGHT_VARINTS, check_roundtrip, check_tighter, decode_or_none
    from ..target import Finding

    schemas = RecordSchemas.from_registry(default_registry())
    decode_batch = partial(DEFAULT.decode_batch, version=1, schemas=schemas)
    encode_batch = partial(DEFAULT.encode_batch, version=1, schemas=schemas)

    def decode(data: bytes, limits: Limits = Limits()) -> BatchV1 | DecodeError:
        return decode_or_none(decode_batch, data, limits, bounded_offset=False, known=REQUIREMENT_IDS_V1)

    def check(data: bytes) -> None:
        batch = decode(data)
        for other in recoded(data):
            again = decode(other)
            mine = batch.error_class if isinstance(batch, DecodeError) else "accepted"
            theirs = again.error_class if isinstance(again, DecodeError) else "accepted"
            if mine != theirs:
                raise Finding(f"the codec is not transparent: {mine} as sent, {theirs} as {other.hex()}")
            if (
                isinstance(batch, BatchV1)
                and isinstance(again, BatchV1)
                and (batch.events, batch.layout) != (again.events, again.layout)
            ):
                raise Finding(f"the codec is not transparent: {other.hex()} decodes to other events")
        if isinstance(batch, DecodeError):
            return
        check_roundtrip(batch, encode_batch, decode_batch)
        check_tighter(decode_batch, data, batch, TIGHT_VARINTS, must_fail=False, known=REQUIREMENT_IDS_V1)
        # Each limit set one below what this batch needs must refuse it (LIMIT-3..5, CODEC-3).
        events = batch.events
        compressed = bool(batch.layout and batch.layout.compressed) or bool(batch.format and batch.format.codec)
        records = batch.format is not None and batch.format.mode is BatchMode.RECORDS
        plan = schemas.plan(events[0].event_type_id, events[0].schema_version) if records else None
        needs = {
            "max_key_size": max(len(e.key) for e in events),
            "max_event_data_size": max(len(e.event_data) for e in events),
            "max_batch_events": len(events),
            # Any body holds at least its count byte, so 0 refuses every compressed batch.
            # Records mode: the rebuilt keys and event data count too (RECORD-6).
            "max_decompressed_size": sum(len(e.key) + len(e.event_data) for e in events)
            if records
            else 1
            if compressed
            else 0,
            "max_record_columns": len(plan.columns) if plan is not None else 0,  # LIMIT-10
            # LIMIT-9: the window the zstd frame names (the content size, for a single-segment frame).
            "max_zstd_window": zstd_window(data) if batch.format and batch.format.codec == 2 else 0,
        }
        for name, needed in needs.items():
            if needed > 0:
                check_tighter(
                    decode_batch, data, batch, Limits(**{name: needed - 1}), must_fail=True, known=REQUIREMENT_IDS_V1
                )

    return check


TARGETS = (
    Target(
        name="batch",
        description="decode_batch: flags, columns, deltas, gzip body and its size limit",
        setup=setup_v0,
        seeds=lambda: [*units("batch"), *_bombs()],
        # Room for gzip bombs that inflate past the 8 MiB default limit.
        max_len=20000,
    ),
    Target(
        name="batch_v1",
        description="decode_batch at version 1: version-0 and extended batches, format byte, none/gzip/zstd bodies and their limits",
        setup=setup_v1,
        seeds=lambda: units_v1("batch"),
        # Room for compressed bodies that inflate past the 8 MiB default limit.
        max_len=20000,
    ),
)
