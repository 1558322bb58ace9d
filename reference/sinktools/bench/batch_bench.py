"""``sink bench batch``: the meter batch figure, how small 100 meter readings get as one batch.

The goal of the v1 draft: the ``meter`` profile (100 readings) in at most
1,000 bytes as one batch v1. Rows, all encoding the same 100 events in
profile order:

- the version-0 column batch (BATCH-7: gzip when smaller);
- batch v1 in mode ``columns`` with gzip, and with zstd (level 19);
- batch v1 in mode ``records`` with its best codec, when the records mode
  exists (:mod:`sinkproto.records`);
- what the reference encoder picks for a BATCH_PUBLISH (CODEC-5: the
  smallest of the above), and that format;
- yardsticks: ``xz -9`` and ``zstd -19`` of the raw fields (the 100 events'
  own encodings, PUB-1, concatenated: every field, no batch structure);
- the information-theoretic floor: the entropy of the profile's generator
  (:mod:`.information`), which no encoding beats on average.

Sizes are deterministic (same library versions, same bytes); nothing is
timed.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import lzma
from dataclasses import dataclass
from typing import Any

import zstandard
from sinkproto import construct_codec
from sinkproto.batchrules import canonical_layout
from sinkproto.messages import Batch, BatchCodec, BatchFormat, BatchMode

from .information import Term, meter_information, total_bits
from .profiles import Profile

__all__ = ["GOAL_BYTES", "Row", "BatchReport", "record_schemas", "batch_format", "run", "format_report"]

GOAL_BYTES = 1000  # the v1 draft's goal for the meter profile's 100 readings as one batch


@dataclass(frozen=True)
class Row:
    encoding: str
    size: int
    note: str = ""


@dataclass(frozen=True)
class BatchReport:
    profile: str
    events: int
    rows: tuple[Row, ...]
    chosen: Row  # what the reference encoder sends in a BATCH_PUBLISH
    terms: tuple[Term, ...]
    records: bool  # whether the records mode was available

    @property
    def entropy_bytes(self) -> float:
        return total_bits(list(self.terms))[0] / 8

    @property
    def profile_bytes(self) -> float:
        """The information of the committed profile under its generator, in bytes."""
        return total_bits(list(self.terms))[1] / 8

    @property
    def met(self) -> bool:
        return self.chosen.size <= GOAL_BYTES


def record_schemas() -> Any | None:
    """The records-mode schemas of the kit's registry when the codec has the records mode, else None.

    The records mode is there when :mod:`sinkproto.records` exists and the
    reference batch v1 encoder takes its ``schemas``.
    """
    if (
        importlib.util.find_spec("sinkproto.records") is None
        or "schemas" not in inspect.signature(construct_codec.encode_batch).parameters
    ):
        return None
    from sinkproto.schemas import default_registry

    return importlib.import_module("sinkproto.records").RecordSchemas.from_registry(default_registry())


def batch_format(data: bytes) -> str:
    """The layout and codec a batch v1 names in its first bytes, e.g. ``v1 columns + zstd``."""
    if data[0] & 0x80:
        return f"v1 {BatchMode(data[1] & 0x0F).wire_name} + {BatchCodec(data[1] >> 4).wire_name}"
    return "v0 columns + gzip" if data[0] & 0x40 else "v0 columns, uncompressed"


def raw_fields(profile: Profile) -> bytes:
    """Every field of every event and nothing else: the events' own encodings (PUB-1), concatenated."""
    from sinkproto.codec import FAST

    return b"".join(FAST.encode_event(e) for e in profile.events)


def encode(events: tuple[Any, ...], schemas: Any | None, fmt: BatchFormat | None = None) -> bytes:
    """A batch v1 of ``events``: ``fmt`` exactly, or (None) the encoder's choice, with ``schemas`` when given."""
    value = Batch(
        events=events,
        format=fmt,
        layout=canonical_layout(events) if fmt is not None and fmt.mode is BatchMode.COLUMNS else None,
    )
    return construct_codec.encode_batch(value, version=1, schemas=schemas)


def run(profile: Profile) -> BatchReport:
    from sinkproto.codec import FAST

    events = profile.events
    schemas = record_schemas()
    raw = raw_fields(profile)
    rows = [
        Row("v0 column batch", len(FAST.encode_batch(Batch(events=events))), "BATCH-7: gzip when smaller"),
        Row("v1 columns + gzip", len(encode(events, None, BatchFormat(codec=BatchCodec.GZIP))), "zlib level 6"),
        Row("v1 columns + zstd", len(encode(events, None, BatchFormat(codec=BatchCodec.ZSTD))), "zstd level 19"),
    ]
    if schemas is not None:
        sizes = {
            codec: len(encode(events, schemas, BatchFormat(codec=codec, mode=BatchMode.RECORDS)))
            for codec in BatchCodec
        }
        best = min(sizes, key=lambda c: sizes[c])
        rows.append(
            Row(
                "v1 records + best codec",
                sizes[best],
                f"{best.wire_name}; " + ", ".join(f"{c.wire_name} {s:,}" for c, s in sizes.items()),
            )
        )
    chosen_bytes = encode(events, schemas)
    chosen = Row("v1 encoder's choice (what BATCH_PUBLISH carries)", len(chosen_bytes), batch_format(chosen_bytes))
    rows += [
        chosen,
        Row(
            "xz -9 of the raw fields",
            len(lzma.compress(raw, format=lzma.FORMAT_XZ, preset=9)),
            f"{len(raw):,} bytes: the 100 events' encodings (PUB-1) concatenated",
        ),
        Row("zstd -19 of the raw fields", len(zstandard.ZstdCompressor(level=19).compress(raw)), "the same bytes"),
    ]
    return BatchReport(
        profile.name, len(events), tuple(rows), chosen, tuple(meter_information(profile)), schemas is not None
    )


def format_report(report: BatchReport) -> str:
    bound = report.profile_bytes
    lines = [
        f"Profile `{report.profile}`: {report.events} readings as one batch, in profile order. Goal: at most {GOAL_BYTES:,} bytes.",
        "",
        "| Encoding | Bytes | Bytes per event | vs goal | vs information floor | Note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in report.rows:
        if row is report.chosen and not report.records:
            lines.append("| v1 records + best codec | n/a | | | | the records mode is not in this build |")
        lines.append(
            f"| {row.encoding} | {row.size:,} | {row.size / report.events:.1f} | {row.size / GOAL_BYTES:.2f}x | "
            f"{row.size / bound:.2f}x | {row.note} |"
        )
    lines += [
        f"| information floor: entropy of the generator | {report.entropy_bytes:,.0f} | {report.entropy_bytes / report.events:.1f} | "
        f"{report.entropy_bytes / GOAL_BYTES:.2f}x | | expected over every draw of the generator |",
        f"| information floor: this profile | {bound:,.0f} | {bound / report.events:.1f} | {bound / GOAL_BYTES:.2f}x | 1.00x | "
        f"-log2 of its probability under the generator |",
        "",
        f"**Goal of {GOAL_BYTES:,} bytes: {'MET' if report.met else 'NOT MET'}** "
        f"({report.chosen.size:,} bytes, {report.chosen.note}).",
    ]
    if bound > GOAL_BYTES:
        lines.append(
            f"The goal is below the information floor of this profile ({bound:,.0f} bytes): no encoding reaches it "
            f"except by luck (a code fixed in advance is k bits shorter than the floor with probability at most 2^-k)."
        )
    order = next(t for t in report.terms if t.what.startswith("order"))
    lines += [
        f"Without the order of the events (a receiver that does not need it), the floor is "
        f"{bound - order.profile_bits / 8:,.0f} bytes.",
        "",
        "Where the floor comes from (bits over the 100 events; the generator's independent draws):",
        "",
        "| Draw | How it is drawn | Entropy (bits) | This profile (bits) | Bytes |",
        "|---|---|---:|---:|---:|",
    ]
    for term in report.terms:
        lines.append(
            f"| {term.what} | {term.how} | {term.entropy_bits:,.1f} | {term.profile_bits:,.1f} | {term.profile_bits / 8:,.1f} |"
        )
    entropy, information = total_bits(list(report.terms))
    lines.append(f"| total | | {entropy:,.1f} | {information:,.1f} | {information / 8:,.1f} |")
    return "\n".join(lines)
