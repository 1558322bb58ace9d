"""Pure rules of batch v1 shared by every codec: zstd in both directions, bounded (CODEC-2, CODEC-3).

gzip is version 0's (:func:`sinkproto.batchrules.gunzip_body`); zstd is
added here with the same contract: never produce more than the limit, never
trust a size the input announces, one frame and nothing after it.
"""

from __future__ import annotations

import zstandard

from .errors import BadCompression, LimitExceeded

__all__ = ["zstd_body", "unzstd_body", "ZSTD_LEVEL"]

ZSTD_LEVEL = 19  # CODEC-5: the reference encoder's level; any level decodes the same
_MAGIC = b"\x28\xb5\x2f\xfd"
# Compressed input is fed in small slices: one slice of zstd can expand by
# roughly 2^17 per 3 bytes (RLE blocks), so a small slice bounds the output
# produced beyond the limit before the check sees it.
_FEED = 64


def zstd_body(body: bytes) -> bytes:
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True, write_content_size=True)
    return compressor.compress(body)


def unzstd_body(data: bytes, *, limit: int, window_limit: int, offset: int) -> bytes:
    """Decompress exactly one zstd frame into at most ``limit`` bytes.

    ``window_limit`` is ``max_zstd_window`` (LIMIT-9), checked from the frame
    header before any decompression; ``offset`` is where the frame starts in
    the enclosing unit, for errors.
    """
    if data[:4] != _MAGIC:
        raise BadCompression("body is not a zstd frame (bad magic number; skippable frames are not allowed)",
                             offset=offset, requirement="CODEC-2")
    try:
        params = zstandard.get_frame_parameters(data)
    except zstandard.ZstdError as exc:
        raise BadCompression(f"zstd frame header does not parse: {exc}", offset=offset, requirement="CODEC-2") from None
    if params.dict_id:
        raise BadCompression(f"zstd frame needs dictionary {params.dict_id}; batches use none",
                             offset=offset, requirement="CODEC-2")
    if params.window_size > window_limit:
        raise LimitExceeded(f"zstd frame asks for a {params.window_size}-byte window, over max_zstd_window={window_limit}",
                            offset=offset, requirement="LIMIT-9")
    # max_window_size is a second guard inside libzstd; the content size the
    # header announces is never used to allocate (CODEC-3).
    inflater = zstandard.ZstdDecompressor(max_window_size=max(window_limit, 1 << 10)).decompressobj()
    out = bytearray()
    try:
        for start in range(0, len(data), _FEED):
            out += inflater.decompress(data[start : start + _FEED])
            if len(out) > limit:
                raise LimitExceeded(f"decompressed batch body exceeds max_decompressed_size={limit}",
                                    offset=offset, requirement="CODEC-3")
            if inflater.eof:
                break
    except zstandard.ZstdError as exc:
        raise BadCompression(f"zstd frame does not decompress: {exc}", offset=offset, requirement="CODEC-2") from None
    if not inflater.eof:
        raise BadCompression("input ends inside the zstd frame", offset=offset + len(data), requirement="CODEC-2")
    unused = len(inflater.unused_data) + max(0, len(data) - (start + _FEED))
    if unused:
        raise BadCompression(f"{unused} bytes follow the zstd frame", offset=offset + len(data) - unused,
                             requirement="CODEC-2")
    return bytes(out)
