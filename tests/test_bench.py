"""The benchmarks run and print their tables; their data profiles are what the seeds generate.

Benchmarks are not tests: nothing here checks a time or a byte count
against a goal, only that the commands work and the committed data is fresh.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sinktools.bench.profiles import DATA_FILE, dump, generate, load
from sinktools.cli import main


def test_the_committed_profiles_are_what_the_seeds_generate() -> None:
    assert dump(generate()) == DATA_FILE.read_text(encoding="utf-8"), (
        "run: python -c 'from sinktools.bench.profiles import *; DATA_FILE.write_text(dump(generate()))'"
    )


def test_profiles_hold_what_the_issue_asks_for() -> None:
    profiles = load()
    random, meter = profiles["random"], profiles["meter"]
    assert len(random.events) == len(meter.events) == 100
    assert all(len(e.event_data) == 60 and len(e.key) == 8 for e in random.events)
    assert len({e.key for e in meter.events}) == 100 and all(e.key.startswith(b"SM5R-") for e in meter.events)
    assert max(e.timestamp for e in meter.events) - min(e.timestamp for e in meter.events) < 900
    from sinkproto.schemas import default_registry

    registry = default_registry()
    for event in meter.events:  # the payload is a meter_reading the registry reads back
        assert (
            registry.decode(event.event_type_id, event.schema_version, event.event_data)["meter_serial"]
            == event.key.decode()
        )


def test_bench_codec_prints_its_table_and_goals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "codec", "--quick", "--no-docs"]) == 0  # --no-docs: deprecated, still accepted
    out, err = capsys.readouterr()
    # progress on stderr, cell by cell, counted: "[n/N] profile operation implementation"
    steps = re.findall(r"sink bench: \[(\d+)/(\d+)\] (random|meter|meter-series) ", err)
    assert steps and [int(n) for n, _, _ in steps] == list(range(1, len(steps) + 1))
    assert {int(total) for _, total, _ in steps} == {len(steps)}
    assert "sink bench:" not in out
    assert "| Profile | Operation | construct µs/op | fast µs/op | msgpack µs/op | fastavro µs/op |" in out
    assert out.count("| meter | batch encode |") == out.count("| meter | batch decode |") == 1
    assert out.count("| random | publish ") == 2
    assert "meter 100-event batch encode + decode < 450 µs" in out
    # batch v1 rows, construct and fast only; no goal is set for them
    for profile in ("random", "meter"):
        for operation in ("encode", "decode"):
            assert re.search(rf"\| {profile} \| batch v1 {operation} \| [\d.,]+ \| [\d.,]+ \| n/a \| n/a \|", out), out
    assert "construct: meter batch v1" not in out
    # issue #22: the meter-series context batch, construct and fast only, and its goals (printed, not asserted)
    for operation in ("encode", "decode"):
        assert re.search(rf"\| meter-series \| context batch {operation} \| [\d.,]+ \| [\d.,]+ \| n/a \| n/a \|", out)
        assert f"| fast meter-series context batch {operation} (100 readings) < 1,000 µs |" in out


def test_bench_memory_prints_its_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "memory", "--connections", "10", "--no-docs"]) == 0
    out = capsys.readouterr().out
    assert "| gzip bomb: 9 MiB of zeros | fast |" in out and "limit_exceeded (LIMIT-3)" in out
    assert out.count("| 10 |") == 2  # the reference server and the small-buffer experiment


def test_bench_wire_quick_counts_sink_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    # Sink alone, over TCP and TLS: the byte accounting works and prints the table. Needs tcpdump
    # and root, as the wire benchmark does (.ci/run installs tcpdump and mosquitto).
    assert main(["bench", "wire", "--quick", "--no-docs"]) == 0
    out = capsys.readouterr().out
    assert "| Sink v0 (TCP) | no | 90 / " in out  # a 86-byte framed PUBLISH up, a 4-byte framed ACK down
    assert "| Sink v0 (TCP) | mutual TLS |" in out
    # Version 1: a PUBLISH is the same 90 bytes; the 100 events went as one BATCH_PUBLISH answered by one ACK,
    # and what tcpdump counted up is that frame: the batch v1 the client sent, its 2-byte header and length prefix.
    assert "| Sink v1 (TCP) | no | 90 / " in out
    found = re.search(
        r"batch v1 of ([\d,]+) bytes \((.+?), the encoder's choice; (fast|construct) codec\).*?without TLS: "
        r"([\d,]+) application bytes up, 4 down",
        out,
    )
    assert found is not None, out
    batch, up = (int(found[i].replace(",", "")) for i in (1, 4))
    assert up == batch + 4
    assert out.count("| Sink v1: one BATCH_PUBLISH (batch v1), one ACK |") == 2 and "| 1.00x |" in out


def test_bench_batch_sizes_are_what_the_codecs_produce(capsys: pytest.CaptureFixture[str]) -> None:
    from sinkproto import construct_codec
    from sinkproto.codec import FAST
    from sinkproto.messages import Batch
    from sinktools.bench import batch_bench

    meter = load()["meter"]
    report = batch_bench.run(meter)
    sizes = {row.encoding: row.size for row in report.rows}
    assert sizes["v0 column batch"] == len(FAST.encode_batch(Batch(events=meter.events)))
    chosen = batch_bench.encode(meter.events, batch_bench.record_schemas())
    assert report.chosen.size == len(chosen) == min(s for name, s in sizes.items() if name.startswith("v"))  # CODEC-5
    assert report.chosen.note == batch_bench.batch_format(chosen)
    decoded = construct_codec.decode_batch(chosen, version=1, schemas=batch_bench.record_schemas())
    assert decoded.events == meter.events
    # The information floor is below every encoding measured (it is a floor), and the verdict follows the size.
    assert report.entropy_bytes < min(sizes.values()) and report.profile_bytes < min(sizes.values())
    assert report.met == (report.chosen.size <= batch_bench.GOAL_BYTES)
    assert main(["bench", "batch", "--no-docs"]) == 0
    out = capsys.readouterr().out
    assert f"| v1 encoder's choice (what BATCH_PUBLISH carries) | {report.chosen.size:,} |" in out
    assert ("**Goal of 1,000 bytes: MET**" in out) == report.met and ("NOT MET" in out) == (not report.met)


def test_the_information_floor_of_the_meter_profile_adds_up() -> None:
    import math

    from sinktools.bench.information import meter_information, total_bits

    terms = {t.what: t for t in meter_information(load()["meter"])}
    # Uniform draws: the committed profile carries exactly their entropy.
    for what in ("meter serials (and keys)", "order of the meters", "offset", "voltage_dv", "current_ma"):
        assert terms[what].profile_bits == terms[what].entropy_bits
    assert terms["voltage_dv"].entropy_bits == pytest.approx(100 * math.log2(251))
    assert terms["order of the meters"].entropy_bits == pytest.approx(math.log2(math.factorial(100)))
    # Sorted timestamps: between the distinct-seconds case and the number of multisets of 100 of 900 seconds.
    distinct = 100 * math.log2(900) - math.log2(math.factorial(100))
    assert distinct < terms["timestamps"].entropy_bits < math.log2(math.comb(999, 100))
    # A mixture field: the flag's entropy plus the share of the range.
    h = -(0.1 * math.log2(0.1) + 0.9 * math.log2(0.9))
    assert terms["active_energy_export_wh"].entropy_bits == pytest.approx(100 * (h + 0.1 * math.log2(4_900_001)))
    entropy, information = total_bits(list(terms.values()))
    assert 11_000 < entropy < 12_000 and abs(information - entropy) < 100


def test_a_phase_without_packets_is_a_missed_capture_not_a_figure() -> None:
    from types import SimpleNamespace

    from sinktools.bench.wire.capture import missed_phase

    tcp, udp = SimpleNamespace(transport="TCP"), SimpleNamespace(transport="UDP")
    marks = [("setup", 0.0, 1.0), ("one event", 1.0, 2.0)]
    both = [(0.5, 40000, 7443, 60, 0), (1.5, 40000, 7443, 100, 40)]
    assert not missed_phase(tcp, 7443, False, marks, both)  # type: ignore[arg-type]
    assert missed_phase(tcp, 7443, False, marks, both[1:])  # type: ignore[arg-type]  # setup counted nothing
    assert missed_phase(tcp, 7443, False, marks, [(1.5, 40000, 9999, 100, 40), *both[:1]])  # type: ignore[arg-type]
    assert not missed_phase(udp, 7443, False, marks, both[1:])  # type: ignore[arg-type]  # CoAP has no setup


def test_bench_changes_the_docs_page_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A checkout of the kit: docs/performance.md with the batch markers. A plain run prints and leaves it alone.
    page = tmp_path / "docs" / "performance.md"
    page.parent.mkdir()
    original = "intro\n<!-- bench:batch:start -->\nold table\n<!-- bench:batch:end -->\nrest\n"
    page.write_text(original, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "batch"]) == 0
    out, err = capsys.readouterr()
    assert "| v1 encoder's choice" in out and "written to" not in out
    assert "sink bench: [1/1] 100 meter readings as one batch v1" in err
    assert page.read_text(encoding="utf-8") == original
    assert main(["bench", "batch", "--update-docs"]) == 0
    assert f"written to {page}" in capsys.readouterr().out
    updated = page.read_text(encoding="utf-8")
    assert "old table" not in updated and "| v1 encoder's choice" in updated and updated.endswith("rest\n")
    other = tmp_path / "other.md"
    other.write_text(original, encoding="utf-8")
    assert main(["bench", "batch", "--docs", str(other)]) == 0  # naming a page is asking
    assert "old table" not in other.read_text(encoding="utf-8")


def test_bench_update_docs_outside_the_kit_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="--update-docs found no docs/performance.md"):
        main(["bench", "batch", "--update-docs"])


def test_each_profile_times_the_encoding_of_its_own_events(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every encode operation of a profile encodes that profile's events: the bytes it makes are the size its row
    # reports. (The operations were lambdas reading `publish`, `batch` and `events` when called, after the loop
    # over the profiles: every profile's encode rows timed the last profile's events.)
    from sinktools.bench import codec_bench

    made: list[object] = []

    def call_once(op: object, *, budget: float, repeats: int) -> float:
        assert callable(op)
        made.append(op())
        return 1e-6

    monkeypatch.setattr(codec_bench, "time_op", call_once)
    report = codec_bench.run(load(), budget=0.0, repeats=1)
    cells = [(row.profile, row.operation, name, cell) for row in report.rows for name, cell in row.cells.items()]
    assert len(cells) == len(made)
    checked = 0
    for (profile, operation, name, cell), result in zip(cells, made):
        if "encode" in operation:
            assert isinstance(result, bytes), (profile, operation, name)
            assert len(result) == cell.size, (profile, operation, name, len(result), cell.size)
            checked += 1
    assert {profile for profile, operation, _, _ in cells if "encode" in operation} == {
        "random",
        "meter",
        "meter-series",
    }
    assert checked >= 8


def test_bench_wire_meter_series_quick_counts_every_poll(capsys: pytest.CaptureFixture[str]) -> None:
    # Three polls of the day over mutual TLS, Sink alone (--quick): the table has every Sink row, and what tcpdump
    # counted is more than what the clients handed to TLS (headers, TLS records and ACKs come on top). Needs tcpdump
    # and root, as the wire benchmark does.
    from sinkproto.codec import FAST
    from sinktools.bench.series import load as load_series

    assert main(["bench", "wire", "--profile", "meter-series", "--quick", "--no-docs"]) == 0
    out = capsys.readouterr().out
    polls = load_series().polls[:3]
    readings = sum(len(p.events) for p in polls)
    assert f"3 polls, {readings:,} readings" in out
    wire = {
        m[1]: (int(m[2].replace(",", "")), float(m[3]))
        for m in re.finditer(r"^\| (Sink v[01][^|:]*): [^|]+ \| ([\d,]+) \| ([\d.]+) \|", out, re.M)
    }
    offline = {
        m[1]: int(m[2].replace(",", ""))
        for m in re.finditer(r"^\| ([^|]+) \| ([\d,]+) \| [\d.]+ \| [\d.]+x \|", out, re.M)
    }
    assert set(wire) == {"Sink v0", "Sink v1 columns", "Sink v1 records", "Sink v1 context"}, out
    for total, per_reading in wire.values():
        assert per_reading == pytest.approx(total / readings, abs=0.01)
    # v0: at least every reading's PUBLISH (its event encoding plus frame header) and an ACK per reading
    events = sum(len(FAST.encode_event(e)) for p in polls for e in p.events)
    assert wire["Sink v0"][0] > events + readings * (2 + 4)
    # v1: at least the batches themselves, computed offline, plus one TCP/IP header per poll
    assert wire["Sink v1 columns"][0] > offline["v1 columns (smallest codec)"] + 3 * 40
    assert wire["Sink v1 records"][0] > offline["v1 records (smallest codec)"] + 3 * 40
    assert wire["Sink v1 context"][0] > offline["v1 context (against the previous poll)"] + 3 * 40, out
    # the polls after the first are coded against the one before: the context batches are the smallest
    assert offline["v1 context (against the previous poll)"] < offline["v1 records (smallest codec)"]
    assert offline["v1 records (smallest codec)"] < offline["v1 columns (smallest codec)"]
    # a lost base, measured against a second server instance: the refused batch, the NACK and the resend cost more
    # than the same poll against a base the server holds
    held = re.search(r"the last poll, its base held: ([\d,]+) all-in bytes", out)
    lost = re.search(
        r"its base lost: the batch, NACK unknown_base, the batch resent without base: ([\d,]+) all-in", out
    )
    assert held is not None and lost is not None, out
    held_bytes, lost_bytes = int(held[1].replace(",", "")), int(lost[1].replace(",", ""))
    framed = re.search(r"the context batch is sent \(([\d,]+) bytes framed\)", out)
    assert framed is not None, out
    assert held_bytes > int(framed[1].replace(",", "")) + 3 * 40 and lost_bytes > held_bytes + 17
    assert "capture missed packets" not in out
    bound = offline["information bound of these polls"]
    assert 0 < bound < min(size for name, size in offline.items() if name != "information bound of these polls")
    assert "- Batch bytes within 1.2 times the information bound:" in out
    assert "- All-in bytes per reading over mutual TLS under 6 for the 100-reading poll:" in out


def test_the_kafka_record_batch_is_what_the_protocol_docs_describe() -> None:
    # Read back with a parser written from the format description: header fields, CRC-32C, the zstd block of records.
    import struct

    import zstandard
    from sinktools.bench.kafka import crc32c, record_batch
    from sinktools.bench.series import load as load_series

    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    events = load_series().polls[5].events
    data = record_batch(events)
    base_offset, length, epoch, magic, crc = struct.unpack(">qiibI", data[:21])
    assert (base_offset, length + 12, magic) == (0, len(data), 2) and crc == crc32c(data[21:])
    attributes, last_delta, first_ts, max_ts, pid, pepoch, seq, count = struct.unpack(">hiqqqhii", data[21:61])
    assert (attributes, last_delta, count, pid, pepoch, seq) == (4, len(events) - 1, len(events), -1, -1, -1)
    assert (first_ts, max_ts) == (events[0].timestamp * 1000, max(e.timestamp for e in events) * 1000)
    records = zstandard.ZstdDecompressor().decompress(data[61:], max_output_size=1 << 20)

    def varint(pos: int) -> tuple[int, int]:
        shift = n = 0
        while True:
            byte = records[pos]
            n |= (byte & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
            if not byte & 0x80:
                return (n >> 1) ^ -(n & 1), pos

    pos = 0
    for index, event in enumerate(events):
        size, pos = varint(pos)
        end = pos + size
        assert records[pos] == 0
        ts_delta, pos = varint(pos + 1)
        offset_delta, pos = varint(pos)
        key_length, pos = varint(pos)
        key, pos = records[pos : pos + key_length], pos + key_length
        value_length, pos = varint(pos)
        value, pos = records[pos : pos + value_length], pos + value_length
        headers, pos = varint(pos)
        name_length, pos = varint(pos)
        name, pos = records[pos : pos + name_length], pos + name_length
        _, pos = varint(pos)  # the header value's length
        sink_offset, pos = varint(pos)
        assert (ts_delta, offset_delta, key, value) == (
            (event.timestamp - events[0].timestamp) * 1000,
            index,
            event.key,
            event.event_data,
        )
        assert (headers, name, sink_offset, pos) == (1, b"o", event.offset, end)
    assert pos == len(records)
