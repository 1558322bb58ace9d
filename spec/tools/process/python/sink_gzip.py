"""`process: sink_gzip` routine for Kaitai Struct generated Python parsers.

Kaitai Struct has no built-in gzip; sink_batch.ksy names this custom routine
for the compressed batch body (BATCH-6). The generated code does
``from sink_gzip import SinkGzip`` and calls ``SinkGzip().decode(data)``, so
this module must be importable next to the generated parsers.

Rules (spec BATCH-6, LIMIT-3):
* exactly one gzip member (RFC 1952): not gzip, corrupt deflate data, a bad
  CRC-32/ISIZE trailer or a truncated member -> error (bad_compression);
* any byte after that member, even a second member -> error (bad_compression);
* inflate incrementally and fail as soon as the output would exceed
  ``max_decompressed_size`` (default 8 MiB, the spec's default limit), so a
  gzip bomb never allocates its expanded size.
"""

from __future__ import annotations

import zlib

# The spec's default max_decompressed_size (LIMIT-6). Module-level so a caller
# with a different configured limit can change it before parsing.
DEFAULT_MAX_DECOMPRESSED_SIZE: int = 8 * 1024 * 1024

# Input is fed in slices so that output is produced (and bounded) step by step.
_SLICE = 64 * 1024


class SinkGzipError(ValueError):
    """The compressed batch body is not exactly one valid gzip member (bad_compression)."""


class SinkGzipLimitError(SinkGzipError):
    """The decompressed body would exceed max_decompressed_size (limit_exceeded)."""


class SinkGzip:
    def __init__(self, max_decompressed_size: int | None = None) -> None:
        self.max_decompressed_size = (
            DEFAULT_MAX_DECOMPRESSED_SIZE if max_decompressed_size is None else max_decompressed_size
        )

    def decode(self, data: bytes) -> bytes:
        limit = self.max_decompressed_size
        # wbits 16+15: gzip wrapper only (no zlib/raw auto-detection), so a
        # zlib stream is rejected rather than silently accepted.
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = bytearray()
        pos = 0
        try:
            while pos < len(data) and not inflater.eof:
                # max_length bounds each step's output at one byte past the limit.
                chunk = inflater.decompress(data[pos : pos + _SLICE], limit + 1 - len(out))
                pos += _SLICE
                out += chunk
                if len(out) > limit:
                    raise SinkGzipLimitError(f"decompressed body exceeds {limit} bytes")
                # Input the inflater could not take yet because of max_length.
                while inflater.unconsumed_tail and not inflater.eof:
                    chunk = inflater.decompress(inflater.unconsumed_tail, limit + 1 - len(out))
                    out += chunk
                    if len(out) > limit:
                        raise SinkGzipLimitError(f"decompressed body exceeds {limit} bytes")
        except zlib.error as exc:
            raise SinkGzipError(f"invalid gzip body: {exc}") from exc
        if not inflater.eof:
            raise SinkGzipError("gzip body is truncated (member does not end)")
        if inflater.unused_data or pos < len(data):
            raise SinkGzipError("bytes after the gzip member")
        return bytes(out)
