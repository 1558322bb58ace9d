"""The benchmarks run and print their tables; their data profiles are what the seeds generate.

Benchmarks are not tests: nothing here checks a time or a byte count
against a goal, only that the commands work and the committed data is fresh.
"""

from __future__ import annotations

import pytest

from sinkproto.bench.profiles import DATA_FILE, dump, generate, load
from sinkproto.cli import main


def test_the_committed_profiles_are_what_the_seeds_generate() -> None:
    assert dump(generate()) == DATA_FILE.read_text(encoding="utf-8"), "run: python -c 'from sinkproto.bench.profiles import *; DATA_FILE.write_text(dump(generate()))'"


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
        assert registry.decode(event.event_type_id, event.schema_version, event.event_data)["meter_serial"] == event.key.decode()


def test_bench_codec_prints_its_table_and_goals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "codec", "--quick", "--no-docs"]) == 0
    out = capsys.readouterr().out
    assert "| Profile | Operation | construct µs/op | fast µs/op | msgpack µs/op | fastavro µs/op |" in out
    assert out.count("| meter | batch ") == 2 and out.count("| random | publish ") == 2
    assert "meter 100-event batch encode + decode < 450 µs" in out


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
