"""Codec-mode cases: what to ask a shim and what the answer must be.

Each golden vector (vectors/v0 and vectors/v1) becomes one case under its own
ID, with one check per thing the vector promises (decode to this value,
refuse with this error class, encode to exactly these bytes), in the
protocol version of its file. Generated cases (``codec_strategies``) use the
same shape, with expectations computed by the reference codec
(``sinkproto.construct_codec``, with ``version=1`` for version 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sinkkit import kit_file
from sinkproto.errors import BaseUnavailable, DecodeError, EncodeError
from sinkproto.limits import Limits
from sinktools.vectors.model import (
    FRAME_KIND_FILES,
    FRAME_KIND_FILES_V1,
    decode_kind,
    encode_kind,
    load_dir,
    normalized_bytes,
    value_from_json,
    value_to_json,
)
from sinktools.vectors.model import (
    Case as VectorCase,
)

__all__ = [
    "Check",
    "CodecCase",
    "protocol_kind",
    "vector_cases",
    "reference_bytes",
    "reference_decode",
    "reference_encode",
    "non_default_limits",
    "same_bytes",
    "same_json",
    "VECTOR_DIR",
    "VECTOR_DIRS",
]


#: The golden vector folders by protocol version: the kit's, in a checkout or an installed wheel (sinkkit).
VECTOR_DIRS = {version: kit_file(f"vectors/v{version}") for version in (0, 1)}
VECTOR_DIR = VECTOR_DIRS[0]
_DEFAULTS = Limits()


def protocol_kind(vector_kind: str, version: int = 0) -> str:
    """Vector files split frames by type; the protocol has one ``frame`` kind (per protocol version)."""
    return "frame" if vector_kind in (FRAME_KIND_FILES if version == 0 else FRAME_KIND_FILES_V1) else vector_kind


@dataclass(frozen=True)
class Check:
    """One request and the one acceptable answer.

    ``expect`` is ``value`` (decode gives ``expected``), ``error`` (decode fails
    with error class ``expected``), ``bytes`` (encode gives hex ``expected``;
    compressed batches compare after decompression), ``refused`` (encode fails)
    or ``unknown_base`` (decode stops at a base ``bases`` does not hold, CTX-5).
    """

    op: str  # decode | encode
    kind: str  # protocol kind
    expect: str
    expected: Any
    hex: str | None = None  # decode input
    value: dict[str, Any] | None = None  # encode input
    limits: dict[str, Any] = field(default_factory=dict)  # non-default limits only
    label: str = ""  # e.g. "decode", "encode", "decode strict_utf8=true"
    version: int = 0  # the Sink protocol version the unit belongs to
    #: What the check exercises when it passes (a vector's requirements; a generated case's).
    requirements: tuple[str, ...] = ()
    #: The requirement of the expected error, as the reference decoder names it (``expect == "error"``).
    requirement: str | None = None
    #: Context coding (version 1): the bases the codec holds, as in the vectors; None: it declared none (CTX-1).
    bases: list[dict[str, Any]] | None = None

    def request(self) -> dict[str, Any]:
        body: dict[str, Any] = {"op": self.op, "kind": self.kind, "protocol_version": self.version}
        if self.op == "decode":
            body["hex"] = self.hex
            body["limits"] = self.limits
        else:
            body["value"] = self.value
        if self.bases is not None:
            body["bases"] = self.bases
        return body


@dataclass(frozen=True)
class CodecCase:
    id: str
    source: str  # "vector" | "generated"
    kind: str  # the vector file's kind (or the generated unit's)
    requirements: tuple[str, ...]
    checks: tuple[Check, ...]
    description: str = ""
    version: int = 0


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


def same_bytes(kind: str, expected_hex: str, produced_hex: str, version: int = 0) -> bool:
    """Exact bytes, except that compressed bodies compare after decompression (BATCH-10, CODEC-5)."""
    if expected_hex == produced_hex:
        return True
    as_kind = kind
    if version == 1 and kind == "frame":
        if not expected_hex.startswith("2"):  # only a BATCH_PUBLISH (type 2) carries a compressed body
            return False
        as_kind = "batch_publish"
    elif kind != "batch":
        return False
    try:
        mine = VectorCase(id="", description="", requirements=[], hex=expected_hex, result="valid")
        theirs = VectorCase(id="", description="", requirements=[], hex=produced_hex, result="valid")
        return normalized_bytes(as_kind, mine) == normalized_bytes(as_kind, theirs)
    except Exception:  # an undecompressible body is simply not the same bytes
        return False


@cache
def record_schemas() -> Any:
    """The writer schemas of version-1 records batches: the kit's registry, loaded once per run."""
    from sinktools.vectors.model import vector_record_schemas

    return vector_record_schemas()


def reference_bytes(kind: str, value: Any, version: int = 0) -> bytes:
    """The reference encoding of a logical value (EncodeError when it has none)."""
    if version == 1:
        from sinkproto import construct_codec

        encode = construct_codec.encode_batch if kind == "batch" else construct_codec.encode_frame
        return encode(value, version=1, schemas=record_schemas())
    return encode_kind(kind, value)


def reference_decode(
    kind: str, data: bytes, limits: dict[str, Any], version: int = 0, bases: list[dict[str, Any]] | None = None
) -> tuple[str, Any, str | None]:
    """("value", json, None), ("error", error_class, requirement) or ("unknown_base", None, "CTX-5"), by the
    reference codec holding ``bases`` (the vectors' form; None: it takes no batch in mode context)."""
    from sinkproto.jsonform import bases_from_json

    schemas = record_schemas() if version == 1 else None
    try:
        value = decode_kind(kind, data, Limits.from_dict(limits), version, schemas, bases_from_json(bases))
    except DecodeError as exc:
        return "error", exc.error_class, exc.requirement
    except BaseUnavailable as exc:
        return "unknown_base", None, exc.requirement
    return "value", value_to_json(kind, value, version), None


def reference_encode(
    kind: str, value: dict[str, Any], version: int = 0, bases: list[dict[str, Any]] | None = None
) -> tuple[str, Any]:
    """("bytes", hex) or ("refused", None), by the reference codec (``bases``: those a context batch names)."""
    from sinkproto.jsonform import bases_from_json

    try:
        return "bytes", reference_bytes(
            kind, value_from_json(kind, value, version, bases_from_json(bases)), version
        ).hex()
    except (EncodeError, TypeError, ValueError):
        return "refused", None


def _error_requirement(kind: str, case: VectorCase, limits: dict[str, Any], version: int) -> str | None:
    """The requirement the reference decoder names for an invalid vector's error (what a dispute cites)."""
    expect, error_class, requirement = reference_decode(kind, case.data, limits, version, case.bases)
    return requirement if expect == "error" and error_class == case.error_class else None


def _vector_checks(kind: str, case: VectorCase, version: int) -> list[Check]:
    pk = protocol_kind(kind, version)
    limits = dict(case.limits or {})
    cited = tuple(case.requirements)
    bases = case.bases
    checks: list[Check] = []
    if case.result == "unknown_base":
        checks.append(
            Check(
                "decode",
                pk,
                "unknown_base",
                None,
                hex=case.hex,
                limits=non_default_limits(limits),
                label="decode",
                version=version,
                requirements=cited,
                requirement="CTX-5",
                bases=bases,
            )
        )
    elif case.result == "valid":
        checks.append(
            Check(
                "decode",
                pk,
                "value",
                case.value,
                hex=case.hex,
                limits=non_default_limits(limits),
                label="decode",
                version=version,
                requirements=cited,
                bases=bases,
            )
        )
        # Canonical: an encoder given the value must produce exactly these bytes. A batch with an explicit
        # layout is deterministic too (the layout says which columns exist), canonical or not; a records batch
        # with other transforms than the canonical ones (RECORD-9) is not.
        text = json.dumps(case.value)
        records_variant = (
            version == 1 and case.canonical is False and ('"mode": "records"' in text or '"mode": "context"' in text)
        )
        if case.canonical or (kind in ("batch", "batch_publish") and not records_variant):
            checks.append(
                Check(
                    "encode",
                    pk,
                    "bytes",
                    case.hex,
                    value=case.value,
                    label="encode",
                    version=version,
                    requirements=cited,
                    bases=bases,
                )
            )
        if version == 0 and kind == "batch" and case.canonical:
            assert case.value is not None
            bare = {k: v for k, v in case.value.items() if k != "layout"}
            checks.append(
                Check(
                    "encode",
                    pk,
                    "bytes",
                    case.hex,
                    value=bare,
                    label="encode without layout",
                    version=version,
                    requirements=cited,
                    bases=bases,
                )
            )
    elif case.result == "invalid":
        checks.append(
            Check(
                "decode",
                pk,
                "error",
                case.error_class,
                hex=case.hex,
                limits=non_default_limits(limits),
                label="decode",
                version=version,
                requirements=cited,
                requirement=_error_requirement(pk, case, limits, version),
                bases=bases,
            )
        )
    elif case.result == "acceptable":
        decided = dict(case.decided_by or {})
        accepted = {**limits, **decided}
        refused = {**limits, **{k: not v for k, v in decided.items()}}
        settings = ", ".join(f"{k}={str(v).lower()}" for k, v in decided.items())
        opposite = ", ".join(f"{k}={str(not v).lower()}" for k, v in decided.items())
        # What decides an acceptable case is the setting: strict UTF-8 is ERR-9's.
        deciding = tuple(dict.fromkeys((*cited, *(("ERR-9",) if "strict_utf8" in decided else ()))))
        checks.append(
            Check(
                "decode",
                pk,
                "value",
                case.value,
                hex=case.hex,
                limits=non_default_limits(accepted),
                label=f"decode {settings}",
                version=version,
                requirements=deciding,
                bases=bases,
            )
        )
        checks.append(
            Check(
                "decode",
                pk,
                "error",
                case.error_class,
                hex=case.hex,
                limits=non_default_limits(refused),
                label=f"decode {opposite}",
                version=version,
                requirements=deciding,
                requirement=_error_requirement(pk, case, refused, version),
                bases=bases,
            )
        )
    return checks


def vector_cases(directory: Path | None = None, version: int | None = None) -> list[CodecCase]:
    """Every golden vector of ``directory`` (default: vectors/v0) as a case, in file order.

    The protocol version is the files' ``spec_version`` (vectors/v1: 1), unless ``version`` says otherwise.
    """
    folder = directory or VECTOR_DIR
    if folder is None:
        raise FileNotFoundError("vectors/v0 not found; run from a checkout of the kit or pass --vectors")
    out = []
    for vf in load_dir(folder):
        file_version = vf.spec_version if version is None else version
        for case in vf.cases:
            out.append(
                CodecCase(
                    id=case.id,
                    source="vector",
                    kind=vf.kind,
                    requirements=tuple(case.requirements),
                    checks=tuple(_vector_checks(vf.kind, case, file_version)),
                    description=case.description,
                    version=file_version,
                )
            )
    return out


def describe(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."
