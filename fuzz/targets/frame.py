"""frame: ``decode_frame`` on arbitrary bytes (one whole frame, prefix removed)."""

from __future__ import annotations

from ..seeds import units
from ..target import Check, Target


def setup() -> Check:
    from sinkproto import InvalidUtf8, Limits, Publish, decode_frame, encode_frame

    from ..oracles import STRICT_UTF8, TIGHT_VARINTS, check_roundtrip, check_tighter, decode_or_none

    def check(data: bytes) -> None:
        frame = decode_or_none(decode_frame, data)
        if isinstance(frame, Exception):
            return
        check_roundtrip(frame, encode_frame, decode_frame)
        check_tighter(decode_frame, data, frame, TIGHT_VARINTS, must_fail=False)
        check_tighter(decode_frame, data, frame, STRICT_UTF8, must_fail=False, refusal=InvalidUtf8)
        if len(data) > 1:  # LIMIT-1: one byte under the frame's size must refuse it
            check_tighter(decode_frame, data, frame, Limits(max_frame_size=len(data) - 1), must_fail=True)
        if isinstance(frame, Publish):  # LIMIT-5 applies to the event inside a PUBLISH
            if frame.event.key:
                limits = Limits(max_key_size=len(frame.event.key) - 1)
                check_tighter(decode_frame, data, frame, limits, must_fail=True)
            if frame.event.event_data:
                limits = Limits(max_event_data_size=len(frame.event.event_data) - 1)
                check_tighter(decode_frame, data, frame, limits, must_fail=True)

    return check


TARGET = Target(
    name="frame",
    description="decode_frame: every frame type, header and payload",
    setup=setup,
    seeds=lambda: units("frame"),
)
