"""Seed corpora, built from the golden vectors and the field vectors (vectors/field).

Seeds are build output: ``python -m fuzz seeds`` writes one file per seed
into ``build/fuzz/seeds/<target>/``; ``python -m fuzz run`` rebuilds them
first, so they always match the vectors in the tree. The kit is imported
only inside the functions that need it, never at module level: the
harness imports this module (through the targets) before it instruments
the code under test.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from .target import BUILD_DIR, ROOT, Seed, Target

__all__ = ["UNIT_KINDS", "V1_UNIT_KINDS", "units", "units_v1", "split_stream", "seed_dir", "write_seeds"]

VECTOR_DIR = ROOT / "vectors" / "v0"
VECTOR_DIR_V1 = ROOT / "vectors" / "v1"
# The field implementation's encoded cases (vectors/field/README.md).
FIELD_VECTORS = ROOT / "vectors" / "field" / "v0-elixir-encoded.json"

FRAME_KINDS = ("frame", "connection_request", "connection_response", "ack", "publish", "ping", "pong", "nack")
UNIT_KINDS = ("frame", "event", "nack_payload", "batch", "stream")
"""The units a decoder entry point takes: what each seed list is made of."""

V1_UNIT_KINDS = ("frame", "batch", "reader_schemas")
"""The units a version-1 decoder entry point takes (spec/v1): frame, batch v1, reader declaration."""

_FIELD_KIND = {"frame": "frame", "publish_payload": "event", "nack_payload": "nack_payload", "batch": "batch"}


def split_stream(data: bytes) -> list[bytes]:
    """The whole frames of a length-prefixed stream (a partial tail is dropped)."""
    frames, pos = [], 0
    while pos + 2 <= len(data):
        end = pos + 2 + int.from_bytes(data[pos : pos + 2], "big")
        if end > len(data):
            break
        frames.append(data[pos + 2 : end])
        pos = end
    return frames


def _vector_cases(directory: Path = VECTOR_DIR) -> Iterator[tuple[str, str, bytes]]:
    """(vector kind, case id, bytes) of every golden vector, valid or not."""
    for path in sorted(directory.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for case in doc.get("cases", []):
            yield doc["kind"], case["id"], bytes.fromhex(case["hex"])


def _field_cases() -> Iterator[tuple[str, str, bytes]]:
    doc = json.loads(FIELD_VECTORS.read_text(encoding="utf-8"))
    for case in doc["cases"]:
        kind = _FIELD_KIND.get(case["kind"])
        if kind is not None:
            yield kind, f"field.{case['id']}", bytes.fromhex(case["hex"])


def units(unit: str) -> list[Seed]:
    """Every known example of one unit kind, deduplicated by content.

    Invalid vectors are included on purpose: they sit right next to the
    decoder's error paths, which is where mutations find bugs.
    """
    if unit not in UNIT_KINDS:
        raise KeyError(unit)
    out: list[Seed] = []
    for kind, case_id, data in [*_vector_cases(), *_field_cases()]:
        if unit == "frame" and kind in FRAME_KINDS:
            out.append((case_id, data))
        elif unit == "frame" and kind == "stream":
            out.extend((f"{case_id}.{i}", f) for i, f in enumerate(split_stream(data)))
        elif unit == kind:
            out.append((case_id, data))
        elif unit == "event" and kind == "publish" and len(data) > 2:
            out.append((f"{case_id}.payload", data[2:]))
        elif unit == "nack_payload" and kind == "nack" and len(data) > 2:
            out.append((f"{case_id}.payload", data[2:]))
    return _dedupe(out)


def _declaration(kind: str, data: bytes) -> bytes | None:
    """The reader declaration (SNEG-1) in a version-1 request or accepting response, if any (declared limits may follow).

    A response has it after ``response_flags`` (CONN-11) when bit 0 is set.
    """
    if kind == "connection_response" and data[:1] in (b"\x10", b"\x11"):
        at = 1 if data[0] == 0x10 else 5
        return data[at + 1 :] or None if len(data) > at and data[at] & 0x01 else None
    if kind == "connection_request" and data[:1] == b"\x01":
        from sinkproto import DEFAULT_LIMITS, DecodeError  # here: see the module docstring
        from sinkproto.primitives import read_varint

        try:
            length, pos = read_varint(data, 1, len(data), DEFAULT_LIMITS, "app_version length")
        except DecodeError:
            return None
        pos += length + 4  # app_version, client_instance_id: then request_flags
        if pos < len(data) and data[pos] & 0x02:
            return data[pos + 1 + (4 if data[pos] & 0x01 else 0) :] or None
    return None


def units_v1(unit: str) -> list[Seed]:
    """Every example of one version-1 unit kind in vectors/v1 (invalid ones included), deduplicated.

    Frames are every frame file's cases; batches are batch v1 cases and the
    batches inside BATCH_PUBLISH; reader declarations are cut from the
    requests and responses that carry one.
    """
    if unit not in V1_UNIT_KINDS:
        raise KeyError(unit)
    out: list[Seed] = []
    for kind, case_id, data in _vector_cases(VECTOR_DIR_V1):
        if unit == "frame" and kind != "batch":
            out.append((case_id, data))
        elif unit == "batch" and kind == "batch":
            out.append((case_id, data))
        elif unit == "batch" and kind == "batch_publish" and len(data) > 2:
            out.append((f"{case_id}.batch", data[2:]))
        elif unit == "reader_schemas" and (declaration := _declaration(kind, data)) is not None:
            out.append((f"{case_id}.reader_schemas", declaration))
    return _dedupe(out)


def _dedupe(seeds: Iterable[Seed]) -> list[Seed]:
    seen: set[bytes] = set()
    out = []
    for name, data in seeds:
        if data not in seen:
            seen.add(data)
            out.append((name, data))
    return out


def seed_dir(target: Target, base: Path = BUILD_DIR / "seeds") -> Path:
    return base / target.name


def _file_name(name: str, data: bytes) -> str:
    # Case ids are already file-safe; the hash keeps two seeds with one id apart.
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]
    return f"{safe}-{hashlib.sha1(data).hexdigest()[:8]}"


def write_seeds(target: Target, base: Path = BUILD_DIR / "seeds") -> Path:
    """(Re)write one target's seed corpus; returns its folder."""
    folder = seed_dir(target, base)
    if folder.exists():
        shutil.rmtree(folder)  # seeds of a removed vector must not linger
    folder.mkdir(parents=True)
    for name, data in _dedupe(target.seeds()):
        (folder / _file_name(name, data)).write_bytes(data)
    return folder
