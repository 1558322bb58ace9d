"""fast_diff: the fast codec against the construct reference codec, the five units of v0 and the three of v1.

Input: byte 0 picks the unit (frame, event, nack_payload, batch, stream,
then version 1's frame_v1, batch_v1, reader_schemas; modulo 8), byte 1 the
decoder limits (modulo the entries of ``LIMITS``: the defaults, then each
bound tight enough for small inputs to hit), the rest is the unit. Both
codecs must return equal values (a batch's layout included), or raise the
same error class with the same requirement ID and byte offset; a value must
also re-encode to the same bytes with both encoders (compressed batch
bodies compared after inflation, BATCH-10; version 1's exactly, as both
call the same compressors). Anything else is a finding.

Frames and batches of version 1 decode and encode with the writer schemas
of the kit's registry, so batches in mode ``records`` are compared too.

Both codecs share one deframer (:class:`sinkproto.stream.Deframer`): a
stream is checked by the ``deframer`` target's check against its one-pass
model (byte 1 picks the slicing there).
"""

from __future__ import annotations

from ..seeds import UNIT_KINDS, V1_UNIT_KINDS, units, units_v1
from ..target import Check, Seed, Target

# Version 1's units carry a suffix where a version-0 unit has the same name.
V1_UNITS = tuple(unit if unit == "reader_schemas" else f"{unit}_v1" for unit in V1_UNIT_KINDS)
UNITS = (*UNIT_KINDS, *V1_UNITS)


def _seeds() -> list[Seed]:
    examples = [
        *((unit, units(unit)) for unit in UNIT_KINDS),
        *((name, units_v1(unit)) for name, unit in zip(V1_UNITS, V1_UNIT_KINDS)),
    ]
    return [
        (f"{unit}.{name}.l{limits}", bytes([i, limits]) + data)
        for i, (unit, seeds) in enumerate(examples)
        for name, data in seeds
        for limits in (0, 1)
    ]


def setup() -> Check:
    from functools import partial
    from types import SimpleNamespace
    from typing import Any

    from sinkproto import DecodeError, Limits, SinkError, construct_codec, fast_codec
    from sinkproto.batchrules import body_offset, gunzip_body
    from sinkproto.codec import CONSTRUCT
    from sinkproto.records import RecordSchemas
    from sinkproto.schemas import default_registry

    from ..oracles import REQUIREMENT_IDS_V1, check_error
    from ..target import Finding
    from .deframer import setup as deframer_setup

    limits_table = (
        Limits(),
        Limits(max_varint_bytes=1),
        Limits(max_varint_bytes=4),
        Limits(strict_utf8=True),
        Limits(max_key_size=4, max_event_data_size=8),
        Limits(max_batch_events=3),
        Limits(max_decompressed_size=64),
        Limits(max_frame_size=16),
        Limits(max_declared_types=1, max_declared_versions=2),  # LIMIT-8
        Limits(max_zstd_window=1024),  # LIMIT-9
        Limits(max_requirement_size=3, max_close_text=4),  # LIMIT-12
        Limits(max_record_columns=5, max_dictionary_entries=2, max_collection_items=2),  # LIMIT-10
    )
    schemas = RecordSchemas.from_registry(default_registry())  # records mode (RECORD-2)
    # The fast codec's one API at version 1, beside the reference's version-1 module.
    fast_v1 = SimpleNamespace(
        decode_frame=partial(fast_codec.decode_frame, version=1),
        encode_frame=partial(fast_codec.encode_frame, version=1),
        decode_batch=partial(fast_codec.decode_batch, version=1),
        encode_batch=partial(fast_codec.encode_batch, version=1),
        decode_reader_schemas=fast_codec.decode_reader_schemas,
        encode_reader_schemas=fast_codec.encode_reader_schemas,
    )
    with_schemas = {"frame_v1", "batch_v1"}
    # The reference's one API at version 1.
    construct_v1 = SimpleNamespace(
        decode_frame=partial(CONSTRUCT.decode_frame, version=1),
        encode_frame=partial(CONSTRUCT.encode_frame, version=1),
        decode_batch=partial(CONSTRUCT.decode_batch, version=1),
        encode_batch=partial(CONSTRUCT.encode_batch, version=1),
        decode_reader_schemas=construct_codec.decode_reader_schemas,
        encode_reader_schemas=construct_codec.encode_reader_schemas,
    )
    # Each unit's (fast module, reference module, name in decode_<name> / encode_<name>).
    functions = {
        **{unit: (fast_codec, construct_codec, unit) for unit in UNIT_KINDS},
        "frame_v1": (fast_v1, construct_v1, "frame"),
        "batch_v1": (fast_v1, construct_v1, "batch"),
        "reader_schemas": (fast_v1, construct_v1, "reader_schemas"),
    }

    stream_check = deframer_setup()

    def run(codec: Any, unit: str, name: str, data: bytes, limits: Limits) -> Any:
        try:
            if unit in with_schemas:
                return getattr(codec, f"decode_{name}")(data, limits=limits, schemas=schemas)
            return getattr(codec, f"decode_{name}")(data, limits=limits)
        except SinkError as exc:
            return check_error(exc, None, REQUIREMENT_IDS_V1)

    def normalized(data: bytes) -> bytes:
        if data and data[0] & 0x40 and (start := body_offset(data)) is not None:
            return data[:start] + gunzip_body(data[start:], limit=1 << 30, offset=start)
        return data

    def check(data: bytes) -> None:
        if len(data) < 2:
            return
        unit = UNITS[data[0] % len(UNITS)]
        limits = limits_table[data[1] % len(limits_table)]
        body = data[2:]
        if unit == "stream":
            stream_check(bytes([limits.max_frame_size if limits.max_frame_size < 256 else 0, data[1]]) + body)
            return
        fast, reference, name = functions[unit]
        mine, theirs = run(fast, unit, name, body, limits), run(reference, unit, name, body, limits)
        if isinstance(mine, DecodeError) or isinstance(theirs, DecodeError):
            left = (type(mine).__name__, mine.requirement, mine.offset) if isinstance(mine, DecodeError) else "accepted"
            right = (
                (type(theirs).__name__, theirs.requirement, theirs.offset)
                if isinstance(theirs, DecodeError)
                else "accepted"
            )
            if left != right:
                raise Finding(f"{unit} under {limits}: fast {left}, construct {right}")
            return
        if mine != theirs:
            raise Finding(f"{unit}: values differ:\n  fast      {mine!r}\n  construct {theirs!r}")
        encoder = "encode_frame" if unit == "frame" else f"encode_{name}"
        extra = {"schemas": schemas} if unit in with_schemas else {}
        again, again_reference = getattr(fast, encoder)(mine, **extra), getattr(reference, encoder)(theirs, **extra)
        if unit == "batch":
            again, again_reference = normalized(again), normalized(again_reference)
        if again != again_reference:
            raise Finding(f"{unit}: re-encodings differ: fast {again.hex()}, construct {again_reference.hex()}")

    return check


TARGET = Target(
    name="fast_diff",
    description="differential: fast codec vs the construct reference codec, v0's five units and v1's three, several limits",
    setup=setup,
    seeds=_seeds,
    max_len=8192,
)
