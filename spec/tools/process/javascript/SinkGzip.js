// `process: sink_gzip` routine for Kaitai Struct generated JavaScript parsers
// (Node.js). Kaitai Struct has no built-in gzip; sink_batch.ksy names this
// custom routine for the compressed batch body (BATCH-6). The generated code
// does `require('SinkGzip')` and calls `new SinkGzip_.SinkGzip().decode(bytes)`,
// so this file must be resolvable as the module "SinkGzip" (e.g. through
// NODE_PATH pointing at the folder that holds it).
//
// Rules (spec BATCH-6, LIMIT-3): exactly one gzip member (RFC 1952); invalid
// data, a bad CRC-32/ISIZE trailer, truncation or any byte after the member
// throws (bad_compression); inflation stops past max_decompressed_size
// (default 8 MiB) instead of allocating the expanded size.
//
// Node's gunzipSync is not used: it silently ignores garbage after a member and
// inflates concatenated members, both of which the spec forbids. Instead the
// header is parsed here, the deflate data inflated raw (zlib reports how much
// input it consumed), and the 8-byte trailer checked by hand.

(function (root, factory) {
  if (typeof define === "function" && define.amd) {
    define(["exports", "zlib"], factory);
  } else if (typeof exports === "object" && exports !== null && typeof exports.nodeType !== "number") {
    factory(exports, require("zlib"));
  } else {
    factory(root.SinkGzip || (root.SinkGzip = {}), root.zlib);
  }
})(typeof self !== "undefined" ? self : this, function (SinkGzip_, zlib) {
  var DEFAULT_MAX_DECOMPRESSED_SIZE = 8 * 1024 * 1024;

  var CRC_TABLE = null;
  function crc32(bytes) {
    if (typeof zlib.crc32 === "function") return zlib.crc32(bytes) >>> 0;
    // Fallback for Node releases without zlib.crc32 (before 20.15 / 22.2).
    if (CRC_TABLE === null) {
      CRC_TABLE = new Uint32Array(256);
      for (var n = 0; n < 256; n++) {
        var c = n;
        for (var k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        CRC_TABLE[n] = c >>> 0;
      }
    }
    var crc = 0xffffffff;
    for (var i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  }

  function fail(msg) {
    var err = new Error("sink_gzip: " + msg);
    err.errorClass = "bad_compression";
    return err;
  }

  function SinkGzip(maxDecompressedSize) {
    this.maxDecompressedSize =
      maxDecompressedSize === undefined || maxDecompressedSize === null
        ? SinkGzip.DEFAULT_MAX_DECOMPRESSED_SIZE
        : maxDecompressedSize;
  }
  SinkGzip.DEFAULT_MAX_DECOMPRESSED_SIZE = DEFAULT_MAX_DECOMPRESSED_SIZE;

  SinkGzip.prototype.decode = function (data) {
    var buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    // RFC 1952 member header: ID1 ID2 CM FLG MTIME(4) XFL OS [FEXTRA] [FNAME] [FCOMMENT] [FHCRC]
    if (buf.length < 18) throw fail("shorter than a gzip member");
    if (buf[0] !== 0x1f || buf[1] !== 0x8b) throw fail("not gzip (bad magic)");
    if (buf[2] !== 8) throw fail("unknown compression method " + buf[2]);
    var flg = buf[3];
    if (flg & 0xe0) throw fail("reserved gzip flag bits set");
    var pos = 10;
    if (flg & 0x04) {
      if (pos + 2 > buf.length) throw fail("truncated FEXTRA");
      pos += 2 + buf.readUInt16LE(pos);
    }
    for (var bit of [0x08, 0x10]) {
      if (flg & bit) {
        while (pos < buf.length && buf[pos] !== 0) pos++;
        if (pos >= buf.length) throw fail("unterminated FNAME/FCOMMENT");
        pos++;
      }
    }
    if (flg & 0x02) pos += 2;
    if (pos > buf.length) throw fail("truncated gzip header");

    var result;
    try {
      // maxOutputLength makes zlib stop (and throw) once the limit is passed.
      result = zlib.inflateRawSync(buf.subarray(pos), {
        info: true,
        maxOutputLength: Math.max(1, this.maxDecompressedSize),
      });
    } catch (e) {
      if (e && e.code === "ERR_BUFFER_TOO_LARGE") {
        var lim = new Error("sink_gzip: decompressed body exceeds " + this.maxDecompressedSize + " bytes");
        lim.errorClass = "limit_exceeded";
        throw lim;
      }
      throw fail("invalid deflate data: " + (e && e.message));
    }
    var out = result.buffer;
    if (out.length > this.maxDecompressedSize) {
      var lim2 = new Error("sink_gzip: decompressed body exceeds " + this.maxDecompressedSize + " bytes");
      lim2.errorClass = "limit_exceeded";
      throw lim2;
    }
    // bytesWritten = deflate input consumed up to the end of the deflate stream.
    var end = pos + result.engine.bytesWritten;
    if (end + 8 > buf.length) throw fail("truncated gzip trailer");
    if (buf.readUInt32LE(end) !== crc32(out)) throw fail("CRC-32 mismatch");
    if (buf.readUInt32LE(end + 4) !== out.length % 0x100000000) throw fail("ISIZE mismatch");
    if (end + 8 !== buf.length) throw fail("bytes after the gzip member");
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  };

  SinkGzip_.SinkGzip = SinkGzip;
});
