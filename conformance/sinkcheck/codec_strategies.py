"""Generated codec-mode cases: values drawn from a seeded random generator, judged by the reference codec.

Three shapes, all judged by the reference codec (``sinkproto.construct_codec``):

* ``roundtrip``: a logical value; the shim must encode it to the reference
  bytes (compressed batches: after decompression) and decode those bytes
  back to the reference's value.
* ``mutant``: the reference bytes of a value, damaged (truncated, a bit
  flipped, a byte inserted or appended, a varint made overlong) and decoded
  under drawn limits; the shim must give the reference's value or error class.
* ``refuse``: a value with no valid encoding (an id out of range, an empty
  batch, ...); the shim must refuse it (ERR-8).

Both protocol versions are drawn: version 0's five kinds, and version 1's
frames (BATCH_PUBLISH, BATCH_RESULT, connection request and response with
reader declarations) and batch v1 (extended header, codecs none, gzip and
zstd, records mode with the writer schemas of the kit's registry).

Case ``i`` of seed ``s`` comes from its own ``random.Random`` seeded with
``(s, i)``: the same seed gives the same cases on every machine and Python
version that keeps ``random``'s documented reproducibility, a run of 100
cases is the first 100 of a run of 1,000, and no hypothesis engine runs per
case (it cost 1 to 2 ms a case, most of a run's time).
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from sinkproto.jsonform import to_json
from sinkproto.messages import (
    Ack,
    Batch,
    BatchCodec,
    BatchFormat,
    BatchLayout,
    BatchMode,
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Nack,
    NackPayload,
    Ping,
    Pong,
    Publish,
    Response,
)
from sinkproto.readers import ReaderSchemas
from sinktools.vectors.model import StreamValue, encode_kind, value_to_json

from .codec_cases import Check, CodecCase, non_default_limits, reference_bytes, reference_decode, reference_encode
from .codec_protocol import KINDS_BY_VERSION

__all__ = ["Draw", "generate", "draw_case", "strategy", "ROUNDTRIP_REQUIREMENTS", "UNIT_KINDS"]

U32 = 2**32 - 1
U64 = 2**64 - 1
# Varint boundaries matter more than uniform 64-bit values: mix small values, 7-bit boundaries and the full range.
BOUNDARY = sorted({0, 1, U64} | {(1 << (7 * k)) + d for k in range(1, 10) for d in (-1, 0)})
MUTATIONS = ("truncate", "flip", "insert", "append", "overlong")
#: Version 0's decoder limits, and the ranges a mutant draws them from (all default most of the time).
LIMIT_RANGES: dict[int, dict[str, tuple[int, int] | None]] = {
    0: {
        "max_frame_size": (1, 200),
        "max_varint_bytes": (1, 10),
        "max_key_size": (0, 20),
        "max_event_data_size": (0, 40),
        "max_batch_events": (0, 5),
        "max_decompressed_size": (0, 200),
        "strict_utf8": None,
    },
}
LIMIT_RANGES[1] = {
    **LIMIT_RANGES[0],
    "max_declared_types": (0, 3),
    "max_declared_versions": (0, 3),
    "max_zstd_window": (1024, 1 << 20),
    "max_record_columns": (0, 12),
    "max_dictionary_entries": (0, 3),
    "max_collection_items": (0, 3),
}


class Draw:
    """The few draws the cases need, from one seeded ``random.Random``."""

    __slots__ = ("rng",)

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def boolean(self) -> bool:
        return self.rng.random() < 0.5

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    def varint_value(self) -> int:
        pick = self.rng.random()
        if pick < 0.4:
            return self.rng.randint(0, 300)
        if pick < 0.75:
            return self.choice(BOUNDARY)
        return self.rng.getrandbits(64)

    def binary(self, max_size: int, min_size: int = 0) -> bytes:
        size = self.rng.randint(min_size, max_size)
        if size and self.rng.random() < 0.3:  # text-like bytes, as most keys and messages are
            return bytes(self.rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789-._") for _ in range(size))
        return self.rng.randbytes(size)


# -- version 0 ------------------------------------------------------------------------------------


def event(d: Draw) -> Event:
    return Event(
        event_type_id=d.varint_value(),
        schema_version=d.varint_value(),
        key=d.binary(40),
        offset=d.varint_value(),
        timestamp=d.varint_value(),
        event_data=d.binary(80),
    )


_PLAIN_RESPONSES = [r for r in Response if r not in (Response.HELLO_NEW_CLIENT, Response.QUARANTINED)]


def frame(d: Draw) -> Any:
    pick = d.integer(0, 8)
    if pick == 0:
        return ConnectionRequest(
            app_version=d.binary(50),
            client_instance_id=d.integer(0, U32),
            server_instance_id=None if d.boolean() else d.integer(0, U32),
        )
    if pick == 1:
        return ConnectionResponse(response=d.choice(_PLAIN_RESPONSES))
    if pick == 2:
        return ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=d.integer(0, U32))
    if pick == 3:
        return ConnectionResponse(
            response=Response.QUARANTINED, machine_message=d.binary(30), human_message=d.binary(30)
        )
    if pick == 4:
        return Ack(message_id=d.integer(0, 4095))
    if pick == 5:
        return Publish(message_id=d.integer(0, 4095), event=event(d))
    if pick == 6:
        return Nack(message_id=d.integer(0, 4095), machine_message=d.binary(30), human_message=d.binary(30))
    return Ping() if pick == 7 else Pong()


def nack_payload(d: Draw) -> NackPayload:
    return NackPayload(machine_message=d.binary(30), human_message=d.binary(30))


def batch_events(d: Draw, layout: BatchLayout, n: int) -> tuple[Event, ...]:
    """Events homogeneous where ``layout`` says so; offsets mostly ascending, as a topic's are."""
    et, sv = d.varint_value(), d.varint_value()
    kl, dl = d.integer(0, 6), d.integer(0, 6)
    base_offset = d.integer(0, 2**63)
    return tuple(
        Event(
            event_type_id=et if layout.same_event_type_id else d.varint_value(),
            schema_version=sv if layout.same_schema_version else d.varint_value(),
            key=d.binary(kl, kl) if layout.same_key_length else d.binary(8),
            offset=base_offset + i if d.boolean() else d.varint_value(),
            timestamp=d.varint_value(),
            event_data=d.binary(dl, dl) if layout.same_event_data_length else d.binary(8),
        )
        for i in range(n)
    )


def batch(d: Draw) -> Batch:
    """Any of the 128 layouts; sometimes no layout (the canonical encoder picks it)."""
    layout = BatchLayout.from_byte(d.integer(0, 127))
    events = batch_events(d, layout, d.integer(1, 10))
    return Batch(events=events, layout=layout if d.boolean() else None)


def stream(d: Draw) -> StreamValue:
    return StreamValue(frames=tuple(encode_kind("frame", frame(d)) for _ in range(d.integer(0, 5))))


# -- version 1 ------------------------------------------------------------------------------------


def reader_schemas(d: Draw) -> ReaderSchemas:
    types = sorted({d.choice([d.integer(0, 9), d.varint_value()]) for _ in range(d.integer(1, 3))})
    return ReaderSchemas(
        entries=tuple(
            (t, tuple(sorted({d.choice([d.integer(1, 4), d.varint_value()]) for _ in range(d.integer(1, 3))})))
            for t in types
        )
    )


@cache
def _registry() -> Any:
    from sinkproto.schemas import default_registry

    return default_registry()


@cache
def _record_types() -> tuple[tuple[int, int, Any, Any], ...]:
    """(event_type_id, schema_version, schema JSON, parsed schema) of every registry schema records mode can carry."""
    import fastavro
    from sinkproto.records import RecordSchemas

    plans = RecordSchemas.from_registry(_registry())
    return tuple(
        (t.id, v.version, v.schema, fastavro.parse_schema(dict(v.schema)))
        for t in _registry()
        for v in t.versions.values()
        if plans.plan(t.id, v.version) is not None
    )


def avro_value(d: Draw, schema: Any, names: dict[str, Any]) -> Any:
    """A random datum of an Avro schema (JSON form), as fastavro writes it."""
    if isinstance(schema, list):
        return avro_value(d, d.choice(schema), names)
    if isinstance(schema, str):
        if schema in names:
            return avro_value(d, names[schema], names)
        return {
            "null": lambda: None,
            "boolean": d.boolean,
            "int": lambda: d.choice([d.integer(-300, 300), -(2**31), 2**31 - 1]),
            "long": lambda: d.choice([d.integer(-300, 300), d.integer(0, 2_000_000_000), -(2**63), 2**63 - 1]),
            "float": lambda: float(d.integer(-1000, 1000)) / 4,
            "double": lambda: d.rng.uniform(-1e6, 1e6),
            "string": lambda: d.choice(["", "a", "BS-17", "SM5R-000123", "site-9", "KES", "é"]),
            "bytes": lambda: d.binary(6),
        }[schema]()
    kind = schema["type"]
    if kind in ("record", "enum", "fixed") and "name" in schema:
        names[schema["name"]] = schema
        if "namespace" in schema:
            names[f"{schema['namespace']}.{schema['name']}"] = schema
    if kind == "record":
        return {f["name"]: avro_value(d, f["type"], names) for f in schema["fields"]}
    if kind == "enum":
        return d.choice(schema["symbols"])
    if kind == "fixed":
        return d.binary(schema["size"], schema["size"])
    if kind == "array":
        return [avro_value(d, schema["items"], names) for _ in range(d.integer(0, 3))]
    if kind == "map":
        return {f"k{i}": avro_value(d, schema["values"], names) for i in range(d.integer(0, 3))}
    return avro_value(d, kind, names)


def record_events(d: Draw) -> tuple[Event, ...]:
    """Events of one registry schema whose event_data is a canonical Avro datum: records mode can carry them."""
    import fastavro

    type_id, version, schema, parsed = d.choice(_record_types())
    base, ts = d.integer(0, 1 << 40), d.integer(1_600_000_000, 1_800_000_000)
    out = []
    for i in range(d.integer(1, 6)):
        datum = io.BytesIO()
        fastavro.schemaless_writer(datum, parsed, avro_value(d, schema, {}))
        out.append(
            Event(
                event_type_id=type_id,
                schema_version=version,
                key=d.choice([b"SM5R-%06d" % i, d.binary(8)]),
                offset=base + i if d.boolean() else d.varint_value(),
                timestamp=ts + d.integer(0, 900),
                event_data=datum.getvalue(),
            )
        )
    return tuple(out)


def batch_v1(d: Draw) -> Batch:
    """A version-0 batch, an extended one with any codec, or a records batch of registry events."""
    pick = d.integer(0, 3)
    if pick == 0:
        layout = BatchLayout.from_byte(d.integer(0, 127))
        return Batch(events=batch_events(d, layout, d.integer(1, 8)), layout=layout)
    codec = d.choice(list(BatchCodec))
    if pick == 3:
        from sinkproto.construct_codec.batch_format import RECORDS_LAYOUT

        return Batch(
            events=record_events(d), layout=RECORDS_LAYOUT, format=BatchFormat(codec=codec, mode=BatchMode.RECORDS)
        )
    layout = BatchLayout.from_byte(d.integer(0, 63))  # bit 6 (compressed) is clear in an extended header (BATCH-13)
    return Batch(events=batch_events(d, layout, d.integer(1, 8)), layout=layout, format=BatchFormat(codec=codec))


def frame_v1(d: Draw) -> Any:
    pick = d.integer(0, 6)
    if pick == 0:
        return ConnectionRequest(
            version=1,
            app_version=d.binary(20),
            client_instance_id=d.integer(0, U32),
            server_instance_id=None if d.boolean() else d.integer(0, U32),
            reader_schemas=reader_schemas(d) if d.boolean() else None,
        )
    if pick == 1:
        response = d.choice([Response.CONNECTED, Response.HELLO_NEW_CLIENT, *_PLAIN_RESPONSES, Response.QUARANTINED])
        if response is Response.QUARANTINED:
            return ConnectionResponse(response=response, machine_message=d.binary(10), human_message=d.binary(10))
        declares = response in (Response.CONNECTED, Response.HELLO_NEW_CLIENT) and d.boolean()
        return ConnectionResponse(
            response=response,
            server_instance_id=d.integer(0, U32) if response is Response.HELLO_NEW_CLIENT else None,
            reader_schemas=reader_schemas(d) if declares else None,
        )
    if pick in (2, 3):
        return BatchPublish(message_id=d.integer(0, 4095), batch=batch_v1(d))
    if pick == 4:
        indices = sorted({d.choice([d.integer(0, 20), d.varint_value()]) for _ in range(d.integer(1, 4))})
        return BatchResult(
            message_id=d.integer(0, 4095),
            entries=tuple(
                BatchResultEntry(index=i, machine_message=d.binary(12), human_message=d.binary(12)) for i in indices
            ),
        )
    return frame(d)  # every version-0 frame but the connection request is the same on a version-1 connection


#: (version, kind) -> the unit drawer.
UNITS: dict[tuple[int, str], Callable[[Draw], Any]] = {
    (0, "frame"): frame,
    (0, "event"): event,
    (0, "nack_payload"): nack_payload,
    (0, "batch"): batch,
    (0, "stream"): stream,
    (1, "frame"): frame_v1,
    (1, "batch"): batch_v1,
}
UNIT_KINDS = {version: tuple(kind for v, kind in UNITS if v == version) for version in KINDS_BY_VERSION}
assert all(set(UNIT_KINDS[v]) == set(KINDS_BY_VERSION[v]) for v in KINDS_BY_VERSION)


def mutation(d: Draw) -> tuple[str, float, int]:
    """(operation, position as a share of the length, byte)."""
    return d.choice(MUTATIONS), d.rng.random(), d.integer(0, 255)


def limits(d: Draw, version: int) -> dict[str, Any]:
    """Decoder limits a mutant is decoded under: the defaults half the time, else a few tightened."""
    if d.boolean():
        return {}
    ranges = LIMIT_RANGES[version]
    out: dict[str, Any] = {}
    for name in sorted(ranges):
        if d.chance(1 / len(ranges) * 2):
            bounds = ranges[name]
            out[name] = d.boolean() if bounds is None else d.integer(*bounds)
    return out


def unencodable(d: Draw, version: int) -> tuple[str, dict[str, Any]]:
    """(kind, JSON value) with no valid encoding."""
    pick = d.integer(0, 6 if version == 1 else 4)
    if pick == 0:
        return "frame", {"type": "ack", "message_id": d.integer(4096, 2**16)}
    if pick == 1:
        return "frame", {
            "type": "connection_request",
            "version": version,
            "app_version_hex": "",
            "client_instance_id": d.integer(2**32, 2**40),
            "server_instance_id": None,
            **({"reader_schemas": None} if version == 1 else {}),
        }
    if pick == 2:
        event_json = {
            "event_type_id": d.integer(2**64, 2**66),
            "schema_version": 1,
            "key_hex": "",
            "offset": 0,
            "timestamp": 0,
            "event_data_hex": "",
        }
        if version == 1:
            return "frame", {"type": "publish", "message_id": 1, "event": event_json}
        return "event", event_json
    if pick == 3:
        if version == 1:
            return "batch", {
                "layout": to_json(
                    Batch(
                        events=(
                            Event(event_type_id=1, schema_version=1, key=b"", offset=0, timestamp=0, event_data=b""),
                        )
                    )
                )["layout"],
                "format": None,
                "events": [],
            }
        return "batch", {"events": []}
    if pick == 4:
        return "frame", {
            "type": "connection_response",
            "response": "hello_new_client",
            "server_instance_id": d.integer(2**32, 2**33),
        }
    if pick == 5:  # BRES-2: indices strictly ascending
        return "frame", {
            "type": "batch_result",
            "message_id": 1,
            "entries": [
                {"index": 3, "machine_message_hex": "", "human_message_hex": ""},
                {"index": d.integer(0, 3), "machine_message_hex": "", "human_message_hex": ""},
            ],
        }
    return "frame", {"type": "batch_result", "message_id": 1, "entries": []}  # BRES-2: a list is never empty


ROUNDTRIP_REQUIREMENTS = {
    (0, "frame"): ("FRAME-1", "FRAME-2", "CONN-1", "PUB-1", "ACK-1", "NACK-1", "CONV-2"),
    (0, "event"): ("PUB-1", "PUB-3", "CONV-1", "CONV-2"),
    (0, "nack_payload"): ("NACK-1",),
    (0, "batch"): ("BATCH-1", "BATCH-2", "BATCH-3", "BATCH-4", "BATCH-7", "BATCH-10"),
    (0, "stream"): ("STREAM-1", "STREAM-4"),
    (1, "frame"): ("FRAME-7", "FRAME-8", "CONN-8", "CONN-11", "SNEG-1", "BPUB-1", "BRES-1"),
    (1, "batch"): ("BATCH-12", "BATCH-14", "CODEC-4", "RECORD-3", "RECORD-5"),
}


def _mutate(data: bytes, change: tuple[str, float, int]) -> bytes:
    op, share, byte = change
    at = min(int(share * len(data)), max(len(data) - 1, 0))
    if op == "truncate":
        return data[:at]
    if op == "flip" and data:
        return data[:at] + bytes([data[at] ^ (1 << (byte % 8))]) + data[at + 1 :]
    if op == "insert":
        return data[:at] + bytes([byte]) + data[at:]
    if op == "overlong":  # a run of continuation bytes: an over-long varint wherever one is read
        return data[:at] + b"\x80" * (11 + byte % 4) + data[at:]
    return data + bytes([byte])


def _value_json(version: int, kind: str, value: Any) -> dict[str, Any]:
    if version == 0 and kind == "batch" and value.layout is None:
        return {"events": to_json(value)["events"]}  # no layout: the encoder must choose the canonical one
    return value_to_json(kind, value, version)


def _refuse(prefix: str, version: int, kind: str, value_json: dict[str, Any]) -> CodecCase:
    return CodecCase(
        f"{prefix}.{kind}.refuse",
        "generated",
        kind,
        ("ERR-8",),
        (
            Check(
                "encode",
                kind,
                "refused",
                None,
                value=value_json,
                label="encode",
                version=version,
                requirements=("ERR-8",),
            ),
        ),
        version=version,
    )


def draw_case(seed_: int, index: int, versions: Sequence[int] = (0, 1)) -> CodecCase:
    """Case ``index`` of ``seed_``: drawn from its own generator, judged by the reference codec."""
    d = Draw(random.Random(f"sink-codec/{seed_}/{index}/{','.join(map(str, versions))}"))
    version = d.choice(versions)
    prefix = f"gen.{seed_}.{index:05d}" + (".v1" if version == 1 else "")
    shape = d.rng.random()
    if shape < 0.15:
        kind, value_json = unencodable(d, version)
        return _refuse(prefix, version, kind, value_json)
    kind = d.choice(UNIT_KINDS[version])
    value = UNITS[version, kind](d)
    if shape < 0.55:
        value_json = _value_json(version, kind, value)
        outcome, hex_ = reference_encode(kind, value_json, version)
        if outcome == "refused":  # the drawer made something without an encoding: a refusal case then
            return _refuse(prefix, version, kind, value_json)
        expect, expected, _ = reference_decode(kind, bytes.fromhex(hex_), {}, version)
        requirements = ROUNDTRIP_REQUIREMENTS[version, kind]
        return CodecCase(
            f"{prefix}.{kind}.roundtrip",
            "generated",
            kind,
            requirements,
            (
                Check(
                    "encode",
                    kind,
                    "bytes",
                    hex_,
                    value=value_json,
                    label="encode",
                    version=version,
                    requirements=requirements,
                ),
                Check(
                    "decode",
                    kind,
                    expect,
                    expected,
                    hex=hex_,
                    label="decode",
                    version=version,
                    requirements=requirements,
                ),
            ),
            version=version,
        )
    change = mutation(d)
    data = _mutate(reference_bytes(kind, value, version), change)
    limits_ = non_default_limits(limits(d, version))
    expect, expected, requirement = reference_decode(kind, data, limits_, version)
    # A mutant that still decodes exercises the kind's layout; one that fails, the rule it breaks and ERR-1/ERR-2
    # (exactly one class, the first violation in reading order), and ERR-9 when strict UTF-8 decided it.
    requirements = ROUNDTRIP_REQUIREMENTS[version, kind]
    if expect == "error":  # the reference names the rule an error breaks (requirement None: none named)
        requirements = ("ERR-1", "ERR-2") if requirement is None else (requirement, "ERR-1", "ERR-2")
    elif limits_:
        requirements += ("LIMIT-6",)
    return CodecCase(
        f"{prefix}.{kind}.mutant-{change[0]}",
        "generated",
        kind,
        requirements,
        (
            Check(
                "decode",
                kind,
                expect,
                expected,
                hex=data.hex(),
                limits=limits_,
                label="decode",
                version=version,
                requirements=requirements,
                requirement=requirement,
            ),
        ),
        version=version,
    )


def generate(seed_: int, count: int, versions: Sequence[int] = (0, 1)) -> list[CodecCase]:
    """``count`` cases of ``seed_``, of the protocol ``versions`` (each case draws one)."""
    return [draw_case(seed_, i, tuple(versions)) for i in range(max(count, 0))]


def strategy(drawer: Callable[[Draw], Any]) -> Any:
    """A hypothesis strategy over one of the drawers above, for property tests (one definition of the values)."""
    from hypothesis import strategies as st

    return st.randoms(use_true_random=False).map(lambda rng: drawer(Draw(rng)))


def __getattr__(name: str) -> Any:
    """``events``, ``frames``, ``varint_value``: the hypothesis forms the property tests import (built lazily, so
    a codec-mode run never imports hypothesis)."""
    drawers: dict[str, Callable[[Draw], Any]] = {"events": event, "frames": frame, "varint_value": Draw.varint_value}
    if name in drawers:
        return strategy(drawers[name])
    raise AttributeError(name)
