"""The case catalogue. Each module registers its cases with :func:`case`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..model import Case, Level

__all__ = ["case", "catalogue"]

_CATALOGUE: list[Case] = []

CaseFunction = Callable[[Any], Awaitable[str]]  # takes a CaseContext (server mode) or a ClientCaseContext


def case(id: str, title: str, *, area: str, requirements: Iterable[str], reactions: Iterable[str],
         level: Level = Level.MUST, feature: str | None = None, timeout: float = 10.0, slow: bool = False,
         mode: str = "server") -> Callable[[CaseFunction], CaseFunction]:
    def register(run: CaseFunction) -> CaseFunction:
        if any(existing.id == id for existing in _CATALOGUE):
            raise ValueError(f"duplicate case id {id}")
        _CATALOGUE.append(Case(id=id, title=title, mode=mode, area=area, requirements=tuple(requirements),
                               level=level, reactions=tuple(reactions), run=run, feature=feature,
                               timeout=timeout, slow=slow))
        return run

    return register


def catalogue() -> list[Case]:
    from . import server_handshake, server_messaging, server_resources, server_transport  # noqa: F401 - register on import
    from . import server_v1  # noqa: F401
    from . import client_handshake, client_messaging, client_v1  # noqa: F401

    return list(_CATALOGUE)
