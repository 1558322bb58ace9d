"""The real event store, with a fuse: a simulated power loss at a chosen write, between two commits."""

from __future__ import annotations

from typing import Any

from ..messages import Event
from ..store import EventStore

__all__ = ["CrashableStore", "SimulatedCrash"]


class SimulatedCrash(Exception):
    """The peer lost power at this point: nothing after the last commit happened."""


class CrashableStore(EventStore):
    """An :class:`EventStore` whose ``fuse``-th next write does not happen: the peer crashes instead.

    Every write of the store commits when it returns, so a crash raised
    before a write is a crash between two commits: the file keeps exactly
    what was committed (the simulator then drops the store object, losing
    nothing but memory, and opens the file again on restart).
    """

    fuse: int | None = None  # writes left before the crash; None: never

    def _burn(self) -> None:
        if self.fuse is not None:
            if self.fuse <= 0:
                self.fuse = None
                self.close()
                raise SimulatedCrash("power loss")
            self.fuse -= 1

    def append(self, **kwargs: Any) -> Event:
        self._burn()
        return super().append(**kwargs)

    def store_received(self, peer: str, event: Event) -> bool:
        self._burn()
        return super().store_received(peer, event)

    def mark_acked(self, peer: str, event: Event) -> None:
        self._burn()
        super().mark_acked(peer, event)

    def mark_acked_many(self, *args: Any, **kwargs: Any) -> None:
        self._burn()
        super().mark_acked_many(*args, **kwargs)

    def mark_nacked(self, *args: Any, **kwargs: Any) -> None:
        self._burn()
        super().mark_nacked(*args, **kwargs)

    def subscribe(self, *args: Any, **kwargs: Any) -> None:
        self._burn()
        super().subscribe(*args, **kwargs)

    def set_known_client_instance_id(self, *args: Any, **kwargs: Any) -> None:
        self._burn()
        super().set_known_client_instance_id(*args, **kwargs)

    def set_server_instance_id_for(self, *args: Any, **kwargs: Any) -> None:
        self._burn()
        super().set_server_instance_id_for(*args, **kwargs)

    def remember_version(self, *args: Any, **kwargs: Any) -> None:
        self._burn()
        super().remember_version(*args, **kwargs)

    def record_refusal(self, *args: Any, **kwargs: Any) -> None:
        self._burn()
        super().record_refusal(*args, **kwargs)

    def keep_base(self, *args: Any, **kwargs: Any) -> None:
        self._burn()
        super().keep_base(*args, **kwargs)

    def forget_bases(self, *args: Any, **kwargs: Any) -> None:
        self._burn()
        super().forget_bases(*args, **kwargs)

    def retry_dead_letter(self, *args: Any, **kwargs: Any) -> None:
        self._burn()
        super().retry_dead_letter(*args, **kwargs)
