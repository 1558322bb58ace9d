"""frame, frame_v1: ``decode_frame(..., version=N)`` of the default codec on arbitrary bytes (one whole frame, prefix removed).

One check, two targets: ``frame`` decodes at version 0, ``frame_v1`` at
version 1 (a frame of a version-1 connection: the version-0 frames, the
connection request of both layouts with ``request_flags`` and reader
declarations, the response with a declaration, BATCH_PUBLISH with a batch
v1 inside, BATCH_RESULT; spec/v1/frames.md). Beyond "only SinkError": a
decoded frame re-encodes to an equal frame, and each limit set just below
what the frame needs refuses it (LIMIT-1, LIMIT-4, LIMIT-5, LIMIT-8, BRES-2).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from ..seeds import units, units_v1
from ..target import Check, Seed, Target

# Per protocol version: target name, description, seed corpus, and whether
# an error offset must lie inside the input (version 0 only).
VERSIONS: dict[int, tuple[str, str, Callable[[], list[Seed]], bool]] = {
    0: ("frame", "decode_frame: every frame type, header and payload", lambda: units("frame"), True),
    1: (
        "frame_v1",
        "decode_frame at version 1: every frame type of version 1, request flags, reader declarations, batch frames",
        lambda: units_v1("frame"),
        False,
    ),
}


def setup(version: int) -> Check:
    from typing import Any

    from sinkproto import InvalidUtf8, Limits, Publish
    from sinkproto.codec import DEFAULT
    from sinkproto.messages import BatchPublish, BatchResult
    from sinkproto.readers import ReaderSchemas

    from ..oracles import (
        REQUIREMENT_IDS,
        REQUIREMENT_IDS_V1,
        STRICT_UTF8,
        TIGHT_VARINTS,
        check_roundtrip,
        check_tighter,
        decode_or_none,
    )

    known = {0: REQUIREMENT_IDS, 1: REQUIREMENT_IDS_V1}[version]
    bounded_offset = VERSIONS[version][3]
    decode_frame = partial(DEFAULT.decode_frame, version=version)
    encode_frame = partial(DEFAULT.encode_frame, version=version)

    def needs(frame: Any) -> dict[str, int]:
        """What each limit must at least be for ``frame`` to decode (0: nothing to refuse)."""
        events = ()
        if isinstance(frame, Publish):  # LIMIT-5 applies to the event inside a PUBLISH
            events = (frame.event,)
        elif isinstance(frame, BatchPublish):
            events = frame.batch.events
        out = {
            "max_key_size": max((len(e.key) for e in events), default=0),
            "max_event_data_size": max((len(e.event_data) for e in events), default=0),
        }
        if isinstance(frame, BatchPublish):
            out["max_batch_events"] = len(events)
        if isinstance(frame, BatchResult):
            out["max_batch_events"] = len(frame.entries)  # BRES-2: nack_count is bounded by it
        declared = getattr(frame, "reader_schemas", None)
        if isinstance(declared, ReaderSchemas):
            out["max_declared_types"] = len(declared.entries)
            out["max_declared_versions"] = max(len(versions) for _, versions in declared.entries)
        return out

    def check(data: bytes) -> None:
        frame = decode_or_none(decode_frame, data, bounded_offset=bounded_offset, known=known)
        if isinstance(frame, Exception):
            return
        check_roundtrip(frame, encode_frame, decode_frame)
        check_tighter(decode_frame, data, frame, TIGHT_VARINTS, must_fail=False, known=known)
        check_tighter(decode_frame, data, frame, STRICT_UTF8, must_fail=False, refusal=InvalidUtf8, known=known)
        if len(data) > 1:  # LIMIT-1: one byte under the frame's size must refuse it
            check_tighter(decode_frame, data, frame, Limits(max_frame_size=len(data) - 1), must_fail=True, known=known)
        for name, needed in needs(frame).items():
            if needed > 0:
                check_tighter(decode_frame, data, frame, Limits(**{name: needed - 1}), must_fail=True, known=known)

    return check


TARGETS = tuple(
    Target(name=name, description=description, setup=partial(setup, version), seeds=seeds)
    for version, (name, description, seeds, _) in VERSIONS.items()
)
