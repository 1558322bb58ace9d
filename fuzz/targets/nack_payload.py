"""nack_payload: ``decode_nack_payload`` (NACK-1) on arbitrary bytes."""

from __future__ import annotations

from ..seeds import units
from ..target import Check, Target


def setup() -> Check:
    from sinkproto import InvalidUtf8, decode_nack_payload, encode_nack_payload

    from ..oracles import STRICT_UTF8, TIGHT_VARINTS, check_roundtrip, check_tighter, decode_or_none

    def check(data: bytes) -> None:
        payload = decode_or_none(decode_nack_payload, data)
        if isinstance(payload, Exception):
            return
        check_roundtrip(payload, encode_nack_payload, decode_nack_payload)
        check_tighter(decode_nack_payload, data, payload, TIGHT_VARINTS, must_fail=False)
        # human_message is UTF-8 text (NACK-2): strict mode accepts it or says invalid_utf8.
        check_tighter(decode_nack_payload, data, payload, STRICT_UTF8, must_fail=False, refusal=InvalidUtf8)

    return check


TARGET = Target(
    name="nack_payload",
    description="decode_nack_payload: machine_message chunk + human_message",
    setup=setup,
    seeds=lambda: units("nack_payload"),
)
