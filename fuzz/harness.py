"""The fuzzing child: ``python -m fuzz.harness TARGET [libFuzzer flags and corpus folders]``.

One target per process, as libFuzzer expects. The code under test is
imported inside ``atheris.instrument_imports`` so that its branches feed
libFuzzer's coverage; the runner (fuzz/runner.py) starts this and reads
libFuzzer's output.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    import atheris

    from .target import get_target

    if len(argv) < 2:
        sys.exit("usage: python -m fuzz.harness TARGET [libFuzzer args...]")
    target = get_target(argv[1])
    already = [m for m in target.instrument if m in sys.modules]
    if already:
        # Imported before instrumentation: libFuzzer would fuzz blind.
        sys.exit(f"fuzz.harness: {already} imported before instrumentation; keep target modules import-light")
    with atheris.instrument_imports(include=list(target.instrument)):
        check = target.setup()
    atheris.Setup([argv[0], *argv[2:]], check)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
