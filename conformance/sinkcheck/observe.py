"""Crash observation: what the testee's log, and a started client's stderr and exit status, show of a case.

A crash of a connection process can look, on the wire, exactly like a
deliberate close (the field server closes with a TLS close_notify), so the
wire alone cannot show ERR-5 ("neither crashes..."). The profile's
``[observe]`` section names the testee's log file and a crash pattern; the
runner notes where each source ends before a case and scans what was added
during the case and a short settle time after it. In client mode with
``--exec`` the runner also watches the client process: an exit it did not
ask for, with a status not in ``exit_ok``, is a crash, and the crash pattern
applies to its stderr.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "ObserveSettings",
    "Crash",
    "CrashSource",
    "LogSource",
    "TextSource",
    "Observer",
    "CrashWatch",
    "find_crashes",
    "case_observer",
    "describe_crashes",
]

EXCERPT_LINES = 8  # lines of a crash report shown, from the line that matched
EXCERPT_CHARS = 1500
MAX_CRASHES = 3  # excerpts kept per case; the count says how many more matched
MAX_READ = 4 * 1024 * 1024  # bytes of a log read per case (the end, if more was appended)


@dataclass(frozen=True)
class ObserveSettings:
    """The profile's ``[observe]`` section."""

    log: Path | None = None  # the testee's log file (relative to the profile)
    crash_pattern: str | None = None  # a regular expression that matches a crash report's line
    settle: float = 0.3  # seconds to wait after a case for late log lines
    exit_ok: tuple[int, ...] = (0,)  # client mode --exec: exit statuses of the client that are no crash

    @classmethod
    def from_toml(cls, raw: dict[str, Any], base: Path) -> ObserveSettings:
        if not isinstance(raw, dict):
            raise ValueError("[observe] is a table: log, crash_pattern, settle, exit_ok")
        unknown = set(raw) - {"log", "crash_pattern", "settle", "exit_ok"}
        if unknown:
            raise ValueError(f"unknown keys in [observe]: {sorted(unknown)}")
        pattern = raw.get("crash_pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"[observe] crash_pattern is not a regular expression: {exc}") from None
        if raw.get("log") is not None and not pattern:
            raise ValueError("[observe] log needs a crash_pattern")
        settle = float(raw.get("settle", 0.3))
        if settle < 0:
            raise ValueError("[observe] settle must be >= 0 seconds")
        exit_ok = raw.get("exit_ok", [0])
        if not isinstance(exit_ok, list) or not all(isinstance(v, int) for v in exit_ok):
            raise ValueError("[observe] exit_ok is a list of exit statuses")
        return cls(
            log=(base / raw["log"]).resolve() if raw.get("log") is not None else None,
            crash_pattern=pattern,
            settle=settle,
            exit_ok=tuple(exit_ok),
        )


@dataclass(frozen=True)
class Crash:
    source: str  # "log /path/to/file", "client stderr", "client exit"
    excerpt: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "excerpt": self.excerpt}


def find_crashes(text: str, pattern: re.Pattern[str], source: str) -> list[Crash]:
    """An excerpt for each match of ``pattern`` in ``text``, from the start of its line."""
    crashes: list[Crash] = []
    covered = -1
    count = 0
    for match in pattern.finditer(text):
        if match.start() <= covered:
            continue  # inside the excerpt of an earlier match
        count += 1
        start = text.rfind("\n", 0, match.start()) + 1
        end = start
        for _ in range(EXCERPT_LINES):
            nxt = text.find("\n", end)
            if nxt < 0:
                end = len(text)
                break
            end = nxt + 1
        covered = end - 1
        if len(crashes) < MAX_CRASHES:
            excerpt = text[start:end].rstrip("\n")
            if len(excerpt) > EXCERPT_CHARS:
                excerpt = excerpt[:EXCERPT_CHARS] + " ..."
            crashes.append(Crash(source, excerpt))
    if count > MAX_CRASHES:
        crashes.append(Crash(source, f"... and {count - MAX_CRASHES} more crash reports"))
    return crashes


class CrashSource(Protocol):
    """Something that can show crashes: ``mark`` notes where it ends, ``since`` scans what came after."""

    reads_reports: bool  # True when it reads crash reports (a pattern): then ERR-5 counts as observed
    settles: bool  # True when its text may arrive late (a log file): the observer waits ``settle`` first

    def mark(self) -> Any: ...

    def since(self, mark: Any) -> list[Crash]: ...


class LogSource:
    """The testee's log file; a file that shrank (rotated, truncated) is read from its start."""

    reads_reports = True
    settles = True  # another process writes it, maybe late

    def __init__(self, path: Path, pattern: str) -> None:
        self.path = path
        self.pattern = re.compile(pattern, re.MULTILINE)

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def mark(self) -> int:
        return self._size()

    def since(self, mark: int) -> list[Crash]:
        size = self._size()
        start = mark if size >= mark else 0
        start = max(start, size - MAX_READ)
        if size <= start:
            return []
        try:
            with self.path.open("rb") as log:
                log.seek(start)
                text = log.read(size - start).decode("utf-8", "replace")
        except OSError:
            return []
        return find_crashes(text, self.pattern, f"log {self.path}")


class TextSource:
    """Text captured by the runner (a client's stderr): ``text()`` returns (total length, its tail)."""

    reads_reports = True
    settles = False  # complete once the client was stopped: its pipe is read to the end

    def __init__(self, name: str, captured: Any, pattern: str) -> None:
        self.name = name
        self.captured = captured  # has .total (characters ever captured) and .tail (the last ones)
        self.pattern = re.compile(pattern, re.MULTILINE)

    def mark(self) -> int:
        return int(self.captured.total)

    def since(self, mark: int) -> list[Crash]:
        total, tail = self.captured.total, self.captured.tail
        new = total - mark
        if new <= 0:
            return []
        return find_crashes(tail[-new:], self.pattern, self.name)


class Observer:
    """The crash sources of one case (or one fuzz probe window)."""

    def __init__(self, sources: Sequence[CrashSource], settle: float = 0.3) -> None:
        self.sources = list(sources)
        self.settle = settle

    @property
    def watches(self) -> bool:
        """True when a crash report would be seen: ERR-5 can then pass, not only fail."""
        return any(s.reads_reports for s in self.sources)

    def mark(self) -> list[Any]:
        return [s.mark() for s in self.sources]

    async def collect(self, marks: list[Any]) -> list[Crash]:
        """What the sources show since ``marks``, after the settle time (late log lines)."""
        if self.settle > 0 and any(getattr(s, "settles", False) for s in self.sources):
            await asyncio.sleep(self.settle)
        crashes: list[Crash] = []
        for source, mark in zip(self.sources, marks):
            crashes += source.since(mark)
        return crashes


class CrashWatch:
    """Fuzz mode: crashes since the last ``check`` (or ``reset``), as a finding's text."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self._marks = observer.mark()

    def reset(self) -> None:
        self._marks = self.observer.mark()

    async def check(self) -> str | None:
        crashes = await self.observer.collect(self._marks)
        self._marks = self.observer.mark()
        return describe_crashes(crashes) if crashes else None


def describe_crashes(crashes: Sequence[Crash]) -> str:
    first = crashes[0]
    line = first.excerpt.splitlines()[0] if first.excerpt else ""
    more = f" (+{len(crashes) - 1} more)" if len(crashes) > 1 else ""
    return f"crash observed (ERR-5) in the {first.source}: {line[:200]}{more}"


def case_observer(profile: Any, context: Any = None, *, scale: float = 1.0) -> Observer | None:
    """The profile's log (``[observe]``) and what the case's context adds (a started client's stderr, exit)."""
    settings: ObserveSettings | None = getattr(profile, "observe", None)
    sources: list[CrashSource] = []
    if settings is not None and settings.log is not None and settings.crash_pattern:
        sources.append(LogSource(settings.log, settings.crash_pattern))
    extra = getattr(context, "crash_sources", None)
    if callable(extra):
        sources += extra()
    if not sources:
        return None
    return Observer(sources, (settings.settle if settings is not None else 0.3) * scale)
