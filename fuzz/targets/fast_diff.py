"""fast_diff: the fast codec against the construct reference codec, all five units.

Input: byte 0 picks the unit (frame, event, nack_payload, batch, stream;
modulo 5), byte 1 the decoder limits (modulo the entries of ``LIMITS``:
the defaults, then each bound tight enough for small inputs to hit), the
rest is the unit (for a stream: fed in slices of byte 1's size + 1). Both
codecs must return equal values (a batch's layout included), or raise the
same error class with the same requirement ID and byte offset; a value must
also re-encode to the same bytes with both encoders (compressed batch
bodies compared after inflation, BATCH-10). Anything else is a finding.
"""

from __future__ import annotations

from ..seeds import UNIT_KINDS, units
from ..target import Check, Seed, Target


def _seeds() -> list[Seed]:
    return [
        (f"{unit}.{name}.l{limits}", bytes([i, limits]) + data)
        for i, unit in enumerate(UNIT_KINDS)
        for name, data in units(unit)
        for limits in (0, 1)
    ]


def setup() -> Check:
    from typing import Any

    from sinkproto import DecodeError, Limits, SinkError, construct_codec, fast_codec
    from sinkproto import stream as reference_stream
    from sinkproto.batchrules import gunzip_body

    from ..oracles import check_error
    from ..target import Finding

    limits_table = (
        Limits(),
        Limits(max_varint_bytes=1),
        Limits(max_varint_bytes=4),
        Limits(strict_utf8=True),
        Limits(max_key_size=4, max_event_data_size=8),
        Limits(max_batch_events=3),
        Limits(max_decompressed_size=64),
        Limits(max_frame_size=16),
    )

    def deframe(deframer_class: Any, data: bytes, step: int, limits: Limits) -> list[Any]:
        deframer = deframer_class(limits)
        out: list[Any] = []
        for i in range(0, len(data), step):
            try:
                out.append((deframer.feed(data[i : i + step]), deframer.buffered, deframer.offset))
            except DecodeError as exc:
                out.append((type(exc), exc.requirement, exc.offset, deframer.buffered))
        try:
            deframer.close()
        except DecodeError as exc:
            out.append((type(exc), exc.requirement, exc.offset))
        return out

    def run(codec: Any, unit: str, data: bytes, limits: Limits) -> Any:
        try:
            return getattr(codec, f"decode_{unit}")(data, limits)
        except SinkError as exc:
            return check_error(exc, None)

    def normalized(data: bytes) -> bytes:
        if data and data[0] & 0x40:
            start = 1
            for bit in (0x20, 0x10, 0x08, 0x04, 0x02, 0x01):
                if data[0] & bit:
                    while data[start] & 0x80:
                        start += 1
                    start += 1
            return data[:start] + gunzip_body(data[start:], limit=1 << 30, offset=start)
        return data

    def check(data: bytes) -> None:
        if len(data) < 2:
            return
        unit = UNIT_KINDS[data[0] % len(UNIT_KINDS)]
        limits = limits_table[data[1] % len(limits_table)]
        body = data[2:]
        if unit == "stream":
            step = data[1] + 1
            mine, theirs = deframe(fast_codec.Deframer, body, step, limits), deframe(reference_stream.Deframer, body, step, limits)
            if mine != theirs:
                raise Finding(f"deframers differ in slices of {step}: fast {mine!r}, construct {theirs!r}")
            return
        mine, theirs = run(fast_codec, unit, body, limits), run(construct_codec, unit, body, limits)
        if isinstance(mine, DecodeError) or isinstance(theirs, DecodeError):
            left = (type(mine).__name__, mine.requirement, mine.offset) if isinstance(mine, DecodeError) else "accepted"
            right = (type(theirs).__name__, theirs.requirement, theirs.offset) if isinstance(theirs, DecodeError) else "accepted"
            if left != right:
                raise Finding(f"{unit} under {limits}: fast {left}, construct {right}")
            return
        if mine != theirs:
            raise Finding(f"{unit}: values differ:\n  fast      {mine!r}\n  construct {theirs!r}")
        encoder = "encode_frame" if unit == "frame" else f"encode_{unit}"
        again, again_reference = getattr(fast_codec, encoder)(mine), getattr(construct_codec, encoder)(theirs)
        if unit == "batch":
            again, again_reference = normalized(again), normalized(again_reference)
        if again != again_reference:
            raise Finding(f"{unit}: re-encodings differ: fast {again.hex()}, construct {again_reference.hex()}")

    return check


TARGET = Target(
    name="fast_diff",
    description="differential: fast codec vs the construct reference codec, all five units, several limits",
    setup=setup,
    seeds=_seeds,
    max_len=8192,
)
