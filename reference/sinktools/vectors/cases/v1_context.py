"""The version-1 vectors of context coding (spec/v1/context.md, CTX-2..CTX-7): batches in mode ``context``.

Valid cases are logical values (a batch and the bases its decoder holds); the
canonical ones are crafted here from the spec (CTX-2, CTX-6, CTX-13) and must
equal the reference encoder's bytes (:class:`BuilderV1` checks it), the others
(``canonical`` False) only decode to their value. Invalid cases are crafted
bytes whose error class is decided here, from the spec; ``unknown_base`` cases
(CTX-5) are well-formed batches whose base the decoder lacks or holds stale.
Every case lists the ``bases`` its decoder holds; a case without them is
decoded by a side that declared no ``context_bases`` (CTX-1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sinkproto.batchrules import gzip_body
from sinkproto.messages import (
    Batch,
    BatchCodec,
    BatchContext,
    BatchFormat,
    BatchMode,
    ContextBase,
    Event,
)

from ..builder import Builder

__all__ = ["context_cases", "context_parts", "ContextParts"]

TS = 1_733_000_400  # a quarter hour, 2024-11-30 21:00 UTC
POLL = 900  # seconds between two polls of a base station


def _varint(value: int) -> bytes:
    from sinkproto.primitives import varint_bytes

    return varint_bytes(value, wide=True)


def _zz(value: int) -> bytes:
    from sinkproto.primitives import zigzag_encode

    return _varint(zigzag_encode(value))


def _reading(serial: str, wh: int, export: int, voltage: int, reactive: int | None, phase: str) -> dict[str, Any]:
    return {
        "meter_serial": serial,
        "interval_seconds": 900,
        "active_energy_import_wh": wh,
        "active_energy_export_wh": export,
        "voltage_dv": voltage,
        "current_ma": 1200 + wh % 700,
        "power_factor_permille": 950,
        "frequency_mhz": 50_010,
        "reactive_energy_varh": reactive,
        "phase": phase,
    }


@dataclass(frozen=True)
class Meter:
    serial: str
    offset: int
    wh: int
    export: int = 0
    voltage: int = 2301
    reactive: int | None = None
    phase: str = "SINGLE"


def poll(meters: Sequence[Meter], at: int, *, version: int = 2) -> tuple[Event, ...]:
    """One poll of a base station: a meter_reading event per meter (type 1, ``version`` 2, or 1 for a stale base)."""
    from sinkproto.schemas import default_registry

    registry = default_registry()
    out = []
    for m in meters:
        record = _reading(m.serial, m.wh, m.export, m.voltage, m.reactive, m.phase)
        if version == 1:
            record = {
                "meter_serial": m.serial,
                "interval_seconds": 900,
                "energy_wh": m.wh,
                "voltage_dv": m.voltage,
                "current_ma": 1200,
                "power_factor_permille": 950,
                "frequency_mhz": 50_010,
            }
        out.append(
            Event(
                event_type_id=1,
                schema_version=version,
                key=m.serial.encode(),
                offset=m.offset,
                timestamp=at,
                event_data=registry.encode(1, version, record),
            )
        )
    return tuple(out)


def _next(m: Meter, wh: int, **changes: Any) -> Meter:
    """The same meter one poll later: offset one more, ``wh`` more energy."""
    return Meter(**{**m.__dict__, "offset": m.offset + 1, "wh": m.wh + wh, **changes})


FIRST = (
    Meter("SM5R-000123", 48_001, 1_234_567),
    Meter("SM5R-000124", 48_101, 1_300_001, phase="L2"),
    Meter("SM5R-004711", 52_310, 7_654_321, 120_000, 2298, 55_000),
    Meter("SM5R-004712", 52_410, 812_345, voltage=2315),
)
SECOND = (
    _next(FIRST[0], 42),
    _next(FIRST[1], 0),
    _next(FIRST[2], 310, export=120_004, voltage=2290, reactive=55_012),
    _next(FIRST[3], 17, voltage=2309),
)
BASE = ContextBase(batch_id=41, events=poll(FIRST, TS))
OLDER = ContextBase(batch_id=40, events=poll([Meter(m.serial, m.offset - 1, m.wh - 50) for m in FIRST], TS - POLL))
NEW_METER = Meter("SM5R-009000", 1, 15)


# -- crafting from the spec -----------------------------------------------------------------------------------


@dataclass
class ContextParts:
    """A batch in mode context, codec none, cut into the parts CTX-2 lists (each a byte string to replace)."""

    header: bytes  # header byte, format byte, event_type_id, schema_version
    batch_id: bytes
    base_id: bytes
    digest: bytes
    count: bytes
    base_rows: bytes  # the column, or b"" without a base
    keys: bytes
    offsets: bytes
    timestamps: bytes
    schema: list[bytes] = field(default_factory=list)

    def body(self) -> bytes:
        return b"".join(
            [
                self.batch_id,
                self.base_id,
                self.digest,
                self.count,
                self.base_rows,
                self.keys,
                self.offsets,
                self.timestamps,
                *self.schema,
            ]
        )

    def data(self, codec: BatchCodec = BatchCodec.NONE) -> bytes:
        header = self.header[:1] + bytes([codec << 4 | BatchMode.CONTEXT]) + self.header[2:]
        if codec is BatchCodec.GZIP:
            return header + gzip_body(self.body())
        if codec is BatchCodec.ZSTD:
            import zstandard

            return header + zstandard.ZstdCompressor(level=19).compress(self.body())
        return header + self.body()


def _against(column: bytes) -> bytes:
    """The column with ``against_base`` (bit 7 of its transform byte) set; its values left as they are."""
    at = 1 if column[0] < 0x80 else 2  # the chunk length of a column of these vectors: one or two bytes
    assert column[at - 1] < 0x80
    return column[:at] + bytes([column[at] | 0x80]) + column[at + 1 :]


def _int_column(values: Sequence[int], against: bool) -> bytes:
    from sinkproto.construct_codec.records import best_int_payload

    body = best_int_payload(values)
    if against:
        body = bytes([body[0] | 0x80]) + body[1:]
    return _varint(len(body)) + body


def context_parts(
    events: Sequence[Event],
    batch_id: int,
    base: ContextBase | None,
    *,
    against: Callable[[str, bool], bool] | None = None,
    rows: Sequence[int] | None = None,
) -> ContextParts:
    """The batch CTX-2 describes; ``against(name, shorter)`` says per allowed column whether to set against_base
    (default: CTX-13, when it is shorter); ``rows`` overrides base_rows (default: the first base row, CTX-13)."""
    from sinkproto.construct_codec.batch_format import RECORDS_LAYOUT
    from sinkproto.construct_codec.records import KEY_COLUMN, build_column
    from sinkproto.records import ColumnType, transpose

    from ..model import vector_record_schemas

    choose = against or (lambda _name, shorter: shorter)
    type_id, version = events[0].event_type_id, events[0].schema_version
    plan = vector_record_schemas().plan(type_id, version)
    assert plan is not None
    columns = transpose(plan, [e.event_data for e in events])
    assert columns is not None
    keys = [e.key for e in events]
    if base is None:
        base_rows: list[int] = [-1] * len(events)
    elif rows is not None:
        base_rows = list(rows)
    else:
        first: dict[bytes, int] = {}
        for i, e in enumerate(base.events):
            first.setdefault(e.key, i)
        base_rows = [first.get(k, -1) for k in keys]
    base_columns = transpose(plan, [e.event_data for e in base.events]) if base is not None else None

    def column(name: str, values: Sequence[int], base_values: Sequence[int] | None) -> bytes:
        plain = _int_column(values, False)
        if base_values is None:
            return plain
        refs = [0 if r == -1 else base_values[r] for r in base_rows]
        diff = _int_column([v - ref for v, ref in zip(values, refs, strict=True)], True)
        return diff if choose(name, len(diff) < len(plain)) else plain

    has = base is not None
    schema = []
    for index, (c, values) in enumerate(zip(plan.columns, columns, strict=True)):
        if c.type is ColumnType.INT and c.per_event:
            schema.append(column(c.path, values, base_columns[index] if base_columns is not None else None))
        else:
            schema.append(build_column(c, values, keys))
    return ContextParts(
        header=bytes([0x80 | RECORDS_LAYOUT.to_byte(), BatchMode.CONTEXT]) + _varint(type_id) + _varint(version),
        batch_id=_varint(batch_id),
        base_id=_varint(0 if base is None else base.batch_id),
        digest=b"" if base is None else base.digest,
        count=_varint(len(events)),
        base_rows=_int_column(base_rows, False) if has else b"",
        keys=build_column(KEY_COLUMN, [k for k, r in zip(keys, base_rows, strict=True) if r == -1], None),
        offsets=column("offsets", [e.offset for e in events], [e.offset for e in base.events] if base else None),
        timestamps=column(
            "timestamps", [e.timestamp for e in events], [e.timestamp for e in base.events] if base else None
        ),
        schema=schema,
    )


def context_batch(events: Sequence[Event], batch_id: int, base: ContextBase | None, codec: BatchCodec) -> Batch:
    from sinkproto.construct_codec.batch_format import RECORDS_LAYOUT

    return Batch(
        events=tuple(events),
        layout=RECORDS_LAYOUT,
        format=BatchFormat(codec=codec, mode=BatchMode.CONTEXT),
        context=BatchContext(batch_id=batch_id, base=base),
    )


# -- the cases ------------------------------------------------------------------------------------------------


def context_cases(b: Builder, prefix: str, wrap: Callable[[Batch], Any], head: bytes) -> None:
    """The cases of mode context, shared by ``batch`` and ``batch_publish`` (``wrap``, ``head`` as for records)."""
    p = f"{prefix}.context"
    r = ["CTX-2", "CTX-6", "CTX-13", "BATCH-14"]
    second = poll(SECOND, TS + POLL)

    def valid(
        name: str,
        description: str,
        reqs: list[str],
        events: Sequence[Event],
        batch_id: int,
        base: ContextBase | None,
        bases: Sequence[ContextBase],
        *,
        codec: BatchCodec = BatchCodec.NONE,
        parts: ContextParts | None = None,
    ) -> bytes:
        value = wrap(context_batch(events, batch_id, base, codec))
        if codec is not BatchCodec.NONE:
            return b.valid(f"{p}.{name}", description, reqs, value, canonical=False, bases=bases)
        canonical = parts is None
        crafted = parts or context_parts(events, batch_id, base)
        return b.valid(
            f"{p}.{name}", description, reqs, value, data=head + crafted.data(), canonical=canonical, bases=bases
        )

    valid(
        "none.no-base",
        "The first poll of four meters (meter_reading v2), batch_id 41, no base: records columns after batch_id and "
        "base_id 0; the decoder declared context_bases and holds no base.",
        ["CTX-1", "CTX-2", "BATCH-14"],
        BASE.events,
        41,
        None,
        [],
    )
    valid(
        "none.with-base",
        "The next poll, batch_id 42, coded against batch 41: base_rows 0..3, no keys, offsets and timestamps "
        "against_base (each one more, each 900 s later), energy registers against_base.",
        [*r, "CTX-4", "CTX-7"],
        second,
        42,
        BASE,
        [OLDER, BASE],
    )
    for codec in (BatchCodec.GZIP, BatchCodec.ZSTD):
        valid(
            f"{codec.wire_name}.with-base",
            f"The next poll against batch 41, codec {codec.wire_name} (compared after decompression).",
            [*r, "CTX-7", "CODEC-1" if codec is BatchCodec.GZIP else "CODEC-2"],
            second,
            42,
            BASE,
            [BASE],
            codec=codec,
        )
    middle = poll([SECOND[0], SECOND[1], NEW_METER, SECOND[2], SECOND[3]], TS + POLL)
    valid(
        "none.new-key-in-middle",
        "A new meter answers between known ones: its base_rows value is -1 and its key the one value of the keys "
        "column; its offset and timestamp differ from the reference 0.",
        [*r, "CTX-7"],
        middle,
        42,
        BASE,
        [BASE],
    )
    missed = poll([SECOND[0], SECOND[2], SECOND[3]], TS + POLL)
    valid(
        "none.missed-meter",
        "A meter of the base misses the poll: base_rows 0, 2, 3, and nothing else says so.",
        r,
        missed,
        42,
        BASE,
        [BASE],
    )
    twice = poll([SECOND[0], SECOND[1], _next(SECOND[1], 0), SECOND[2], SECOND[3]], TS + POLL)
    valid(
        "none.duplicate-base-rows",
        "A meter that answered twice in one poll: two rows name base row 1 (CTX-6 allows it).",
        r,
        twice,
        42,
        BASE,
        [BASE],
    )
    reordered = poll([SECOND[3], SECOND[2], SECOND[1], SECOND[0]], TS + POLL)
    valid(
        "none.reordered",
        "The meters answer in reverse order: base_rows 3, 2, 1, 0.",
        r,
        reordered,
        42,
        BASE,
        [BASE],
    )
    valid(
        "none.ids-at-max",
        "batch_id and base_id at their largest, 4294967295. The batch names a base of its own id, which a "
        "decoder accepts: CTX-3 bounds the ids, CTX-12 binds the sender, not the decoder.",
        ["CTX-2", "CTX-3"],
        second,
        0xFFFF_FFFF,
        ContextBase(batch_id=0xFFFF_FFFF, events=BASE.events),
        [ContextBase(batch_id=0xFFFF_FFFF, events=BASE.events)],
    )
    every = context_parts(second, 42, BASE, against=lambda _name, _shorter: True)
    valid(
        "none.against-base-everywhere",
        "against_base on offsets, timestamps and every per-event int column of the schema (the union's branch "
        "column and the enum included), even where the plain coding is shorter: some differences are negative.",
        ["CTX-7", "CTX-2"],
        second,
        42,
        BASE,
        [BASE],
        parts=every,
    )
    none = context_parts(second, 42, BASE, against=lambda _name, _shorter: False)
    valid(
        "none.against-base-nowhere",
        "A batch with a base whose columns are all coded plainly, with no against_base.",
        ["CTX-7", "CTX-2"],
        second,
        42,
        BASE,
        [BASE],
        parts=none,
    )
    dup_base = ContextBase(batch_id=41, events=poll([*FIRST, Meter(FIRST[1].serial, 48_102, 1_300_002)], TS))
    later = context_parts(second, 42, dup_base, rows=[0, 4, 2, 3])
    valid(
        "none.base-row-not-first",
        "The base has two rows of one meter; base_rows names the second (4), not the first an encoder picks "
        "(CTX-13 is a SHOULD; CTX-6 allows any row).",
        ["CTX-6", "CTX-2"],
        second,
        42,
        dup_base,
        [dup_base],
        parts=later,
    )
    # CTX-1: a side that declared no context_bases takes no batch in mode context.
    plain = context_parts(second, 42, BASE)
    b.invalid(
        f"{p}.not-declared",
        "A valid batch in mode context to a decoder that declared no context_bases: unknown_format at the format byte.",
        ["CTX-1", "BATCH-14"],
        head + plain.data(),
        "unknown_format",
    )
    _invalid_cases(b, p, head, second, plain)
    _unknown_base_cases(b, p, head, second, plain)


def _replace(parts: ContextParts, **changes: Any) -> ContextParts:
    return ContextParts(**{**parts.__dict__, "schema": list(parts.schema), **changes})


def _invalid_cases(b: Builder, p: str, head: bytes, second: tuple[Event, ...], plain: ContextParts) -> None:
    held = [BASE]
    no_base = context_parts(BASE.events, 41, None)

    def bad(name: str, description: str, reqs: list[str], data: bytes, error_class: str, **kw: Any) -> None:
        b.invalid(f"{p}.{name}", description, reqs, head + data, error_class, bases=kw.pop("bases", held), **kw)

    # CTX-3: the ids, and a body that ends inside them or the digest.
    bad(
        "batch-id-zero",
        "batch_id 0: value_out_of_range at the varint.",
        ["CTX-3"],
        _replace(plain, batch_id=_varint(0)).data(),
        "value_out_of_range",
    )
    bad(
        "batch-id-above-max",
        "batch_id 4294967296: value_out_of_range.",
        ["CTX-3"],
        _replace(plain, batch_id=_varint(1 << 32)).data(),
        "value_out_of_range",
    )
    bad(
        "base-id-above-max",
        "base_id 4294967296: value_out_of_range, before the base is looked up.",
        ["CTX-3", "CTX-5"],
        _replace(plain, base_id=_varint(1 << 32)).data(),
        "value_out_of_range",
    )
    bad(
        "batch-id-zero-unknown-base",
        "batch_id 0 and a base the decoder lacks: value_out_of_range, found before the lookup (CTX-5).",
        ["CTX-3", "CTX-5", "ERR-2"],
        _replace(plain, batch_id=_varint(0)).data(),
        "value_out_of_range",
        bases=[],
    )
    whole = plain.data()
    start = len(plain.header)
    digest_at = start + len(plain.batch_id) + len(plain.base_id)
    for cut, what in ((start, "before batch_id"), (start + 1, "after batch_id"), (digest_at + 3, "inside the digest")):
        bad(
            f"body-ends-{what.replace(' ', '-').replace('_', '-')}",
            f"The body ends {what}: inconsistent_batch.",
            ["CTX-3"],
            whole[:cut],
            "inconsistent_batch",
        )
    bad(
        "batch-id-cut",
        "The body ends inside the batch_id varint (80): inconsistent_batch.",
        ["CTX-3"],
        whole[:start] + b"\x80",
        "inconsistent_batch",
    )
    bad(
        "trailing-byte",
        "A byte after the last schema column: inconsistent_batch.",
        ["CTX-2"],
        whole + b"\x00",
        "inconsistent_batch",
    )
    bad(
        "no-base-trailing-byte",
        "A batch without a base, a byte after its last column: inconsistent_batch.",
        ["CTX-2"],
        no_base.data() + b"\x00",
        "inconsistent_batch",
        bases=[],
    )
    bad(
        "base-key-over-configured-limit",
        "Every key taken from the base, each 11 bytes, against max_key_size=10: limit_exceeded, though the keys "
        "column holds none (CTX-6: the base's keys are checked too).",
        ["CTX-6", "RECORD-6", "LIMIT-5"],
        plain.data(),
        "limit_exceeded",
        limits={"max_key_size": 10},
    )
    bad(
        "count-zero",
        "count 0 after a known base: inconsistent_batch, as in records mode.",
        ["CTX-2", "BATCH-8"],
        _replace(plain, count=_varint(0)).data(),
        "inconsistent_batch",
    )
    bad(
        "header-flags",
        "Mode context with same_key_length also set in the header byte: inconsistent_batch (RECORD-1, CTX-2).",
        ["CTX-2", "RECORD-1"],
        _replace(plain, header=bytes([plain.header[0] | 0x08]) + plain.header[1:]).data(),
        "inconsistent_batch",
    )
    bad(
        "unknown-schema",
        "Mode context for meter_reading v9, which the decoder has no writer schema of: unknown_format (RECORD-2).",
        ["CTX-2", "RECORD-2"],
        _replace(plain, header=plain.header[:3] + _varint(9)).data(),
        "unknown_format",
    )
    # CTX-6: base_rows.
    for name, rows in (("above", [0, 1, 2, 4]), ("below", [0, 1, -2, 3])):
        bad(
            f"base-rows-{name}",
            f"base_rows {rows}: {rows[3] if name == 'above' else rows[2]} is outside -1..3 (the base has 4 events): "
            "value_out_of_range.",
            ["CTX-6"],
            _replace(plain, base_rows=_int_column(rows, False)).data(),
            "value_out_of_range",
        )
    bad(
        "base-rows-too-few",
        "base_rows holds 3 values for 4 rows: inconsistent_batch (RECORD-5).",
        ["CTX-6", "RECORD-5"],
        _replace(plain, base_rows=b"\x04\x00" + _zz(0) + _zz(1) + _zz(2)).data(),
        "inconsistent_batch",
    )
    bad(
        "keys-too-many",
        "Every base_rows value names a base row, but the keys column holds one key: inconsistent_batch.",
        ["CTX-6", "RECORD-5"],
        _replace(plain, keys=b"\x03\x00\x01k").data(),
        "inconsistent_batch",
    )
    # CTX-7: where against_base may be set.
    schema_at = {c: i for i, c in enumerate(_paths())}
    bad(
        "against-base-on-keys",
        "against_base on the keys column: unknown_format.",
        ["CTX-7"],
        _replace(plain, keys=_against(plain.keys)).data(),
        "unknown_format",
    )
    bad(
        "against-base-on-base-rows",
        "against_base on the base_rows column: unknown_format.",
        ["CTX-7"],
        _replace(plain, base_rows=_against(plain.base_rows)).data(),
        "unknown_format",
    )
    branch = schema_at["reactive_energy_varh#1"]
    bad(
        "against-base-on-branch-column",
        "against_base on reactive_energy_varh's long (a union branch, which not every event reaches): unknown_format.",
        ["CTX-7"],
        _replace(plain, schema=_swap(plain.schema, branch, _against(plain.schema[branch]))).data(),
        "unknown_format",
    )
    serial = schema_at["meter_serial"]
    bad(
        "against-base-on-bytes-column",
        "against_base on meter_serial, a bytes column: unknown_format.",
        ["CTX-7"],
        _replace(plain, schema=_swap(plain.schema, serial, _against(plain.schema[serial]))).data(),
        "unknown_format",
    )
    bad(
        "against-base-without-base",
        "against_base on the offsets column of a batch without a base: unknown_format.",
        ["CTX-7"],
        _replace(no_base, offsets=_against(no_base.offsets)).data(),
        "unknown_format",
        bases=[],
    )
    bad(
        "against-base-unassigned-transform-12",
        "Transform byte 8c on offsets: against_base with transform 12, unassigned: unknown_format.",
        ["CTX-7", "RECORD-5"],
        _replace(plain, offsets=b"\x01\x8c").data(),
        "unknown_format",
    )
    # CTX-7: ranges are checked on the values once the reference is added.
    top = ContextBase(
        batch_id=41,
        events=tuple(
            Event(
                event_type_id=e.event_type_id,
                schema_version=e.schema_version,
                key=e.key,
                offset=(1 << 64) - 1 if i == 0 else e.offset,
                timestamp=e.timestamp,
                event_data=e.event_data,
            )
            for i, e in enumerate(BASE.events)
        ),
    )
    over = context_parts(second, 42, top, against=lambda name, _s: name == "offsets")
    diffs = [1, 1, 1, 1]
    over = _replace(over, offsets=_int_column(diffs, True))
    bad(
        "offset-overflow",
        "offsets against_base, difference 1 from a base offset of 2^64-1: the value 2^64 is out of range "
        "(value_out_of_range), though every difference is in range.",
        ["CTX-7", "RECORD-5"],
        over.data(),
        "value_out_of_range",
        bases=[top],
    )
    # Coded plain against_base, as when the vector was locked (the encoder would now pick patched: same meaning).
    plain_below = b"\x80" + b"".join(_zz(v) for v in [-(TS + 1), POLL, POLL, POLL])
    below = _replace(plain, timestamps=_varint(len(plain_below)) + plain_below)
    bad(
        "timestamp-below-zero",
        "timestamps against_base: the first row's difference takes it to -1: value_out_of_range.",
        ["CTX-7", "RECORD-5"],
        below.data(),
        "value_out_of_range",
    )
    voltage = schema_at["voltage_dv"]
    int_top = [(1 << 31) - 1 - 2301 + 1, 0, 0, 0]  # voltage_dv is an Avro int: its base value + this passes 2^31-1
    bad(
        "int-overflow",
        "voltage_dv (an Avro int) against_base: 2301 + 2147481347 = 2^31 is outside the int's range: "
        "value_out_of_range.",
        ["CTX-7", "RECORD-5"],
        _replace(plain, schema=_swap(plain.schema, voltage, _int_column(int_top, True))).data(),
        "value_out_of_range",
    )


def _paths() -> list[str]:
    from ..model import vector_record_schemas

    plan = vector_record_schemas().plan(1, 2)
    assert plan is not None
    return [c.path for c in plan.columns]


def _swap(columns: list[bytes], index: int, column: bytes) -> list[bytes]:
    return [column if i == index else c for i, c in enumerate(columns)]


def _unknown_base_cases(b: Builder, p: str, head: bytes, second: tuple[Event, ...], plain: ContextParts) -> None:
    r = ["CTX-5"]
    whole = plain.data()
    b.unknown_base(
        f"{p}.unknown-base.none-held",
        "Against batch 41, to a decoder that holds no base (it restarted on an empty store): unknown_base.",
        r,
        head + whole,
        [],
    )
    b.unknown_base(
        f"{p}.unknown-base.other-held",
        "Against batch 41, to a decoder that holds batch 40 only: unknown_base.",
        r,
        head + whole,
        [OLDER],
    )
    garbage = whole[: len(plain.header) + len(plain.batch_id) + len(plain.base_id) + len(plain.digest)] + b"\xff" * 3
    b.unknown_base(
        f"{p}.unknown-base.garbage-after-digest",
        "Against a base the decoder lacks, then bytes that are no count nor column: unknown_base, since nothing "
        "after the digest is read (CTX-5).",
        r,
        head + garbage,
        [OLDER],
    )
    other = ContextBase(batch_id=41, events=poll([_next(m, 1) for m in FIRST], TS))
    b.unknown_base(
        f"{p}.stale-base.digest",
        "Against batch 41, to a decoder whose batch 41 holds other events (a sender that restarted and reused the "
        "id): the digest differs, unknown_base.",
        ["CTX-5", "CTX-4"],
        head + whole,
        [other],
    )
    v1 = ContextBase(batch_id=41, events=poll(FIRST, TS, version=1))
    v1_parts = context_parts(second, 42, BASE)
    b.unknown_base(
        f"{p}.stale-base.schema-version",
        "A meter_reading v2 batch against batch 41, to a decoder whose batch 41 is of meter_reading v1; the batch "
        "names that base's digest: unknown_base (CTX-5: another schema_version).",
        ["CTX-5"],
        head + _replace(v1_parts, digest=v1.digest).data(),
        [v1],
    )
