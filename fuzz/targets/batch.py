"""batch, batch_v1, batch_context: ``decode_batch(..., version=N)`` on arbitrary bytes, compressed bodies included.

One check, three targets: ``batch`` decodes at version 0, ``batch_v1`` at
version 1 (version-0 and extended batches), ``batch_context`` at version 1
holding bases (mode context, spec/v1/context.md); what differs is data
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

Mode context (``batch_context``): the decoder holds the bases of the
context vectors (by batch id, the first each id names). A batch that
stops at its base (``BaseUnavailable``, CTX-5) must cite CTX-5, and the
same bytes to a side that declared no context must be a decode error
(CTX-1). A batch that decodes names the very base held; to a decoder
holding no base, or a stale one (same id, other events), it is
``unknown_base``; to one that declared no context, ``unknown_format``; and
coded again without a base it decodes to the same events.
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
    """The same extended batch with its body under each other codec; [] when not an extended batch of mode 0..2."""
    if (
        len(data) < 2
        or data[0] & (EXTENDED | COMPRESSED) != EXTENDED
        or data[1] & 0x0F > 2
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


CONTEXT = 2  # BATCH-14: mode context, the low nibble of the format byte


def context_seeds() -> list[Seed]:
    """The batches in mode context of vectors/v1 (alone and inside BATCH_PUBLISH), invalid ones included."""
    return [(name, data) for name, data in units_v1("batch") if len(data) > 1 and data[1] & 0x0F == CONTEXT]


def context_bases() -> dict[int, object]:
    """The bases the ``batch_context`` decoder holds: those the context vectors list, the first of each id."""
    import json

    from sinkproto.jsonform import event_from_json
    from sinkproto.messages import ContextBase

    from ..seeds import VECTOR_DIR_V1

    held: dict[int, object] = {}
    for case in json.loads((VECTOR_DIR_V1 / "batch.json").read_text(encoding="utf-8"))["cases"]:
        if case["result"] != "valid":
            continue  # the stale bases of unknown_base cases would shadow the good ones
        for entry in case.get("bases", []):
            events = tuple(event_from_json(e) for e in entry["events"])
            held.setdefault(entry["batch_id"], ContextBase(batch_id=entry["batch_id"], events=events))
    return held


@dataclass(frozen=True)
class Version:
    """What the batch target of one protocol version (and, for context, the bases held) changes."""

    name: str
    description: str
    seeds: Callable[[], list[Seed]]
    other_forms: Callable[[bytes], list[bytes]]  # the same batch with its body carried otherwise
    transparent: str  # what those forms vary, as a finding names it
    formats: bool  # whether a decoded batch may have a format (BATCH-12)
    version: int = 0  # the protocol version the target decodes at
    bases: Callable[[], dict[int, object]] | None = None  # mode context: the bases held (None: no context, CTX-1)


VERSIONS: dict[str, Version] = {
    "batch": Version(
        name="batch",
        description="decode_batch: flags, columns, deltas, gzip body and its size limit",
        seeds=lambda: [*units("batch"), *_bombs()],
        other_forms=flipped,
        transparent="compression",
        formats=False,
    ),
    "batch_v1": Version(
        name="batch_v1",
        description="decode_batch at version 1: version-0 and extended batches, format byte, none/gzip/zstd bodies and their limits",
        seeds=lambda: units_v1("batch"),
        other_forms=recoded,
        transparent="the codec",
        formats=True,
        version=1,
    ),
    "batch_context": Version(
        name="batch_context",
        description="decode_batch at version 1 holding bases: mode context, base lookup (unknown and stale bases), "
        "base_rows, against_base columns, every codec",
        seeds=context_seeds,
        other_forms=recoded,
        transparent="the codec",
        formats=True,
        version=1,
        bases=context_bases,
    ),
}


def setup(name: str) -> Check:
    from dataclasses import replace

    from sinkproto import Batch, DecodeError, Limits
    from sinkproto.codec import DEFAULT
    from sinkproto.errors import BaseUnavailable, UnknownFormat
    from sinkproto.messages import BatchCodec, BatchContext, BatchMode, ContextBase
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

    rules = VERSIONS[name]
    version = rules.version
    known = {0: REQUIREMENT_IDS, 1: REQUIREMENT_IDS_V1}[version]
    schemas = RecordSchemas.from_registry(default_registry())  # version 0 has no records mode and ignores them
    held = rules.bases() if rules.bases is not None else None
    undeclared = partial(DEFAULT.decode_batch, version=version, schemas=schemas)
    decode_batch = partial(undeclared, bases=held) if held is not None else undeclared
    encode_batch = partial(DEFAULT.encode_batch, version=version, schemas=schemas)

    def decode(data: bytes, using: Callable[..., Batch] = decode_batch) -> Batch | DecodeError | BaseUnavailable:
        def stopping(unit: bytes, limits: Limits) -> Batch | BaseUnavailable:
            try:
                return using(unit, limits=limits)
            except BaseUnavailable as exc:  # CTX-5: not a DecodeError; only a decoder that holds bases may say it
                if held is None or exc.requirement != "CTX-5" or exc.reason not in exc.REASONS or exc.offset < 0:
                    raise Finding(f"BaseUnavailable {exc} from a decoder holding {held and sorted(held)}") from exc
                return exc

        return decode_or_none(stopping, data, bounded_offset=False, known=known)

    def outcome(result: Batch | DecodeError | BaseUnavailable) -> str:
        if isinstance(result, BaseUnavailable):
            return "unknown_base"
        return result.error_class if isinstance(result, DecodeError) else "accepted"

    def check_context(data: bytes, result: Batch | BaseUnavailable) -> None:
        """CTX-1, CTX-5: what a batch in mode context is to a decoder holding other bases, or none."""
        assert held is not None
        refused = decode(data, undeclared)  # its header read, so the format byte is what refuses it
        if not isinstance(refused, UnknownFormat) or refused.offset != 1:
            raise Finding(
                f"mode context to a side that declared no context_bases gave {outcome(refused)}, not "
                f"unknown_format at the format byte ({data.hex()})"
            )
        if isinstance(result, BaseUnavailable):
            return
        context = result.context
        if context is None or result.format is None or result.format.mode is not BatchMode.CONTEXT:
            raise Finding(f"a batch in mode context decoded without its context: {result!r}")
        base = context.base
        if base is None:
            if outcome(decode(data, partial(undeclared, bases={}))) != "accepted":
                raise Finding("a batch without a base needs a base held")
        else:
            if held.get(base.batch_id) is not base:
                raise Finding(f"the decoded batch names base {base.batch_id}, not the base held under that id")
            for label, others in (
                ("unknown", {k: v for k, v in held.items() if k != base.batch_id}),
                ("stale", {**held, base.batch_id: _stale(base)}),
            ):
                again = decode(data, partial(undeclared, bases=others))
                if not isinstance(again, BaseUnavailable) or again.reason != label:
                    raise Finding(f"with its base {label}, the batch gave {outcome(again)}, not unknown_base ({label})")
        # Coded again without a base, it is the same events (CTX-2: a base changes the coding, not the batch).
        alone = replace(result, context=BatchContext(batch_id=context.batch_id))
        back = decode(encode_batch(alone), partial(undeclared, bases={}))
        if not isinstance(back, Batch) or back.events != result.events:
            raise Finding(f"coded without its base, the batch decodes to {outcome(back)} or other events")

    def _stale(base: ContextBase) -> ContextBase:
        first = replace(base.events[0], offset=base.events[0].offset ^ 1)
        return ContextBase(batch_id=base.batch_id, events=(first, *base.events[1:]))

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
            mine, theirs = outcome(batch), outcome(again)
            if mine != theirs:
                raise Finding(f"{rules.transparent} is not transparent: {mine} as sent, {theirs} as {other.hex()}")
            if isinstance(batch, Batch) and isinstance(again, Batch) and content(batch, data) != content(again, other):
                raise Finding(f"{rules.transparent} is not transparent: {other.hex()} decodes to other events")
        if held is not None and len(data) > 1 and data[0] & EXTENDED and data[1] & 0x0F == CONTEXT:
            if not isinstance(batch, DecodeError):
                check_context(data, batch)
        if not isinstance(batch, Batch):
            return
        if batch.format is not None and not rules.formats:
            raise Finding(f"a version-{version} batch decoded with a format: {batch.format}")
        check_roundtrip(batch, encode_batch, decode_batch)
        check_tighter(decode_batch, data, batch, TIGHT_VARINTS, must_fail=False, known=known)
        # Each limit set one below what this batch needs must refuse it (LIMIT-3..5, CODEC-3, LIMIT-9, LIMIT-10).
        events = batch.events
        fmt = batch.format
        compressed = bool(batch.layout and batch.layout.compressed) or bool(fmt and fmt.codec)
        records = fmt is not None and fmt.mode in (BatchMode.RECORDS, BatchMode.CONTEXT)
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
        setup=partial(setup, name),
        seeds=rules.seeds,
        # Room for compressed bodies (gzip bombs too) that inflate past the 8 MiB default limit.
        max_len=20000,
    )
    for name, rules in VERSIONS.items()
)
