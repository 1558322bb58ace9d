"""The protocol versions the kit speaks, and how a table keyed by version is read.

Where the wire differs by version, the kit keeps a table keyed by the
version from which each entry applies (the codecs' frame and batch tables,
their rule tables): :func:`pick` reads one for a connection's version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

__all__ = ["SUPPORTED_VERSIONS", "pick"]

T = TypeVar("T")

SUPPORTED_VERSIONS: tuple[int, ...] = (0, 1)
"""Every protocol version the kit implements; any other ``version=`` is a ``ValueError`` in the codecs."""


def pick(entries: Mapping[int, T], version: int) -> T | None:
    """The entry of the greatest version at most ``version``: what that version uses (None: not defined yet)."""
    applicable = [key for key in entries if key <= version]
    return entries[max(applicable)] if applicable else None
