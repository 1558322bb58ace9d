"""Which protocol version a client offers a server, and what it remembers after a refusal (VER-1..VER-4).

The memory is a mapping ``server -> (version it accepts, when it refused a
higher one)`` owned by the caller (in memory, or durable in the event store,
VER-3); the time is an argument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING

from ..messages import ConnectionRequest

if TYPE_CHECKING:
    from ..store import EventStore

__all__ = ["StoredVersions", "fall_back", "request_for", "version_to_offer"]


def version_to_offer(
    versions: Sequence[int], memory: Mapping[str, tuple[int, float]], server: str, now: float, reprobe_after: float
) -> int:
    """VER-1, VER-4: the highest of ``versions`` (sorted), unless ``server`` refused it less than ``reprobe_after`` ago."""
    highest = versions[-1]
    if len(versions) == 1:
        return highest
    remembered = memory.get(server)
    if remembered is not None and now - remembered[1] < reprobe_after:
        lower = [v for v in versions if v <= remembered[0]]
        return lower[-1] if lower else versions[0]
    return highest


def fall_back(
    versions: Sequence[int], memory: MutableMapping[str, tuple[int, float]], server: str, offered: int, now: float
) -> int | None:
    """VER-2: ``server`` refused ``offered`` with ``unsupported_protocol_version``.

    Remembers the next lower version of ``versions`` and returns it; None when
    there is no lower version to offer (the refusal is final for this client).
    """
    lower = [v for v in versions if v < offered]
    if not lower:
        return None
    memory[server] = (lower[-1], now)
    return lower[-1]


class StoredVersions(MutableMapping[str, tuple[int, float]]):
    """server -> (version it accepts, when it refused a higher one), durable in the event store (VER-3)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def __getitem__(self, server: str) -> tuple[int, float]:
        return self.store.remembered_versions()[server]

    def __setitem__(self, server: str, value: tuple[int, float]) -> None:
        self.store.remember_version(server, *value)

    def __delitem__(self, server: str) -> None:
        if server not in self.store.remembered_versions():
            raise KeyError(server)
        self.store.forget_version(server)

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.remembered_versions())

    def __len__(self) -> int:
        return len(self.store.remembered_versions())


def request_for(offer: int, request: ConnectionRequest) -> ConnectionRequest:
    """The application's request adjusted to the offered version (a declaration only on version 1)."""
    if offer == request.version:
        return request
    return dataclasses.replace(request, version=offer, reader_schemas=request.reader_schemas if offer == 1 else None)
