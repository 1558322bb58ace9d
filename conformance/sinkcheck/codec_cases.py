"""Codec-mode cases: what to ask a shim and what the answer must be.

Each golden vector (vectors/v0) becomes one case under its own ID, with one
check per thing the vector promises (decode to this value, refuse with this
error class, encode to exactly these bytes). Generated cases (``codec_strategies``)
use the same shape, with expectations computed by the reference codec
(``sinkproto.construct_codec``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinkkit import kit_file
from sinkproto.errors import DecodeError, EncodeError
from sinkproto.limits import Limits
from sinkproto.vectors.model import (
    FRAME_KIND_FILES,
    Case as VectorCase,
    decode_kind,
    encode_kind,
    load_dir,
    normalized_bytes,
    value_from_json,
    value_to_json,
)

__all__ = ["Check", "CodecCase", "protocol_kind", "vector_cases", "reference_decode", "reference_encode",
           "non_default_limits", "same_bytes", "same_json", "VECTOR_DIR"]


VECTOR_DIR = kit_file("vectors/v0")  # the kit's vectors, in a checkout or an installed wheel (sinkkit)
_DEFAULTS = Limits()


def protocol_kind(vector_kind: str) -> str:
    """Vector files split frames by type; the protocol has one ``frame`` kind."""
    return "frame" if vector_kind in FRAME_KIND_FILES else vector_kind


@dataclass(frozen=True)
class Check:
    """One request and the one acceptable answer.

    ``expect`` is ``value`` (decode gives ``expected``), ``error`` (decode fails
    with error class ``expected``), ``bytes`` (encode gives hex ``expected``;
    compressed batches compare after decompression) or ``refused`` (encode fails).
    """

    op: str  # decode | encode
    kind: str  # protocol kind
    expect: str
    expected: Any
    hex: str | None = None  # decode input
    value: dict[str, Any] | None = None  # encode input
    limits: dict[str, Any] = field(default_factory=dict)  # non-default limits only
    label: str = ""  # e.g. "decode", "encode", "decode strict_utf8=true"

    def request(self) -> dict[str, Any]:
        body: dict[str, Any] = {"op": self.op, "kind": self.kind}
        if self.op == "decode":
            body["hex"] = self.hex
            body["limits"] = self.limits
        else:
            body["value"] = self.value
        return body


@dataclass(frozen=True)
class CodecCase:
    id: str
    source: str  # "vector" | "generated"
    kind: str  # the vector file's kind (or the generated unit's)
    requirements: tuple[str, ...]
    checks: tuple[Check, ...]
    description: str = ""


def non_default_limits(values: dict[str, Any]) -> dict[str, Any]:
    """Only the limits that differ from the defaults travel in a request."""
    return {k: v for k, v in values.items() if getattr(_DEFAULTS, k) != v}


def same_json(a: Any, b: Any) -> bool:
    """Equal JSON values; unlike ``==``, ``true`` never equals ``1``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def same_bytes(kind: str, expected_hex: str, produced_hex: str) -> bool:
    """Exact bytes, except that gzip bodies compare after decompression (BATCH-10)."""
    if expected_hex == produced_hex:
        return True
    if kind != "batch":
        return False
    try:
        mine = VectorCase(id="", description="", requirements=[], hex=expected_hex, result="valid")
        theirs = VectorCase(id="", description="", requirements=[], hex=produced_hex, result="valid")
        return normalized_bytes(kind, mine) == normalized_bytes(kind, theirs)
    except Exception:  # an undecompressible body is simply not the same bytes
        return False


def reference_decode(kind: str, data: bytes, limits: dict[str, Any]) -> tuple[str, Any]:
    """("value", json) or ("error", error_class), by the reference codec."""
    try:
        value = decode_kind(kind, data, Limits.from_dict(limits))
    except DecodeError as exc:
        return "error", exc.error_class
    return "value", value_to_json(kind, value)


def reference_encode(kind: str, value: dict[str, Any]) -> tuple[str, Any]:
    """("bytes", hex) or ("refused", None), by the reference codec."""
    try:
        return "bytes", encode_kind(kind, value_from_json(kind, value)).hex()
    except (EncodeError, KeyError, TypeError, ValueError):
        return "refused", None


def _vector_checks(kind: str, case: VectorCase) -> list[Check]:
    pk = protocol_kind(kind)
    limits = dict(case.limits or {})
    checks: list[Check] = []
    if case.result == "valid":
        checks.append(Check("decode", pk, "value", case.value, hex=case.hex, limits=non_default_limits(limits),
                            label="decode"))
        # Canonical: an encoder given the value must produce exactly these bytes. A batch with an explicit
        # layout is deterministic too (the layout says which columns exist), canonical or not.
        if case.canonical or kind == "batch":
            checks.append(Check("encode", pk, "bytes", case.hex, value=case.value, label="encode"))
        if kind == "batch" and case.canonical:
            assert case.value is not None
            bare = {k: v for k, v in case.value.items() if k != "layout"}
            checks.append(Check("encode", pk, "bytes", case.hex, value=bare, label="encode without layout"))
    elif case.result == "invalid":
        checks.append(Check("decode", pk, "error", case.error_class, hex=case.hex,
                            limits=non_default_limits(limits), label="decode"))
    elif case.result == "acceptable":
        decided = dict(case.decided_by or {})
        accepted = {**limits, **decided}
        refused = {**limits, **{k: not v for k, v in decided.items()}}
        settings = ", ".join(f"{k}={str(v).lower()}" for k, v in decided.items())
        opposite = ", ".join(f"{k}={str(not v).lower()}" for k, v in decided.items())
        checks.append(Check("decode", pk, "value", case.value, hex=case.hex, limits=non_default_limits(accepted),
                            label=f"decode {settings}"))
        checks.append(Check("decode", pk, "error", case.error_class, hex=case.hex, limits=non_default_limits(refused),
                            label=f"decode {opposite}"))
    return checks


def vector_cases(directory: Path | None = None) -> list[CodecCase]:
    """Every golden vector as a case, in file order."""
    folder = directory or VECTOR_DIR
    if folder is None:
        raise FileNotFoundError("vectors/v0 not found; run from a checkout of the kit or pass --vectors")
    out = []
    for vf in load_dir(folder):
        for case in vf.cases:
            out.append(CodecCase(id=case.id, source="vector", kind=vf.kind, requirements=tuple(case.requirements),
                                 checks=tuple(_vector_checks(vf.kind, case)), description=case.description))
    return out


def describe(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."
