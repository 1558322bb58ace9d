"""Every sink-check run reports the requirement IDs it exercised, with their results, and the MUSTs it left out."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from sinkcheck.coverage import registry, requirement_coverage
from sinkcheck.selftest import make_pki, reference_server
from sinktest import ROOT


def test_a_requirement_takes_the_worst_outcome_of_its_cases() -> None:
    coverage = requirement_coverage(
        [("a", "pass", ["HS-9", "PING-1"]), ("b", "fail", ["HS-9"]), ("c", "unsupported", ["HS-18"])],
        mode="server",
        catalogue=[["HS-9"], ["PING-1"], ["HS-18"]],
    )
    assert coverage["exercised"]["HS-9"] == {"outcome": "fail", "counts": {"pass": 1, "fail": 1}, "cases": ["a", "b"]}
    assert coverage["exercised"]["PING-1"]["outcome"] == "pass"
    # cited by an unsupported case only: cited, not exercised
    assert "HS-18" in coverage["must_not_exercised"] and "HS-18" not in coverage["must_without_case"]
    musts = {r["id"] for r in registry() if r["level"] in ("MUST", "MUST NOT") and r["target"] in ("server", "both")}
    assert "HS-10" in musts and "HS-10" in coverage["must_without_case"]
    assert set(coverage["must_without_case"]) <= set(coverage["must_not_exercised"])
    # a server-mode run never lists encoder-only or client-only requirements
    targets = {r["id"]: r["target"] for r in registry()}
    assert {targets[m] for m in coverage["must_not_exercised"]} <= {"server", "both", "sender", "receiver"}


def test_server_mode_report_lists_requirements(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    report = tmp_path / "server.json"
    with reference_server(pki, tmp_path) as (host, port):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "sinkcheck.cli",
                "server",
                f"{host}:{port}",
                "--ca",
                str(pki / "ca.pem"),
                "--cert",
                str(pki / "client-sc-main.pem"),
                "--key",
                str(pki / "client-sc-main.key"),
                "--cases",
                "server.ping.*",
                "--cases",
                "server.publish.ack",
                "--json",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    coverage = json.loads(report.read_text())["requirements"]
    assert {rid: e["outcome"] for rid, e in coverage["exercised"].items()} == {
        "PING-1": "pass",
        "FRAME-5": "pass",
        "MSGID-8": "pass",
        "ACK-1": "pass",
        "PUB-1": "pass",
    }
    assert "HS-9" in coverage["must_not_exercised"]  # not selected in this run ...
    assert "HS-9" not in coverage["must_without_case"]  # ... but the catalogue has cases for it
    assert "requirements: 5 cited (5 pass)" in proc.stdout
    # one line each, never wrapped (the console soft-wraps: a terminal folds long lines, a log keeps them whole)
    not_run = re.search(
        r"not exercised by this run \(their cases were not selected or were unsupported\): (.+)$", proc.stdout, re.M
    )
    no_case = re.search(r"no server case covers \((\d+)\): (.+)$", proc.stdout, re.M)
    assert not_run and no_case, proc.stdout
    not_run_ids = set(not_run[1].replace(" ", "").strip(",").split(","))
    no_case_ids = set(no_case[2].replace(" ", "").strip(",").split(","))
    # each MUST is named once: one with no case at all is not listed again as "not exercised by this run"
    assert (
        "HS-9" in not_run_ids and set(coverage["must_without_case"]) == no_case_ids and not (not_run_ids & no_case_ids)
    )
    assert int(no_case[1]) == len(no_case_ids) == len(coverage["must_without_case"])
    # the report names no requirement it does not also give the text of (every mode's JSON has them)
    assert set(coverage["texts"]) == set(coverage["exercised"]) | set(coverage["must_not_exercised"])
    assert coverage["texts"]["PING-1"]["level"] == "MUST" and coverage["texts"]["PING-1"]["summary"]
