"""`sink vectors regenerate` reports and writes exactly what changed; `sink vectors check` catches stale vectors.

Each test works on a copy of the repository's vectors and schemas, changes a
source the way a maintainer would, and looks at what regeneration and the
check make of it.
"""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import pytest
from sinktest import ROOT, VECTORS, covers

from sinkproto.batchrules import gunzip_body
from sinkproto.cli import main
from sinkproto.vectors.check import check_dir
from sinkproto.vectors.model import _gzip_start, load_dir
from sinkproto.vectors.regenerate import FileChange, plan, regenerate

KIT = load_dir(VECTORS)[0].kit_version


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the parts of the repository the vectors come from."""
    shutil.copytree(VECTORS, tmp_path / "vectors" / "v0")
    shutil.copytree(ROOT / "vectors" / "schema", tmp_path / "vectors" / "schema")
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    return tmp_path


def changed(changes: list[FileChange]) -> dict[str, FileChange]:
    return {f"{c.path.parent.name}/{c.path.name}": c for c in changes if c.changed}


def add_meter_reading_v3(repo: Path) -> None:
    v2 = json.loads((repo / "schemas" / "meter_reading" / "v2.avsc").read_text())
    v2["fields"].append({"name": "tamper_events", "type": "int", "default": 0, "doc": "Tamper events seen in the interval."})
    (repo / "schemas" / "meter_reading" / "v3.avsc").write_text(json.dumps(v2, indent=2))
    registry = repo / "schemas" / "registry.toml"
    registry.write_text(registry.read_text().replace('2 = "meter_reading/v2.avsc"\n', '2 = "meter_reading/v2.avsc"\n3 = "meter_reading/v3.avsc"\n'))


def test_the_committed_vectors_and_schema_lock_are_up_to_date(repo: Path) -> None:
    assert changed(plan(repo / "vectors" / "v0", KIT, repo / "schemas")) == {}
    report = check_dir(repo / "vectors" / "v0", schemas_dir=repo / "schemas", sources=True)
    assert report.ok, report.file_problems


@covers("SCHEMA-4", "SCHEMA-13")
def test_a_new_schema_version_changes_exactly_the_affected_vectors(repo: Path) -> None:
    vectors = repo / "vectors" / "v0"
    add_meter_reading_v3(repo)
    changes = changed(plan(vectors, KIT, repo / "schemas"))
    assert set(changes) == {"v0/event.json", "v0/publish.json", "v0/batch.json", "schemas/versions.lock.json"}
    # Earlier versions' cases gain what a v3 reader sees; no bytes change, no ID is added or removed.
    event = changes["v0/event.json"]
    assert event.other_changed == ["event.avro.meter_reading.v1", "event.avro.meter_reading.v2"]
    assert not (event.added or event.removed or event.bytes_changed or event.relocked)
    assert changes["v0/batch.json"].other_changed == ["batch.avro.meter-readings.mixed-versions", "batch.avro.meter-readings.one-day"]
    assert changes["schemas/versions.lock.json"].added == ["meter_reading v3"]
    assert changes["v0/event.json"].summary_lines()[0] == "v0/event.json: 2 other changes"

    # check names the stale files and says what to do
    report = check_dir(vectors, schemas_dir=repo / "schemas", sources=True)
    stale = [p for p in report.file_problems if p.startswith("stale")]
    assert len(stale) == 4 and any("v0/event.json: 2 other changes" in p for p in stale)
    assert all("run `sink vectors regenerate`" in p for p in stale)

    untouched = (vectors / "ack.json").stat().st_mtime_ns
    regenerate(vectors, KIT, repo / "schemas")
    assert (vectors / "ack.json").stat().st_mtime_ns == untouched  # only changed files are written
    record = next(c for vf in load_dir(vectors) for c in vf.cases if c.id == "event.avro.meter_reading.v1").avro
    assert record is not None and record[0]["read_as"][-1]["schema_version"] == 3
    assert record[0]["read_as"][-1]["record"]["tamper_events"] == 0
    assert check_dir(vectors, schemas_dir=repo / "schemas", sources=True).ok
    assert changed(plan(vectors, KIT, repo / "schemas")) == {}  # deterministic: a second run changes nothing


@covers("SCHEMA-6")
def test_editing_a_published_schema_changes_bytes_and_fails_the_check(repo: Path) -> None:
    vectors = repo / "vectors" / "v0"
    v1 = repo / "schemas" / "meter_reading" / "v1.avsc"
    schema = json.loads(v1.read_text())
    schema["fields"][2], schema["fields"][3] = schema["fields"][3], schema["fields"][2]  # field order is wire order
    v1.write_text(json.dumps(schema))
    changes = changed(plan(vectors, KIT, repo / "schemas"))
    assert changes["v0/event.json"].bytes_changed[:1] == ["event.avro.meter_reading.v1"]
    assert "event.avro.meter_reading.v1" in changes["v0/event.json"].relocked
    assert any(line.startswith("  ! ") for line in changes["v0/event.json"].summary_lines())
    regenerate(vectors, KIT, repo / "schemas")  # even after regenerating, the check refuses it
    problems = check_dir(vectors, schemas_dir=repo / "schemas", sources=True).file_problems
    assert any("meter_reading v1: changed after it was published" in p and "[SCHEMA-6]" in p for p in problems), problems
    assert any("id event.avro.meter_reading.v1 changed meaning" in p for p in problems), problems


def test_a_bad_schema_change_fails_the_check_with_its_rule(repo: Path) -> None:
    add_meter_reading_v3(repo)
    v3 = repo / "schemas" / "meter_reading" / "v3.avsc"
    v3.write_text(v3.read_text().replace('"default": 0,\n      "doc": "Tamper', '"doc": "Tamper'))
    assert '"tamper_events"' in v3.read_text() and "Tamper" in v3.read_text()
    problems = check_dir(repo / "vectors" / "v0", schemas_dir=repo / "schemas", sources=True).file_problems
    assert "schemas: meter_reading v3: field tamper_events: added without a default: data written with the previous version " \
           "has no value for it [SCHEMA-8]" in problems


@covers("BATCH-10")
def test_gzip_bytes_from_another_zlib_do_not_make_a_file_stale(repo: Path) -> None:
    path = repo / "vectors" / "v0" / "batch.json"
    doc = json.loads(path.read_text())
    case = next(c for c in doc["cases"] if c["id"] == "batch.avro.meter-readings.one-day")
    data = bytes.fromhex(case["hex"])
    start = _gzip_start(data)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31, 9)  # another level: other bytes, same body
    other = data[:start] + packer.compress(gunzip_body(data[start:], limit=1 << 24, offset=start)) + packer.flush()
    assert other != data
    path.write_text(path.read_text().replace(case["hex"], other.hex()))
    assert changed(plan(repo / "vectors" / "v0", KIT, repo / "schemas")) == {}
    body = bytearray(gunzip_body(data[start:], limit=1 << 24, offset=start))
    body[-1] ^= 1  # one bit of the last event's data: a body that really differs is a change
    packer = zlib.compressobj(-1, zlib.DEFLATED, 31)
    path.write_text(path.read_text().replace(other.hex(), (data[:start] + packer.compress(bytes(body)) + packer.flush()).hex()))
    assert changed(plan(repo / "vectors" / "v0", KIT, repo / "schemas"))["v0/batch.json"].bytes_changed == [case["id"]]


# -- the command line ------------------------------------------------------------------------


def test_cli_regenerate_prints_what_changed_and_generate_is_an_alias(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = str(repo / "vectors" / "v0")
    assert main(["vectors", "generate", "--dir", vectors]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 files written, 14 unchanged"
    add_meter_reading_v3(repo)
    assert main(["vectors", "regenerate", "--dir", vectors, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "v0/event.json: 2 other changes" in out and "schemas/versions.lock.json: 1 added" in out
    assert out.splitlines()[-1] == "4 files would change, 10 unchanged"
    assert main(["vectors", "check", "--dir", vectors]) == 1
    out = capsys.readouterr().out
    assert "FILE  stale: v0/event.json" in out
    assert main(["vectors", "check", "--dir", vectors, "--skip-sources"]) == 0
    capsys.readouterr()
    assert main(["vectors", "regenerate", "--dir", vectors]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "4 files written, 10 unchanged"
    assert main(["vectors", "check", "--dir", vectors]) == 0


def test_cli_regenerate_refuses_schemas_that_break_the_rules(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_meter_reading_v3(repo)
    v3 = repo / "schemas" / "meter_reading" / "v3.avsc"
    v3.write_text(v3.read_text().replace('"type": "int",\n      "default": 0', '"type": "string",\n      "default": "0"')
                  .replace('"name": "voltage_dv",\n      "type": "int"', '"name": "voltage_dv",\n      "type": "string"'))
    before = (repo / "vectors" / "v0" / "event.json").read_text()
    assert main(["vectors", "regenerate", "--dir", str(repo / "vectors" / "v0")]) == 1
    captured = capsys.readouterr()
    assert "schemas: meter_reading v3: field voltage_dv: type changed from int to string" in captured.out
    assert "nothing was written" in captured.err
    assert (repo / "vectors" / "v0" / "event.json").read_text() == before
