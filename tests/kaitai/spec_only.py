"""Decode every golden vector with nothing but what spec/ contains (issue #19, "the spec is self-sufficient").

Run as ``python tests/kaitai/spec_only.py build/kaitai/python``; it prints a JSON report. The inputs are

* the parsers Kaitai Struct generates from ``spec/v0/ksy`` and ``spec/v1/ksy`` (with the gzip and zstd
  routines of ``spec/tools/process``), which read every byte layout, decompress, and check what a
  ``.ksy`` can check;
* the writer schemas appendix ``spec/v1/schemas.json`` (its Parsing Canonical Forms, fingerprints checked);
* the code below the line "spec-derived decoder": what a ``.ksy`` cannot express, written from the prose
  of ``spec/v1/batch.md`` (records mode: flatten the writer schema, decode each column's transform,
  rebuild every ``event_data``) and of ``spec/v1/context.md`` (mode context: look the base up among the
  case's ``bases`` by id and CTX-4 digest, resolve ``base_rows`` and add each ``against_base`` column's
  reference), and, for the ``avro`` entries of version-0 vectors, Avro's binary
  decoding and schema resolution with the appendix's schemas (spec/v0/schemas.md, SCHEMA-1 to SCHEMA-4).

It imports neither the reference implementation (sinkproto, sinktools) nor the conformance runner: the
report lists the modules of those packages found loaded at the end, and the test requires none. What
cannot be checked this way, with the requirement IDs concerned, is ``CANNOT_CHECK`` in
test_spec_self_sufficient.py; the vector files are read as plain JSON.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"
VECTORS = ROOT / "vectors"
FORBIDDEN = ("sinkproto", "sinktools", "sinkcheck", "sinkkit", "kaitai_support")

FRAME_KINDS = {"frame", "connection_request", "connection_response", "ack", "publish", "ping", "pong", "nack"}
FRAME_KINDS_V1 = FRAME_KINDS | {"batch_publish", "batch_result", "close"}
# DECL-1: the declared values in bit order, by the .ksy's field names (which are the spec's).
DECLARED = (
    "max_frame_size",
    "max_decompressed_size",
    "max_batch_events",
    "max_in_flight",
    "max_zstd_window",
    "keepalive",
    "context_bases",
    "context_lifetime",
)


def close_codes() -> dict[int, str]:
    """The close codes' names, read from the table of spec/v1/errors.md ("Close codes")."""
    section = (SPEC / "v1" / "errors.md").read_text(encoding="utf-8").split("## Close codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `([a-z0-9_]+)` \|", section, re.M)
    if not rows:
        raise SystemExit("spec/v1/errors.md has no close-code table")
    return {int(code): name for code, name in rows}


CLOSE_CODES = close_codes()


def _declared(b: Any) -> dict[str, int] | None:
    d = getattr(b, "declared_limits", None)
    return None if d is None else {n: getattr(d, n).value for n in DECLARED if getattr(d, n, None) is not None}


LAYOUT_FLAGS = (
    "compressed",
    "same_event_type_id",
    "same_schema_version",
    "same_key_length",
    "delta_offset",
    "delta_timestamp",
    "same_event_data_length",
)


class SpecDecodeError(Exception):
    """The spec-derived decoder found the input malformed (the message names the requirement)."""


class UnknownBase(Exception):
    """CTX-5: a batch in mode context names a base the decoder does not hold, or holds stale: not malformed."""


# ---- the Kaitai-generated parsers, turned into the vectors' value form ------------------------


class Parsers:
    def __init__(self, python_dir: Path) -> None:
        sys.path.insert(0, str(python_dir))
        sys.modules.pop("chunk", None)  # Python <= 3.12 has a stdlib module of that name; ours is chunk.ksy's
        import kaitaistruct

        def load(name: str) -> Any:
            return importlib.import_module(name)

        self.by_kind = {
            "event": load("sink_event").SinkEvent,
            "nack_payload": load("sink_nack_payload").SinkNackPayload,
            "batch": load("sink_batch").SinkBatch,
            "stream": load("sink_stream").SinkStream,
        }
        self.frame = load("sink_frame").SinkFrame
        self.frame_v1 = load("sink_frame_v1").SinkFrameV1
        self.batch_v1 = load("sink_batch_v1").SinkBatchV1
        self.gzip = load("sink_gzip").SinkGzip
        self.zstd = load("sink_zstd").SinkZstd
        self.stream = kaitaistruct.KaitaiStream
        self.rejections: tuple[type[BaseException], ...] = (
            kaitaistruct.KaitaiStructError,
            EOFError,
            load("sink_gzip").SinkGzipError,
            load("sink_zstd").SinkZstdError,
            SpecDecodeError,
        )

    def look_up_base(self, batch: bytes, bases: Bases | None, schemas: Schemas) -> None:
        """CTX-5: in mode context, the base is looked up right after base_digest, before anything after it is read.

        Everything before it (the header, the format byte, the writer schema of RECORD-2, the decompression,
        the ids) is left to the full parse that follows when it fails here: those errors are found first, and
        are decode errors.
        """
        if len(batch) < 2 or not batch[0] & 0x80 or batch[1] & 0x0F != 2 or bases is None:
            return
        from io import BytesIO

        try:
            io = self.stream(BytesIO(batch))
            header = self.batch_v1.Header(io)
            if (header.event_type_id.value, header.schema_version.value) not in schemas.by_pair:
                return  # RECORD-2, before the body is read (CTX-2)
            rest = batch[io.pos() :]
            codec = batch[1] >> 4
            body = self.gzip().decode(rest) if codec == 1 else self.zstd().decode(rest) if codec == 2 else rest
            batch_id, at = _varint(body, 0)
            base_id, at = _varint(body, at)
        except (*self.rejections, ValueError, IndexError):
            return
        digest = body[at : at + 8]
        if not 1 <= batch_id <= MAX_ID or base_id > MAX_ID or base_id == 0 or len(digest) != 8:
            return
        if bases.find(base_id, digest, header.event_type_id.value, header.schema_version.value) is None:
            raise UnknownBase(f"CTX-5: base {base_id} with digest {digest.hex()} is not held")

    def decode(self, kind: str, data: bytes, version: int, schemas: Schemas, bases: Bases | None = None) -> Any:
        if version == 1:
            if kind in FRAME_KINDS_V1:
                if data[:1] and data[0] >> 4 == 2:  # BATCH_PUBLISH: its batch follows the 2-byte header (BPUB-1)
                    self.look_up_base(data[2:], bases, schemas)
                return frame_value_v1(self.frame_v1.from_bytes(data), schemas, bases)
            self.look_up_base(data, bases, schemas)
            return batch_value_v1(self.batch_v1.from_bytes(data), schemas, bases)
        if kind in FRAME_KINDS:
            return frame_value(self.frame.from_bytes(data))
        parsed = self.by_kind[kind].from_bytes(data)
        if kind == "event":
            return event_value(parsed)
        if kind == "nack_payload":
            return {
                "machine_message_hex": parsed.machine_message.data.hex(),
                "human_message_hex": parsed.human_message.hex(),
            }
        if kind == "batch":
            return batch_value(parsed)
        return {"frames_hex": [f._raw_frame.hex() for f in parsed.frames]}


def event_value(e: Any) -> dict[str, Any]:
    return {
        "event_type_id": e.event_type_id.value,
        "schema_version": e.schema_version.value,
        "key_hex": e.key.data.hex(),
        "offset": e.offset.value,
        "timestamp": e.timestamp.value,
        "event_data_hex": e.event_data.data.hex(),
    }


def _messaging_value(type_: str, f: Any, b: Any) -> dict[str, Any]:
    if type_ == "ack":
        return {"type": type_, "message_id": f.message_id}
    if type_ == "publish":
        return {"type": type_, "message_id": f.message_id, "event": event_value(b)}
    if type_ == "nack":
        return {
            "type": type_,
            "message_id": f.message_id,
            "machine_message_hex": b.machine_message.data.hex(),
            "human_message_hex": b.human_message.hex(),
        }
    return {"type": type_}


def _response_value(f: Any, b: Any) -> dict[str, Any]:
    response = f.response.name
    v: dict[str, Any] = {"type": "connection_response", "response": response}
    if response == "hello_new_client":
        v["server_instance_id"] = b.server_instance_id
    rs = getattr(b, "reader_schemas", None)
    if rs is not None:
        v["reader_schemas"] = _reader_schemas(rs)
    if response == "quarantined":
        v["machine_message_hex"] = b.machine_message.data.hex()
        v["human_message_hex"] = b.human_message.hex()
    return v


def _reader_schemas(r: Any) -> list[dict[str, Any]]:
    return [
        {"event_type_id": e.event_type_id.value, "schema_versions": [v.value.value for v in e.schema_versions]}
        for e in r.entries
    ]


def _request_value(f: Any, b: Any) -> dict[str, Any]:
    return {
        "type": "connection_request",
        "version": f.version,
        "app_version_hex": b.app_version.data.hex(),
        "client_instance_id": b.client_instance_id,
        "server_instance_id": getattr(b, "server_instance_id", None),
    }


def frame_value(f: Any) -> dict[str, Any]:
    type_ = f.type.name
    if type_ == "connection_request":
        return _request_value(f, f.body)
    if type_ == "connection_response":
        return _response_value(f, f.body)
    return _messaging_value(type_, f, f.body)


def frame_value_v1(f: Any, schemas: Schemas, bases: Bases | None = None) -> dict[str, Any]:
    type_, b = f.type.name, f.body
    if type_ == "connection_request":
        v = _request_value(f, b)
        if f.version == 1:
            rs = getattr(b, "reader_schemas", None)
            v["reader_schemas"] = None if rs is None else _reader_schemas(rs)
            if (declared := _declared(b)) is not None:
                v["declared_limits"] = declared
        return v
    if type_ == "connection_response":
        v = _response_value(f, b)
        if (declared := _declared(b)) is not None:
            v["declared_limits"] = declared
        return v
    if type_ == "close":
        last, retry = getattr(b, "last_message_id", None), getattr(b, "retry_after", None)
        return {
            "type": type_,
            "error_class": CLOSE_CODES[b.error_class.value],
            "requirement_hex": b.requirement.data.hex(),
            "last_message_id": None if last is None else last.value,
            "retry_after": None if retry is None else retry.value,
            "human_message_hex": b.human_message.data.hex(),
        }
    if type_ == "batch_publish":
        return {"type": type_, "message_id": f.message_id, "batch": batch_value_v1(b, schemas, bases)}
    if type_ == "batch_result":
        entries = [
            {
                "index": e.index.value,
                "machine_message_hex": e.machine_message.data.hex(),
                "human_message_hex": e.human_message.data.hex(),
            }
            for e in b.entries
        ]
        return {"type": type_, "message_id": f.message_id, "entries": entries}
    return _messaging_value(type_, f, b)


def batch_value(b: Any) -> dict[str, Any]:
    h, body = b.header, b.body
    count = body.count.value

    def column(same: bool, header_field: str, name: str) -> list[int]:
        return [getattr(h, header_field).value] * count if same else [v.value for v in getattr(body, name).values]

    def series(delta: bool, name: str) -> list[int]:
        col = getattr(body, name)
        return [i.value for i in col.items] if delta else [v.value for v in col.values]

    def piece(col: Any, i: int) -> str:
        return col.items[i].hex() if col.items else ""

    type_ids = column(h.same_event_type_id, "event_type_id", "event_type_ids")
    versions = column(h.same_schema_version, "schema_version", "schema_versions")
    offsets = series(h.delta_offset, "offsets")
    timestamps = series(h.delta_timestamp, "timestamps")
    events = [
        {
            "event_type_id": type_ids[i],
            "schema_version": versions[i],
            "key_hex": piece(body.keys, i),
            "offset": offsets[i],
            "timestamp": timestamps[i],
            "event_data_hex": piece(body.event_data, i),
        }
        for i in range(count)
    ]
    return {"layout": {flag: getattr(h, flag) for flag in LAYOUT_FLAGS}, "events": events}


def batch_value_v1(b: Any, schemas: Schemas, bases: Bases | None = None) -> dict[str, Any]:
    h = b.header
    fmt = {"codec": h.format.codec.name, "mode": h.format.mode.name} if h.extended else None
    if h.mode.name == "records":
        value = {"layout": {flag: getattr(h, flag) for flag in LAYOUT_FLAGS}, "format": fmt}
        value["events"] = rebuild_records(h.event_type_id.value, h.schema_version.value, b.body, schemas)
        return value
    if h.mode.name == "context":
        if bases is None:
            raise SpecDecodeError("CTX-1: mode context to a side that declared no context_bases (unknown_format)")
        body = b.body
        value = {"layout": {flag: getattr(h, flag) for flag in LAYOUT_FLAGS}, "format": fmt}
        value["context"] = {"batch_id": body.batch_id.value, "base_id": body.base_id.value}
        value["events"] = rebuild_context(h.event_type_id.value, h.schema_version.value, body, schemas, bases)
        return value
    value = batch_value(b)
    value["format"] = fmt
    return value


# ==== spec-derived decoder: what a .ksy cannot express ===========================================
#
# Everything below follows spec/v1/batch.md, records mode (RECORD-2 to RECORD-8), and the writer
# schemas appendix (spec/v1/schemas.md). The Kaitai parse has already checked the header, the
# decompression, the count, the column chunks, the transform bytes allowed for keys, offsets and
# timestamps, and the width and digits bounds; here the columns' payloads are decoded with the number
# of values the writer schema gives each one, and every event_data rebuilt in Avro binary encoding.

U64 = (0, 2**64 - 1)
INT = (-(2**31), 2**31 - 1)
LONG = (-(2**63), 2**63 - 1)


class Schemas:
    """spec/v1/schemas.json: (event_type_id, schema_version) -> Parsing Canonical Form, fingerprint checked."""

    def __init__(self, path: Path) -> None:
        self.by_pair: dict[tuple[int, int], Any] = {}  # the canonical forms: what writers' data is read with
        self.published: dict[tuple[int, int], Any] = {}  # with defaults and aliases: what readers resolve with
        self.names: dict[int, str] = {}
        for entry in json.loads(path.read_text(encoding="utf-8"))["schemas"]:
            form = entry["canonical_form"]
            if hashlib.sha256(form.encode()).hexdigest() != entry["sha256"]:  # SCHEMA-17
                raise SystemExit(f"{path}: fingerprint of {entry['name']} v{entry['schema_version']} does not match")
            pair = (entry["event_type_id"], entry["schema_version"])
            self.by_pair[pair] = json.loads(form)
            self.published[pair] = entry["schema"]
            self.names[entry["event_type_id"]] = entry["name"]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """CONV-1: unsigned LEB128, at most 10 bytes (CONV-4); returns (value, next position)."""
    value = 0
    for i in range(10):
        if at + i >= len(data):
            raise SpecDecodeError("RECORD-5: a varint runs past the column's end (inconsistent_batch)")
        byte = data[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, at + i + 1
    raise SpecDecodeError("CONV-4: a varint longer than 10 bytes (overlong_varint)")


def _zigzag(raw: int) -> int:
    return raw >> 1 if raw % 2 == 0 else -((raw + 1) >> 1)


class _Payload:
    """A column payload read front to back; ``end`` checks that nothing is left (RECORD-5)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def uint(self) -> int:
        value, self.at = _varint(self.data, self.at)
        return value

    def sint(self) -> int:
        return _zigzag(self.uint())

    def chunk(self) -> bytes:
        length = self.uint()
        if self.at + length > len(self.data):
            raise SpecDecodeError("RECORD-5: a chunk runs past the column's end (inconsistent_batch)")
        self.at += length
        return self.data[self.at - length : self.at]

    def end(self) -> None:
        if self.at != len(self.data):
            raise SpecDecodeError("RECORD-5: bytes after the column's values (inconsistent_batch)")


def _unpack(packed: bytes, n: int, width: int) -> list[int]:
    """RECORD-5/RECORD-8: n values of ``width`` bits in one little-endian integer, padding bits 0."""
    if len(packed) != (n * width + 7) // 8:
        raise SpecDecodeError("RECORD-5: bit-packed bytes of the wrong length (inconsistent_batch)")
    whole = int.from_bytes(packed, "little")
    if whole >> (n * width):
        raise SpecDecodeError("RECORD-8: padding bits not 0 (inconsistent_batch)")
    mask = (1 << width) - 1
    return [(whole >> (i * width)) & mask for i in range(n)]


def _int_values(transform: str, payload: Any, n: int) -> list[int]:
    """The n values of an int column (RECORD-5's table)."""
    if transform == "bitpacked":
        return [payload.base.value + v for v in _unpack(payload.packed, n, payload.width)]
    if transform == "delta_bitpacked":
        if n == 0:
            raise SpecDecodeError("RECORD-8: a delta_bitpacked column with no value (inconsistent_batch)")
        values = [payload.first.value]
        for difference in _unpack(payload.packed, n - 1, payload.width):
            values.append(values[-1] + payload.base.value + difference)
        return values
    if transform == "patched":
        return _patched(payload, n)
    if transform == "delta_patched":
        differences = _patched(payload.differences, max(n - 1, 0))
        if n == 0:
            raise SpecDecodeError("RECORD-8: a delta_patched column with no value (inconsistent_batch)")
        values = [payload.first.value]
        for difference in differences:
            values.append(values[-1] + difference)
        return values
    p = _Payload(payload)
    if transform == "plain":
        values = [p.sint() for _ in range(n)]
    elif transform == "delta":
        values, previous = [], 0
        for _ in range(n):
            previous += p.sint()
            values.append(previous)
    elif transform == "constant":
        values = [p.sint()] * n
    elif transform == "frame_of_reference":
        base = p.sint()
        values = [base + p.uint() for _ in range(n)]
    elif transform == "dictionary":
        entries = [p.sint() for _ in range(p.uint())]
        values = [_entry(entries, p.uint()) for _ in range(n)]
    else:
        raise SpecDecodeError(f"RECORD-5: transform {transform} on an int column (unknown_format)")
    p.end()
    return values


def _patched(payload: Any, n: int) -> list[int]:
    """RECORD-5/RECORD-8: a patched payload of n values; its fields read whole before any check on them."""
    if payload.exception_count.value > n:
        raise SpecDecodeError("RECORD-8: exception_count above the number of values (inconsistent_batch)")
    p = _Payload(payload.packed_and_exceptions)
    size = (n * payload.width + 7) // 8
    if size > len(p.data):
        raise SpecDecodeError("RECORD-5: bit-packed bytes run past the column's end (inconsistent_batch)")
    p.at = size
    pairs = [(p.uint(), p.sint()) for _ in range(payload.exception_count.value)]
    p.end()
    offsets = _unpack(p.data[:size], n, payload.width)
    previous = -1
    for index, value in pairs:
        if index <= previous or index >= n:
            raise SpecDecodeError("RECORD-8: an exception index out of order or not below n (inconsistent_batch)")
        offsets[index] = value
        previous = index
    return [payload.base.value + v for v in offsets]


def _entry(entries: list[Any], index: int) -> Any:
    if index >= len(entries):
        raise SpecDecodeError("RECORD-7: a dictionary index not below entry_count (inconsistent_batch)")
    return entries[index]


def _bytes_values(transform: str, payload: Any, n: int, keys: list[bytes] | None) -> list[bytes]:
    """The n values of a bytes column (RECORD-5's table); ``keys``: the events' keys, for transform key."""
    if transform == "key":
        if keys is None or n != len(keys):
            raise SpecDecodeError("RECORD-10: key on a column a union, array or map encloses (unknown_format)")
        return list(keys)
    if transform == "numbered":
        numbers = _int_values(payload.numbers.transform.name, payload.numbers.payload, n)
        if any(not 0 <= v < 10**payload.digits for v in numbers):
            raise SpecDecodeError("RECORD-5: a number outside 0..10^digits-1 (value_out_of_range)")
        return [payload.prefix.data + str(v).zfill(payload.digits).encode() for v in numbers]
    if transform == "patched":
        return _patched(payload, n)
    if transform == "delta_patched":
        differences = _patched(payload.differences, max(n - 1, 0))
        if n == 0:
            raise SpecDecodeError("RECORD-8: a delta_patched column with no value (inconsistent_batch)")
        values = [payload.first.value]
        for difference in differences:
            values.append(values[-1] + difference)
        return values
    p = _Payload(payload)
    if transform == "plain":
        values = [p.chunk() for _ in range(n)]
    elif transform == "constant":
        values = [p.chunk()] * n
    elif transform == "dictionary":
        entries = [p.chunk() for _ in range(p.uint())]
        values = [_entry(entries, p.uint()) for _ in range(n)]
    elif transform == "prefix":
        values, previous = [], b""
        for _ in range(n):
            shared = p.uint()
            if shared > len(previous):
                raise SpecDecodeError("RECORD-7: a prefix length above the previous value's (inconsistent_batch)")
            previous = previous[:shared] + p.chunk()
            values.append(previous)
    else:
        raise SpecDecodeError(f"RECORD-5: transform {transform} on a bytes column (unknown_format)")
    p.end()
    return values


class _Columns:
    """The body's columns in order, each decoded when the schema walk reaches it with its number of values."""

    def __init__(self, columns: list[Any], keys: list[bytes], refs: Callable[[int], list[int]] | None = None) -> None:
        self.columns: Iterator[Any] = iter(columns)
        self.keys = keys
        self.index = -1  # the flattened schema's column being read
        self.refs = refs  # mode context: a column's reference per row (CTX-7); None in records mode

    def _next(self) -> Any:
        column = next(self.columns, None)
        if column is None:
            raise SpecDecodeError("RECORD-3: fewer columns than the flattened schema has (inconsistent_batch)")
        self.index += 1
        return column.column

    def ints(self, n: int, bounds: tuple[int, int], *, enclosed: bool = False) -> list[int]:
        column = self._next()
        against = getattr(column, "against_base", False)  # mode context only (CTX-7)
        if against and (enclosed or self.refs is None):
            raise SpecDecodeError("CTX-7: against_base on a column not every event reaches (unknown_format)")
        values = _int_values(column.transform.name, column.payload, n)
        if against and self.refs is not None:
            values = [v + ref for v, ref in zip(values, self.refs(self.index), strict=True)]
        if any(not bounds[0] <= v <= bounds[1] for v in values):
            raise SpecDecodeError("RECORD-5: a value outside the column's range (value_out_of_range)")
        return values

    def bytes(self, n: int, size: int | None = None, *, enclosed: bool = False) -> list[bytes]:
        column = self._next()
        if getattr(column, "against_base", False):
            raise SpecDecodeError("CTX-7: against_base on a bytes column (unknown_format)")
        values = _bytes_values(column.transform.name, column.payload, n, None if enclosed else self.keys)
        if size is not None and any(len(v) != size for v in values):
            raise SpecDecodeError("RECORD-5: a float, double or fixed value of another length (inconsistent_batch)")
        return values


def _avro_long(value: int) -> bytes:
    """Avro's int and long: zigzag, then an unsigned varint (the canonical, shortest form)."""
    raw = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        out.append((raw & 0x7F) | (0x80 if raw > 0x7F else 0))
        raw >>= 7
        if not raw:
            return bytes(out)


PRIMITIVE_SIZES = {"float": 4, "double": 8}


def _rebuild(schema: Any, n: int, columns: _Columns, named: dict[str, Any], enclosed: bool = False) -> list[bytes]:
    """RECORD-4 walked per node: the Avro encoding of n values of ``schema``, from the columns it flattens to.

    ``enclosed``: a union, array or map encloses the node (RECORD-10: no ``key`` transform there).
    """
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):  # a union: branch indexes, then each branch's columns for its rows
        branches = columns.ints(n, (0, len(schema) - 1), enclosed=enclosed)
        parts = [iter(_rebuild(b, branches.count(i), columns, named, True)) for i, b in enumerate(schema)]
        return [_avro_long(i) + next(parts[i]) for i in branches]
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(schema, dict) and "name" in schema:
        named[schema["name"]] = schema
    if kind == "null":
        return [b""] * n
    if kind == "boolean":
        return [bytes([v]) for v in columns.ints(n, (0, 1), enclosed=enclosed)]
    if kind in ("int", "long"):
        return [_avro_long(v) for v in columns.ints(n, INT if kind == "int" else LONG, enclosed=enclosed)]
    if kind in PRIMITIVE_SIZES or kind == "fixed":
        return columns.bytes(n, PRIMITIVE_SIZES.get(kind) or schema["size"], enclosed=enclosed)
    if kind in ("string", "bytes"):
        return [_avro_long(len(v)) + v for v in columns.bytes(n, enclosed=enclosed)]
    if kind == "enum":
        return [_avro_long(v) for v in columns.ints(n, (0, len(schema["symbols"]) - 1), enclosed=enclosed)]
    if kind == "record":
        rows = [b""] * n
        for f in schema["fields"]:
            rows = [r + v for r, v in zip(rows, _rebuild(f["type"], n, columns, named, enclosed), strict=True)]
        return rows
    if kind in ("array", "map"):  # one block of count items, then the 0 that ends the collection
        counts = columns.ints(n, U64, enclosed=enclosed)
        total = sum(counts)
        keys = iter(
            [_avro_long(len(k)) + k for k in columns.bytes(total, enclosed=True)] if kind == "map" else [b""] * total
        )
        items = iter(_rebuild(schema["items" if kind == "array" else "values"], total, columns, named, True))
        out = []
        for count in counts:
            body = b"".join(next(keys) + next(items) for _ in range(count))
            out.append((_avro_long(count) + body if count else b"") + b"\x00")
        return out
    raise SpecDecodeError(f"RECORD-4: schema type {kind!r} cannot be flattened")


def rebuild_records(event_type_id: int, schema_version: int, body: Any, schemas: Schemas) -> list[dict[str, Any]]:
    """RECORD-2 to RECORD-5: the events of a records body."""
    writer = schemas.by_pair.get((event_type_id, schema_version))
    if writer is None:
        raise SpecDecodeError("RECORD-2: no writer schema for the pair (unknown_format)")
    count = body.count.value

    def own(kind: str) -> Any:
        return getattr(body, kind).column

    keys = _bytes_values(own("keys").transform.name, own("keys").payload, count, None)
    offsets = _int_values(own("offsets").transform.name, own("offsets").payload, count)
    timestamps = _int_values(own("timestamps").transform.name, own("timestamps").payload, count)
    if any(not U64[0] <= v <= U64[1] for v in offsets + timestamps):
        raise SpecDecodeError("RECORD-5: an offset or timestamp outside 0..2^64-1 (value_out_of_range)")
    columns = _Columns(list(body.schema_columns), keys)
    data = _rebuild(writer, count, columns, {})
    if next(columns.columns, None) is not None:
        raise SpecDecodeError("RECORD-3: columns after the flattened schema's (inconsistent_batch)")
    return [
        {
            "event_type_id": event_type_id,
            "schema_version": schema_version,
            "key_hex": keys[i].hex(),
            "offset": offsets[i],
            "timestamp": timestamps[i],
            "event_data_hex": data[i].hex(),
        }
        for i in range(count)
    ]


# ---- mode context (spec/v1/context.md, CTX-2 to CTX-7) -------------------------------------------------------

MAX_ID = 2**32 - 1  # CTX-3


def _leb128(value: int) -> bytes:
    """CONV-1: the unsigned LEB128 of ``value``."""
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def digest_of(events: list[dict[str, Any]]) -> bytes:
    """CTX-4: the first 8 bytes of the SHA-256 of type, version, count, then per event key, offset, timestamp, data."""
    first = events[0]
    h = hashlib.sha256(_leb128(first["event_type_id"]) + _leb128(first["schema_version"]) + _leb128(len(events)))
    for e in events:
        key, data = bytes.fromhex(e["key_hex"]), bytes.fromhex(e["event_data_hex"])
        h.update(_leb128(len(key)) + key + _leb128(e["offset"]) + _leb128(e["timestamp"]))
        h.update(_leb128(len(data)) + data)
    return h.digest()[:8]


class Bases:
    """The bases a case's decoder holds (the vector's ``bases``), by batch id."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.by_id = {entry["batch_id"]: entry["events"] for entry in entries}

    def find(self, base_id: int, digest: bytes, event_type_id: int, schema_version: int) -> list[dict[str, Any]] | None:
        """CTX-5: the base with this id, digest, event type and schema version, or None (unknown or stale)."""
        events = self.by_id.get(base_id)
        if events is None or digest_of(events) != digest:
            return None
        if (events[0]["event_type_id"], events[0]["schema_version"]) != (event_type_id, schema_version):
            return None
        return events


def _width(schema: Any, named: dict[str, Any]) -> int:
    """RECORD-4: how many columns ``schema`` flattens to."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        return 1 + sum(_width(b, named) for b in schema)
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(schema, dict) and "name" in schema:
        named[schema["name"]] = schema
    if kind == "null":
        return 0
    if kind == "record":
        return sum(_width(f["type"], named) for f in schema["fields"])
    if kind == "array":
        return 1 + _width(schema["items"], named)
    if kind == "map":
        return 2 + _width(schema["values"], named)
    return 1


def per_event_ints(writer: Any, data: bytes) -> dict[int, int]:
    """The values of one event's int columns that every event reaches (CTX-7's references), by column index:
    the Avro datum read with the writer schema and flattened as RECORD-4 says."""
    reader, named, out = _Avro(data), {}, {}

    def walk(schema: Any, enclosed: bool, index: int) -> int:
        if isinstance(schema, str) and schema in named:
            schema = named[schema]
        if isinstance(schema, list):
            branch = reader.long()
            if not enclosed:
                out[index] = branch
            index += 1
            for i, b in enumerate(schema):
                index = walk(b, True, index) if i == branch else index + _width(b, named)
            return index
        kind = schema if isinstance(schema, str) else schema["type"]
        if isinstance(schema, dict) and "name" in schema:
            named[schema["name"]] = schema
        if kind == "null":
            return index
        if kind == "record":
            for f in schema["fields"]:
                index = walk(f["type"], enclosed, index)
            return index
        if kind in ("array", "map"):
            total = 0
            while count := reader.long():
                if count < 0:
                    count = -count
                    reader.long()
                total += count
                for _ in range(count):
                    if kind == "map":
                        reader.raw(reader.long())
                    walk(schema["items" if kind == "array" else "values"], True, index + (2 if kind == "map" else 1))
            if not enclosed:
                out[index] = total
            return index + (2 if kind == "map" else 1) + _width(schema["items" if kind == "array" else "values"], named)
        if kind == "boolean":
            value = reader.raw(1)[0]
        elif kind in ("int", "long", "enum"):
            value = reader.long()
        elif kind in ("string", "bytes"):
            reader.raw(reader.long())
            return index + 1
        else:  # float, double, fixed
            reader.raw(PRIMITIVE_SIZES.get(kind) or schema["size"])
            return index + 1
        if not enclosed:
            out[index] = value
        return index + 1

    walk(writer, False, 0)
    return out


def rebuild_context(
    event_type_id: int, schema_version: int, body: Any, schemas: Schemas, bases: Bases
) -> list[dict[str, Any]]:
    """CTX-2, CTX-6, CTX-7: the events of a body in mode context, against the base ``bases`` holds."""
    writer = schemas.by_pair.get((event_type_id, schema_version))
    if writer is None:
        raise SpecDecodeError("RECORD-2: no writer schema for the pair (unknown_format)")
    count = body.count.value
    base: list[dict[str, Any]] = []
    rows = [-1] * count
    if body.has_base:
        found = bases.find(body.base_id.value, body.base_digest, event_type_id, schema_version)
        if found is None:
            raise UnknownBase(f"CTX-5: base {body.base_id.value} is not held")
        base = found
        column = body.base_rows.column
        rows = _int_values(column.transform.name, column.payload, count)
        if any(not -1 <= r < len(base) for r in rows):
            raise SpecDecodeError("CTX-6: a base_rows value outside -1..base events - 1 (value_out_of_range)")
    keys_column = body.keys.column
    given = iter(_bytes_values(keys_column.transform.name, keys_column.payload, rows.count(-1), None))
    keys = [next(given) if r == -1 else bytes.fromhex(base[r]["key_hex"]) for r in rows]

    def own(name: str) -> list[int]:
        column = getattr(body, name).column
        values = _int_values(column.transform.name, column.payload, count)
        if column.against_base:  # CTX-7: differences from the base row's value, 0 for a new row
            field = name[:-1]
            values = [v + (0 if r == -1 else base[r][field]) for v, r in zip(values, rows, strict=True)]
        if any(not U64[0] <= v <= U64[1] for v in values):
            raise SpecDecodeError(f"RECORD-5: a value of {name} outside 0..2^64-1 (value_out_of_range)")
        return values

    offsets, timestamps = own("offsets"), own("timestamps")
    base_columns = [per_event_ints(writer, bytes.fromhex(e["event_data_hex"])) for e in base]
    columns = _Columns(
        list(body.schema_columns), keys, lambda index: [0 if r == -1 else base_columns[r][index] for r in rows]
    )
    data = _rebuild(writer, count, columns, {})
    if next(columns.columns, None) is not None:
        raise SpecDecodeError("CTX-2: columns after the flattened schema's (inconsistent_batch)")
    return [
        {
            "event_type_id": event_type_id,
            "schema_version": schema_version,
            "key_hex": keys[i].hex(),
            "offset": offsets[i],
            "timestamp": timestamps[i],
            "event_data_hex": data[i].hex(),
        }
        for i in range(count)
    ]


# ---- the avro entries of version-0 vectors: Avro's specification with the appendix's schemas -----------
#
# Not Sink's format: event_data is one Avro datum in binary encoding (SCHEMA-2), read with the writer
# schema of its pair (SCHEMA-1) and resolved against a reader's schema (SCHEMA-4). The values are in the
# vectors' JSON form: enums as symbols, unions as their plain value, records as objects.


class AvroError(Exception):
    """event_data is undecodable with the writer schema."""


class _Avro:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def long(self) -> int:
        try:
            value, self.at = _varint(self.data, self.at)
        except SpecDecodeError as exc:
            raise AvroError(str(exc)) from None
        return _zigzag(value)

    def raw(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise AvroError("runs past the end")
        self.at += size
        return self.data[self.at - size : self.at]

    def read(self, schema: Any, named: dict[str, Any]) -> Any:
        if isinstance(schema, str) and schema in named:
            schema = named[schema]
        if isinstance(schema, list):
            index = self.long()
            if not 0 <= index < len(schema):
                raise AvroError("union branch out of range")
            return self.read(schema[index], named)
        kind = schema if isinstance(schema, str) else schema["type"]
        if isinstance(schema, dict) and "name" in schema:
            named[schema["name"]] = schema
        if kind == "null":
            return None
        if kind in ("int", "long"):
            value = self.long()
            if not (INT if kind == "int" else LONG)[0] <= value <= (INT if kind == "int" else LONG)[1]:
                raise AvroError("out of range")
            return value
        if kind == "string":
            try:
                return self.raw(self.long()).decode("utf-8")
            except UnicodeDecodeError:
                raise AvroError("not UTF-8") from None
        if kind == "enum":
            index = self.long()
            if not 0 <= index < len(schema["symbols"]):
                raise AvroError("enum index out of range")
            return schema["symbols"][index]
        if kind == "record":
            return {f["name"]: self.read(f["type"], named) for f in schema["fields"]}
        if kind == "array":
            items = []
            while count := self.long():
                if count < 0:
                    count = -count
                    self.long()  # the block's size in bytes
                items += [self.read(schema["items"], named) for _ in range(count)]
            return items
        raise AvroError(f"type {kind} is not used by the registry's schemas")


def avro_decode(schemas: Schemas, event_type_id: int, schema_version: int, data: bytes) -> Any:
    reader = _Avro(data)
    value = reader.read(schemas.by_pair[(event_type_id, schema_version)], {})
    if reader.at != len(data):
        raise AvroError("bytes after the datum (SCHEMA-2)")
    return value


def _full_name(schema: dict[str, Any], namespace: str) -> str:
    name = str(schema["name"])
    return name if "." in name else f"{schema.get('namespace', namespace)}.{name}".lstrip(".")


def resolve(reader: Any, value: Any, named: dict[str, Any], namespace: str = "") -> Any:
    """SCHEMA-4 on a decoded value: reader fields by name or alias, defaults for the missing, the rest skipped."""
    if isinstance(reader, str):
        target = named.get(reader) or named.get(f"{namespace}.{reader}")
        return resolve(target, value, named, namespace) if target is not None else value
    if isinstance(reader, list):
        if value is None:
            return None
        for branch in reader:
            kind = branch if isinstance(branch, str) else branch.get("type")
            if isinstance(branch, str) and (branch in named or f"{namespace}.{branch}" in named):
                kind = (named.get(branch) or named[f"{namespace}.{branch}"])["type"]
            fits = {
                "record": isinstance(value, dict),
                "array": isinstance(value, list),
                "enum": isinstance(value, str),
                "string": isinstance(value, str),
                "int": isinstance(value, int),
                "long": isinstance(value, int),
            }.get(kind, False)
            if fits:
                return resolve(branch, value, named, namespace)
        raise AvroError("no branch of the reader's union takes the value")
    kind = reader["type"]
    if kind in ("record", "enum"):
        namespace = _full_name(reader, namespace).rpartition(".")[0]
        named[_full_name(reader, namespace)] = reader
    if kind == "record":
        out = {}
        for f in reader["fields"]:
            source = next((n for n in (f["name"], *f.get("aliases", ())) if n in value), None)
            out[f["name"]] = resolve(f["type"], value[source], named, namespace) if source else f["default"]
        return out
    if kind == "enum":
        return value if value in reader["symbols"] else reader["default"]
    if kind == "array":
        return [resolve(reader["items"], v, named, namespace) for v in value]
    return value


def check_avro(entries: list[dict[str, Any]], value: dict[str, Any], schemas: Schemas) -> list[str]:
    """The problems of a case's avro entries against what the spec's schemas make of its event_data."""
    events = value.get("events") or [value.get("event", value)]
    problems = []
    for entry in entries:
        event = events[entry["event"]]
        pair = (event["event_type_id"], event["schema_version"])
        if event["event_type_id"] not in schemas.names:
            got: Any = {"error": "unknown_event_type"}
        elif pair not in schemas.by_pair:
            got = {"error": "unknown_schema_version"}
        else:
            try:
                record = avro_decode(schemas, *pair, bytes.fromhex(event["event_data_hex"]))
            except AvroError:
                got = {"error": "undecodable"}
            else:
                got = {"event_type": schemas.names[pair[0]], "record": record}
                if "read_as" in entry:
                    got["read_as"] = [
                        {
                            "schema_version": other["schema_version"],
                            "record": resolve(schemas.published[(pair[0], other["schema_version"])], record, {}),
                        }
                        for other in entry["read_as"]
                    ]
        expected = {k: v for k, v in entry.items() if k != "event"}
        if got != expected:
            problems.append(f"avro entry of event {entry['event']}: {json.dumps(got)[:300]}")
    return problems


# ---- the run ------------------------------------------------------------------------------------


def run(python_dir: Path) -> dict[str, Any]:
    parsers = Parsers(python_dir)
    schemas = Schemas(SPEC / "v1" / "schemas.json")
    results = []
    for version in (0, 1):
        for path in sorted((VECTORS / f"v{version}").glob("*.json")):
            document = json.loads(path.read_text(encoding="utf-8"))
            if "cases" not in document:
                continue  # the ID lock
            for case in document["cases"]:
                result: dict[str, Any] = {"id": case["id"], "result": case["result"]}
                bases = None if case.get("bases") is None else Bases(case["bases"])
                if bases is not None:
                    result["digests_match"] = all(
                        digest_of(entry["events"]).hex() == entry["digest_hex"] for entry in case["bases"]
                    )
                try:
                    value = parsers.decode(document["kind"], bytes.fromhex(case["hex"]), version, schemas, bases)
                except UnknownBase as exc:
                    result["unknown_base"] = str(exc)
                except parsers.rejections as exc:
                    result["rejected"] = f"{type(exc).__name__}: {exc}"
                else:
                    result["matches"] = value == case.get("value")
                    if not result["matches"] and case["result"] not in ("invalid", "unknown_base"):
                        result["value"] = value
                    if "avro" in case:
                        result["avro_problems"] = check_avro(case["avro"], value, schemas)
                results.append(result)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    return {"results": results, "forbidden_modules_loaded": loaded}


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]))))
