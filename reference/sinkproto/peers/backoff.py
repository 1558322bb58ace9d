"""Client reconnect delays: the schedule lives below the peers, in :mod:`sinkproto.session.backoff`."""

from __future__ import annotations

from ..session.backoff import FIELD_STEPS, Backoff

__all__ = ["Backoff", "FIELD_STEPS"]
