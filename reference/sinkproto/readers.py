"""Reader declarations of protocol version 1 (SNEG-1..SNEG-4): which schemas a side can read.

A side may declare, in its version-1 connection request or accepting
response, every (event_type_id, schema_version) pair it can read. The
declaration is kept sorted and duplicate-free, as it is on the wire (SNEG-1),
so two equal declarations are equal values and encode to the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import EncodeError
from .limits import MAX_U64

__all__ = ["ReaderSchemas"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReaderSchemas:
    """``entries``: (event_type_id, (schema_version, ...)), both strictly ascending, none empty."""

    entries: tuple[tuple[int, tuple[int, ...]], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.entries, tuple) or not self.entries:
            raise EncodeError("a reader declaration lists at least one event type (SNEG-1)")
        previous = -1
        for entry in self.entries:
            if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], tuple)):
                raise EncodeError(f"reader declaration entry {entry!r} is not (event_type_id, (versions...))")
            type_id, versions = entry
            _check_u64("event_type_id", type_id)
            if type_id <= previous:
                raise EncodeError("event type ids of a reader declaration are strictly ascending (SNEG-1)")
            previous = type_id
            if not versions:
                raise EncodeError(f"event type {type_id} declares no schema version (SNEG-1)")
            last = -1
            for version in versions:
                _check_u64("schema_version", version)
                if version <= last:
                    raise EncodeError(f"schema versions of event type {type_id} are strictly ascending (SNEG-1)")
                last = version

    @classmethod
    def from_mapping(cls, readable: Mapping[int, Iterable[int]]) -> ReaderSchemas:
        """Build from ``{event_type_id: versions}`` in any order (duplicates collapse)."""
        return cls(entries=tuple((t, tuple(sorted(set(v)))) for t, v in sorted(readable.items())))

    def can_read(self, event_type_id: int, schema_version: int) -> bool:
        """SNEG-4: whether the declaring side can read this pair."""
        for type_id, versions in self.entries:
            if type_id == event_type_id:
                return schema_version in versions
        return False

    def as_mapping(self) -> dict[int, tuple[int, ...]]:
        return dict(self.entries)


def _check_u64(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_U64:
        raise EncodeError(f"{name} must be an int in 0..2^64-1, got {value!r}")
