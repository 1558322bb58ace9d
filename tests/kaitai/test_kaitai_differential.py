"""(b) and (c): the Kaitai-generated Python and JavaScript parsers against real bytes.

* The field implementation's 133 encoded cases (vectors/field) parse to
  their inputs.
* Every valid or acceptable golden vector (vectors/v0/*.json and, with the
  version-1 parsers sink_frame_v1 / sink_batch_v1, vectors/v1/*.json) parses
  to its `value`.
* Every invalid golden vector is rejected by the parser (it raises), unless it
  is listed in NOT_REJECTED below with the reason the .ksy cannot express that
  check. The table is checked to be exact in both directions, so it cannot rot:
  a listed case that the parser does reject fails, and so does an unlisted
  case that it accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kaitai_support import (
    FRAME_KINDS,
    FRAME_KINDS_V1,
    KaitaiPy,
    KCase,
    built_records_cases,
    field_cases,
    field_vector_path,
    frame_body_hex,
    run_js,
    subset_mismatch,
    vector_cases,
    vector_files,
)
from sinktest import covers

PY = "python"
JS = "javascript"
BOTH = frozenset({PY, JS})

_LIMIT = (
    "limit: the case sets a non-default decoder limit ({}); limits are decoder configuration "
    "(LIMIT-6), not format rules, so a .ksy has nothing to check them against"
)

# Invalid vectors that a Kaitai-generated parser accepts, per language, and why.
# Keep this exact: test_not_rejected_table_is_exact fails on any stale entry.
NOT_REJECTED: dict[str, tuple[frozenset[str], str]] = {
    "frame.size.over-configured-limit": (BOTH, _LIMIT.format("max_frame_size, LIMIT-1")),
    "publish.frame-size.over-configured-limit": (BOTH, _LIMIT.format("max_frame_size, LIMIT-1")),
    "stream.over-configured-limit": (BOTH, _LIMIT.format("max_frame_size, LIMIT-1")),
    "event.varint.over-configured-length": (BOTH, _LIMIT.format("max_varint_bytes, LIMIT-2")),
    "batch.gzip.over-configured-limit": (
        BOTH,
        _LIMIT.format("max_decompressed_size, LIMIT-3")
        + "; the sink_gzip routine enforces only the default 8 MiB unless its caller sets another",
    ),
    "batch.count.over-configured-limit": (BOTH, _LIMIT.format("max_batch_events, LIMIT-4")),
    "batch.key.over-configured-limit": (BOTH, _LIMIT.format("max_key_size, LIMIT-5")),
    "event.key.over-configured-limit": (BOTH, _LIMIT.format("max_key_size, LIMIT-5")),
    "publish.key.over-configured-limit": (BOTH, _LIMIT.format("max_key_size, LIMIT-5")),
    "publish.event-data.over-configured-limit": (BOTH, _LIMIT.format("max_event_data_size, LIMIT-5")),
    # ---- version 1 (vectors/v1) ----
    "v1.batch_result.count-over-configured-limit": (BOTH, _LIMIT.format("max_batch_events, LIMIT-4")),
    "v1.connection_request.declaration.type-count-over-configured-limit": (
        BOTH,
        _LIMIT.format("max_declared_types, LIMIT-8"),
    ),
    "v1.connection_request.declaration.version-count-over-configured-limit": (
        BOTH,
        _LIMIT.format("max_declared_versions, LIMIT-8"),
    ),
    "v1.close.requirement-over-configured-limit": (BOTH, _LIMIT.format("max_requirement_size, LIMIT-12")),
    "batch.delta.above-2-64": (
        frozenset({JS}),
        "zigzag range (BATCH-9) in JavaScript: Kaitai's JS target computes integers as doubles, and "
        "2^64-1 + 1 rounds to the same double as the bound 2^64-1, so the .ksy's range check cannot "
        "see the overflow there (the Python parser, with exact integers, rejects it)",
    ),
}

# Records mode (RECORD-1..9): sink_batch_v1.ksy describes the records body
# generically (count, then column chunks of a transform byte and a payload),
# so it checks RECORD-1's flags, count, chunk framing, the transform byte, the
# transforms of the keys, offsets and timestamps columns, and the width and
# digits bounds of RECORD-8. Everything else needs what a .ksy cannot have:
# the Avro writer schema, or the payloads' values decoded.
_SCHEMA = (
    "records: needs the Avro writer schema of (event_type_id, schema_version), which a .ksy cannot know "
    "({}); the description reads schema columns generically, whatever their number and types"
)
_PAYLOAD = (
    "records: needs the column's values decoded ({}); the description reads each payload only up to its "
    "values, since how many values it holds depends on the writer schema (rows reaching the column)"
)
_RECORDS_NOT_REJECTED = {
    "unknown-schema": _SCHEMA.format("RECORD-2: a schema the decoder does not know"),
    "missing-column": _SCHEMA.format("RECORD-3, RECORD-4: the number of columns; the body just ends one column early"),
    "delta-on-bytes": _SCHEMA.format("RECORD-5: meter_serial is a bytes column, delta an int transform"),
    "prefix-on-int": _SCHEMA.format("RECORD-5: the column is an int column, prefix a bytes transform"),
    "int-out-of-range": _SCHEMA.format("RECORD-5: the range of an Avro int") + "; and the payload decoded",
    "enum-out-of-range": _SCHEMA.format("RECORD-5: the enum's symbol count") + "; and the payload decoded",
    "branch-out-of-range": _SCHEMA.format("RECORD-5: the union's branch count") + "; and the payload decoded",
    "too-few-values": _PAYLOAD.format("RECORD-5: its number of values"),
    "too-many-values": _PAYLOAD.format("RECORD-5: its number of values"),
    "negative-offset": _PAYLOAD.format("RECORD-5: the offsets range 0..2^64-1 of a constant's zigzag value"),
    "dictionary-index": _PAYLOAD.format("RECORD-7: an index against entry_count"),
    "prefix-too-long": _PAYLOAD.format("RECORD-7: a prefix length against the previous value"),
    "padding-bits": _PAYLOAD.format("RECORD-8: the padding bits after n x width"),
    "number-out-of-range": _PAYLOAD.format("RECORD-5, RECORD-8: a number against 10^digits"),
    "delta-bitpacked-cut": _PAYLOAD.format("RECORD-5: n - 1 differences packed, with n from the schema"),
    "dictionary-over-configured-limit": _LIMIT.format("max_dictionary_entries, RECORD-6, LIMIT-10"),
    "columns-over-configured-limit": _LIMIT.format("max_record_columns, RECORD-6, LIMIT-10"),
    "event-data-over-configured-limit": _LIMIT.format("max_event_data_size of a rebuilt event_data, RECORD-6, LIMIT-5"),
    "key-over-configured-limit": _LIMIT.format("max_key_size, RECORD-6, LIMIT-5"),
    "expansion-over-configured-limit": _LIMIT.format(
        "max_decompressed_size of the keys and event_data rebuilt, RECORD-6, LIMIT-3"
    ),
    "items-over-configured-limit": _LIMIT.format("max_collection_items, RECORD-6, LIMIT-10"),
    "varint-at-configured-limit": _PAYLOAD.format("RECORD-5: a plain int payload's third varint")
    + "; and "
    + _LIMIT.format("max_varint_bytes, LIMIT-2"),
    "varint-at-default-limit": _PAYLOAD.format(
        "RECORD-5: a plain int payload's third varint, overlong at its 10th byte"
    ),
    "key-on-branch-column": _SCHEMA.format("RECORD-10: the column is a union branch, which not every event reaches"),
    "constant-no-rows-no-value": _PAYLOAD.format("RECORD-5, RECORD-11: a constant's one value, read here as bytes"),
    "out-of-range-before-cut": _SCHEMA.format("RECORD-12, RECORD-5: an Avro int's range and the column's 3 values"),
    "dictionary-index-before-overlong-index": _PAYLOAD.format("RECORD-12: a dictionary's third index, overlong"),
    "out-of-range-before-dictionary-index": _PAYLOAD.format("RECORD-12, RECORD-7: an index against entry_count"),
    "prefix-expansion-before-cut": _PAYLOAD.format("RECORD-12, RECORD-5: a prefix payload's third value, cut"),
    "patched-exception-count-over-n": _PAYLOAD.format("RECORD-8: exception_count against n"),
    "patched-index-not-ascending": _PAYLOAD.format("RECORD-8: the exceptions, read after the packed bytes"),
    "patched-index-not-below-n": _PAYLOAD.format("RECORD-8: an exception index against n"),
    "patched-cut": _PAYLOAD.format("RECORD-5: the exceptions, read after ceil(n x width / 8) packed bytes"),
    "patched-exception-out-of-range": _SCHEMA.format("RECORD-5: the range of an Avro int")
    + "; and the payload decoded",
    "patched-index-before-out-of-range": _PAYLOAD.format("RECORD-12, RECORD-8: the exception indexes"),
    "delta-patched-cut": _PAYLOAD.format("RECORD-5: n - 1 differences packed, with n from the schema"),
    "delta-patched-exception-count-over-n": _PAYLOAD.format("RECORD-8: exception_count against n - 1"),
}
# Mode context (CTX-2..7): sink_batch_v1.ksy checks the ids' ranges, the digest's presence, the chunk framing,
# and where against_base may not be (keys, base_rows, a batch without a base); what needs the bases the
# receiver holds, the writer schema or the values decoded, it cannot.
_CONTEXT = "context: needs what a .ksy cannot have ({}); the description reads the columns of mode context generically"
_CONTEXT_NOT_REJECTED = {
    "not-declared": _CONTEXT.format("CTX-1: whether the decoder declared context_bases, which is its configuration"),
    "unknown-schema": _SCHEMA.format("RECORD-2, CTX-2: a schema the decoder does not know"),
    "base-rows-above": _CONTEXT.format("CTX-6: the base's number of events, and the payload decoded"),
    "base-rows-below": _CONTEXT.format("CTX-6: the payload decoded, -2 is a bit-packed value below -1"),
    "base-rows-too-few": _PAYLOAD.format("CTX-6, RECORD-5: base_rows' number of values"),
    "keys-too-many": _PAYLOAD.format("CTX-6: how many base_rows values are -1"),
    "against-base-on-branch-column": _SCHEMA.format("CTX-7: whether every event reaches the column"),
    "against-base-on-bytes-column": _SCHEMA.format("CTX-7: the column's type"),
    "offset-overflow": _CONTEXT.format("CTX-7: the base row's offset, which the reference adds"),
    "timestamp-below-zero": _CONTEXT.format("CTX-7: the base row's timestamp, which the reference adds"),
    "int-overflow": _CONTEXT.format("CTX-7, RECORD-5: the base's value and the Avro int's range"),
    "base-key-over-configured-limit": _LIMIT.format("max_key_size of the keys taken from the base, CTX-6, LIMIT-5"),
}
# The same cases stand alone (vectors/v1/batch.json) and inside a BATCH_PUBLISH.
NOT_REJECTED.update(
    (f"v1.{kind}.{mode}.{name}", (BOTH, reason))
    for kind in ("batch", "batch_publish")
    for mode, table in (("records", _RECORDS_NOT_REJECTED), ("context", _CONTEXT_NOT_REJECTED))
    for name, reason in table.items()
)

FIELD_CASES = field_cases()
VECTOR_CASES = vector_cases()
VECTOR_CASES_V1 = vector_cases(1)
# Version-1 vector ids start with "v1.", so both versions share the id space.
VALID_VECTORS = [c for c in VECTOR_CASES + VECTOR_CASES_V1 if c.result in ("valid", "acceptable")]
INVALID_VECTORS = [c for c in VECTOR_CASES + VECTOR_CASES_V1 if c.result == "invalid"]
BUILT_RECORDS = built_records_cases()


def test_inputs_are_present() -> None:
    # Missing inputs fail here rather than silently shrinking the parametrized tests.
    assert field_vector_path() is not None, "vectors/field/v0-elixir-encoded.json missing"
    assert vector_files(), "vectors/v0/*.json missing"
    assert len(FIELD_CASES) == 133 and len(VECTOR_CASES) >= 486
    assert vector_files(1), "vectors/v1/*.json missing"
    assert len(VECTOR_CASES_V1) >= 165 and all(c.id.startswith("v1.") for c in VECTOR_CASES_V1)
    assert len(BUILT_RECORDS) == 3


def test_built_records_use_the_described_payloads(kaitai_py: KaitaiPy) -> None:
    # Guard on BUILT_RECORDS' purpose: they exercise the payload types of
    # bitpacked, patched, delta_patched and numbered (sink_batch_v1.ksy);
    # delta_bitpacked's valid input is v1.batch.records.none.delta-bitpacked-one-value.
    body = kaitai_py.parse("batch", BUILT_RECORDS[0].hex, 1).body
    columns = [body.keys, body.offsets, body.timestamps, *body.schema_columns]
    used = {c.column.transform.name for c in columns}
    assert {"bitpacked", "patched", "delta_patched", "numbered"} <= used, used


def _ids(cases: list[KCase]) -> list[str]:
    return [c.id for c in cases]


def _check_value(case: KCase, value: Any, body_hex: str | None) -> None:
    mismatch = subset_mismatch(case.value, value, case.value_subset)
    assert mismatch is None, f"{case.id}: {mismatch}"
    if case.body_hex is not None:
        assert body_hex == case.body_hex, f"{case.id}: payload bytes differ"


# ---- Python --------------------------------------------------------------------------


def _py_decode(kaitai_py: KaitaiPy, case: KCase) -> tuple[Any, str | None]:
    obj = kaitai_py.parse(case.kind, case.hex, case.version)
    frame_kinds = FRAME_KINDS_V1 if case.version == 1 else FRAME_KINDS
    body_hex = frame_body_hex(obj) if case.kind in frame_kinds else None
    return kaitai_py.value(case.kind, obj, case.version), body_hex


@covers("CONV-1", "CONV-6", "FRAME-1", "FRAME-2", "CONN-1", "CONN-4", "PUB-1", "NACK-1", "BATCH-3", "BATCH-4")
@pytest.mark.parametrize("case", FIELD_CASES, ids=_ids(FIELD_CASES))
def test_field_case_python(kaitai_py: KaitaiPy, case: KCase) -> None:
    value, body_hex = _py_decode(kaitai_py, case)
    _check_value(case, value, body_hex)


@pytest.mark.parametrize("case", BUILT_RECORDS, ids=_ids(BUILT_RECORDS))
def test_built_records_python(kaitai_py: KaitaiPy, case: KCase) -> None:
    value, _ = _py_decode(kaitai_py, case)
    _check_value(case, value, None)


@pytest.mark.parametrize("case", VALID_VECTORS, ids=_ids(VALID_VECTORS))
def test_valid_vector_python(kaitai_py: KaitaiPy, case: KCase) -> None:
    try:
        value, body_hex = _py_decode(kaitai_py, case)
    except kaitai_py.rejections as exc:
        pytest.fail(f"{case.id} ({case.result}) rejected by the Kaitai parser: {exc!r}")
    _check_value(case, value, body_hex)


def _py_rejects(kaitai_py: KaitaiPy, case: KCase) -> bool:
    try:
        kaitai_py.parse(case.kind, case.hex, case.version)
    except kaitai_py.rejections:
        return True
    return False


@pytest.mark.parametrize("case", INVALID_VECTORS, ids=_ids(INVALID_VECTORS))
def test_invalid_vector_python(kaitai_py: KaitaiPy, case: KCase) -> None:
    _check_rejection(case, PY, _py_rejects(kaitai_py, case), None)


def _check_rejection(case: KCase, language: str, rejected: bool, detail: str | None) -> None:
    listed = case.id in NOT_REJECTED and language in NOT_REJECTED[case.id][0]
    if listed:
        assert not rejected, (
            f"{case.id} is listed in NOT_REJECTED for {language} but the parser rejects it "
            f"({detail}); remove it from the table"
        )
    else:
        assert rejected, (
            f"{case.id} ({case.error_class}) is accepted by the {language} Kaitai parser; make the .ksy "
            "reject it or list it in NOT_REJECTED with the reason Kaitai cannot"
        )


def test_not_rejected_table_is_exact() -> None:
    # Every entry names an existing invalid vector (a renamed or dropped vector
    # must not leave a stale excuse behind).
    invalid_ids = {c.id for c in INVALID_VECTORS}
    stale = sorted(set(NOT_REJECTED) - invalid_ids)
    assert not stale, f"NOT_REJECTED lists cases that are not invalid vectors: {stale}"
    for case_id, (languages, reason) in NOT_REJECTED.items():
        assert languages and languages <= BOTH, case_id
        assert reason.strip(), case_id


# ---- JavaScript ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def js_results(kaitai_outputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    cases = FIELD_CASES + VECTOR_CASES + VECTOR_CASES_V1 + BUILT_RECORDS
    if not cases:
        return {}
    return run_js(cases, tmp_path_factory.mktemp("kaitai-js"))


def _js_result(js_results: dict[str, dict[str, Any]], case: KCase) -> dict[str, Any]:
    assert case.id in js_results, f"{case.id}: no result from kaitai_check.mjs"
    return js_results[case.id]


def _check_js_value(case: KCase, r: dict[str, Any]) -> None:
    assert r["parsed"], f"{case.id} ({case.result}) rejected by the JS parser: {r['error']}"
    # The script compared with the lossless-parsed expectation itself ...
    assert r["match"] is True, f"{case.id}: JS-side comparison failed: {r['mismatch']}"
    # ... and we compare again here (json.loads keeps integers exact).
    _check_value(case, r["value"], r["body_hex"])


@covers("CONV-1", "CONV-6", "FRAME-1", "FRAME-2", "CONN-1", "CONN-4", "PUB-1", "NACK-1", "BATCH-3", "BATCH-4")
@pytest.mark.parametrize("case", FIELD_CASES, ids=_ids(FIELD_CASES))
def test_field_case_javascript(js_results: dict[str, dict[str, Any]], case: KCase) -> None:
    _check_js_value(case, _js_result(js_results, case))


@pytest.mark.parametrize("case", BUILT_RECORDS, ids=_ids(BUILT_RECORDS))
def test_built_records_javascript(js_results: dict[str, dict[str, Any]], case: KCase) -> None:
    _check_js_value(case, _js_result(js_results, case))


@pytest.mark.parametrize("case", VALID_VECTORS, ids=_ids(VALID_VECTORS))
def test_valid_vector_javascript(js_results: dict[str, dict[str, Any]], case: KCase) -> None:
    _check_js_value(case, _js_result(js_results, case))


@pytest.mark.parametrize("case", INVALID_VECTORS, ids=_ids(INVALID_VECTORS))
def test_invalid_vector_javascript(js_results: dict[str, dict[str, Any]], case: KCase) -> None:
    r = _js_result(js_results, case)
    _check_rejection(case, JS, not r["parsed"], r["error"])


def test_js_big_integers_are_exact(js_results: dict[str, dict[str, Any]]) -> None:
    # Guard on the lossless path: at least one vector holds 2^64-1 and it came
    # back from node unrounded (a double would print 18446744073709551616).
    big = 2**64 - 1
    found = [r["id"] for r in js_results.values() if r["parsed"] and big in _ints(r["value"])]
    assert found, "no vector with 2^64-1 decoded exactly by the JS path"


def _ints(value: Any) -> set[int]:
    if isinstance(value, dict):
        return set().union(*(_ints(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_ints(v) for v in value)) if value else set()
    return {value} if isinstance(value, int) and not isinstance(value, bool) else set()
