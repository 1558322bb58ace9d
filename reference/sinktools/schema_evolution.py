"""The schema evolution rules of spec/v0/schemas.md, checked on the schema text.

fastavro tells whether one given record can be read; these checks tell, for
every pair of consecutive versions, *which rule* a change breaks, so that a
bad schema change fails CI with a message a maintainer can act on. The test
suite also reads sample data across every pair of versions with fastavro, so
the two checks guard each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sinkproto.schemas import Compatibility, EventType, Registry

__all__ = ["Violation", "check_change", "check_registry", "check_lock", "extend_lock"]

# Avro's schema resolution promotions: writer type -> reader types that read it.
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NO_DEFAULT = object()


@dataclass(frozen=True)
class Violation:
    rule: str  # the requirement ID, SCHEMA-n
    where: str  # "meter_reading v2: field energy_wh"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.rule}]"


def _fullname(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _named_types(schema: Any, namespace: str | None = None, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every named type (record, enum, fixed) defined in a schema, by full name."""
    out = {} if out is None else out
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, namespace, out)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed", "error"):
            full = _fullname(schema["name"], schema.get("namespace", namespace))
            out[full] = schema
            namespace = full.rpartition(".")[0] or None
        for f in schema.get("fields", []) if kind in ("record", "error") else []:
            _named_types(f["type"], namespace, out)
        if kind == "array":
            _named_types(schema["items"], namespace, out)
        if kind == "map":
            _named_types(schema["values"], namespace, out)
        if isinstance(kind, (dict, list)):
            _named_types(kind, namespace, out)
    return out


class _Comparison:
    """Compares one old schema with its successor, collecting violations."""

    def __init__(self, old: Mapping[str, Any], new: Mapping[str, Any], where: str, forward: bool) -> None:
        self.old_names = _named_types(dict(old))
        self.new_names = _named_types(dict(new))
        self.namespace = old.get("namespace")
        self.where = where
        self.forward = forward
        self.violations: list[Violation] = []

    def add(self, rule: str, path: str, message: str) -> None:
        self.violations.append(Violation(rule, f"{self.where}: {path}" if path else self.where, message))

    def _deref(self, schema: Any, names: dict[str, Any]) -> Any:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return names.get(schema) or names.get(_fullname(schema, self.namespace)) or schema
        if isinstance(schema, dict) and schema.get("type") in PRIMITIVES and "logicalType" not in schema:
            return schema["type"]  # {"type": "long"} is "long"
        return schema

    @staticmethod
    def _kind(schema: Any) -> str:
        if isinstance(schema, list):
            return "union"
        if isinstance(schema, dict):
            return str(schema.get("type"))
        return str(schema)

    def accepts(self, old: Any, new: Any) -> bool:
        """Whether ``new`` reads what ``old`` wrote, without recording anything."""
        probe = _Comparison({}, {}, self.where, self.forward)
        probe.old_names, probe.new_names, probe.namespace = self.old_names, self.new_names, self.namespace
        probe.type_change(old, new, "")
        return not probe.violations

    def type_change(self, old: Any, new: Any, path: str) -> None:
        old, new = self._deref(old, self.old_names), self._deref(new, self.new_names)
        old_kind, new_kind = self._kind(old), self._kind(new)
        if old_kind == "union" or new_kind == "union":
            self._union_change(old, new, path)
            return
        if old_kind != new_kind:
            if new_kind in PROMOTIONS.get(old_kind, frozenset()) and isinstance(old, str) and isinstance(new, str):
                if self.forward:
                    self.add(
                        "SCHEMA-14",
                        path,
                        f"{old_kind} -> {new_kind} is a promotion, which an earlier reader cannot read back; "
                        "this type promises full compatibility",
                    )
                return
            self.add(
                "SCHEMA-11",
                path,
                f"type changed from {old_kind} to {new_kind}; only Avro promotions "
                "(int -> long/float/double, long -> float/double, float -> double, string <-> bytes) are allowed",
            )
            return
        if isinstance(old, dict) and isinstance(new, dict) and old.get("logicalType") != new.get("logicalType"):
            self.add(
                "SCHEMA-11", path, f"logicalType changed from {old.get('logicalType')} to {new.get('logicalType')}"
            )
        if old_kind in ("record", "error"):
            self.record_change(old, new, path)
        elif old_kind == "enum":
            self._name_change(old, new, path)
            removed = [s for s in old["symbols"] if s not in new["symbols"]]
            added = [s for s in new["symbols"] if s not in old["symbols"]]
            if removed:
                self.add("SCHEMA-11", path, f"enum symbols removed: {', '.join(removed)}")
            if added and self.forward and "default" not in new:
                self.add(
                    "SCHEMA-14",
                    path,
                    f"enum symbols added ({', '.join(added)}) without an enum default: "
                    "an earlier reader cannot read them; this type promises full compatibility",
                )
        elif old_kind == "array":
            self.type_change(old["items"], new["items"], f"{path}[]")
        elif old_kind == "map":
            self.type_change(old["values"], new["values"], f"{path}{{}}")
        elif old_kind == "fixed":
            self._name_change(old, new, path)
            if old["size"] != new["size"]:
                self.add("SCHEMA-11", path, f"fixed size changed from {old['size']} to {new['size']}")

    def _union_change(self, old: Any, new: Any, path: str) -> None:
        old_branches = old if isinstance(old, list) else [old]
        new_branches = new if isinstance(new, list) else [new]
        for branch in old_branches:
            if not any(self.accepts(branch, candidate) for candidate in new_branches):
                self.add(
                    "SCHEMA-11",
                    path,
                    f"the new type has no branch that reads the old branch {self._kind(self._deref(branch, self.old_names))}",
                )
        if self.forward:
            for branch in new_branches:
                if not any(_reverse(self).accepts(branch, candidate) for candidate in old_branches):
                    self.add(
                        "SCHEMA-14",
                        path,
                        f"new union branch {self._kind(self._deref(branch, self.new_names))} cannot be read "
                        "by an earlier reader; this type promises full compatibility",
                    )

    def _name_change(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        old_full = _fullname(old["name"], old.get("namespace", self.namespace))
        new_full = _fullname(new["name"], new.get("namespace", self.namespace))
        aliases = {_fullname(a, new.get("namespace", self.namespace)) for a in new.get("aliases", [])}
        if old_full != new_full and old_full not in aliases:
            self.add(
                "SCHEMA-7",
                path or "record",
                f"named type {old_full} became {new_full} without listing {old_full} in aliases",
            )
        elif old_full != new_full and self.forward:
            self.add(
                "SCHEMA-14",
                path or "record",
                f"named type renamed {old_full} -> {new_full}: an earlier reader cannot read it; "
                "this type promises full compatibility",
            )

    def record_change(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        self._name_change(old, new, path)
        prefix = f"{path}." if path else ""
        new_fields = {f["name"]: f for f in new.get("fields", [])}
        matched: set[str] = set()
        for old_field in old.get("fields", []):
            name = old_field["name"]
            successor = new_fields.get(name)
            if successor is None:
                successor = next((f for f in new_fields.values() if name in f.get("aliases", [])), None)
                if successor is None:
                    self.add(
                        "SCHEMA-9",
                        f"field {prefix}{name}",
                        "removed; a field is never removed (rename it with aliases, "
                        "or keep it and say in its doc that it is no longer filled)",
                    )
                    continue
                if self.forward:
                    self.add(
                        "SCHEMA-14",
                        f"field {prefix}{name}",
                        f"renamed to {successor['name']}: an earlier reader cannot "
                        "match it; this type promises full compatibility",
                    )
            matched.add(successor["name"])
            field_path = f"field {prefix}{successor['name']}"
            self.type_change(old_field["type"], successor["type"], field_path)
            old_default, new_default = old_field.get("default", NO_DEFAULT), successor.get("default", NO_DEFAULT)
            if old_default is not NO_DEFAULT and old_default != new_default:
                shown = "removed" if new_default is NO_DEFAULT else f"changed to {new_default!r}"
                self.add(
                    "SCHEMA-12",
                    field_path,
                    f"default {old_default!r} {shown}; an existing field's default never changes",
                )
        for name, new_field in new_fields.items():
            if name not in matched and "default" not in new_field:
                hint = ""
                if any(a in {f["name"] for f in old.get("fields", [])} for a in new_field.get("aliases", [])):
                    hint = " (its alias names a field that still exists: a rename must replace the old field)"
                self.add(
                    "SCHEMA-8",
                    f"field {prefix}{name}",
                    f"added without a default: data written with the previous version has no value for it{hint}",
                )


def _reverse(comparison: _Comparison) -> _Comparison:
    back = _Comparison({}, {}, comparison.where, forward=False)
    back.old_names, back.new_names, back.namespace = comparison.new_names, comparison.old_names, comparison.namespace
    return back


def check_change(
    old: Mapping[str, Any], new: Mapping[str, Any], *, where: str, forward: bool = False
) -> list[Violation]:
    """Rules SCHEMA-7 to SCHEMA-12 (and SCHEMA-14 when ``forward``) for one version and its successor."""
    comparison = _Comparison(old, new, where, forward)
    comparison.record_change(old, new, "")
    return comparison.violations


def _check_type(event_type: EventType) -> list[Violation]:
    problems: list[Violation] = []
    numbers = sorted(event_type.versions)
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(
            Violation("SCHEMA-6", event_type.name, f"versions are {numbers}; they start at 1 and go up by 1")
        )
    forward = event_type.compatibility is Compatibility.FULL
    for before, after in zip(numbers, numbers[1:]):
        problems.extend(
            check_change(
                event_type.versions[before].schema,
                event_type.versions[after].schema,
                where=f"{event_type.name} v{after}",
                forward=forward,
            )
        )
    return problems


def check_registry(registry: Registry) -> list[Violation]:
    """Every evolution rule that can be checked on the registry's text."""
    return [v for event_type in registry for v in _check_type(event_type)]


def check_lock(registry: Registry, lock: Mapping[str, Any]) -> list[Violation]:
    """Published event types and versions never change (SCHEMA-5, SCHEMA-6)."""
    problems: list[Violation] = []
    for type_id, name in lock.get("event_types", {}).items():
        current = registry.types.get(int(type_id))
        if current is None:
            problems.append(
                Violation(
                    "SCHEMA-5",
                    f"event_type_id {type_id}",
                    f"{name} was published and is gone from the registry; ids are never removed or reused",
                )
            )
        elif current.name != name:
            problems.append(
                Violation(
                    "SCHEMA-5",
                    f"event_type_id {type_id}",
                    f"was {name}, now {current.name}: an id never changes meaning",
                )
            )
    fingerprints = registry.fingerprints()
    for key, fingerprint in lock.get("versions", {}).items():
        type_id, _, version = key.partition(".")
        label = (
            f"{registry.types[int(type_id)].name} v{version}"
            if int(type_id) in registry.types
            else f"event type {type_id} v{version}"
        )
        if key not in fingerprints:
            problems.append(
                Violation("SCHEMA-6", label, "was published and is gone from the registry; versions are never removed")
            )
        elif fingerprints[key] != fingerprint:
            problems.append(
                Violation(
                    "SCHEMA-6",
                    label,
                    "changed after it was published (only doc strings may change); put the change in a new version",
                )
            )
    return problems


def extend_lock(registry: Registry, lock: Mapping[str, Any] | None) -> dict[str, Any]:
    """The lock with the registry's new types and versions appended; locked entries are kept as they are."""
    types = dict((lock or {}).get("event_types", {}))
    versions = dict((lock or {}).get("versions", {}))
    for event_type in registry:
        types.setdefault(str(event_type.id), event_type.name)
    for key, fingerprint in registry.fingerprints().items():
        versions.setdefault(key, fingerprint)
    return {
        "description": "Every event type and schema version ever published, with the fingerprint of its schema (doc strings "
        "excluded). Append-only: sink vectors regenerate adds new entries, sink vectors check fails when a locked one changes.",
        "event_types": dict(sorted(types.items(), key=lambda kv: int(kv[0]))),
        "versions": dict(sorted(versions.items(), key=lambda kv: tuple(int(p) for p in kv[0].split(".")))),
    }
