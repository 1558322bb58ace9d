"""The codec switch: which implementation encodes and decodes frames.

Two codecs give the same values, bytes and errors: ``fast`` (hand-written,
:mod:`sinkproto.fast_codec`, the default everywhere) and ``construct`` (the
readable reference, :mod:`sinkproto.construct_codec`). A :class:`Codec`
bundles one implementation's functions so that it can be passed around as
a value::

    from sinkproto.codec import CONSTRUCT
    Connection(Role.CLIENT, now=0.0, message_id_start=0, codec=CONSTRUCT)

Its fields are the codec's one API: the frame and batch functions take the
connection's version (``version=``, 0 when left out) and, from version 1,
the writer schemas of records mode (``schemas=``) and, to decode, the bases
of mode context (``bases=``, None: this side takes no batch in mode
context, CTX-1); there is one deframer for both codecs,
:class:`sinkproto.stream.Deframer`.

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
from typing import Protocol, TypeVar

from . import construct_codec, fast_codec
from .limits import Limits
from .messages import BaseLookup, Batch, Event, Frame, NackPayload
from .records import RecordSchemas

T_co = TypeVar("T_co", covariant=True)

__all__ = [
    "Codec",
    "FrameEncoder",
    "FrameDecoder",
    "BatchEncoder",
    "BatchDecoder",
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


class FrameEncoder(Protocol):
    """``encode_frame(frame, *, version=0, schemas=None) -> bytes``."""

    def __call__(self, frame: Frame, /, *, version: int = 0, schemas: RecordSchemas | None = None) -> bytes: ...


class FrameDecoder(Protocol):
    """``decode_frame(data, *, version=0, limits=DEFAULT_LIMITS, schemas=None, bases=None) -> Frame``."""

    def __call__(
        self,
        data: bytes,
        /,
        *,
        version: int = 0,
        limits: Limits = ...,
        schemas: RecordSchemas | None = None,
        bases: BaseLookup | None = None,
    ) -> Frame: ...


class BatchEncoder(Protocol):
    """``encode_batch(batch, *, version=0, schemas=None) -> bytes``; a ``batch.format`` needs version 1 or later."""

    def __call__(self, batch: Batch, /, *, version: int = 0, schemas: RecordSchemas | None = None) -> bytes: ...


class BatchDecoder(Protocol):
    """``decode_batch(data, *, version=0, limits=DEFAULT_LIMITS, schemas=None, bases=None) -> Batch``; ``format`` None in version 0."""

    def __call__(
        self,
        data: bytes,
        /,
        *,
        version: int = 0,
        limits: Limits = ...,
        schemas: RecordSchemas | None = None,
        bases: BaseLookup | None = None,
    ) -> Batch: ...


class UnitDecoder(Protocol[T_co]):
    """``decode_event(data, *, limits=DEFAULT_LIMITS)``, ``decode_nack_payload`` likewise."""

    def __call__(self, data: bytes, /, *, limits: Limits = ...) -> T_co: ...


@dataclass(frozen=True)
class Codec:
    """One codec implementation: its frame and batch functions (one API for every version) and its unit functions."""

    name: str
    encode_frame: FrameEncoder
    decode_frame: FrameDecoder
    encode_event: Callable[[Event], bytes]
    decode_event: UnitDecoder[Event]
    encode_nack_payload: Callable[[NackPayload], bytes]
    decode_nack_payload: UnitDecoder[NackPayload]
    encode_batch: BatchEncoder
    decode_batch: BatchDecoder

    def __repr__(self) -> str:
        return f"<Codec {self.name}>"


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
)

CONSTRUCT = Codec(
    name="construct",
    encode_frame=construct_codec.encode_frame,
    decode_frame=construct_codec.decode_frame,
    encode_event=construct_codec.encode_event,
    decode_event=construct_codec.decode_event,
    encode_nack_payload=construct_codec.encode_nack_payload,
    decode_nack_payload=construct_codec.decode_nack_payload,
    encode_batch=construct_codec.encode_batch,
    decode_batch=construct_codec.decode_batch,
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
