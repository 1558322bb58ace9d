#!/usr/bin/env python3
"""Benchmark: `sink-check load` with 1,000 concurrent mutual-TLS clients against `sink serve`.

    python conformance/benchmarks/load_reference.py                 # 1,000 clients, 200 PUBLISH/s, 20 s
    python conformance/benchmarks/load_reference.py --clients 1000 --rate 400 --duration 30

It makes a dev PKI in a temporary folder, starts the reference server in a
subprocess on a free loopback port, mints one client certificate per client
and runs load mode, printing its figures (and the JSON report's path); load
mode reads the server's store afterwards (``--reference-store``) and reports
which published events it stored. Not a
test: the figures depend on the machine; docs/conformance/load-mode.md keeps
the ones measured on the reference machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--drain", type=float, default=5.0, help="seconds without a new answer that end the drain")
    parser.add_argument("--workdir", type=Path, help="keep the PKI, minted identities, store and report here")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sink-load-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pki = workdir / "pki"
    subprocess.run(
        [sys.executable, "-m", "sinktools.cli", "certs", "--out", str(pki)], check=True, stdout=subprocess.DEVNULL
    )
    started = time.monotonic()
    from sinkcheck.load_mode import mint_identities

    mint_identities(pki / "ca.pem", pki / "ca.key", args.clients, workdir / "identities")
    print(f"minted {args.clients} client certificates in {time.monotonic() - started:.1f} s", flush=True)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sinktools.cli",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--certs",
            str(pki),
            "--db",
            str(workdir / "server.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=(workdir / "server.log").open("w"),
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"listening on ([\d.]+):(\d+)", line)
        if not match:
            print(f"the server did not start: {line!r}", file=sys.stderr)
            return 2
        report = workdir / "load-report.json"
        code = subprocess.call(
            [
                sys.executable,
                "-m",
                "sinkcheck.cli",
                "load",
                "server",
                f"{match.group(1)}:{match.group(2)}",
                "--ca",
                str(pki / "ca.pem"),
                "--identities",
                str(workdir / "identities"),
                "--mint-ca-key",
                str(pki / "ca.key"),
                "--clients",
                str(args.clients),
                "--rate",
                str(args.rate),
                "--duration",
                str(args.duration),
                "--drain",
                str(args.drain),
                "--reference-store",
                str(workdir / "server.db"),
                "--json",
                str(report),
            ]
        )
        print(f"report: {report}; cpus: {os.cpu_count()}")
        return code
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    sys.exit(main())
