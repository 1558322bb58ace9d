"""Verify golden vectors against the reference codec (``sink vectors check``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinkproto.batchrules import canonical_layout
from sinkproto.errors import BaseUnavailable, DecodeError, SinkError
from sinkproto.messages import Batch
from sinkproto.schemas import Registry, default_registry

from .avro_check import check_avro
from .locks import LOCK_NAME, load_lock, load_withdrawn
from .model import (
    Case,
    VectorFile,
    decode_kind,
    encode_kind,
    fingerprint,
    load_dir,
    normalized_bytes,
    value_from_json,
    value_to_json,
)

__all__ = ["CaseResult", "Report", "check_case", "check_dir", "check_ids", "check_sources"]


@dataclass
class CaseResult:
    kind: str
    id: str
    ok: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.file_problems


def _same_bytes(kind: str, case: Case, produced: bytes) -> bool:
    """Exact bytes, except that gzip bodies compare after decompression (BATCH-10)."""
    if produced == case.data:
        return True
    other = Case(**{**case.__dict__, "hex": produced.hex()})
    return normalized_bytes(kind, other) == normalized_bytes(kind, case)


def _decode(kind: str, case: Case, version: int, **override: Any) -> Any:
    return decode_kind(kind, case.data, case.decode_limits(**override), version, bases=case.base_lookup())


def _expect_error(kind: str, case: Case, problems: list[str], version: int = 0, **override: Any) -> None:
    try:
        value = _decode(kind, case, version, **override)
    except DecodeError as exc:
        if exc.error_class != case.error_class:
            problems.append(f"expected error_class {case.error_class}, decoder reported {exc.error_class}: {exc}")
    except SinkError as exc:  # pragma: no cover - decoders raise DecodeError only
        problems.append(f"expected {case.error_class}, got non-decode SinkError {exc!r}")
    else:
        problems.append(
            f"expected error_class {case.error_class}, decoder accepted it as {value_to_json(kind, value, version)}"
        )


def _expect_unknown_base(kind: str, case: Case, problems: list[str], version: int) -> None:
    """CTX-5: the decoder stops at the base it lacks: neither a value nor a decode error."""
    try:
        value = _decode(kind, case, version)
    except BaseUnavailable:
        return
    except DecodeError as exc:
        problems.append(f"expected unknown_base, decoder reported {exc.error_class}: {exc}")
    else:
        problems.append(f"expected unknown_base, decoder accepted it as {value_to_json(kind, value, version)}")


def _check_bases(case: Case, problems: list[str]) -> None:
    """Each base's ``digest_hex`` is its events' digest (CTX-4), so a reader can check its own digest on them."""
    from sinkproto.jsonform import event_from_json
    from sinkproto.messages import context_digest

    ids = [entry["batch_id"] for entry in case.bases or []]
    if len(ids) != len(set(ids)):
        problems.append(f"bases hold one batch_id twice: {ids}")
    for entry in case.bases or []:
        digest = context_digest(tuple(event_from_json(e) for e in entry["events"])).hex()
        if entry.get("digest_hex") != digest:
            problems.append(f"base {entry['batch_id']}: digest_hex is not the CTX-4 digest {digest}")


def _expect_value(
    kind: str, case: Case, problems: list[str], *, reencode: bool, version: int = 0, **override: Any
) -> None:
    try:
        decoded = _decode(kind, case, version, **override)
    except (DecodeError, BaseUnavailable) as exc:
        problems.append(f"decoder rejected a {case.result} case: {exc}")
        return
    got = value_to_json(kind, decoded, version)
    if got != case.value:
        problems.append(f"decoded value differs: {json.dumps(got)[:300]}")
        return
    if not reencode:
        return
    value = value_from_json(kind, case.value, version, case.base_lookup())
    produced = encode_kind(kind, value, version)
    if not _same_bytes(kind, case, produced):
        problems.append(f"re-encoding gives other bytes: {produced.hex()[:120]}")
    if version == 1:
        return  # batch v1 has no canonical layout rule beyond CODEC-5's SHOULD
    if kind == "batch" and case.canonical:
        events = value.events
        layout = value.layout
        if layout != canonical_layout(events, compressed=bool(layout and layout.compressed)):
            problems.append("canonical batch case whose layout is not the canonical layout of its events")
        if not _same_bytes(kind, case, encode_kind(kind, Batch(events=events))):
            problems.append("the canonical encoder (no layout given) does not produce these bytes")


def check_case(kind: str, case: Case, registry: Registry | None = None, version: int = 0) -> CaseResult:
    """Check one case; ``registry`` (default: the kit's schemas) gives meaning to its ``avro`` entries.

    ``version`` is the file's ``spec_version``: 1 decodes as a version-1 connection (vectors/v1).
    """
    problems: list[str] = []
    _check_bases(case, problems)
    if case.result == "valid":
        # Canonical: encoders must emit exactly these bytes. Batches with an
        # explicit non-canonical layout are still deterministic to re-encode.
        # A records batch whose transforms are not the canonical ones (RECORD-9) decodes, but does not re-encode to itself.
        text = json.dumps(case.value)
        records_variant = case.canonical is False and ('"mode": "records"' in text or '"mode": "context"' in text)
        _expect_value(
            kind,
            case,
            problems,
            version=version,
            reencode=bool(case.canonical) or (kind in ("batch", "batch_publish") and not records_variant),
        )
    elif case.result == "invalid":
        _expect_error(kind, case, problems, version)
    elif case.result == "unknown_base":
        _expect_unknown_base(kind, case, problems, version)
    elif case.result == "acceptable":
        decided = case.decided_by or {}
        _expect_value(kind, case, problems, reencode=False, version=version, **decided)
        _expect_error(kind, case, problems, version, **{k: not v for k, v in decided.items()})
    else:
        problems.append(f"unknown result {case.result!r}")
    problems.extend(check_avro(kind, case, registry))
    return CaseResult(kind=kind, id=case.id, ok=not problems, problems=problems)


def check_ids(
    files: list[VectorFile], lock: dict[str, str] | None, withdrawn: Mapping[str, str] | None = None
) -> list[str]:
    """IDs are unique, and a committed ID never changes meaning or disappears, unless withdrawn, and then never returns."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for vf in files:
        for case in vf.cases:
            if case.id in seen:
                problems.append(f"duplicate id {case.id} ({seen[case.id]} and {vf.kind})")
            if case.id in (withdrawn or {}):
                problems.append(f"id {case.id} was withdrawn ({(withdrawn or {})[case.id]}): it is never used again")
            seen[case.id] = fingerprint(vf.kind, case)
    for case_id, meaning in (lock or {}).items():
        if case_id not in seen:
            problems.append(f"id {case_id} is in {LOCK_NAME} but no longer in the vectors (IDs are never removed)")
        elif seen[case_id] != meaning:
            problems.append(
                f"id {case_id} changed meaning (fingerprint {meaning} -> {seen[case_id]}); give the new case a new id"
            )
    return problems


def check_sources(directory: Path, schemas_dir: Path | None, kit_version: str) -> list[str]:
    """Problems with the sources: schema rules, the schema version lock, and vectors stale relative to them."""
    from sinkproto.schemas import LOCK_FILE

    from ..schema_evolution import check_lock, check_registry
    from .regenerate import plan, spec_version_of

    registry = default_registry(schemas_dir)
    # The schemas are checked with the version-0 vectors, which are generated from them: once per
    # run of `sink vectors check`, not again for every vectors/vN folder.
    schema_checks = spec_version_of(directory) == 0
    problems = [f"schemas: {violation}" for violation in check_registry(registry)] if schema_checks else []
    lock_path = registry.directory / LOCK_FILE
    if schema_checks and lock_path.exists():
        problems += [
            f"schemas: {violation}"
            for violation in check_lock(registry, json.loads(lock_path.read_text(encoding="utf-8")))
        ]
    try:
        changes = plan(directory, kit_version, registry.directory)
    except SinkError as exc:  # e.g. a schema that breaks the rules cannot resolve the examples
        return [*problems, f"stale: cannot regenerate the vectors from the sources to compare them: {exc}"]
    for change in changes:
        if change.changed:
            what = "; ".join(line.strip() for line in change.summary_lines())
            problems.append(
                f"stale: {what}. The committed file is not what the sources (schemas/, the codec, the case builders) "
                "generate now: run `sink vectors regenerate`, review the changes it prints, and commit them"
            )
    return problems


def check_dir(
    directory: Path, *, schema: dict[str, Any] | None = None, schemas_dir: Path | None = None, sources: bool = False
) -> Report:
    """Check every vector file in ``directory``; with ``sources``, also that they are up to date with the sources."""
    report = Report()
    files = load_dir(directory)
    if not files:
        report.file_problems.append(f"no vector files in {directory}")
    if schema is not None:
        import jsonschema

        validator = jsonschema.Draft202012Validator(schema)
        for vf in files:
            assert vf.path is not None
            for error in validator.iter_errors(json.loads(vf.path.read_text(encoding="utf-8"))):
                report.file_problems.append(f"{vf.path.name}: schema: {error.json_path}: {error.message}")
    report.file_problems.extend(check_ids(files, load_lock(directory), load_withdrawn(directory)))
    registry = default_registry(schemas_dir) if any(c.avro is not None for vf in files for c in vf.cases) else None
    for vf in files:
        for case in vf.cases:
            report.results.append(check_case(vf.kind, case, registry, vf.spec_version))
    if sources:
        report.file_problems.extend(check_sources(directory, schemas_dir, files[0].kit_version if files else "unknown"))
    return report
