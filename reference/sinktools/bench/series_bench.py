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
from sinkproto.messages import Batch, BatchCodec, BatchFormat, BatchMode

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

    @property
    def floor_bytes(self) -> float:
        return sum(t.bits for t in self.terms) / 8


def run(series: Series) -> SeriesReport:
    schemas = record_schemas()
    sums: dict[str, int] = {}
    chosen: dict[str, int] = {}
    raw_all = bytearray()

    def add(name: str, size: int) -> None:
        sums[name] = sums.get(name, 0) + size

    for poll in series.polls:
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
        pick = encode(events, schemas)
        add("v1 encoder's choice", len(pick))
        chosen[batch_format(pick)] = chosen.get(batch_format(pick), 0) + 1
        add("xz -9 of each poll's raw fields", len(lzma.compress(raw, format=lzma.FORMAT_XZ, preset=9)))
    notes = {
        "v0 column batch": "BATCH-7: gzip when smaller",
        "v1 columns + zstd": "zstd level 19",
        "v1 records + best codec": "the smaller of none, gzip, zstd per poll",
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
    return SeriesReport(series.name, len(series.polls), readings, tuple(rows), tuple(information(series)))


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
    return "\n".join(lines)
