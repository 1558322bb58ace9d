"""The fast codec: hand-written, with the API, values, limits and errors of the reference.

:mod:`sinkproto.construct_codec` is the readable reference the spec is
checked against; this codec must agree with it on every input (same value,
or same error class, requirement and offset; canonical encodings byte for
byte), which tests/test_fast_codec.py and the ``fast_diff`` fuzz target
check. It is the default codec of the connection, the peers and the
top-level ``sinkproto`` functions; see :mod:`sinkproto.codec` for the switch.
"""

from __future__ import annotations

from ..limits import DEFAULT_LIMITS, Limits
from ..messages import Batch, Event, Frame, NackPayload
from .batch import decode_batch_bytes, encode_batch
from .frames import (
    as_bytes,
    check_frame_size,
    decode_frame_bytes,
    encode_event,
    encode_frame,
    encode_nack_payload,
    read_event,
    read_nack_payload,
)
from ..stream import Deframer  # the one deframer (sinkproto.stream), kept here for the codec's API

__all__ = [
    "encode_frame",
    "decode_frame",
    "encode_event",
    "decode_event",
    "encode_nack_payload",
    "decode_nack_payload",
    "encode_batch",
    "decode_batch",
    "Deframer",
]


def decode_frame(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Frame:
    """Decode exactly one whole frame (the deframer has removed the length prefix)."""
    if type(data) is not bytes:
        data = as_bytes(data, "frame")
    if not data or len(data) > limits.max_frame_size:
        check_frame_size(data, limits)  # raises; the test stays inline on the hot path
    return decode_frame_bytes(data, limits)


def decode_event(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Event:
    """Decode a PUBLISH payload (PUB-1)."""
    data = as_bytes(data, "event")
    return read_event(data, 0, len(data), limits)


def decode_nack_payload(data: bytes, limits: Limits = DEFAULT_LIMITS) -> NackPayload:
    data = as_bytes(data, "nack payload")
    machine, human = read_nack_payload(data, 0, len(data), limits)
    return NackPayload(machine_message=machine, human_message=human)


def decode_batch(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Batch:
    return decode_batch_bytes(as_bytes(data, "batch"), limits)
