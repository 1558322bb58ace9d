"""Client reconnect delays (DELIV-7..DELIV-9): 50 ms, 1 s, 5 s, 30 s, then 60 s, each +/-10%."""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["Backoff", "FIELD_STEPS"]

FIELD_STEPS = (0.05, 1.0, 5.0, 30.0, 60.0)


class Backoff:
    """``next_delay()`` walks the steps and stays on the last; ``reset()`` after a completed handshake.

    ``uniform`` is the random source (``random.uniform``-like), passed in so
    tests can pin it.
    """

    def __init__(
        self, uniform: Callable[[float, float], float], *, steps: Sequence[float] = FIELD_STEPS, jitter: float = 0.1
    ) -> None:
        if not steps:
            raise ValueError("at least one step")
        self._steps = tuple(steps)
        self._jitter = jitter
        self._uniform = uniform
        self._index = 0

    def next_delay(self, *, at_least: float | None = None) -> float:
        """The next step with its jitter; ``at_least`` when that is longer (a server's retry_after: CLOSE-9)."""
        base = self._steps[min(self._index, len(self._steps) - 1)]
        self._index += 1
        delay = base * self._uniform(1 - self._jitter, 1 + self._jitter)
        return delay if at_least is None else max(delay, at_least)

    def reset(self) -> None:
        """Only after ``connected`` or ``hello_new_client`` (DELIV-9)."""
        self._index = 0
