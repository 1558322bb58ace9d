"""What a peer answers to a received event, and what one connection carried (used by every driver)."""

from __future__ import annotations

from dataclasses import dataclass

from ..connection import Connection

__all__ = ["ACK", "Answer", "Tally", "respond"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Answer:
    """What the application answers to a received event: ACK, or NACK with messages."""

    ack: bool = True
    machine_message: bytes = b""
    human_message: bytes = b""

    @classmethod
    def nack(cls, machine_message: bytes, human_message: bytes = b"") -> Answer:
        return cls(ack=False, machine_message=machine_message, human_message=human_message)


ACK = Answer()


@dataclass(kw_only=True, slots=True)
class Tally:
    """What one connection carried, in events: received from the peer and how we answered them, sent to the
    peer and how it answered. Batches count their events (version 1)."""

    received: int = 0
    acked: int = 0
    nacked: int = 0
    sent: int = 0
    peer_acked: int = 0
    peer_nacked: int = 0

    def as_log(self) -> dict[str, int]:
        return {
            "received": self.received,
            "acked": self.acked,
            "nacked": self.nacked,
            "sent": self.sent,
            "peer_acked": self.peer_acked,
            "peer_nacked": self.peer_nacked,
        }


def respond(connection: Connection, message_id: int, answer: Answer | None, now: float, tally: Tally) -> None:
    """Answer the peer's PUBLISH ``message_id``: ACK (``None`` is an ACK) or NACK with the answer's messages.

    The caller has stored the event first (MSGID-9): what ``respond`` queues
    is only sent after the commit.
    """
    answer = answer or ACK
    if answer.ack:
        tally.acked += 1
        connection.ack(message_id, now)
    else:
        tally.nacked += 1
        connection.nack(message_id, now, machine_message=answer.machine_message, human_message=answer.human_message)
