#!/usr/bin/env python3
"""Benchmark: the load mode's two engines side by side, per load process, against `sink serve`.

    python conformance/benchmarks/load_engines.py                  # 1,000 connections, 1 event/s each, 20 s
    python conformance/benchmarks/load_engines.py --clients 500 --duration 10

For each engine (asyncio: the one sink-check process; locust: a master and ONE worker process, so
the figures are per worker) it starts a fresh reference server on loopback, runs `sink-check load`
with N connections publishing 1 event/s each, and samples the resident memory of the load processes.
A second run with 10 connections gives each engine's baseline, so the memory per connection is
(peak RSS at N - peak RSS at 10) / (N - 10) of the largest load process. Prints one table: connections
held, events per second, p50/p99 ACK latency, events never ACKed, memory per connection. The goal
(issue #23): 1,000 mutual-TLS connections per worker process at 1 event/s each, p99 ACK latency
under 1 s. Not a test: the figures depend on the machine (docs/conformance/load-across-machines.md
keeps the ones measured on the reference machine).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil  # Locust's dependency


def _server(pki: Path, db: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "sinktools.cli", "serve", "--listen", "127.0.0.1:0", "--certs", str(pki)]
        + ["--db", str(db), "--keepalive", "60"],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert server.stdout is not None
    match = re.search(r"listening on ([\d.]+):(\d+)", server.stdout.readline())
    if not match:
        server.kill()
        raise SystemExit("the server did not start")
    return server, f"{match.group(1)}:{match.group(2)}"


def _run(engine: str, clients: int, per_connection: float, duration: float, workdir: Path) -> dict[str, Any]:
    pki = workdir / "pki"
    run = workdir / f"{engine}-{clients}"
    run.mkdir(exist_ok=True)
    server, address = _server(pki, run / "server.db", run / "server.log")
    profile = run / "profile.toml"
    profile.write_text(f'name = "bench"\nca = "{pki / "ca.pem"}"\nkeepalive = 60\n')
    command = [sys.executable, "-m", "sinkcheck.cli", "load", "server", address, "--profile", str(profile)]
    command += ["--mint-ca-key", str(pki / "ca.key"), "--identities", str(workdir / f"ids-{engine}")]
    command += ["--clients", str(clients), "--rate", str(clients * per_connection), "--duration", str(duration)]
    command += ["--drain", "5"]
    command += ["--reference-store", str(run / "server.db"), "--json", str(run / "report.json")]
    if engine == "locust":
        command += ["--engine", "locust", "--workers", "1"]
    peak = 0
    try:
        load = psutil.Popen(command, stdout=(run / "load.log").open("w"), stderr=subprocess.STDOUT)
        while load.poll() is None:
            try:
                tree = [load, *load.children(recursive=True)]
                peak = max([peak, *(p.memory_info().rss for p in tree if p.is_running())])
            except psutil.Error:
                pass
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(30)
    report = json.loads((run / "report.json").read_text())
    return {"report": report, "peak_rss": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="connections per load process (default 1000)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of publishing")
    parser.add_argument("--per-connection", type=float, default=1.0, help="events per second per connection (1)")
    parser.add_argument("--workdir", type=Path, help="keep the PKI, identities, stores and reports here")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sink-load-engines-"))
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "sinktools.cli", "certs", "--out", str(workdir / "pki")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    rows = []
    for engine in ("asyncio", "locust"):
        base = _run(engine, 10, args.per_connection, 3, workdir)
        full = _run(engine, args.clients, args.per_connection, args.duration, workdir)
        r = full["report"]
        per_connection = (full["peak_rss"] - base["peak_rss"]) / max(1, args.clients - 10)
        rows.append(
            (
                engine,
                f"{r['clients']['connected']}/{args.clients}",
                f"{r['throughput']:.0f}",
                f"{r['ack_latency_ms']['p50']}",
                f"{r['ack_latency_ms']['p99']}",
                f"{r['never_acked']['count']}",
                f"{r['store']['stored']}/{r['store']['published']}" if r["store"] else "-",
                f"{full['peak_rss'] / 2**20:.0f}",
                f"{per_connection / 1024:.0f}",
                r["verdict"],
            )
        )
    header = ("engine", "connections", "events/s", "p50 ms", "p99 ms", "never ACKed", "stored", "RSS MiB", "KiB/conn")
    table = [(*header, "verdict"), *rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    print(
        f"per load process (locust: one worker); {args.per_connection:g} event/s per connection; "
        f"cpus: {os.cpu_count()}; {workdir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
