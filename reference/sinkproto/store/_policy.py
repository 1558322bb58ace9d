"""Delivery policies of the reference event log: priority, transmission, retention per event type.

Policies are an implementation feature of this event store, not wire
protocol: a peer may send its events in any order across topics, skip
superseded ones and drop old ones (DELIV-5, DELIV-6 allow all three), so the
spec says nothing about them. They are written in one TOML file (see
docs/operations.md) and applied to a store with ``sink policies apply``,
which keeps them in the store's ``policies`` table, so every process that
opens the file (the running peer, ``sink status``) uses the same ones.

File layout::

    [default]                  # optional; every field optional
    priority = 0
    transmission = "all"

    [event_type.credit_top_up] # a registry name, or an id: [event_type.3]
    priority = 100

    [event_type.meter_reading]
    priority = -10
    keep_last = 100            # retention: the last 100 events per topic ...
    keep_days = 30             # ... and none older than 30 days

A type's section inherits every field it does not set from ``[default]``.

The store keeps them in its ``policies`` table: :class:`_Policies` (a part of
``EventStore``) writes and reads them there, and :func:`read_policies` is how
every other part of the store reads them, inside its own transaction.
"""

from __future__ import annotations

import math
import sqlite3
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

from ..errors import PolicyError, StoreError
from ..limits import MAX_U64
from ._base import _StoreBase
from ._schema import from_db, to_db

__all__ = ["DeliveryPolicy", "PolicySet", "Transmission", "load_policies", "parse_policies"]

Transmission = Literal["all", "latest"]
TRANSMISSIONS: Final[tuple[str, ...]] = ("all", "latest")
# Priorities are kept in a signed 64-bit SQLite column; a range far beyond
# any sensible use keeps arithmetic and comparisons trivially safe.
MAX_PRIORITY: Final = 1_000_000
_FIELDS: Final = frozenset({"priority", "transmission", "keep_last", "keep_days"})
_SECONDS_PER_DAY: Final = 86_400


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryPolicy:
    """How the events of one event type leave the store.

    ``priority``: higher drains first after an outage; within a topic the
    offset order is kept whatever the priorities. ``transmission``: ``all``
    sends every event, ``latest`` only the newest event of each topic
    (older unsent ones are marked superseded, not deleted). ``keep_last`` /
    ``keep_days``: retention, applied by ``EventStore.apply_retention``; an
    event is deleted once it is outside either limit *and* every subscriber
    has passed it.
    """

    priority: int = 0
    transmission: Transmission = "all"
    keep_last: int | None = None
    keep_days: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.priority, int) or isinstance(self.priority, bool) or abs(self.priority) > MAX_PRIORITY:
            raise PolicyError(f"priority must be an integer in -{MAX_PRIORITY}..{MAX_PRIORITY}, got {self.priority!r}")
        if self.transmission not in TRANSMISSIONS:
            raise PolicyError(f"transmission must be 'all' or 'latest', got {self.transmission!r}")
        if self.keep_last is not None and (
            not isinstance(self.keep_last, int)
            or isinstance(self.keep_last, bool)
            or not 1 <= self.keep_last <= MAX_U64
        ):
            raise PolicyError(f"keep_last must be an integer >= 1, got {self.keep_last!r}")
        if self.keep_days is not None and (
            not isinstance(self.keep_days, (int, float))
            or isinstance(self.keep_days, bool)
            or not math.isfinite(self.keep_days)
            or self.keep_days <= 0
        ):
            raise PolicyError(f"keep_days must be a number > 0, got {self.keep_days!r}")

    @property
    def has_retention(self) -> bool:
        return self.keep_last is not None or self.keep_days is not None

    def oldest_kept_timestamp(self, now: float) -> int | None:
        """With ``keep_days``: events stamped before this (unix seconds) are out of retention."""
        if self.keep_days is None:
            return None
        return max(0, math.ceil(now - self.keep_days * _SECONDS_PER_DAY))

    def as_toml_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"priority": self.priority, "transmission": self.transmission}
        if self.keep_last is not None:
            fields["keep_last"] = self.keep_last
        if self.keep_days is not None:
            fields["keep_days"] = self.keep_days
        return fields


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicySet:
    """The policies of a store: one per listed event type, ``default`` for every other type."""

    default: DeliveryPolicy = DeliveryPolicy()
    by_type: Mapping[int, DeliveryPolicy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for event_type_id in self.by_type:
            if (
                not isinstance(event_type_id, int)
                or isinstance(event_type_id, bool)
                or not 0 <= event_type_id <= MAX_U64
            ):
                raise PolicyError(f"event type ids are u64 integers, got {event_type_id!r}")
        # Frozen means frozen: a caller's dict must not change the policies afterwards.
        object.__setattr__(self, "by_type", MappingProxyType(dict(sorted(self.by_type.items()))))

    def for_type(self, event_type_id: int) -> DeliveryPolicy:
        return self.by_type.get(event_type_id, self.default)

    @property
    def is_default(self) -> bool:
        """No policy set: every type is sent in (event_type_id, key, offset) order and kept forever."""
        return self.default == DeliveryPolicy() and all(p == self.default for p in self.by_type.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolicySet):
            return NotImplemented
        return self.default == other.default and dict(self.by_type) == dict(other.by_type)

    def __hash__(self) -> int:
        return hash((self.default, tuple(self.by_type.items())))


class _Names(Protocol):
    """What the loader needs from a schema registry: event type names to ids."""

    def by_name(self, name: str) -> Any: ...


def _policy(section: object, base: DeliveryPolicy, where: str) -> DeliveryPolicy:
    if not isinstance(section, dict):
        raise PolicyError(f"{where} must be a table")
    unknown = set(section) - _FIELDS
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_FIELDS))}")
    try:
        return replace(base, **section)
    except PolicyError as exc:
        raise PolicyError(f"{where}: {exc}") from None


def parse_policies(document: Mapping[str, Any], registry: _Names | None = None) -> PolicySet:
    """A :class:`PolicySet` from a parsed policy document; names resolve through ``registry``."""
    unknown = set(document) - {"default", "event_type"}
    if unknown:
        raise PolicyError(f"unknown top-level key(s) {', '.join(sorted(unknown))}; known: default, event_type")
    default = _policy(document.get("default", {}), DeliveryPolicy(), "[default]")
    types = document.get("event_type", {})
    if not isinstance(types, dict):
        raise PolicyError("event_type must be a table of [event_type.NAME] sections")
    by_type: dict[int, DeliveryPolicy] = {}
    for name, section in types.items():
        where = f"[event_type.{name}]"
        if name.isdigit():
            event_type_id = int(name)
        elif registry is None:
            raise PolicyError(f"{where}: event type names need the schema registry; use the id or pass the registry")
        else:
            try:
                event_type_id = int(registry.by_name(name).id)
            except Exception as exc:  # the registry's SchemaError, told in policy terms
                raise PolicyError(f"{where}: {exc}") from None
        if event_type_id in by_type:
            raise PolicyError(f"{where}: event type {event_type_id} has two sections")
        by_type[event_type_id] = _policy(section, default, where)
    return PolicySet(default=default, by_type=by_type)


def load_policies(path: str | Path, registry: _Names | None = None) -> PolicySet:
    """Read a policy file; raises :class:`PolicyError` with the file name on any problem."""
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: {exc}") from None
    try:
        return parse_policies(document, registry)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from None


def read_policies(db: sqlite3.Connection) -> PolicySet:
    """The policies in the store's ``policies`` table, read in the caller's transaction.

    Read by every call that needs them, never cached: a policy applied by
    another process (``sink policies apply``) takes effect at the running
    peer's next call.
    """
    default = DeliveryPolicy()
    by_type: dict[int, DeliveryPolicy] = {}
    rows = db.execute("SELECT event_type_id, priority, transmission, keep_last, keep_days FROM policies")
    for event_type_id, priority, transmission, keep_last, keep_days in rows:
        policy = DeliveryPolicy(priority=priority, transmission=transmission, keep_last=keep_last, keep_days=keep_days)
        if event_type_id is None:
            default = policy
        else:
            by_type[from_db(event_type_id)] = policy
    return PolicySet(default=default, by_type=by_type)


class _Policies(_StoreBase):
    """The store's delivery policies: :meth:`set_policies`, :meth:`policies`."""

    def set_policies(self, policies: PolicySet) -> None:
        """Replace the delivery policies (docs/operations.md) in one transaction.

        They take effect at the next call of every process using this file.
        Superseded marks and deleted events stay as they are: a policy
        change is not retroactive.
        """
        if not isinstance(policies, PolicySet):
            raise StoreError(f"set_policies needs a PolicySet, got {type(policies).__name__}")
        rows = [(None, policies.default)] + [(to_db(t), p) for t, p in policies.by_type.items()]
        with self._write() as db:
            db.execute("DELETE FROM policies")
            db.executemany(
                "INSERT INTO policies (event_type_id, priority, transmission, keep_last, keep_days) VALUES (?, ?, ?, ?, ?)",
                [(t, p.priority, p.transmission, p.keep_last, p.keep_days) for t, p in rows],
            )

    def policies(self) -> PolicySet:
        """The delivery policies in effect (all defaults for a store that never had any set)."""
        with self._read() as db:
            return read_policies(db)
