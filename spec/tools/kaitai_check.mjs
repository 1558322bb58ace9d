// Parse test cases with the Kaitai-generated JavaScript parsers and report the
// decoded values in the vector JSON format of the Sink kit (contract field
// names), so a test can compare them with the expected values.
//
// Usage: node kaitai_check.mjs CASES.json [--parsers DIR]
//   CASES.json: {"kind"?: K, "version"?: V, "cases": [{"id", "kind"?, "version"?,
//                "hex", "value"?, "value_subset"?: bool, "body_hex"?: "..."}]}
//   (a vectors/v0/<kind>.json file is accepted as is). version 1 selects the
//   version-1 parsers (sink_frame_v1, sink_batch_v1) and value forms.
//   --parsers: folder of the generated parsers (default build/kaitai/javascript).
// Output (stdout): {"results": [{"id", "parsed", "error", "value", "body_hex",
//                   "match", "mismatch", "imprecise"}]}
//
// Integers: vector integers reach 2^64-1, beyond JS doubles. The cases file is
// read with lossless-json (integers become BigInt) and the output is written
// with BigInt integers, so nothing is rounded on the way. The generated
// parsers themselves compute varint values as doubles (Kaitai's JS target has
// no 64-bit integers), so this script takes every varint's exact value from its
// 7-bit groups as a BigInt, and checks that the parser's own `value` instance
// agrees wherever a double can hold the value exactly ("imprecise" lists the
// places where it could not be checked).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let casesPath = null;
let parsersDir = resolve(here, "..", "..", "build", "kaitai", "javascript");
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--parsers") parsersDir = resolve(args[++i]);
  else casesPath = args[i];
}
if (!casesPath) {
  console.error("usage: node kaitai_check.mjs CASES.json [--parsers DIR]");
  process.exit(2);
}

// Generated parsers `require('kaitai-struct/KaitaiStream')` and `require('SinkGzip')`
// by bare name; make both resolvable from the build folder without copying
// node_modules there (NODE_PATH is only read at start-up, hence _initPaths).
const Module = createRequire(import.meta.url)("node:module");
process.env.NODE_PATH = [parsersDir, join(here, "node_modules"), process.env.NODE_PATH || ""]
  .filter(Boolean)
  .join(process.platform === "win32" ? ";" : ":");
Module._initPaths();

const require = createRequire(join(parsersDir, "index.js"));
const { parse: losslessParse, stringify: losslessStringify, isInteger } = createRequire(import.meta.url)(
  "lossless-json",
);
const KaitaiStream = require("kaitai-struct/KaitaiStream");
const { SinkFrame } = require(join(parsersDir, "SinkFrame.js"));
const { SinkEvent } = require(join(parsersDir, "SinkEvent.js"));
const { SinkNackPayload } = require(join(parsersDir, "SinkNackPayload.js"));
const { SinkBatch } = require(join(parsersDir, "SinkBatch.js"));
const { SinkStream } = require(join(parsersDir, "SinkStream.js"));
const { SinkFrameV1 } = require(join(parsersDir, "SinkFrameV1.js"));
const { SinkBatchV1 } = require(join(parsersDir, "SinkBatchV1.js"));

const TWO53 = 2n ** 53n;

// ---- exact integers ------------------------------------------------------

const imprecise = [];

function hex(bytes) {
  return Buffer.from(bytes).toString("hex");
}

// fixed_bytes_column has no items when its length is 0: every piece is empty.
function piece(col, i) {
  return col.items.length ? hex(col.items[i]) : "";
}

function groupsValue(v) {
  let out = 0n;
  v.groups.forEach((g, i) => {
    out += BigInt(g.groupValue) << (7n * BigInt(i));
  });
  return out;
}

// Exact value of a vlq_leb128; cross-check the parser's double `value`.
function vlq(v, where) {
  const exact = groupsValue(v);
  checkDouble(exact, v.value, where);
  return exact;
}

function checkDouble(exact, dbl, where) {
  if (exact >= -TWO53 && exact <= TWO53) {
    if (!Number.isInteger(dbl) || BigInt(dbl) !== exact) throw new Error(`${where}: parser value ${dbl} != exact ${exact}`);
  } else {
    // A double cannot hold the value: accept rounding (a few ulps, the
    // parser sums up to 10 rounded terms) but not a grossly wrong value such
    // as one cut to 32 bits.
    const approx = Number(exact);
    if (!(Math.abs(approx - dbl) <= Math.abs(approx) * 2 ** -48)) {
      throw new Error(`${where}: parser value ${dbl} is not even close to exact ${exact}`);
    }
    imprecise.push(where);
  }
}

function zigzag(z) {
  const raw = groupsValue(z);
  return raw % 2n === 0n ? raw / 2n : -((raw + 1n) / 2n);
}

// ---- contract-form values ------------------------------------------------

const FRAME_TYPES = ["connection_request", "connection_response", null, "ack", "publish", "ping", "pong", "nack"];
const RESPONSES = [
  "connected",
  "hello_new_client",
  "instance_id_mismatch",
  "quarantined",
  "unsupported_protocol_version",
  "unsupported_application_version",
];

function eventValue(e) {
  return {
    event_type_id: vlq(e.eventTypeId, "event_type_id"),
    schema_version: vlq(e.schemaVersion, "schema_version"),
    key_hex: hex(e.key.data),
    offset: vlq(e.offset, "offset"),
    timestamp: vlq(e.timestamp, "timestamp"),
    event_data_hex: hex(e.eventData.data),
  };
}

function frameValue(f) {
  const type = FRAME_TYPES[f.type];
  const b = f.body;
  switch (type) {
    case "connection_request":
      return {
        type,
        version: BigInt(f.version),
        app_version_hex: hex(b.appVersion.data),
        client_instance_id: BigInt(b.clientInstanceId),
        server_instance_id: b.serverInstanceId === undefined ? null : BigInt(b.serverInstanceId),
      };
    case "connection_response": {
      const response = RESPONSES[f.response];
      const v = { type, response };
      if (response === "hello_new_client") v.server_instance_id = BigInt(b.serverInstanceId);
      if (response === "quarantined") {
        v.machine_message_hex = hex(b.machineMessage.data);
        v.human_message_hex = hex(b.humanMessage);
      }
      return v;
    }
    case "ack":
      return { type, message_id: BigInt(f.messageId) };
    case "publish":
      return { type, message_id: BigInt(f.messageId), event: eventValue(b) };
    case "nack":
      return {
        type,
        message_id: BigInt(f.messageId),
        machine_message_hex: hex(b.machineMessage.data),
        human_message_hex: hex(b.humanMessage),
      };
    case "ping":
    case "pong":
      return { type };
    default:
      throw new Error(`parser accepted unknown frame type ${f.type}`);
  }
}

function column(col, i, where) {
  // varint_column -> values[i]; delta_column -> items[i] (exact reconstruction below).
  return vlq(col.values[i], where);
}

function deltaColumn(col, start, where) {
  const out = [];
  let prev = start;
  col.items.forEach((item, i) => {
    prev = prev + zigzag(item.delta);
    checkDouble(prev, item.value, `${where}[${i}]`);
    out.push(prev);
  });
  return out;
}

function batchValue(b) {
  const h = b.header;
  const body = b.body;
  const layout = {
    compressed: h.compressed,
    same_event_type_id: h.sameEventTypeId,
    same_schema_version: h.sameSchemaVersion,
    same_key_length: h.sameKeyLength,
    delta_offset: h.deltaOffset,
    delta_timestamp: h.deltaTimestamp,
    same_event_data_length: h.sameEventDataLength,
  };
  const count = Number(vlq(body.count, "count"));
  const offsets = h.deltaOffset ? deltaColumn(body.offsets, vlq(h.offset, "header.offset"), "offsets") : null;
  const timestamps = h.deltaTimestamp
    ? deltaColumn(body.timestamps, vlq(h.timestamp, "header.timestamp"), "timestamps")
    : null;
  const events = [];
  for (let i = 0; i < count; i++) {
    events.push({
      event_type_id: h.sameEventTypeId ? vlq(h.eventTypeId, "header.event_type_id") : column(body.eventTypeIds, i, "event_type_ids"),
      schema_version: h.sameSchemaVersion
        ? vlq(h.schemaVersion, "header.schema_version")
        : column(body.schemaVersions, i, "schema_versions"),
      key_hex: piece(body.keys, i),
      offset: offsets ? offsets[i] : column(body.offsets, i, "offsets"),
      timestamp: timestamps ? timestamps[i] : column(body.timestamps, i, "timestamps"),
      event_data_hex: piece(body.eventData, i),
    });
  }
  return { layout, events };
}

const KINDS = {
  frame: [SinkFrame, frameValue],
  connection_request: [SinkFrame, frameValue],
  connection_response: [SinkFrame, frameValue],
  ack: [SinkFrame, frameValue],
  publish: [SinkFrame, frameValue],
  ping: [SinkFrame, frameValue],
  pong: [SinkFrame, frameValue],
  nack: [SinkFrame, frameValue],
  event: [SinkEvent, eventValue],
  publish_payload: [SinkEvent, eventValue], // field-vector name for the event
  nack_payload: [SinkNackPayload, (n) => ({ machine_message_hex: hex(n.machineMessage.data), human_message_hex: hex(n.humanMessage) })],
  batch: [SinkBatch, batchValue],
  stream: [SinkStream, (s) => ({ frames_hex: s.frames.map((fr) => hex(fr._raw_frame)) })],
};

// ---- version 1 -------------------------------------------------------------

const FRAME_TYPES_V1 = [...FRAME_TYPES.slice(0, 2), "batch_publish", ...FRAME_TYPES.slice(3), "batch_result", "close"];
// spec/v1/errors.md#close-codes: 0..7, then the decoders' error classes from 16.
const CLOSE_CODES = {
  0: "no_error", 1: "handshake_refused", 2: "out_of_place_frame", 3: "unknown_message_id",
  4: "message_id_in_use", 5: "index_out_of_range", 6: "keepalive_timeout", 7: "internal_error",
  16: "truncated", 17: "trailing_bytes", 18: "overlong_varint", 19: "varint_overflow",
  20: "value_out_of_range", 21: "limit_exceeded", 22: "unknown_type", 23: "unknown_response_code",
  24: "unsupported_version", 25: "reserved_bit", 26: "bad_compression", 27: "invalid_utf8",
  28: "inconsistent_batch", 29: "unknown_format", 30: "invalid_list",
};
// DECL-1: the declared values in bit order, by their spec names (the .ksy's, camel-cased by the compiler).
const DECLARED = [
  ["max_frame_size", "maxFrameSize"], ["max_decompressed_size", "maxDecompressedSize"],
  ["max_batch_events", "maxBatchEvents"], ["max_in_flight", "maxInFlight"],
  ["max_zstd_window", "maxZstdWindow"], ["keepalive", "keepalive"],
  ["context_bases", "contextBases"], ["context_lifetime", "contextLifetime"],
];

function declaredLimitsValue(d) {
  const v = {};
  for (const [name, field] of DECLARED) if (d[field] !== undefined) v[name] = vlq(d[field], `declared_limits.${name}`);
  return v;
}
const CODECS = ["none", "gzip", "zstd"];
const MODES = ["columns", "records", "context"];

function readerSchemasValue(r) {
  return r.entries.map((e, i) => ({
    event_type_id: vlq(e.eventTypeId, `reader_schemas[${i}].event_type_id`),
    schema_versions: e.schemaVersions.map((v, j) => vlq(v.value, `reader_schemas[${i}].schema_versions[${j}]`)),
  }));
}

// Mode records: the generic description cannot rebuild the events (that needs
// the Avro writer schema), so the value holds what it does tell: layout,
// format, the header's event type and schema version, count, and the number
// of columns (keys, offsets, timestamps, then the schema's). The Python side
// (tests/kaitai/kaitai_support.py, records_expectation) derives the same form
// from a vector's events and the schema registry.
function recordsValue(b, format) {
  const h = b.header;
  const v = {
    layout: {
      compressed: h.compressed,
      same_event_type_id: h.sameEventTypeId,
      same_schema_version: h.sameSchemaVersion,
      same_key_length: h.sameKeyLength,
      delta_offset: h.deltaOffset,
      delta_timestamp: h.deltaTimestamp,
      same_event_data_length: h.sameEventDataLength,
    },
    format,
    records: {
      event_type_id: vlq(h.eventTypeId, "header.event_type_id"),
      schema_version: vlq(h.schemaVersion, "header.schema_version"),
      count: vlq(b.body.count, "count"),
      columns: 3n + BigInt(b.body.schemaColumns.length),
    },
  };
  // Mode context (CTX-2): the batch's id and its base's (base_rows is not one of the records columns).
  if (format.mode === "context") v.context = { batch_id: vlq(b.body.batchId, "batch_id"), base_id: vlq(b.body.baseId, "base_id") };
  return v;
}

// The v1 header and body use the v0 field names, so batchValue reads them too.
function batchValueV1(b) {
  const h = b.header;
  const format = h.extended ? { codec: CODECS[h.format.codec], mode: MODES[h.format.mode] } : null;
  if (MODES[h.mode] === "records" || MODES[h.mode] === "context") return recordsValue(b, format);
  const v = batchValue(b);
  v.format = format;
  return v;
}

function frameValueV1(f) {
  const type = FRAME_TYPES_V1[f.type];
  const b = f.body;
  switch (type) {
    case "connection_request": {
      const v = {
        type,
        version: BigInt(f.version),
        app_version_hex: hex(b.appVersion.data),
        client_instance_id: BigInt(b.clientInstanceId),
        server_instance_id: b.serverInstanceId === undefined ? null : BigInt(b.serverInstanceId),
      };
      if (f.version === 1) v.reader_schemas = b.readerSchemas === undefined ? null : readerSchemasValue(b.readerSchemas);
      if (f.version === 1 && b.declaredLimits !== undefined) v.declared_limits = declaredLimitsValue(b.declaredLimits);
      return v;
    }
    case "connection_response": {
      const response = RESPONSES[f.response];
      const v = { type, response };
      if (response === "hello_new_client") v.server_instance_id = BigInt(b.serverInstanceId);
      if (b.readerSchemas !== undefined) v.reader_schemas = readerSchemasValue(b.readerSchemas);
      if (b.declaredLimits !== undefined) v.declared_limits = declaredLimitsValue(b.declaredLimits);
      if (response === "quarantined") {
        v.machine_message_hex = hex(b.machineMessage.data);
        v.human_message_hex = hex(b.humanMessage);
      }
      return v;
    }
    case "batch_publish":
      return { type, message_id: BigInt(f.messageId), batch: batchValueV1(b) };
    case "close":
      return {
        type,
        error_class: CLOSE_CODES[Number(vlq(b.errorClass, "error_class"))],
        requirement_hex: hex(b.requirement.data),
        last_message_id: b.lastMessageId === undefined ? null : vlq(b.lastMessageId, "last_message_id"),
        retry_after: b.retryAfter === undefined ? null : vlq(b.retryAfter, "retry_after"),
        human_message_hex: hex(b.humanMessage.data),
      };
    case "batch_result":
      return {
        type,
        message_id: BigInt(f.messageId),
        entries: b.entries.map((e, i) => ({
          index: vlq(e.index, `entries[${i}].index`),
          machine_message_hex: hex(e.machineMessage.data),
          human_message_hex: hex(e.humanMessage.data),
        })),
      };
    case undefined:
      throw new Error(`parser accepted unknown frame type ${f.type}`);
    default:
      // The frames of version 0 keep their layout and value form.
      return frameValue(f);
  }
}

const FRAME_KINDS_V1 = ["frame", "connection_request", "connection_response", "batch_publish", "batch_result", "close"];
const KINDS_V1 = Object.fromEntries([
  ...FRAME_KINDS_V1.map((k) => [k, [SinkFrameV1, frameValueV1]]),
  ["batch", [SinkBatchV1, batchValueV1]],
]);

// ---- comparison ----------------------------------------------------------

function canon(x) {
  if (Array.isArray(x)) return x.map(canon);
  if (x !== null && typeof x === "object" && !(typeof x === "bigint")) {
    const out = {};
    for (const k of Object.keys(x).sort()) out[k] = canon(x[k]);
    return out;
  }
  return x;
}

// subset: only keys present in `expected` are compared (field vectors lack some).
function firstMismatch(expected, actual, subset, path = "$") {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${path}: length`;
    for (let i = 0; i < expected.length; i++) {
      const m = firstMismatch(expected[i], actual[i], subset, `${path}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object") return `${path}: not an object`;
    const keys = new Set(Object.keys(expected));
    if (!subset) for (const k of Object.keys(actual)) keys.add(k);
    for (const k of keys) {
      const m = firstMismatch(expected[k], actual[k], subset, `${path}.${k}`);
      if (m) return m;
    }
    return null;
  }
  return expected === actual ? null : `${path}: expected ${String(expected)}, got ${String(actual)}`;
}

// Errors the parsers raise on malformed input: Kaitai's own (end of stream,
// validation) and the sink_gzip / sink_zstd routines'. Anything else is a bug here.
function isRejection(err) {
  if (err instanceof KaitaiStream.EOFError) return true;
  if (err && typeof err.name === "string" && /^Validation\w*Error$/.test(err.name)) return true;
  if (err && typeof err.errorClass === "string") return true; // SinkGzip, SinkZstd
  return false;
}

const text = readFileSync(casesPath, "utf8");
const doc = losslessParse(text, null, (s) => (isInteger(s) ? BigInt(s) : Number(s)));
const results = [];
for (const c of doc.cases) {
  const kind = c.kind || doc.kind;
  const version = Number(c.version ?? doc.version ?? 0);
  const entry = (version === 1 ? KINDS_V1 : KINDS)[kind];
  const r = { id: c.id, kind, parsed: false, error: null, value: null, body_hex: null, match: null, mismatch: null };
  if (!entry) {
    r.error = `no parser for kind ${kind}`;
    results.push(r);
    continue;
  }
  const [Parser, toValue] = entry;
  let obj;
  try {
    obj = new Parser(new KaitaiStream(Buffer.from(c.hex, "hex")));
  } catch (err) {
    if (!isRejection(err)) throw err;
    r.error = `${err.name}: ${err.message}`;
    results.push(r);
    continue;
  }
  r.parsed = true;
  imprecise.length = 0;
  r.value = toValue(obj);
  if (Parser === SinkFrame || Parser === SinkFrameV1) r.body_hex = hex(obj._raw_body);
  r.imprecise = [...imprecise];
  if (c.value !== undefined) {
    r.mismatch = firstMismatch(canon(c.value), canon(r.value), Boolean(c.value_subset));
    if (!r.mismatch && c.body_hex !== undefined && c.body_hex !== r.body_hex) r.mismatch = "$.body_hex";
    r.match = r.mismatch === null;
  }
  results.push(r);
}
process.stdout.write(losslessStringify({ results }) + "\n");
