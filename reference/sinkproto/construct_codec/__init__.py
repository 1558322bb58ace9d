"""The reference codec: declarative, readable, built on `construct`.

This is the codec the spec is checked against; a faster hand-written codec
must agree with it on every input (same value or same error class). Every
construct exception is translated here, at the boundary, into the kit's own
hierarchy, so callers only ever see :class:`~sinkproto.errors.SinkError`.
"""

from __future__ import annotations

import io
from typing import Any, TypeVar

from construct import ConstructError, StreamError

from ..batchrules import canonical_layout
from ..errors import EncodeError, LimitExceeded, SinkError, Truncated
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import Batch, Event, Frame, NackPayload
from ..primitives import cut_in_field
from .batch import batch
from .frames import FRAME_CONSTRUCTS, FRAME_TYPE_OF, event, frame, nack_payload

__all__ = [
    "encode_frame",
    "decode_frame",
    "encode_event",
    "decode_event",
    "encode_nack_payload",
    "decode_nack_payload",
    "encode_batch",
    "decode_batch",
]

T = TypeVar("T")


def _parse(construct: Any, data: bytes, limits: Limits, unit: str, schemas: Any = None) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{unit} must be bytes-like, got {type(data).__name__}")
    data = bytes(data)
    stream = io.BytesIO(data)
    try:
        # ``schemas`` (a records.RecordSchemas) is what records mode of batch v1 decodes with.
        return construct.parse_stream(stream, limits=limits, schemas=schemas)
    except SinkError:
        raise
    except StreamError as exc:
        # construct ran out of bytes inside a fixed-size field.
        raise cut_in_field(data, unit, exc.path or "header") from None
    except ConstructError as exc:  # pragma: no cover - every construct here raises the kit's errors
        raise Truncated(f"{unit} is malformed: {exc}", offset=stream.tell()) from None


def _build(construct: Any, value: Any, schemas: Any = None) -> bytes:
    try:
        return bytes(construct.build(value, schemas=schemas))
    except SinkError:
        raise
    except ConstructError as exc:
        raise EncodeError(f"cannot encode {type(value).__name__}: {exc}") from None


def encode_frame(message: Frame, version: int = 0) -> bytes:
    """Encode one frame (without the 2-byte stream length prefix); ``version`` as in :func:`decode_frame`."""
    if version == 1:
        from . import v1

        return v1.encode_frame(message)
    if version != 0:
        raise ValueError(f"no codec for protocol version {version}")
    if getattr(message, "reader_schemas", None) is not None:
        raise EncodeError("reader_schemas exist only in version 1 (CONN-8, CONN-12)")
    frame_type = FRAME_TYPE_OF.get(type(message))
    if frame_type is None:
        raise EncodeError(f"{type(message).__name__} is not a frame")
    return _build(FRAME_CONSTRUCTS[frame_type], message)


def decode_frame(data: bytes, limits: Limits = DEFAULT_LIMITS, version: int = 0) -> Frame:
    """Decode exactly one whole frame (the deframer has removed the length prefix).

    ``version`` is the negotiated protocol version of the connection; 1 decodes
    with spec/v1 (:mod:`.v1`), which adds BATCH_PUBLISH and BATCH_RESULT.
    """
    if version == 1:
        from . import v1

        return v1.decode_frame(data, limits)
    if version != 0:
        raise ValueError(f"no codec for protocol version {version}")
    _check_frame_size(data, limits)
    parsed = _parse(frame, data, limits, "frame")
    return parsed.body


def _check_frame_size(data: bytes, limits: Limits) -> None:
    if len(data) == 0:
        raise Truncated("a frame has at least one byte", offset=0, requirement="STREAM-3")
    if len(data) > limits.max_frame_size:
        raise LimitExceeded(
            f"frame of {len(data)} bytes exceeds max_frame_size={limits.max_frame_size}",
            offset=0,
            requirement="LIMIT-1",
        )


def encode_event(value: Event) -> bytes:
    """Encode a PUBLISH payload (PUB-1)."""
    return _build(event, value)


def decode_event(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Event:
    return _parse(event, data, limits, "event")


def encode_nack_payload(value: NackPayload) -> bytes:
    return _build(nack_payload, value)


def decode_nack_payload(data: bytes, limits: Limits = DEFAULT_LIMITS) -> NackPayload:
    return _parse(nack_payload, data, limits, "nack payload")


def encode_batch(value: Batch, version: int = 0) -> bytes:
    """Encode a column batch (``version`` 1: a :class:`~sinkproto.messages.BatchV1`, see :func:`.v1.encode_batch`).

    With ``value.layout`` set, exactly that layout is used (it must fit the
    events). Without it the encoder behaves like the field encoder (BATCH-7):
    canonical flags, and gzip only when the compressed body is smaller.
    """
    if version == 1:
        from . import v1

        return v1.encode_batch(value)  # type: ignore[arg-type]
    if value.layout is not None:
        return _build(batch, value)
    if not value.events:
        raise EncodeError("a batch holds at least one event (BATCH-8)")
    layout = canonical_layout(value.events)
    plain = _build(batch, Batch(events=value.events, layout=layout))
    packed = _build(batch, Batch(events=value.events, layout=canonical_layout(value.events, compressed=True)))
    # Same header size either way (only bit 6 differs), so this compares bodies.
    return packed if len(packed) < len(plain) else plain


def decode_batch(data: bytes, limits: Limits = DEFAULT_LIMITS, version: int = 0) -> Batch:
    if version == 1:
        from . import v1

        return v1.decode_batch(data, limits)  # type: ignore[return-value]
    return _parse(batch, data, limits, "batch")
