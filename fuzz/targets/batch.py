"""batch: ``decode_batch`` on arbitrary bytes, compressed bodies included.

Mutating gzip bytes mostly yields bad_compression, so the interesting body
paths would be fuzzed almost only uncompressed. To reach them under gzip as
well, every input is also decoded with its compression flipped (body gzipped,
or inflated, by the harness); both forms must give the same events or the
same error class (BATCH-6: compression is transparent).
"""

from __future__ import annotations

import zlib

from ..seeds import units
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


def setup() -> Check:
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
            elif batch.events != other.events or batch.layout != replace(other.layout, compressed=not other.layout.compressed):
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


TARGET = Target(
    name="batch",
    description="decode_batch: flags, columns, deltas, gzip body and its size limit",
    setup=setup,
    seeds=lambda: [*units("batch"), *_bombs()],
    # Room for gzip bombs that inflate past the 8 MiB default limit.
    max_len=20000,
)
