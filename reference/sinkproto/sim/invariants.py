"""The delivery guarantees, checked while a schedule runs and once the network has healed.

Each check is named by the requirement it checks (spec/v0/delivery.md,
"Guarantees under faults"); a protocol error between the two correct peers
is a violation of the requirement the error names. A :class:`Checker` is told what happens in a run
(by the simulated world) and collects a :class:`Violation` per broken
guarantee; the first one fails the schedule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..messages import ContextBase, Event
from ..session.backoff import FIELD_STEPS

__all__ = ["GUARANTEES", "Checker", "Violation"]

Key = tuple[int, bytes, int]

#: requirement ID -> what the simulator checks for it
GUARANTEES: dict[str, str] = {
    "DELIV-13": "after the network heals, every event a peer appended and the receiver did not NACK "
    "is stored and processed by the receiver exactly once",
    "DELIV-2": "a duplicate is never processed twice",
    "DELIV-14": "an event the receiver ACKed survives a crash of either peer",
    "DELIV-15": "the receiver processes the events of a topic in increasing offset order",
    "DELIV-16": "a NACKed event is a dead letter of its sender, never stored by the receiver, never published again",
    "MSGID-4": "a message id is never used again while it is in flight",
    "DELIV-17": "version fallback reaches a working connection within one refusal per version given up",
    "DELIV-7": "reconnect delays follow the backoff table (with DELIV-8 jitter; DELIV-9 reset)",
    "DELIV-18": "a refused client never sends or receives an event",
    "CLOSE-9": "a client told retry_after in the server's CLOSE waits at least that long before reconnecting",
    "CTX-10": "a sender names as a base only a batch in mode context its peer ACKed whole",
    "CTX-11": "after a NACK unknown_base, a sender names none of the bases it held for that peer",
}


@dataclass(frozen=True, slots=True)
class Violation:
    requirement: str
    detail: str
    at: float

    def __str__(self) -> str:
        return f"{self.requirement} at t={self.at:.3f}: {self.detail}"


@dataclass(slots=True)
class _Side:
    """One direction of delivery: what a sender appended for one receiver and what happened to it."""

    appended: dict[Key, bool] = field(default_factory=dict)  # key -> poison (the receiver NACKs it)
    processed: dict[Key, int] = field(default_factory=dict)  # key -> times processed
    last_processed: dict[tuple[int, bytes], int] = field(default_factory=dict)  # topic -> last offset processed
    acked: set[Key] = field(default_factory=set)  # ACKed by the receiver
    nacked: set[Key] = field(default_factory=set)  # NACKed by the receiver


class Checker:
    """Collects violations of :data:`GUARANTEES`; ``now`` is set by the world before each call."""

    def __init__(self, clients: int, client_versions: Iterable[tuple[int, ...]]) -> None:
        self.now = 0.0
        self.violations: list[Violation] = []
        self.up = [_Side() for _ in range(clients)]  # client i -> server
        self.down = [_Side() for _ in range(clients)]  # server -> client i
        self.versions = list(client_versions)
        self.version_refusals = [0] * clients
        self.failures = [0] * clients  # attempts since the last completed handshake (DELIV-9)
        self.retry_after: list[int | None] = [None] * clients  # the retry_after of the server's last CLOSE
        # CTX-10, CTX-11: per client, the (batch_id, digest) of the bases the server ACKed to it, and those forgotten
        self.acked_bases: list[set[tuple[int, bytes]]] = [set() for _ in range(clients)]
        self.forgotten_bases: list[set[tuple[int, bytes]]] = [set() for _ in range(clients)]

    def fail(self, requirement: str, detail: str) -> None:
        self.violations.append(Violation(requirement, detail, self.now))

    def side(self, client: int, upstream: bool) -> _Side:
        return self.up[client] if upstream else self.down[client]

    # -- what the world reports --------------------------------------------------------------------------

    def appended(self, client: int, upstream: bool, event: Event, poison: bool = False) -> None:
        self.side(client, upstream).appended[event.dedupe_key] = poison

    def processed(self, client: int, upstream: bool, event: Event) -> None:
        side = self.side(client, upstream)
        key = event.dedupe_key
        side.processed[key] = side.processed.get(key, 0) + 1
        if side.processed[key] > 1:
            self.fail("DELIV-2", f"{_who(client, upstream)} processed {key} {side.processed[key]} times")
        if side.appended.get(key):
            self.fail("DELIV-16", f"{_who(client, upstream)} stored the NACKed event {key}")
        topic = (event.event_type_id, event.key)
        last = side.last_processed.get(topic)
        if last is not None and event.offset <= last:
            self.fail("DELIV-15", f"{_who(client, upstream)} processed offset {event.offset} after {last} ({topic})")
        side.last_processed[topic] = event.offset

    def published(self, client: int, upstream: bool, events: Iterable[Event], *, refused: bool) -> None:
        side = self.side(client, upstream)
        for event in events:
            if refused:
                self.fail("DELIV-18", f"{_who(client, upstream, sender=True)}: {event.dedupe_key} sent after a refusal")
            if event.dedupe_key in side.nacked:
                self.fail(
                    "DELIV-16", f"{_who(client, upstream, sender=True)}: the NACKed event {event.dedupe_key} sent again"
                )

    def base_acked(self, client: int, base: ContextBase) -> None:
        """CTX-8: the server ACKed a batch in mode context of ``client`` whole: a base the client may name."""
        key = (base.batch_id, base.digest)
        self.acked_bases[client].add(key)
        self.forgotten_bases[client].discard(key)

    def bases_forgotten(self, client: int) -> None:
        """CTX-11: ``client`` received a NACK unknown_base: it must name none of its bases any more."""
        self.forgotten_bases[client] |= self.acked_bases[client]
        self.acked_bases[client].clear()

    def base_named(self, client: int, upstream: bool, base: ContextBase) -> None:
        """CTX-10, CTX-11: a batch just sent names ``base``."""
        key = (base.batch_id, base.digest)
        if not upstream or key in self.acked_bases[client]:
            return
        if key in self.forgotten_bases[client]:
            self.fail("CTX-11", f"client {client} names base {base.batch_id} after a NACK unknown_base")
        else:
            self.fail("CTX-10", f"client {client} names base {base.batch_id}, which the server did not ACK")

    def received_on_refused(self, client: int, upstream: bool, count: int) -> None:
        self.fail("DELIV-18", f"{_who(client, upstream)}: {count} events received on a refused connection")

    def answered(self, client: int, upstream: bool, acked: Iterable[Event], nacked: Iterable[Event]) -> None:
        side = self.side(client, upstream)
        side.acked.update(e.dedupe_key for e in acked)
        side.nacked.update(e.dedupe_key for e in nacked)

    def durable(self, client: int, upstream: bool, stored: set[Key]) -> None:
        """DELIV-14: after the receiver restarted, everything it ACKed is in its store."""
        side = self.side(client, upstream)
        lost = sorted(k for k in side.acked if k not in stored)
        if lost:
            self.fail("DELIV-14", f"{_who(client, upstream)}: ACKed but lost in a crash: {lost[:3]}")

    def attempt(self, client: int, delay: float | None) -> None:
        """DELIV-7..DELIV-9: a reconnection after ``delay`` seconds (None: the first attempt of a process)."""
        retry_after, self.retry_after[client] = self.retry_after[client], None
        if delay is not None:
            step = FIELD_STEPS[min(self.failures[client], len(FIELD_STEPS) - 1)]
            if retry_after is not None and delay < retry_after - 1e-9:
                self.fail(
                    "CLOSE-9", f"client {client} waited {delay:.3f} s, the server said retry after {retry_after} s"
                )
            elif not step * 0.9 - 1e-9 <= delay <= max(step * 1.1, retry_after or 0) + 1e-9:
                self.fail("DELIV-7", f"client {client} waited {delay:.3f} s, the table says {step} s +/-10%")
            self.failures[client] += 1

    def peer_closed(self, client: int, retry_after: int | None) -> None:
        """CLOSE-9: the server's CLOSE to ``client``; its ``retry_after`` bounds the next reconnection delay."""
        self.retry_after[client] = retry_after

    def restarted(self, client: int) -> None:
        self.failures[client] = 0
        self.retry_after[client] = None
        self.version_refusals[client] = 0

    def handshake(self, client: int, accepted: bool, version_refused: bool, fresh: bool) -> None:
        """DELIV-9, DELIV-17: a handshake ended; ``fresh`` when the count of version refusals starts again (the
        server's versions changed, or the client re-probes its highest version, VER-4)."""
        if accepted:
            self.failures[client] = 0
            self.version_refusals[client] = 0
            return
        if fresh:
            self.version_refusals[client] = 0
        if version_refused:
            self.version_refusals[client] += 1
            if self.version_refusals[client] > len(self.versions[client]) - 1:
                self.fail("DELIV-17", f"client {client} refused for its version {self.version_refusals[client]} times")

    def message_id_reused(self, client: int, upstream: bool, message_id: int) -> None:
        self.fail("MSGID-4", f"{_who(client, upstream, sender=True)} reused message id {message_id} while in flight")

    def protocol_error(self, where: str, requirement: str, detail: str) -> None:
        self.fail(requirement, f"{where} saw a protocol error from a correct peer: {detail}")

    def eventually(
        self, client: int, refused: bool, stored_up: set[Key], stored_down: set[Key], dead_up: set[Key]
    ) -> None:
        """DELIV-13, DELIV-16, DELIV-18 once the network has healed: ``stored_*`` is what each receiver's store
        holds, ``dead_up`` the client's dead letters."""
        for upstream, stored in ((True, stored_up), (False, stored_down)):
            side = self.side(client, upstream)
            if refused:
                if side.processed or stored:
                    self.fail("DELIV-18", f"refused client {client}: {len(stored)} events delivered")
                continue
            for key, poison in side.appended.items():
                if poison:
                    if key in stored:
                        self.fail("DELIV-16", f"{_who(client, upstream)}: NACKed event {key} stored")
                    elif key not in dead_up:
                        self.fail("DELIV-13", f"{_who(client, upstream)}: poison event {key} never answered")
                elif key not in stored or side.processed.get(key, 0) != 1:
                    self.fail(
                        "DELIV-13",
                        f"{_who(client, upstream)}: {key} stored {int(key in stored)}, "
                        f"processed {side.processed.get(key, 0)} times",
                    )
                    return


def _who(client: int, upstream: bool, *, sender: bool = False) -> str:
    if sender:
        return f"client {client}" if upstream else f"the server (to client {client})"
    return f"the server (from client {client})" if upstream else f"client {client}"
