"""Version 1, draft 3 (spec/v1): the CLOSE frame and the declared limits in the model, both codecs and the vectors.

The connection's side (sending and receiving CLOSE, honouring declared
limits, the negotiated K) is in tests/test_connection_close.py.
"""

from __future__ import annotations

import pytest
from sinkproto.codec import CONSTRUCT, FAST
from sinkproto.errors import ERROR_CLASSES, EncodeError, ReservedBit, UnknownType, ValueOutOfRange
from sinkproto.limits import DEFAULT_LIMITS
from sinkproto.messages import (
    CONSTRAINED_PROFILE,
    DECLARED_BOUNDS,
    Close,
    CloseCode,
    ConnectionRequest,
    ConnectionResponse,
    DeclaredLimits,
    Response,
)
from sinktest import ROOT, covers
from sinktools.vectors.cases.v1 import WITHDRAWN_V1
from sinktools.vectors.check import check_ids
from sinktools.vectors.locks import load_lock, load_withdrawn
from sinktools.vectors.model import load_dir

VECTORS_V1 = ROOT / "vectors" / "v1"
CODECS = (CONSTRUCT, FAST)


@covers("CLOSE-1")
def test_close_codes_from_16_are_the_decoders_error_classes() -> None:
    # spec/v1/errors.md#close-codes: one code per error class, named as the class (the vectors' names).
    decoder_codes = {code.wire_name for code in CloseCode if code >= 16}
    assert decoder_codes == set(ERROR_CLASSES)
    assert [int(code) for code in CloseCode if code >= 16] == list(range(16, 31))
    assert CloseCode.from_wire_name("unknown_type") is CloseCode.UNKNOWN_TYPE
    assert CloseCode.from_wire_name("out_of_place_frame") is CloseCode.OUT_OF_PLACE_FRAME
    assert CloseCode.from_wire_name("something_new") is CloseCode.INTERNAL_ERROR


@covers("CLOSE-2")
@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"error_class": 0}, "CloseCode"),
        ({"error_class": CloseCode.NO_ERROR, "requirement": "HS-9"}, "bytes"),
        ({"error_class": CloseCode.NO_ERROR, "last_message_id": 4096}, "0..4095"),
        ({"error_class": CloseCode.NO_ERROR, "retry_after": 0}, "1..86400"),
        ({"error_class": CloseCode.NO_ERROR, "retry_after": 86401}, "0..86400"),
        ({"error_class": CloseCode.NO_ERROR, "human_message": "text"}, "bytes"),
    ],
)
def test_a_close_without_a_valid_encoding_is_refused_when_built(fields: dict[str, object], match: str) -> None:
    with pytest.raises(EncodeError, match=match):
        Close(**fields)  # type: ignore[arg-type]


@covers("DECL-1")
def test_declared_limits_are_bounded_when_built() -> None:
    for name, _bit, lowest, highest, default in DECLARED_BOUNDS:
        assert DeclaredLimits(**{name: lowest}).value(name) == lowest
        assert DeclaredLimits(**{name: highest}).value(name) == highest
        assert DeclaredLimits().value(name) == default  # not declared: the version-0 default
        for wrong in (lowest - 1, highest + 1):
            with pytest.raises(EncodeError):
                DeclaredLimits(**{name: wrong})
    defaults = DeclaredLimits.defaults()
    assert defaults.max_frame_size == DEFAULT_LIMITS.max_frame_size
    assert defaults.max_decompressed_size == DEFAULT_LIMITS.max_decompressed_size
    assert defaults.max_batch_events == DEFAULT_LIMITS.max_batch_events
    assert defaults.max_zstd_window == DEFAULT_LIMITS.max_zstd_window
    assert defaults.keepalive == 60 and defaults.max_in_flight == 4096


def test_only_version_1_handshakes_and_accepting_responses_carry_declared_limits() -> None:
    declared = DeclaredLimits(keepalive=30)
    with pytest.raises(EncodeError, match="version-1"):
        ConnectionRequest(app_version=b"", client_instance_id=1, declared_limits=declared)
    with pytest.raises(EncodeError, match="quarantined carries no declared_limits"):
        ConnectionResponse(
            response=Response.QUARANTINED, machine_message=b"", human_message=b"", declared_limits=declared
        )
    for codec in CODECS:  # a version-0 connection has no such field: both encoders refuse (CONN-12)
        with pytest.raises(EncodeError):
            codec.encode_frame(ConnectionResponse(response=Response.CONNECTED, declared_limits=declared))


@covers("DECL-7")
def test_the_constrained_profile_is_the_spec_example() -> None:
    raw = bytes.fromhex("01 05 312e302e30 00001234 04 1f 8020 808001 8002 10 808001")
    request = ConnectionRequest(
        version=1, app_version=b"1.0.0", client_instance_id=0x1234, declared_limits=CONSTRAINED_PROFILE
    )
    for codec in CODECS:
        assert codec.encode_frame(request, version=1) == raw
        assert codec.decode_frame(raw, version=1) == request


@covers("FRAME-7", "FRAME-9", "CLOSE-2")
def test_close_is_version_1_only_and_decided_by_byte_0_first() -> None:
    raw = CONSTRUCT.encode_frame(Close(error_class=CloseCode.KEEPALIVE_TIMEOUT, requirement=b"KEEP-5"), version=1)
    for codec in CODECS:
        with pytest.raises(UnknownType):
            codec.decode_frame(raw, version=0)
        with pytest.raises(ReservedBit) as reserved:
            codec.decode_frame(b"\x9c", version=1)  # byte 0's reserved bits before the missing error_class
        assert (reserved.value.offset, reserved.value.requirement) == (0, "CLOSE-2")
        with pytest.raises(ValueOutOfRange) as out_of_range:
            codec.decode_frame(bytes.fromhex("90 08 00 00"), version=1)
        assert (out_of_range.value.offset, out_of_range.value.requirement) == (1, "CLOSE-2")


def test_withdrawn_vector_ids_stay_locked_and_are_never_reused() -> None:
    files = load_dir(VECTORS_V1)
    withdrawn = load_withdrawn(VECTORS_V1)
    assert withdrawn == WITHDRAWN_V1
    with_withdrawn = load_lock(VECTORS_V1, with_withdrawn=True)
    assert with_withdrawn is not None and set(withdrawn) <= set(with_withdrawn)  # their fingerprints stay
    assert check_ids(files, load_lock(VECTORS_V1), withdrawn) == []
    # Reusing one is refused; so is dropping the withdrawal (the id is then simply missing).
    reused = {**withdrawn, files[0].cases[0].id: "pretend"}
    assert any("was withdrawn" in p for p in check_ids(files, load_lock(VECTORS_V1), reused))
    assert any("no longer in the vectors" in p for p in check_ids(files, with_withdrawn, withdrawn))


def test_the_version_1_fuzz_seeds_hold_close_frames_and_declared_limits() -> None:
    # fuzz/seeds.py seeds the version-1 targets from vectors/v1: every kind of frame file, close.json included.
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from fuzz.seeds import units_v1

    frames = dict(units_v1("frame"))
    assert frames["v1.close.quarantined"] == bytes.fromhex("93 01 05 48532d3138 2a 8205 00")
    assert "v1.connection_request.declared-limits.constrained" in frames
    assert "v1.connection_response.hello.declaration.declared-limits" in frames
    declarations = dict(units_v1("reader_schemas"))
    # Cut after response_flags: the declaration itself, then the declared limits that follow it.
    assert declarations["v1.connection_response.connected.flags.reader-schemas.reader_schemas"] == bytes.fromhex(
        "02 01 01 01 04 01 01"
    )
