"""batch, batch_v1: ``decode_batch(..., version=N)`` on arbitrary bytes, compressed bodies included.

One check, two targets: ``batch`` decodes at version 0, ``batch_v1`` at
version 1 (version-0 and extended batches); what differs is data
(``VERSIONS`` below).

Mutated compressed bytes mostly stop at ``bad_compression``, so the
interesting body paths would be fuzzed almost only uncompressed. To reach
them compressed as well, every input is also decoded in its other forms,
the same batch with its body carried otherwise (the harness decompresses
and recompresses, bounded): at version 0 with its compression flipped
(body gzipped, or inflated; BATCH-6), at version 1, for an extended batch
(mode ``columns`` or ``records``), with its body under each other codec
(none, gzip, zstd; CODEC-1, CODEC-2). All forms must give the same events
and layout (the compressed flag aside), or the same error class: the
compression is transparent. Then, at every version: a decoded batch has a
format only from version 1 (BATCH-12), it round-trips, and each limit set
just below what it needs refuses it (LIMIT-3..5, and from version 1
``max_zstd_window``, LIMIT-9, and for records mode ``max_record_columns``,
LIMIT-10). Records batches decode with the writer schemas of the kit's
registry (RECORD-2).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ..seeds import units, units_v1
from ..target import Check, Seed, Target

COMPRESSED = 0x40  # BATCH-1 header bit 6
RESERVED = 0x80  # BATCH-1 header bit 7
# The six header values present when their flag is set (BATCH-2): bits 5..0.
# Bound on what the harness itself inflates: it must not become the bomb.
FLIP_INFLATE_LIMIT = 1 << 20


def flip_compression(data: bytes) -> bytes | None:
    """The same batch with bit 6 toggled and the body gzipped or inflated; None when not possible."""
    if not data or data[0] & RESERVED:
        return None
    from sinkproto.batchrules import body_offset  # here: the harness imports the kit once instrumented

    start = body_offset(data)
    if start is None:
        return None
    head, body = bytes([data[0] ^ COMPRESSED]) + data[1:start], data[start:]
    if not data[0] & COMPRESSED:
        packer = zlib.compressobj(-1, zlib.DEFLATED, 31)
        return head + packer.compress(body) + packer.flush()
    inflater = zlib.decompressobj(31)
    try:
        plain = inflater.decompress(body, FLIP_INFLATE_LIMIT)
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
        return None
    return head + plain


def _bombs() -> list[Seed]:
    """Bodies that inflate past max_decompressed_size (8 MiB) from under 20 kB (LIMIT-3)."""

    def gzip(body: bytes) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        return packer.compress(body) + packer.flush()

    from sinkproto.primitives import varint_bytes  # here: the harness imports this module before it instruments the kit

    size = 9 << 20
    # A well-formed one-event batch (every same_* and delta flag set, so the
    # body is count, keys, offsets, timestamps, event_data) whose event data
    # is 9 MiB of zeros: valid in every respect but the size limit.
    header = bytes([0x7F, 1, 1, 0, 0, 0]) + varint_bytes(size)
    body = b"\x01" + b"\x00" + b"\x01\x00" + b"\x01\x00"
    return [
        ("bomb.zeros", bytes([COMPRESSED]) + gzip(bytes(size))),
        ("bomb.event-data", header + gzip(body + bytes(size))),
    ]


EXTENDED = 0x80  # BATCH-12: header bit 7
# COMPRESSED (above) must be clear in an extended header (BATCH-13).
CODECS = (0, 1, 2)  # none, gzip, zstd (BATCH-14)
# Bound on what the harness itself decompresses: it must not become the bomb.
RECODE_LIMIT = 1 << 20


def plain_body(codec: int, body: bytes) -> bytes | None:
    """The body without its codec, or None when it does not decompress cleanly within the harness bound."""
    if codec == 0:
        return body
    if codec == 1:
        inflater = zlib.decompressobj(31)
        try:
            plain = inflater.decompress(body, RECODE_LIMIT)
        except zlib.error:
            return None
        return plain if inflater.eof and not inflater.unused_data and not inflater.unconsumed_tail else None
    import zstandard

    try:
        params = zstandard.get_frame_parameters(body)
        if params.window_size > RECODE_LIMIT or params.dict_id:
            return None
        inflater = zstandard.ZstdDecompressor(max_window_size=RECODE_LIMIT).decompressobj()
        plain = inflater.decompress(body[:RECODE_LIMIT])
    except zstandard.ZstdError:
        return None
    return plain if inflater.eof and not inflater.unused_data and len(plain) <= RECODE_LIMIT else None


def zstd_window(data: bytes) -> int:
    """The window size named by the zstd frame of an extended batch with codec zstd that decoded."""
    import zstandard
    from sinkproto.batchrules import body_offset

    start = body_offset(data, 2)
    assert start is not None  # it decoded
    return int(zstandard.get_frame_parameters(data[start:]).window_size)


def recoded(data: bytes) -> list[bytes]:
    """The same extended batch with its body under each other codec; [] when not an extended batch of mode 0 or 1."""
    if (
        len(data) < 2
        or data[0] & (EXTENDED | COMPRESSED) != EXTENDED
        or data[1] & 0x0F > 1
        or data[1] >> 4 not in CODECS
    ):
        return []
    from sinkproto.batchrules import body_offset  # here: the harness imports the kit once instrumented

    start = body_offset(data, 2)
    if start is None:
        return []
    plain = plain_body(data[1] >> 4, data[start:])
    if plain is None:
        return []
    from sinkproto.batchrules import gzip_body, zstd_body

    pack = {0: bytes, 1: gzip_body, 2: zstd_body}
    mode = data[1] & 0x0F
    return [
        data[:1] + bytes((codec << 4 | mode,)) + data[2:start] + pack[codec](plain)
        for codec in CODECS
        if codec != data[1] >> 4
    ]


def flipped(data: bytes) -> list[bytes]:
    """The version-0 batch with its compression flipped (:func:`flip_compression`), when possible."""
    other = flip_compression(data)
    return [] if other is None else [other]


@dataclass(frozen=True)
class Version:
    """What the batch target of one protocol version changes."""

    name: str
    description: str
    seeds: Callable[[], list[Seed]]
    other_forms: Callable[[bytes], list[bytes]]  # the same batch with its body carried otherwise
    transparent: str  # what those forms vary, as a finding names it
    formats: bool  # whether a decoded batch may have a format (BATCH-12)


VERSIONS: dict[int, Version] = {
    0: Version(
        name="batch",
        description="decode_batch: flags, columns, deltas, gzip body and its size limit",
        seeds=lambda: [*units("batch"), *_bombs()],
        other_forms=flipped,
        transparent="compression",
        formats=False,
    ),
    1: Version(
        name="batch_v1",
        description="decode_batch at version 1: version-0 and extended batches, format byte, none/gzip/zstd bodies and their limits",
        seeds=lambda: units_v1("batch"),
        other_forms=recoded,
        transparent="the codec",
        formats=True,
    ),
}


def setup(version: int) -> Check:
    from dataclasses import replace

    from sinkproto import Batch, DecodeError, Limits
    from sinkproto.codec import DEFAULT
    from sinkproto.messages import BatchCodec, BatchMode
    from sinkproto.records import RecordSchemas
    from sinkproto.schemas import default_registry

    from ..oracles import (
        REQUIREMENT_IDS,
        REQUIREMENT_IDS_V1,
        TIGHT_VARINTS,
        check_roundtrip,
        check_tighter,
        decode_or_none,
    )
    from ..target import Finding

    rules = VERSIONS[version]
    known = {0: REQUIREMENT_IDS, 1: REQUIREMENT_IDS_V1}[version]
    schemas = RecordSchemas.from_registry(default_registry())  # version 0 has no records mode and ignores them
    decode_batch = partial(DEFAULT.decode_batch, version=version, schemas=schemas)
    encode_batch = partial(DEFAULT.encode_batch, version=version, schemas=schemas)

    def decode(data: bytes) -> Batch | DecodeError:
        return decode_or_none(decode_batch, data, bounded_offset=False, known=known)

    def content(batch: Batch, data: bytes) -> object:
        """What every form of a batch shares: the events and the layout but its compressed flag, bit 6 of ``data``."""
        assert batch.layout is not None  # a decoded batch records its layout
        if batch.layout.compressed != bool(data[0] & COMPRESSED):
            raise Finding(
                f"the decoded layout has compressed={batch.layout.compressed}, header bit 6 not ({data.hex()})"
            )
        return batch.events, replace(batch.layout, compressed=False)

    def check(data: bytes) -> None:
        batch = decode(data)
        for other in rules.other_forms(data):
            again = decode(other)
            mine = batch.error_class if isinstance(batch, DecodeError) else "accepted"
            theirs = again.error_class if isinstance(again, DecodeError) else "accepted"
            if mine != theirs:
                raise Finding(f"{rules.transparent} is not transparent: {mine} as sent, {theirs} as {other.hex()}")
            if isinstance(batch, Batch) and isinstance(again, Batch) and content(batch, data) != content(again, other):
                raise Finding(f"{rules.transparent} is not transparent: {other.hex()} decodes to other events")
        if isinstance(batch, DecodeError):
            return
        if batch.format is not None and not rules.formats:
            raise Finding(f"a version-{version} batch decoded with a format: {batch.format}")
        check_roundtrip(batch, encode_batch, decode_batch)
        check_tighter(decode_batch, data, batch, TIGHT_VARINTS, must_fail=False, known=known)
        # Each limit set one below what this batch needs must refuse it (LIMIT-3..5, CODEC-3, LIMIT-9, LIMIT-10).
        events = batch.events
        fmt = batch.format
        compressed = bool(batch.layout and batch.layout.compressed) or bool(fmt and fmt.codec)
        records = fmt is not None and fmt.mode is BatchMode.RECORDS
        plan = schemas.plan(events[0].event_type_id, events[0].schema_version) if records else None
        needs = {
            "max_key_size": max(len(e.key) for e in events),
            "max_event_data_size": max(len(e.event_data) for e in events),
            "max_batch_events": len(events),
            # Any body holds at least its count byte, so 0 refuses every compressed batch.
            # Records mode: the rebuilt keys and event data count too (RECORD-6).
            "max_decompressed_size": sum(len(e.key) + len(e.event_data) for e in events)
            if records
            else 1
            if compressed
            else 0,
            "max_record_columns": len(plan.columns) if plan is not None else 0,
            # The window the zstd frame names (the content size, for a single-segment frame).
            "max_zstd_window": zstd_window(data) if fmt is not None and fmt.codec is BatchCodec.ZSTD else 0,
        }
        for name, needed in needs.items():
            if needed > 0:
                check_tighter(decode_batch, data, batch, Limits(**{name: needed - 1}), must_fail=True, known=known)

    return check


TARGETS = tuple(
    Target(
        name=rules.name,
        description=rules.description,
        setup=partial(setup, version),
        seeds=rules.seeds,
        # Room for compressed bodies (gzip bombs too) that inflate past the 8 MiB default limit.
        max_len=20000,
    )
    for version, rules in VERSIONS.items()
)
