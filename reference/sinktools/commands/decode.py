"""``sink decode``: a frame, payload, batch or stream, for a person debugging a capture (or as the vectors' JSON).

The options are parsed in :mod:`sinktools.cli`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sinkproto.errors import DecodeError, SchemaError
from sinkproto.limits import Limits
from sinkproto.messages import Batch, ConnectionRequest, ConnectionResponse, Event, Nack, NackPayload, Publish
from sinkproto.schemas import Registry

from ..vectors.model import StreamValue, decode_kind, value_to_json

__all__ = ["DECODE_KINDS", "DecodeSettings", "decode", "describe"]

DECODE_KINDS = ("frame", "event", "nack_payload", "batch", "stream")


def _read_input(arg: str) -> bytes:
    if arg == "-":
        return sys.stdin.buffer.read()
    path = Path(arg)
    try:
        is_file = path.is_file()
    except OSError:  # a long hex string is no valid file name (ENAMETOOLONG)
        is_file = False
    if is_file:
        return path.read_bytes()
    text = "".join(arg.split()).lower()
    if text.startswith("0x"):
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise SystemExit(f"sink decode: {arg!r} is neither a file nor hex") from None


def _show_bytes(value: bytes) -> str:
    if not value:
        return "(empty)"
    try:
        text = value.decode("utf-8")
        if text.isprintable():
            return f'"{text}" ({len(value)} byte{"s" if len(value) != 1 else ""})'
    except UnicodeDecodeError:
        pass
    shown = value[:32].hex(" ")
    return f"{len(value)} byte{'s' if len(value) != 1 else ''}: {shown}{' ...' if len(value) > 32 else ''}"


def _show_time(seconds: int) -> str:
    try:
        return f"{seconds} ({dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace('+00:00', 'Z')})"
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def _show_hex(value: bytes) -> str:
    shown = value[:32].hex(" ")
    return (
        f"{len(value)} byte{'s' if len(value) != 1 else ''}: {shown}{' ...' if len(value) > 32 else ''}"
        if value
        else "(empty)"
    )


def _event_lines(event: Event, indent: str, registry: Registry | None = None) -> list[str]:
    lines = [
        f"{indent}event_type_id   {event.event_type_id}",
        f"{indent}schema_version  {event.schema_version}",
        f"{indent}key             {_show_bytes(event.key)}",
        f"{indent}offset          {event.offset}",
        f"{indent}timestamp       {_show_time(event.timestamp)}",
    ]
    if registry is None:
        return [*lines, f"{indent}event_data      {_show_bytes(event.event_data)}"]
    try:
        version = registry.resolve(event.event_type_id, event.schema_version)
        record = registry.decode(event.event_type_id, event.schema_version, event.event_data)
    except SchemaError as exc:
        # Raw bytes, never a guess: the reader sees exactly what arrived and why it has no meaning here.
        return [
            *lines,
            f"{indent}event_data      {_show_hex(event.event_data)}",
            f"{indent}                ({exc.detail})",
        ]
    record_lines = json.dumps(record, indent=2, ensure_ascii=False).splitlines()
    return [
        *lines,
        f"{indent}event_data      {len(event.event_data)} bytes, Avro {version.label} "
        f"({registry.types[event.event_type_id].direction.value}):",
        *(f"{indent}  {line}" for line in record_lines),
    ]


def _events_lines(events: Sequence[Event], registry: Registry | None) -> list[str]:
    lines = []
    for index, event in enumerate(events):
        lines.append(f"  [{index}]")
        lines.extend(_event_lines(event, "    ", registry))
    return lines


def _describe_v1(value: Any, size: int, registry: Registry | None) -> list[str] | None:
    """The version-1 units: a batch (with its format), BATCH_PUBLISH, BATCH_RESULT; None for anything else."""
    from sinkproto.messages import BatchPublish, BatchResult

    if isinstance(value, BatchPublish):
        inner = _describe_v1(value.batch, size - 2, registry) or []
        return [f"BatchPublish ({size} bytes) message_id={value.message_id} ({value.message_id:#05x})", *inner]
    if isinstance(value, BatchResult):
        return [
            f"BatchResult ({size} bytes) message_id={value.message_id} ({value.message_id:#05x}), "
            f"{len(value.entries)} NACKed",
            *(
                f"  [{e.index}] machine_message {_show_bytes(e.machine_message)} "
                f"human_message {_show_bytes(e.human_message)}"
                for e in value.entries
            ),
        ]
    if isinstance(value, Batch):
        form = (
            "version-0 layout"
            if value.format is None
            else f"extended, codec {value.format.codec.wire_name}, mode {value.format.mode.wire_name}"
        )
        flags = [name for name, _bit in value.layout.FLAG_BITS if getattr(value.layout, name)] if value.layout else []
        return [
            f"batch v1 of {len(value.events)} events ({size} bytes), {form}; flags: {', '.join(flags) or 'none'}",
            *_events_lines(value.events, registry),
        ]
    return None


def describe(kind: str, value: Any, size: int, registry: Registry | None = None, version: int = 0) -> list[str]:
    """Human-readable lines for a decoded unit; with a registry, event_data are shown as their records."""
    v1_lines = _describe_v1(value, size, registry) if version == 1 else None
    if v1_lines is not None:
        return v1_lines
    if isinstance(value, StreamValue):
        lines = [f"stream of {len(value.frames)} frames ({size} bytes)"]
        for index, frame in enumerate(value.frames):
            try:
                inner = describe(
                    "frame",
                    decode_kind("frame", frame, Limits(), version, _record_schemas(registry, version)),
                    len(frame),
                    registry,
                    version,
                )
            except DecodeError as exc:
                inner = [f"undecodable frame: {exc}"]
            lines.append(f"[{index}] " + inner[0])
            lines.extend("    " + line for line in inner[1:])
        return lines
    if isinstance(value, Event):
        return [f"event ({size} bytes)", *_event_lines(value, "  ", registry)]
    if isinstance(value, NackPayload):
        return [
            f"nack payload ({size} bytes)",
            f"  machine_message {_show_bytes(value.machine_message)}",
            f"  human_message   {_show_bytes(value.human_message)}",
        ]
    if isinstance(value, Batch):
        assert value.layout is not None
        flags = [name for name, _bit in value.layout.FLAG_BITS if getattr(value.layout, name)]
        lines = [
            f"column batch of {len(value.events)} events ({size} bytes), header {value.layout.to_byte():#04x}: {', '.join(flags) or 'no flags'}"
        ]
        return [*lines, *_events_lines(value.events, registry)]
    name = type(value).__name__
    head = f"{name} ({size} bytes)"
    if isinstance(value, ConnectionRequest):
        sid = (
            "absent"
            if value.server_instance_id is None
            else f"{value.server_instance_id} ({value.server_instance_id:#010x})"
        )
        return [
            head,
            f"  version             {value.version}",
            f"  app_version         {_show_bytes(value.app_version)}",
            f"  client_instance_id  {value.client_instance_id} ({value.client_instance_id:#010x})",
            f"  server_instance_id  {sid}",
            *_declaration_lines(value.reader_schemas),
        ]
    if isinstance(value, ConnectionResponse):
        lines = [head, f"  response            {value.response.wire_name} ({int(value.response)})"]
        if value.server_instance_id is not None:
            lines.append(f"  server_instance_id  {value.server_instance_id} ({value.server_instance_id:#010x})")
        if value.machine_message is not None and value.human_message is not None:
            lines.append(f"  machine_message     {_show_bytes(value.machine_message)}")
            lines.append(f"  human_message       {_show_bytes(value.human_message)}")
        return [*lines, *_declaration_lines(value.reader_schemas)]
    if isinstance(value, Publish):
        return [
            f"{head} message_id={value.message_id} ({value.message_id:#05x})",
            *_event_lines(value.event, "  ", registry),
        ]
    if isinstance(value, Nack):
        return [
            f"{head} message_id={value.message_id} ({value.message_id:#05x})",
            f"  machine_message {_show_bytes(value.machine_message)}",
            f"  human_message   {_show_bytes(value.human_message)}",
        ]
    message_id = getattr(value, "message_id", None)
    return [head if message_id is None else f"{head} message_id={message_id} ({message_id:#05x})"]


def _declaration_lines(reads: Any) -> list[str]:
    """A version-1 reader declaration (SNEG-1), when present."""
    if reads is None:
        return []
    return [
        "  reader_schemas      " + "; ".join(f"type {t}: versions {', '.join(map(str, vs))}" for t, vs in reads.entries)
    ]


def _record_schemas(registry: Registry | None, version: int) -> Any:
    """The writer schemas records batches of version 1 decode with: the registry's, else the kit's."""
    if version != 1 or registry is None:
        return None
    from sinkproto.records import RecordSchemas

    return RecordSchemas.from_registry(registry)


@dataclass(frozen=True, kw_only=True)
class DecodeSettings:
    """`sink decode`'s options."""

    kind: str = "frame"  #: one of DECODE_KINDS
    json: bool = False  #: print the value in the vectors' JSON form
    strict_utf8: bool = False  #: reject text fields that are not UTF-8
    schemas: str | None = None  #: schema registry folder for event_data (default: schemas/ here or above)
    no_schemas: bool = False  #: show event_data as bytes, without the registry
    avro: bool = False  #: with json: add event_data_avro beside event_data_hex
    protocol_version: int = 0  #: decode as on a connection of this protocol version


def decode(source: str, settings: DecodeSettings) -> int:
    """`sink decode`: ``source`` is hex bytes, a file of raw bytes, or - for stdin."""
    data = _read_input(source)
    limits = Limits(strict_utf8=settings.strict_utf8)
    version = settings.protocol_version
    if version == 1 and settings.kind in ("event", "nack_payload"):
        version = 0  # version 1 keeps these payloads as they are
    registry = _decode_registry(settings)
    try:
        value = decode_kind(settings.kind, data, limits, version, _record_schemas(registry, version))
    except DecodeError as exc:
        if settings.json:
            print(
                json.dumps(
                    {
                        "error_class": exc.error_class,
                        "offset": exc.offset,
                        "requirement": exc.requirement,
                        "detail": exc.detail,
                    }
                )
            )
        else:
            print(f"sink decode: cannot decode as {settings.kind}: {exc}", file=sys.stderr)
        return 1
    if settings.json:
        obj = value_to_json(settings.kind, value, version)
        if settings.avro:
            _add_avro_json(obj, value, registry)
        print(json.dumps(obj))
    else:
        print("\n".join(describe(settings.kind, value, len(data), registry, version)))
    return 0


def _decode_registry(settings: DecodeSettings) -> Registry | None:
    from sinkproto.schemas import find_schemas_dir

    directory = Path(settings.schemas) if settings.schemas else find_schemas_dir()
    if settings.no_schemas or (directory is None and not settings.avro):
        return None
    if directory is None:
        raise SystemExit(
            "sink decode: --avro needs a schema registry: no schemas/registry.toml here or above; pass --schemas"
        )
    return Registry.load(directory)


def _add_avro_json(obj: dict[str, Any], value: Any, registry: Registry | None) -> None:
    """Put ``event_data_avro`` (the record, or null with ``event_data_avro_error``) beside each event_data_hex."""
    from ..vectors.avro_check import events_of

    if isinstance(value, Publish):
        targets = [obj["event"]]
    elif isinstance(value, Batch):
        targets = obj["events"]
    elif type(value).__name__ == "BatchPublish":
        targets = obj["batch"]["events"]
    elif isinstance(value, Event):
        targets = [obj]
    else:
        return
    assert registry is not None
    for target, event in zip(targets, events_of(value)):
        try:
            target["event_data_avro"] = registry.decode(event.event_type_id, event.schema_version, event.event_data)
        except SchemaError as exc:
            target["event_data_avro"] = None
            target["event_data_avro_error"] = {"reason": exc.reason, "detail": exc.detail}
