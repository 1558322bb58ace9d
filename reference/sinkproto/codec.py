"""The codec switch: which implementation encodes and decodes frames.

Two codecs give the same values, bytes and errors: ``fast`` (hand-written,
:mod:`sinkproto.fast_codec`, the default everywhere) and ``construct`` (the
readable reference, :mod:`sinkproto.construct_codec`). A :class:`Codec`
bundles one implementation's functions and deframer so that it can be
passed around as a value::

    from sinkproto.codec import CONSTRUCT
    Connection(Role.CLIENT, now=0.0, message_id_start=0, codec=CONSTRUCT)

The sans-I/O layers take a codec as an argument and never look at the
environment; the asyncio peers and the command line read ``SINK_CODEC``
(``fast`` or ``construct``) once, through :func:`codec_from_env`.

The module-level functions (``sinkproto.codec.decode_frame`` ...) are the
default codec's, like the top-level ``sinkproto`` ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from . import construct_codec, fast_codec
from . import stream as _stream
from .limits import DEFAULT_LIMITS, Limits
from .messages import Batch, BatchV1, Event, Frame, NackPayload
from .records import RecordSchemas

__all__ = [
    "Codec",
    "DeframerLike",
    "FAST",
    "CONSTRUCT",
    "CODECS",
    "DEFAULT",
    "ENV_VAR",
    "get_codec",
    "codec_from_env",
    "encode_frame",
    "decode_frame",
    "encode_event",
    "decode_event",
    "encode_nack_payload",
    "decode_nack_payload",
    "encode_batch",
    "decode_batch",
]

ENV_VAR = "SINK_CODEC"


class DeframerLike(Protocol):
    offset: int

    @property
    def buffered(self) -> int: ...

    def feed(self, data: bytes) -> list[bytes]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Codec:
    """One codec implementation: its eight functions, its deframer class, and its version-1 frame and batch functions.

    The ``*_v1`` functions are those of a version-1 connection (spec/v1);
    they also take ``schemas=`` for the records mode of batch v1.
    """

    name: str
    encode_frame: Callable[[Frame], bytes]
    decode_frame: Callable[[bytes, Limits], Frame]
    encode_event: Callable[[Event], bytes]
    decode_event: Callable[[bytes, Limits], Event]
    encode_nack_payload: Callable[[NackPayload], bytes]
    decode_nack_payload: Callable[[bytes, Limits], NackPayload]
    encode_batch: Callable[[Batch], bytes]
    decode_batch: Callable[[bytes, Limits], Batch]
    Deframer: Callable[[Limits], DeframerLike]
    encode_frame_v1: Callable[..., bytes]  # (Frame, schemas=None) -> bytes
    decode_frame_v1: Callable[..., Frame]  # (bytes, Limits, schemas=None) -> Frame
    encode_batch_v1: Callable[..., bytes]  # (BatchV1, schemas=None) -> bytes
    decode_batch_v1: Callable[..., BatchV1]  # (bytes, Limits, schemas=None) -> BatchV1

    def __repr__(self) -> str:
        return f"<Codec {self.name}>"


# The fast codec's version-1 fields: its one API with version=1, in the positional shape of the *_v1 fields.
def _fast_encode_frame_v1(message: Frame, schemas: RecordSchemas | None = None) -> bytes:
    return fast_codec.encode_frame(message, version=1, schemas=schemas)


def _fast_decode_frame_v1(data: bytes, limits: Limits = DEFAULT_LIMITS, schemas: RecordSchemas | None = None) -> Frame:
    return fast_codec.decode_frame(data, limits, version=1, schemas=schemas)


def _fast_encode_batch_v1(batch: BatchV1, schemas: RecordSchemas | None = None) -> bytes:
    return fast_codec.encode_batch(batch, version=1, schemas=schemas)


def _fast_decode_batch_v1(data: bytes, limits: Limits = DEFAULT_LIMITS, schemas: RecordSchemas | None = None) -> BatchV1:
    return fast_codec.decode_batch(data, limits, version=1, schemas=schemas)


FAST = Codec(
    name="fast",
    encode_frame=fast_codec.encode_frame,
    decode_frame=fast_codec.decode_frame,
    encode_event=fast_codec.encode_event,
    decode_event=fast_codec.decode_event,
    encode_nack_payload=fast_codec.encode_nack_payload,
    decode_nack_payload=fast_codec.decode_nack_payload,
    encode_batch=fast_codec.encode_batch,
    decode_batch=fast_codec.decode_batch,
    Deframer=_stream.Deframer,
    encode_frame_v1=_fast_encode_frame_v1,
    decode_frame_v1=_fast_decode_frame_v1,
    encode_batch_v1=_fast_encode_batch_v1,
    decode_batch_v1=_fast_decode_batch_v1,
)

def _construct_encode_frame_v1(frame: Frame, schemas: RecordSchemas | None = None) -> bytes:
    return construct_codec.encode_frame(frame, version=1, schemas=schemas)


def _construct_decode_frame_v1(data: bytes, limits: Limits = DEFAULT_LIMITS, schemas: RecordSchemas | None = None) -> Frame:
    return construct_codec.decode_frame(data, limits, version=1, schemas=schemas)


def _construct_encode_batch_v1(batch: BatchV1, schemas: RecordSchemas | None = None) -> bytes:
    return construct_codec.encode_batch(batch, version=1, schemas=schemas)


def _construct_decode_batch_v1(data: bytes, limits: Limits = DEFAULT_LIMITS, schemas: RecordSchemas | None = None) -> BatchV1:
    return construct_codec.decode_batch(data, limits, version=1, schemas=schemas)  # type: ignore[return-value]


CONSTRUCT = Codec(
    name="construct",
    encode_frame=construct_codec.encode_frame,
    decode_frame=construct_codec.decode_frame,
    encode_event=construct_codec.encode_event,
    decode_event=construct_codec.decode_event,
    encode_nack_payload=construct_codec.encode_nack_payload,
    decode_nack_payload=construct_codec.decode_nack_payload,
    encode_batch=construct_codec.encode_batch,
    decode_batch=construct_codec.decode_batch,  # type: ignore[arg-type]
    Deframer=_stream.Deframer,
    # The version-1 fields keep their call shape ((value, schemas) and (data, limits, schemas)) until the
    # Codec dataclass takes ``version=`` itself.
    encode_frame_v1=_construct_encode_frame_v1,
    decode_frame_v1=_construct_decode_frame_v1,
    encode_batch_v1=_construct_encode_batch_v1,
    decode_batch_v1=_construct_decode_batch_v1,
)

CODECS: Mapping[str, Codec] = {c.name: c for c in (FAST, CONSTRUCT)}
DEFAULT = FAST


def get_codec(name: str) -> Codec:
    """The codec called ``name`` (``fast`` or ``construct``)."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(CODECS)}") from None


def codec_from_env(environ: Mapping[str, str] | None = None) -> Codec:
    """The codec ``SINK_CODEC`` names, or the default; for the I/O layers only."""
    name = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    return get_codec(name) if name else DEFAULT


encode_frame = DEFAULT.encode_frame
decode_frame = DEFAULT.decode_frame
encode_event = DEFAULT.encode_event
decode_event = DEFAULT.decode_event
encode_nack_payload = DEFAULT.encode_nack_payload
decode_nack_payload = DEFAULT.decode_nack_payload
encode_batch = DEFAULT.encode_batch
decode_batch = DEFAULT.decode_batch
