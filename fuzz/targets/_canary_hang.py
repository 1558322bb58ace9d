"""_canary_hang: a target that never returns on its seed, so tests can prove hangs are caught."""

from __future__ import annotations

from ..target import Check, Target

TRIGGER = b"sink-canary-hang"


def setup() -> Check:
    def check(data: bytes) -> None:
        if data.startswith(TRIGGER):
            while True:  # a decoder stuck in a loop: libFuzzer's -timeout must end it
                pass

    return check


TARGET = Target(
    name="_canary_hang",
    description="self-test: loops forever on its seed",
    setup=setup,
    seeds=lambda: [("trigger", TRIGGER)],
    instrument=(),
)
