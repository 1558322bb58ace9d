"""``sink bench codec``: how fast each codec encodes and decodes the profiles.

Rows: single PUBLISH frame encode and decode (the profile's first event;
every event would give the same per-op figure within noise), and the whole
100-event profile as one column batch, encoded canonically (BATCH-7: gzip
when smaller, so the compression attempt is part of the cost) and decoded.
Then the version-1 rows (``Codec.encode_batch(..., version=1)``):
the profile as one batch v1, encoded as a BATCH_PUBLISH carries it (the
encoder tries every columns format, v0 layout, gzip and zstd level 19, and
keeps the smallest, CODEC-5: every attempt is part of the cost) and
decoded; and, when the records mode exists, the same with the registry's
record schemas given (the encoder tries the records mode too), for each
codec whose choice is the reference's. The yardsticks have no such rows.
Last, the ``meter-series`` rows (issue #22, spec/v1/context.md): poll 2 of
the day of polls (98 readings of the 100 meters) as one batch v1 in mode
context against poll 1 as its base, encoded canonically (per column the
shorter of plain and against the base, then the smallest of none, gzip
and zstd: CTX-13) and decoded with poll 1 held; the base's columns are
computed on the first call and then cached, as a sender coding every batch
against the last one keeps them.
Columns: the construct reference codec, the fast codec, and two yardsticks
encoding the same six fields per event: msgpack (a list per event) and
fastavro (a record per event, an array of them for the batch). The
yardsticks are C extensions and do less: they do not validate, build no
:class:`~sinkproto.messages.Event` on decode, and apply no limits.

Timing: each cell is the best of ``repeats`` runs of a loop sized to take
about ``budget`` seconds, in CPU time of this process (``process_time``):
on a shared machine the minimum CPU time is the figure least disturbed by
other work (time spent waiting for a core is not counted; cache and
frequency effects of a busy machine still are). A cell reports µs per
operation and events per second. Nothing here asserts a time.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sinkproto import construct_codec, fast_codec
from sinkproto.messages import Batch, Event, Publish

from .profiles import Profile

__all__ = [
    "Cell",
    "Row",
    "CodecReport",
    "run",
    "format_report",
    "GOAL_SPEEDUP",
    "GOAL_METER_BATCH_US",
    "GOAL_CONTEXT_BATCH_US",
]

GOAL_SPEEDUP = 20.0  # fast >= 20x construct on every row
GOAL_METER_BATCH_US = 450.0  # meter 100-event batch encode + decode (the field Elixir codec: ~150 + 320)
GOAL_CONTEXT_BATCH_US = 1000.0  # issue #22: a 100-reading context batch, each of encode and decode, fast codec
IMPLEMENTATIONS = ("construct", "fast", "msgpack", "fastavro")
GOAL_OPERATIONS = (
    "publish encode",
    "publish decode",
    "batch encode",
    "batch decode",
)  # the rows the goals were set for

_AVRO_EVENT = {
    "type": "record",
    "name": "Event",
    "namespace": "bench",
    "fields": [
        {"name": "event_type_id", "type": "long"},
        {"name": "schema_version", "type": "long"},
        {"name": "key", "type": "bytes"},
        {"name": "offset", "type": "long"},
        {"name": "timestamp", "type": "long"},
        {"name": "event_data", "type": "bytes"},
    ],
}
_AVRO_PUBLISH = {
    "type": "record",
    "name": "Publish",
    "namespace": "bench",
    "fields": [{"name": "message_id", "type": "int"}, {"name": "event", "type": _AVRO_EVENT}],
}


@dataclass
class Cell:
    us_per_op: float
    events_per_op: int
    size: int  # bytes of the encoding (of the input, for decoders)

    @property
    def events_per_second(self) -> float:
        return self.events_per_op / self.us_per_op * 1e6


@dataclass
class Row:
    profile: str
    operation: str  # "publish encode", "publish decode", "batch encode", "batch decode"
    cells: dict[str, Cell] = field(default_factory=dict)

    def ratio(self, slower: str, faster: str = "fast") -> float:
        return self.cells[slower].us_per_op / self.cells[faster].us_per_op


@dataclass
class CodecReport:
    rows: list[Row]
    budget: float
    repeats: int

    def row(self, profile: str, operation: str) -> Row:
        return next(r for r in self.rows if (r.profile, r.operation) == (profile, operation))

    def meter_batch_us(self) -> float:
        return sum(self.row("meter", f"batch {op}").cells["fast"].us_per_op for op in ("encode", "decode"))

    def goals(self) -> list[tuple[str, str, bool]]:
        """(goal, measured, met) for the issue's goals."""
        out = []
        for row in self.rows:
            if row.operation not in GOAL_OPERATIONS:
                continue
            ratio = row.ratio("construct")
            out.append(
                (
                    f"fast >= {GOAL_SPEEDUP:.0f}x construct: {row.profile} {row.operation}",
                    f"{ratio:.1f}x",
                    ratio >= GOAL_SPEEDUP,
                )
            )
        total = self.meter_batch_us()
        out.append(
            (
                f"meter 100-event batch encode + decode < {GOAL_METER_BATCH_US:.0f} µs",
                f"{total:.0f} µs",
                total < GOAL_METER_BATCH_US,
            )
        )
        for operation in CONTEXT_OPERATIONS:
            context_row = next((r for r in self.rows if (r.profile, r.operation) == (SERIES, operation)), None)
            if context_row is None or "fast" not in context_row.cells:
                continue
            us = context_row.cells["fast"].us_per_op
            out.append(
                (
                    f"fast {SERIES} {operation} (100 readings) < {GOAL_CONTEXT_BATCH_US:,.0f} µs",
                    f"{us:,.0f} µs",
                    us < GOAL_CONTEXT_BATCH_US,
                )
            )
        return out


def time_op(op: Callable[[], object], *, budget: float, repeats: int) -> float:
    """Best-of-``repeats`` seconds per call of ``op``, each repeat a loop of about ``budget`` seconds."""
    clock = time.process_time
    op()  # warm up (imports, caches)
    start = time.perf_counter()
    op()
    once = max(time.perf_counter() - start, 1e-7)
    loops = max(1, int(budget / once))
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        for _ in range(loops):
            op()
        best = min(best, (clock() - start) / loops)
    return best


def _yardsticks(events: tuple[Event, ...]) -> dict[str, dict[str, Callable[..., Any]]]:
    import fastavro
    import msgpack

    event_schema = fastavro.parse_schema(_AVRO_EVENT)
    publish_schema = fastavro.parse_schema(_AVRO_PUBLISH)
    batch_schema = fastavro.parse_schema({"type": "array", "items": _AVRO_EVENT})

    def fields(e: Event) -> list[Any]:
        return [e.event_type_id, e.schema_version, e.key, e.offset, e.timestamp, e.event_data]

    def record(e: Event) -> dict[str, Any]:
        return {
            "event_type_id": e.event_type_id,
            "schema_version": e.schema_version,
            "key": e.key,
            "offset": e.offset,
            "timestamp": e.timestamp,
            "event_data": e.event_data,
        }

    def avro_write(schema: Any, value: Any) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, schema, value)
        return out.getvalue()

    def avro_read(schema: Any, data: bytes) -> Any:
        return fastavro.schemaless_reader(io.BytesIO(data), schema)

    del event_schema  # named inside publish_schema; parsed for its side effect on the named types
    return {
        "msgpack": {
            "publish encode": lambda e: msgpack.packb([1, *fields(e)]),
            "publish decode": msgpack.unpackb,
            "batch encode": lambda evs: msgpack.packb([fields(e) for e in evs]),
            "batch decode": msgpack.unpackb,
        },
        "fastavro": {
            "publish encode": lambda e: avro_write(publish_schema, {"message_id": 1, "event": record(e)}),
            "publish decode": lambda data: avro_read(publish_schema, data),
            "batch encode": lambda evs: avro_write(batch_schema, [record(e) for e in evs]),
            "batch decode": lambda data: avro_read(batch_schema, data),
        },
    }


V1_OPERATIONS = ("batch v1 encode", "batch v1 decode", "batch v1 encode, schemas", "batch v1 decode, schemas")


def _v1_ops(events: tuple[Event, ...]) -> dict[str, dict[str, tuple[Callable[[], object], int, int]]]:
    """The batch v1 rows of the construct and fast codecs.

    ``batch v1``: the encoder's choice among the columns formats (CODEC-5),
    the same bytes from both codecs. ``, schemas``: the encoder also given
    the registry's record schemas, so it tries the records mode too, when
    the codec has it; a codec whose choice differs from the reference's
    (no records mode yet) gets no cell, since it would do other work.
    """
    from sinkproto.codec import CONSTRUCT, FAST
    from sinkproto.limits import DEFAULT_LIMITS

    from .batch_bench import batch_format, record_schemas

    value = Batch(events=events)
    schemas = record_schemas()
    out: dict[str, dict[str, tuple[Callable[[], object], int, int]]] = {"construct": {}, "fast": {}}
    reference = b""
    for name, codec in (("construct", CONSTRUCT), ("fast", FAST)):
        encode: Any = partial(codec.encode_batch, version=1)
        decode: Any = partial(codec.decode_batch, version=1)
        for suffix, extra in (("", {}), (", schemas", {"schemas": schemas})):
            if suffix and schemas is None:
                continue
            blob = encode(value, **extra)
            if suffix and name == "construct":
                reference = blob
            elif suffix and (len(blob), batch_format(blob)) != (len(reference), batch_format(reference)):
                continue
            out[name][f"batch v1 encode{suffix}"] = (partial(encode, value, **extra), len(events), len(blob))
            out[name][f"batch v1 decode{suffix}"] = (
                partial(decode, blob, limits=DEFAULT_LIMITS, **extra),
                len(events),
                len(blob),
            )
    return out


SERIES = "meter-series"
CONTEXT_OPERATIONS = ("context batch encode", "context batch decode")


def _context_ops() -> dict[str, dict[str, tuple[Callable[[], object], int, int]]]:
    """The ``meter-series`` rows: poll 2 coded against poll 1 (mode context), by the construct and fast codecs.

    None when the kit has no records mode (no schemas to code against).
    """
    from sinkproto.codec import CONSTRUCT, FAST
    from sinkproto.limits import DEFAULT_LIMITS
    from sinkproto.messages import BatchContext, ContextBase

    from .batch_bench import record_schemas
    from .series import load as load_series

    schemas = record_schemas()
    if schemas is None:
        return {}
    polls = load_series().polls
    base = ContextBase(batch_id=1, events=polls[0].events)
    batch = Batch(events=polls[1].events, context=BatchContext(batch_id=2, base=base))
    count = len(batch.events)
    out: dict[str, dict[str, tuple[Callable[[], object], int, int]]] = {}
    for name, codec in (("construct", CONSTRUCT), ("fast", FAST)):
        blob = codec.encode_batch(batch, version=1, schemas=schemas)
        out[name] = {
            "context batch encode": (partial(codec.encode_batch, batch, version=1, schemas=schemas), count, len(blob)),
            "context batch decode": (
                partial(codec.decode_batch, blob, version=1, limits=DEFAULT_LIMITS, schemas=schemas, bases={1: base}),
                count,
                len(blob),
            ),
        }
    return out


def run(
    profiles: dict[str, Profile],
    *,
    budget: float = 0.2,
    repeats: int = 5,
    implementations: tuple[str, ...] = IMPLEMENTATIONS,
    progress: Callable[[str], None] | None = None,
) -> CodecReport:
    rows: list[Row] = []
    plans: list[tuple[str, dict[str, dict[str, tuple[Callable[[], object], int, int]]]]] = []
    for profile in profiles.values():
        events = profile.events
        publish = Publish(message_id=0x31A, event=events[0])
        batch = Batch(events=events)
        ops: dict[str, dict[str, tuple[Callable[[], object], int, int]]] = {}
        for name, codec in (("construct", construct_codec), ("fast", fast_codec)):
            frame = codec.encode_frame(publish)
            blob = codec.encode_batch(batch)
            ops[name] = {
                "publish encode": (partial(codec.encode_frame, publish), 1, len(frame)),
                "publish decode": (partial(codec.decode_frame, frame), 1, len(frame)),
                "batch encode": (partial(codec.encode_batch, batch), len(events), len(blob)),
                "batch decode": (partial(codec.decode_batch, blob), len(events), len(blob)),
            }
        for name, fns in _yardsticks(events).items():
            one = fns["publish encode"](events[0])
            many = fns["batch encode"](events)
            ops[name] = {
                "publish encode": (partial(fns["publish encode"], events[0]), 1, len(one)),
                "publish decode": (partial(fns["publish decode"], one), 1, len(one)),
                "batch encode": (partial(fns["batch encode"], events), len(events), len(many)),
                "batch decode": (partial(fns["batch decode"], many), len(events), len(many)),
            }
        for name, v1_ops in _v1_ops(events).items():
            ops[name].update(v1_ops)
        plans.append((profile.name, ops))
    context_ops = _context_ops()
    if context_ops:
        plans.append((SERIES, context_ops))
    operations = (*GOAL_OPERATIONS, *V1_OPERATIONS, *CONTEXT_OPERATIONS)
    # Every cell first, then the timings: progress can say "n/N".
    cells = [
        (profile_name, operation, name)
        for profile_name, ops in plans
        for operation in operations
        if operation in ops["construct"]
        for name in implementations
        if operation in ops.get(name, {})
    ]
    done = 0
    for profile_name, ops in plans:
        for operation in operations:
            if operation not in ops["construct"]:
                continue
            row = Row(profile_name, operation)
            for name in implementations:
                if operation not in ops.get(name, {}):
                    continue
                op, count, size = ops[name][operation]
                seconds = time_op(op, budget=budget, repeats=repeats)
                row.cells[name] = Cell(seconds * 1e6, count, size)
                done += 1
                if progress:
                    progress(f"[{done}/{len(cells)}] {profile_name} {operation} {name}: {seconds * 1e6:.2f} µs")
            rows.append(row)
    return CodecReport(rows, budget, repeats)


def _us(value: float) -> str:
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def format_report(report: CodecReport) -> str:
    """The markdown table (and the goals) printed by ``sink bench codec`` and kept in the docs."""
    names = [n for n in IMPLEMENTATIONS if n in report.rows[0].cells]
    head = [
        "Profile",
        "Operation",
        *(f"{n} µs/op" for n in names),
        "fast events/s",
        "fast vs construct",
        *(f"fast vs {n}" for n in names if n not in ("construct", "fast")),
        "Sink bytes",
        "msgpack / avro bytes",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---", "---", *["---:"] * (len(head) - 2)]) + "|"]
    for row in report.rows:
        fast = row.cells.get("fast")
        cells = [
            row.profile,
            row.operation,
            *(_us(row.cells[n].us_per_op) if n in row.cells else "n/a" for n in names),
            f"{fast.events_per_second:,.0f}" if fast else "n/a",
            f"{row.ratio('construct'):.1f}x" if fast else "n/a",
            *(
                f"{row.cells[n].us_per_op / fast.us_per_op:.2f}x" if fast and n in row.cells else "n/a"
                for n in names
                if n not in ("construct", "fast")
            ),
            f"{(fast or row.cells['construct']).size:,}",
            " / ".join(f"{row.cells[n].size:,}" for n in ("msgpack", "fastavro") if n in row.cells) or "n/a",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| Goal | Measured | Met |")
    lines.append("|---|---:|---|")
    for goal, measured, met in report.goals():
        lines.append(f"| {goal} | {measured} | {'yes' if met else '**no**'} |")
    return "\n".join(lines)
