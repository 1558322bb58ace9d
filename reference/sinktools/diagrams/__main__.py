"""``python -m sinktools.diagrams``: write the connection diagrams and the client lifecycle of spec/v1/devices.md.

Here, not in the package's ``__init__``, so that the lifecycle (which draws with the connection
diagrams' helpers) and the connection diagrams do not import each other.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import DiagramError, write_diagrams
from .lifecycle import write as write_lifecycle


def main() -> int:
    """``python -m sinktools.diagrams``: write the four diagrams (no options; the CLI modules own argparse)."""
    try:
        for path in [*write_diagrams(), *write_lifecycle()]:
            print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    except DiagramError as exc:
        print(f"sinktools.diagrams: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
