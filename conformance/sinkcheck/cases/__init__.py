"""The case catalogue. Each module registers its cases with :func:`case`."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..model import Case, Level

__all__ = ["case", "catalogue"]

_CATALOGUE: list[Case] = []

CaseFunction = Callable[[Any], Awaitable[str]]  # takes a CaseContext (server mode) or a ClientCaseContext


def case(
    id: str,
    title: str,
    *,
    area: str,
    requirements: Iterable[str],
    reactions: Iterable[str],
    level: Level = Level.MUST,
    feature: str | None = None,
    timeout: float = 10.0,
    slow: bool = False,
    mode: str = "server",
    needs_client_store: bool = False,
) -> Callable[[CaseFunction], CaseFunction]:
    def register(run: CaseFunction) -> CaseFunction:
        if any(existing.id == id for existing in _CATALOGUE):
            raise ValueError(f"duplicate case id {id}")
        _CATALOGUE.append(
            Case(
                id=id,
                title=title,
                mode=mode,
                area=area,
                requirements=tuple(requirements),
                level=level,
                reactions=tuple(reactions),
                run=run,
                feature=feature,
                timeout=timeout,
                slow=slow,
                needs_client_store=needs_client_store,
            )
        )
        return run

    return register


#: The case modules, in catalogue order: server cases run in this order. The context modules come last: their cases
#: build on version 1's.
MODULES = (
    "client_handshake",
    "client_messaging",
    "client_v1",
    "server_handshake",
    "server_messaging",
    "server_resources",
    "server_transport",
    "server_v1",
    "context_server",
    "context_client",
)


def catalogue() -> list[Case]:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")  # registers its cases
    # in the order of MODULES whichever module was imported first (a stable sort keeps each module's own order)
    return sorted(_CATALOGUE, key=lambda case: (_run_order(case), _module_rank(case)))


def _module_rank(case: Case) -> int:
    return MODULES.index(case.run.__module__.rsplit(".", 1)[-1])


def _run_order(case: Case) -> int:
    """Server cases as registered; then the client cases that need the client's version-1 offer (context coding is
    a version-1 extension), the fallback last.

    Once a case has refused version 1, a client that keeps its fallback
    durably (VER-3) offers version 0 to the runner for the whole re-probe
    interval (VER-4), so those cases come before any case that refuses
    version 1: ``client.v1.fallback``, then the version-0 cases, which play a
    version-0 server and accept the client's fallback connection.
    """
    if case.mode != "client":
        return 0
    if case.id == "client.v1.fallback":
        return 2
    return 1 if case.area in ("version-1", "context") else 3
