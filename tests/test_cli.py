"""The command lines as a person meets them: help, exit statuses, a closed pipe, refusals, dead letters, certificates.

The peers run as real subprocesses (`sink serve`, `sink connect`, `sink publish`) on loopback.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sinkcheck.cli
import sinktools.cli
from sinkproto.certs import make_dev_pki
from sinkproto.store import EventStore
from sinktest import ROOT, covers
from sinktools.cli import main as sink_main
from sinktools.clihelp import COMMON_EXIT_CODES, HelpFormatter, commands, exit_codes_markdown

TOOLS = {
    "sink": (sinktools.cli.build_parser, sinktools.cli.EXIT_CODES, ROOT / "docs" / "tools" / "cli.md"),
    "sink-check": (sinkcheck.cli.build_parser, sinkcheck.cli.EXIT_CODES, ROOT / "docs" / "conformance" / "reports.md"),
}
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


# ---------------------------------------------------------------- help and exit statuses


@pytest.mark.parametrize("tool", TOOLS)
def test_every_option_of_every_command_has_help_and_every_command_its_exit_statuses(tool: str) -> None:
    build, table, _page = TOOLS[tool]
    parser = build()
    found = {" ".join(path): command for path, command in commands(parser)}
    assert set(found) == set(table) - {""}, "EXIT_CODES and the commands disagree"
    for path, command in found.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = "/".join(action.option_strings) or action.dest
            assert action.help, f"{tool} {path}: {name} has no help text"
            shown = command._get_formatter()._get_help_string(action) or ""
            plain_default = action.default not in (None, argparse.SUPPRESS, [], ()) and not isinstance(
                action.default, bool
            )
            if action.option_strings and plain_default:
                assert "default" in shown, f"{tool} {path}: {name} does not show its default {action.default!r}"
        assert isinstance(command._get_formatter(), HelpFormatter)
        text = command.format_help()
        statuses = text[text.index("exit status:") :]
        for code, _ in (*table[path], *COMMON_EXIT_CODES):
            assert re.search(rf"^  {code}\s", statuses, re.M), f"{tool} {path}: exit status {code} not in --help"
    # The tool's own help describes it (not "vectors and debugging tools").
    assert "vectors and debugging tools" not in parser.format_help()


@pytest.mark.parametrize("tool", TOOLS)
def test_the_docs_show_the_exit_statuses_the_code_has(tool: str) -> None:
    _build, table, page = TOOLS[tool]
    region = re.search(
        r"<!-- exit-codes:start -->\n(.*?)\n<!-- exit-codes:end -->", page.read_text(encoding="utf-8"), re.S
    )
    assert region is not None, f"{page} has no exit-codes region"
    assert region[1] == exit_codes_markdown(tool, table), f"regenerate the table on {page} from {tool}'s EXIT_CODES"


def test_a_closed_pipe_ends_a_command_quietly(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    with EventStore.open(db, new_instance_id=lambda: 7) as store:
        for offset in range(300):
            store.append(event_type_id=1 + offset % 40, key=b"k", schema_version=1, timestamp=1, event_data=b"x")
        for peer in range(60):  # 60 peers x 40 types: far more than a pipe holds, so the writer meets the close
            store.subscribe(f"peer-{peer}")
    process = subprocess.Popen(
        [sys.executable, "-m", "sinktools.cli", "status", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()  # `| head -1`
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(30) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


# ---------------------------------------------------------------- sink certs, sink dead-letters retry


def test_certs_say_what_they_created_and_what_they_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "certs"
    assert sink_main(["certs", "--out", str(out), "--client", "a"]) == 0
    first = capsys.readouterr().out
    assert re.search(r"^CA: .*ca\.pem  created$", first, re.M) and "3 certificates written, 0 kept" in first
    assert sink_main(["certs", "--out", str(out), "--client", "a", "--client", "b"]) == 0
    second = capsys.readouterr().out
    assert re.search(r"^CA: .*ca\.pem  kept \(it existed\)$", second, re.M)
    assert re.search(r"^server: .*  kept \(it existed\)$", second, re.M)
    assert re.search(r"client-a\.pem .* issued again by the CA$", second, re.M)
    assert re.search(r"client-b\.pem .* created$", second, re.M)
    assert "2 certificates written, 2 kept" in second


def test_dead_letters_retry_takes_a_key_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "gw.db"
    with EventStore.open(db, new_instance_id=lambda: 7) as store:
        poison = store.append(event_type_id=1, key=b"poison-1", schema_version=1, timestamp=1, event_data=b"x")
        other = store.append(event_type_id=1, key=b"fine-1", schema_version=1, timestamp=1, event_data=b"x")
        store.subscribe("cloud")
        for event in (poison, other):
            store.mark_nacked("cloud", event, machine_message=b"POISON", human_message=b"no", nacked_at=1.0)
    assert sink_main(["dead-letters", "retry", "--db", str(db), "--key", "poison-1"]) == 0
    assert "1 event pending again" in capsys.readouterr().out
    with EventStore.open(db, new_instance_id=lambda: 7) as store:
        assert [d.event.key for d in store.dead_letters("cloud")] == [b"fine-1"]
    assert sink_main(["dead-letters", "retry", "--db", str(db)]) == 2
    assert "--event-type, --key, --offset or --machine-message" in capsys.readouterr().err


# ---------------------------------------------------------------- the peers


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("certs")
    make_dev_pki(folder, ["gw-1", "meter-gw-1", "q-1"])
    return folder


@contextmanager
def serve(certs: Path, db: Path, *options: str) -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sinktools.cli",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--certs",
            str(certs),
            "--db",
            str(db),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )
    try:
        assert process.stdout is not None
        found = re.search(r"listening on ([\d.]+:\d+)", process.stdout.readline())
        assert found, "sink serve did not start"
        yield found[1]
    finally:
        process.terminate()
        process.wait(10)


def sink(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sinktools.cli", *argv], capture_output=True, text=True, timeout=timeout, env=ENV
    )


@covers("HS-16", "HS-17")
def test_connect_stops_after_instance_id_mismatch_with_a_hint_and_status_shows_it(certs: Path, tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    with serve(certs, tmp_path / "server.db") as address:
        first = sink(
            "publish",
            "--server",
            address,
            "--certs",
            str(certs),
            "--name",
            "gw-1",
            "--db",
            str(db),
            "--event-type",
            "1",
            "--key",
            "m-1",
            "--data",
            "r",
            "--count",
            "3",
        )
        assert first.returncode == 0, first.stderr
        # The same store under another client identity: the server knows that identity by no instance id
        # while the store sends the server's id: a mismatch (README's gw.db reused by first-sync's meter-gw-1).
        again = sink("connect", "--server", address, "--certs", str(certs), "--name", "meter-gw-1", "--db", str(db))
    assert again.returncode == 3, again.stderr
    reported = [line for line in again.stderr.splitlines() if "refused the connection" in line]
    assert reported == ["sink: the server refused the connection: instance_id_mismatch"]
    assert "use a new --db" in again.stderr and "stopped (exit 3)" in again.stderr
    assert again.stderr.count("handshake refused") == 1  # one attempt: stopped, not retried every 0.5 s
    assert "None" not in again.stderr  # no human_message=None
    status = sink("status", "--db", str(db))
    assert re.search(r"REFUSED \S+: instance_id_mismatch; this database is bound to another", status.stdout), (
        status.stdout
    )
    with EventStore.open(db, new_instance_id=lambda: 0) as store:
        refusal = store.status().peers[0].last_refusal
    assert refusal is not None and refusal.response == "instance_id_mismatch"


@covers("HS-17", "DELIV-9")
def test_a_quarantined_client_reports_each_refused_attempt_once(certs: Path, tmp_path: Path) -> None:
    with serve(certs, tmp_path / "server.db", "--quarantine", "q-1:under maintenance") as address:
        synced = sink(
            "connect",
            "--server",
            address,
            "--certs",
            str(certs),
            "--name",
            "q-1",
            "--db",
            str(tmp_path / "a.db"),
            "--until-synced",
        )
        assert synced.returncode == 3
        assert "refused the connection: quarantined (QUARANTINED: under maintenance)" in synced.stderr
        assert "only they can lift it" in synced.stderr
        # Without --until-synced it keeps trying with its backoff (50 ms, 1 s, ...): one line per attempt, not
        # one per 0.5 s tick of its loop; a refusal never resets the delay.
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sinktools.cli",
                "connect",
                "--server",
                address,
                "--certs",
                str(certs),
                "--name",
                "q-1",
                "--db",
                str(tmp_path / "b.db"),
            ],
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        watchdog = threading.Timer(120, process.kill)  # a broken client must not hang the suite
        watchdog.start()
        try:
            assert process.stderr is not None
            seen: list[str] = []
            # four refused attempts: at once, then after about 50 ms, 1 s and 5 s (the next one is 30 s away)
            while sum(line.startswith("sink: the server refused") for line in seen) < 4:
                seen.append(process.stderr.readline())
                assert seen[-1], "".join(seen)
            process.send_signal(signal.SIGINT)
            _, rest = process.communicate(timeout=60)
        finally:
            watchdog.cancel()
    err = "".join(seen) + rest
    assert process.returncode == 130 and "Traceback" not in err, err
    attempts = err.count("WARNING sinkproto.client handshake refused")
    lines = [line for line in err.splitlines() if line.startswith("sink: the server refused the connection")]
    # one line per refused attempt, not one per 0.5 s of the command's loop (that made 11 lines in 6 s)
    assert len(lines) == attempts == 4, err
    assert lines[1].endswith("(refusal 2 of this run)")
    assert err.count("retrying with a growing delay") == 1


@covers("CLOSE-4", "CLOSE-9", "CLOSE-10")
def test_a_quarantined_version_1_client_prints_the_servers_close_with_its_retry_after(
    certs: Path, tmp_path: Path
) -> None:
    options = ("--quarantine", "q-1:under maintenance", "--retry-after", "600")
    with serve(certs, tmp_path / "server.db", *options) as address:
        common = ["--server", address, "--certs", str(certs), "--name", "q-1", "--until-synced"]
        synced = sink("connect", *common, "--protocol-version", "1", "--db", str(tmp_path / "a.db"))
        old = sink("connect", *common, "--db", str(tmp_path / "b.db"))
    assert synced.returncode == 3, synced.stderr
    assert (
        "sink: the server closed the connection: handshake_refused [HS-18] (under maintenance); "
        "not reconnecting for 600 s (CLOSE-9)"
    ) in synced.stderr, synced.stderr
    assert "server closed" in synced.stderr and "retry_after=600" in synced.stderr  # the logfmt line
    assert old.returncode == 3 and "closed the connection" not in old.stderr  # version 0 has no CLOSE


@covers("DECL-1", "KEEP-8")
def test_both_peers_declare_the_constrained_profile_and_sync(certs: Path, tmp_path: Path) -> None:
    options = ("--declare-limits", "constrained", "--keepalive", "30")
    with serve(certs, tmp_path / "server.db", *options) as address:
        synced = sink(
            "connect",
            *("--server", address, "--certs", str(certs), "--name", "gw-1", "--db", str(tmp_path / "c.db")),
            *("--protocol-version", "1", "--declare-limits", "constrained", "--publish", "3", "--until-synced"),
        )
    assert synced.returncode == 0 and "sink: synced" in synced.stdout, synced.stderr


def test_serve_refuses_a_retry_after_outside_1_to_86400(tmp_path: Path) -> None:
    for bad in ("0", "86401", "soon"):
        result = sink("serve", "--db", str(tmp_path / "s.db"), "--retry-after", bad)
        assert result.returncode == 2 and "--retry-after" in result.stderr, result.stderr


def test_publish_counts_the_dead_letters_of_this_run(certs: Path, tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    common = ["--certs", str(certs), "--name", "gw-1", "--db", str(db), "--event-type", "1", "--data", "r"]
    with serve(certs, tmp_path / "server.db", "--nack-key-prefix", "poison") as address:
        first = sink("publish", "--server", address, "--key", "poison-1", *common)
        second = sink("publish", "--server", address, "--key", "fine-1", *common)
        third = sink("publish", "--server", address, "--key", "poison-2", *common)
    assert "sink: synced; 1 new dead letter; see `sink dead-letters list" in first.stdout, first.stdout
    assert "sink: synced; 0 new dead letters (1 from earlier runs)" in second.stdout, second.stdout
    assert "sink: synced; 1 new dead letter (1 from earlier runs)" in third.stdout, third.stdout


@covers("VER-2", "HS-21")
def test_a_version_1_client_falling_back_is_not_stopped_as_refused(certs: Path, tmp_path: Path) -> None:
    with serve(certs, tmp_path / "server.db", "--protocol-version", "0") as address:
        done = sink(
            "connect",
            "--server",
            address,
            "--certs",
            str(certs),
            "--name",
            "gw-1",
            "--db",
            str(tmp_path / "gw.db"),
            "--protocol-version",
            "1",
            "--publish",
            "2",
            "--until-synced",
        )
    assert done.returncode == 0, done.stderr
    assert "refused protocol version 1 (unsupported_protocol_version); fell back to version 0" in done.stdout
    assert "refused the connection" not in done.stderr
