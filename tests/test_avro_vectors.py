"""Vectors with Avro content, and `sink decode` reading event_data through the registry."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from sinkproto.schemas import Registry
from sinktest import ROOT, VECTORS, covers
from sinktools.cli import main
from sinktools.vectors.check import check_case
from sinktools.vectors.model import Case, load_dir

REGISTRY = Registry.load(ROOT / "schemas")
SCHEMA = json.loads((ROOT / "vectors" / "schema" / "vector-file.schema.json").read_text())
AVRO = {c.id: (vf.kind, c) for vf in load_dir(VECTORS) for c in vf.cases if c.avro is not None}


@covers("SCHEMA-1", "SCHEMA-2")
def test_avro_cases_cover_every_version_in_events_publishes_and_batches() -> None:
    kinds = {kind for kind, _ in AVRO.values()}
    assert kinds == {"event", "publish", "batch"}
    covered = {
        (e["event_type"], c.value["event_type_id"] if kind == "event" else None)
        for kind, c in AVRO.values()
        for e in c.avro or []
        if "record" in e
    }
    assert {name for name, _ in covered} == {t.name for t in REGISTRY}
    event_ids = {c.id for kind, c in AVRO.values() if kind == "event"}
    assert {f"event.avro.{t.name}.v{v}" for t in REGISTRY for v in t.versions} <= event_ids
    errors = {e["error"] for _, c in AVRO.values() for e in c.avro or [] if "error" in e}
    assert errors == {"unknown_event_type", "unknown_schema_version", "undecodable"}
    batch = AVRO["batch.avro.meter-readings.mixed-versions"][1]
    assert {e["schema_version"] for e in batch.value["events"]} == {1, 2}  # type: ignore[index]
    assert AVRO["batch.avro.meter-readings.one-day"][1].value["layout"]["compressed"]  # type: ignore[index]


def _tampered(case_id: str, change: object) -> tuple[str, Case]:
    kind, case = AVRO[case_id]
    bad = copy.deepcopy(case)
    change(bad.avro)  # type: ignore[operator]
    return kind, bad


@covers("SCHEMA-2", "SCHEMA-3", "SCHEMA-4")
@pytest.mark.parametrize(
    ("case_id", "change", "fragment"),
    [
        (
            "event.avro.meter_reading.v1",
            lambda a: a[0]["record"].__setitem__("voltage_dv", 2300),
            "event_data decodes to",
        ),
        (
            "event.avro.meter_reading.v1",
            lambda a: a[0]["read_as"][0]["record"].__setitem__("phase", "L1"),
            "a version 2 reader sees",
        ),
        (
            "event.avro.meter_reading.v1",
            lambda a: a[0].__setitem__("event_type", "meter_state_change"),
            "the registry names it meter_reading",
        ),
        (
            "event.avro.unknown-schema-version",
            lambda a: a[0].__setitem__("error", "undecodable"),
            "expected undecodable",
        ),
        (
            "event.avro.undecodable.truncated",
            lambda a: a[0].__setitem__("error", "unknown_event_type"),
            "expected unknown_event_type",
        ),
        (
            "batch.avro.base-station.mixed-types",
            lambda a: a[3].__setitem__("event", 9),
            "names event 9, the case has 4 events",
        ),
    ],
    ids=["record", "read_as", "event_type", "error-reason", "error-reason-2", "event-index"],
)
def test_the_checker_catches_a_wrong_avro_entry(case_id: str, change: object, fragment: str) -> None:
    kind, bad = _tampered(case_id, change)
    assert check_case(kind, AVRO[case_id][1], REGISTRY).ok
    result = check_case(kind, bad, REGISTRY)
    assert not result.ok and any(fragment in p for p in result.problems), result.problems


def test_the_file_schema_rejects_an_entry_with_both_a_record_and_an_error() -> None:
    doc = json.loads((VECTORS / "event.json").read_text())
    case = next(c for c in doc["cases"] if c["id"] == "event.avro.credit_top_up.v1")
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    case["avro"][0]["error"] = "undecodable"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(doc)


# -- sink decode ----------------------------------------------------------------------------


def _hex(case_id: str) -> str:
    return AVRO[case_id][1].hex


def test_decode_shows_the_record_under_its_event(capsys: pytest.CaptureFixture[str]) -> None:
    case = AVRO["publish.avro.credit_top_up.v1"][1]
    size = len(case.value["event"]["event_data_hex"]) // 2  # type: ignore[index]
    assert main(["decode", case.hex]) == 0
    out = capsys.readouterr().out
    assert f"  event_data      {size} bytes, Avro credit_top_up v1 (cloud_to_ground):" in out
    assert '      "transaction_id": "MPESA-QK7H2L9XZT",' in out and '      "channel": "MOBILE_MONEY",' in out


def test_decode_shows_unknown_and_undecodable_data_as_hex(capsys: pytest.CaptureFixture[str]) -> None:
    unknown = AVRO["event.avro.unknown-event-type"][1]
    assert main(["decode", "--as", "event", unknown.hex]) == 0
    out = capsys.readouterr().out
    data = bytes.fromhex(unknown.value["event_data_hex"])  # type: ignore[index]
    assert len(data) <= 32 and f"  event_data      {len(data)} bytes: {data.hex(' ')}\n" in out
    assert "(event_type_id 99 is not in the registry)" in out
    assert main(["decode", "--as", "event", _hex("event.avro.undecodable.trailing-byte")]) == 0
    assert "(1 byte after the meter_reading v1 datum (of 27))" in capsys.readouterr().out


def test_decode_of_a_batch_and_without_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    case = AVRO["batch.avro.base-station.mixed-types"][1]
    sizes = [len(e["event_data_hex"]) // 2 for e in case.value["events"]]  # type: ignore[index]
    assert main(["decode", "--as", "batch", case.hex]) == 0
    out = capsys.readouterr().out
    assert [line.strip() for line in out.splitlines() if "bytes, Avro" in line] == [
        f"event_data      {sizes[0]} bytes, Avro base_station_health v3 (ground_to_cloud):",
        f"event_data      {sizes[1]} bytes, Avro firmware_status v1 (ground_to_cloud):",
        f"event_data      {sizes[2]} bytes, Avro meter_state_change v2 (ground_to_cloud):",
        f"event_data      {sizes[3]} bytes, Avro meter_state_change v1 (ground_to_cloud):",
    ]
    assert main(["decode", "--no-schemas", _hex("publish.avro.credit_top_up.v1")]) == 0
    assert "Avro" not in capsys.readouterr().out


def test_decode_json_adds_event_data_avro_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    kind, case = AVRO["publish.avro.meter_reading.v2"]
    assert main(["decode", "--json", case.hex]) == 0
    assert json.loads(capsys.readouterr().out) == case.value
    assert main(["decode", "--json", "--avro", case.hex]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["event"].pop("event_data_avro") == case.avro[0]["record"]  # type: ignore[index]
    assert obj == case.value
    assert main(["decode", "--json", "--avro", "--as", "event", _hex("event.avro.unknown-schema-version")]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["event_data_avro"] is None and obj["event_data_avro_error"]["reason"] == "unknown_schema_version"


def test_decode_with_an_explicit_schemas_folder(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    (tmp_path / "registry.toml").write_text("")  # an empty registry: nothing has meaning
    assert main(["decode", "--schemas", str(tmp_path), _hex("publish.avro.credit_top_up.v1")]) == 0
    assert "(event_type_id 3 is not in the registry)" in capsys.readouterr().out


def _v1(kind: str, case_id: str) -> dict[str, object]:
    cases = json.loads((ROOT / "vectors" / "v1" / f"{kind}.json").read_text())["cases"]
    return next(c for c in cases if c["id"] == case_id)  # type: ignore[no-any-return]


@covers("RECORD-3")
def test_decode_of_version_1_frames_and_records_batches(capsys: pytest.CaptureFixture[str]) -> None:
    case = _v1("batch_publish", "v1.batch_publish.records.zstd.meters")
    assert main(["decode", "--protocol-version", "1", "--json", str(case["hex"])]) == 0
    assert json.loads(capsys.readouterr().out) == case["value"]
    assert main(["decode", "--protocol-version", "1", str(case["hex"])]) == 0
    out = capsys.readouterr().out
    assert "batch v1 of 3 events" in out and "codec zstd, mode records" in out
    assert out.count("bytes, Avro meter_reading v2 (ground_to_cloud):") == 3 and '"phase": "L2"' in out
    assert main(["decode", "--protocol-version", "1", "--json", "--avro", str(case["hex"])]) == 0
    records = [e["event_data_avro"] for e in json.loads(capsys.readouterr().out)["batch"]["events"]]
    assert [r["meter_serial"] for r in records] == ["SM5R-000123", "SM5R-004711", "SM5R-000124"]
    # the same bytes on a version-0 connection: type 2 is not a frame there (FRAME-3)
    assert main(["decode", "--json", str(case["hex"])]) == 1
    assert json.loads(capsys.readouterr().out)["error_class"] == "unknown_type"
    declaration = _v1("connection_request", "v1.connection_request.with-declaration")
    assert main(["decode", "--protocol-version", "1", str(declaration["hex"])]) == 0
    assert "reader_schemas      type 1: versions 1, 2" in capsys.readouterr().out
    unknown = _v1("batch", "v1.batch.records.unknown-schema")
    assert main(["decode", "--protocol-version", "1", "--as", "batch", "--json", str(unknown["hex"])]) == 1
    assert json.loads(capsys.readouterr().out)["requirement"] == "RECORD-2"
