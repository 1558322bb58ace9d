"""mkdocs hook: the event schema reference page, generated from ``schemas/``.

The registry (``schemas/registry.toml``) and the ``.avsc`` files are the only
source of truth; this hook renders them into ``schemas/reference.md`` at
build time, so the page lists exactly the types, versions, fields, defaults
and docs the codec and the vectors use, and never drifts from them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files
from sinkproto.schemas import Compatibility, EventType, Registry, SchemaVersion

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
PAGE = "schemas/reference.md"
SPEC = "../spec/v0/schemas.md"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


class _Renderer:
    """Renders one schema version; collects its named types for the lines under the field table."""

    def __init__(self) -> None:
        self.named: list[dict[str, Any]] = []

    def type_name(self, schema: Any) -> str:
        if isinstance(schema, str):
            return f"`{schema.rpartition('.')[2]}`"
        if isinstance(schema, list):
            return " or ".join(self.type_name(branch) for branch in schema)
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed"):
            if all(n["name"] != schema["name"] for n in self.named):
                self.named.append(schema)
            return f"`{schema['name']}` ({kind})"
        if kind == "array":
            return f"array of {self.type_name(schema['items'])}"
        if kind == "map":
            return f"map of {self.type_name(schema['values'])}"
        if "logicalType" in schema:
            return f"`{kind}` ({schema['logicalType']})"
        return self.type_name(kind)

    def fields_table(self, record: dict[str, Any]) -> list[str]:
        lines = ["| Field | Type | Default | Description |", "|---|---|---|---|"]
        for f in record["fields"]:
            default = f"`{json.dumps(f['default'])}`" if "default" in f else "(required)"
            doc = f.get("doc", "")
            if f.get("aliases"):
                doc += f" Formerly: {', '.join(f'`{a}`' for a in f['aliases'])}."
            lines.append(f"| `{f['name']}` | {_cell(self.type_name(f['type']))} | {_cell(default)} | {_cell(doc)} |")
        return lines

    def named_types(self, top: str) -> list[str]:
        lines: list[str] = []
        index = 0
        while index < len(self.named):  # records add the types they use as they are rendered
            schema = self.named[index]
            index += 1
            if schema["name"] == top:
                continue
            doc = f" {schema['doc']}" if schema.get("doc") else ""
            if schema["type"] == "enum":
                lines += [
                    "",
                    f"`{schema['name']}` (enum):{doc} Symbols: {', '.join(f'`{s}`' for s in schema['symbols'])}.",
                ]
            elif schema["type"] == "record":
                lines += ["", f"`{schema['name']}` (record):{doc}", "", *self.fields_table(schema)]
            else:
                lines += ["", f"`{schema['name']}` (fixed, {schema['size']} bytes):{doc}"]
        return lines


def _changes(before: SchemaVersion, after: SchemaVersion) -> str:
    old_names = {f["name"] for f in before.schema["fields"]}
    added, renamed = [], []
    for f in after.schema["fields"]:
        previous = next((a for a in f.get("aliases", []) if a in old_names), None)
        if previous is not None and f["name"] not in old_names:
            renamed.append(f"`{previous}` to `{f['name']}`")
        elif f["name"] not in old_names:
            added.append(f"`{f['name']}`")
    parts = ([f"adds {', '.join(added)}"] if added else []) + ([f"renames {', '.join(renamed)}"] if renamed else [])
    return f"Changes from version {before.version}: {'; '.join(parts) or 'none in the fields'}."


def _version_section(event_type: EventType, version: SchemaVersion) -> list[str]:
    renderer = _Renderer()
    renderer.named.append(dict(version.schema))
    schema = version.schema
    latest = " (latest)" if version.version == max(event_type.versions) else ""
    full_name = f"{schema.get('namespace', '')}.{schema['name']}".lstrip(".")
    lines = [
        "",
        f"### Version {version.version}{latest} {{#{event_type.name}-v{version.version}}}",
        "",
        f"Schema file `schemas/{version.file}`, record `{full_name}`, fingerprint `{version.fingerprint}`.",
        "",
    ]
    if schema.get("doc"):
        lines += [schema["doc"], ""]
    if version.version - 1 in event_type.versions:
        lines += [_changes(event_type.versions[version.version - 1], version), ""]
    lines += renderer.fields_table(dict(schema))
    lines += renderer.named_types(schema["name"])
    return lines


def render(registry: Registry) -> str:
    lines = [
        "# Event schema reference",
        "",
        "<!-- Generated by docs/hooks/schema_reference.py from schemas/registry.toml and the .avsc files. Do not edit: "
        "change the schemas (see the guide) and the page follows. -->",
        "",
        "What `(event_type_id, schema_version)` means: the event types of the kit's registry "
        f"(`schemas/registry.toml`), each version's Avro record, field by field. The rules for "
        f"changing them are in the [specification]({SPEC}); the steps are in [changing a schema](changing.md). "
        "`event_data` is one Avro datum of the version's schema in binary encoding "
        f"([SCHEMA-2]({SPEC}#SCHEMA-2)).",
        "",
        "| event_type_id | Name | Direction | Versions | Compatibility | Summary |",
        "|---|---|---|---|---|---|",
    ]
    for t in registry:
        versions = ", ".join(f"[{v}](#{t.name}-v{v})" for v in t.versions)
        lines.append(
            f"| {t.id} | [`{t.name}`](#{t.name}) | {t.direction.value} | {versions} | {t.compatibility.value} | {_cell(t.summary)} |"
        )
    for t in registry:
        promise = (
            "every version reads data written with every earlier and every later version ([SCHEMA-14]"
            f"({SPEC}#SCHEMA-14))"
            if t.compatibility is Compatibility.FULL
            else f"every version reads data written with every earlier version ([SCHEMA-13]({SPEC}#SCHEMA-13))"
        )
        lines += [
            "",
            f"## `{t.name}` {{#{t.name}}}",
            "",
            t.summary,
            "",
            f"event_type_id **{t.id}**, direction **{t.direction.value}**, compatibility **{t.compatibility.value}**: {promise}.",
        ]
        for version in reversed(list(t.versions.values())):
            lines += _version_section(t, version)
    return "\n".join(lines) + "\n"


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, PAGE, content=render(Registry.load(SCHEMAS))))
    return files
