"""Run the docs' guides as tests: every shell block a page tells a reader to run, in page order.

Pages are parsed with sybil (its Markdown fence and HTML-comment lexers); each
runnable block becomes one example, and ``tests/test_guides.py`` turns each
example into one pytest item. How a page marks its blocks is documented for
page authors in docs/tools/generated.md ("Guides are tests"); in short:

- ```` ```sh ```` blocks run with bash (``set -e``), in the page's folder, with
  the installed kit's ``bin`` first on ``PATH``; ```` ```python ```` blocks run
  with the kit's Python; ```` ```console ```` blocks run each ``$ `` line and
  check the lines after it as its output (standard output and error, as a
  terminal shows them).
- A ```` ```text ```` block right after a run block (nothing but blank lines
  between) is that block's expected standard output; elsewhere,
  ``<!-- guide: output -->`` before it makes it one; ``output stderr`` checks
  standard error instead (log lines, refusals); ``output background`` checks
  the latest background block's output (both streams, as written so far; it
  may go on after the lines shown, and is waited for up to ``timeout``).
- Expected output matches like doctest's ELLIPSIS: a line ``...`` stands for
  any number of lines, ``...`` inside a line for any text; runs of spaces count
  as one; ``ignore="REGEX"`` on the directive blanks what varies (ids, times).
- ``<!-- guide: ... -->`` before a block modifies it: ``skip reason="..."``
  (shown on the site as a note: see docs/hooks/guides.py), ``background
  ready="REGEX"`` (started, left running until ``stop`` or the page's end),
  ``exit=N``, ``timeout=S``, ``requires="COMMAND,root"`` (skipped, with the
  reason, where that program is missing or the tests do not run as root). ``<!-- guide: run`` + lines + ``-->`` is a
  step the reader does by hand (an edit the page describes): run, not shown.
  ``<!-- guide: stop -->`` stops the background blocks.
- ``<!-- guide: folder=checkout -->`` (a copy of the kit's checkout, with a git
  repository) or ``folder=empty`` (an empty folder: the installed kit only)
  says where the page runs; every page gets a fresh temporary one.
- The port 7443 of the pages is replaced by a free port, in commands and in
  expected output, so that guide tests never collide with a running server.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sybil import Document, Example, Region
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, FencedCodeBlockLexer

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the installed kit: sink, sink-check
PAGE_PORT = "7443"
RUN_LANGUAGES = ("sh", "console", "python")
DEFAULT_TIMEOUT = 120.0


@dataclass
class Step:
    kind: str  # sh, console, python, output, run, stop, skip
    source: str
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0


def _options(arguments: str) -> dict[str, str]:
    """``skip reason="multi machine" exit=3`` -> {"skip": "", "reason": "multi machine", "exit": "3"}."""
    out: dict[str, str] = {}
    for token in shlex.split(arguments):
        name, _, value = token.partition("=")
        out[name] = value
    return out


def parse(path: Path) -> Document:
    """The page as a sybil Document whose regions are the guide's steps, in page order."""
    document = Document(path.read_text(encoding="utf-8"), str(path))
    fences = list(FencedCodeBlockLexer(r"[a-z]*")(document))
    directives = list(DirectiveInHTMLCommentLexer(directive="guide")(document))
    pending: dict[str, str] = {}
    pending_start: int | None = None
    last_run_end: int | None = None  # where the previous run block ended, for output blocks right after it
    events = sorted(
        [(r.start, "fence", r) for r in fences] + [(r.start, "directive", r) for r in directives], key=lambda e: e[0]
    )
    for start, what, region in events:
        if what == "directive":
            options = _options(str(region.lexemes["arguments"]))
            body = str(region.lexemes.get("source") or "")
            if "run" in options and body.strip():
                document.add(_region(document, region.start, region.end, Step("run", body, options)))
                last_run_end = region.end
            elif "stop" in options:
                document.add(_region(document, region.start, region.end, Step("stop", "", options)))
            elif "folder" in options:
                document.namespace["folder"] = options["folder"]
            else:
                pending, pending_start = options, region.start
            continue
        language = str(region.lexemes["language"])
        source = str(region.lexemes["source"])
        attached = (
            pending
            if pending_start is not None and not document.text[_end_of(document, pending_start) : start].strip()
            else {}
        )
        begin = pending_start if attached else start
        pending, pending_start = {}, None
        if "skip" in attached:
            document.add(_region(document, begin, region.end, Step("skip", source, {**attached, "language": language})))
        elif language in RUN_LANGUAGES:
            document.add(_region(document, begin, region.end, Step(language, source, attached)))
            last_run_end = region.end
        elif "output" in attached or (
            language == "text" and last_run_end is not None and not document.text[last_run_end:start].strip()
        ):
            document.add(_region(document, begin, region.end, Step("output", source, attached)))
    return document


def _end_of(document: Document, directive_start: int) -> int:
    return document.text.index("-->", directive_start) + 3


def _region(document: Document, start: int, end: int, step: Step) -> Region:
    step.line = document.text.count("\n", 0, start) + 1
    return Region(start, end, parsed=step, evaluator=evaluate)


# -- matching ----------------------------------------------------------------------------------


def _normalize(text: str) -> str:
    lines = [re.sub(r"[ \t]+", " ", line).rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines) + "\n"


def matches(expected: str, actual: str, ignore: str | None = None, *, open_end: bool = False) -> bool:
    """doctest-ELLIPSIS matching of whole lines; ``open_end``: more output may follow (a running process)."""
    if ignore:
        expected, actual = re.sub(ignore, "<?>", expected), re.sub(ignore, "<?>", actual)
    pattern = []
    for line in _normalize(expected).splitlines():
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(".*?".join(re.escape(part) for part in line.split("...")) + r"\n")
    if open_end:
        pattern.append(r"(?:[^\n]*\n)*")
    return re.fullmatch("".join(pattern), _normalize(actual), re.DOTALL) is not None


# -- running -----------------------------------------------------------------------------------


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@dataclass
class Background:
    process: subprocess.Popen[bytes]
    log: Path
    line: int

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


class GuideRun:
    """One page's run: its fresh folder, its port, its background processes, the last output."""

    def __init__(self, page: Path, folder_kind: str) -> None:
        self.page = page
        self.tmp = Path(tempfile.mkdtemp(prefix="sink-guide-"))
        self.folder = self.tmp / "work"
        self.port = free_port()
        self.background: list[Background] = []
        self.last_output: str | None = None
        self.last_stderr = ""
        self.last_background: Background | None = None
        self.failed_at: int | None = None
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "COLUMNS": "200",
            "PYTHONUNBUFFERED": "1",
        }  # both streams in the order a terminal shows them
        for name in ("SINK_CODEC", "VIRTUAL_ENV"):
            self.env.pop(name, None)
        if folder_kind == "checkout":
            self._copy_checkout()
            # The checkout's own code, as its editable install would run it (the page may change it).
            self.env["PYTHONPATH"] = os.pathsep.join(
                str(self.folder / p) for p in ("reference", "conformance", "tests")
            )
        elif folder_kind == "empty":
            self.folder.mkdir()
        else:
            raise ValueError(f"{page}: <!-- guide: folder=checkout|empty --> missing or wrong: {folder_kind!r}")
        self.cwd = self.folder

    def _copy_checkout(self) -> None:
        """The files of the checkout (committed, changed and new, not ignored), as a fresh git repository."""
        listed = (
            subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
            .stdout.decode()
            .split("\0")
        )
        for name in filter(None, listed):
            source = ROOT / name
            if source.is_file():
                target = self.folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        git = ["git", "-c", "user.name=guide", "-c", "user.email=guide@example.invalid"]
        for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout"]):
            subprocess.run([*git, *command], cwd=self.folder, check=True, capture_output=True)

    def text(self, source: str) -> str:
        return source.replace(PAGE_PORT, self.port)

    def run(self, command: str, timeout: float, *, language: str = "sh", merged: bool = False) -> tuple[int, str, str]:
        """Exit code, standard output, standard error (log lines, refusals) of one block; ``merged``: one stream."""
        argv = [str(BIN / "python"), "-"] if language == "python" else ["bash", "-e", "-o", "pipefail", "-s"]
        script = self.text(command)
        where = self.tmp / "cwd"
        if language != "python":  # a `cd` in one block holds for the next ones, as in the reader's shell
            script += f"\nbuiltin pwd > {shlex.quote(str(where))}\n"
        try:
            done = subprocess.run(
                argv,
                input=script.encode(),
                cwd=self.cwd,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            return -1, (exc.stdout or b"").decode(errors="replace"), f"[guide: timed out after {timeout:g} s]"
        if where.exists():
            self.cwd = Path(where.read_text().strip())
            where.unlink()
        return done.returncode, done.stdout.decode(errors="replace"), (done.stderr or b"").decode(errors="replace")

    def start(self, command: str, line: int, ready: str | None, timeout: float) -> str | None:
        log = self.tmp / f"background-{line}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-e", "-c", self.text(command)],
                cwd=self.cwd,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        job = Background(process, log, line)
        self.background.append(job)
        self.last_background, self.last_output = job, None
        deadline = time.monotonic() + timeout
        while ready and not re.search(self.text(ready), job.output()):
            if process.poll() is not None:
                return f"the background command exited ({process.returncode}) before it was ready:\n{job.output()}"
            if time.monotonic() > deadline:
                return f"not ready after {timeout:g} s (waiting for {ready!r}):\n{job.output()}"
            time.sleep(0.1)
        return None

    def stop(self) -> None:
        for job in self.background:
            if job.process.poll() is None:
                os.killpg(job.process.pid, signal.SIGTERM)
                try:
                    job.process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(job.process.pid, signal.SIGKILL)
                    job.process.wait(10)
        self.background.clear()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _check_exit(step: Step, code: int, output: str, stderr: str) -> str | None:
    wanted = int(step.options.get("exit", "0"))
    if code != wanted:
        return f"exit code {code}, expected {wanted}\n--- standard output:\n{output.rstrip()}\n--- standard error:\n{stderr.rstrip()}"
    return None


def _mismatch(expected: str, actual: str) -> str:
    return f"output does not match the page.\n--- the page shows:\n{expected.rstrip()}\n--- the command printed:\n{actual.rstrip()}"


def evaluate(example: Example) -> str | None:
    """Run one step; a string return is the failure message sybil reports."""
    step: Step = example.parsed
    run: GuideRun = example.namespace["run"]
    timeout = float(step.options.get("timeout", DEFAULT_TIMEOUT))
    for required in filter(None, step.options.get("requires", "").split(",")):
        if (required == "root" and os.geteuid() != 0) or (required != "root" and shutil.which(required) is None):
            import pytest

            pytest.skip(f"{example.path}:{example.line}: needs {required}, which this machine lacks")
    if step.kind == "stop":
        run.stop()
        return None
    if step.kind == "output":
        ignore = step.options.get("ignore")
        expected = run.text(step.source)
        if run.last_output is not None and "background" not in step.options:
            actual = run.last_stderr if "stderr" in step.options else run.last_output
            return None if matches(expected, actual, ignore) else _mismatch(expected, actual)
        job = run.background[-1] if "background" in step.options and run.background else run.last_background
        if job is None:
            return "an output block with no command before it"
        deadline = time.monotonic() + timeout
        while not matches(expected, job.output(), ignore, open_end=True):  # it is still running: wait for the lines
            if job.process.poll() is not None or time.monotonic() > deadline:
                return _mismatch(expected, job.output())
            time.sleep(0.2)
        return None
    if step.kind == "console":
        return _console(run, step, timeout)
    if "background" in step.options:
        return run.start(step.source, step.line, step.options.get("ready"), timeout)
    code, output, stderr = run.run(step.source, timeout, language="python" if step.kind == "python" else "sh")
    run.last_output, run.last_stderr, run.last_background = output, stderr, None
    return _check_exit(step, code, output, stderr)


def _console(run: GuideRun, step: Step, timeout: float) -> str | None:
    """``$ command`` lines, each followed by the output the page shows for it."""
    chunks: list[tuple[str, list[str]]] = []
    for line in step.source.splitlines():
        if line.startswith("$ "):
            chunks.append((line[2:], []))
        elif chunks:
            chunks[-1][1].append(line)
    if not chunks:
        return "a console block without a `$ ` command"
    for command, expected_lines in chunks:
        code, output, stderr = run.run(command, timeout, merged=True)  # a terminal shows both
        run.last_output, run.last_stderr, run.last_background = output, stderr, None
        failure = _check_exit(step, code, output, stderr)
        if failure:
            return f"$ {command}\n{failure}"
        expected = run.text("\n".join(expected_lines))
        if expected.strip() and not matches(expected, output, step.options.get("ignore")):
            return f"$ {command}\n{_mismatch(expected, output)}"
    return None
