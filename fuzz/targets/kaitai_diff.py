"""kaitai_diff: the construct codec against the Kaitai-generated Python parsers.

Input: byte 0 picks the unit (frame, event, nack_payload, batch, stream;
modulo 5), the rest is the unit. Both sides agree when

* both accept and give the same vector-JSON value (layout flags included), or
* both reject (Kaitai errors carry no error class, so classes are not compared), or
* the codec rejects with an error class that ``NOT_REJECTED`` in
  tests/kaitai excuses for Python (decoder limits, not format rules) and the
  parser accepts.

Anything else is a finding: a value mismatch, an acceptance on one side
only, or an exception from the parser outside its known rejections (a bug in
a .ksy or its gzip routine).
"""

from __future__ import annotations

from ..kaitai import ensure_parsers, parser_modules
from ..seeds import UNIT_KINDS, units
from ..target import Check, Seed, Target


def _seeds() -> list[Seed]:
    return [(f"{unit}.{name}", bytes([i]) + data) for i, unit in enumerate(UNIT_KINDS) for name, data in units(unit)]


def _prepare() -> None:
    # In the parent, before the clock starts: node and the compiler stay out of the fuzzing time.
    ensure_parsers()


def setup() -> Check:
    from typing import Any

    from sinkproto import DecodeError, Deframer

    # The reference (construct) codec, as issue and docs say: the fast codec is
    # held to the reference by the fast_diff target, the reference to the .ksy here.
    from sinkproto.construct_codec import decode_batch, decode_event, decode_frame, decode_nack_payload
    from sinkproto.jsonform import to_json

    from ..kaitai import excused_error_classes, kaitai_support
    from ..oracles import decode_or_none
    from ..target import Finding

    support = kaitai_support()
    parsers = support.KaitaiPy(ensure_parsers())
    excused = excused_error_classes()

    def deframe(data: bytes, limits: Any) -> list[bytes]:
        deframer = Deframer(limits)
        frames = deframer.feed(data)
        deframer.close()
        return frames

    decoders = {
        "frame": decode_frame,
        "event": decode_event,
        "nack_payload": decode_nack_payload,
        "batch": decode_batch,
        "stream": deframe,
    }

    def construct_side(unit: str, data: bytes) -> Any:
        value = decode_or_none(decoders[unit], data, bounded_offset=unit != "batch")
        if isinstance(value, DecodeError):
            return value
        return {"frames_hex": [f.hex() for f in value]} if unit == "stream" else to_json(value)

    def kaitai_side(unit: str, data: bytes) -> Any:
        try:
            return parsers.value(unit, parsers.parse(unit, data.hex()))
        except parsers.rejections as exc:
            return exc
        except Exception as exc:
            raise Finding(f"Kaitai {unit} parser raised {type(exc).__name__}: {exc}") from exc

    def check(data: bytes) -> None:
        if not data:
            return
        unit, body = UNIT_KINDS[data[0] % len(UNIT_KINDS)], data[1:]
        mine = construct_side(unit, body)
        theirs = kaitai_side(unit, body)
        mine_rejects, theirs_rejects = isinstance(mine, DecodeError), isinstance(theirs, Exception)
        if mine_rejects and theirs_rejects:
            return
        if mine_rejects:
            if mine.error_class in excused:
                return
            raise Finding(
                f"{unit}: the codec says {mine.error_class} ({mine.detail}), the Kaitai parser accepts: {theirs}"
            )
        if theirs_rejects:
            raise Finding(f"{unit}: the codec accepts {mine}, the Kaitai parser rejects: {theirs!r}")
        mismatch = support.subset_mismatch(mine, theirs, False)
        if mismatch is not None:
            raise Finding(f"{unit}: values differ at {mismatch}")

    return check


TARGET = Target(
    name="kaitai_diff",
    description="differential: construct codec vs the Kaitai-generated Python parsers, all five units",
    setup=setup,
    seeds=_seeds,
    instrument=("sinkproto", *parser_modules()),
    prepare=_prepare,
)
