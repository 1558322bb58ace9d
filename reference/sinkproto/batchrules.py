"""Pure rules of the batch shared by every codec and version (BATCH-4, -6, -7, LIMIT-3; CODEC-2, CODEC-3).

These are the parts of the batch encoding that are arithmetic or policy
rather than layout: the canonical layout choice of the field encoder, and
gzip in both directions with the decompressed-size bound (zigzag is
:mod:`sinkproto.primitives`).

Version 1 adds zstd (batch v1's codec 2, spec/v1/batch.md) with the same
contract as gzip: never produce more than the limit, never trust a size the
input announces, one frame or member and nothing after it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import zstandard

from .errors import BadCompression, LimitExceeded
from .messages import BatchLayout, Event

__all__ = ["canonical_layout", "gzip_body", "gunzip_body", "body_offset", "zstd_body", "unzstd_body", "ZSTD_LEVEL"]

# The field encoder uses zlib's gzip wrapper at the default level; in Python
# that is compressobj(-1, DEFLATED, 31). gzip.compress() writes another header.
_GZIP_WBITS = 31
_INFLATE_STEP = 64 * 1024


def body_offset(data: bytes, start: int = 1) -> int | None:
    """Where a batch's body starts: after its header values (BATCH-2), which begin at ``start``; None if they are cut.

    ``start`` is 1 for a version-0 batch and 2 for an extended batch v1
    (BATCH-15: the format byte comes first). For tools that rewrite a
    body (fuzz harnesses, tests); it checks nothing else.
    """
    pos = start
    for bit in (0x20, 0x10, 0x08, 0x04, 0x02, 0x01):
        if data[0] & bit:
            while pos < len(data) and data[pos] & 0x80:
                pos += 1
            if pos >= len(data):
                return None
            pos += 1
    return pos


def canonical_layout(events: Sequence[Event], *, compressed: bool = False) -> BatchLayout:
    """BATCH-7: the field encoder's choice; ``compressed`` is decided separately."""
    first = events[0]

    def all_equal(get: Callable[[Event], object]) -> bool:
        ref = get(first)
        return all(get(e) == ref for e in events)

    return BatchLayout(
        compressed=compressed,
        same_event_type_id=all_equal(lambda e: e.event_type_id),
        same_schema_version=all_equal(lambda e: e.schema_version),
        same_key_length=all_equal(lambda e: len(e.key)),
        delta_offset=True,
        delta_timestamp=True,
        same_event_data_length=all_equal(lambda e: len(e.event_data)),
    )


def gzip_body(body: bytes) -> bytes:
    compressor = zlib.compressobj(-1, zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(body) + compressor.flush()


def gunzip_body(data: bytes, *, limit: int, offset: int) -> bytes:
    """Inflate one gzip member, never producing more than ``limit`` bytes.

    The output is pulled in bounded steps so that a decompression bomb is
    refused after at most ``limit + 1`` bytes were produced (LIMIT-3).
    ``offset`` is where the gzip data starts in the enclosing unit, for errors.
    """
    inflater = zlib.decompressobj(_GZIP_WBITS)
    out = bytearray()
    pending = data
    try:
        while True:
            room = limit + 1 - len(out)
            chunk = inflater.decompress(pending, min(room, _INFLATE_STEP))
            out += chunk
            if len(out) > limit:
                raise LimitExceeded(
                    f"decompressed batch body exceeds max_decompressed_size={limit}",
                    offset=offset,
                    requirement="LIMIT-3",
                )
            pending = inflater.unconsumed_tail
            if inflater.eof or (not pending and not chunk):
                break
    except zlib.error as exc:
        raise BadCompression(f"gzip body does not inflate: {exc}", offset=offset) from None
    if not inflater.eof:
        raise BadCompression("gzip body ends before the end of its gzip member", offset=offset + len(data))
    if inflater.unused_data:
        raise BadCompression(
            f"{len(inflater.unused_data)} bytes follow the gzip member",
            offset=offset + len(data) - len(inflater.unused_data),
        )
    return bytes(out)


# -- version 1: zstd (CODEC-2, CODEC-3, LIMIT-9) ---------------------------------------------------

ZSTD_LEVEL = 19  # CODEC-5: the reference encoder's level; any level decodes the same
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Compressed input is fed in small slices: one slice of zstd can expand by
# roughly 2^17 per 3 bytes (RLE blocks), so a small slice bounds the output
# produced beyond the limit before the check sees it.
_ZSTD_FEED = 64


def zstd_body(body: bytes) -> bytes:
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True, write_content_size=True)
    return compressor.compress(body)


def unzstd_body(data: bytes, *, limit: int, window_limit: int, offset: int) -> bytes:
    """Decompress exactly one zstd frame into at most ``limit`` bytes.

    ``window_limit`` is ``max_zstd_window`` (LIMIT-9), checked from the frame
    header before any decompression; ``offset`` is where the frame starts in
    the enclosing unit, for errors.
    """
    if data[:4] != _ZSTD_MAGIC:
        raise BadCompression(
            "body is not a zstd frame (bad magic number; skippable frames are not allowed)",
            offset=offset,
            requirement="CODEC-2",
        )
    try:
        params = zstandard.get_frame_parameters(data)
    except zstandard.ZstdError as exc:
        raise BadCompression(f"zstd frame header does not parse: {exc}", offset=offset, requirement="CODEC-2") from None
    if params.dict_id:
        raise BadCompression(
            f"zstd frame needs dictionary {params.dict_id}; batches use none", offset=offset, requirement="CODEC-2"
        )
    if params.window_size > window_limit:
        raise LimitExceeded(
            f"zstd frame asks for a {params.window_size}-byte window, over max_zstd_window={window_limit}",
            offset=offset,
            requirement="LIMIT-9",
        )
    # max_window_size is a second guard inside libzstd; the content size the
    # header announces is never used to allocate (CODEC-3).
    inflater = zstandard.ZstdDecompressor(max_window_size=max(window_limit, 1 << 10)).decompressobj()
    out = bytearray()
    try:
        for start in range(0, len(data), _ZSTD_FEED):
            out += inflater.decompress(data[start : start + _ZSTD_FEED])
            if len(out) > limit:
                raise LimitExceeded(
                    f"decompressed batch body exceeds max_decompressed_size={limit}",
                    offset=offset,
                    requirement="CODEC-3",
                )
            if inflater.eof:
                break
    except zstandard.ZstdError as exc:
        raise BadCompression(f"zstd frame does not decompress: {exc}", offset=offset, requirement="CODEC-2") from None
    if not inflater.eof:
        raise BadCompression("input ends inside the zstd frame", offset=offset + len(data), requirement="CODEC-2")
    unused = len(inflater.unused_data) + max(0, len(data) - (start + _ZSTD_FEED))
    if unused:
        raise BadCompression(
            f"{unused} bytes follow the zstd frame", offset=offset + len(data) - unused, requirement="CODEC-2"
        )
    return bytes(out)
