"""What a peer declares in its version-1 handshake frame (DECL-1, KEEP-8), without I/O.

A side declares its keepalive interval K when it is not the default 60 s
(KEEP-8) and, if configured to, receive limits such as the constrained
profile (:data:`~sinkproto.messages.CONSTRAINED_PROFILE`). Both asyncio
peers use :func:`declaration` for their request or accepting response.
"""

from __future__ import annotations

import dataclasses

from ..messages import CONSTRAINED_PROFILE, DECLARED_BOUNDS, DeclaredLimits

__all__ = [
    "DEFAULT_CONTEXT_BASES",
    "DEFAULT_CONTEXT_LIFETIME",
    "PROFILES",
    "context_declaration",
    "declaration",
    "merged",
]

#: CTX-9: how many bases the reference server keeps per client, and for how long at least (seconds)
DEFAULT_CONTEXT_BASES = 16
DEFAULT_CONTEXT_LIFETIME = 86400

#: the named profiles ``--declare-limits`` accepts
PROFILES: dict[str, DeclaredLimits] = {"constrained": CONSTRAINED_PROFILE}

_K_DEFAULT = 60
_K_LOW, _K_HIGH = next((low, high) for name, _bit, low, high, _default in DECLARED_BOUNDS if name == "keepalive")


def declaration(keepalive: float, limits: DeclaredLimits | None = None) -> DeclaredLimits | None:
    """The declaration of a side with keepalive interval ``keepalive`` (seconds) and receive ``limits``.

    KEEP-8: a K that is not 60 s is declared. The field carries whole seconds
    in 10..65535, so a K outside that (a test's sub-second K) or with a
    fraction cannot be declared and is left out; a K the profile declares is
    replaced by the configured one. None when there is nothing to declare.
    """
    declared_k = int(keepalive) if keepalive == int(keepalive) and _K_LOW <= keepalive <= _K_HIGH else None
    if declared_k == _K_DEFAULT:
        declared_k = None
    if limits is None:
        return None if declared_k is None else DeclaredLimits(keepalive=declared_k)
    return dataclasses.replace(limits, keepalive=declared_k)


def context_declaration(bases: int, lifetime: int = DEFAULT_CONTEXT_LIFETIME) -> DeclaredLimits | None:
    """CTX-1, CTX-9: a receiver that keeps ``bases`` bases per peer for ``lifetime`` seconds declares them.

    0 bases is declaring nothing (the side takes no batch in mode context);
    the lifetime is declared only when it is not the 86,400 s default.
    """
    if bases == 0:
        return None
    return DeclaredLimits(
        context_bases=bases, context_lifetime=None if lifetime == DEFAULT_CONTEXT_LIFETIME else lifetime
    )


def merged(first: DeclaredLimits | None, second: DeclaredLimits | None) -> DeclaredLimits | None:
    """One declaration of every field either declares, ``second``'s where both do."""
    if first is None or second is None:
        return first if second is None else second
    changes = {name: getattr(second, name) for name, *_ in DECLARED_BOUNDS if getattr(second, name) is not None}
    return dataclasses.replace(first, **changes)
