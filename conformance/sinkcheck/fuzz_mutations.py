"""Fuzz mode without I/O: seed sessions, seeded mutations of them, and delta-debugging.

A *session* is what one connection sends: an ordered list of :class:`Write`
(raw bytes, length prefixes included, and the pause before them). Seed
sessions are well-formed and built with the codec, never by a state machine,
so they are the same for the same seed, server instance id and profile: a
run is reproducible from its seed. Mutations work on the bytes, mostly on the
frame body with the length prefix recomputed (so framing stays in sync and the
decoder sees the damage), some on the prefix itself (so framing breaks).

Nothing here touches a socket, a clock or a global random generator: the
caller passes a :class:`random.Random`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from sinkproto import (
    Ack,
    ConnectionRequest,
    Event,
    Ping,
    Publish,
    encode_frame,
    frame_bytes,
)

T = TypeVar("T")

__all__ = ["MUTATORS", "TOKENS", "Session", "Write", "ddmin", "mutate", "seed_sessions", "unframe"]


@dataclass(frozen=True)
class Write:
    """One write on the connection: ``data`` exactly as sent, after waiting ``delay`` seconds."""

    data: bytes
    delay: float = 0.0


Session = list[Write]

#: Byte strings a mutation may splice in (a few of fuzz/sink.dict's tokens): headers of every frame type,
#: instance ids and varint edge cases, so the fuzzer reaches them without guessing byte by byte.
TOKENS: tuple[bytes, ...] = (
    b"\x00",
    b"\x01",
    b"\x20\x00",
    b"\x3f\xff",
    b"\x4f\xff",
    b"\x50\x00",
    b"\x5f\xff",
    b"\x60\x00",
    b"\x70\x01",
    b"\x80\x00",
    b"\xf0\x00",
    b"\xff\xff\xff\xff",
    b"\x7f",
    b"\x80\x01",
    b"\x80\x00",
    b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02",
    b"\xff\xff\xff",
    b"\xff\xff\x03",
    b"\x80\x80\x04",
)


def unframe(data: bytes) -> bytes | None:
    """The body of ``data`` if it is exactly one correctly prefixed frame, else None."""
    if len(data) >= 2 and int.from_bytes(data[:2], "big") == len(data) - 2:
        return data[2:]
    return None


def _event(key: bytes, offset: int, data: bytes) -> Event:
    return Event(
        event_type_id=1, schema_version=1, key=key, offset=offset, timestamp=1_700_000_000 + offset, event_data=data
    )


def seed_sessions(*, seed: int, server_instance_id: int, client_instance_id: int, app_version: bytes) -> list[Session]:
    """Well-formed sessions of a known client: handshake, publishes, ACKs of the server's events, PING.

    Each ends with a PING: while the peer's framing is in sync, its PONG tells the runner that every
    byte before it was processed, so an exchange ends without waiting out a quiet period.
    """
    key = f"sink-check/fuzz/{seed}".encode()

    def w(frame: object, delay: float = 0.0) -> Write:
        return Write(frame_bytes(encode_frame(frame)), delay)  # type: ignore[arg-type]

    known = ConnectionRequest(
        app_version=app_version, client_instance_id=client_instance_id, server_instance_id=server_instance_id
    )
    first_form = ConnectionRequest(app_version=app_version, client_instance_id=client_instance_id)
    return [
        # handshake, two publishes, ping
        [
            w(known),
            w(Publish(message_id=1, event=_event(key, 1, b"sink-check fuzz"))),
            w(Publish(message_id=2, event=_event(key + b"/2", 2, b""))),
            w(Ping()),
        ],
        # the interrupted-first-handshake form (no server id), a larger event (two-byte varints), ping
        [w(first_form), w(Publish(message_id=7, event=_event(key, 300, bytes(range(256)) * 2))), w(Ping())],
        # handshake, ACKs of the events a server publishes on connect (after a pause, so they are in flight), ping
        [
            w(known),
            w(Ack(message_id=1), 0.02),
            w(Ack(message_id=2)),
            w(Ping()),
            w(Publish(message_id=4095, event=_event(key, 2**40, b"x"))),
        ],
        # handshake then keepalive only
        [w(known), w(Ping()), w(Ping())],
    ]


# -- mutators: each takes (rng, session, all seeds) and returns a new session ---------------------------------


def _pick(rng: random.Random, session: Session) -> int:
    return rng.randrange(len(session))


def _body_edit(rng: random.Random, session: Session, edit: Callable[[random.Random, bytes], bytes]) -> Session:
    """Apply ``edit`` to one frame's body and recompute its prefix (a raw write is edited as a whole)."""
    i = _pick(rng, session)
    data = session[i].data
    body = unframe(data)
    if body is None:
        new = edit(rng, data)
    else:
        body = edit(rng, body)[:65535]  # a body grown past the largest frame is cut to fit
        new = len(body).to_bytes(2, "big") + body  # not frame_bytes: a zero-length frame is a fine mutation
    out = list(session)
    out[i] = replace(session[i], data=new)
    return out


def _flip_bit(rng: random.Random, body: bytes) -> bytes:
    if not body:
        return b"\x00"
    i = rng.randrange(len(body))
    return body[:i] + bytes([body[i] ^ (1 << rng.randrange(8))]) + body[i + 1 :]


def _set_type(rng: random.Random, body: bytes) -> bytes:
    """The frame type nibble (FRAME-1), any of the 16: reserved and unknown types included."""
    if not body:
        return bytes([rng.randrange(16) << 4])
    return bytes([(rng.randrange(16) << 4) | (body[0] & 0x0F)]) + body[1:]


def _varint_overlong(rng: random.Random, body: bytes) -> bytes:
    """A byte that may end a varint, re-encoded with 1-9 redundant continuation bytes (CONV-3)."""
    ends = [i for i in range(1, len(body)) if body[i] < 0x80]
    if not ends:
        return body
    i = rng.choice(ends)
    pad = rng.randint(1, 9)
    return body[:i] + bytes([body[i] | 0x80]) + b"\x80" * (pad - 1) + b"\x00" + body[i + 1 :]


def _varint_extend(rng: random.Random, body: bytes) -> bytes:
    """A varint byte replaced by a run of continuation bytes: unterminated, over 64 bits, or 11 bytes long."""
    if len(body) < 2:
        return body + b"\xff" * 10
    i = rng.randrange(1, len(body))
    return body[:i] + b"\xff" * rng.randint(1, 11) + body[i + 1 :]


def _truncate_body(rng: random.Random, body: bytes) -> bytes:
    return body[: rng.randrange(len(body))] if body else body


def _insert_token(rng: random.Random, body: bytes) -> bytes:
    i = rng.randint(0, len(body))
    return body[:i] + rng.choice(TOKENS) + body[i:]


def _random_byte(rng: random.Random, body: bytes) -> bytes:
    if not body:
        return bytes([rng.randrange(256)])
    i = rng.randrange(len(body))
    return body[:i] + bytes([rng.randrange(256)]) + body[i + 1 :]


def _prefix(rng: random.Random, session: Session, seeds: Sequence[Session]) -> Session:
    """A wrong length prefix: off by a few, zero, 65,535 or random. Framing is out of sync from here on."""
    i = _pick(rng, session)
    data = session[i].data
    n = len(data) - 2
    value = rng.choice([n + rng.choice((-3, -2, -1, 1, 2, 3)), 0, 1, 0xFFFF, rng.randrange(65536)]) % 65536
    out = list(session)
    out[i] = replace(session[i], data=value.to_bytes(2, "big") + data[2:])
    return out


def _truncate_stream(rng: random.Random, session: Session, seeds: Sequence[Session]) -> Session:
    """The connection stops mid-frame: the prefix announces more than is sent, nothing follows."""
    i = _pick(rng, session)
    data = session[i].data
    return session[:i] + [replace(session[i], data=data[: rng.randrange(len(data))])] if data else session[:i]


def _duplicate(rng: random.Random, session: Session, seeds: Sequence[Session]) -> Session:
    i = _pick(rng, session)
    return session[: i + 1] + [session[i]] + session[i + 1 :]


def _delete(rng: random.Random, session: Session, seeds: Sequence[Session]) -> Session:
    if len(session) < 2:
        return session
    i = _pick(rng, session)
    return session[:i] + session[i + 1 :]


def _swap(rng: random.Random, session: Session, seeds: Sequence[Session]) -> Session:
    if len(session) < 2:
        return session
    i, j = rng.sample(range(len(session)), 2)
    out = list(session)
    out[i], out[j] = out[j], out[i]
    return out


def _splice(rng: random.Random, session: Session, seeds: Sequence[Session]) -> Session:
    """A frame of another session inserted here (a request twice, an ACK before any PUBLISH, ...)."""
    donor = rng.choice(seeds)
    i = rng.randint(0, len(session))
    return session[:i] + [rng.choice(donor)] + session[i:]


def _coalesce(rng: random.Random, session: Session, seeds: Sequence[Session]) -> Session:
    """Two consecutive writes as one, so the peer reads both frames in one chunk."""
    if len(session) < 2:
        return session
    i = rng.randrange(len(session) - 1)
    return session[:i] + [Write(session[i].data + session[i + 1].data, session[i].delay)] + session[i + 2 :]


def _on_body(
    edit: Callable[[random.Random, bytes], bytes],
) -> Callable[[random.Random, Session, Sequence[Session]], Session]:
    def mutator(rng: random.Random, session: Session, seeds: Sequence[Session]) -> Session:
        return _body_edit(rng, session, edit)

    mutator.__name__ = edit.__name__.lstrip("_")
    return mutator


Mutator = Callable[[random.Random, Session, Sequence[Session]], Session]

#: (name, mutator); the name is recorded in a finding.
MUTATORS: tuple[tuple[str, Mutator], ...] = (
    ("flip-bit", _on_body(_flip_bit)),
    ("random-byte", _on_body(_random_byte)),
    ("frame-type", _on_body(_set_type)),
    ("varint-overlong", _on_body(_varint_overlong)),
    ("varint-extend", _on_body(_varint_extend)),
    ("truncate-frame", _on_body(_truncate_body)),
    ("insert-token", _on_body(_insert_token)),
    ("length-prefix", _prefix),
    ("truncate-stream", _truncate_stream),
    ("duplicate", _duplicate),
    ("delete", _delete),
    ("reorder", _swap),
    ("splice", _splice),
    ("coalesce", _coalesce),
)


def mutate(rng: random.Random, seeds: Sequence[Session]) -> tuple[Session, list[str]]:
    """A seed session with 1 to 4 stacked mutations, and their names."""
    session = list(rng.choice(seeds))
    names = []
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
        name, mutator = rng.choice(MUTATORS)
        session = mutator(rng, session, seeds) or [Write(b"")]
        names.append(name)
    return [w for w in session if w.data] or [Write(b"\x00\x00")], names


def ddmin(
    items: Sequence[T], fails: Callable[[list[T]], bool], *, budget: Callable[[], bool] = lambda: True
) -> list[T]:
    """Zeller's delta debugging: a 1-minimal sublist of ``items`` for which ``fails`` still holds.

    ``fails(items)`` is assumed true. ``budget()`` returning False stops early with the smallest
    failing list found so far (shrinking is bounded in time like the rest of a run).
    """
    # work on positions, not values: equal values (bytes of a frame) must stay distinct items
    current = list(range(len(items)))
    seen: dict[tuple[int, ...], bool] = {}

    def check(candidate: list[int]) -> bool:
        key = tuple(candidate)
        if key not in seen:
            seen[key] = fails([items[i] for i in candidate])
        return seen[key]

    n = 2
    while len(current) >= 2 and budget():
        size = math.ceil(len(current) / n)
        chunks = [current[i : i + size] for i in range(0, len(current), size)]
        for chunk in chunks:
            if budget() and check(chunk):
                current, n = chunk, 2
                break
        else:
            for k in range(len(chunks)):
                complement = [x for j, c in enumerate(chunks) if j != k for x in c]
                if budget() and check(complement):
                    current, n = complement, max(n - 1, 2)
                    break
            else:
                if n >= len(current):
                    break
                n = min(2 * n, len(current))
    return [items[i] for i in current]
