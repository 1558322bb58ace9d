"""The golden-vector file format and the codec operations each kind maps to."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinkproto import construct_codec as codec
from sinkproto.batchrules import gunzip_body
from sinkproto.limits import Limits
from sinkproto.stream import Deframer, frame_bytes

__all__ = [
    "Case",
    "KINDS",
    "FRAME_KIND_FILES",
    "VectorFile",
    "load_dir",
    "dump_file",
    "fingerprint",
    "decode_kind",
    "encode_kind",
]

SCHEMA_REF = "../schema/vector-file.schema.json"

FRAME_KIND_FILES = ("connection_request", "connection_response", "ack", "publish", "nack", "ping", "pong", "frame")
KINDS = (*FRAME_KIND_FILES, "event", "nack_payload", "batch", "stream")
# Version 1 (vectors/v1, spec/v1): its frame kinds, decoded as frames of a version-1 connection.
FRAME_KIND_FILES_V1 = ("connection_request", "connection_response", "batch_publish", "batch_result", "close", "frame")
KINDS_V1 = (*FRAME_KIND_FILES_V1, "batch")


@dataclass(frozen=True)
class StreamValue:
    """The value of a ``stream`` case: the frames the deframer must return."""

    frames: tuple[bytes, ...]


def decode_stream(data: bytes, limits: Limits) -> StreamValue:
    deframer = Deframer(limits)
    frames = deframer.feed(data)
    deframer.close()
    return StreamValue(frames=tuple(frames))


def vector_record_schemas() -> Any:
    """The writer schemas version-1 vectors in records mode are encoded with: the registry in ``schemas/``."""
    from sinkproto.records import RecordSchemas
    from sinkproto.schemas import default_registry

    return RecordSchemas.from_registry(default_registry())


def decode_kind(
    kind: str, data: bytes, limits: Limits, version: int = 0, schemas: Any = None, bases: Any = None
) -> Any:
    """Decode one unit of ``kind``; from version 1, records batches with ``schemas`` (default: the kit's registry)
    and batches in mode context with ``bases`` (the bases the decoder holds; None: it takes no context, CTX-1)."""
    if version >= 1 and schemas is None:
        schemas = vector_record_schemas()
    if kind == "batch":
        return codec.decode_batch(data, limits=limits, version=version, schemas=schemas, bases=bases)
    if version >= 1 or kind in FRAME_KIND_FILES:  # every version-1 kind but batch is a frame
        return codec.decode_frame(data, limits=limits, version=version, schemas=schemas, bases=bases)
    decoders: dict[str, Callable[..., Any]] = {
        "event": codec.decode_event,
        "nack_payload": codec.decode_nack_payload,
        "stream": decode_stream,
    }
    return decoders[kind](data, limits=limits)


def encode_kind(kind: str, value: Any, version: int = 0) -> bytes:
    schemas = vector_record_schemas() if version >= 1 else None
    if kind == "batch":
        return codec.encode_batch(value, version=version, schemas=schemas)
    if version >= 1 or kind in FRAME_KIND_FILES:
        return codec.encode_frame(value, version=version, schemas=schemas)
    if kind == "stream":
        return b"".join(frame_bytes(f) for f in value.frames)
    encoders: dict[str, Callable[[Any], bytes]] = {
        "event": codec.encode_event,
        "nack_payload": codec.encode_nack_payload,
    }
    return encoders[kind](value)


def value_to_json(kind: str, value: Any, version: int = 0) -> dict[str, Any]:
    from sinkproto.jsonform import to_json

    if kind == "stream":
        return {"frames_hex": [f.hex() for f in value.frames]}
    return to_json(value, version)


def value_from_json(kind: str, obj: dict[str, Any], version: int = 0, bases: Any = None) -> Any:
    from sinkproto.jsonform import from_json

    if kind == "stream":
        return StreamValue(frames=tuple(bytes.fromhex(h) for h in obj["frames_hex"]))
    return from_json(kind, obj, version, bases)


@dataclass
class Case:
    id: str
    description: str
    requirements: list[str]
    hex: str
    result: str  # valid | invalid | acceptable | unknown_base (mode context: the decoder lacks the base, CTX-5)
    canonical: bool | None = None
    value: dict[str, Any] | None = None
    error_class: str | None = None
    limits: dict[str, Any] | None = None
    decided_by: dict[str, Any] | None = None
    # Avro content of event_data (spec/v0/schemas.md): [{"event": index, "event_type", "record", "read_as"}] or
    # [{"event": index, "error": reason}]; checked through the schema registry, see vectors/avro_check.py.
    avro: list[dict[str, Any]] | None = None
    # The bases the decoder holds for the sending peer (context coding, spec/v1/context.md):
    # [{"batch_id", "digest_hex", "events"}]. Absent: the decoder declared no context_bases (CTX-1).
    bases: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "description": self.description,
            "requirements": self.requirements,
            "result": self.result,
        }
        if self.canonical is not None:
            out["canonical"] = self.canonical
        if self.limits is not None:
            out["limits"] = self.limits
        if self.bases is not None:
            out["bases"] = self.bases
        if self.decided_by is not None:
            out["decided_by"] = self.decided_by
        if self.value is not None:
            out["value"] = self.value
        if self.error_class is not None:
            out["error_class"] = self.error_class
        if self.avro is not None:
            out["avro"] = self.avro
        out["hex"] = self.hex
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Case:
        return cls(
            id=obj["id"],
            description=obj["description"],
            requirements=list(obj["requirements"]),
            hex=obj["hex"],
            result=obj["result"],
            canonical=obj.get("canonical"),
            value=obj.get("value"),
            error_class=obj.get("error_class"),
            limits=obj.get("limits"),
            decided_by=obj.get("decided_by"),
            avro=obj.get("avro"),
            bases=obj.get("bases"),
        )

    @property
    def data(self) -> bytes:
        return bytes.fromhex(self.hex)

    def decode_limits(self, **override: Any) -> Limits:
        return Limits.from_dict({**(self.limits or {}), **override})

    def base_lookup(self) -> Any:
        """The bases as a decoder takes them (``BaseLookup``), or None when the case gives none."""
        from sinkproto.jsonform import bases_from_json

        return bases_from_json(self.bases)


@dataclass
class VectorFile:
    kind: str
    spec_version: int
    kit_version: str
    description: str
    cases: list[Case] = field(default_factory=list)
    path: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "$schema": SCHEMA_REF,
            "kind": self.kind,
            "spec_version": self.spec_version,
            "kit_version": self.kit_version,
            "description": self.description,
            "cases": [c.to_json() for c in self.cases],
        }


def dump_file(vf: VectorFile) -> str:
    # One case per line keeps diffs of regenerated files readable.
    head = vf.to_json()
    cases = head.pop("cases")
    lines = [json.dumps(c, ensure_ascii=False) for c in cases]
    text = json.dumps(head, indent=1, ensure_ascii=False)[:-2]
    return text + ',\n "cases": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"


def load_dir(directory: Path) -> list[VectorFile]:
    files = []
    for path in sorted(directory.glob("*.json")):
        obj = json.loads(path.read_text(encoding="utf-8"))
        if "kind" not in obj or "cases" not in obj:
            continue  # e.g. the id lock file
        files.append(
            VectorFile(
                kind=obj["kind"],
                spec_version=obj["spec_version"],
                kit_version=obj["kit_version"],
                description=obj.get("description", ""),
                cases=[Case.from_json(c) for c in obj["cases"]],
                path=path,
            )
        )
    return files


def normalized_bytes(kind: str, case: Case) -> bytes:
    """The bytes that identify a case across zlib builds (BATCH-10)."""
    data = case.data
    if kind == "batch" and case.result == "valid" and data and data[0] & 0x40 and not data[0] & 0x80:
        start = _gzip_start(data)
        return data[:start] + gunzip_body(data[start:], limit=1 << 30, offset=start)
    if case.result == "valid" and kind in ("batch", "batch_publish"):
        return _normalized_extended(data, 2 if kind == "batch_publish" else 0)
    return data


def _normalized_extended(data: bytes, at: int) -> bytes:
    """Version 1: an extended batch with codec gzip or zstd, compared after decompression (CODEC-5)."""
    from sinkproto.batchrules import unzstd_body

    if len(data) < at + 2 or not data[at] & 0x80 or not data[at + 1] >> 4:
        return data
    start = at + _gzip_start(data[at:], first=2)
    codec = data[at + 1] >> 4
    body = data[start:]
    plain = (
        gunzip_body(body, limit=1 << 30, offset=start)
        if codec == 1
        else unzstd_body(body, limit=1 << 30, window_limit=1 << 30, offset=start)
    )
    return data[:start] + plain


def _gzip_start(data: bytes, first: int = 1) -> int:
    """Offset of the gzip member in a compressed batch: after the header values (``first``: header bytes)."""
    position = first
    for bit in (5, 4, 3, 2, 1, 0):
        if data[0] >> bit & 1:
            while data[position] & 0x80:
                position += 1
            position += 1
    return position


def fingerprint(kind: str, case: Case) -> str:
    """What a case ID means; an ID's fingerprint never changes once committed."""
    meaning: dict[str, object] = {
        "kind": kind,
        "bytes": normalized_bytes(kind, case).hex(),
        "result": case.result,
        "error_class": case.error_class,
        "value": case.value,
        "limits": case.limits,
        "decided_by": case.decided_by,
    }
    if case.bases is not None:
        meaning["bases"] = case.bases  # what the decoder holds is part of what the bytes decode to
    if case.avro is not None:
        # The records the bytes carry are part of the meaning; read_as (what other
        # versions' readers see) grows with every new schema version, so it is not.
        meaning["avro"] = [{k: v for k, v in entry.items() if k != "read_as"} for entry in case.avro]
    blob = json.dumps(meaning, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
