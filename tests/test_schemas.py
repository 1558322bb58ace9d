"""The event schema registry: loading, Avro event data, and the evolution rules (spec/v0/schemas.md).

Two independent guards: the linter (schema_evolution) reads the schema text
and names the rule a change breaks; the compatibility tests write sample
records with every version and read them with fastavro through every reader
the registry promises. A bad schema change fails both.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sinkproto.errors import SchemaError, SinkError
from sinkproto.schemas import LOCK_FILE, Compatibility, Direction, EventType, Registry, default_registry
from sinktest import ROOT, covers
from sinktools.schema_evolution import check_change, check_lock, check_registry, extend_lock
from sinktools.vectors.cases.avro import EXAMPLES

SCHEMAS = ROOT / "schemas"
REGISTRY = Registry.load(SCHEMAS)
PAIRS = [(t, w, r) for t in REGISTRY for w in t.versions for r in t.versions if r != w]


# -- sample records, drawn from a schema ----------------------------------------------------


def sample(schema: Any, rng: random.Random, names: dict[str, Any], namespace: str = "") -> Any:
    """A random record that fits ``schema`` (named types resolved through ``names``)."""
    if isinstance(schema, str):
        if schema in names or f"{namespace}.{schema}" in names:
            return sample(names.get(schema) or names[f"{namespace}.{schema}"], rng, names, namespace)
        return {
            "null": lambda: None,
            "boolean": lambda: rng.random() < 0.5,
            "int": lambda: rng.randint(-(2**31), 2**31 - 1),
            "long": lambda: rng.randint(-(2**63), 2**63 - 1),
            "float": lambda: float(rng.randint(-1000, 1000)) / 4,
            "double": lambda: rng.uniform(-1e6, 1e6),
            "string": lambda: "".join(rng.choice("abcé-0123") for _ in range(rng.randint(0, 12))),
            "bytes": lambda: rng.randbytes(rng.randint(0, 8)),
        }[schema]()
    if isinstance(schema, list):
        return sample(rng.choice(schema), rng, names, namespace)
    kind = schema["type"]
    if kind == "record":
        full = schema["name"] if "." in schema["name"] else f"{schema.get('namespace', namespace)}.{schema['name']}"
        names[full] = names[schema["name"]] = schema
        inner = full.rpartition(".")[0]
        return {f["name"]: sample(f["type"], rng, names, inner) for f in schema["fields"]}
    if kind == "enum":
        names[schema["name"]] = schema
        return rng.choice(schema["symbols"])
    if kind == "array":
        return [sample(schema["items"], rng, names, namespace) for _ in range(rng.randint(0, 4))]
    if kind == "map":
        return {f"k{i}": sample(schema["values"], rng, names, namespace) for i in range(rng.randint(0, 3))}
    return sample(kind, rng, names, namespace)


def samples(event_type: EventType, version: int, count: int = 25) -> list[dict[str, Any]]:
    rng = random.Random(f"{event_type.name}.{version}")
    drawn = [sample(copy.deepcopy(dict(event_type.versions[version].schema)), rng, {}) for _ in range(count)]
    return [EXAMPLES[(event_type.name, version)], *drawn]


def field_map(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """Old field name -> the reader's field that holds it (same name, or the field aliasing it)."""
    out = {}
    for f in old["fields"]:
        match = next((g for g in new["fields"] if g["name"] == f["name"] or f["name"] in g.get("aliases", [])), None)
        if match is not None:
            out[f["name"]] = match["name"]
    return out


# -- the registry ---------------------------------------------------------------------------


@covers("SCHEMA-1", "SCHEMA-5", "SCHEMA-15")
def test_registry_holds_the_field_domain() -> None:
    names = {t.name for t in REGISTRY}
    assert {
        "meter_reading",
        "meter_state_change",
        "credit_top_up",
        "load_limit_command",
        "tariff_schedule",
        "firmware_status",
        "base_station_health",
    } <= names
    assert {t.direction for t in REGISTRY} == {Direction.GROUND_TO_CLOUD, Direction.CLOUD_TO_GROUND}
    assert REGISTRY.by_name("credit_top_up").direction is Direction.CLOUD_TO_GROUND
    assert len([t for t in REGISTRY if len(t.versions) >= 2]) >= 2
    assert any(t.compatibility is Compatibility.FULL for t in REGISTRY)
    renamed = [f for f in REGISTRY.by_name("meter_reading").latest.schema["fields"] if f.get("aliases")]
    assert [f["aliases"] for f in renamed] == [["energy_wh"]]
    # every (type, version) resolves, to its own file
    for t in REGISTRY:
        for number, version in t.versions.items():
            assert REGISTRY.resolve(t.id, number) is version
            assert (SCHEMAS / version.file).is_file()


@covers("SCHEMA-6")
def test_every_version_has_an_example_record() -> None:
    assert set(EXAMPLES) == {(t.name, v) for t in REGISTRY for v in t.versions}


def test_loading_the_registry_does_not_import_fastavro() -> None:
    code = (
        "import sys; from pathlib import Path; from sinkproto.schemas import Registry; import sinkproto; "
        f"r = Registry.load(Path({str(SCHEMAS)!r})); assert r.types; assert 'fastavro' not in sys.modules, 'imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_broken_registry_is_a_schema_error(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    registry_file = tmp_path / "schemas" / "registry.toml"
    registry_file.write_text(
        registry_file.read_text().replace('direction = "cloud_to_ground"', 'direction = "sideways"', 1)
    )
    with pytest.raises(SchemaError) as info:
        Registry.load(tmp_path / "schemas")
    assert info.value.reason == "bad_registry" and "sideways" in str(info.value)
    registry_file.write_text((SCHEMAS / "registry.toml").read_text().replace("id = 2\n", "id = 1\n"))
    with pytest.raises(SchemaError) as info:
        Registry.load(tmp_path / "schemas")
    assert info.value.requirement == "SCHEMA-5"


# -- event data -----------------------------------------------------------------------------


@covers("SCHEMA-1", "SCHEMA-2")
@pytest.mark.parametrize(("name", "version"), list(EXAMPLES), ids=[f"{n}.v{v}" for n, v in EXAMPLES])
def test_examples_round_trip_as_schemaless_binary(name: str, version: int) -> None:
    import fastavro

    event_type = REGISTRY.by_name(name)
    record = EXAMPLES[(name, version)]
    data = REGISTRY.encode(event_type.id, version, record)
    assert REGISTRY.decode(event_type.id, version, data) == record
    # exactly fastavro's schemaless datum: no container header, no single-object marker (C3 01)
    import io

    out = io.BytesIO()
    fastavro.schemaless_writer(
        out, fastavro.parse_schema(dict(event_type.versions[version].schema), named_schemas={}), record
    )
    assert data == out.getvalue() and not data.startswith(b"Obj\x01") and not data.startswith(b"\xc3\x01")


@covers("SCHEMA-3")
def test_unknown_type_and_version_are_refused_not_guessed() -> None:
    data = REGISTRY.encode(1, 1, EXAMPLES[("meter_reading", 1)])
    with pytest.raises(SchemaError) as info:
        REGISTRY.decode(99, 1, data)
    assert (info.value.reason, info.value.requirement) == ("unknown_event_type", "SCHEMA-3")
    versions = sorted(REGISTRY.types[1].versions)  # not a fixed "known: 1, 2": a maintainer may have added v3
    with pytest.raises(SchemaError) as info:
        REGISTRY.decode(1, versions[-1] + 1, data)
    assert (
        info.value.reason == "unknown_schema_version" and f"known: {', '.join(map(str, versions))}" in info.value.detail
    )
    assert isinstance(info.value, SinkError)


@covers("SCHEMA-2")
def test_undecodable_and_invalid_data_are_schema_errors() -> None:
    data = REGISTRY.encode(1, 1, EXAMPLES[("meter_reading", 1)])
    for bad, fragment in (
        (data[:-1], "not a meter_reading v1 datum"),
        (data + b"\x00", "1 byte after the meter_reading v1 datum"),
        (b"", "not a meter_reading v1 datum"),
    ):
        with pytest.raises(SchemaError) as info:
            REGISTRY.decode(1, 1, bad)
        assert info.value.reason == "undecodable" and fragment in str(info.value), str(info.value)
    for record in (
        {**EXAMPLES[("meter_reading", 1)], "extra": 1},
        {**EXAMPLES[("meter_reading", 1)], "voltage_dv": "230"},
        {"meter_serial": "x"},
    ):
        with pytest.raises(SchemaError) as info:
            REGISTRY.encode(1, 1, record)
        assert info.value.reason == "invalid_record"


def test_default_registry_reloads_an_edited_schema(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    before = default_registry(tmp_path / "schemas")
    assert default_registry(tmp_path / "schemas") is before  # cached
    path = tmp_path / "schemas" / "credit_top_up" / "v1.avsc"
    path.write_text(path.read_text().replace("How the customer paid.", "How the customer paid (edited)."))
    assert default_registry(tmp_path / "schemas") is not before


# -- compatibility, with fastavro -----------------------------------------------------------


@covers("SCHEMA-4", "SCHEMA-13")
@pytest.mark.parametrize(
    ("event_type", "writer", "reader"),
    [p for p in PAIRS if p[2] > p[1]],
    ids=[f"{t.name}.v{w}-read-by-v{r}" for t, w, r in PAIRS if r > w],
)
def test_every_later_version_reads_every_earlier_one(event_type: EventType, writer: int, reader: int) -> None:
    mapping = field_map(dict(event_type.versions[writer].schema), dict(event_type.versions[reader].schema))
    new_fields = {f["name"]: f for f in event_type.versions[reader].schema["fields"]}
    for record in samples(event_type, writer):
        data = REGISTRY.encode(event_type.id, writer, record)
        seen = REGISTRY.decode(event_type.id, writer, data, reader_version=reader)
        for old_name, new_name in mapping.items():
            assert seen[new_name] == record[old_name], (old_name, new_name)
        for name, f in new_fields.items():
            if name not in mapping.values():
                assert seen[name] == f["default"], name  # a field the writer did not have reads as its default


@covers("SCHEMA-14")
@pytest.mark.parametrize(
    ("event_type", "writer", "reader"),
    [p for p in PAIRS if p[2] < p[1] and p[0].compatibility is Compatibility.FULL],
    ids=[f"{t.name}.v{w}-read-by-v{r}" for t, w, r in PAIRS if r < w and t.compatibility is Compatibility.FULL],
)
def test_full_types_are_read_by_every_earlier_version(event_type: EventType, writer: int, reader: int) -> None:
    mapping = field_map(dict(event_type.versions[reader].schema), dict(event_type.versions[writer].schema))
    for record in samples(event_type, writer):
        seen = REGISTRY.decode(
            event_type.id, writer, REGISTRY.encode(event_type.id, writer, record), reader_version=reader
        )
        assert seen == {old: record[new] for old, new in mapping.items()}


def test_backward_only_types_really_are_not_forward() -> None:
    """meter_reading promises only backward compatibility because v1 cannot read v2 (a rename): keep the registry honest."""
    reading = REGISTRY.by_name("meter_reading")
    data = REGISTRY.encode(reading.id, 2, EXAMPLES[("meter_reading", 2)])
    with pytest.raises(SchemaError) as info:
        REGISTRY.decode(reading.id, 2, data, reader_version=1)
    assert info.value.reason == "undecodable" and "readable as meter_reading v1" in str(info.value)
    assert check_change(reading.versions[1].schema, reading.versions[2].schema, where="x", forward=True)


# -- the linter -----------------------------------------------------------------------------


@covers("SCHEMA-6", "SCHEMA-7", "SCHEMA-8", "SCHEMA-9", "SCHEMA-10", "SCHEMA-11", "SCHEMA-12", "SCHEMA-14")
def test_the_registry_follows_the_evolution_rules() -> None:
    problems = check_registry(REGISTRY)
    assert not problems, "\n".join(map(str, problems))


def _fields(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in schema["fields"]}


def _mutate(base: str, version: int, change: Any) -> dict[str, Any]:
    schema = copy.deepcopy(dict(REGISTRY.by_name(base).versions[version].schema))
    change(schema)
    return schema


def _set_type(name: str, new_type: Any) -> Any:
    return lambda s: _fields(s)[name].__setitem__("type", new_type)


BAD_CHANGES = [
    # (case, type, how the new version changes, expected rules, fragment of the first message)
    (
        "field-added-without-default",
        "meter_reading",
        lambda s: s["fields"].append({"name": "tariff_id", "type": "string"}),
        "SCHEMA-8",
        "field tariff_id: added without a default",
    ),
    (
        "field-removed",
        "meter_reading",
        lambda s: s["fields"].remove(_fields(s)["frequency_mhz"]),
        "SCHEMA-9",
        "field frequency_mhz: removed",
    ),
    (
        "renamed-without-alias",
        "meter_reading",
        lambda s: _fields(s)["voltage_dv"].__setitem__("name", "voltage_decivolt"),
        "SCHEMA-9+SCHEMA-8",
        "field voltage_dv: removed",
    ),
    (
        "type-changed",
        "meter_reading",
        _set_type("voltage_dv", "string"),
        "SCHEMA-11",
        "type changed from int to string",
    ),
    (
        "type-narrowed",
        "meter_reading",
        _set_type("active_energy_import_wh", "int"),
        "SCHEMA-11",
        "type changed from long to int",
    ),
    (
        "union-narrowed",
        "meter_reading",
        _set_type("reactive_energy_varh", "long"),
        "SCHEMA-11",
        "no branch that reads the old branch null",
    ),
    (
        "enum-symbol-removed",
        "meter_reading",
        _set_type("phase", {"type": "enum", "name": "Phase", "symbols": ["SINGLE", "L1", "L2"]}),
        "SCHEMA-11",
        "enum symbols removed: L3",
    ),
    (
        "default-changed",
        "meter_reading",
        lambda s: _fields(s)["active_energy_export_wh"].__setitem__("default", -1),
        "SCHEMA-12",
        "default 0 changed to -1",
    ),
    (
        "record-renamed",
        "meter_reading",
        lambda s: s.__setitem__("name", "Reading"),
        "SCHEMA-7",
        "named type sink.metering.MeterReading became sink.metering.Reading",
    ),
    (
        "full-type-rename",
        "base_station_health",
        lambda s: (
            _fields(s)["rssi_dbm"].__setitem__("aliases", ["rssi_dbm"]),
            _fields(s)["rssi_dbm"].__setitem__("name", "signal_dbm"),
        ),
        "SCHEMA-14",
        "field rssi_dbm: renamed to signal_dbm",
    ),
    (
        "full-type-promotion",
        "base_station_health",
        _set_type("battery_voltage_mv", "long"),
        "SCHEMA-14",
        "int -> long is a promotion",
    ),
    (
        "full-type-new-branch",
        "base_station_health",
        _set_type("cellular_operator", ["null", "string", "long"]),
        "SCHEMA-14",
        "new union branch long",
    ),
]


@covers("SCHEMA-7", "SCHEMA-8", "SCHEMA-9", "SCHEMA-10", "SCHEMA-11", "SCHEMA-12", "SCHEMA-14")
@pytest.mark.parametrize(("case", "base", "change", "rule", "fragment"), BAD_CHANGES, ids=[c[0] for c in BAD_CHANGES])
def test_a_bad_change_fails_with_its_rule(case: str, base: str, change: Any, rule: str, fragment: str) -> None:
    event_type = REGISTRY.by_name(base)
    latest = event_type.latest
    bad = _mutate(base, latest.version, change)
    problems = check_change(
        latest.schema,
        bad,
        where=f"{base} v{latest.version + 1}",
        forward=event_type.compatibility is Compatibility.FULL,
    )
    assert [p.rule for p in problems] == rule.split("+"), [str(p) for p in problems]
    assert fragment in str(problems[0]) and str(problems[0]).startswith(f"{base} v{latest.version + 1}: ")


@covers("SCHEMA-10", "SCHEMA-11")
def test_allowed_changes_pass() -> None:
    latest = REGISTRY.by_name("meter_reading").latest  # whatever the latest is: a maintainer may have added one
    reading = latest.schema
    ok = [
        lambda s: s["fields"].append({"name": "tariff_id", "type": ["null", "string"], "default": None}),
        lambda s: (
            _fields(s)["voltage_dv"].__setitem__("aliases", ["voltage_dv"]),
            _fields(s)["voltage_dv"].__setitem__("name", "volts_dv"),
        ),
        _set_type("voltage_dv", "long"),
        _set_type("voltage_dv", "double"),
        _set_type("meter_serial", "bytes"),
        _set_type("voltage_dv", ["null", "int"]),
        _set_type("reactive_energy_varh", ["null", "long", "string"]),
        _set_type("phase", {"type": "enum", "name": "Phase", "symbols": ["SINGLE", "L1", "L2", "L3", "SPLIT"]}),
        lambda s: (s.__setitem__("name", "Reading"), s.__setitem__("aliases", ["sink.metering.MeterReading"])),
        lambda s: s.__setitem__("doc", "rewritten"),
    ]
    for change in ok:
        assert (
            check_change(
                reading, _mutate("meter_reading", latest.version, change), where=f"meter_reading v{latest.version + 1}"
            )
            == []
        )


def test_linter_and_fastavro_agree_on_a_missing_default() -> None:
    """The rule the linter enforces is the one fastavro needs: v1 data cannot fill a field without a default."""
    bad = _mutate("meter_reading", 2, lambda s: s["fields"].append({"name": "tariff_id", "type": "string"}))
    import io

    import fastavro

    data = REGISTRY.encode(1, 1, EXAMPLES[("meter_reading", 1)])
    writer = fastavro.parse_schema(dict(REGISTRY.resolve(1, 1).schema), named_schemas={})
    with pytest.raises(Exception, match="tariff_id"):
        fastavro.schemaless_reader(io.BytesIO(data), writer, fastavro.parse_schema(bad, named_schemas={}))


@covers("SCHEMA-6")
def test_versions_start_at_one_without_gaps(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    registry_file = tmp_path / "schemas" / "registry.toml"
    registry_file.write_text(
        registry_file.read_text().replace('3 = "base_station_health/v3.avsc"', '4 = "base_station_health/v3.avsc"')
    )
    problems = check_registry(Registry.load(tmp_path / "schemas"))
    assert [(p.rule, p.where) for p in problems] == [("SCHEMA-6", "base_station_health")]


# -- the version lock -----------------------------------------------------------------------


LOCK = json.loads((SCHEMAS / LOCK_FILE).read_text())


@covers("SCHEMA-5", "SCHEMA-6")
def test_the_lock_holds_every_version_and_none_changed() -> None:
    assert check_lock(REGISTRY, LOCK) == []
    assert extend_lock(REGISTRY, LOCK) == LOCK, (
        "schemas/versions.lock.json is missing a version: run `sink vectors regenerate`"
    )


@covers("SCHEMA-5", "SCHEMA-6")
def test_the_lock_catches_an_edited_a_removed_and_a_reused_version(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    folder = tmp_path / "schemas"
    v1 = folder / "meter_reading" / "v1.avsc"
    doc_only = v1.read_text().replace("One interval reading", "A single interval reading")
    v1.write_text(doc_only)
    assert check_lock(Registry.load(folder), LOCK) == []  # doc strings may change
    v1.write_text(doc_only.replace('"name": "current_ma", "type": "int"', '"name": "current_ma", "type": "long"'))
    problems = check_lock(Registry.load(folder), LOCK)
    assert [(p.rule, p.where) for p in problems] == [("SCHEMA-6", "meter_reading v1")]
    assert "changed after it was published" in str(problems[0])
    v1.write_text(doc_only)
    registry_file = folder / "registry.toml"
    text = (SCHEMAS / "registry.toml").read_text()
    registry_file.write_text(text.replace('name = "tariff_schedule"', 'name = "tariff_plan"'))
    assert [p.rule for p in check_lock(Registry.load(folder), LOCK)] == ["SCHEMA-5"]
    registry_file.write_text(text.replace('3 = "base_station_health/v3.avsc"\n', ""))
    problems = check_lock(Registry.load(folder), LOCK)
    assert [(p.rule, p.where) for p in problems] == [("SCHEMA-6", "base_station_health v3")]


# -- the generated reference page -------------------------------------------------------------


def test_the_schema_reference_page_is_generated_from_every_schema() -> None:
    import importlib.util

    import yaml

    spec = importlib.util.spec_from_file_location("schema_reference", ROOT / "docs" / "hooks" / "schema_reference.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = hook.render(REGISTRY)
    for t in REGISTRY:
        assert f"## `{t.name}` {{#{t.name}}}" in page
        assert f"| {t.id} | [`{t.name}`](#{t.name}) | {t.direction.value} |" in page
        for version in t.versions.values():
            assert f"### Version {version.version}" in page and f"`schemas/{version.file}`" in page
            for f in version.schema["fields"]:
                assert f"| `{f['name']}` |" in page, (t.name, version.version, f["name"])
    assert "| `active_energy_export_wh` | `long` | `0` |" in page
    assert "renames `energy_wh` to `active_energy_import_wh`" in page
    assert "`Position` (record):" in page and "| `latitude_e7` | `int` | (required) |" in page
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python", "#"))
    assert "docs/hooks/schema_reference.py" in config["hooks"]
    assert not (ROOT / "docs" / "schemas" / "reference.md").exists()  # generated, never committed
