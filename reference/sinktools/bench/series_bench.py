"""``sink bench series``: a day of polls (the ``meter-series`` profile), bytes per encoding against its floor.

Every poll's readings go as one batch, as a base station sends them; the
rows add up the day's batches under each encoding, beside the information
floor of the series (:func:`.series.information`: -log2 of its probability
under its own generator). Yardsticks: ``xz -9`` of each poll's raw fields,
and of the whole day's raw fields at once, which is what a coder that
remembers earlier batches could draw on (batches coded against what the
receiver already holds). Sizes are deterministic; nothing is timed.
"""

from __future__ import annotations

import lzma
from dataclasses import dataclass

from sinkproto.codec import FAST
from sinkproto.limits import DEFAULT_LIMITS
from sinkproto.messages import DIGEST_SIZE, Batch, BatchCodec, BatchContext, BatchFormat, BatchMode, ContextBase
from sinkproto.primitives import read_varint

from .batch_bench import batch_format, encode, record_schemas
from .series import Series, Term, information

__all__ = ["COST_PER_MB", "FLEET", "SeriesReport", "format_report", "run"]

COST_PER_MB = 0.40  # US dollars per megabyte of cellular data
FLEET = 100_000  # meters: what the day's bytes cost for a fleet this size (1,000 base stations of 100)


@dataclass(frozen=True)
class SeriesRow:
    encoding: str
    size: int  # bytes over the day
    note: str = ""


@dataclass(frozen=True)
class SeriesReport:
    profile: str
    polls: int
    events: int
    rows: tuple[SeriesRow, ...]
    terms: tuple[Term, ...]
    columns: tuple[tuple[str, int], ...] = ()  # a context batch's bytes per column over the day (codec none)

    @property
    def floor_bytes(self) -> float:
        return sum(t.bits for t in self.terms) / 8


def run(series: Series) -> SeriesReport:
    series = series.in_batch_order()  # BPUB-6, as the reference outbox batches them
    schemas = record_schemas()
    sums: dict[str, int] = {}
    chosen: dict[str, int] = {}
    raw_all = bytearray()

    def add(name: str, size: int) -> None:
        sums[name] = sums.get(name, 0) + size

    previous: tuple[Batch, ...] = ()
    columns: dict[str, int] = {}
    for index, poll in enumerate(series.polls):
        events = poll.events
        raw = b"".join(FAST.encode_event(e) for e in events)
        raw_all += raw
        add("v0 column batch", len(FAST.encode_batch(Batch(events=events))))
        add("v1 columns + zstd", len(encode(events, None, BatchFormat(codec=BatchCodec.ZSTD))))
        if schemas is not None:
            add(
                "v1 records + best codec",
                min(
                    len(encode(events, schemas, BatchFormat(codec=codec, mode=BatchMode.RECORDS)))
                    for codec in BatchCodec
                ),
            )
            # CTX-13: coded against the previous poll (the one the receiver last ACKed); the first has no base
            base = ContextBase(batch_id=index, events=previous[0].events) if previous else None
            batch = Batch(events=events, context=BatchContext(batch_id=index + 1, base=base))
            add("v1 context, against the previous poll", len(FAST.encode_batch(batch, version=1, schemas=schemas)))
            previous = (batch,)
            if base is not None:
                plain = FAST.encode_batch(
                    Batch(events=events, format=BatchFormat(mode=BatchMode.CONTEXT), context=batch.context),
                    version=1,
                    schemas=schemas,
                )
                plan = schemas.plan(events[0].event_type_id, events[0].schema_version)
                names = ["base_rows", "keys (new to the base)", "offsets", "timestamps"]
                names += [c.path for c in plan.columns] if plan is not None else []
                for name, size in zip(names, context_columns(plain)):
                    columns[name] = columns.get(name, 0) + size
        pick = encode(events, schemas)
        add("v1 encoder's choice", len(pick))
        chosen[batch_format(pick)] = chosen.get(batch_format(pick), 0) + 1
        add("xz -9 of each poll's raw fields", len(lzma.compress(raw, format=lzma.FORMAT_XZ, preset=9)))
    notes = {
        "v0 column batch": "BATCH-7: gzip when smaller",
        "v1 columns + zstd": "zstd level 19",
        "v1 records + best codec": "the smaller of none, gzip, zstd per poll",
        "v1 context, against the previous poll": "mode context (spec/v1/context.md), the smallest codec; the first "
        "poll without a base",
        "v1 encoder's choice": ", ".join(f"{fmt} x{n}" for fmt, n in sorted(chosen.items())),
        "xz -9 of each poll's raw fields": "the events' own encodings (PUB-1), concatenated per poll",
    }
    rows = [SeriesRow(name, size, notes[name]) for name, size in sums.items()]
    rows.append(
        SeriesRow(
            "xz -9 of the whole day's raw fields at once",
            len(lzma.compress(bytes(raw_all), format=lzma.FORMAT_XZ, preset=9)),
            "a coder that remembers every earlier batch (what context coding aims at)",
        )
    )
    readings = sum(len(p.events) for p in series.polls)
    return SeriesReport(
        series.name,
        len(series.polls),
        readings,
        tuple(rows),
        tuple(information(series)),
        tuple(sorted(columns.items(), key=lambda item: -item[1])),
    )


def context_columns(batch: bytes) -> list[int]:
    """The bytes of each column of an uncompressed batch in mode context that names a base, read off the wire
    layout (CTX-2): header byte, format byte, event_type_id, schema_version, then the body's batch_id, base_id,
    base_digest and count, then one chunk per column; each column counted with its chunk length."""
    end = len(batch)
    pos = 2
    for what in ("event_type_id", "schema_version", "batch_id", "base_id"):
        _, pos = read_varint(batch, pos, end, DEFAULT_LIMITS, what, wide=True)
    _, pos = read_varint(batch, pos + DIGEST_SIZE, end, DEFAULT_LIMITS, "count")
    sizes = []
    while pos < end:
        length, after = read_varint(batch, pos, end, DEFAULT_LIMITS, "chunk length")
        sizes.append(after - pos + length)
        pos = after + length
    return sizes


def format_report(report: SeriesReport) -> str:
    floor = report.floor_bytes
    meters_per_poll = report.events / report.polls

    def month(size: float) -> str:
        # the day's bytes for ~100 meters, scaled to the fleet, for 30 days
        return f"${size * 30 * FLEET / meters_per_poll / 1e6 * COST_PER_MB:,.0f}"

    lines = [
        f"Profile `{report.profile}`: {report.events:,} readings in {report.polls} polls (one batch each), "
        f"{meters_per_poll:.1f} readings a poll. Cost: ${COST_PER_MB:.2f}/MB for {FLEET:,} meters, 30 days.",
        "",
        "| Encoding | Bytes a day | Bytes per reading | vs information floor | Fleet cost a month | Note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in report.rows:
        lines.append(
            f"| {row.encoding} | {row.size:,} | {row.size / report.events:.2f} | {row.size / floor:.2f}x | "
            f"{month(row.size)} | {row.note} |"
        )
    lines += [
        f"| information floor of this series | {floor:,.0f} | {floor / report.events:.2f} | 1.00x | {month(floor)} | "
        "-log2 of its probability under its generator |",
        "",
        "Where the floor comes from (each reading given the meter's previous one; what the bytes do not show is "
        "summed out):",
        "",
        "| Draw | How it is drawn | Bytes | Bits per reading |",
        "|---|---|---:|---:|",
    ]
    for term in report.terms:
        lines.append(f"| {term.what} | {term.how} | {term.bits / 8:,.1f} | {term.bits / report.events:.2f} |")
    lines.append(f"| total | | {floor:,.1f} | {floor * 8 / report.events:.2f} |")
    if report.columns:
        based = report.polls - 1
        lines += [
            "",
            f"Where a context batch's bytes go, before compression (the {based} polls with a base; each column with "
            "its chunk length; the codec then takes the smallest of none, gzip and zstd):",
            "",
            "| Column | Bytes a poll | Bits per reading |",
            "|---|---:|---:|",
        ]
        readings = report.events * based / report.polls
        for name, size in report.columns:
            lines.append(f"| {name} | {size / based:,.1f} | {size * 8 / readings:.2f} |")
        total = sum(size for _, size in report.columns)
        lines.append(f"| all columns | {total / based:,.1f} | {total * 8 / readings:.2f} |")
    return "\n".join(lines)
