"""_canary_crash: a target that fails on purpose, so tests can prove findings are caught.

Not listed by ``python -m fuzz list`` (leading underscore); the smoke test
runs it by name and expects a crash whose input lands in the regressions
folder it was given.
"""

from __future__ import annotations

from ..target import Check, Target

TRIGGER = b"sink-canary-crash"


def setup() -> Check:
    def check(data: bytes) -> None:
        if data.startswith(TRIGGER):
            raise IndexError("canary: an exception outside SinkError")

    return check


TARGET = Target(
    name="_canary_crash",
    description="self-test: raises IndexError on its seed",
    setup=setup,
    seeds=lambda: [("trigger", TRIGGER)],
    instrument=(),
)
