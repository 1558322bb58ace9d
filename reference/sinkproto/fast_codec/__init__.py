"""The fast codec: hand-written, with the API, values, limits and errors of the reference.

:mod:`sinkproto.construct_codec` is the readable reference the spec is
checked against; this codec must agree with it on every input (same value,
or same error class, requirement and offset; canonical encodings byte for
byte), which tests/test_fast_codec.py, tests/test_fast_codec_v1.py and the
``fast_diff`` fuzz target check. It is the default codec of the connection,
the peers and the top-level ``sinkproto`` functions; see
:mod:`sinkproto.codec` for the switch.

One API serves every protocol version; the version is an argument
(``version=1`` on a version-1 connection), and what differs between
versions is data. :data:`DECODERS` and :data:`ENCODERS` hold every frame
type's entries (from :mod:`.handshake` and :mod:`.frames`) by the version
from which each applies; a version's decoder is the entry with the
greatest version up to it, and a type with none is unknown to that version
(FRAME-3, FRAME-7). Each version's dispatch is assembled once, at import,
into a 16-tuple indexed by the type nibble, so decoding a frame is a tuple
index. :data:`BATCH_DECODERS` and :data:`BATCH_ENCODERS` hold the batch of
each version (:mod:`.batch`, :mod:`.batch_format`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from ..errors import EncodeError, UnknownType
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import Batch, Event, Frame, FrameType, NackPayload, Publish
from ..primitives import cut_in_field
from ..stream import Deframer  # the one deframer (sinkproto.stream), kept here for the codec's API
from ..versions import SUPPORTED_VERSIONS, pick
from . import frames, handshake
from ._values import new_publish
from .batch import decode_batch_bytes
from .batch import encode_batch as _encode_batch_v0
from .batch_format import encode_batch_v1, read_batch_v1
from .frames import (
    Decoder,
    Encoder,
    as_bytes,
    check_frame_size,
    decode_publish,
    encode_event,
    encode_nack_payload,
    encode_publish,
    read_event,
    read_nack_payload,
)
from .handshake import decode_reader_schemas, encode_reader_schemas

if TYPE_CHECKING:
    from ..messages import BaseLookup
    from ..records import RecordSchemas

__all__ = [
    "VERSIONS",
    "DECODERS",
    "ENCODERS",
    "BATCH_DECODERS",
    "BATCH_ENCODERS",
    "UNKNOWN_TYPE_RULE",
    "MAX_ENCODED_FRAME",
    "decoders",
    "encoders",
    "encode_frame",
    "decode_frame",
    "encode_event",
    "decode_event",
    "encode_nack_payload",
    "decode_nack_payload",
    "encode_batch",
    "decode_batch",
    "encode_reader_schemas",
    "decode_reader_schemas",
    "Deframer",
]

T = TypeVar("T")

VERSIONS: tuple[int, ...] = SUPPORTED_VERSIONS
"""The protocol versions this codec speaks."""

# FRAME-1, FRAME-7: every frame type's entries, by the version from which each applies.
DECODERS: Mapping[FrameType, Mapping[int, Decoder]] = {**handshake.DECODERS, **frames.DECODERS}
ENCODERS: Mapping[type, Mapping[int, Encoder]] = {**handshake.ENCODERS, **frames.ENCODERS}
# BATCH-1, BATCH-12: the batch of each version, (bytes, limits, schemas, bases) -> batch and (batch, schemas) -> bytes.
BATCH_DECODERS: Mapping[int, Callable[[bytes, Limits, RecordSchemas | None, BaseLookup | None], Batch]] = {
    0: decode_batch_bytes,
    1: read_batch_v1,
}
BATCH_ENCODERS: Mapping[int, Callable[[Batch, RecordSchemas | None], bytes]] = {0: _encode_batch_v0, 1: encode_batch_v1}
# The requirement an unknown type nibble breaks, by version (None: UnknownType's own, FRAME-3).
UNKNOWN_TYPE_RULE: Mapping[int, str | None] = {0: None, 1: "FRAME-7"}
# ERR-8, BPUB-5: the largest frame an encoder may produce, from the version that bounds it.
MAX_ENCODED_FRAME: Mapping[int, int] = {1: 0xFFFF}


def _unknown_version(version: object) -> ValueError:
    return ValueError(f"protocol version {version!r} is not one this codec speaks ({', '.join(map(str, VERSIONS))})")


# Each version's dispatch, assembled once: the frame decoders by type nibble, the encoders by class.
def _decoder_tuple(version: int) -> tuple[Decoder | None, ...]:
    table: list[Decoder | None] = [None] * 16
    for frame_type, entries in DECODERS.items():
        table[frame_type] = pick(entries, version)
    return tuple(table)


_DECODER_TUPLES: dict[int, tuple[Decoder | None, ...]] = {version: _decoder_tuple(version) for version in VERSIONS}
_ENCODER_MAPS: dict[int, dict[type, Encoder]] = {
    version: {cls: encoder for cls, entries in ENCODERS.items() if (encoder := pick(entries, version)) is not None}
    for version in VERSIONS
}
# The largest frame each version's encoder may produce (None: a version before any bound).
_FRAME_BOUNDS: dict[int, int | None] = {version: pick(MAX_ENCODED_FRAME, version) for version in VERSIONS}
_ENCODER_TABLES: dict[int, tuple[dict[type, Encoder], int | None]] = {
    v: (_ENCODER_MAPS[v], _FRAME_BOUNDS[v]) for v in VERSIONS
}
# The hot paths below inline PUBLISH, which no version has changed since 0.
assert all(table[FrameType.PUBLISH] is decode_publish for table in _DECODER_TUPLES.values())
assert all(table[Publish] is encode_publish for table in _ENCODER_MAPS.values())


def decoders(version: int) -> tuple[Decoder | None, ...]:
    """Version ``version``'s frame decoders by type nibble (16 entries; None: a type it does not define)."""
    table = _DECODER_TUPLES.get(version)
    if table is None:
        raise _unknown_version(version)
    return table


def encoders(version: int) -> Mapping[type, Encoder]:
    """Version ``version``'s frame encoders by frame class."""
    table = _ENCODER_MAPS.get(version)
    if table is None:
        raise _unknown_version(version)
    return MappingProxyType(table)


def decode_frame(
    data: bytes,
    *,
    version: int = 0,
    limits: Limits = DEFAULT_LIMITS,
    schemas: RecordSchemas | None = None,
    bases: BaseLookup | None = None,
) -> Frame:
    """Decode exactly one whole frame of a version-``version`` connection (the deframer has removed the length prefix).

    ``schemas``: the writer schemas of a BATCH_PUBLISH in records mode (version 1). ``bases``: the
    bases this side holds for the peer, for a BATCH_PUBLISH in mode context; None: this side takes
    none (CTX-1). A base it lacks raises :class:`~sinkproto.errors.BaseUnavailable` (CTX-5).
    """
    try:
        table = _DECODER_TUPLES[version]
    except KeyError:
        raise _unknown_version(version) from None
    if type(data) is not bytes:
        data = as_bytes(data, "frame")
    if not data or len(data) > limits.max_frame_size:
        check_frame_size(data, limits)  # raises; the test stays inline on the hot path
    first = data[0]
    if first >> 4 == 4 and len(data) >= 2:  # PUBLISH: by far the most frequent frame
        return new_publish((first & 0x0F) << 8 | data[1], read_event(data, 2, len(data), limits))
    decoder = table[first >> 4]
    if decoder is None:
        raise UnknownType(
            f"frame type {first >> 4} is not defined in v{version}", offset=0, requirement=UNKNOWN_TYPE_RULE[version]
        )
    if 0x20 <= first < 0x90 and len(data) < 2:  # FRAME-2, FRAME-8: types 2..8 start with a 2-byte header
        raise cut_in_field(data)
    return decoder(data, limits, schemas, bases)


def encode_frame(message: Frame, *, version: int = 0, schemas: RecordSchemas | None = None) -> bytes:
    """Encode one frame of a version-``version`` connection (without the 2-byte stream length prefix).

    ``schemas``: the writer schemas that let a BATCH_PUBLISH use records mode (version 1).
    """
    if type(message) is Publish:  # by far the most frequent frame, and the same in every version
        try:
            bound = _FRAME_BOUNDS[version]
        except KeyError:
            raise _unknown_version(version) from None
        data = encode_publish(message)
        if bound is None or len(data) <= bound:
            return data
    else:
        try:
            encoders, bound = _ENCODER_TABLES[version]
        except KeyError:
            raise _unknown_version(version) from None
        try:
            encoder = encoders[type(message)]
        except KeyError:
            raise EncodeError(f"{type(message).__name__} is not a frame") from None
        data = encoder(message, schemas)
        if bound is None or len(data) <= bound:
            return data
    raise EncodeError(f"a frame of {len(data)} bytes does not fit the {bound:,}-byte limit (ERR-8, BPUB-5)")


def decode_event(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Event:
    """Decode a PUBLISH payload (PUB-1)."""
    data = as_bytes(data, "event")
    return read_event(data, 0, len(data), limits)


def decode_nack_payload(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> NackPayload:
    """Decode a NACK payload (NACK-1)."""
    data = as_bytes(data, "nack payload")
    machine, human = read_nack_payload(data, 0, len(data), limits)
    return NackPayload(machine_message=machine, human_message=human)


def decode_batch(
    data: bytes,
    *,
    version: int = 0,
    limits: Limits = DEFAULT_LIMITS,
    schemas: RecordSchemas | None = None,
    bases: BaseLookup | None = None,
) -> Batch:
    """Decode a batch of a version-``version`` connection (BATCH-1; BATCH-12 from version 1); ``format`` is None in version 0.

    ``schemas``: the writer schemas of a batch in records mode (version 1). ``bases``: the bases
    this side holds for the peer, for a batch in mode context; None: this side takes none (CTX-1).
    """
    decoder = BATCH_DECODERS.get(version)
    if decoder is None:
        raise _unknown_version(version)
    return decoder(as_bytes(data, "batch"), limits, schemas, bases)


def encode_batch(batch: Batch, *, version: int = 0, schemas: RecordSchemas | None = None) -> bytes:
    """Encode a batch of a version-``version`` connection; without a layout and format, the canonical choice.

    Version 0: the field encoder's (BATCH-7); a ``batch.format`` is an
    EncodeError (version 0 has no extended batch). Version 1: the smallest of
    its formats (CODEC-5), trying records mode too when ``schemas`` are given.
    """
    encoder = BATCH_ENCODERS.get(version)
    if encoder is None:
        raise _unknown_version(version)
    return encoder(batch, schemas)
