"""`process: sink_zstd` routine for Kaitai Struct generated Python parsers.

Kaitai Struct has no built-in Zstandard; sink_batch_v1.ksy names this custom
routine for a batch body with codec zstd (CODEC-2). The generated code does
``from sink_zstd import SinkZstd`` and calls ``SinkZstd().decode(data)``, so
this module must be importable next to the generated parsers. It needs the
``zstandard`` package (a dependency of the kit).

Rules (spec CODEC-2, CODEC-3, LIMIT-9):
* exactly one Zstandard frame (RFC 8878): bad magic (skippable frames
  included), a reserved header bit, a dictionary id other than 0, a reserved
  block type, a corrupt block, a checksum mismatch or input ending inside the
  frame -> error (bad_compression);
* any byte after that frame -> error (bad_compression);
* the window the frame header asks for (Window_Descriptor, or the content
  size of a single-segment frame) above ``max_zstd_window`` -> error
  (limit_exceeded), before anything is decompressed;
* output bounded by ``max_decompressed_size`` while decompressing, whatever
  content size the header announces.

The frame's extent is found by walking its block headers (each names its own
size), so "bytes after the frame" and "input ends inside the frame" are
decided without decompressing, and the same walk is done by the JavaScript
routine (SinkZstd.js): both parsers reject the same inputs for the same reason.
"""

from __future__ import annotations

import io

import zstandard

# The spec's defaults (LIMIT-6, LIMIT-9); module-level so a caller with other
# configured limits can change them before parsing.
DEFAULT_MAX_DECOMPRESSED_SIZE: int = 8 * 1024 * 1024
DEFAULT_MAX_ZSTD_WINDOW: int = 8 * 1024 * 1024

_MAGIC = b"\x28\xb5\x2f\xfd"
_READ = 64 * 1024


class SinkZstdError(ValueError):
    """The body is not exactly one valid zstd frame (bad_compression)."""


class SinkZstdLimitError(SinkZstdError):
    """The frame's window or decompressed size exceeds a limit (limit_exceeded)."""


def frame_extent(data: bytes) -> tuple[int, int]:
    """(frame length, window size) of the zstd frame at the start of ``data``.

    Raises SinkZstdError on anything but one well-formed frame layout; the
    block contents themselves are checked by the decompressor.
    """
    if data[:4] != _MAGIC:
        raise SinkZstdError("not a zstd frame (bad magic; skippable frames are not allowed)")
    if len(data) < 5:
        raise SinkZstdError("input ends inside the zstd frame header")
    fhd = data[4]
    fcs_flag, single_segment, reserved, checksum, did_flag = (
        fhd >> 6,
        (fhd >> 5) & 1,
        (fhd >> 3) & 1,
        (fhd >> 2) & 1,
        fhd & 3,
    )
    if reserved:
        raise SinkZstdError("reserved bit of the zstd frame header is set")
    pos = 5
    window = 0
    if not single_segment:
        if pos >= len(data):
            raise SinkZstdError("input ends inside the zstd frame header")
        wd = data[pos]
        base = 1 << (10 + (wd >> 3))
        window = base + (base >> 3) * (wd & 7)
        pos += 1
    did_size = (0, 1, 2, 4)[did_flag]
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if pos + did_size + fcs_size > len(data):
        raise SinkZstdError("input ends inside the zstd frame header")
    if int.from_bytes(data[pos : pos + did_size], "little"):
        raise SinkZstdError("zstd frame needs a dictionary; batches use none")
    pos += did_size
    if single_segment:
        # RFC 8878 3.1.1.1.2: a single-segment frame's window is its content size.
        window = int.from_bytes(data[pos : pos + fcs_size], "little") + (256 if fcs_size == 2 else 0)
    pos += fcs_size
    while True:
        if pos + 3 > len(data):
            raise SinkZstdError("input ends inside the zstd frame (block header)")
        bh = int.from_bytes(data[pos : pos + 3], "little")
        last, block_type, size = bh & 1, (bh >> 1) & 3, bh >> 3
        if block_type == 3:
            raise SinkZstdError("reserved zstd block type")
        pos += 3 + (1 if block_type == 1 else size)
        if pos > len(data):
            raise SinkZstdError("input ends inside a zstd block")
        if last:
            break
    pos += 4 if checksum else 0
    if pos > len(data):
        raise SinkZstdError("input ends inside the zstd checksum")
    return pos, window


class SinkZstd:
    def __init__(self, max_decompressed_size: int | None = None, max_zstd_window: int | None = None) -> None:
        self.max_decompressed_size = (
            DEFAULT_MAX_DECOMPRESSED_SIZE if max_decompressed_size is None else max_decompressed_size
        )
        self.max_zstd_window = DEFAULT_MAX_ZSTD_WINDOW if max_zstd_window is None else max_zstd_window

    def decode(self, data: bytes) -> bytes:
        end, window = frame_extent(bytes(data))
        if end != len(data):
            raise SinkZstdError(f"{len(data) - end} bytes after the zstd frame")
        if window > self.max_zstd_window:
            raise SinkZstdLimitError(f"zstd frame asks for a {window}-byte window, over {self.max_zstd_window}")
        limit = self.max_decompressed_size
        # stream_reader returns at most the requested size per read, so the
        # output never grows past limit + 1 bytes (a bomb stops here).
        dctx = zstandard.ZstdDecompressor(max_window_size=max(self.max_zstd_window, 1 << 10))
        out = bytearray()
        try:
            with dctx.stream_reader(io.BytesIO(bytes(data)), read_across_frames=False) as reader:
                while True:
                    chunk = reader.read(min(_READ, limit + 1 - len(out)))
                    if not chunk:
                        break
                    out += chunk
                    if len(out) > limit:
                        raise SinkZstdLimitError(f"decompressed body exceeds {limit} bytes")
        except zstandard.ZstdError as exc:
            raise SinkZstdError(f"invalid zstd frame: {exc}") from exc
        return bytes(out)
