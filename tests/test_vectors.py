"""The committed golden vectors: valid JSON, checked case by case, stable IDs, up to date."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from sinktest import ROOT, VECTORS, covers
from sinktools.vectors.check import check_case, check_ids
from sinktools.vectors.generate import generate
from sinktools.vectors.locks import load_lock
from sinktools.vectors.model import Case, fingerprint, load_dir, normalized_bytes

SCHEMA = json.loads((ROOT / "vectors" / "schema" / "vector-file.schema.json").read_text())
FILES = load_dir(VECTORS)
ALL = [(vf.kind, case) for vf in FILES for case in vf.cases]


def test_every_kind_has_its_file() -> None:
    assert sorted(vf.kind for vf in FILES) == sorted(
        [
            "connection_request",
            "connection_response",
            "ack",
            "publish",
            "nack",
            "ping",
            "pong",
            "frame",
            "event",
            "nack_payload",
            "batch",
            "stream",
        ]
    )
    for vf in FILES:
        assert vf.path is not None and vf.path.name == f"{vf.kind}.json"


@pytest.mark.parametrize("vf", FILES, ids=[vf.kind for vf in FILES])
def test_file_validates_against_the_committed_schema(vf) -> None:  # type: ignore[no-untyped-def]
    assert vf.path is not None
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(vf.path.read_text()))


@pytest.mark.parametrize(("kind", "case"), ALL, ids=[f"{k}/{c.id}" for k, c in ALL])
def test_vector(kind: str, case: Case) -> None:
    result = check_case(kind, case)
    assert result.ok, result.problems


def test_ids_are_unique_and_never_change_meaning() -> None:
    assert check_ids(FILES, load_lock(VECTORS)) == []


def test_lock_detects_a_changed_meaning_and_a_removed_id() -> None:
    lock = load_lock(VECTORS)
    assert lock is not None
    victim_kind, victim = ALL[0]
    changed = dict(lock)
    changed[victim.id] = "0" * 16
    assert any("changed meaning" in p for p in check_ids(FILES, changed))
    changed = dict(lock)
    changed["ack.retired-long-ago"] = "0" * 16
    assert any("no longer in the vectors" in p for p in check_ids(FILES, changed))


def test_schema_rejects_a_malformed_case() -> None:
    doc = json.loads((VECTORS / "ack.json").read_text())
    doc["cases"][0]["result"] = "invalid"  # now needs error_class and must not carry value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(doc)


def test_committed_vectors_are_what_the_sources_generate(tmp_path: Path) -> None:
    """A maintainer who changed a source but forgot `sink vectors generate` fails here."""
    (tmp_path / "ids.lock.json").write_text((VECTORS / "ids.lock.json").read_text())
    generate(tmp_path, FILES[0].kit_version)
    fresh = {vf.kind: vf for vf in load_dir(tmp_path)}
    for vf in FILES:
        new = fresh[vf.kind]
        assert [c.id for c in new.cases] == [c.id for c in vf.cases], vf.kind
        for old_case, new_case in zip(vf.cases, new.cases):
            # gzip bytes may differ between zlib builds: compare decompressed (BATCH-10)
            assert fingerprint(vf.kind, old_case) == fingerprint(vf.kind, new_case), old_case.id
            assert normalized_bytes(vf.kind, old_case) == normalized_bytes(vf.kind, new_case)
    assert (tmp_path / "ids.lock.json").read_text() == (VECTORS / "ids.lock.json").read_text()


@covers("CONV-1", "CONV-2", "STREAM-2", "FRAME-1", "FRAME-2", "BATCH-1")
def test_coverage_of_the_boundaries_the_issue_names() -> None:
    ids = {c.id for _, c in ALL}
    values = [c.value for _, c in ALL if c.value]
    # message id 0 and 4095, instance ids 0 and 2^32-1
    assert {"ack.message-id.0", "ack.message-id.4095", "publish.message-id.0", "publish.message-id.4095"} <= ids
    assert {
        "connection_request.instance-ids.client-0.server-0",
        "connection_request.instance-ids.client-4294967295.server-4294967295",
    } <= ids
    # varints at every 7-bit boundary up to 2^64-1, for every varint field of an event
    for field in ("event-type-id", "schema-version", "offset", "timestamp"):
        for k in range(1, 10):
            assert f"event.{field}.{(1 << 7 * k) - 1}" in ids and f"event.{field}.{1 << 7 * k}" in ids
        assert f"event.{field}.{(1 << 64) - 1}" in ids
    assert "publish.frame-size.65535" in ids and "publish.key.empty" in ids
    # every batch flag combination, compressed and not
    assert {f"batch.layout.{h:02x}" for h in range(128)} <= ids
    # every message type and response code
    kinds = {v.get("type") for v in values}
    assert {"connection_request", "connection_response", "ack", "publish", "nack", "ping", "pong"} <= kinds
    responses = {v["response"] for v in values if v.get("type") == "connection_response"}
    assert len(responses) == 6
    # negative deltas
    assert "batch.negative-deltas" in ids
    # truncation at every byte of a set of valid frames
    assert sum(1 for i in ids if ".truncated-at-" in i) > 100
