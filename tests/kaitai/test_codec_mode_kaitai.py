"""sink-check codec through the Kaitai shim (conformance/shims/kaitai_python.py): a decode-only codec.

Encode checks and checks under non-default limits are reported unsupported (never passes), and the
shim's verdicts differ from the vectors exactly where the generated parser cannot tell two error
classes apart. The table below is exact in both directions, like NOT_REJECTED in
test_kaitai_differential: a divergence that goes away, or a new one, fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sinktest import ROOT

_BODY_END = (
    "the batch body's columns are read with sizes computed from count; running out of bytes inside "
    "them is an end-of-stream in Kaitai, which the spec calls inconsistent_batch (BATCH-5), not truncated"
)
KNOWN_DIVERGENCES = {
    "batch.column.too-short": _BODY_END,
    "batch.keys.not-divisible": _BODY_END,
    "batch.event-data.short": _BODY_END,
    "batch.column.varint-cut": _BODY_END,
    "batch.truncated-at-32": _BODY_END,
    "batch.truncated-at-33": _BODY_END,
    "batch.truncated-at-34": _BODY_END,
    # count is not bounded by the body's size (BATCH-8): the parser reads on into columns too short for it.
    "batch.count.over-body-size": _BODY_END,
    "batch.count.over-limit": "max_batch_events (LIMIT-4) is decoder configuration, which the .ksy does not check: the "
    "parser reads on, and the empty offsets column ends its stream (truncated)",
}


def test_kaitai_shim_over_the_vectors(kaitai_outputs: dict[str, Path], tmp_path: Path) -> None:
    report = tmp_path / "kaitai.json"
    shim = (
        f"{sys.executable} {ROOT / 'conformance' / 'shims' / 'kaitai_python.py'} --parsers {kaitai_outputs['python']}"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "sinkcheck.cli", "codec", "--exec", shim, "--examples", "0", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the divergences below are failures
    document = json.loads(report.read_text())
    assert document["shim"]["encode"] == [] and document["shim"]["limits"] == []
    assert list(document["shim"]["protocol_versions"]) == ["0"]
    # version 1 is not declared: every version-1 vector is unsupported, none failed
    v1 = [case for case in document["cases"] if case["protocol_version"] == 1]
    assert len(v1) > 200 and {case["outcome"] for case in v1} == {"unsupported"}
    cases = [case for case in document["cases"] if case["protocol_version"] == 0]
    assert set(document["summary"]["failed"]) == set(KNOWN_DIVERGENCES)
    checks = [check for case in cases for check in case["checks"]]
    encodes = [c for c in checks if c["op"] == "encode"]
    assert encodes and all(c["outcome"] == "unsupported" for c in encodes)
    limited = [c for c in checks if c["request"].get("limits")]
    assert limited and all(c["outcome"] == "unsupported" for c in limited)
    # every decode the parser can be asked (default limits) passes, apart from the table
    decodes = [
        (case["id"], c) for case in cases for c in case["checks"] if c["op"] == "decode" and not c["request"]["limits"]
    ]
    assert {i for i, c in decodes if c["outcome"] != "pass"} == set(KNOWN_DIVERGENCES)
    assert len(decodes) > 450
    # a decode-only codec exercises what its decode checks cover: the strict_utf8=false decode of the
    # acceptable vectors passes ERR-9, although their strict_utf8=true checks are unsupported
    exercised = document["requirements"]["exercised"]
    assert exercised["ERR-9"]["outcome"] == "pass"
    # the failed checks are about the divergences' rules, not every requirement their cases cite
    assert {rid for rid, e in exercised.items() if e["outcome"] == "fail"} == {
        "BATCH-5",
        "BATCH-11",
        "ERR-2",
        "LIMIT-4",
    }


def test_kaitai_shim_answers_encode_unsupported(kaitai_outputs: dict[str, Path]) -> None:
    from sinkcheck.codec_protocol import PROTOCOL_VERSION, encode_message

    shim = [
        sys.executable,
        str(ROOT / "conformance" / "shims" / "kaitai_python.py"),
        "--parsers",
        str(kaitai_outputs["python"]),
    ]
    request = encode_message(
        {
            "v": PROTOCOL_VERSION,
            "id": 1,
            "op": "encode",
            "kind": "frame",
            "protocol_version": 0,
            "value": {"type": "ping"},
        }
    )
    proc = subprocess.run(shim, input=request, capture_output=True, timeout=60)
    answer = json.loads(proc.stdout[4:])
    assert (answer["ok"], answer["error"]) == (False, "unsupported")
