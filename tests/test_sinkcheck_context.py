"""sink-check's context coding cases (spec/v1/context.md): the batches the runner builds by hand, which cases apply
to a server that declares no context_bases, and the reports' requirement rollup of a non-strict CTX-9.

The cases against the reference peers and every context mutant run in the self-test
(tests/test_sinkcheck.py::test_selftest_passes_end_to_end_and_writes_valid_reports); here, what the self-test
cannot show: the reference server declaring no context_bases (`sink serve --context-bases 0`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from sinkcheck.cases import catalogue
from sinkcheck.cases.context_server import MALFORMED
from sinkcheck.craft import against_base, batch_frame, context_batch_id, context_frame, context_parts, kit_schemas
from sinkcheck.model import Outcome
from sinkcheck.runner import run_cases
from sinkcheck.selftest import make_pki, reference_profile, reference_server
from sinkproto import Limits, construct_codec, fast_codec
from sinkproto.errors import BaseUnavailable, DecodeError
from sinkproto.messages import (
    Batch,
    BatchCodec,
    BatchContext,
    BatchFormat,
    BatchMode,
    BatchPublish,
    ContextBase,
    Event,
)
from sinkproto.primitives import varint_bytes
from sinkproto.schemas import default_registry

CODECS = [construct_codec, fast_codec]


def readings(count: int, first_offset: int = 1) -> list[Event]:
    registry = default_registry()
    events = []
    for i in range(count):
        record = {
            "meter_serial": f"SM5R-{100_000 + 17 * i:06d}",
            "interval_seconds": 900,
            "active_energy_import_wh": 1_000_000 + 997 * i,
            "active_energy_export_wh": 0,
            "voltage_dv": 2200 + i,
            "current_ma": 37 * i,
            "power_factor_permille": 900,
            "frequency_mhz": 50_000,
            "reactive_energy_varh": None if i % 3 else 10_000 + i,
            "phase": "SINGLE",
        }
        events.append(
            Event(
                event_type_id=1,
                schema_version=2,
                key=f"sink-check/test/SM5R-{i}".encode(),
                offset=first_offset + i,
                timestamp=1_700_000_000 + i,
                event_data=registry.encode(1, 2, record),
            )
        )
    return events


def decode(codec: object, frame: bytes, bases: dict[int, ContextBase] | None) -> object:
    return codec.decode_frame(frame, version=1, limits=Limits(), schemas=kit_schemas(), bases=bases)  # type: ignore[attr-defined]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.__name__.rsplit(".", 1)[-1])
def test_hand_built_context_batches_decode_to_their_events_in_both_codecs(codec: object) -> None:
    """The runner's batches are the spec's layout (CTX-2): without a base, byte for byte the reference encoder's;
    against a base (every row new, CTX-6), decoded to the same events, and to BaseUnavailable without the base."""
    first, second = readings(6), readings(4, first_offset=100)
    frame = context_frame(0x12, first, batch_id=77)
    reference = construct_codec.encode_frame(
        BatchPublish(
            message_id=0x12,
            batch=Batch(
                events=tuple(first),
                format=BatchFormat(codec=BatchCodec.NONE, mode=BatchMode.CONTEXT),
                context=BatchContext(batch_id=77),
            ),
        ),
        version=1,
        schemas=kit_schemas(),
    )
    assert frame == reference
    base = ContextBase(batch_id=77, events=tuple(first))
    named = context_frame(0x13, second, batch_id=5, base=base)
    value = decode(codec, named, {77: base})
    assert isinstance(value, BatchPublish) and value.batch.events == tuple(second)
    assert value.batch.context == BatchContext(batch_id=5, base=base)
    with pytest.raises(BaseUnavailable) as unknown:
        decode(codec, named, {})
    assert (unknown.value.reason, unknown.value.base_id) == ("unknown", 77)
    with pytest.raises(BaseUnavailable) as stale:
        decode(codec, context_frame(0x13, second, batch_id=5, base=base, digest=bytes(8)), {77: base})
    assert stale.value.reason == "stale"
    # what the verdict names a batch by when it cannot be decoded (its base is not held)
    assert (context_batch_id(named), context_batch_id(frame), context_batch_id(batch_frame(1, second))) == (5, 77, None)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.__name__.rsplit(".", 1)[-1])
@pytest.mark.parametrize(("build", "requirement", "error_class", "_what"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_each_malformed_context_batch_is_the_error_its_case_expects(
    codec: object, build: str, requirement: str, error_class: str, _what: str
) -> None:
    """What server.v1.context.malformed.* expect in the CLOSE is what both reference decoders find, before any base
    lookup can make it a NACK (CTX-5: errors before the digest come first)."""
    events = readings(4, first_offset=200)
    base = ContextBase(batch_id=9, events=tuple(readings(6)))
    columns = context_parts(0x20, events).columns
    frames = {
        "batch-id-zero": context_frame(0x20, events, batch_id=0),
        "base-id-too-large": context_frame(0x20, events, batch_id=3, base_id=1 << 32),
        "digest-cut": context_frame(0x20, events, batch_id=3, base_id=3, cut=2 * len(varint_bytes(3)) + 4),
        "base-row-out-of-range": context_frame(0x20, events, batch_id=3, base=base, base_rows=[-1, 6, -1, -1]),
        "against-base-on-keys": context_frame(
            0x20, events, batch_id=3, base=base, column_edit=(0, against_base(columns[0]))
        ),
        "against-base-without-base": context_frame(0x20, events, batch_id=3, column_edit=(1, against_base(columns[1]))),
    }
    with pytest.raises(DecodeError) as error:
        decode(codec, frames[build], {9: base})
    assert (error.value.error_class, error.value.requirement) == (error_class, requirement)


def test_every_context_case_cites_ctx_requirements_and_each_area_is_context() -> None:
    cases = [c for c in catalogue() if ".context." in c.id]
    assert len(cases) == 16
    assert all(c.area == "context" and any(r.startswith("CTX-") for r in c.requirements) for c in cases)
    cited = {r for c in cases for r in c.requirements}
    assert {"CTX-1", "CTX-2", "CTX-3", "CTX-4", "CTX-5", "CTX-6", "CTX-7", "CTX-8", "CTX-9", "CTX-10"} <= cited
    assert "CTX-11" in cited


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_a_server_that_declares_no_context_gets_only_the_undeclared_case(pki: Path, tmp_path: Path) -> None:
    """`sink serve --context-bases 0` takes no batch in mode context (CTX-1): server.v1.context.undeclared passes
    (CLOSE unknown_format citing CTX-1), every other context case is unsupported, never passed."""
    cases = [c for c in catalogue() if c.id.startswith("server.v1.context.")]
    with reference_server(pki, tmp_path, extra=("--context-bases", "0")) as (host, port):
        results = asyncio.run(run_cases(cases, host=host, port=port, profile=reference_profile(pki)))
    outcomes = {r.case.id: r.outcome for r in results}
    assert outcomes.pop("server.v1.context.undeclared") is Outcome.PASS
    assert set(outcomes.values()) == {Outcome.UNSUPPORTED}


def test_a_lost_base_is_non_strict_and_blames_ctx_9_only(pki: Path, tmp_path: Path) -> None:
    """forgets-bases keeps a client's bases for one connection: the SHOULD of CTX-9 is broken (non-strict), the
    MUST of CTX-5 that the case also checks is not blamed for it."""
    case = next(c for c in catalogue() if c.id == "server.v1.context.base-survives-reconnect")
    with reference_server(pki, tmp_path, mutant="forgets-bases") as (host, port):
        [result] = asyncio.run(run_cases([case], host=host, port=port, profile=reference_profile(pki)))
    assert result.outcome is Outcome.NON_STRICT
    assert result.requirement_outcomes() == {"CTX-9": "non_strict"}
    assert "keeps bases for one connection only" in result.observed


def test_a_profile_without_poison_makes_the_partial_case_unsupported(pki: Path, tmp_path: Path) -> None:
    case = next(c for c in catalogue() if c.id == "server.v1.context.partial-not-base")
    profile = reference_profile(pki)
    profile = dataclasses.replace(profile, features=profile.features - {"poison_nack"})
    with reference_server(pki, tmp_path) as (host, port):
        [result] = asyncio.run(run_cases([case], host=host, port=port, profile=profile))
    assert result.outcome is Outcome.UNSUPPORTED


def test_the_catalogue_order_does_not_depend_on_which_case_module_is_imported_first() -> None:
    """This module imported context_server (and so server_v1) before the catalogue: server cases still run in the
    order of sinkcheck.cases.MODULES, version 1's after version 0's, the context cases last."""
    ids = [c.id for c in catalogue() if c.mode == "server"]
    last_v0 = max(i for i, c in enumerate(ids) if not c.startswith("server.v1."))
    first_v1 = min(i for i, c in enumerate(ids) if c.startswith("server.v1."))
    first_context = min(i for i, c in enumerate(ids) if c.startswith("server.v1.context."))
    assert last_v0 < first_v1 < first_context
    assert all(c.startswith("server.v1.context.") for c in ids[first_context:])
