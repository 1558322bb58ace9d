"""Helpers for the Kaitai Struct tests: case loading, Python value conversion, JS runner.

The generated parsers are build output (build/kaitai/, see spec/tools/kaitai_build.py);
these helpers turn what they parse into the vector JSON form of the contract
(same field names, `_hex` for bytes, plain ints) so that a parse can be
compared with a vector's `value` or a field case's `input` directly.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from sinkproto.records import RecordSchemas
from sinkproto.schemas import default_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / "spec" / "tools"
KSY_DIR = REPO_ROOT / "spec" / "v0" / "ksy"
KSY_DIR_V1 = REPO_ROOT / "spec" / "v1" / "ksy"
VECTOR_DIR = REPO_ROOT / "vectors" / "v0"
VECTOR_DIR_V1 = REPO_ROOT / "vectors" / "v1"

# The field implementation's encoded cases (vectors/field/README.md).
FIELD_VECTORS = REPO_ROOT / "vectors" / "field" / "v0-elixir-encoded.json"

FRAME_KINDS = {"frame", "connection_request", "connection_response", "ack", "publish", "ping", "pong", "nack"}
# Vector kinds of vectors/v1 parsed with sink_frame_v1 (the rest: sink_batch_v1).
FRAME_KINDS_V1 = FRAME_KINDS | {"batch_publish", "batch_result", "close"}
LAYOUT_FLAGS = (
    "compressed",
    "same_event_type_id",
    "same_schema_version",
    "same_key_length",
    "delta_offset",
    "delta_timestamp",
    "same_event_data_length",
)


def import_kaitai_build() -> ModuleType:
    """spec/tools is not a package; import the build helper from its file's folder."""
    if str(TOOLS_DIR) not in sys.path:
        sys.path.insert(0, str(TOOLS_DIR))
    return importlib.import_module("kaitai_build")


# ---- cases -------------------------------------------------------------------------


@dataclass(frozen=True)
class KCase:
    """One input for the parsers, with what it must decode to (contract form)."""

    id: str
    kind: str  # vector kind, or the field file's kind (frame / publish_payload / ...)
    hex: str
    result: str  # valid | invalid | acceptable
    value: Any = None  # expected value (contract form), None for invalid cases
    value_subset: bool = False  # compare only the keys present in `value`
    body_hex: str | None = None  # expected raw frame payload (field publish frames)
    error_class: str | None = None
    version: int = 0  # protocol version whose parsers decode it (vectors/v<version>)

    def for_js(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "hex": self.hex, "version": self.version}
        if self.value is not None:
            out["value"] = self.value
            out["value_subset"] = self.value_subset
        if self.body_hex is not None:
            out["body_hex"] = self.body_hex
        return out


def field_vector_path() -> Path | None:
    return FIELD_VECTORS if FIELD_VECTORS.is_file() else None


def _field_event(e: dict[str, Any]) -> dict[str, Any]:
    return {k: e[k] for k in ("event_type_id", "schema_version", "key_hex", "offset", "timestamp", "event_data_hex")}


def field_cases() -> list[KCase]:
    """The field implementation's 133 cases, mapped to the contract's field names."""
    path = field_vector_path()
    if path is None:
        return []
    doc = json.loads(path.read_text())
    out: list[KCase] = []
    for c in doc["cases"]:
        kind, inp = c["kind"], dict(c["input"])
        # Field names of that file -> contract names.
        for old, new in (("machine_hex", "machine_message_hex"), ("human_hex", "human_message_hex")):
            if old in inp:
                inp[new] = inp.pop(old)
        body_hex = None
        subset = False
        if kind == "frame":
            if inp["type"] == "connection_request":
                inp.setdefault("version", 0)  # the field encoder only speaks version 0
            if inp["type"] == "publish":
                # The file gives the payload as bytes, not as event fields: compare
                # the frame header fields and the raw payload.
                body_hex = inp.pop("payload_hex")
                subset = True
        elif kind == "publish_payload":
            inp = _field_event(inp)
        elif kind == "batch":
            # No layout in the field file (the field encoder chose it): events only.
            inp = {"events": [_field_event(e) for e in inp["events"]]}
            subset = True
        out.append(KCase(f"field:{c['id']}", kind, c["hex"], "valid", inp, subset, body_hex))
    return out


def vector_files(version: int = 0) -> list[Path]:
    folder = VECTOR_DIR_V1 if version == 1 else VECTOR_DIR
    return sorted(p for p in folder.glob("*.json") if p.name != "ids.lock.json")


def vector_cases(version: int = 0) -> list[KCase]:
    out: list[KCase] = []
    for path in vector_files(version):
        doc = json.loads(path.read_text())
        kind = doc["kind"]
        for c in doc["cases"]:
            value = c.get("value")
            if version == 1 and value is not None:
                value = records_expectation(value)
            out.append(
                KCase(
                    c["id"],
                    kind,
                    c["hex"],
                    c["result"],
                    value,
                    error_class=c.get("error_class"),
                    version=version,
                )
            )
    return out


# ---- records mode (batch v1, RECORD-1..9) -------------------------------------------
#
# sink_batch_v1.ksy describes the records body generically: count, then column
# chunks (transform byte and payload) to the end of the body. Rebuilding the
# events needs the Avro writer schema, which a .ksy cannot know, so a records
# batch is compared in a form of its own holding what the parse does tell:
# layout, format, the header's event_type_id and schema_version, count, and the
# number of columns. The expectation is derived from the vector's events and
# from the registry's writer schema (3 columns for keys, offsets, timestamps,
# then one per leaf of the flattened schema, RECORD-3 and RECORD-4).


@cache
def _record_schemas() -> RecordSchemas:
    return RecordSchemas.from_registry(default_registry())


def _records_batch_expectation(batch: dict[str, Any]) -> dict[str, Any]:
    events = batch["events"]
    type_ids = {e["event_type_id"] for e in events}
    versions = {e["schema_version"] for e in events}
    # RECORD-1: one event type and schema version per batch, in the header.
    assert len(type_ids) == 1 and len(versions) == 1, "records vector with mixed event types or versions"
    event_type_id, schema_version = type_ids.pop(), versions.pop()
    plan = _record_schemas().plan(event_type_id, schema_version)
    assert plan is not None, f"valid records vector for an unknown schema ({event_type_id}, {schema_version})"
    out = {
        "layout": batch["layout"],
        "format": batch["format"],
        "records": {
            "event_type_id": event_type_id,
            "schema_version": schema_version,
            "count": len(events),
            "columns": 3 + len(plan.columns),
        },
    }
    if batch["format"]["mode"] == "context":
        # CTX-2: what the description tells of the context (base_rows is not one of the records columns).
        out["context"] = {"batch_id": batch["context"]["batch_id"], "base_id": batch["context"]["base_id"]}
    return out


def built_records_cases() -> list[KCase]:
    """The benchmarks' meter profile (100 meter_reading v2 events) as a records
    batch with each codec, built by the reference codec.

    The vectors' records batches hold three events (sixteen in
    v1.batch.records.none.patched), too few for the encoder to choose
    bitpacked (RECORD-9); these hundred readings use it, patched,
    delta_patched and numbered, so the .ksy's payload types of those
    transforms parse valid input too."""
    from sinkproto.construct_codec import encode_batch
    from sinkproto.jsonform import to_json
    from sinkproto.messages import Batch, BatchCodec, BatchFormat, BatchLayout, BatchMode
    from sinktools.bench.profiles import generate

    events = generate()["meter"].events
    out = []
    for codec in BatchCodec:
        batch = Batch(
            events=events,
            layout=BatchLayout(same_event_type_id=True, same_schema_version=True),
            format=BatchFormat(codec=codec, mode=BatchMode.RECORDS),
        )
        data = encode_batch(batch, version=1, schemas=_record_schemas())
        out.append(
            KCase(
                f"built:records.{codec.name.lower()}.meter",
                "batch",
                data.hex(),
                "valid",
                records_expectation(to_json(batch, 1)),
                version=1,
            )
        )
    return out


def records_expectation(value: dict[str, Any]) -> dict[str, Any]:
    """A vectors/v1 value with any records batch (top level or in a BATCH_PUBLISH)
    replaced by what the generic description can be compared with."""
    if "batch" in value and isinstance(value["batch"], dict):
        return {**value, "batch": records_expectation(value["batch"])}
    fmt = value.get("format")
    if isinstance(fmt, dict) and fmt.get("mode") in ("records", "context"):
        return _records_batch_expectation(value)
    return value


# ---- Python parsers ----------------------------------------------------------------


class KaitaiPy:
    """The generated Python parsers, imported from build/kaitai/python."""

    def __init__(self, python_dir: Path) -> None:
        path = str(python_dir)
        if path not in sys.path:
            sys.path.insert(0, path)
        # The generated code does `import chunk` for chunk.ksy; Python <= 3.12 has a
        # stdlib module of that name. Drop it if something imported it already so
        # the import resolves to our parser.
        mod = sys.modules.get("chunk")
        if mod is not None and Path(getattr(mod, "__file__", "") or "").parent != python_dir:
            del sys.modules["chunk"]
        import kaitaistruct

        self.kaitaistruct = kaitaistruct
        self.SinkFrame = importlib.import_module("sink_frame").SinkFrame
        self.SinkEvent = importlib.import_module("sink_event").SinkEvent
        self.SinkNackPayload = importlib.import_module("sink_nack_payload").SinkNackPayload
        self.SinkBatch = importlib.import_module("sink_batch").SinkBatch
        self.SinkStream = importlib.import_module("sink_stream").SinkStream
        self.gzip_error = importlib.import_module("sink_gzip").SinkGzipError
        self.SinkFrameV1 = importlib.import_module("sink_frame_v1").SinkFrameV1
        self.SinkBatchV1 = importlib.import_module("sink_batch_v1").SinkBatchV1
        self.zstd_error = importlib.import_module("sink_zstd").SinkZstdError
        # What a parser raises on malformed input: Kaitai's end-of-stream and
        # validation errors, and the gzip and zstd routines' errors. Anything else
        # escaping a parse is a bug in the .ksy or these tests, not a rejection.
        self.rejections: tuple[type[BaseException], ...] = (
            kaitaistruct.KaitaiStructError,
            EOFError,
            self.gzip_error,
            self.zstd_error,
        )

    def parser_for(self, kind: str, version: int = 0) -> Any:
        if version == 1:
            return self.SinkFrameV1 if kind in FRAME_KINDS_V1 else self.SinkBatchV1
        if kind in FRAME_KINDS:
            return self.SinkFrame
        return {
            "event": self.SinkEvent,
            "publish_payload": self.SinkEvent,
            "nack_payload": self.SinkNackPayload,
            "batch": self.SinkBatch,
            "stream": self.SinkStream,
        }[kind]

    def parse(self, kind: str, hex_: str, version: int = 0) -> Any:
        """Parse; raises one of `self.rejections` when the parser rejects the input."""
        return self.parser_for(kind, version).from_bytes(bytes.fromhex(hex_))

    # -- values in contract form --

    def value(self, kind: str, obj: Any, version: int = 0) -> Any:
        if version == 1:
            return frame_value_v1(obj) if kind in FRAME_KINDS_V1 else batch_value_v1(obj)
        if kind in FRAME_KINDS:
            return frame_value(obj)
        if kind in ("event", "publish_payload"):
            return event_value(obj)
        if kind == "nack_payload":
            return {"machine_message_hex": obj.machine_message.data.hex(), "human_message_hex": obj.human_message.hex()}
        if kind == "batch":
            return batch_value(obj)
        if kind == "stream":
            return {"frames_hex": [f._raw_frame.hex() for f in obj.frames]}
        raise KeyError(kind)


def event_value(e: Any) -> dict[str, Any]:
    return {
        "event_type_id": e.event_type_id.value,
        "schema_version": e.schema_version.value,
        "key_hex": e.key.data.hex(),
        "offset": e.offset.value,
        "timestamp": e.timestamp.value,
        "event_data_hex": e.event_data.data.hex(),
    }


def frame_value(f: Any) -> dict[str, Any]:
    type_ = f.type.name
    b = f.body
    if type_ == "connection_request":
        return {
            "type": type_,
            "version": f.version,
            "app_version_hex": b.app_version.data.hex(),
            "client_instance_id": b.client_instance_id,
            # The generated class leaves an absent optional field unset.
            "server_instance_id": getattr(b, "server_instance_id", None),
        }
    if type_ == "connection_response":
        response = f.response.name
        v: dict[str, Any] = {"type": type_, "response": response}
        if response == "hello_new_client":
            v["server_instance_id"] = b.server_instance_id
        if response == "quarantined":
            v["machine_message_hex"] = b.machine_message.data.hex()
            v["human_message_hex"] = b.human_message.hex()
        return v
    return messaging_value(type_, f, b)


def messaging_value(type_: str, f: Any, b: Any) -> dict[str, Any]:
    """ACK, PUBLISH, NACK, PING, PONG: the same layouts in both versions (FRAME-7 keeps types 3..7)."""
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
    if type_ in ("ping", "pong"):
        return {"type": type_}
    raise AssertionError(f"parser accepted unknown frame type {f.type!r}")


def batch_value(b: Any) -> dict[str, Any]:
    h, body = b.header, b.body
    count = body.count.value

    def column(same: bool, header_field: str, col_name: str) -> list[int]:
        if same:
            return [getattr(h, header_field).value] * count
        return [v.value for v in getattr(body, col_name).values]

    def series(delta: bool, col_name: str) -> list[int]:
        col = getattr(body, col_name)
        # delta_column items carry the reconstructed value as an instance.
        return [item.value for item in col.items] if delta else [v.value for v in col.values]

    type_ids = column(h.same_event_type_id, "event_type_id", "event_type_ids")
    schemas = column(h.same_schema_version, "schema_version", "schema_versions")
    offsets = series(h.delta_offset, "offsets")
    timestamps = series(h.delta_timestamp, "timestamps")

    def piece(col: Any, i: int) -> str:
        # fixed_bytes_column has no items when its length is 0: every piece is empty.
        return col.items[i].hex() if col.items else ""

    events = [
        {
            "event_type_id": type_ids[i],
            "schema_version": schemas[i],
            "key_hex": piece(body.keys, i),
            "offset": offsets[i],
            "timestamp": timestamps[i],
            "event_data_hex": piece(body.event_data, i),
        }
        for i in range(count)
    ]
    return {"layout": {flag: getattr(h, flag) for flag in LAYOUT_FLAGS}, "events": events}


def reader_schemas_value(r: Any) -> list[dict[str, Any]]:
    return [
        {"event_type_id": e.event_type_id.value, "schema_versions": [v.value.value for v in e.schema_versions]}
        for e in r.entries
    ]


# DECL-1: the declared values in bit order, by the .ksy's field names (which are the spec's).
_DECLARED = (
    "max_frame_size",
    "max_decompressed_size",
    "max_batch_events",
    "max_in_flight",
    "max_zstd_window",
    "keepalive",
    "context_bases",
    "context_lifetime",
)


def declared_limits_value(d: Any) -> dict[str, Any]:
    return {name: getattr(d, name).value for name in _DECLARED if getattr(d, name, None) is not None}


def frame_value_v1(f: Any) -> dict[str, Any]:
    """A sink_frame_v1 parse in the contract form of vectors/v1."""
    type_ = f.type.name
    b = f.body
    if type_ == "connection_request":
        v: dict[str, Any] = {
            "type": type_,
            "version": f.version,
            "app_version_hex": b.app_version.data.hex(),
            "client_instance_id": b.client_instance_id,
            "server_instance_id": getattr(b, "server_instance_id", None),
        }
        if f.version == 1:
            rs = getattr(b, "reader_schemas", None)
            v["reader_schemas"] = None if rs is None else reader_schemas_value(rs)
            dl = getattr(b, "declared_limits", None)
            if dl is not None:
                v["declared_limits"] = declared_limits_value(dl)
        return v
    if type_ == "connection_response":
        response = f.response.name
        v = {"type": type_, "response": response}
        if response == "hello_new_client":
            v["server_instance_id"] = b.server_instance_id
        rs = getattr(b, "reader_schemas", None)
        if rs is not None:
            v["reader_schemas"] = reader_schemas_value(rs)
        dl = getattr(b, "declared_limits", None)
        if dl is not None:
            v["declared_limits"] = declared_limits_value(dl)
        if response == "quarantined":
            v["machine_message_hex"] = b.machine_message.data.hex()
            v["human_message_hex"] = b.human_message.hex()
        return v
    if type_ == "batch_publish":
        return {"type": type_, "message_id": f.message_id, "batch": batch_value_v1(b)}
    if type_ == "close":
        from sinkproto.messages import CloseCode

        last = getattr(b, "last_message_id", None)
        retry = getattr(b, "retry_after", None)
        return {
            "type": type_,
            "error_class": CloseCode(b.error_class.value).wire_name,
            "requirement_hex": b.requirement.data.hex(),
            "last_message_id": None if last is None else last.value,
            "retry_after": None if retry is None else retry.value,
            "human_message_hex": b.human_message.data.hex(),
        }
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
    return messaging_value(type_, f, b)


def batch_value_v1(b: Any) -> dict[str, Any]:
    """A sink_batch_v1 parse: the version-0 form plus `format` (null unless extended);
    for mode records, the form of `records_expectation` instead of events."""
    h = b.header
    fmt = {"codec": h.format.codec.name, "mode": h.format.mode.name} if h.extended else None
    if h.mode.name in ("records", "context"):
        body = b.body
        out: dict[str, Any] = {
            "layout": {flag: getattr(h, flag) for flag in LAYOUT_FLAGS},
            "format": fmt,
            "records": {
                "event_type_id": h.event_type_id.value,
                "schema_version": h.schema_version.value,
                "count": body.count.value,
                "columns": 3 + len(body.schema_columns),
            },
        }
        if h.mode.name == "context":
            out["context"] = {"batch_id": body.batch_id.value, "base_id": body.base_id.value}
        return out
    # The v1 header and body carry the v0 field names, so the v0 reader applies.
    value = batch_value(b)
    value["format"] = fmt
    return value


def frame_body_hex(obj: Any) -> str:
    return obj._raw_body.hex()


def subset_mismatch(expected: Any, actual: Any, subset: bool, path: str = "$") -> str | None:
    """First difference between expected and actual; with subset, keys absent
    from `expected` are not compared. None when they agree."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {actual!r}"
        keys = set(expected) if subset else set(expected) | set(actual)
        for k in sorted(keys):
            if k not in expected or k not in actual:
                return f"{path}.{k}: missing on one side"
            m = subset_mismatch(expected[k], actual[k], subset, f"{path}.{k}")
            if m:
                return m
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: expected {len(expected)} items, got {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            m = subset_mismatch(e, a, subset, f"{path}[{i}]")
            if m:
                return m
        return None
    # bool is an int in Python: compare types too so True never equals 1.
    if type(expected) is not type(actual) or expected != actual:
        return f"{path}: expected {expected!r}, got {actual!r}"
    return None


# ---- JavaScript parsers ------------------------------------------------------------


def run_js(cases: list[KCase], tmp_dir: Path) -> dict[str, dict[str, Any]]:
    """Run spec/tools/kaitai_check.mjs over `cases`; results by case id."""
    kb = import_kaitai_build()
    node = kb.ensure_node_modules()
    cases_file = tmp_dir / "kaitai-js-cases.json"
    # json.dumps writes Python ints exactly; the script reads them losslessly.
    cases_file.write_text(json.dumps({"cases": [c.for_js() for c in cases]}))
    proc = subprocess.run(
        [
            node.node,
            str(TOOLS_DIR / "kaitai_check.mjs"),
            str(cases_file),
            "--parsers",
            str(kb.BUILD_DIR / "javascript"),
        ],
        cwd=TOOLS_DIR,
        env=kb.node_env(node),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise AssertionError(f"kaitai_check.mjs failed:\n{proc.stderr}")
    results = json.loads(proc.stdout)["results"]
    return {r["id"]: r for r in results}
