"""Check a case's ``avro`` entries: its event_data decode, through the registry, to the records beside them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sinkproto.errors import DecodeError, SchemaError
from sinkproto.messages import Batch, BatchPublish, Event, Publish
from sinkproto.schemas import Registry, default_registry

from .model import Case, decode_kind

__all__ = ["check_avro", "events_of"]


def events_of(value: Any) -> Sequence[Event]:
    """The events a decoded value carries, in the order ``avro`` entries index them."""
    if isinstance(value, Event):
        return (value,)
    if isinstance(value, Publish):
        return (value.event,)
    if isinstance(value, Batch):
        return value.events
    if isinstance(value, BatchPublish):
        return value.batch.events
    return ()


def _short(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True)
    return text if len(text) <= 200 else text[:200] + "..."


def _check_entry(registry: Registry, events: Sequence[Event], entry: dict[str, Any]) -> list[str]:
    index = entry.get("event")
    if not isinstance(index, int) or not 0 <= index < len(events):
        return [f"avro entry names event {index!r}, the case has {len(events)} events"]
    event = events[index]
    where = f"avro entry for event {index} (event_type_id {event.event_type_id}, schema_version {event.schema_version})"
    if "error" in entry:
        try:
            record = registry.decode(event.event_type_id, event.schema_version, event.event_data)
        except SchemaError as exc:
            return (
                []
                if exc.reason == entry["error"]
                else [f"{where}: expected {entry['error']}, the registry reports {exc}"]
            )
        return [f"{where}: expected {entry['error']}, but it decodes to {_short(record)}"]
    problems: list[str] = []
    try:
        version = registry.resolve(event.event_type_id, event.schema_version)
        if version.event_type != entry.get("event_type"):
            problems.append(
                f"{where}: the registry names it {version.event_type}, the case says {entry.get('event_type')}"
            )
        record = registry.decode(event.event_type_id, event.schema_version, event.event_data)
        if record != entry["record"]:
            return [
                *problems,
                f"{where}: event_data decodes to {_short(record)}, the case's record is {_short(entry['record'])}",
            ]
        # Avro's binary encoding of a record is unique: the record must give back the exact bytes.
        if registry.encode(event.event_type_id, event.schema_version, entry["record"]) != event.event_data:
            problems.append(f"{where}: encoding the record does not give the event_data bytes")
        for reader in entry.get("read_as", []):
            seen = registry.decode(
                event.event_type_id, event.schema_version, event.event_data, reader_version=reader["schema_version"]
            )
            if seen != reader["record"]:
                problems.append(
                    f"{where}: a version {reader['schema_version']} reader sees {_short(seen)}, the case says "
                    f"{_short(reader['record'])}"
                )
    except SchemaError as exc:
        problems.append(f"{where}: {exc}")
    return problems


def check_avro(kind: str, case: Case, registry: Registry | None = None) -> list[str]:
    """Problems with ``case.avro`` (none when the case has no Avro content)."""
    if case.avro is None:
        return []
    try:
        registry = registry or default_registry()
        value = decode_kind(kind, case.data, case.decode_limits())
    except (SchemaError, DecodeError) as exc:
        return [f"avro: {exc}"]
    events = events_of(value)
    return [problem for entry in case.avro for problem in _check_entry(registry, events, entry)]
