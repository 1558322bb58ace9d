"""The built wheel works on its own: installed into a fresh venv, every command runs from an empty folder.

A person who wants the runner to test their implementation installs it; they
never see this repository. So: build the wheel from the files a clone would
have, install it into a new virtual environment, and from an empty temporary
folder (no checkout above it, the venv not activated, no ``sink`` on PATH) run
``sink vectors check``, ``sink certs`` + ``sink serve`` + ``sink-check server``
and ``client``, ``sink connect/publish/status/decode``, ``sink-check codec``
with the bundled shim, ``sink-check load`` and ``fuzz``, and a bounded
``sink-check selftest`` (the reference server, the reference client and the
mutants of two areas: the full self-test takes minutes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from setuptools import find_packages
from sinktest import ROOT

TIMEOUT = 300  # per command: generous for a loaded CI machine; a hang fails the test, it does not stall the suite


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from the files a fresh clone has (a stale build/ or .venv of this checkout cannot leak in)."""
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True
    )
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.decode().split("\0")):
            if (ROOT / name).is_file():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, source / name)
    else:  # not a git checkout (an unpacked sdist): its files are the clone's files
        shutil.copytree(
            ROOT,
            source,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".venv", "build", "*.egg-info", "node_modules", "__pycache__"),
        )
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (path,) = out.glob("*.whl")
    print(f"\nwheel: {path.name}, {path.stat().st_size / 1024:.0f} KiB")
    return path


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel (and its dependencies) installed: its bin/ folder."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=TIMEOUT)
    bin_dir = root / ("Scripts" if os.name == "nt" else "bin")
    installed = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return bin_dir


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("empty")
    assert not any(folder.iterdir())
    return folder


@pytest.fixture(scope="module")
def environment(venv: Path) -> dict[str, str]:
    """A user's shell that did not activate the venv: no kit on PATH or PYTHONPATH, not even this checkout's."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(
        p
        for p in env.get("PATH", os.defpath).split(os.pathsep)
        if p and not (Path(p) / "sink").exists() and not (Path(p) / "sink-check").exists()
    )
    return env


def run(venv: Path, cwd: Path, env: dict[str, str], *command: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    program, *args = command
    done = subprocess.run(
        [str(venv / program), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    if ok:
        assert done.returncode == 0, (
            f"{' '.join(command)}: exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done


def report(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def passed(path: Path, done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The summary of a run's JSON report, which must say it passed (else: the cases that did not)."""
    document = report(path)
    failed = [
        f"{c['id']}: {c['outcome']}: {c.get('observed', '')}"
        for c in document["cases"]
        if c["outcome"] not in ("pass", "unsupported")
    ]
    assert done.returncode == 0 and document["summary"]["exit_code"] == 0, "\n".join(failed) or done.stdout[-4000:]
    return dict(document["summary"])


@pytest.fixture(scope="module")
def server(venv: Path, empty: Path, environment: dict[str, str]) -> Iterator[str]:
    """`sink serve` as quickstart.md starts it, with certificates `sink certs` made in the empty folder."""
    run(
        venv,
        empty,
        environment,
        "sink",
        "certs",
        "--out",
        "certs",
        "--client",
        "sc-main",
        "--client",
        "sc-quarantined",
        "--client",
        "sc-client",
    )
    run(venv, empty, environment, "sink", "certs", "--out", "certs-other", "--client", "sc-main")
    (empty / "profile.toml").write_text(run(venv, empty, environment, "sink-check", "profile").stdout)
    log = (empty / "serve.log").open("w")
    process = subprocess.Popen(
        [
            str(venv / "sink"),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--certs",
            "certs",
            "--db",
            "server.db",
            "--keepalive",
            "5",
            "--quarantine",
            "sc-quarantined:quarantined for sink-check",
            "--reject-app-version",
            "0.0.0-rejected",
            "--nack-key-prefix",
            "poison",
            "--publish-on-connect",
            "2",
        ],
        cwd=empty,
        env={**environment, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on ([\d.]+:\d+)", line)
        assert match, f"sink serve did not start: {line!r}\n{(empty / 'serve.log').read_text()[-3000:]}"
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def test_the_package_list_names_every_code_package() -> None:
    # pyproject.toml lists the packages (find cannot map the kit's folders into sinkkit): a new subpackage
    # missing from the list would be missing from the wheel.
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    code = find_packages(str(ROOT / "reference")) + find_packages(str(ROOT / "conformance"))
    assert sorted(p for p in listed if not p.startswith("sinkkit.")) == sorted(code)


def test_the_wheel_carries_every_code_package_and_its_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for package in (p for p in listed if not p.startswith("sinkkit.")):
        assert f"{package.replace('.', '/')}/__init__.py" in names, package
    # Package data: the benchmarks' committed profiles (sink bench) and the typing markers.
    for name in (
        "sinktools/bench/data/profiles.json",
        "sinktools/py.typed",
        "sinkproto/py.typed",
        "sinkcheck/report.schema.json",
    ):
        assert name in names, name


def test_the_wheel_carries_the_kit_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = {
        "schemas": ["registry.toml", "policies.toml", "versions.lock.json", "meter_reading/v2.avsc"],
        "vectors": [
            "v0/batch.json",
            "v0/ids.lock.json",
            "v1/batch_publish.json",
            "v1/ids.lock.json",
            "schema/vector-file.schema.json",
            "field/v0-elixir-encoded.json",
            "field/README.md",
        ],
        "spec": ["v0/requirements.toml", "v1/requirements.toml", "v0/ksy/sink_frame.ksy", "v1/ksy/sink_batch_v1.ksy"],
        "conformance": [
            "profiles/reference.toml",
            "profiles/elixir-field.expected-failures",
            "shims/python_reference.py",
        ],
    }
    for folder, files in tracked.items():
        for name in files:
            assert f"sinkkit/{folder}/{name}" in names, name
            # Mapped, not copied: the wheel's file is the tree's file.
            assert zipfile.ZipFile(wheel).read(f"sinkkit/{folder}/{name}") == (ROOT / folder / name).read_bytes()
    # Every vector file of the tree, nothing from tests/, fuzz/ or docs/.
    for path in (ROOT / "vectors").glob("*/*.json"):
        assert f"sinkkit/vectors/{path.parent.name}/{path.name}" in names
    assert not [n for n in names if n.split("/")[0] in ("tests", "fuzz", "docs", "build")]


def test_vectors_check_from_an_empty_folder(venv: Path, empty: Path, environment: dict[str, str]) -> None:
    done = run(venv, empty, environment, "sink", "vectors", "check")
    assert re.search(r"Sink golden vectors in .*sinkkit.vectors.v0 ", done.stdout), done.stdout
    assert re.search(r"Sink golden vectors in .*sinkkit.vectors.v1 ", done.stdout), done.stdout
    assert re.search(r"^[1-9]\d+ passed, 0 failed$", done.stdout, re.M), done.stdout
    # Regenerating needs a checkout: the installed vectors are not rewritten.
    refused = run(venv, empty, environment, "sink", "vectors", "regenerate", ok=False)
    assert refused.returncode != 0 and "needs a checkout of the kit" in refused.stderr


def test_server_mode_against_sink_serve(venv: Path, empty: Path, environment: dict[str, str], server: str) -> None:
    done = run(
        venv,
        empty,
        environment,
        "sink-check",
        "server",
        server,
        "--profile",
        "profile.toml",
        "--no-slow",
        "--json",
        "server.json",
        ok=False,
    )
    summary = passed(empty / "server.json", done)
    assert summary["fail"] == 0 and summary["error"] == 0 and summary["pass"] >= 50
    # The spec's requirement registries came with the wheel: the report carries every cited requirement's text.
    document = report(empty / "server.json")
    texts = document["requirement_texts"]
    assert texts["HS-3"]["level"] == "MUST" and texts["BPUB-1"]["spec_version"] == 1, texts
    assert document["requirement_links"] == {}  # no --docs-url: no link to a site the reader may not have


def test_client_mode_runs_the_profiles_bare_sink(venv: Path, empty: Path, environment: dict[str, str]) -> None:
    # The profile's exec is "sink connect ...", and no `sink` is on this PATH: the runner starts the kit's own.
    assert shutil.which("sink", path=environment["PATH"]) is None
    done = run(
        venv,
        empty,
        environment,
        "sink-check",
        "client",
        "--listen",
        "127.0.0.1:0",
        "--profile",
        "profile.toml",
        "--no-slow",
        "--json",
        "client.json",
        "--client-log",
        "client.log",
        ok=False,
    )
    summary = passed(empty / "client.json", done)
    assert summary["fail"] == 0 and summary["error"] == 0 and summary["pass"] >= 15


def test_peer_commands(venv: Path, empty: Path, environment: dict[str, str], server: str) -> None:
    published = run(
        venv,
        empty,
        environment,
        "sink",
        "publish",
        "--server",
        server,
        "--name",
        "sc-client",
        "--db",
        "peer.db",
        "--event-type",
        "1",
        "--key",
        "SM5R-000123",
        "--data",
        "reading",
        "--count",
        "3",
    )
    assert "appended 3 event(s)" in published.stdout
    assert (
        "synced"
        in run(
            venv,
            empty,
            environment,
            "sink",
            "connect",
            "--server",
            server,
            "--name",
            "sc-client",
            "--db",
            "peer.db",
            "--until-synced",
        ).stdout
    )
    assert "3 events stored" in run(venv, empty, environment, "sink", "status", "--db", "peer.db").stdout
    assert "client_instance_id  4660" in run(venv, empty, environment, "sink", "decode", "000000001234").stdout


def test_load_and_fuzz(venv: Path, empty: Path, environment: dict[str, str], server: str) -> None:
    run(
        venv,
        empty,
        environment,
        "sink-check",
        "load",
        "server",
        server,
        "--profile",
        "profile.toml",
        "--identities",
        "load-identities",
        "--mint-ca-key",
        "certs/ca.key",
        "--clients",
        "3",
        "--rate",
        "30",
        "--duration",
        "1",
        "--drain",
        "5",
        "--json",
        "load.json",
    )
    assert report(empty / "load.json")
    fuzz = run(
        venv, empty, environment, "sink-check", "fuzz", "server", server, "--profile", "profile.toml", "--duration", "2"
    )
    assert "no finding" in fuzz.stdout


def test_codec_mode_with_the_bundled_shim(venv: Path, empty: Path, environment: dict[str, str]) -> None:
    # The command of docs/conformance/codec-mode.md, word for word: the shim's path names the kit's copy,
    # and `python` is the kit's interpreter.
    run(
        venv,
        empty,
        environment,
        "sink-check",
        "codec",
        "--exec",
        "python conformance/shims/python_reference.py",
        "--examples",
        "100",
        "--json",
        "codec.json",
    )
    summary = report(empty / "codec.json")["summary"]
    assert summary["exit_code"] == 0 and summary["cases"]["fail"] == 0 and summary["cases"]["unsupported"] == 0
    assert summary["cases"]["pass"] >= 507 + 100


def test_selftest_bounded(venv: Path, empty: Path, environment: dict[str, str]) -> None:
    # The reference server and client, and the mutants of two areas (the whole self-test takes minutes).
    done = run(
        venv,
        empty,
        environment,
        "sink-check",
        "selftest",
        "--no-slow",
        "--cases",
        "server.framing.*",
        "--cases",
        "client.handshake.*",
    )
    assert "selftest passed" in done.stdout
    assert re.search(r"mutant server/\S+ +\d+ cases +caught", done.stdout), done.stdout
    assert re.search(r"mutant client/\S+ +\d+ cases +caught", done.stdout), done.stdout


def test_nothing_was_written_into_the_installed_kit(venv: Path, wheel: Path) -> None:
    (site,) = [*venv.parent.glob("lib/python*/site-packages"), *venv.parent.glob("Lib/site-packages")]
    installed = {
        p.relative_to(site).as_posix()
        for p in (site / "sinkkit").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert installed == {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("sinkkit/")}
