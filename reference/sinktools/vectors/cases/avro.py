"""Vector sources whose event_data are Avro records from ``schemas/``.

The cases go into the existing ``event``, ``publish`` and ``batch`` files (one
message kind per file); each carries an ``avro`` list beside its bytes with
the logical record of every event it gives meaning to, and what the other
versions' readers make of it (``read_as``). Records are written here, as the
maintainers' examples; their bytes come from the registry's schemas, so a
schema change shows up as changed vectors in ``sink vectors regenerate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sinkproto import construct_codec as codec
from sinkproto.errors import SchemaError
from sinkproto.messages import Batch, Event, Publish
from sinkproto.schemas import Registry, default_registry

from ..builder import Builder

__all__ = ["AVRO_GENERATORS", "EXAMPLES", "avro_entry", "missing_examples"]

Record = dict[str, Any]
T0 = 1_709_294_400  # 2024-03-01 12:00 UTC: a March afternoon on a mini-grid

# (event type name, schema version) -> an example record, as a maintainer would write it.
# Append a new version's example at the END: each example's offset and timestamp follow its position
# (event_cases), so an example inserted in the middle changes the bytes of every later, locked, case.
EXAMPLES: dict[tuple[str, int], Record] = {
    ("meter_reading", 1): {
        "meter_serial": "SM5R-000123",
        "interval_seconds": 900,
        "energy_wh": 123456,
        "voltage_dv": 2301,
        "current_ma": 1520,
        "power_factor_permille": 960,
        "frequency_mhz": 50010,
    },
    ("meter_reading", 2): {
        "meter_serial": "SM5R-004417",
        "interval_seconds": 900,
        "active_energy_import_wh": 2718281,
        "active_energy_export_wh": 31415,
        "voltage_dv": 2288,
        "current_ma": 4120,
        "power_factor_permille": 912,
        "frequency_mhz": 49980,
        "reactive_energy_varh": 77120,
        "phase": "L2",
    },
    ("meter_state_change", 1): {
        "meter_serial": "SM5R-000123",
        "relay": "OPEN",
        "reason": "CREDIT_EXHAUSTED",
        "command_id": None,
    },
    ("meter_state_change", 2): {
        "meter_serial": "SM5R-000123",
        "relay": "CLOSED",
        "reason": "CREDIT_RESTORED",
        "command_id": None,
        "credit_balance_wh": 5000,
        "supply_voltage_dv": 2304,
    },
    ("credit_top_up", 1): {
        "transaction_id": "MPESA-QK7H2L9XZT",
        "meter_serial": "SM5R-000123",
        "amount_minor": 50000,
        "currency": "TZS",
        "energy_credit_wh": 5000,
        "channel": "MOBILE_MONEY",
        "paid_at": T0 - 300,
    },
    ("load_limit_command", 1): {
        "command_id": "cmd-20240301-0042",
        "meter_serial": "SM5R-004417",
        "max_power_w": 300,
        "expires_at": T0 + 43_200,
        "reason": "evening peak: battery below 40%",
    },
    ("tariff_schedule", 1): {
        "tariff_id": "kisiju-2024-03",
        "site_id": "kisiju",
        "currency": "TZS",
        "effective_from": 1_709_251_200,
        "bands": [
            {"start_minute": 0, "price_per_kwh_minor": 800},
            {"start_minute": 360, "price_per_kwh_minor": 1000},
            {"start_minute": 1080, "price_per_kwh_minor": 1500},
            {"start_minute": 1380, "price_per_kwh_minor": 800},
        ],
        "daily_fee_minor": 100,
    },
    ("firmware_status", 1): {
        "device_id": "BS-0042",
        "component": "BASE_STATION_APP",
        "running_version": "3.4.1",
        "pending_version": "3.5.0",
        "update_state": "VERIFYING",
        "boot_count": 211,
        "last_reset_reason": "UPDATE",
        "uptime_seconds": 86_400,
    },
    ("base_station_health", 1): {
        "station_id": "BS-0042",
        "battery_voltage_mv": 12640,
        "temperature_dc": 412,
        "rssi_dbm": -87,
        "storage_free_kib": 1_843_200,
        "outbox_depth": 17,
        "uptime_seconds": 86_400,
    },
    ("base_station_health", 2): {
        "station_id": "BS-0042",
        "battery_voltage_mv": 12610,
        "temperature_dc": 398,
        "rssi_dbm": -91,
        "storage_free_kib": 1_843_072,
        "outbox_depth": 3,
        "uptime_seconds": 87_300,
        "cellular_operator": "640-04",
        "meters_online": 57,
    },
    ("base_station_health", 3): {
        "station_id": "BS-0042",
        "battery_voltage_mv": 12590,
        "temperature_dc": 385,
        "rssi_dbm": -89,
        "storage_free_kib": 1_842_944,
        "outbox_depth": 0,
        "uptime_seconds": 88_200,
        "cellular_operator": "640-04",
        "meters_online": 58,
        "position": {"latitude_e7": -70_700_000, "longitude_e7": 392_000_000},
        "data_used_today_bytes": 183_211,
    },
}


def missing_examples(registry: Registry) -> list[tuple[str, int]]:
    """The (event type name, schema version) pairs of the registry that have no example in ``EXAMPLES``.

    Such a version has no vector: ``sink vectors regenerate`` warns about it. A new example goes at the
    end of ``EXAMPLES``: ``event_cases`` gives each example an offset and a timestamp that follow its
    position, so one inserted in the middle would change the bytes of every later (locked) case.
    """
    return [(t.name, v) for t in registry.types.values() for v in sorted(t.versions) if (t.name, v) not in EXAMPLES]


# The field that names the topic of each type: its value is the event key.
KEY_FIELDS = {
    "meter_reading": "meter_serial",
    "meter_state_change": "meter_serial",
    "credit_top_up": "meter_serial",
    "load_limit_command": "meter_serial",
    "tariff_schedule": "tariff_id",
    "firmware_status": "device_id",
    "base_station_health": "station_id",
}


def avro_entry(registry: Registry, index: int, event: Event, record: Record) -> dict[str, Any]:
    """The ``avro`` entry of one event: the record, and what every promised reader of another version sees."""
    event_type = registry.types[event.event_type_id]
    if registry.decode(event.event_type_id, event.schema_version, event.event_data) != record:
        raise AssertionError(
            f"{event_type.name} v{event.schema_version}: the record does not survive a round trip: {record}"
        )
    read_as = [
        {
            "schema_version": v,
            "record": registry.decode(event.event_type_id, event.schema_version, event.event_data, reader_version=v),
        }
        for v in event_type.readers_of(event.schema_version)
    ]
    entry: dict[str, Any] = {"event": index, "event_type": event_type.name, "record": record}
    if read_as:
        entry["read_as"] = read_as
    return entry


def error_entry(registry: Registry, index: int, event: Event) -> dict[str, Any]:
    """The ``avro`` entry of an event the registry cannot give meaning to: the reason is the spec's."""
    try:
        registry.decode(event.event_type_id, event.schema_version, event.event_data)
    except SchemaError as exc:
        return {"event": index, "error": exc.reason}
    raise AssertionError(f"event {index} decodes; it is not an error case")


class _Events:
    """Turns example records into events with realistic keys, offsets and timestamps."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def event(self, name: str, version: int, record: Record, *, offset: int, timestamp: int) -> Event:
        event_type = self.registry.by_name(name)
        return Event(
            event_type_id=event_type.id,
            schema_version=version,
            key=str(record[KEY_FIELDS[name]]).encode(),
            offset=offset,
            timestamp=timestamp,
            event_data=self.registry.encode(event_type.id, version, record),
        )


def _add(
    b: Builder,
    registry: Registry,
    case_id: str,
    description: str,
    value: Any,
    events: Sequence[Event],
    records: Sequence[Record],
    extra_requirements: Sequence[str] = (),
) -> None:
    entries = [avro_entry(registry, i, e, r) for i, (e, r) in enumerate(zip(events, records))]
    requirements = ["PUB-3", "SCHEMA-1", "SCHEMA-2"]
    read_versions = [
        (e.schema_version, r["schema_version"]) for e, entry in zip(events, entries) for r in entry.get("read_as", [])
    ]
    if read_versions:
        requirements.append("SCHEMA-4")
    if any(reader > writer for writer, reader in read_versions):
        requirements.append("SCHEMA-13")
    if any(reader < writer for writer, reader in read_versions):
        requirements.append("SCHEMA-14")
    b.valid(case_id, description, [*extra_requirements, *requirements], value)
    b.cases[-1].avro = entries


def event_cases(registry: Registry) -> Builder:
    b = Builder("event")
    make = _Events(registry)
    for number, ((name, version), record) in enumerate(EXAMPLES.items()):
        event = make.event(name, version, record, offset=1000 + number, timestamp=T0 + 60 * number)
        direction = registry.by_name(name).direction.value.replace("_", " ")
        _add(
            b,
            registry,
            f"event.avro.{name}.v{version}",
            f"A {name} event ({direction}) whose event_data is a schema version {version} Avro record.",
            event,
            [event],
            [record],
            ["PUB-1"],
        )
    reading = make.event("meter_reading", 1, EXAMPLES[("meter_reading", 1)], offset=7, timestamp=T0)
    unknown = (
        (
            "unknown-event-type",
            "event_type_id 99 is not in the registry: a receiver keeps the bytes and does not guess a schema.",
            Event(event_type_id=99, schema_version=1, key=b"x", offset=1, timestamp=T0, event_data=reading.event_data),
            "SCHEMA-3",
        ),
        (
            "unknown-schema-version",
            "meter_reading has no schema version 9: the bytes are not decoded with another version's schema.",
            Event(
                event_type_id=reading.event_type_id,
                schema_version=9,
                key=reading.key,
                offset=8,
                timestamp=T0,
                event_data=reading.event_data,
            ),
            "SCHEMA-3",
        ),
        (
            "undecodable.truncated",
            "meter_reading v1 event_data missing its last byte: a valid Sink event whose Avro datum is cut.",
            replace(reading, event_data=reading.event_data[:-1]),
            "SCHEMA-2",
        ),
        (
            "undecodable.trailing-byte",
            "meter_reading v1 event_data with a byte after the datum: event_data is exactly one datum.",
            replace(reading, event_data=reading.event_data + b"\x00"),
            "SCHEMA-2",
        ),
    )
    for suffix, description, event, rule in unknown:
        b.valid(f"event.avro.{suffix}", description, ["PUB-1", "PUB-3", rule], event)
        b.cases[-1].avro = [error_entry(registry, 0, event)]
    return b


def publish_cases(registry: Registry) -> Builder:
    b = Builder("publish")
    make = _Events(registry)
    for message_id, (name, version), offset in (
        (0x2A7, ("meter_reading", 2), 48_212),
        (0x015, ("credit_top_up", 1), 311),
        (0xFFE, ("base_station_health", 3), 9_002),
    ):
        record = EXAMPLES[(name, version)]
        event = make.event(name, version, record, offset=offset, timestamp=T0 + offset % 900)
        _add(
            b,
            registry,
            f"publish.avro.{name}.v{version}",
            f"PUBLISH of a {name} v{version} Avro record, message id {message_id}.",
            Publish(message_id=message_id, event=event),
            [event],
            [record],
            ["PUB-1"],
        )
    return b


def _canonical(events: Sequence[Event]) -> Batch:
    # The canonical encoder decides compression (BATCH-7); take its layout back.
    decoded = codec.decode_batch(codec.encode_batch(Batch(events=tuple(events))))
    return Batch(events=tuple(events), layout=decoded.layout)


def _reading(serial: str, version: int, energy_wh: int, seed: int) -> Record:
    base = {
        "meter_serial": serial,
        "interval_seconds": 900,
        "voltage_dv": 2280 + seed % 40,
        "current_ma": 800 + (seed * 37) % 3000,
        "power_factor_permille": 900 + seed % 90,
        "frequency_mhz": 49_950 + (seed * 13) % 100,
    }
    if version == 1:
        return {**base, "energy_wh": energy_wh}
    return {
        **base,
        "active_energy_import_wh": energy_wh,
        "active_energy_export_wh": 0,
        "reactive_energy_varh": None,
        "phase": "SINGLE",
    }


def batch_cases(registry: Registry) -> Builder:
    b = Builder("batch")
    make = _Events(registry)
    reading = registry.by_name("meter_reading")

    # A firmware rollout: three meters, the first one already on v2; schema_version differs inside one batch.
    records, events = [], []
    for slot in range(2):
        for n, (serial, version) in enumerate((("SM5R-000123", 2), ("SM5R-000124", 1), ("SM5R-000125", 1))):
            record = _reading(serial, version, 120_000 + 1000 * n + 250 * slot, seed=slot * 3 + n)
            records.append(record)
            events.append(make.event(reading.name, version, record, offset=500 + slot, timestamp=T0 + 900 * slot))
    _add(
        b,
        registry,
        "batch.avro.meter-readings.mixed-versions",
        "Six meter readings during a firmware rollout: versions 1 and 2 "
        "of meter_reading in one batch, each decoded with its own writer schema.",
        _canonical(events),
        events,
        records,
        ["BATCH-3", "BATCH-7"],
    )

    # A day of 15-minute readings of one meter: alike records compress well (BATCH-7 compresses).
    records, events = [], []
    energy = 2_000_000
    for slot in range(96):
        energy += 40 + (slot * 7919) % 160
        record = _reading("SM5R-004417", 2, energy, seed=slot)
        records.append(record)
        events.append(make.event(reading.name, 2, record, offset=10_000 + slot, timestamp=T0 + 900 * slot))
    _add(
        b,
        registry,
        "batch.avro.meter-readings.one-day",
        "96 readings of one meter, every 15 minutes for a day: a compressed batch of meter_reading v2 records.",
        _canonical(events),
        events,
        records,
        ["BATCH-6", "BATCH-7", "BATCH-10"],
    )

    # What a base station sends after reconnecting: several event types in one batch.
    station = [("base_station_health", 3), ("firmware_status", 1), ("meter_state_change", 2), ("meter_state_change", 1)]
    records = [EXAMPLES[key] for key in station]
    events = [
        make.event(name, version, record, offset=70 + i, timestamp=T0 + 5 * i)
        for i, ((name, version), record) in enumerate(zip(station, records))
    ]
    _add(
        b,
        registry,
        "batch.avro.base-station.mixed-types",
        "A base station's backlog after an outage: health, firmware status and "
        "two meter state changes (versions 2 and 1) in one batch.",
        _canonical(events),
        events,
        records,
        ["BATCH-3", "BATCH-7"],
    )
    return b


def _with(generate: Callable[[Registry], Builder]) -> Callable[[Path | None], Builder]:
    return lambda schemas_dir: generate(default_registry(schemas_dir))


# kind -> generator of the Avro cases appended to that kind's file (see cases.build_all)
AVRO_GENERATORS: dict[str, Callable[[Path | None], Builder]] = {
    "publish": _with(publish_cases),
    "event": _with(event_cases),
    "batch": _with(batch_cases),
}
