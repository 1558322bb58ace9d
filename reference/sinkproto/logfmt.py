"""Structured log lines for the peers: ``time level logger message key=value ...``.

The peers log with ``extra={...}``; this formatter prints those fields as
logfmt so that a person can read them and a machine can grep them.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["LogfmtFormatter", "configure"]

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def _value(value: object) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return f'"{text}"' if (" " in text or not text) else text


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
