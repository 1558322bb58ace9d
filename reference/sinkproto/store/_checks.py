"""Argument checks shared by the store's methods.

A bad argument becomes a :class:`StoreError` naming it before any SQL runs,
instead of an sqlite3 error (or a silently stored wrong value) later.
"""

from __future__ import annotations

from ..errors import StoreError
from ..limits import MAX_U64
from ._schema import MAX_INSTANCE_ID, to_db

__all__ = ["check_instance_id", "check_peer", "stored_u64"]


def check_instance_id(what: str, value: object) -> int:
    """``value`` if it is an instance id (HS-5, HS-7: 32 bits); ``what`` names it in the error."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INSTANCE_ID:
        raise StoreError(f"{what} must be an int in 0..{MAX_INSTANCE_ID}, got {value!r}")
    return value


def check_peer(peer: object) -> str:
    """``peer`` if it is a peer name: a non-empty str."""
    if not isinstance(peer, str) or not peer:
        raise StoreError(f"a peer is a non-empty str, got {peer!r}")
    return peer


def stored_u64(name: str, value: object) -> int:
    """``value``, checked to be a u64, in its stored form (``to_db``); ``name`` names it in the error."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_U64:
        raise StoreError(f"{name} must be an int in 0..{MAX_U64}, got {value!r}")
    return to_db(value)
