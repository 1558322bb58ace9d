"""Verdicts that hold against a real implementation (issue 16): crash observation (ERR-5), requirement
rollups that blame only what a failed check is about, HS-20 after `quarantined`, PING before the request.

A crash of the field server's connection process closes the socket with a TLS close_notify, exactly like
a deliberate close; only its log shows the crash report. The `crash-logging` mutant does the same.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from sinkcheck.cases import catalogue
from sinkcheck.coverage import requirement_coverage
from sinkcheck.listener import ExecClient
from sinkcheck.model import Case, CaseResult, Outcome, requirement_outcomes
from sinkcheck.observe import LogSource, ObserveSettings, find_crashes
from sinkcheck.profile import Profile, load_profile
from sinkcheck.runner import run_cases, select
from sinkcheck.selftest import make_pki, observed_profile, reference_profile, reference_server
from sinkcheck.selftest.mutants import CRASH_PATTERN
from sinktest import ROOT, covers

SCHEMA = json.loads((ROOT / "conformance" / "sinkcheck" / "report.schema.json").read_text())
Logged = tuple[tuple[str, int], Path]  # the crash-logging mutant's address, and its log
MALFORMED = ["server.malformed.ping-trailing-bytes", "server.malformed.publish-truncated"]


def by_id(case_id: str) -> Case:
    return next(c for c in catalogue() if c.id == case_id)


def run(cases: list[str], address: tuple[str, int], profile: Profile) -> dict[str, CaseResult]:
    chosen = select([c for c in catalogue() if c.mode == "server"], include=cases)
    assert {c.id for c in chosen} == set(cases)
    results = asyncio.run(run_cases(chosen, host=address[0], port=address[1], profile=profile))
    return {r.case.id: r for r in results}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def crash_logging(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    """The crash-logging mutant, and the log it writes its crash reports to."""
    workdir = tmp_path_factory.mktemp("crash-logging")
    profile, extra = observed_profile(reference_profile(pki), workdir, "crash-logging")
    assert profile.observe is not None and profile.observe.log is not None
    with reference_server(pki, workdir, mutant="crash-logging", extra=extra) as address:
        yield address, profile.observe.log


# -- the profile's [observe] section and the log reader ----------------------------------------------------


def test_observe_section_paths_are_relative_to_the_profile(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    path = tmp_path / "p" / "field.toml"
    path.write_text(
        '[observe]\nlog = "../logs/server.log"\ncrash_pattern = "terminating"\nsettle = 0.5\nexit_ok = [0, 3]\n'
    )
    observe = load_profile(path).observe
    assert observe == ObserveSettings(
        log=(tmp_path / "logs" / "server.log").resolve(), crash_pattern="terminating", settle=0.5, exit_ok=(0, 3)
    )
    assert load_profile(None).observe is None
    for bad, message in (
        ('log = "x.log"', "needs a crash_pattern"),
        ('crash_pattern = "("', "not a regular"),
        ('logfile = "x"', "unknown keys"),
        ("settle = -1", "settle"),
    ):
        path.write_text(f"[observe]\n{bad}\n")
        with pytest.raises(ValueError, match=message):
            load_profile(path)


def test_the_log_is_read_from_where_the_case_started(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("[error] GenServer #PID<0.1.0> terminating\nbefore the case\n")
    source = LogSource(log, CRASH_PATTERN)
    mark = source.mark()
    assert source.since(mark) == []  # what was there before the case is not the case's
    with log.open("a") as f:
        f.write("[info] fine\n[error] GenServer #PID<0.2.0> terminating\n** (FunctionClauseError) boom\n")
    crashes = source.since(mark)
    assert [c.excerpt.splitlines()[:2] for c in crashes] == [
        ["[error] GenServer #PID<0.2.0> terminating", "** (FunctionClauseError) boom"]
    ]
    assert crashes[0].source == f"log {log}"
    log.write_text("[error] GenServer #PID<0.3.0> terminating\n")  # rotated: shorter than the mark
    assert len(source.since(mark)) == 1
    many = find_crashes(
        "".join(f"GenServer {i} terminating\n" + "x\n" * 10 for i in range(5)), re.compile(CRASH_PATTERN), "log"
    )
    assert len(many) == 4 and many[-1].excerpt == "... and 2 more crash reports"


# -- the rollup: per-requirement outcomes -----------------------------------------------------------------


def test_a_failed_check_marks_only_the_requirements_it_is_about() -> None:
    quarantined = by_id("server.handshake.quarantined")
    assert quarantined.requirements == ("HS-18", "HS-19", "CONN-7")
    # the field server: quarantined, with both messages, then no close
    assert requirement_outcomes(quarantined, Outcome.FAIL, met={"HS-18", "CONN-7"}, failed=("HS-19",)) == {
        "HS-18": "pass",
        "HS-19": "fail",
        "CONN-7": "pass",
    }
    # a wrong response: the close was never observed
    assert requirement_outcomes(quarantined, Outcome.FAIL, failed=("HS-18", "CONN-7")) == {
        "HS-18": "fail",
        "HS-19": "not_checked",
        "CONN-7": "fail",
    }
    # a check that names nothing (a timeout): every requirement not met yet
    assert requirement_outcomes(quarantined, Outcome.FAIL, met={"HS-18"}) == {
        "HS-18": "pass",
        "HS-19": "fail",
        "CONN-7": "fail",
    }
    malformed = by_id("server.malformed.ping-trailing-bytes")
    assert requirement_outcomes(malformed, Outcome.PASS)["ERR-5"] == "not_checked"  # no observer
    assert requirement_outcomes(malformed, Outcome.PASS, crash_watched=True)["ERR-5"] == "pass"
    assert requirement_outcomes(malformed, Outcome.PASS, crash_watched=True, crash_observed=True) == {
        "ERR-3": "pass",
        "ERR-5": "fail",
        "FRAME-4": "pass",
    }
    # a crash in a case that does not cite ERR-5 still fails ERR-5
    assert requirement_outcomes(by_id("server.handshake.second-request"), Outcome.PASS, crash_observed=True) == {
        "ERR-6": "pass",
        "ERR-5": "fail",
    }


def test_not_checked_is_never_counted_as_exercised() -> None:
    coverage = requirement_coverage(
        [
            ("a", "pass", {"ERR-3": "pass", "ERR-5": "not_checked"}),
            ("b", "pass", {"ERR-5": "not_checked", "LIMIT-1": "pass"}),
            ("c", "fail", {"HS-18": "pass", "HS-19": "fail"}),
        ],
        mode="server",
    )
    outcomes = {rid: e["outcome"] for rid, e in coverage["exercised"].items()}
    assert outcomes == {"ERR-3": "pass", "ERR-5": "not_checked", "LIMIT-1": "pass", "HS-18": "pass", "HS-19": "fail"}
    assert "ERR-5" in coverage["must_not_exercised"] and "HS-18" not in coverage["must_not_exercised"]
    # one case that did observe it outweighs the ones that could not
    again = requirement_coverage(
        [("a", "pass", {"ERR-5": "not_checked"}), ("b", "pass", {"ERR-5": "pass"})], mode="server"
    )
    assert again["exercised"]["ERR-5"]["outcome"] == "pass"


# -- against servers on loopback ----------------------------------------------------------------------------


def test_a_crash_logging_server_fails_err_5_with_the_observer(pki: Path, crash_logging: Logged) -> None:
    address, log = crash_logging
    profile = replace(reference_profile(pki), observe=ObserveSettings(log=log, crash_pattern=CRASH_PATTERN, settle=0.2))
    results = run(MALFORMED, address, profile)
    for case_id in MALFORMED:
        result = results[case_id]
        assert result.outcome is Outcome.FAIL, result.observed
        assert result.observed.startswith("crash observed (ERR-5) in the log ")
        assert result.requirement_outcomes()["ERR-5"] == "fail"
        assert result.requirement_outcomes()["ERR-3"] == "pass"  # it did close without answering
        assert "GenServer" in result.crashes[0]["excerpt"] and "terminating" in result.crashes[0]["excerpt"]


def test_without_the_observer_err_5_is_not_checked_never_passed(pki: Path, crash_logging: Logged) -> None:
    """Before crash observation, this server passed every ERR-5 case and the rollup said ERR-5 passed."""
    address, _ = crash_logging
    results = run(MALFORMED, address, reference_profile(pki))
    assert {r.outcome for r in results.values()} == {Outcome.PASS}  # the wire shows nothing wrong
    assert {r.requirement_outcomes()["ERR-5"] for r in results.values()} == {"not_checked"}
    coverage = requirement_coverage(
        [(r.case.id, r.outcome.value, r.requirement_outcomes()) for r in results.values()], mode="server"
    )
    assert coverage["exercised"]["ERR-5"]["outcome"] == "not_checked"
    assert "ERR-5" in coverage["must_not_exercised"]


def test_the_cli_report_shows_the_crash_on_the_console_json_and_html(
    pki: Path, crash_logging: Logged, tmp_path: Path
) -> None:
    (host, port), log = crash_logging
    profile = reference_profile(pki)
    identities = "\n".join(
        f'[identities.{name}]\ncert = "{i.cert}"\nkey = "{i.key}"\n' for name, i in profile.identities.items()
    )
    path = tmp_path / "observed.toml"
    path.write_text(
        f'name = "crash-logging"\nca = "{profile.ca}"\nkeepalive = {profile.keepalive}\n{identities}'
        f"[observe]\nlog = {json.dumps(str(log))}\ncrash_pattern = {json.dumps(CRASH_PATTERN)}\n"
        "settle = 0.2\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sinkcheck.cli",
            "server",
            f"{host}:{port}",
            "--profile",
            str(path),
            "--cases",
            MALFORMED[0],
            "--json",
            str(tmp_path / "r.json"),
            "--html",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "crash in the log" in done.stdout and "| [error] GenServer" in done.stdout
    assert "fail: ERR-5" in done.stdout
    document = json.loads((tmp_path / "r.json").read_text())
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(document)] == []
    case = document["cases"][0]
    assert case["requirement_outcomes"]["ERR-5"] == "fail" and "terminating" in case["crashes"][0]["excerpt"]
    assert document["requirements"]["exercised"]["ERR-5"]["outcome"] == "fail"
    page = (tmp_path / "r.html").read_text()
    assert '<pre class="crash">[error] GenServer #PID&lt;' in page


def test_quarantined_blames_only_hs_19_and_hs_20_is_tested_after_it(pki: Path, tmp_path: Path) -> None:
    """The field server keeps the connection open and ACKs after `quarantined` (mutant open-after-refusal)."""
    cases = ["server.handshake.quarantined", "server.handshake.nothing-after-quarantined"]
    with reference_server(pki, tmp_path, mutant="open-after-refusal") as address:
        results = run(cases, address, reference_profile(pki))
    quarantined, after = results[cases[0]], results[cases[1]]
    assert quarantined.outcome is Outcome.FAIL
    assert quarantined.requirement_outcomes() == {"HS-18": "pass", "HS-19": "fail", "CONN-7": "pass"}
    assert after.outcome is Outcome.FAIL, after.observed
    assert after.requirement_outcomes()["HS-20"] == "fail" and after.requirement_outcomes()["HS-18"] == "pass"
    assert "instead of closing" in after.observed
    coverage = requirement_coverage(
        [(r.case.id, r.outcome.value, r.requirement_outcomes()) for r in results.values()], mode="server"
    )
    assert {rid: e["outcome"] for rid, e in coverage["exercised"].items()} == {
        "HS-18": "pass",
        "HS-19": "fail",
        "CONN-7": "pass",
        "HS-20": "fail",
    }


def test_reference_passes_the_new_cases_and_ping_before_request(pki: Path, tmp_path: Path) -> None:
    cases = ["server.handshake.nothing-after-quarantined", "server.handshake.ping-before-request"]
    with reference_server(pki, tmp_path) as address:
        results = run(cases, address, reference_profile(pki))
    assert {r.outcome for r in results.values()} == {Outcome.PASS}, {r.case.id: r.observed for r in results.values()}


def test_a_pong_before_the_request_is_non_strict_not_a_must_failure(pki: Path, tmp_path: Path) -> None:
    """PING-3 (SHOULD): the field server's PONG to an early PING is allowed in version 0."""
    case_id = "server.handshake.ping-before-request"
    with reference_server(pki, tmp_path, mutant="quirk-before-handshake") as address:
        result = run([case_id], address, reference_profile(pki))[case_id]
    assert result.outcome is Outcome.NON_STRICT, result.observed
    assert result.requirement_outcomes() == {"PING-3": "non_strict", "ERR-4": "pass"}
    assert "answered the PING with a PONG" in result.observed and "then answered the request with" in result.observed


# -- client mode --exec: exit status and stderr ------------------------------------------------------------


def test_a_started_client_that_dies_on_its_own_is_a_crash_a_stopped_one_is_not(tmp_path: Path) -> None:
    observe = ObserveSettings(crash_pattern=r"Traceback \(most recent call last\)")

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        dies = ExecClient(
            f'{shlex.quote(sys.executable)} -c "import sys; sys.stderr.write('
            f"'Traceback (most recent call last):\\\\n  boom\\\\n'); sys.exit(1)\"",
            host="127.0.0.1",
            port=1,
            log_path=tmp_path / "client.log",
        )
        sources = dies.crash_sources(observe)
        marks = [s.mark() for s in sources]
        await dies.start()
        for _ in range(200):
            if dies.exits:
                break
            await asyncio.sleep(0.05)
        await dies.stop()
        died = [c.excerpt for s, m in zip(sources, marks) for c in s.since(m)]
        sleeps = ExecClient(f'{shlex.quote(sys.executable)} -c "import time; time.sleep(30)"', host="h", port=1)
        quiet = sleeps.crash_sources(observe)
        marks = [s.mark() for s in quiet]
        await sleeps.start()
        await sleeps.stop()  # the runner's own kill: not a crash
        stopped = [c.excerpt for s, m in zip(quiet, marks) for c in s.since(m)]
        ok = ExecClient(f'{shlex.quote(sys.executable)} -c "import sys; sys.exit(3)"', host="h", port=1)
        allowed = ok.crash_sources(ObserveSettings(exit_ok=(0, 3)))
        marks = [s.mark() for s in allowed]
        await ok.start()
        for _ in range(200):
            if ok.exits:
                break
            await asyncio.sleep(0.05)
        await ok.stop()
        return died, stopped, [c.excerpt for s, m in zip(allowed, marks) for c in s.since(m)]

    died, stopped, allowed = asyncio.run(scenario())
    assert len(died) == 2, died
    assert died[0].startswith("the client exited on its own (exit status 1)") and "boom" in died[0]
    assert died[1].startswith("Traceback (most recent call last):")  # the crash pattern, on its stderr
    assert stopped == [] and allowed == []
    assert "boom" in (tmp_path / "client.log").read_text()  # --client-log still gets its stderr


# -- fuzz mode and the matrix --------------------------------------------------------------------------------


def test_fuzz_counts_a_logged_crash_as_a_finding_shrinks_and_replays_it(pki: Path, tmp_path: Path) -> None:
    from sinkcheck.fuzz import FuzzSettings, Target, finding_document, replay, run_fuzz

    profile, extra = observed_profile(reference_profile(pki), tmp_path, "fuzz")
    settings = FuzzSettings(seed=1, duration=5.0, shrink_time=30.0)
    with reference_server(pki, tmp_path, mutant="crash-logging", extra=extra) as (host, port):
        target = Target(host, port, profile, settings)
        finding, _ = run_fuzz(target, settings, say=lambda text: None)
        assert finding is not None
        assert finding.failure.startswith("crash observed (ERR-5) in the log ")
        assert finding.reproduced and finding.shrunk
        sent = [s for s in finding.steps if s["direction"] == "sent"]
        assert len(finding.sessions) == 1 and len(sent) <= 3, finding.steps
        document = json.loads(json.dumps(finding_document(finding, seed=1, target=target, settings=settings)))
        again = replay(Target(host, port, profile, settings), document)
        assert again is not None and again.startswith("crash observed (ERR-5)")
        # without the observer the same server gives no finding on replay: it still serves
        assert replay(Target(host, port, reference_profile(pki), settings), document) is None


def test_a_matrix_fault_cell_with_a_crash_fails(pki: Path) -> None:
    from sinkcheck.matrix import _fault_cell

    case = by_id(MALFORMED[0])
    result = CaseResult(
        case,
        Outcome.FAIL,
        "crash observed (ERR-5) in the log x: boom",
        0.1,
        crashes=[{"source": "log x", "excerpt": "boom"}],
    )
    cell = asyncio.run(
        _fault_cell(
            case, "reset", result, [], host="127.0.0.1", port=1, profile=reference_profile(pki), state=None, scale=1.0
        )
    )  # type: ignore[arg-type]
    assert cell.outcome is Outcome.FAIL and "crash observed" in cell.observed


def test_client_mode_fails_a_case_on_a_crash_report_on_the_clients_stderr(pki: Path, tmp_path: Path) -> None:
    """The wiring: client mode with --exec reads the client's stderr with [observe] crash_pattern."""
    from sinkcheck.client_mode import run_client_cases
    from sinkcheck.selftest import client_profile

    base = client_profile(pki, tmp_path)
    assert base.client.exec is not None
    crashing = (
        "sh -c "
        + shlex.quote(
            "echo '[error] GenServer #PID<0.9.0> terminating' >&2; exec "
            + base.client.exec.replace("{host}", "$0").replace("{port}", "$1")
        )
        + " {host} {port}"
    )
    case_id = "client.handshake.request-first"
    cases = [c for c in catalogue() if c.id == case_id]
    results = {}
    for name, observe in (("observed", ObserveSettings(crash_pattern=CRASH_PATTERN)), ("not observed", None)):
        profile = replace(base, client=replace(base.client, exec=crashing), observe=observe)
        [results[name]] = asyncio.run(run_client_cases(cases, listen=("127.0.0.1", 0), profile=profile))
    observed, plain = results["observed"], results["not observed"]
    assert observed.outcome is Outcome.FAIL and observed.observed.startswith(
        "crash observed (ERR-5) in the client stderr"
    )
    assert observed.requirement_outcomes()["ERR-5"] == "fail" and observed.requirement_outcomes()["HS-1"] == "pass"
    assert plain.outcome is Outcome.PASS and "ERR-5" not in plain.requirement_outcomes()


def test_client_rollup_blames_only_what_the_failed_check_is_about(pki: Path, tmp_path: Path) -> None:
    from sinkcheck.client_mode import run_client_cases
    from sinkcheck.selftest import client_profile

    case_id = "client.handshake.stores-server-instance-id"
    cases = [c for c in catalogue() if c.id == case_id]
    [result] = asyncio.run(
        run_client_cases(
            cases, listen=("127.0.0.1", 0), profile=client_profile(pki, tmp_path, mutant="forgets-server-id")
        )
    )
    assert result.outcome is Outcome.FAIL, result.observed
    # it forgot the server id (HS-13, HS-14); whether it keeps its own id was never reached
    assert result.requirement_outcomes() == {"HS-13": "fail", "HS-14": "fail", "HS-5": "not_checked"}


def test_a_failure_after_the_handshake_does_not_blame_the_handshake(pki: Path, tmp_path: Path) -> None:
    """known-client against a server that never PONGs: connected was right (HS-9, CONN-6); PING-1 broke."""
    case_id = "server.handshake.known-client"
    with reference_server(pki, tmp_path, mutant="no-pong") as address:
        result = run([case_id], address, reference_profile(pki))[case_id]
    assert result.outcome is Outcome.FAIL
    assert result.requirement_outcomes() == {"HS-9": "pass", "CONN-6": "pass", "PING-1": "fail"}


@pytest.fixture(scope="module")
def crash_logging_v1(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    """The crash-logging-v1 mutant (a version-1 server that crashes on malformed input: no CLOSE), and its log."""
    workdir = tmp_path_factory.mktemp("crash-logging-v1")
    profile, extra = observed_profile(reference_profile(pki), workdir, "crash-logging-v1")
    assert profile.observe is not None and profile.observe.log is not None
    with reference_server(pki, workdir, mutant="crash-logging-v1", extra=extra) as address:
        yield address, profile.observe.log


@covers("CLOSE-6")
def test_on_version_1_a_crash_is_visible_on_the_wire_and_in_the_log(pki: Path, crash_logging_v1: Logged) -> None:
    address, log = crash_logging_v1
    case_id = "server.v1.close.after-malformed"
    # the wire alone: closed without CLOSE after malformed input (CLOSE-6), which version 0 could not tell
    (wire_only,) = run([case_id], address, reference_profile(pki)).values()
    assert wire_only.outcome is Outcome.FAIL and "closed without a CLOSE" in wire_only.observed, wire_only.observed
    assert wire_only.requirement_outcomes()["CLOSE-6"] == "fail"
    # with the crash observer, the crash report in its log too
    profile = replace(reference_profile(pki), observe=ObserveSettings(log=log, crash_pattern=CRASH_PATTERN, settle=0.2))
    (observed,) = run([case_id], address, profile).values()
    assert observed.outcome is Outcome.FAIL
    assert observed.requirement_outcomes()["ERR-5"] == "fail"
    assert observed.requirement_outcomes()["CLOSE-6"] == "fail"
    assert "GenServer" in observed.crashes[0]["excerpt"]
