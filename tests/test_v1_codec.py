"""Protocol version 1 codec (spec/v1): the committed vectors/v1, the spec's examples, and the encoder's choices."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from sinkproto import construct_codec as codec
from sinkproto.batchrules import canonical_layout
from sinkproto.errors import EncodeError, LimitExceeded, ReservedBit, UnknownType, UnsupportedVersion
from sinkproto.limits import Limits
from sinkproto.messages import (
    Ack,
    Batch,
    BatchCodec,
    BatchFormat,
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    FrameType,
    Response,
)
from sinkproto.readers import ReaderSchemas
from sinktest import ROOT, covers
from sinktools.vectors.check import check_case, check_ids
from sinktools.vectors.generate import generate
from sinktools.vectors.locks import load_lock
from sinktools.vectors.model import Case, fingerprint, load_dir, normalized_bytes

VECTORS_V1 = ROOT / "vectors" / "v1"
SCHEMA = json.loads((ROOT / "vectors" / "schema" / "vector-file.schema.json").read_text())
FILES = load_dir(VECTORS_V1)
ALL = [(vf.kind, case) for vf in FILES for case in vf.cases]


def test_every_v1_kind_has_its_file() -> None:
    assert sorted(vf.kind for vf in FILES) == sorted(
        ["connection_request", "connection_response", "batch_publish", "batch_result", "close", "frame", "batch"]
    )
    assert all(vf.spec_version == 1 for vf in FILES)
    assert len(ALL) >= 160


@pytest.mark.parametrize("vf", FILES, ids=[vf.kind for vf in FILES])
def test_v1_file_validates_against_the_committed_schema(vf) -> None:  # type: ignore[no-untyped-def]
    assert vf.path is not None
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(vf.path.read_text()))


@pytest.mark.parametrize(("kind", "case"), ALL, ids=[f"{k}/{c.id}" for k, c in ALL])
def test_v1_vector(kind: str, case: Case) -> None:
    result = check_case(kind, case, None, 1)
    assert result.ok, result.problems


def test_v1_ids_are_unique_locked_and_disjoint_from_v0() -> None:
    assert check_ids(FILES, load_lock(VECTORS_V1)) == []
    v0_ids = {c.id for vf in load_dir(ROOT / "vectors" / "v0") for c in vf.cases}
    assert not v0_ids & {c.id for _, c in ALL}


def test_committed_v1_vectors_are_what_the_sources_generate(tmp_path: Path) -> None:
    target = tmp_path / "v1"
    target.mkdir()
    (target / "ids.lock.json").write_text((VECTORS_V1 / "ids.lock.json").read_text())
    generate(target, FILES[0].kit_version)
    fresh = {vf.kind: vf for vf in load_dir(target)}
    for vf in FILES:
        new = fresh[vf.kind]
        assert new.spec_version == 1
        assert [c.id for c in new.cases] == [c.id for c in vf.cases], vf.kind
        for old_case, new_case in zip(vf.cases, new.cases):
            # gzip and zstd bytes may differ between library builds: compare decompressed (CODEC-5)
            assert fingerprint(vf.kind, old_case) == fingerprint(vf.kind, new_case), old_case.id
            assert normalized_bytes(vf.kind, old_case) == normalized_bytes(vf.kind, new_case)
    assert (target / "ids.lock.json").read_text() == (VECTORS_V1 / "ids.lock.json").read_text()


# -- the API ----------------------------------------------------------------------------------


def ev(i: int = 0) -> Event:
    return Event(
        event_type_id=1,
        schema_version=2,
        key=b"SM5R-%06d" % i,
        offset=100 + i,
        timestamp=1_700_000_000,
        event_data=bytes(24),
    )


@covers("FRAME-9", "FRAME-7")
def test_version_0_codec_knows_no_batch_frames() -> None:
    frame = BatchPublish(message_id=1, batch=Batch(events=(ev(),)))
    with pytest.raises(EncodeError):
        codec.encode_frame(frame)  # type: ignore[arg-type]
    data = codec.encode_frame(frame, version=1)  # type: ignore[arg-type]
    with pytest.raises(UnknownType):
        codec.decode_frame(data)  # version 0: type 2 stays unknown (FRAME-3)
    decoded = codec.decode_frame(data, version=1)
    assert isinstance(decoded, BatchPublish) and decoded.batch.events == frame.batch.events


@covers("CONN-12")
def test_version_0_encoder_refuses_a_declaration() -> None:
    reads = ReaderSchemas.from_mapping({1: [1]})
    with pytest.raises(EncodeError):
        codec.encode_frame(ConnectionResponse(response=Response.CONNECTED, reader_schemas=reads))
    with pytest.raises(EncodeError):
        ConnectionRequest(app_version=b"", client_instance_id=1, reader_schemas=reads)  # version 0: no declaration


@covers("SNEG-1")
def test_reader_schemas_normalise_and_answer_membership() -> None:
    reads = ReaderSchemas.from_mapping({4: [1], 1: [2, 1, 2]})
    assert reads.entries == ((1, (1, 2)), (4, (1,)))
    assert reads.can_read(1, 2) and not reads.can_read(1, 3) and not reads.can_read(2, 1)
    assert codec.decode_reader_schemas(codec.encode_reader_schemas(reads)) == reads
    for bad in ({}, {1: []}):
        with pytest.raises(EncodeError):
            ReaderSchemas.from_mapping(bad)


@covers("BRES-1", "BRES-2")
def test_batch_result_refuses_unordered_or_empty_entries() -> None:
    with pytest.raises(EncodeError):
        BatchResult(message_id=1, entries=())
    with pytest.raises(EncodeError):
        BatchResult(
            message_id=1,
            entries=(BatchResultEntry(index=3, machine_message=b"x"), BatchResultEntry(index=3, machine_message=b"y")),
        )


@covers("CODEC-5", "BATCH-15")
def test_auto_encoder_picks_the_smallest_encoding() -> None:
    meters = tuple(ev(i) for i in range(100))
    auto = codec.encode_batch(Batch(events=meters), version=1)
    sizes = {
        "v0": len(codec.encode_batch(Batch(events=meters))),
        **{
            c.wire_name: len(codec.encode_batch(Batch(events=meters, format=BatchFormat(codec=c)), version=1))
            for c in BatchCodec
        },
    }
    assert len(auto) == min(sizes.values())
    assert codec.decode_batch(auto, version=1).events == meters
    one = (ev(),)  # tiny: compression only adds bytes, the version-0 layout wins
    assert codec.encode_batch(Batch(events=one), version=1) == codec.encode_batch(Batch(events=one))


@covers("BPUB-5")
def test_encoder_refuses_a_batch_frame_over_65535_bytes() -> None:
    big = tuple(
        Event(
            event_type_id=1,
            schema_version=1,
            key=b"k%d" % i,
            offset=i + 1,
            timestamp=i,
            event_data=bytes(range(256)) * 2,
        )
        for i in range(130)
    )
    batch = Batch(events=big, format=BatchFormat(codec=BatchCodec.NONE))
    with pytest.raises(EncodeError):
        codec.encode_frame(BatchPublish(message_id=1, batch=batch), version=1)


@covers("CODEC-3", "LIMIT-9")
def test_zstd_limits_are_configurable() -> None:
    meters = tuple(ev(i) for i in range(100))
    data = codec.encode_batch(Batch(events=meters, format=BatchFormat(codec=BatchCodec.ZSTD)), version=1)
    with pytest.raises(LimitExceeded):
        codec.decode_batch(data, limits=Limits(max_decompressed_size=100), version=1)
    assert codec.decode_batch(data, limits=Limits(max_zstd_window=1 << 20), version=1).events == meters


@covers("RECORD-3", "RECORD-4", "RECORD-5")
def test_the_records_example_of_the_spec_is_the_vector_byte_for_byte() -> None:
    import re

    text = (ROOT / "spec" / "v1" / "batch.md").read_text()
    example = text[text.index("### Example") : text.index("### Size")]
    rows = [
        line.split("|")
        for line in example.splitlines()
        if line.startswith("| ") and not line.startswith(("| Bytes", "| Column"))
    ]
    # Header rows: the Bytes cell is the first; column rows: the second.
    cells = [row[1] if len(row) == 5 else row[2] for row in rows]
    spec_bytes = "".join(re.sub(r"[`\s]", "", cell) for cell in cells)
    cases = {c.id: c for vf in load_dir(VECTORS_V1) for c in vf.cases}
    assert spec_bytes == cases["v1.batch.records.none.meters"].hex


# -- one API, the version as data ---------------------------------------------------------------------


def test_an_unknown_version_is_a_value_error_in_every_versioned_function() -> None:
    batch = Batch(events=(ev(),))
    for call in (
        lambda: codec.encode_frame(Ack(message_id=1), version=2),
        lambda: codec.decode_frame(b"\x30\x01", version=2),
        lambda: codec.encode_batch(batch, version=-1),
        lambda: codec.decode_batch(codec.encode_batch(batch), version=2),
    ):
        with pytest.raises(ValueError, match="no codec for protocol version"):
            call()


@covers("FRAME-7")
def test_the_frame_table_starts_each_type_at_its_since() -> None:
    from sinkproto.construct_codec.frames import FRAME_CONSTRUCTS, FRAME_TYPE_OF, frame_struct

    assert set(FRAME_CONSTRUCTS) == set(FrameType) == set(FRAME_TYPE_OF.values())
    assert {t: min(entries) for t, entries in FRAME_CONSTRUCTS.items()} == {t: t.since for t in FrameType}
    assert frame_struct(1) is frame_struct(1) and frame_struct(0) is not frame_struct(1)  # built once per version


@covers("FRAME-3", "FRAME-7")
def test_a_frame_type_from_a_later_version_is_refused_both_ways() -> None:
    result = BatchResult(message_id=5, entries=(BatchResultEntry(index=0, machine_message=b"m"),))
    data = codec.encode_frame(result, version=1)
    assert codec.decode_frame(data, version=1) == result
    with pytest.raises(EncodeError, match="from version 1"):
        codec.encode_frame(result)
    with pytest.raises(UnknownType) as info:
        codec.decode_frame(data)
    assert (info.value.requirement, info.value.offset) == ("FRAME-3", 0)


@covers("CONN-2", "CONN-10")
def test_the_request_header_versions_a_decoder_reads_are_those_up_to_its_own() -> None:
    v1_request = codec.encode_frame(ConnectionRequest(version=1, app_version=b"a", client_instance_id=7), version=1)
    v0_request = codec.encode_frame(ConnectionRequest(app_version=b"a", client_instance_id=7))
    assert codec.decode_frame(v0_request, version=1) == codec.decode_frame(v0_request)  # fallback (CONN-10)
    with pytest.raises(UnsupportedVersion) as info:
        codec.decode_frame(v1_request)
    assert (info.value.requirement, info.value.version) == ("CONN-2", 1) and "speaks 0 [" in str(info.value)
    with pytest.raises(UnsupportedVersion) as info:
        codec.decode_frame(bytes([0x02]) + v1_request[1:], version=1)
    assert (info.value.requirement, info.value.version) == ("CONN-10", 2) and "speaks 0 and 1" in str(info.value)
    with pytest.raises(EncodeError):
        codec.encode_frame(
            ConnectionRequest(version=1, app_version=b"a", client_instance_id=7)
        )  # header version 1 on a v0 connection


@covers("BATCH-7", "CODEC-5")
def test_a_version_0_batch_is_a_version_1_batch_and_the_choice_only_widens() -> None:
    events = tuple(ev(i) for i in range(40))
    v0 = codec.encode_batch(Batch(events=events))
    assert codec.decode_batch(v0, version=1).events == codec.decode_batch(v0).events == events
    assert len(codec.encode_batch(Batch(events=events), version=1)) <= len(v0)


@covers("BATCH-1", "BATCH-12")
@pytest.mark.parametrize("name", ["construct", "fast"])
def test_one_batch_class_whose_format_only_version_1_has(name: str) -> None:
    from sinkproto.codec import get_codec

    c = get_codec(name)
    events = tuple(ev(i) for i in range(3))
    v0 = c.encode_batch(Batch(events=events))
    # The same bytes decode to the same value at either version: a version-0 encoding has no format.
    assert c.decode_batch(v0) == c.decode_batch(v0, version=1)
    assert c.decode_batch(v0).format is None
    zstd = c.encode_batch(Batch(events=events, format=BatchFormat(codec=BatchCodec.ZSTD)), version=1)
    assert c.decode_batch(zstd, version=1).format == BatchFormat(codec=BatchCodec.ZSTD)
    with pytest.raises(ReservedBit):  # version 0 reads bit 7 as reserved
        c.decode_batch(zstd)
    # Encoding a format at version 0 is refused, with or without a layout, in both codecs alike.
    for layout in (None, canonical_layout(events)):
        with pytest.raises(EncodeError, match="version 0 has none"):
            c.encode_batch(Batch(events=events, layout=layout, format=BatchFormat()))
    with pytest.raises(EncodeError, match="format must be a BatchFormat"):
        Batch(events=events, format="zstd")  # type: ignore[arg-type]


def test_the_json_form_of_a_batch_says_its_format_from_version_1() -> None:
    from sinkproto.jsonform import from_json, to_json

    events = (ev(1),)
    plain = Batch(events=events, layout=canonical_layout(events))
    zstd = Batch(events=events, layout=canonical_layout(events), format=BatchFormat(codec=BatchCodec.ZSTD))
    assert "format" not in to_json(plain) and to_json(plain, 1)["format"] is None  # version 0 has no such key
    assert to_json(zstd)["format"] == to_json(zstd, 1)["format"] == {"codec": "zstd", "mode": "columns"}
    assert list(to_json(zstd, 1)) == ["layout", "format", "events"]  # the vectors' key order
    for value, version in ((plain, 0), (plain, 1), (zstd, 1)):
        assert from_json("batch", to_json(value, version), version) == value
    # A BATCH_PUBLISH is of version 1 whatever version the caller names: its batch has the key.
    frame = BatchPublish(message_id=5, batch=plain)
    assert to_json(frame)["batch"]["format"] is None
    assert from_json("batch_publish", to_json(frame), 1) == frame


# -- context coding in the vectors (spec/v1/context.md) ------------------------------------------------------

CONTEXT_CASES = {case.id: (kind, case) for kind, case in ALL if ".context." in case.id}


@covers("CTX-4", "CTX-5")
def test_the_checker_holds_context_cases_to_their_bases() -> None:
    """A case's bases are part of what it means: with other bases the same bytes give another verdict."""
    from dataclasses import replace

    kind, with_base = CONTEXT_CASES["v1.batch.context.none.with-base"]
    assert check_case(kind, with_base, None, 1).ok
    # Without the base it is coded against, the valid case is unknown_base, which the checker reports.
    problems = check_case(kind, replace(with_base, bases=[]), None, 1).problems
    assert problems and "decoder rejected a valid case: unknown_base" in problems[0]
    # An unknown_base case whose decoder holds the base after all decodes, and the checker says so.
    kind, unknown = CONTEXT_CASES["v1.batch.context.unknown-base.none-held"]
    assert check_case(kind, unknown, None, 1).ok
    problems = check_case(kind, replace(unknown, bases=with_base.bases), None, 1).problems
    assert problems and problems[0].startswith("expected unknown_base, decoder accepted it")
    # digest_hex is the CTX-4 digest of the base's events, checked.
    assert with_base.bases is not None
    forged = [{**entry, "digest_hex": "00" * 8} for entry in with_base.bases]
    assert any(
        "digest_hex is not the CTX-4 digest" in p
        for p in check_case(kind, replace(with_base, bases=forged), None, 1).problems
    )
    # The bases are part of the locked meaning of an id.
    assert fingerprint(kind, with_base) != fingerprint(kind, replace(with_base, bases=[]))


def test_every_context_outcome_is_vectored() -> None:
    results = {case.result for _, case in CONTEXT_CASES.values()}
    assert results == {"valid", "invalid", "unknown_base"}
    assert all(case.bases is not None for _, case in CONTEXT_CASES.values() if not case.id.endswith("not-declared"))
    codecs = {json.dumps(case.value).split('"codec": "')[1][:4] for _, case in CONTEXT_CASES.values() if case.value}
    assert codecs == {"none", "gzip", "zstd"}
