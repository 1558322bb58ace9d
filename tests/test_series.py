"""The meter-series profile: committed as generated, the structure the docs state, and a floor that holds."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import pytest
from sinkproto.schemas import default_registry
from sinktools.bench import series
from sinktools.bench.series_bench import format_report, run


@pytest.fixture(scope="module")
def day() -> series.Series:
    return series.load()


def test_the_committed_series_is_what_the_seed_generates(day: series.Series) -> None:
    assert series.dump(series.generate()) == series.SERIES_FILE.read_bytes(), (
        "run: python -c 'from sinktools.bench.series import *; SERIES_FILE.write_bytes(dump(generate()))'"
    )
    assert day == series.generate()


def _readings(day: series.Series) -> list[tuple[int, dict[str, object]]]:
    registry = default_registry()
    return [(i, registry.decode(1, 2, e.event_data)) for i, p in enumerate(day.polls) for e in p.events]


def test_the_series_has_the_structure_the_docs_state(day: series.Series) -> None:
    assert len(day.polls) == 96
    assert all(p.start - day.polls[0].start == i * 900 for i, p in enumerate(day.polls))
    first_keys = {e.key for e in day.polls[0].events}
    assert 95 <= len(first_keys) <= 100  # a few miss the first poll
    # most keys of one poll are the keys of the last
    overlap = [
        len({e.key for e in a.events} & {e.key for e in b.events}) / len(b.events)
        for a, b in zip(day.polls, day.polls[1:])
    ]
    assert min(overlap) > 0.9
    new = {e.key for e in day.events if e.offset == 1}
    assert 1 <= len(new) <= 15  # occasional new meters
    # offsets grow by one per reading of a meter
    last: dict[bytes, int] = {}
    for e in day.events:
        assert e.key not in last or e.offset == last[e.key] + 1
        last[e.key] = e.offset
    # batches are in arrival order, most readings in the poll's first minute, a few late
    latencies = [e.timestamp - p.start for p in day.polls for e in p.events]
    assert all(list(p.events) == sorted(p.events, key=lambda e: (e.timestamp, e.key)) for p in day.polls)
    assert 0.9 < sum(1 for x in latencies if x < 60) / len(latencies) < 0.99
    # consumption: many zero increments at night, few in the evening peak
    registry = default_registry()
    previous: dict[bytes, int] = {}
    zero_by_hour: dict[int, Counter[bool]] = {}
    for index, poll in enumerate(day.polls):
        for e in poll.events:
            register = registry.decode(1, 2, e.event_data)["active_energy_import_wh"]
            assert isinstance(register, int)
            if e.key in previous:
                zero_by_hour.setdefault(index * 900 // 3600, Counter())[register == previous[e.key]] += 1
            previous[e.key] = register
    night = sum(zero_by_hour[h][True] for h in range(1, 5)) / sum(sum(zero_by_hour[h].values()) for h in range(1, 5))
    peak = sum(zero_by_hour[h][True] for h in range(18, 22)) / sum(sum(zero_by_hour[h].values()) for h in range(18, 22))
    assert night > 0.45 and peak < 0.2
    # one grid frequency per poll: every meter of a poll within 6 mHz of the others
    for poll in day.polls:
        frequencies = [int(registry.decode(1, 2, e.event_data)["frequency_mhz"]) for e in poll.events]
        assert max(frequencies) - min(frequencies) <= 6


def test_the_floor_is_below_every_encoding_and_counts_every_draw(day: series.Series) -> None:
    report = run(day)
    floor = report.floor_bytes
    assert 10_000 < floor < 60_000
    # no encoding beats the floor (one that did by a byte would do so with probability 2^-8)
    assert all(row.size > floor for row in report.rows)
    names = {t.what for t in report.terms}
    assert any(n.startswith("consumption") for n in names) and any(n.startswith("frequency") for n in names)
    text = format_report(report)
    assert "information floor of this series" in text and f"{floor:,.0f}" in text


def test_a_series_the_generator_cannot_draw_is_refused(day: series.Series) -> None:
    # the floor is an exact probability: a reading whose derived field is off has none
    registry = default_registry()
    poll = day.polls[5]
    event = poll.events[0]
    record = registry.decode(1, 2, event.event_data)
    record["current_ma"] += 1
    bad = dataclasses.replace(event, event_data=registry.encode(1, 2, record))
    broken = dataclasses.replace(
        day, polls=(*day.polls[:5], dataclasses.replace(poll, events=(bad, *poll.events[1:])), *day.polls[6:])
    )
    with pytest.raises(ValueError, match="derived"):
        series.information(broken)


def test_summed_out_traits_cost_less_than_knowing_them() -> None:
    # the mixture of a hidden trait is at least as likely as its most likely value alone, at most the sum
    per_latent = [-10.0, -12.0, -30.0]
    prior = [0.5, 0.35, 0.15]
    mixed = series._mixture(prior, per_latent)
    best = max(math.log2(p) + ll for p, ll in zip(prior, per_latent))
    assert best <= mixed <= best + math.log2(3)


def test_a_context_batch_is_its_columns_and_the_day_is_sent_in_batch_order(day: series.Series) -> None:
    from sinkproto.codec import FAST
    from sinkproto.messages import Batch, BatchContext, BatchFormat, BatchMode, ContextBase
    from sinkproto.records import RecordSchemas
    from sinkproto.session.batching import batch_order
    from sinktools.bench.series_bench import context_columns

    ordered = day.in_batch_order()
    assert [sorted(p.events, key=batch_order) for p in day.polls] == [list(p.events) for p in ordered.polls]
    assert any(p.events != q.events for p, q in zip(day.polls, ordered.polls))  # the answer order is not BPUB-6's
    schemas = RecordSchemas.from_registry(default_registry())
    first, second = ordered.polls[0].events, ordered.polls[1].events
    context = BatchContext(batch_id=2, base=ContextBase(batch_id=1, events=first))
    batch = FAST.encode_batch(
        Batch(events=second, format=BatchFormat(mode=BatchMode.CONTEXT), context=context), version=1, schemas=schemas
    )
    sizes = context_columns(batch)
    plan = schemas.plan(second[0].event_type_id, second[0].schema_version)
    assert plan is not None and len(sizes) == 4 + len(plan.columns)  # base_rows, keys, offsets, timestamps, schema
    # the columns are the batch but its header: 2 bytes, 2 one-byte varints, batch_id, base_id, digest, count
    assert len(batch) - sum(sizes) == 2 + 2 + 1 + 1 + 8 + 1
    report = run(day)
    assert {name for name, _ in report.columns} >= {"base_rows", "offsets", "timestamps", "current_ma"}
    context_row = next(r for r in report.rows if r.encoding.startswith("v1 context"))
    records_row = next(r for r in report.rows if r.encoding == "v1 records + best codec")
    assert report.floor_bytes < context_row.size < records_row.size
