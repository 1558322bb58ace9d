"""What a fuzz target is, and where the targets are found.

A target is defined by one module in ``fuzz/targets/``: ``TARGET``, named
as the module, or ``TARGETS``, several targets built from one check (the
``frame`` and ``batch`` modules define one target per protocol version,
e.g. ``frame`` and ``frame_v1``). Its module must stay cheap to import
and must not import the code under test at module level: the harness imports the code under test inside
``atheris.instrument_imports`` (only modules imported there get coverage
instrumentation), so the heavy imports happen in ``Target.setup``, which
returns the function libFuzzer calls with each input.

Modules whose name starts with ``_`` are not listed by :func:`all_targets`
(the self-test canaries live there) but can still be run by name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Check",
    "Finding",
    "Seed",
    "Target",
    "ROOT",
    "FUZZ_DIR",
    "BUILD_DIR",
    "REGRESSIONS_DIR",
    "DICTIONARY",
    "all_targets",
    "get_target",
    "target_names",
]

ROOT = Path(__file__).resolve().parent.parent
FUZZ_DIR = ROOT / "fuzz"
BUILD_DIR = ROOT / "build" / "fuzz"  # corpora, seeds, logs, artifacts: build output, gitignored
REGRESSIONS_DIR = FUZZ_DIR / "regressions"
DICTIONARY = FUZZ_DIR / "sink.dict"

Check = Callable[[bytes], None]
"""Called with one input; returns normally, or raises (a finding)."""

Seed = tuple[str, bytes]
"""(file name, content) of one seed input."""


class Finding(AssertionError):
    """An input broke a property the target checks (disagreement, wrong error, ...).

    Any exception escaping a check is a finding; this class is for the ones a
    check raises on purpose, so the message says which property failed.
    """


@dataclass(frozen=True)
class Target:
    """One fuzz target.

    ``setup`` imports the code under test and returns the check; ``seeds``
    yields the seed corpus (built from the golden vectors); ``instrument``
    lists the top-level modules the harness instruments for coverage;
    ``prepare`` runs once in the parent process before a run (e.g. to build
    generated parsers), never inside the fuzzing child.
    """

    name: str
    description: str
    setup: Callable[[], Check]
    seeds: Callable[[], Iterable[Seed]]
    instrument: tuple[str, ...] = ("sinkproto",)
    # libFuzzer -max_len: the largest input it will generate. Small keeps
    # exec/s high; the batch target needs more to reach the gzip size limit.
    max_len: int = 4096
    prepare: Callable[[], None] | None = None
    # Extra libFuzzer flags this target needs (the canaries use a short timeout).
    libfuzzer_args: tuple[str, ...] = field(default=())


def _modules(*, include_private: bool) -> list[str]:
    from . import targets

    names = [m.name for m in pkgutil.iter_modules(targets.__path__)]
    return sorted(n for n in names if include_private or not n.startswith("_"))


def _module_targets(module_name: str) -> tuple[Target, ...]:
    """The targets one module defines: ``TARGET``, or ``TARGETS`` (one per protocol version, say)."""
    module = importlib.import_module(f"fuzz.targets.{module_name}")
    found = getattr(module, "TARGETS", None)
    if found is None:
        found = (getattr(module, "TARGET", None),)
    if not found or not all(isinstance(t, Target) for t in found):
        raise TypeError(
            f"fuzz/targets/{module_name}.py must define TARGET = Target(...) or TARGETS = (Target(...), ...)"
        )
    return tuple(found)


def _registry(*, include_private: bool) -> dict[str, Target]:
    out: dict[str, Target] = {}
    for module_name in _modules(include_private=include_private):
        for target in _module_targets(module_name):
            if target.name in out:
                raise ValueError(f"fuzz/targets/{module_name}.py: a second target named {target.name!r}")
            out[target.name] = target
    return out


def target_names(*, include_private: bool = False) -> list[str]:
    return sorted(_registry(include_private=include_private))


def get_target(name: str) -> Target:
    if name not in _modules(include_private=True):
        registry = _registry(include_private=True)
        if name not in registry:
            raise KeyError(f"no fuzz target {name!r}; known: {', '.join(target_names())}")
        return registry[name]
    by_name = {t.name: t for t in _module_targets(name)}
    if name not in by_name:
        raise ValueError(f"fuzz/targets/{name}.py: no target named {name!r}, the module name")
    return by_name[name]


def all_targets() -> list[Target]:
    return [get_target(n) for n in target_names()]
