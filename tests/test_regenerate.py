"""`sink vectors regenerate` reports and writes exactly what changed; `sink vectors check` catches stale vectors.

Each test works on a copy of the repository's vectors and schemas, changes a
source the way a maintainer would, and looks at what regeneration and the
check make of it.
"""

from __future__ import annotations

import json
import re
import shutil
import zlib
from pathlib import Path

import pytest
from sinkproto.batchrules import gunzip_body
from sinktest import ROOT, VECTORS, covers
from sinktools.cli import main
from sinktools.vectors.cases.avro import EXAMPLES
from sinktools.vectors.check import check_dir
from sinktools.vectors.model import _gzip_start, load_dir
from sinktools.vectors.regenerate import FileChange, plan, regenerate

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


def add_scratch_version(repo: Path) -> int:
    """Add a made-up next version of meter_reading to the scratch copy; returns its number.

    The number is whatever follows the copy's latest version, never a fixed "v3": a maintainer who is
    following docs/schemas/changing.md has added the real next version already, and these tests must
    keep passing on that checkout. The scratch version has no example record (so no vector of its own).
    """
    registry = repo / "schemas" / "registry.toml"
    text = registry.read_text()
    latest = max(int(n) for n in re.findall(r'^(\d+) = "meter_reading/v\d+\.avsc"$', text, re.MULTILINE))
    previous = json.loads((repo / "schemas" / "meter_reading" / f"v{latest}.avsc").read_text())
    previous["fields"].append(
        {"name": "scratch_tamper_events", "type": "int", "default": 0, "doc": "Tamper events seen in the interval."}
    )
    new = latest + 1
    (repo / "schemas" / "meter_reading" / f"v{new}.avsc").write_text(json.dumps(previous, indent=2))
    line = f'{latest} = "meter_reading/v{latest}.avsc"\n'
    registry.write_text(text.replace(line, f'{line}{new} = "meter_reading/v{new}.avsc"\n'))
    return new


def test_the_committed_vectors_and_schema_lock_are_up_to_date(repo: Path) -> None:
    assert changed(plan(repo / "vectors" / "v0", KIT, repo / "schemas")) == {}
    report = check_dir(repo / "vectors" / "v0", schemas_dir=repo / "schemas", sources=True)
    assert report.ok, report.file_problems


@covers("SCHEMA-4", "SCHEMA-13")
def test_a_new_schema_version_changes_exactly_the_affected_vectors(repo: Path) -> None:
    vectors = repo / "vectors" / "v0"
    new = add_scratch_version(repo)
    changes = changed(plan(vectors, KIT, repo / "schemas"))
    assert set(changes) == {"v0/event.json", "v0/publish.json", "v0/batch.json", "schemas/versions.lock.json"}
    # Earlier versions' cases gain what the new version's reader sees; no bytes change, no ID is added or removed.
    event = changes["v0/event.json"]
    assert event.other_changed == [f"event.avro.meter_reading.v{v}" for name, v in EXAMPLES if name == "meter_reading"]
    assert not (event.added or event.removed or event.bytes_changed or event.relocked)
    assert changes["v0/batch.json"].other_changed == [
        "batch.avro.meter-readings.mixed-versions",
        "batch.avro.meter-readings.one-day",
    ]
    assert changes["schemas/versions.lock.json"].added == [f"meter_reading v{new}"]
    assert changes["v0/event.json"].summary_lines()[0] == f"v0/event.json: {len(event.other_changed)} other changes"

    # check names the stale files and says what to do
    report = check_dir(vectors, schemas_dir=repo / "schemas", sources=True)
    stale = [p for p in report.file_problems if p.startswith("stale")]
    assert len(stale) == 4 and any(f"v0/event.json: {len(event.other_changed)} other changes" in p for p in stale)
    assert all("run `sink vectors regenerate`" in p for p in stale)

    untouched = (vectors / "ack.json").stat().st_mtime_ns
    regenerate(vectors, KIT, repo / "schemas")
    assert (vectors / "ack.json").stat().st_mtime_ns == untouched  # only changed files are written
    record = next(c for vf in load_dir(vectors) for c in vf.cases if c.id == "event.avro.meter_reading.v1").avro
    assert record is not None and record[0]["read_as"][-1]["schema_version"] == new
    assert record[0]["read_as"][-1]["record"]["scratch_tamper_events"] == 0
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
    assert any("meter_reading v1: changed after it was published" in p and "[SCHEMA-6]" in p for p in problems), (
        problems
    )
    assert any("id event.avro.meter_reading.v1 changed meaning" in p for p in problems), problems


def test_a_bad_schema_change_fails_the_check_with_its_rule(repo: Path) -> None:
    new = add_scratch_version(repo)
    v3 = repo / "schemas" / "meter_reading" / f"v{new}.avsc"
    v3.write_text(v3.read_text().replace('"default": 0,\n      "doc": "Tamper', '"doc": "Tamper'))
    assert '"scratch_tamper_events"' in v3.read_text() and "Tamper" in v3.read_text()
    problems = check_dir(repo / "vectors" / "v0", schemas_dir=repo / "schemas", sources=True).file_problems
    assert (
        f"schemas: meter_reading v{new}: field scratch_tamper_events: added without a default: data written with the previous version "
        "has no value for it [SCHEMA-8]" in problems
    )


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
    path.write_text(
        path.read_text().replace(other.hex(), (data[:start] + packer.compress(bytes(body)) + packer.flush()).hex())
    )
    assert changed(plan(repo / "vectors" / "v0", KIT, repo / "schemas"))["v0/batch.json"].bytes_changed == [case["id"]]


# -- the command line ------------------------------------------------------------------------


def test_cli_regenerate_prints_what_changed_and_generate_is_an_alias(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vectors = str(repo / "vectors" / "v0")
    assert main(["vectors", "generate", "--dir", vectors]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 files written, 14 unchanged"
    new = add_scratch_version(repo)
    assert main(["vectors", "regenerate", "--dir", vectors, "--dry-run"]) == 0
    out = capsys.readouterr().out
    readings = len([name for name, _ in EXAMPLES if name == "meter_reading"])
    assert f"v0/event.json: {readings} other changes" in out and "schemas/versions.lock.json: 1 added" in out
    assert out.splitlines()[-2] == "4 files would change, 10 unchanged"
    assert out.splitlines()[-1].startswith(f"warning: meter_reading v{new} has no example record")
    assert main(["vectors", "check", "--dir", vectors]) == 1
    out = capsys.readouterr().out
    assert "FILE  stale: v0/event.json" in out
    assert main(["vectors", "check", "--dir", vectors, "--skip-sources"]) == 0
    capsys.readouterr()
    assert main(["vectors", "regenerate", "--dir", vectors]) == 0
    assert capsys.readouterr().out.splitlines()[-2] == "4 files written, 10 unchanged"
    assert main(["vectors", "check", "--dir", vectors]) == 0


def test_cli_regenerate_refuses_schemas_that_break_the_rules(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = add_scratch_version(repo)
    v3 = repo / "schemas" / "meter_reading" / f"v{new}.avsc"
    v3.write_text(
        v3.read_text()
        .replace('"type": "int",\n      "default": 0', '"type": "string",\n      "default": "0"')
        .replace('"name": "voltage_dv",\n      "type": "int"', '"name": "voltage_dv",\n      "type": "string"')
    )
    before = (repo / "vectors" / "v0" / "event.json").read_text()
    assert main(["vectors", "regenerate", "--dir", str(repo / "vectors" / "v0")]) == 1
    captured = capsys.readouterr()
    assert f"schemas: meter_reading v{new}: field voltage_dv: type changed from int to string" in captured.out
    assert "nothing was written" in captured.err
    assert (repo / "vectors" / "v0" / "event.json").read_text() == before


def test_cli_regenerate_warns_about_a_version_without_an_example(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = add_scratch_version(repo)
    assert main(["vectors", "regenerate", "--dir", str(repo / "vectors" / "v0"), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"warning: meter_reading v{new} has no example record, so no vector shows it: add one at the end of EXAMPLES "
        "in reference/sinktools/vectors/cases/avro.py and run this again"
    )


def test_a_refusal_is_printed_once_and_a_failed_check_ends_saying_so(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --dir both commands run every vectors/vN folder; the schemas they share are judged once."""
    shutil.copytree(ROOT / "vectors" / "v1", repo / "vectors" / "v1")
    new = add_scratch_version(repo)
    v3 = repo / "schemas" / "meter_reading" / f"v{new}.avsc"
    v3.write_text(
        v3.read_text().replace(
            '"name": "voltage_dv",\n      "type": "int"', '"name": "voltage_dv",\n      "type": "string"'
        )
    )
    monkeypatch.chdir(repo)
    assert main(["vectors", "regenerate"]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("field voltage_dv: type changed from int to string") == 1, captured.out
    assert captured.err.strip() == "sink vectors regenerate: refused: fix the schemas first; nothing was written"
    assert main(["vectors", "check"]) == 1
    out = capsys.readouterr().out
    assert out.count("field voltage_dv: type changed from int to string") == 1, out
    assert out.splitlines()[-1] == "sink vectors check: FAILED (see the FILE and FAIL lines above)"
    assert "failed; FAILED: " in out


def test_an_example_inserted_in_the_middle_gets_the_append_hint(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples take their offset and timestamp from their position: inserting one shifts the later, locked cases."""
    from sinktools.vectors.cases import avro as avro_cases

    new = add_scratch_version(repo)
    latest = dict(EXAMPLES[("meter_reading", new - 1)], scratch_tamper_events=2)
    items = list(EXAMPLES.items())
    at = 1  # right after the first example: every later example moves
    monkeypatch.setattr(avro_cases, "EXAMPLES", dict([*items[:at], (("meter_reading", new), latest), *items[at:]]))
    event = changed(plan(repo / "vectors" / "v0", KIT, repo / "schemas"))["v0/event.json"]
    assert event.added == [f"event.avro.meter_reading.v{new}"] and event.relocked
    assert any("move it to the end, where it changes no existing case" in line for line in event.summary_lines())
    monkeypatch.setattr(avro_cases, "EXAMPLES", dict([*items, (("meter_reading", new), latest)]))
    event = changed(plan(repo / "vectors" / "v0", KIT, repo / "schemas"))["v0/event.json"]
    assert event.added == [f"event.avro.meter_reading.v{new}"] and not event.relocked and not event.bytes_changed
