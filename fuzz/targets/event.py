"""event: ``decode_event`` (the PUBLISH payload, PUB-1) on arbitrary bytes."""

from __future__ import annotations

from ..seeds import units
from ..target import Check, Target


def setup() -> Check:
    from sinkproto import Limits, decode_event, encode_event

    from ..oracles import TIGHT_VARINTS, check_roundtrip, check_tighter, decode_or_none

    def check(data: bytes) -> None:
        event = decode_or_none(decode_event, data)
        if isinstance(event, Exception):
            return
        check_roundtrip(event, encode_event, decode_event)
        check_tighter(decode_event, data, event, TIGHT_VARINTS, must_fail=False)
        if event.key:  # LIMIT-5
            check_tighter(decode_event, data, event, Limits(max_key_size=len(event.key) - 1), must_fail=True)
        if event.event_data:
            limits = Limits(max_event_data_size=len(event.event_data) - 1)
            check_tighter(decode_event, data, event, limits, must_fail=True)

    return check


TARGET = Target(
    name="event",
    description="decode_event: the PUBLISH payload",
    setup=setup,
    seeds=lambda: units("event"),
)
