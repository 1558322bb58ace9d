// `process: sink_zstd` routine for Kaitai Struct generated JavaScript parsers
// (Node.js >= 22.15, whose zlib has Zstandard). Kaitai Struct has no built-in
// zstd; sink_batch_v1.ksy names this custom routine for a batch body with
// codec zstd (CODEC-2). The generated code does `require('SinkZstd')` and calls
// `new SinkZstd_.SinkZstd().decode(bytes)`, so this file must be resolvable as
// the module "SinkZstd" (e.g. through NODE_PATH pointing at its folder).
//
// Rules (spec CODEC-2, CODEC-3, LIMIT-9), the same as sink_zstd.py: exactly
// one frame (no skippable frame, no reserved header bit or block type, no
// dictionary id, valid checksum, input does not end inside it) and nothing
// after it (bad_compression); a window above max_zstd_window refused before
// decompressing and the output bounded by max_decompressed_size
// (limit_exceeded).
//
// zlib.zstdDecompressSync alone would decode concatenated frames and skip
// skippable ones, both of which the spec forbids, so the frame's extent is
// found first by walking its block headers (each names its size), as the
// Python routine does; then only that frame is decompressed, with
// maxOutputLength as the bound.

(function (root, factory) {
  if (typeof define === "function" && define.amd) {
    define(["exports", "zlib"], factory);
  } else if (typeof exports === "object" && exports !== null && typeof exports.nodeType !== "number") {
    factory(exports, require("zlib"));
  } else {
    factory(root.SinkZstd || (root.SinkZstd = {}), root.zlib);
  }
})(typeof self !== "undefined" ? self : this, function (SinkZstd_, zlib) {
  var DEFAULT_MAX_DECOMPRESSED_SIZE = 8 * 1024 * 1024;
  var DEFAULT_MAX_ZSTD_WINDOW = 8 * 1024 * 1024;

  function fail(msg, errorClass) {
    var err = new Error("sink_zstd: " + msg);
    err.errorClass = errorClass || "bad_compression";
    return err;
  }

  function le(buf, pos, size) {
    // Little-endian unsigned; doubles are exact for the window sizes that
    // matter (a content size above 2^53 is over any limit anyway).
    var v = 0;
    for (var i = size - 1; i >= 0; i--) v = v * 256 + buf[pos + i];
    return v;
  }

  // [frame length, window size] of the frame at the start of buf.
  function frameExtent(buf) {
    if (buf.length < 4 || buf[0] !== 0x28 || buf[1] !== 0xb5 || buf[2] !== 0x2f || buf[3] !== 0xfd) {
      throw fail("not a zstd frame (bad magic; skippable frames are not allowed)");
    }
    if (buf.length < 5) throw fail("input ends inside the zstd frame header");
    var fhd = buf[4];
    var fcsFlag = fhd >> 6;
    var singleSegment = (fhd >> 5) & 1;
    if ((fhd >> 3) & 1) throw fail("reserved bit of the zstd frame header is set");
    var checksum = (fhd >> 2) & 1;
    var didSize = [0, 1, 2, 4][fhd & 3];
    var fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag];
    var pos = 5;
    var windowSize = 0;
    if (!singleSegment) {
      if (pos >= buf.length) throw fail("input ends inside the zstd frame header");
      var wd = buf[pos];
      var base = Math.pow(2, 10 + (wd >> 3));
      windowSize = base + (base / 8) * (wd & 7);
      pos += 1;
    }
    if (pos + didSize + fcsSize > buf.length) throw fail("input ends inside the zstd frame header");
    if (le(buf, pos, didSize) !== 0) throw fail("zstd frame needs a dictionary; batches use none");
    pos += didSize;
    if (singleSegment) windowSize = le(buf, pos, fcsSize) + (fcsSize === 2 ? 256 : 0);
    pos += fcsSize;
    for (;;) {
      if (pos + 3 > buf.length) throw fail("input ends inside the zstd frame (block header)");
      var bh = le(buf, pos, 3);
      var last = bh & 1;
      var blockType = (bh >> 1) & 3;
      var size = bh >> 3;
      if (blockType === 3) throw fail("reserved zstd block type");
      pos += 3 + (blockType === 1 ? 1 : size);
      if (pos > buf.length) throw fail("input ends inside a zstd block");
      if (last) break;
    }
    pos += checksum ? 4 : 0;
    if (pos > buf.length) throw fail("input ends inside the zstd checksum");
    return [pos, windowSize];
  }

  function SinkZstd(maxDecompressedSize, maxZstdWindow) {
    this.maxDecompressedSize =
      maxDecompressedSize === undefined || maxDecompressedSize === null
        ? SinkZstd.DEFAULT_MAX_DECOMPRESSED_SIZE
        : maxDecompressedSize;
    this.maxZstdWindow =
      maxZstdWindow === undefined || maxZstdWindow === null ? SinkZstd.DEFAULT_MAX_ZSTD_WINDOW : maxZstdWindow;
  }
  SinkZstd.DEFAULT_MAX_DECOMPRESSED_SIZE = DEFAULT_MAX_DECOMPRESSED_SIZE;
  SinkZstd.DEFAULT_MAX_ZSTD_WINDOW = DEFAULT_MAX_ZSTD_WINDOW;

  SinkZstd.prototype.decode = function (data) {
    if (typeof zlib.zstdDecompressSync !== "function") {
      throw new Error("sink_zstd: this Node.js has no zlib.zstdDecompressSync (needs >= 22.15)");
    }
    var buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    var extent = frameExtent(buf);
    if (extent[0] !== buf.length) throw fail(buf.length - extent[0] + " bytes after the zstd frame");
    if (extent[1] > this.maxZstdWindow) {
      throw fail("zstd frame asks for a " + extent[1] + "-byte window, over " + this.maxZstdWindow, "limit_exceeded");
    }
    var out;
    try {
      out = zlib.zstdDecompressSync(buf, { maxOutputLength: Math.max(1, this.maxDecompressedSize) });
    } catch (e) {
      if (e && (e.code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError)) {
        throw fail("decompressed body exceeds " + this.maxDecompressedSize + " bytes", "limit_exceeded");
      }
      throw fail("invalid zstd frame: " + (e && e.message));
    }
    if (out.length > this.maxDecompressedSize) {
      throw fail("decompressed body exceeds " + this.maxDecompressedSize + " bytes", "limit_exceeded");
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  };

  SinkZstd_.SinkZstd = SinkZstd;
  SinkZstd_.frameExtent = frameExtent;
});
