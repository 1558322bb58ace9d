"""Structured log lines for the peers: ``time level logger message key=value ...``.

The peers log with ``extra={...}``; this formatter prints those fields as
logfmt so that a person can read them and a machine can grep them.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["LogfmtFormatter", "configure"]

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _value(value: object) -> str:
    """A logfmt value: bare when it can be, else quoted with backslash escapes (``error="a \\"b\\""``)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if text and not any(c in text for c in ' ="\\') and text.isprintable():
        return text
    escaped = "".join(_ESCAPES.get(c, c if c.isprintable() else f"\\x{ord(c):02x}") for c in text)
    return f'"{escaped}"'


class _QuietAsyncio(logging.Filter):
    """Drops asyncio's line per write to a connection already lost: the session says it once, with the peer."""

    NOISE = ("socket.send() raised exception.", "SSL connection is closed")

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.NOISE


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={_value(v)}" for k, v in vars(record).items() if k not in _STANDARD)
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name} {record.getMessage()}"
        if extras:
            line += " " + extras
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger("sinkproto")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    quiet = logging.getLogger("asyncio")
    if not any(isinstance(f, _QuietAsyncio) for f in quiet.filters):
        quiet.addFilter(_QuietAsyncio())
