"""``sink status``, ``sink dead-letters`` and ``sink policies``: operating the reference peers' event stores.

They open the same SQLite file as a running ``sink serve`` or ``sink
connect`` (WAL: readers never block the peer, a writer waits for the other
at most a few seconds), so they work against a live peer: a policy applied
or a dead letter retried is picked up by the peer's next outbox poll.
The options are parsed in :mod:`sinktools.cli`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sinkproto.errors import SchemaError, StoreError
from sinkproto.jsonform import event_to_json
from sinkproto.store import DeadLetter, DeliveryPolicy, EventStore, PolicySet, StoreStatus, load_policies

__all__ = [
    "Selection",
    "dead_letter_to_json",
    "dead_letters_export",
    "dead_letters_list",
    "dead_letters_retry",
    "policies_apply",
    "policies_show",
    "status",
    "status_to_json",
    "REFUSAL_HINTS",
]

#: What an operator can do about each refusal a client gets (HS-16, HS-17): shown by `sink connect` and `sink status`.
REFUSAL_HINTS = {
    "instance_id_mismatch": "this database is bound to another server instance or client identity: use a new --db "
    "for this client name, or the --name it was synced with (the client does not resolve "
    "this by itself, HS-16)",
    "quarantined": "the server's operator quarantined this client identity: only they can lift it",
    "unsupported_protocol_version": "the server does not accept the protocol version offered; a version-0 client "
    "has no lower one to offer (HS-21): the server must accept version 0",
    "unsupported_application_version": "the server does not accept this --app-version: upgrade the client or ask "
    "the server's operator",
}


# ---------------------------------------------------------------- helpers


def _open_existing(path: str) -> EventStore:
    # These commands inspect or repair a peer's store; creating an empty one
    # because of a typo in the path would only hide the mistake.
    if not Path(path).is_file():
        raise StoreError(f"{path}: no such event store")
    return EventStore.open(path, new_instance_id=lambda: 0)  # never called: the file exists


def _type_names(schemas: str | None) -> dict[int, str]:
    """Event type names from the schema registry, if one is found (names are a convenience, ids are the truth)."""
    from sinkproto.schemas import default_registry

    try:
        registry = default_registry(Path(schemas) if schemas else None)
    except SchemaError:
        return {}
    return {t.id: t.name for t in registry}


def _registry(schemas: str | None) -> Any:
    from sinkproto.schemas import default_registry

    try:
        return default_registry(Path(schemas) if schemas else None)
    except SchemaError:
        return None


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _age(now: float, then: float | None) -> float | None:
    return None if then is None else round(now - then, 3)


def _when(at: float | None) -> str:
    if at is None:
        return "never"
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            whole = int(seconds // size)
            rest = int((seconds - whole * size) // (size // (24 if unit == "d" else 60)))
            sub = {"d": "h", "h": "m", "m": "s"}[unit]
            return f"{sign}{whole}{unit}{rest}{sub}" if rest else f"{sign}{whole}{unit}"
    return f"{sign}{seconds:.0f}s"


def _policy_json(policy: DeliveryPolicy) -> dict[str, Any]:
    return {
        "priority": policy.priority,
        "transmission": policy.transmission,
        "keep_last": policy.keep_last,
        "keep_days": policy.keep_days,
    }


# ---------------------------------------------------------------- sink status


def status_to_json(status: StoreStatus, *, now: float, names: dict[int, str]) -> dict[str, Any]:
    """The JSON form of ``sink status --json`` (times are unix seconds, ages seconds before ``now``)."""
    peers = []
    for peer in status.peers:
        types = []
        for t in peer.types:
            oldest = t.oldest_unsent
            types.append(
                {
                    "event_type_id": t.event_type_id,
                    "name": names.get(t.event_type_id),
                    "policy": _policy_json(status.policies.for_type(t.event_type_id)),
                    "pending": t.pending,
                    "oldest_unsent": None
                    if oldest is None
                    else {
                        "key": _text(oldest.key),
                        "key_hex": oldest.key.hex(),
                        "offset": oldest.offset,
                        "timestamp": oldest.timestamp,
                        "age_s": _age(now, oldest.timestamp),
                    },
                    "superseded": t.superseded,
                    "dead_letters": t.dead_letters,
                    "received": t.received,
                    "newest_received_timestamp": t.newest_received_timestamp,
                    "freshness_s": _age(now, t.newest_received_timestamp),
                }
            )
        peers.append(
            {
                "peer": peer.peer,
                "subscription": "all" if peer.subscription is None else sorted(peer.subscription),
                "last_handshake_at": peer.last_handshake_at,
                "last_seen_at": peer.last_seen_at,
                "last_seen_age_s": _age(now, peer.last_seen_at),
                "pending": peer.pending,
                "dead_letters": peer.dead_letters,
                "last_refusal": None
                if peer.last_refusal is None
                else {
                    "response": peer.last_refusal.response,
                    "at": peer.last_refusal.at,
                    "machine_message": _text(peer.last_refusal.machine_message),
                    "human_message": _text(peer.last_refusal.human_message),
                    # refused after the last completed handshake: the peer is still refused
                    "current": peer.last_handshake_at is None or peer.last_refusal.at >= peer.last_handshake_at,
                },
                "types": types,
            }
        )
    return {
        "instance_id": status.instance_id,
        "now": now,
        "stored": status.stored,
        "log": [
            {
                "event_type_id": entry.event_type_id,
                "name": names.get(entry.event_type_id),
                "topics": entry.topics,
                "stored": entry.stored,
                "produced": entry.produced,
                "newest_timestamp": entry.newest_timestamp,
                "policy": _policy_json(status.policies.for_type(entry.event_type_id)),
            }
            for entry in status.log
        ],
        "peers": peers,
    }


def _print_status(report: dict[str, Any], db: str, out: TextIO) -> None:
    now = report["now"]
    print(f"store {db}  instance {report['instance_id']:#010x}  {report['stored']} events stored", file=out)
    for entry in report["log"]:
        policy = entry["policy"]
        retention = ", ".join(f"{k} {policy[k]}" for k in ("keep_last", "keep_days") if policy[k] is not None)
        print(
            f"  log {entry['event_type_id']} {entry['name'] or ''}: {entry['topics']} topics, {entry['stored']} stored"
            f" of {entry['produced']} produced, newest {_duration(_age(now, entry['newest_timestamp']))} ago;"
            f" priority {policy['priority']}, {policy['transmission']}" + (f", {retention}" if retention else ""),
            file=out,
        )
    for peer in report["peers"]:
        subscription = peer["subscription"] if peer["subscription"] != "all" else "all types"
        print(f"\npeer {peer['peer']}  ({subscription})", file=out)
        print(
            f"  last handshake {_when(peer['last_handshake_at'])}, last seen {_when(peer['last_seen_at'])}"
            f" ({_duration(peer['last_seen_age_s'])} ago)  pending {peer['pending']}  dead letters {peer['dead_letters']}",
            file=out,
        )
        refusal = peer.get("last_refusal")
        if refusal is not None and refusal["current"]:
            messages = ": ".join(m for m in (refusal["machine_message"], refusal["human_message"]) if m)
            print(
                f"  REFUSED {_when(refusal['at'])}: {refusal['response']}"
                + (f" ({messages})" if messages else "")
                + (f"; {REFUSAL_HINTS[refusal['response']]}" if refusal["response"] in REFUSAL_HINTS else ""),
                file=out,
            )
        if not peer["types"]:
            continue
        print(
            f"  {'type':<26} {'pending':>8} {'oldest unsent':<28} {'superseded':>10} {'dead':>5} {'received':>9}"
            f" {'freshness':>9}",
            file=out,
        )
        for t in peer["types"]:
            label = f"{t['event_type_id']} {t['name'] or ''}".strip()
            oldest = t["oldest_unsent"]
            unsent = "-" if oldest is None else f"{oldest['key']}@{oldest['offset']} {_duration(oldest['age_s'])} ago"
            print(
                f"  {label:<26} {t['pending']:>8} {unsent:<28} {t['superseded']:>10} {t['dead_letters']:>5}"
                f" {t['received']:>9} {_duration(t['freshness_s']):>9}",
                file=out,
            )


def status(
    db: str, *, peer: str | None = None, as_json: bool = False, now: float | None = None, schemas: str | None = None
) -> int:
    """`sink status`: the store's state per peer and event type (``now``: unix time to compute ages from)."""
    now = time.time() if now is None else now
    with _open_existing(db) as store:
        found = store.status(peer)
    report = status_to_json(found, now=now, names=_type_names(schemas))
    if as_json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        _print_status(report, db, sys.stdout)
    return 0


# ---------------------------------------------------------------- sink dead-letters


def dead_letter_to_json(letter: DeadLetter) -> dict[str, Any]:
    """One line of ``sink dead-letters export``: the event in the vectors' JSON form and the NACK."""
    return {
        "peer": letter.peer,
        "event": event_to_json(letter.event),
        "machine_message": _text(letter.machine_message),
        "machine_message_hex": letter.machine_message.hex(),
        "human_message": _text(letter.human_message),
        "human_message_hex": letter.human_message.hex(),
        "nacked_at": letter.nacked_at,
    }


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which dead letters a `sink dead-letters` command acts on: those matching every option given."""

    peer: str | None = None  #: client identity on a server, HOST:PORT on a client
    event_type: int | None = None
    key: str | None = None  #: UTF-8
    offset: int | None = None
    machine_message: str | None = None  #: the NACK's machine message

    @property
    def names_any(self) -> bool:
        """Whether an event option is given (--peer alone selects every dead letter of that peer)."""
        return any(option is not None for option in (self.event_type, self.key, self.offset, self.machine_message))


def _selected(letters: Iterable[DeadLetter], selection: Selection) -> list[DeadLetter]:
    chosen = []
    for letter in letters:
        event = letter.event
        if selection.machine_message is not None and letter.machine_message != selection.machine_message.encode():
            continue
        if selection.event_type is not None and event.event_type_id != selection.event_type:
            continue
        if selection.key is not None and event.key != selection.key.encode():
            continue
        if selection.offset is not None and event.offset != selection.offset:
            continue
        chosen.append(letter)
    return chosen


def dead_letters_list(db: str, selection: Selection, *, as_json: bool = False, schemas: str | None = None) -> int:
    """`sink dead-letters list`: the selected dead letters with their NACK reasons."""
    with _open_existing(db) as store:
        letters = _selected(store.dead_letters(selection.peer), selection)
    if as_json:
        json.dump([dead_letter_to_json(letter) for letter in letters], sys.stdout, indent=2)
        print()
        return 0
    names = _type_names(schemas)
    for letter in letters:
        e = letter.event
        label = f"{e.event_type_id} {names.get(e.event_type_id, '')}".strip()
        print(
            f"{letter.peer}  {label}  {_text(e.key)}@{e.offset}  {_when(letter.nacked_at)}  "
            f"{_text(letter.machine_message)}: {_text(letter.human_message)}"
        )
    print(f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''}", file=sys.stderr)
    return 0


def dead_letters_export(db: str, selection: Selection, *, output: str | None = None) -> int:
    """`sink dead-letters export`: the selected dead letters as JSON lines, to ``output`` (None or "-": stdout)."""
    with _open_existing(db) as store:
        letters = _selected(store.dead_letters(selection.peer), selection)
    lines = "".join(json.dumps(dead_letter_to_json(letter)) + "\n" for letter in letters)
    if output in (None, "-"):
        sys.stdout.write(lines)
    else:
        Path(output).write_text(lines, encoding="utf-8")
    print(f"exported {len(letters)} dead letter{'s' if len(letters) != 1 else ''}", file=sys.stderr)
    return 0


def dead_letters_retry(db: str, selection: Selection, *, every: bool = False) -> int:
    """`sink dead-letters retry`: make the selected dead letters pending again (``every``: --all)."""
    if not every and not selection.names_any:
        print(
            "sink dead-letters retry: name the events with --event-type, --key, --offset or --machine-message "
            "(any of them, or several: they combine), or pass --all for every dead letter (of --peer)",
            file=sys.stderr,
        )
        return 2
    with _open_existing(db) as store:
        letters = _selected(store.dead_letters(selection.peer), selection)
        for letter in letters:
            # One at a time, each its own transaction: a retry is an operator's
            # decision per event, and a failure leaves the others done.
            store.retry_dead_letter(letter.peer, letter.event)
    print(
        f"sink dead-letters retry: {len(letters)} event{'s' if len(letters) != 1 else ''} pending again "
        f"(sent once more at the peer's next connection or poll; a new NACK makes a new dead letter)"
    )
    return 0


# ---------------------------------------------------------------- sink policies


def policies_apply(db: str, file: str, *, schemas: str | None = None) -> int:
    """`sink policies apply`: replace the store's policies with those of a policy file."""
    policies = load_policies(file, _registry(schemas))  # checked completely before the store is touched
    with _open_existing(db) as store:
        store.set_policies(policies)
    print(
        f"sink policies apply: {db} now uses {file} "
        f"({len(policies.by_type)} event type{'s' if len(policies.by_type) != 1 else ''} and the default)"
    )
    return 0


def _policies_json(policies: PolicySet, names: dict[int, str]) -> dict[str, Any]:
    return {
        "default": _policy_json(policies.default),
        "event_type": {str(t): {"name": names.get(t), **_policy_json(p)} for t, p in policies.by_type.items()},
    }


def policies_show(db: str, *, as_json: bool = False, schemas: str | None = None) -> int:
    """`sink policies show`: the store's policies, as policy TOML or JSON."""
    with _open_existing(db) as store:
        policies = store.policies()
    names = _type_names(schemas)
    if as_json:
        json.dump(_policies_json(policies, names), sys.stdout, indent=2)
        print()
        return 0
    # TOML that `sink policies apply` reads back (ids, with the names as comments).
    print("[default]")
    for key, value in policies.default.as_toml_fields().items():
        print(f"{key} = {json.dumps(value)}")
    for event_type_id, policy in policies.by_type.items():
        name = names.get(event_type_id)
        print(f"\n[event_type.{event_type_id}]" + (f"  # {name}" if name else ""))
        for key, value in policy.as_toml_fields().items():
            print(f"{key} = {json.dumps(value)}")
    return 0
