"""A schedule: the peers of one simulated run and the faults and actions it applies, in order.

A schedule is plain data: it is generated from a seed (:func:`generate`),
written to and read from a JSON file (:func:`dump`, :func:`load`) to replay a
failure, and shrunk by dropping steps. Everything random inside a run
(network delays, how writes are split, first message ids, jitter) is drawn
from a generator seeded with ``seed``, so a schedule replays exactly.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..errors import SinkError

__all__ = [
    "DROP_KINDS",
    "REFUSALS",
    "STEP_KINDS",
    "Schedule",
    "Settings",
    "Step",
    "dump",
    "generate",
    "load",
]

#: how a connection is dropped: after what is in transit arrives, with what is in transit cut at a random byte
#: (usually mid-frame), or with what is in transit never read
DROP_KINDS = ("abrupt", "mid_frame", "unread")
#: why a client may be refused for the whole run (never an event either way): HS-18 and HS-9
REFUSALS = ("quarantine", "mismatch")
#: the kinds of step, each with its arguments (see :class:`Step`)
STEP_KINDS = (
    "append",
    "poison",
    "server_append",
    "wait",
    "drop",
    "partition",
    "crash",
    "clock_jump",
    "upgrade",
    "lose_bases",
)
SERVER = -1  # the node number of the server in crash and clock_jump steps


@dataclass(frozen=True, slots=True)
class Step:
    """One action or fault.

    ``append`` (client, count), ``poison`` (client, count) events the server
    NACKs, ``server_append`` (count) for every client, ``wait`` (seconds),
    ``drop`` (client, kind) the client's current connection, ``partition``
    (client, seconds), ``crash`` (node, writes, downtime): node -1 is the
    server; it loses power before its ``writes``-th next store write (0: now)
    and restarts ``downtime`` seconds later; ``clock_jump`` (node, seconds)
    of the node's wall clock; ``upgrade`` (): the server accepts version 1 from now on;
    ``lose_bases`` (): another server instance answers from now on, or the
    server restarted on a store without them: it holds none of the context
    bases it kept (CTX-9), so a client that names one is answered
    ``unknown_base`` (CTX-5) and falls back (CTX-11).
    """

    kind: str
    args: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(map(repr, self.args))})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The size of generated schedules and of their runs."""

    clients: int = 2
    steps: int = 24
    keepalive: float = 10.0  # KEEP-1, shorter than the field's so a half-dead link is noticed within a schedule
    heal: float = 3600.0  # the most virtual seconds of healed network before the eventual checks
    mutant: str | None = None

    def __post_init__(self) -> None:
        if self.clients < 1 or self.steps < 0 or self.keepalive <= 0 or self.heal <= 0:
            raise ValueError("clients must be at least 1; steps, keepalive and heal not negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    seed: int
    clients: int
    server_versions: tuple[int, ...]
    client_versions: tuple[tuple[int, ...], ...]
    refused: dict[int, str] = field(default_factory=dict)  # client -> one of REFUSALS
    batch_size: int = 1  # BatchPolicy.max_batch_size of both sides on version-1 connections
    keepalive: float = 10.0
    heal: float = 3600.0
    mutant: str | None = None
    steps: tuple[Step, ...] = ()
    context_bases: int = 16  # CTX-1, CTX-9: what the server declares and keeps per client (0: no context coding)

    def without(self, index: int) -> Schedule:
        return replace(self, steps=self.steps[:index] + self.steps[index + 1 :])


def _step(rng: random.Random, clients: int) -> Step:
    kind = rng.choices(STEP_KINDS[:-1], weights=(8, 2, 3, 6, 4, 2, 3, 1, 1))[0]
    client = rng.randrange(clients)
    if kind in ("append", "poison"):
        return Step(kind, (client, rng.randint(1, 6 if kind == "append" else 2)))
    if kind == "server_append":
        return Step(kind, (rng.randint(1, 4),))
    if kind == "wait":
        return Step(kind, (round(rng.choice((0.01, 0.05, 0.2, 1.0, 5.0, 30.0)) * rng.random(), 4),))
    if kind == "drop":
        return Step(kind, (client, rng.choice(DROP_KINDS)))
    if kind == "partition":
        return Step(kind, (client, round(rng.uniform(1.0, 40.0), 3)))
    if kind == "crash":
        node = SERVER if rng.random() < 0.4 else client
        return Step(kind, (node, rng.choice((0, 0, 1, 2, 3, 5, 8)), round(rng.uniform(0.0, 20.0), 3)))
    if kind == "clock_jump":
        node = SERVER if rng.random() < 0.4 else client
        return Step(kind, (node, rng.choice((-3600.0, -30.0, 30.0, 86400.0 * 2))))
    return Step(kind)


def generate(seed: int, settings: Settings = Settings()) -> Schedule:
    """The schedule of ``seed``: versions 0 and 1 on either side (fallback included), maybe a refused client."""
    rng = random.Random(seed)
    server_versions = rng.choice(((0,), (0, 1), (0, 1), (1,)))
    client_versions = tuple(rng.choice(((0,), (0, 1), (0, 1))) for _ in range(settings.clients))
    if server_versions == (1,):  # a version-0-only client could never connect; not a fault of the protocol
        client_versions = tuple((0, 1) for _ in client_versions)
    refused: dict[int, str] = {}
    if settings.clients > 1 and rng.random() < 0.25:
        refused[rng.randrange(settings.clients)] = rng.choice(REFUSALS)
    steps = tuple(_step(rng, settings.clients) for _ in range(settings.steps))
    # CTX-9: the server loses its context bases at some steps; drawn from a generator of their own, so the
    # other steps of a seed are those it had before context coding
    lost = random.Random(seed ^ 0xC7C7)
    steps = tuple(s for step in steps for s in ((step, Step("lose_bases")) if lost.random() < 0.08 else (step,)))
    return Schedule(
        seed=seed,
        clients=settings.clients,
        server_versions=server_versions,
        client_versions=client_versions,
        refused=refused,
        batch_size=rng.choice((1, 2, 4, 16)),
        keepalive=settings.keepalive,
        heal=settings.heal,
        mutant=settings.mutant,
        steps=steps,
    )


def dump(schedule: Schedule) -> str:
    """The schedule as JSON (what ``--replay`` reads)."""
    data = asdict(schedule)
    data["steps"] = [[step.kind, *step.args] for step in schedule.steps]
    data["refused"] = {str(k): v for k, v in schedule.refused.items()}
    return json.dumps(data, indent=1)


def load(text: str) -> Schedule:
    """A schedule from :func:`dump`'s JSON; SinkError if it is not one."""
    try:
        data = json.loads(text)
        return Schedule(
            seed=int(data["seed"]),
            clients=int(data["clients"]),
            server_versions=tuple(data["server_versions"]),
            client_versions=tuple(tuple(v) for v in data["client_versions"]),
            refused={int(k): str(v) for k, v in data["refused"].items()},
            batch_size=int(data["batch_size"]),
            keepalive=float(data["keepalive"]),
            heal=float(data["heal"]),
            mutant=data.get("mutant"),
            context_bases=int(data.get("context_bases", 16)),
            steps=tuple(Step(str(s[0]), tuple(s[1:])) for s in data["steps"]),
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise SinkError(f"not a simulation schedule: {exc}") from exc
