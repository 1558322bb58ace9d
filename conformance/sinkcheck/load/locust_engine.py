"""``sink-check load server --engine locust``: the load scenario run by Locust's runner, one report.

This module never imports Locust (it monkeypatches with gevent): it writes the scenario to a
settings file, starts Locust as subprocesses with :mod:`.locust_user` as the locustfile, and
turns the results file the master writes (every user's per-identity counts, sent to the master
as custom messages, and Locust's own statistics) into the one
:class:`~sinkcheck.load_mode.LoadResult`, aggregated over all workers.

Roles: ``local`` runs headless on this machine, in one process or (``workers``) a master and
that many worker processes; ``master`` waits for ``workers`` workers from other machines;
``worker`` connects to ``master_host`` and only loads (the master writes the report).
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..profile import Profile
from .report import IdentityCounts, LoadCommand, LoadResult, check_store, note_skipped

__all__ = ["LOCUSTFILE", "run_locust", "result_from"]

LOCUSTFILE = Path(__file__).with_name("locust_user.py")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _settings_file(command: LoadCommand, profile: Profile, folder: Path, workers: int) -> Path:
    s = command.settings
    host, port = command.target
    assert profile.ca is not None
    identities = command.identities or folder / "identities"
    scenario = {
        "host": host,
        "port": port,
        "ca": str(profile.ca),
        "server_hostname": profile.server_hostname,
        "app_version": profile.app_version.hex(),
        "keepalive": profile.keepalive,
        "clients": s.clients,
        "rate": s.rate,
        "duration": s.duration,
        "drain": s.drain,
        "drain_max": s.drain_max,
        "connect_timeout": s.connect_timeout,
        "connect_concurrency": s.connect_concurrency,
        "event_size": s.event_size,
        "seed": s.seed,
        "batch": s.batch,
        "identities": str(identities),
        "mint_ca_key": str(command.mint_ca_key) if command.mint_ca_key else None,
        "mint_ca_cert": str(command.mint_ca_cert or profile.ca),
        "workers": max(1, workers),
        "run_tag": f"{int(time.time()) % 100000:05d}-{random.Random().randrange(1 << 16):04x}",
        "results": str(folder / "results.json"),
    }
    path = folder / "settings.json"
    path.write_text(json.dumps(scenario))
    return path


def _locust(*args: str | int | float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--loglevel",
        "WARNING",
        "--skip-log-setup",
        *map(str, args),
    ]


def run_locust(
    command: LoadCommand, profile: Profile, *, store: Path | None, progress: Callable[[str], None]
) -> LoadResult | int:
    """Run the scenario under Locust; a worker returns its exit status, the others the aggregated result."""
    options, s = command.locust, command.settings
    folder = Path(tempfile.mkdtemp(prefix="sink-load-locust-"))
    workers = options.workers if options.role != "worker" else 1
    settings = _settings_file(command, profile, folder, workers)
    env = {**os.environ, "SINK_LOAD_SETTINGS": str(settings), "PYTHONUNBUFFERED": "1"}
    log = (folder / "locust.log").open("w")
    if options.role == "worker":
        progress(f"locust worker: connecting to the master at {options.master_host}:{options.master_port}")
        code = subprocess.call(
            _locust("--worker", "--master-host", options.master_host, "--master-port", options.master_port),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        progress(f"locust worker: done (exit {code}); the master writes the report (log: {folder / 'locust.log'})")
        return code
    # the hard stop: ramp-up, publishing, the longest drain and a margin; the master quits sooner, once every
    # user has sent its counts
    ramp = s.clients / max(1, s.connect_concurrency)
    run_time = int(ramp + s.connect_timeout + s.duration + s.drain_max + 30)
    common = ("--headless", "-u", s.clients, "-r", s.connect_concurrency, "--run-time", f"{run_time}s")
    started = time.monotonic()
    spawned: list[subprocess.Popen[bytes]] = []
    try:
        if options.role == "local" and options.workers == 0:
            main = subprocess.Popen(_locust(*common), env=env, stdout=log, stderr=subprocess.STDOUT)
        else:
            port = options.master_port if options.role == "master" else _free_port()
            bind = options.bind_host if options.role == "master" else "127.0.0.1"
            main = subprocess.Popen(
                _locust(
                    *common,
                    "--master",
                    "--expect-workers",
                    max(1, options.workers),
                    "--master-bind-host",
                    bind,
                    "--master-bind-port",
                    port,
                ),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            if options.role == "local":
                for _ in range(options.workers):
                    spawned.append(
                        subprocess.Popen(
                            _locust("--worker", "--master-host", "127.0.0.1", "--master-port", port),
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
            else:
                progress(f"locust master: waiting for {options.workers} workers on port {port}")
        main.wait(timeout=run_time + 60)
        for worker in spawned:
            worker.wait(timeout=30)
    finally:
        for process in (*spawned, *([main] if "main" in locals() else [])):
            if process.poll() is None:
                process.kill()
                process.wait()
        log.close()
    results = folder / "results.json"
    if not results.exists():
        raise RuntimeError(f"Locust wrote no results; its log: {folder / 'locust.log'}")
    result = result_from(json.loads(results.read_text()), clients=s.clients, workers=max(1, workers))
    result.publish_seconds = min(s.duration, time.monotonic() - started)
    progress(f"locust: {result.connected}/{s.clients} users connected; log {folder / 'locust.log'}")
    if store is not None:
        result.store = check_store(store, result.identities)
    return result


def result_from(data: dict[str, Any], *, clients: int, workers: int) -> LoadResult:
    """The one load result from every user's counts (the master's results file)."""
    result = LoadResult(clients=clients, engine="locust", workers=workers)
    users = data["users"]
    first = min((u["first_publish"] for u in users if u["first_publish"]), default=0.0)
    last = max((u["last_answer"] for u in users), default=0.0)
    for user in users:
        result.connected += user["connected"]
        if user["handshake_seconds"] is not None:
            result.handshake_latencies.append(user["handshake_seconds"])
        result.published += user["published"]
        result.acked += len(user["acked"])
        result.nacked += user["nacked"]
        result.latencies.extend(user["latencies"])
        result.unanswered += len(user["unanswered"])
        result.duplicates += user["duplicates"]
        result.reconnects += user["reconnects"]
        result.closed_by_server += user["closed_by_server"]
        for kind, count in user["errors"].items():
            result.errors[kind] += count
            result.error_examples.setdefault(kind, user["examples"].get(kind, ""))
        result.identities.append(
            IdentityCounts(
                key=user["key"].encode(),
                published=user["published"],
                acked=user["acked"],
                unanswered=user["unanswered"],
            )
        )
    result.connect_seconds = max(result.handshake_latencies, default=0.0)
    result.drain_seconds = max((user["drain_seconds"] for user in users), default=0.0)
    if len(users) < clients:
        result.error("not_reported", f"{clients - len(users)} users sent no counts before Locust stopped")
    # throughput: the first PUBLISH to the last answer, over all workers (wall clocks: keep them in sync)
    result.publish_started, result.last_answer = 0.0, max(0.0, last - first)
    per_worker = Counter(str(user["worker"]) for user in users)
    result.engine_stats = {
        "requests": data["stats"],
        "failures": data["failures"],
        "users_per_worker": dict(sorted(per_worker.items())),
    }
    note_skipped(result)
    return result
