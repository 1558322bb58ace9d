"""The reference codec: declarative, readable, built on `construct`.

This is the codec the spec is checked against; a faster hand-written codec
must agree with it on every input (same value or same error class). Every
construct exception is translated at the boundary (:mod:`._boundary`) into
the kit's own hierarchy, so callers only ever see
:class:`~sinkproto.errors.SinkError`.

One API for every protocol version: ``version=`` is the negotiated version
of the connection (0 or 1, spec/v0 and spec/v1; any other is a
``ValueError``), and picks entries of the version-keyed tables
(:data:`.frames.FRAME_CONSTRUCTS`, :data:`.batch_format.BATCH`,
:data:`.handshake.REQUEST_PAYLOADS`, ...). ``schemas=`` (a
:class:`~sinkproto.records.RecordSchemas`) are the writer schemas the
records mode of batch v1 encodes and decodes with; ``bases=`` (a
:data:`~sinkproto.messages.BaseLookup`) the bases mode context decodes
against (None: this side takes no batch in mode context, CTX-1).
"""

from __future__ import annotations

from ..errors import EncodeError
from ..limits import DEFAULT_LIMITS, Limits
from ..messages import BaseLookup, Batch, Event, Frame, NackPayload
from ..readers import ReaderSchemas
from ..records import RecordSchemas
from ..versions import pick
from ._boundary import build, check_encoded_size, check_frame_size, check_version, parse
from .batch_format import BATCH, smallest
from .frames import FRAME_CONSTRUCTS, FRAME_TYPE_OF, frame_struct
from .handshake import reader_schemas, reader_schemas_unit
from .payloads import event, nack_payload

__all__ = [
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
]


def encode_frame(frame: Frame, *, version: int = 0, schemas: RecordSchemas | None = None) -> bytes:
    """Encode one frame of a version-``version`` connection (without the 2-byte stream length prefix).

    A frame type the version does not define (:attr:`~sinkproto.messages.FrameType.since`),
    or ``reader_schemas`` before version 1 (CONN-8, CONN-12), is an
    :class:`~sinkproto.errors.EncodeError`; so is, from version 1, a frame
    over 65,535 bytes (ERR-8, BPUB-5). ``schemas``: the writer schemas
    records mode may use, those the peer declared it can read (RECORD-2);
    without them no batch uses records mode.
    """
    check_version(version)
    frame_type = FRAME_TYPE_OF.get(type(frame))
    if frame_type is None:
        raise EncodeError(f"{type(frame).__name__} is not a frame")
    construct = pick(FRAME_CONSTRUCTS[frame_type], version)
    if construct is None:
        raise EncodeError(
            f"{type(frame).__name__} is a frame from version {frame_type.since}, not of version {version}"
        )
    return check_encoded_size(build(construct, frame, schemas), version)


def decode_frame(
    data: bytes,
    *,
    version: int = 0,
    limits: Limits = DEFAULT_LIMITS,
    schemas: RecordSchemas | None = None,
    bases: BaseLookup | None = None,
) -> Frame:
    """Decode exactly one whole frame of a version-``version`` connection (the deframer has removed the length prefix).

    A type nibble the version does not define is
    :class:`~sinkproto.errors.UnknownType`; ``schemas`` decode records mode,
    ``bases`` mode context (a base not among them raises
    :class:`~sinkproto.errors.BaseUnavailable`, CTX-5).
    """
    check_version(version)
    check_frame_size(data, limits)
    return parse(frame_struct(version), data, limits, "frame", schemas, bases).body


def encode_batch(batch: Batch, *, version: int = 0, schemas: RecordSchemas | None = None) -> bytes:
    """Encode a batch of a version-``version`` connection.

    With ``batch.layout`` or ``batch.format`` set, exactly that encoding is
    used (it must fit the events; with a format and no layout, the canonical
    flags). With neither, the smallest encoding the version allows
    (:func:`.batch_format.smallest`): version 0 behaves like the field
    encoder (BATCH-7: canonical flags, gzip only when the compressed body is
    smaller); version 1 also weighs gzip, zstd and, with ``schemas``,
    records mode (CODEC-5). A ``format`` at version 0 is an
    :class:`~sinkproto.errors.EncodeError`: version 0 has no extended batch.
    """
    check_version(version)
    if not batch.events:
        raise EncodeError("a batch holds at least one event (BATCH-8)")
    if batch.layout is not None or batch.format is not None or batch.context is not None:
        return build(BATCH[version], batch, schemas)
    return smallest(batch.events, version, schemas)


def decode_batch(
    data: bytes,
    *,
    version: int = 0,
    limits: Limits = DEFAULT_LIMITS,
    schemas: RecordSchemas | None = None,
    bases: BaseLookup | None = None,
) -> Batch:
    """Decode one batch of a version-``version`` connection; its ``format`` is None in version 0 (BATCH-1, BATCH-12).

    ``bases``: the bases this side holds for the peer, for a batch in mode
    context; None: this side takes none (CTX-1).
    """
    check_version(version)
    return parse(BATCH[version], data, limits, "batch", schemas, bases)


def encode_event(value: Event) -> bytes:
    """Encode a PUBLISH payload (PUB-1)."""
    return build(event, value)


def decode_event(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Event:
    return parse(event, data, limits, "event")


def encode_nack_payload(value: NackPayload) -> bytes:
    return build(nack_payload, value)


def decode_nack_payload(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> NackPayload:
    return parse(nack_payload, data, limits, "nack payload")


def encode_reader_schemas(value: ReaderSchemas) -> bytes:
    """Encode a reader declaration on its own (SNEG-1)."""
    return build(reader_schemas, value)


def decode_reader_schemas(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ReaderSchemas:
    return parse(reader_schemas_unit, data, limits, "reader_schemas").value
