"""End to end with the real commands: `sink serve` and a `sink publish` client SIGKILLed mid-sync.

Nothing the server ACKed may be lost, nothing unACKed may be missing after the
client restarts, and the server stores every event exactly once (DELIV-1, DELIV-2).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sinkproto.certs import make_dev_pki
from sinkproto.store import EventStore
from sinktest import covers

SINK = [sys.executable, "-m", "sinktools.cli"]
EVENTS = 3000


def _start_server(tmp: Path) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [*SINK, "serve", "--listen", "127.0.0.1:0", "--certs", str(tmp / "pki"), "--db", str(tmp / "server.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert server.stdout is not None
    match = re.search(r"listening on [\d.]+:(\d+)", server.stdout.readline())
    assert match, "server did not start"
    return server, int(match.group(1))


def _open(path: Path) -> EventStore:
    return EventStore.open(path, new_instance_id=lambda: 1)


@covers("DELIV-1", "DELIV-2", "MSGID-9", "MSGID-13", "HS-13", "HS-14")
def _received_count(path: Path) -> int:
    with _open(path) as store:
        return len(store.received("gw"))


@pytest.mark.parametrize("kill_at", [0.1, 0.6])
def test_client_killed_mid_sync_loses_nothing(tmp_path: Path, kill_at: float) -> None:
    make_dev_pki(tmp_path / "pki", ["gw"])
    server, port = _start_server(tmp_path)
    client_db = tmp_path / "gw.db"
    common = ["--server", f"127.0.0.1:{port}", "--certs", str(tmp_path / "pki"), "--name", "gw", "--db", str(client_db)]
    try:
        client = subprocess.Popen(
            [
                *SINK,
                "publish",
                *common,
                "--event-type",
                "1",
                "--key",
                "SM5R-000123",
                "--data",
                "reading",
                "--count",
                str(EVENTS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert client.stdout is not None
        assert "appended" in client.stdout.readline()  # the events are durable in the client's log
        # Kill once the server holds a given share of the events: mid-sync by
        # construction, whatever the machine's speed.
        deadline = time.monotonic() + 60
        while _received_count(tmp_path / "server.db") < kill_at * EVENTS and time.monotonic() < deadline:
            time.sleep(0.01)
        client.send_signal(signal.SIGKILL)
        client.wait(10)

        with _open(client_db) as store, _open(tmp_path / "server.db") as server_store:
            peer = f"127.0.0.1:{port}"
            pending_after_kill = {e.dedupe_key for e in store.pending(peer)}
            received = {e.dedupe_key for _, e in server_store.received("gw")}
        # mid-sync: the server holds some events and the client still has some to deliver
        assert received and pending_after_kill, "the kill should land mid-sync"
        # Everything the client recorded as ACKed is on the server (nothing acknowledged is lost) ...
        all_keys = {(1, b"SM5R-000123", offset) for offset in range(1, EVENTS + 1)}
        assert all_keys - pending_after_kill <= received

        # ... and a restarted client delivers the rest; the server keeps one copy of each.
        restarted = subprocess.run(
            [*SINK, "connect", *common, "--until-synced"], capture_output=True, text=True, timeout=120
        )
        assert restarted.returncode == 0, restarted.stderr
        with _open(client_db) as store, _open(tmp_path / "server.db") as server_store:
            assert store.pending(peer) == []
            stored = [e for _, e in server_store.received("gw")]
        assert len(stored) == EVENTS and {e.dedupe_key for e in stored} == all_keys
    finally:
        server.terminate()
        server.wait(10)
