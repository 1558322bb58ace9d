"""What a peer declares in its version-1 handshake frame (DECL-1, KEEP-8), without I/O.

A side declares its keepalive interval K when it is not the default 60 s
(KEEP-8) and, if configured to, receive limits such as the constrained
profile (:data:`~sinkproto.messages.CONSTRAINED_PROFILE`). Both asyncio
peers use :func:`declaration` for their request or accepting response.
"""

from __future__ import annotations

import dataclasses

from ..messages import CONSTRAINED_PROFILE, DECLARED_BOUNDS, DeclaredLimits

__all__ = ["PROFILES", "declaration"]

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
