"""sinkcheck: the Sink conformance runner (``sink-check``).

It plays the peer of an implementation under test over a real socket,
crafting raw bytes with the reference codec (including bytes a correct peer
never sends), and reports, per case, a verdict that cites spec requirement IDs.
It never uses the reference state machine to decide a verdict.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"
