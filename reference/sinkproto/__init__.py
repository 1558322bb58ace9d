"""sinkproto: the reference implementation of the Sink protocol (versions 0 and 1).

Public API: the message classes of every version (:class:`FrameType` says
which version added a frame type), the codec functions (the fast codec;
``sinkproto.construct_codec`` is the reference it is proven equal to, and
``sinkproto.codec`` switches between them), the stream framing, limits,
errors and the durable event store.
"""

from __future__ import annotations

from .errors import *  # noqa: F403 - the hierarchy is part of the public API
from .errors import __all__ as _error_names
from .fast_codec import (
    decode_batch,
    decode_event,
    decode_frame,
    decode_nack_payload,
    encode_batch,
    encode_event,
    encode_frame,
    encode_nack_payload,
)
from .limits import DEFAULT_LIMITS, Limits
from .messages import (
    Ack,
    Batch,
    BatchCodec,
    BatchFormat,
    BatchLayout,
    BatchMode,
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    Close,
    CloseCode,
    ConnectionRequest,
    ConnectionResponse,
    DeclaredLimits,
    Event,
    Frame,
    FrameType,
    Nack,
    NackPayload,
    Ping,
    Pong,
    Publish,
    Response,
)
from .store import DeadLetter, EventStore
from .stream import Deframer, frame_bytes

__version__ = "0.1.0.dev0"

__all__ = [
    *_error_names,
    "Ack",
    "Batch",
    "BatchCodec",
    "BatchFormat",
    "BatchLayout",
    "BatchMode",
    "BatchPublish",
    "BatchResult",
    "BatchResultEntry",
    "Close",
    "CloseCode",
    "ConnectionRequest",
    "ConnectionResponse",
    "DEFAULT_LIMITS",
    "DeclaredLimits",
    "DeadLetter",
    "Deframer",
    "Event",
    "EventStore",
    "Frame",
    "FrameType",
    "Limits",
    "Nack",
    "NackPayload",
    "Ping",
    "Pong",
    "Publish",
    "Response",
    "decode_batch",
    "decode_event",
    "decode_frame",
    "decode_nack_payload",
    "encode_batch",
    "encode_event",
    "encode_frame",
    "encode_nack_payload",
    "frame_bytes",
    "__version__",
]
