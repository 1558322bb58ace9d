"""Regenerate the vectors from their sources and say what changed (``sink vectors regenerate``).

The sources are the case builders (vectors/cases/v0.py, v1.py and avro.py),
the codec, and the event schemas (schemas/). Regeneration happens in memory
first: :func:`plan` compares every regenerated case with the committed one,
so the same comparison serves ``regenerate`` (print, then write only the files
that changed) and ``check`` (fail when the committed files are stale).
Compressed batches are compared after decompression (BATCH-10): a zlib build
that compresses differently does not make a file stale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sinkproto.schemas import LOCK_FILE as SCHEMA_LOCK_FILE
from sinkproto.schemas import Registry, default_registry, find_schemas_dir

from .cases.v0 import FILE_DESCRIPTIONS, build_all
from .cases.v1 import FILE_DESCRIPTIONS_V1, WITHDRAWN_V1, build_all_v1
from .locks import LOCK_NAME, load_lock, load_withdrawn
from .model import Case, VectorFile, dump_file, fingerprint, load_dir, normalized_bytes

__all__ = ["FileChange", "plan", "regenerate", "schemas_dir_for", "spec_version_of", "SPEC_VERSION"]

SPEC_VERSION = 0
SHOWN = 8  # IDs listed per category in a summary; the rest are counted


@dataclass
class FileChange:
    """What regeneration does to one file; ``text`` is None when the file stays as it is."""

    path: Path
    text: str | None = None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    bytes_changed: list[str] = field(default_factory=list)
    other_changed: list[str] = field(default_factory=list)  # same bytes, other description/requirements/value/avro
    relocked: list[str] = field(default_factory=list)  # locked IDs whose meaning the sources now change
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.text is not None

    def summary_lines(self) -> list[str]:
        def ids(mark: str, label: str, names: list[str]) -> list[str]:
            if not names:
                return []
            shown = ", ".join(names[:SHOWN]) + (f", ... ({len(names) - SHOWN} more)" if len(names) > SHOWN else "")
            return [f"  {mark} {len(names)} {label}: {shown}"]

        other = "other change" if len(self.other_changed) == 1 else "other changes"
        head = f"{self.path.parent.name}/{self.path.name}: " + (
            ", ".join(
                f"{len(names)} {label}"
                for names, label in (
                    (self.added, "added"),
                    (self.removed, "removed"),
                    (self.bytes_changed, "bytes changed"),
                    (self.other_changed, other),
                )
                if names
            )
            or "rewritten"
        )
        return [
            head,
            *ids("+", "added", self.added),
            *ids("-", "removed", self.removed),
            *ids("~", "bytes changed", self.bytes_changed),
            *ids("~", other, self.other_changed),
            *ids("!", "locked IDs whose meaning changed", self.relocked),
            *self._relock_hint(),
            *(f"  {note}" for note in self.notes),
        ]

    def _relock_hint(self) -> list[str]:
        if not self.relocked:
            return []
        if self.added and self.path.name == "event.json":
            # The usual cause: a new example inserted in EXAMPLES shifts the offsets and timestamps of the later ones.
            return [
                "    a locked ID keeps its meaning for ever: if you inserted a new example in EXAMPLES "
                "(reference/sinktools/vectors/cases/avro.py), move it to the end, where it changes no existing case"
            ]
        return [
            "    a locked ID keeps its meaning for ever: undo the change that altered these cases; "
            "only a deliberate new meaning gets a new ID (and the old case stays)"
        ]


def schemas_dir_for(vectors_dir: Path) -> Path | None:
    """The schemas of a vectors folder: ``<repo>/schemas`` beside ``<repo>/vectors/v0``, else the usual search."""
    sibling = vectors_dir.resolve().parent.parent / "schemas"
    return sibling if (sibling / "registry.toml").is_file() else find_schemas_dir(vectors_dir)


def _without_hex(case: Case) -> dict[str, object]:
    out = case.to_json()
    out.pop("hex")
    return out


def spec_version_of(directory: Path) -> int:
    """The protocol version a vectors folder holds: ``vectors/v1`` is 1; anything else is version 0."""
    name = directory.resolve().name
    return int(name[1:]) if name[:1] == "v" and name[1:].isdigit() else SPEC_VERSION


def _compare_file(
    path: Path, kind: str, old: VectorFile | None, fresh: list[Case], kit_version: str, version: int = SPEC_VERSION
) -> FileChange:
    change = FileChange(path=path)
    old_by_id = {c.id: c for c in old.cases} if old else {}
    fresh_ids = {c.id for c in fresh}
    merged: list[Case] = []
    for case in fresh:
        before = old_by_id.get(case.id)
        if before is None:
            change.added.append(case.id)
            merged.append(case)
            continue
        same_bytes = normalized_bytes(kind, before) == normalized_bytes(kind, case)
        same_rest = _without_hex(before) == _without_hex(case)
        if not same_bytes:
            change.bytes_changed.append(case.id)
        elif not same_rest:
            change.other_changed.append(case.id)
        # Keep the committed case when it means the same: its gzip bytes may come from another zlib.
        merged.append(before if same_bytes and same_rest else case)
    change.removed = [c.id for c in (old.cases if old else []) if c.id not in fresh_ids]
    description = FILE_DESCRIPTIONS[kind] if version == 0 else FILE_DESCRIPTIONS_V1[kind]
    if old and [c.id for c in old.cases if c.id in fresh_ids] != [c.id for c in fresh if c.id in old_by_id]:
        change.notes.append("cases reordered")
    if old and old.description != description:
        change.notes.append("file description changed")
    spec_version = version
    semantic = bool(change.added or change.removed or change.bytes_changed or change.other_changed or change.notes)
    file_kit_version = old.kit_version if old and not semantic else kit_version
    text = dump_file(
        VectorFile(
            kind=kind, spec_version=spec_version, kit_version=file_kit_version, description=description, cases=merged
        )
    )
    if old is None or semantic or path.read_text(encoding="utf-8") != text:
        change.text = text
    return change


def _json_change(path: Path, doc: Mapping[str, object], added: list[str]) -> FileChange:
    text = json.dumps(doc, indent=1) + "\n"
    current = path.read_text(encoding="utf-8") if path.exists() else None
    return FileChange(path=path, text=None if current == text else text, added=added)


def plan(
    directory: Path,
    kit_version: str,
    schemas_dir: Path | None = None,
    *,
    schema_lock: bool = True,
    version: int | None = None,
) -> list[FileChange]:
    """Regenerate in memory; one FileChange per vector file, then the ID lock, the schema version lock and the
    spec's schema appendix (:mod:`sinktools.spec_schemas`).

    ``version`` (default: from the folder name, :func:`spec_version_of`) picks the case builders:
    vectors/cases/v0.py for version 0, vectors/cases/v1.py for version 1 (which has no schema lock of its own).
    """
    version = spec_version_of(directory) if version is None else version
    schema_lock = schema_lock and version == 0
    schemas_dir = schemas_dir or schemas_dir_for(directory)
    committed = {vf.kind: vf for vf in load_dir(directory)} if directory.is_dir() else {}
    changes: list[FileChange] = []
    old_lock = load_lock(directory, with_withdrawn=True) or {}
    lock = dict(old_lock)
    withdrawn = {**load_withdrawn(directory), **(WITHDRAWN_V1 if version == 1 else {})}
    for kind, cases in build_all(schemas_dir) if version == 0 else build_all_v1():
        change = _compare_file(directory / f"{kind}.json", kind, committed.pop(kind, None), cases, kit_version, version)
        for case in cases:
            meaning = fingerprint(kind, case)
            if lock.setdefault(case.id, meaning) != meaning:
                change.relocked.append(case.id)
        changes.append(change)
    for kind, leftover in committed.items():  # a kind no source generates any more
        assert leftover.path is not None
        changes.append(
            FileChange(
                path=leftover.path,
                text="",
                removed=[c.id for c in leftover.cases],
                notes=[f"no source generates {kind}"],
            )
        )
    lock_doc = {
        "description": "Every vector id ever committed and the fingerprint of its meaning. Append-only: "
        "ids are never removed, renumbered or reused (sink vectors check enforces it).",
        "ids": dict(sorted(lock.items())),
    }
    if withdrawn:
        lock_doc["withdrawn"] = dict(sorted(withdrawn.items()))
    changes.append(_json_change(directory / LOCK_NAME, lock_doc, sorted(set(lock) - set(old_lock))))
    if schema_lock:
        from ..schema_evolution import extend_lock

        registry = default_registry(schemas_dir)
        path = registry.directory / SCHEMA_LOCK_FILE
        old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        new = extend_lock(registry, old)
        added = sorted(set(new["versions"]) - set(old.get("versions", {})))
        changes.append(_json_change(path, new, [_version_label(registry, key) for key in added]))
        # The spec's writer-schema appendix (spec/v1/schemas.json and schemas.md) follows schemas/ too.
        from ..spec_schemas import plan as appendix_plan

        changes += [FileChange(path=f.path, text=f.text, added=f.added) for f in appendix_plan(registry)]
    return changes


def _version_label(registry: Registry, key: str) -> str:
    type_id, _, version = key.partition(".")
    return f"{registry.types[int(type_id)].name} v{version}"


def regenerate(
    directory: Path, kit_version: str, schemas_dir: Path | None = None, *, write: bool = True, schema_lock: bool = True
) -> list[FileChange]:
    """Plan, then write (or delete) exactly the files that change."""
    changes = plan(directory, kit_version, schemas_dir, schema_lock=schema_lock)
    if write:
        directory.mkdir(parents=True, exist_ok=True)
        for change in changes:
            if change.text == "":
                change.path.unlink()
            elif change.text is not None:
                change.path.write_text(change.text, encoding="utf-8")
    return changes
