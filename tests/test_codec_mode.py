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
from sinkcheck.codec_cases import VECTOR_DIRS, vector_cases
from sinkcheck.codec_protocol import PROTOCOL_VERSION, encode_message
from sinkcheck.codec_strategies import generate
from sinktest import ROOT, covers

PYTHON = sys.executable
REFERENCE_SHIM = f"{PYTHON} {ROOT / 'conformance' / 'shims' / 'python_reference.py'}"


def sink_check_codec(*args: str, tmp_path: Path, timeout: float = 300) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / "codec.json"
    proc = subprocess.run(
        [PYTHON, "-m", "sinkcheck.cli", "codec", *args, "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    document = json.loads(report.read_text()) if report.exists() else {}
    return proc.returncode, document, proc.stdout + proc.stderr


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in document["cases"]}


@covers("ERR-1", "ERR-8", "BATCH-10", "CODEC-5")
@pytest.mark.parametrize("codec", ["default", "construct"])
def test_reference_shim_passes_every_vector_and_generated_case(codec: str, tmp_path: Path) -> None:
    html = tmp_path / "codec.html"
    code, document, output = sink_check_codec(
        "--exec",
        f"{REFERENCE_SHIM} --codec {codec}",
        "--examples",
        "300",
        "--seed",
        "11",
        "--html",
        str(html),
        tmp_path=tmp_path,
    )
    assert code == 0, output
    cases = by_id(document)
    # both protocol versions by default: every vector of vectors/v0 and vectors/v1, in its own version
    assert {c.id for c in vector_cases()} | {c.id for c in vector_cases(VECTOR_DIRS[1])} <= set(cases)
    assert {c["protocol_version"] for c in cases.values() if c["id"].startswith("v1.")} == {1}
    assert sum(c["source"] == "generated" for c in cases.values()) == 300
    assert document["summary"]["cases"] == {"fail": 0, "unsupported": 0, "pass": len(cases)}
    # every kind of check was exercised in both versions, refusals (ERR-8) included
    kinds = {(check["op"], c["source"], c["protocol_version"]) for c in cases.values() for check in c["checks"]}
    assert kinds == {
        (op, source, v) for op in ("decode", "encode") for source in ("vector", "generated") for v in (0, 1)
    }
    assert any(c["id"].endswith(".refuse") for c in cases.values())
    assert any(
        ".v1.batch.roundtrip" in c["id"]
        and '"mode":"records"' in json.dumps(c["checks"][0]["request"], separators=(",", ":"))
        for c in cases.values()
    )
    assert document["shim"]["protocol_versions"].keys() == {"0", "1"}
    coverage = document["requirements"]
    assert {e["outcome"] for e in coverage["exercised"].values()} == {"pass"}
    assert {"CONV-4", "BATCH-10", "ERR-8", "LIMIT-3", "ERR-2", "BPUB-1", "BRES-1", "RECORD-5"} <= set(
        coverage["exercised"]
    )
    # context coding: the vectors' bases travel, and unknown_base is answered where a base is missing or stale
    assert {"CTX-1", "CTX-2", "CTX-3", "CTX-5", "CTX-6", "CTX-7"} <= set(coverage["exercised"])
    assert document["shim"]["protocol_versions"]["1"].get("context") is True
    assert not set(coverage["must_without_case"]) & set(coverage["exercised"])
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "v1.batch_result.spec-example" in page and "no check failed" in page


def test_generated_cases_are_reproducible_from_the_seed() -> None:
    first, again, other = generate(5, 80), generate(5, 80), generate(6, 80)
    assert first == again
    assert generate(5, 30) == first[:30]  # case i depends on the seed and i only
    assert [c.checks for c in first] != [c.checks for c in other]
    assert {c.id.split(".")[-1] for c in first} >= {"roundtrip", "refuse"}
    assert any(".mutant-" in c.id for c in first)
    assert {c.version for c in first} == {0, 1} and {c.version for c in generate(5, 80, (0,))} == {0}
    assert all(c.id.startswith("gen.5.") and (".v1." in c.id) == (c.version == 1) for c in first)


def _failing_check(case: dict[str, Any]) -> dict[str, Any]:
    bad = [c for c in case["checks"] if c["outcome"] == "fail"]
    assert bad, case
    return bad[0]


@pytest.mark.parametrize(
    ("broken", "must_fail"),
    [
        ("error-class", {"event.varint.overlong", "batch.header.overlong-varint"}),
        ("field", {"connection_request.with-server-instance-id"}),
        ("encode", {"event.event-type-id.127"}),
        ("v1-batch-result", {"v1.batch_result.spec-example", "v1.batch_result.three"}),
    ],
)
def test_a_broken_shim_is_caught(broken: str, must_fail: set[str], tmp_path: Path) -> None:
    code, document, output = sink_check_codec(
        "--exec", f"{REFERENCE_SHIM} --break {broken}", "--examples", "100", tmp_path=tmp_path
    )
    assert code == 1, output
    failed = set(document["summary"]["failed"])
    assert must_fail <= failed, (must_fail - failed, output[-2000:])
    case = by_id(document)[sorted(must_fail)[0]]
    bad = _failing_check(case)
    assert bad["expected"] != bad["got"]
    assert "FAIL" in output and sorted(must_fail)[0] in output
    # the run's requirement coverage names what the broken codec violates: the failed checks' requirements
    exercised = document["requirements"]["exercised"]
    assert case["failed_requirements"] and all(
        exercised[rid]["outcome"] == "fail" for rid in case["failed_requirements"]
    )


@covers("ERR-2", "CONV-4")
def test_a_wrong_error_class_cites_what_decides_it(tmp_path: Path) -> None:
    """Both sides found a violation but name different ones: the dispute is the expected error's rule and ERR-2."""
    code, document, output = sink_check_codec(
        "--exec",
        f"{REFERENCE_SHIM} --break error-class",
        "--examples",
        "0",
        "--cases",
        "event.varint.*",
        tmp_path=tmp_path,
    )
    assert code == 1, output
    case = by_id(document)["event.varint.overlong"]
    assert _failing_check(case)["requirements"] == ["CONV-4", "ERR-2"]
    assert case["failed_requirements"] == ["CONV-4", "ERR-2"]
    exercised = document["requirements"]["exercised"]
    assert exercised["ERR-2"]["outcome"] == "fail" and exercised["CONV-4"]["outcome"] == "fail"
    # event.varint.overflow cites CONV-5 and was answered right: its requirement is not blamed
    assert exercised["CONV-5"]["outcome"] == "pass"
    assert "ERR-2" not in document["requirements"]["must_without_case"]


@covers("ERR-9")
def test_a_decoder_that_is_strict_about_utf8_by_default_fails_err_9(tmp_path: Path) -> None:
    code, document, output = sink_check_codec(
        "--exec", f"{REFERENCE_SHIM} --break utf8", "--examples", "0", "--cases", "nack_payload.*", tmp_path=tmp_path
    )
    assert code == 1, output
    case = by_id(document)["nack_payload.human-not-utf8"]
    assert _failing_check(case)["requirements"] == ["ERR-9"]
    assert case["failed_requirements"] == ["ERR-9"]
    exercised = document["requirements"]["exercised"]
    assert exercised["ERR-9"]["outcome"] == "fail" and exercised["NACK-1"]["outcome"] == "pass"


@covers("ERR-8")
def test_a_crash_of_the_codec_fails_a_refuse_check(tmp_path: Path) -> None:
    """A KeyError where EncodeError belongs is a crash, answered ``crash``: never a pass of a refuse check."""
    code, document, output = sink_check_codec(
        "--exec",
        f"{REFERENCE_SHIM} --break crash",
        "--examples",
        "300",
        "--no-vectors",
        "--protocol-version",
        "0",
        tmp_path=tmp_path,
    )
    assert code == 1, output
    crashed = [c for c in document["cases"] if c["outcome"] == "fail"]
    assert crashed and all(c["id"].endswith(".frame.refuse") for c in crashed)
    check = _failing_check(crashed[0])
    assert check["got"].startswith("crash (KeyError") and check["requirements"] == ["ERR-8"]


def test_a_shim_without_version_1_gets_version_1_cases_unsupported(tmp_path: Path) -> None:
    """Codec-mode protocol 1 (no protocol versions): the runner falls back to it; version 1 is unsupported."""
    legacy = tmp_path / "legacy_shim.py"
    legacy.write_text(LEGACY_SHIM.format(shims=ROOT / "conformance" / "shims"))
    code, document, output = sink_check_codec(
        "--exec",
        f"{PYTHON} {legacy}",
        "--examples",
        "200",
        "--vectors",
        str(VECTOR_DIRS[1]),
        "--vectors",
        str(VECTOR_DIRS[0]),
        tmp_path=tmp_path,
    )
    assert code == 0, output
    assert document["protocol_version"] == 1 and list(document["shim"]["protocol_versions"]) == ["0"]
    outcomes = {(c["protocol_version"], c["outcome"]) for c in document["cases"]}
    assert outcomes == {(0, "pass"), (1, "unsupported")}
    assert "protocol version 1: not declared" in output
    assert not any(
        rid.startswith(("BPUB", "BRES")) and e["outcome"] != "unsupported"
        for rid, e in document["requirements"]["exercised"].items()
    )


# The reference shim, but its hello does not declare context coding (a shim written before it).
NO_CONTEXT_SHIM = """
import sys
sys.path.insert(0, "{shims}")
from python_reference import Handler
from sinkcheck.codec_protocol import serve

handler = Handler("default", None)


def handle(request):
    answer = handler(request)
    if request.get("op") == "hello":
        answer["protocol_versions"]["1"].pop("context")
    return answer


serve(handle, sys.stdin.buffer, sys.stdout.buffer)
"""


@covers("CTX-1", "CTX-5")
def test_a_shim_without_context_gets_the_checks_with_bases_unsupported(tmp_path: Path) -> None:
    """Checks that give the codec bases need a shim that declares context; those without (CTX-1) still run."""
    shim = tmp_path / "no_context_shim.py"
    shim.write_text(NO_CONTEXT_SHIM.format(shims=ROOT / "conformance" / "shims"))
    code, document, output = sink_check_codec(
        "--exec", f"{PYTHON} {shim}", "--examples", "0", "--vectors", str(VECTOR_DIRS[1]), tmp_path=tmp_path
    )
    assert code == 0, output
    checks = [(check, c["id"]) for c in document["cases"] for check in c["checks"]]
    with_bases = [(check, i) for check, i in checks if "bases" in check["request"]]
    assert len(with_bases) > 80 and {check["outcome"] for check, _ in with_bases} == {"unsupported"}
    assert {check["outcome"] for check, _ in checks if "bases" not in check["request"]} == {"pass"}
    # a batch in mode context to a codec that declared no context_bases: unknown_format, checked all the same
    cases = by_id(document)
    assert cases["v1.batch.context.not-declared"]["outcome"] == "pass"
    assert cases["v1.batch.context.unknown-base.none-held"]["outcome"] == "unsupported"


# A shim written against codec-mode protocol 1: "v" must be 1, no protocol_version, top-level kinds and limits.
LEGACY_SHIM = """
import sys
sys.path.insert(0, "{shims}")
from python_reference import Handler
from sinkcheck.codec_protocol import read_message, write_message

handler = Handler("default", None)
while (request := read_message(sys.stdin.buffer)) is not None:
    if request.get("v") != 1:
        write_message(sys.stdout.buffer, {{"v": 1, "id": request.get("id"), "ok": False, "error": "bad_request"}})
        continue
    if request.get("op") == "bye":
        write_message(sys.stdout.buffer, {{"v": 1, "id": request["id"], "ok": True}})
        break
    if request.get("op") == "hello":
        answer = {{"ok": True, "name": "legacy", "kinds": {{"decode": ["frame", "event", "nack_payload", "batch", "stream"],
                  "encode": ["frame", "event", "nack_payload", "batch", "stream"]}}, "limits": ["max_varint_bytes",
                  "max_frame_size", "max_key_size", "max_event_data_size", "max_batch_events", "max_decompressed_size",
                  "strict_utf8"]}}
    else:
        assert "protocol_version" not in request
        answer = handler({{**request, "protocol_version": 0}})
    write_message(sys.stdout.buffer, {{**answer, "v": 1, "id": request["id"]}})
"""


def test_a_hung_shim_is_a_reported_failure_and_is_restarted(tmp_path: Path) -> None:
    started = time.monotonic()
    code, document, output = sink_check_codec(
        "--exec",
        f"{REFERENCE_SHIM} --break hang",
        "--examples",
        "0",
        "--cases",
        "ping.*",
        "--cases",
        "ack.*",
        "--timeout",
        "1",
        tmp_path=tmp_path,
    )
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
    code, _document, output = sink_check_codec(
        "--exec", f"{PYTHON} -c 'import sys; sys.exit(3)'", "--examples", "0", tmp_path=tmp_path
    )
    assert code == 2
    assert "cannot start the shim" in output


def test_a_vector_folder_without_vectors_is_exit_code_2(tmp_path: Path) -> None:
    code, _document, output = sink_check_codec(
        "--exec", REFERENCE_SHIM, "--vectors", str(tmp_path / "nothing"), tmp_path=tmp_path
    )
    assert code == 2 and "no golden vector files" in output


def _exchange(requests: list[bytes]) -> list[dict[str, Any]]:
    proc = subprocess.run(REFERENCE_SHIM.split(), input=b"".join(requests), capture_output=True, timeout=60)
    answers, data = [], proc.stdout
    while data:
        (length,) = struct.unpack(">I", data[:4])
        answers.append(json.loads(data[4 : 4 + length]))
        data = data[4 + length :]
    assert proc.returncode == 0, proc.stderr
    return answers


def test_protocol_edges_are_answered_never_hung() -> None:
    garbage = b"not json"
    v = PROTOCOL_VERSION
    answers = _exchange(
        [
            encode_message({"v": v, "id": 1, "op": "hello", "versions": [v], "protocol_versions": [0, 1]}),
            encode_message({"v": v, "id": 2, "op": "frobnicate"}),
            encode_message({"v": 99, "id": 3, "op": "decode", "kind": "frame", "hex": "3000"}),
            struct.pack(">I", len(garbage)) + garbage,
            encode_message(
                {"v": v, "id": 4, "op": "decode", "kind": "frame", "protocol_version": 0, "hex": "3fff", "limits": {}}
            ),
            encode_message(
                {"v": v, "id": 5, "op": "decode", "kind": "frame", "protocol_version": 0, "hex": "3f", "limits": {}}
            ),
            encode_message(
                {
                    "v": v,
                    "id": 6,
                    "op": "encode",
                    "kind": "frame",
                    "protocol_version": 0,
                    "value": {"type": "ack", "message_id": 4096},
                }
            ),
            encode_message({"v": v, "id": 7, "op": "decode", "kind": "teapot", "protocol_version": 0, "hex": ""}),
            encode_message({"v": v, "id": 8, "op": "decode", "kind": "event", "protocol_version": 1, "hex": ""}),
            encode_message({"v": v, "id": 9, "op": "decode", "kind": "frame", "protocol_version": 7, "hex": "3000"}),
            encode_message(
                {
                    "v": v,
                    "id": 10,
                    "op": "decode",
                    "kind": "frame",
                    "protocol_version": 1,
                    "hex": "800701020000",
                    "limits": {},
                }
            ),
            encode_message(
                {"v": v, "id": 11, "op": "encode", "kind": "frame", "protocol_version": 0, "value": {"type": "ack"}}
            ),
        ]
    )  # then end of input: the shim exits 0
    assert [a.get("id") for a in answers] == [1, 2, 3, None, 4, 5, 6, 7, 8, 9, 10, 11]
    hello, unknown_op, bad_version, garbled, ack, truncated, refused, unknown_kind, v1_event, v7, result, crash = (
        answers
    )
    assert hello["ok"] and hello["protocol_versions"]["0"]["kinds"]["decode"] == [
        "frame",
        "event",
        "nack_payload",
        "batch",
        "stream",
    ]
    assert hello["protocol_versions"]["1"]["kinds"] == {"decode": ["frame", "batch"], "encode": ["frame", "batch"]}
    assert "max_zstd_window" in hello["protocol_versions"]["1"]["limits"]
    assert (unknown_op["ok"], unknown_op["error"]) == (False, "bad_request")
    assert bad_version["error"] == "bad_request" and garbled["error"] == "bad_request"
    assert ack == {"v": v, "id": 4, "ok": True, "value": {"type": "ack", "message_id": 4095}}
    assert (truncated["error"], truncated["error_class"]) == ("decode_error", "truncated")
    assert refused["error"] == "encode_error"
    assert (
        unknown_kind["error"] == "unsupported" and v1_event["error"] == "unsupported" and v7["error"] == "unsupported"
    )
    assert result["value"]["type"] == "batch_result" and result["value"]["entries"][0]["index"] == 2
    # a value missing a field makes the codec raise KeyError: a crash, not a refusal
    assert crash["error"] == "crash" and "KeyError" in crash["detail"]


def test_the_docs_options_table_lists_every_option() -> None:
    import argparse

    from sinkcheck.cli import build_parser

    parser = build_parser()
    codec = next(a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction)).choices[
        "codec"
    ]
    options = {o for action in codec._actions for o in action.option_strings if o.startswith("--") and o != "--help"}
    page = (ROOT / "docs" / "conformance" / "codec-mode.md").read_text()
    table = page[page.index("| option | meaning |") : page.index("Exit code:")]
    assert options and {o for o in options if f"`{o}" not in table} == set()
