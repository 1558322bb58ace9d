"""sink-check codec: the shim protocol, the reference shim over every vector and generated cases, broken shims caught.

Everything runs the real command line and real shim subprocesses; nothing is mocked.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sinktest import ROOT, covers

from sinkcheck.codec_cases import vector_cases
from sinkcheck.codec_protocol import PROTOCOL_VERSION, encode_message
from sinkcheck.codec_strategies import generate

PYTHON = sys.executable
REFERENCE_SHIM = f"{PYTHON} {ROOT / 'conformance' / 'shims' / 'python_reference.py'}"


def sink_check_codec(*args: str, tmp_path: Path, timeout: float = 300) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / "codec.json"
    proc = subprocess.run([PYTHON, "-m", "sinkcheck.cli", "codec", *args, "--json", str(report)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    document = json.loads(report.read_text()) if report.exists() else {}
    return proc.returncode, document, proc.stdout + proc.stderr


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in document["cases"]}


@covers("ERR-1", "ERR-8", "BATCH-10")
@pytest.mark.parametrize("codec", ["default", "construct"])
def test_reference_shim_passes_every_vector_and_generated_case(codec: str, tmp_path: Path) -> None:
    code, document, output = sink_check_codec("--exec", f"{REFERENCE_SHIM} --codec {codec}", "--examples", "300",
                                              "--seed", "11", tmp_path=tmp_path)
    assert code == 0, output
    cases = by_id(document)
    assert {c.id for c in vector_cases()} <= set(cases)
    assert sum(c["source"] == "generated" for c in cases.values()) == 300
    assert document["summary"]["cases"] == {"fail": 0, "unsupported": 0, "pass": len(cases)}
    # every kind of check was exercised, refusals (ERR-8) included
    kinds = {(check["op"], c["source"]) for c in cases.values() for check in c["checks"]}
    assert kinds == {("decode", "vector"), ("encode", "vector"), ("decode", "generated"), ("encode", "generated")}
    assert any(c["id"].endswith(".refuse") for c in cases.values())
    coverage = document["requirements"]
    assert {e["outcome"] for e in coverage["exercised"].values()} == {"pass"}
    assert {"CONV-4", "BATCH-10", "ERR-8", "LIMIT-3"} <= set(coverage["exercised"])
    assert not set(coverage["must_without_case"]) & set(coverage["exercised"])


def test_generated_cases_are_reproducible_from_the_seed() -> None:
    first, again, other = generate(5, 80), generate(5, 80), generate(6, 80)
    assert first == again
    assert [c.id for c in first] != [c.id for c in other] or [c.checks for c in first] != [c.checks for c in other]
    assert {c.id.split(".")[-1] for c in first} >= {"roundtrip", "refuse"}
    assert any(".mutant-" in c.id for c in first)


@pytest.mark.parametrize(("broken", "must_fail"), [
    ("error-class", {"event.varint.overlong", "batch.header.overlong-varint"}),
    ("field", {"connection_request.with-server-instance-id"}),
    ("encode", {"event.event-type-id.127"}),
])
def test_a_broken_shim_is_caught(broken: str, must_fail: set[str], tmp_path: Path) -> None:
    code, document, output = sink_check_codec("--exec", f"{REFERENCE_SHIM} --break {broken}", "--examples", "100",
                                              tmp_path=tmp_path)
    assert code == 1, output
    failed = set(document["summary"]["failed"])
    assert must_fail <= failed, (must_fail - failed, output[-2000:])
    case = by_id(document)[sorted(must_fail)[0]]
    bad = [c for c in case["checks"] if c["outcome"] == "fail"]
    assert bad and bad[0]["expected"] != bad[0]["got"]
    assert "FAIL" in output and sorted(must_fail)[0] in output
    # the run's requirement coverage names what the broken codec violates
    exercised = document["requirements"]["exercised"]
    assert all(exercised[rid]["outcome"] == "fail" for rid in case["requirements"])


def test_a_hung_shim_is_a_reported_failure_and_is_restarted(tmp_path: Path) -> None:
    started = time.monotonic()
    code, document, output = sink_check_codec("--exec", f"{REFERENCE_SHIM} --break hang", "--examples", "0",
                                              "--cases", "ping.*", "--cases", "ack.*", "--timeout", "1",
                                              tmp_path=tmp_path)
    assert time.monotonic() - started < 60
    assert code == 1, output
    cases = by_id(document)
    hung = {i for i, c in cases.items() if c["outcome"] == "fail"}
    # every PING vector hangs the shim (the flag hangs on frame type 5); the ACK vectors after them still pass
    assert hung == {i for i in cases if i.startswith("ping.")} and hung
    assert all(c["outcome"] == "pass" for i, c in cases.items() if i.startswith("ack."))
    assert "no answer within 1 s" in cases[sorted(hung)[0]]["checks"][0]["got"]
    assert document["summary"]["shim_restarts"] == len(hung)


def test_a_shim_that_cannot_start_is_exit_code_2(tmp_path: Path) -> None:
    code, _document, output = sink_check_codec("--exec", f"{PYTHON} -c 'import sys; sys.exit(3)'", "--examples", "0",
                                              tmp_path=tmp_path)
    assert code == 2
    assert "cannot start the shim" in output


def _exchange(requests: list[bytes]) -> list[dict[str, Any]]:
    proc = subprocess.run(REFERENCE_SHIM.split(), input=b"".join(requests), capture_output=True, timeout=60)
    answers, data = [], proc.stdout
    while data:
        (length,) = struct.unpack(">I", data[:4])
        answers.append(json.loads(data[4:4 + length]))
        data = data[4 + length:]
    assert proc.returncode == 0, proc.stderr
    return answers


def test_protocol_edges_are_answered_never_hung() -> None:
    garbage = b"not json"
    answers = _exchange([
        encode_message({"v": PROTOCOL_VERSION, "id": 1, "op": "hello", "versions": [1]}),
        encode_message({"v": PROTOCOL_VERSION, "id": 2, "op": "frobnicate"}),
        encode_message({"v": 99, "id": 3, "op": "decode", "kind": "frame", "hex": "3000"}),
        struct.pack(">I", len(garbage)) + garbage,
        encode_message({"v": PROTOCOL_VERSION, "id": 4, "op": "decode", "kind": "frame", "hex": "3fff", "limits": {}}),
        encode_message({"v": PROTOCOL_VERSION, "id": 5, "op": "decode", "kind": "frame", "hex": "3f", "limits": {}}),
        encode_message({"v": PROTOCOL_VERSION, "id": 6, "op": "encode", "kind": "frame",
                        "value": {"type": "ack", "message_id": 4096}}),
        encode_message({"v": PROTOCOL_VERSION, "id": 7, "op": "decode", "kind": "teapot", "hex": ""}),
    ])  # then end of input: the shim exits 0
    assert [a.get("id") for a in answers] == [1, 2, 3, None, 4, 5, 6, 7]
    hello, unknown_op, bad_version, garbled, ack, truncated, refused, unknown_kind = answers
    assert hello["ok"] and set(hello["kinds"]["decode"]) == {"frame", "event", "nack_payload", "batch", "stream"}
    assert (unknown_op["ok"], unknown_op["error"]) == (False, "bad_request")
    assert bad_version["error"] == "bad_request" and garbled["error"] == "bad_request"
    assert ack == {"v": 1, "id": 4, "ok": True, "value": {"type": "ack", "message_id": 4095}}
    assert (truncated["error"], truncated["error_class"]) == ("decode_error", "truncated")
    assert refused["error"] == "encode_error"
    assert unknown_kind["error"] == "unsupported"
