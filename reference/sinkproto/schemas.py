"""The event schema registry: what ``(event_type_id, schema_version)`` means.

Sink never looks inside ``event_data`` (PUB-3); the field gives it meaning
with Avro. ``schemas/registry.toml`` maps each ``event_type_id`` to a name, a
direction and one ``.avsc`` file per ``schema_version`` (spec/v0/schemas.md).
This module loads the registry and encodes and decodes ``event_data`` as the
field does: one Avro datum in binary encoding, no container, no header.

Loading the registry needs only the standard library, so the docs hook and
the codec never depend on fastavro; fastavro is imported the first time a
schema is parsed (encode, decode).
"""

from __future__ import annotations

import hashlib
import io
import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

from sinkkit import kit_root

from .errors import SchemaError

__all__ = [
    "Compatibility",
    "Direction",
    "EventType",
    "Registry",
    "SchemaVersion",
    "default_registry",
    "find_schemas_dir",
    "schema_fingerprint",
    "REGISTRY_FILE",
    "LOCK_FILE",
]

REGISTRY_FILE = "registry.toml"
LOCK_FILE = "versions.lock.json"

Record = dict[str, Any]


class Direction(str, Enum):
    GROUND_TO_CLOUD = "ground_to_cloud"  # published by clients (base stations)
    CLOUD_TO_GROUND = "cloud_to_ground"  # published by the server


class Compatibility(str, Enum):
    BACKWARD = "backward"  # every version reads data written with every earlier version
    FULL = "full"  # ... and every earlier version reads data written with every later one


def schema_fingerprint(schema: Any) -> str:
    """What a published version means: the schema without its ``doc`` strings.

    Docs may be improved after publication; anything else that changes is a
    new version (SCHEMA-6). Unlike Avro's Parsing Canonical Form this keeps
    defaults and aliases, which change how data is resolved.
    """

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "doc"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    blob = json.dumps(strip(schema), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class SchemaVersion:
    """One ``(event_type_id, schema_version)``: its schema file, loaded as JSON."""

    event_type_id: int
    event_type: str
    version: int
    file: str  # relative to the schemas folder, as written in the registry
    schema: Mapping[str, Any] = field(repr=False, compare=False, hash=False)

    @property
    def label(self) -> str:
        return f"{self.event_type} v{self.version}"

    @property
    def fingerprint(self) -> str:
        return schema_fingerprint(self.schema)

    @property
    def parsed(self) -> Any:
        return _parse(json.dumps(self.schema, sort_keys=True))


@cache
def _parse(schema_json: str) -> Any:
    import fastavro  # lazily: only encoding and decoding event data need it

    # A fresh named_schemas per version: every version of a type reuses the
    # same record name, which fastavro would otherwise treat as one schema.
    return fastavro.parse_schema(json.loads(schema_json), named_schemas={})


@dataclass(frozen=True)
class EventType:
    id: int
    name: str
    direction: Direction
    compatibility: Compatibility
    summary: str
    versions: Mapping[int, SchemaVersion]

    @property
    def latest(self) -> SchemaVersion:
        return self.versions[max(self.versions)]

    def readers_of(self, writer_version: int) -> list[int]:
        """The other versions whose reader the registry promises can read ``writer_version`` data."""
        later = [v for v in sorted(self.versions) if v > writer_version]
        if self.compatibility is Compatibility.FULL:
            return [v for v in sorted(self.versions) if v < writer_version] + later
        return later


@dataclass(frozen=True)
class Registry:
    directory: Path
    types: Mapping[int, EventType]

    # -- loading --------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path) -> Registry:
        path = directory / REGISTRY_FILE
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SchemaError(f"cannot read {path}: {exc}", reason="bad_registry") from None
        types: dict[int, EventType] = {}
        names: set[str] = set()
        for entry in doc.get("event_type", []):
            event_type = _load_type(directory, entry)
            if event_type.id in types or event_type.name in names:
                raise SchemaError(
                    f"{path}: event type id {event_type.id} or name {event_type.name!r} appears twice",
                    reason="bad_registry",
                    requirement="SCHEMA-5",
                )
            types[event_type.id] = event_type
            names.add(event_type.name)
        return cls(directory=directory, types=dict(sorted(types.items())))

    def __iter__(self) -> Iterator[EventType]:
        return iter(self.types.values())

    def by_name(self, name: str) -> EventType:
        for event_type in self.types.values():
            if event_type.name == name:
                return event_type
        raise SchemaError(f"no event type named {name!r} in the registry", reason="unknown_event_type")

    # -- resolution ------------------------------------------------------------------------

    def resolve(self, event_type_id: int, schema_version: int) -> SchemaVersion:
        """The writer schema of an event (SCHEMA-1)."""
        event_type = self.types.get(event_type_id)
        if event_type is None:
            raise SchemaError(
                f"event_type_id {event_type_id} is not in the registry",
                reason="unknown_event_type",
                requirement="SCHEMA-3",
            )
        version = event_type.versions.get(schema_version)
        if version is None:
            raise SchemaError(
                f"{event_type.name} (event_type_id {event_type_id}) has no schema_version {schema_version}; "
                f"known: {', '.join(map(str, sorted(event_type.versions)))}",
                reason="unknown_schema_version",
                requirement="SCHEMA-3",
            )
        return version

    # -- event data ------------------------------------------------------------------------

    def encode(self, event_type_id: int, schema_version: int, record: Record) -> bytes:
        """``record`` as event_data: one Avro datum, binary encoding, nothing around it (SCHEMA-2)."""
        import fastavro
        from fastavro.validation import ValidationError, validate

        writer = self.resolve(event_type_id, schema_version)
        try:
            validate(record, writer.parsed, raise_errors=True)
            out = io.BytesIO()
            # strict: a field the schema does not have is an error, not silently dropped
            fastavro.schemaless_writer(out, writer.parsed, record, strict=True)
        except (ValidationError, ValueError, TypeError) as exc:
            detail = "; ".join(map(str, exc.errors)) if isinstance(exc, ValidationError) else str(exc)
            raise SchemaError(
                f"record does not fit {writer.label}: {detail}", reason="invalid_record", requirement="SCHEMA-2"
            ) from None
        return out.getvalue()

    def decode(
        self, event_type_id: int, schema_version: int, data: bytes, *, reader_version: int | None = None
    ) -> Record:
        """Decode event_data written with ``schema_version``, optionally as ``reader_version`` sees it.

        The writer schema always comes from the event's own schema_version
        (SCHEMA-1); a reader of another version resolves it by Avro's rules
        (SCHEMA-4).
        """
        import fastavro

        writer = self.resolve(event_type_id, schema_version)
        reader = writer if reader_version is None else self.resolve(event_type_id, reader_version)
        stream = io.BytesIO(data)
        try:
            record = fastavro.schemaless_reader(stream, writer.parsed, None if reader is writer else reader.parsed)
        except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, UnicodeDecodeError...
            detail = str(exc) or type(exc).__name__
            raise SchemaError(
                f"event_data ({len(data)} byte{'s' if len(data) != 1 else ''}) is not a {writer.label} datum"
                f"{'' if reader is writer else f' readable as {reader.label}'}: {detail}",
                reason="undecodable",
                requirement="SCHEMA-2",
            ) from None
        if stream.tell() != len(data):
            extra = len(data) - stream.tell()
            raise SchemaError(
                f"{extra} byte{'s' if extra != 1 else ''} after the {writer.label} datum (of {len(data)})",
                reason="undecodable",
                requirement="SCHEMA-2",
            )
        if not isinstance(record, dict):  # every registered schema is a record
            raise SchemaError(f"{writer.label} did not decode to a record", reason="undecodable")
        return record

    # -- the version lock ------------------------------------------------------------------

    def fingerprints(self) -> dict[str, str]:
        """``"<event_type_id>.<version>"`` -> fingerprint, for versions.lock.json."""
        return {f"{t.id}.{v.version}": v.fingerprint for t in self for v in t.versions.values()}


def _load_type(directory: Path, entry: Mapping[str, Any]) -> EventType:
    where = f"{directory / REGISTRY_FILE}: event_type {entry.get('name', entry.get('id'))!r}"
    try:
        type_id, name = int(entry["id"]), str(entry["name"])
        direction = Direction(entry["direction"])
        compatibility = Compatibility(entry.get("compatibility", "backward"))
        raw_versions = dict(entry["versions"])
    except (KeyError, ValueError, TypeError) as exc:
        raise SchemaError(f"{where}: {exc!r}", reason="bad_registry") from None
    if type_id < 0 or not name.isidentifier():
        raise SchemaError(f"{where}: id must be >= 0 and name an identifier", reason="bad_registry")
    versions: dict[int, SchemaVersion] = {}
    for key, file in raw_versions.items():
        try:
            number = int(key)
            schema = json.loads((directory / file).read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise SchemaError(f"{where}: version {key}: {exc}", reason="bad_registry") from None
        if not isinstance(schema, dict) or schema.get("type") != "record":
            raise SchemaError(f"{where}: {file} is not an Avro record schema", reason="bad_registry")
        versions[number] = SchemaVersion(
            event_type_id=type_id, event_type=name, version=number, file=str(file), schema=schema
        )
    return EventType(
        id=type_id,
        name=name,
        direction=direction,
        compatibility=compatibility,
        summary=str(entry.get("summary", "")),
        versions=dict(sorted(versions.items())),
    )


def find_schemas_dir(start: Path | None = None) -> Path | None:
    """``schemas/`` with a registry, in ``start`` (default: the current folder) or above, else the kit's own."""
    here = (start or Path.cwd()).resolve()
    # The kit's own schemas last: the checkout's, or the ones an installed wheel carries.
    for folder in (here, *here.parents, kit_root()):
        candidate = folder / "schemas"
        if (candidate / REGISTRY_FILE).is_file():
            return candidate
    return None


@cache
def _load_cached(directory: Path, stamp: tuple[tuple[str, int, int], ...]) -> Registry:
    return Registry.load(directory)


def _stamp(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, mtimes and sizes of the registry's files: a schema edited in a running process is reloaded."""
    paths = [directory / REGISTRY_FILE, *sorted(directory.rglob("*.avsc"))]
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths if p.is_file())


def default_registry(directory: Path | None = None) -> Registry:
    """The registry in ``directory``, or the one :func:`find_schemas_dir` finds (loaded once per version of its files)."""
    found = directory or find_schemas_dir()
    if found is None:
        raise SchemaError("no schemas/registry.toml here, above, or in the kit", reason="bad_registry")
    found = found.resolve()
    return _load_cached(found, _stamp(found))
