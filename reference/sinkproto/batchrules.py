"""Pure rules of the column batch shared by every codec (BATCH-4, -6, -7, LIMIT-3).

These are the parts of the batch encoding that are arithmetic or policy
rather than layout: the canonical layout choice of the field encoder, and
gzip in both directions with the decompressed-size bound (zigzag is
:mod:`sinkproto.primitives`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

from .errors import BadCompression, LimitExceeded
from .messages import BatchLayout, Event

__all__ = ["canonical_layout", "gzip_body", "gunzip_body", "body_offset"]

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
