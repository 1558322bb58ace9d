"""Which protocol version a client offers a server, and what it remembers after a refusal (VER-1..VER-4).

The memory is a mapping ``server -> (version it accepts, when it refused a
higher one)`` owned by the caller (in memory, or durable in the event store,
VER-3); the time is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence

__all__ = ["fall_back", "version_to_offer"]


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
