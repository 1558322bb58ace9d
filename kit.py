#!/usr/bin/env python3
"""One entry point for people and CI: sets up .venv, then runs the job asked for.

    python3 kit.py main    # the main job: the conformance runner against the bundled reference server
    python3 kit.py test    # the whole test suite (what .ci/run runs)
    python3 kit.py docs    # serve the docs site on http://127.0.0.1:8000
    python3 kit.py screenshots  # screenshots of key docs pages in reports/screenshots/ (for review)

Only the standard library is used here, so it runs on a machine that has
nothing but Python. Dependencies are (re)installed into .venv whenever
pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".kit-installed"


def _run(*cmd: str | Path) -> int:
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def ensure_env() -> None:
    if not (BIN / "python").exists():
        print(f"kit: creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("kit: installing the kit and its test dependencies into .venv", flush=True)
    if _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip") != 0:
        sys.exit("kit: could not upgrade pip")
    if _run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[test]") != 0:
        sys.exit("kit: pip install failed")
    STAMP.write_text(wanted)


# Debian packages some tests drive for real: a browser for the docs site, the
# MQTT broker and the packet counter of the wire benchmark, graphviz for the
# diagrams (a test renders one; the freshness checks need no graphviz).
# Installed when missing, if this machine has apt-get and we may use it.
# {command: package}
SYSTEM_PACKAGES = {"chromium": "chromium", "mosquitto": "mosquitto", "tcpdump": "tcpdump", "dot": "graphviz"}


def ensure_system_packages() -> None:
    import shutil

    missing = [package for command, package in SYSTEM_PACKAGES.items() if shutil.which(command) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print(
            f"kit: missing system packages {missing}; install them (Debian: apt-get install {' '.join(missing)})",
            flush=True,
        )
        return
    print(f"kit: installing {missing} with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.call(["apt-get", "update", "-qq"], env=env)
    if subprocess.call(["apt-get", "install", "-y", "-qq", *missing], env=env) != 0:
        sys.exit(f"kit: apt-get install {' '.join(missing)} failed")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"main", "test", "docs", "screenshots"}:
        print(__doc__)
        return 2
    ensure_env()
    job, rest = argv[0], argv[1:]
    if job == "main":
        # sink-check selftest: every case against the reference server (a real
        # subprocess on loopback), then every mutant; reports land in reports/.
        reports = ROOT / "reports"
        reports.mkdir(exist_ok=True)
        return _run(
            BIN / "sink-check",
            "selftest",
            "--json",
            reports / "sink-check.json",
            "--junit",
            reports / "sink-check.junit.xml",
            "--html",
            reports / "sink-check.html",
            *rest,
        )
    if job == "test":
        ensure_system_packages()
        return _run(BIN / "python", "-m", "pytest", *rest)
    if job == "screenshots":
        ensure_system_packages()
        return _run(BIN / "python", ROOT / "tests" / "docs_browser.py", ROOT / "reports" / "screenshots", *rest)
    return _run(BIN / "mkdocs", "serve", *rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
