"""Varints and chunks for the hand-written codec (CONV-1..CONV-7, LIMIT-2, LIMIT-5).

Each reader has a fast path for what real traffic is made of (1- and 2-byte
varints, lengths within their limits) and an exact path, written to raise
exactly what the construct reference codec raises (same class, requirement
and offset, ERR-2), which the fast path falls back to on anything unusual.
Offsets are positions in ``data``, the buffer of the unit being decoded.
"""

from __future__ import annotations

import re

from .errors import EncodeError, InconsistentBatch, LimitExceeded, OverlongVarint, Truncated, VarintOverflow
from .limits import MAX_U64, MAX_VARINT_BYTES, Limits

__all__ = [
    "MAX_WIDE",
    "VARINT",
    "TABLE_SIZE",
    "varint_bytes",
    "varint_column",
    "read_varint",
    "read_chunk_length",
    "read_column",
]

# A 10-byte varint holds 70 bits; delta columns (BATCH-4) use more than 64.
MAX_WIDE = (1 << (7 * MAX_VARINT_BYTES)) - 1

# Precomputed encodings of every 1- and 2-byte varint value: most ids,
# versions, lengths and deltas are below 2^14, and a tuple index is far
# cheaper than the shift loop.
TABLE_SIZE = 1 << 14
VARINT: tuple[bytes, ...] = tuple(
    bytes((v,)) if v < 0x80 else bytes((v & 0x7F | 0x80, v >> 7)) for v in range(TABLE_SIZE)
)

# The same 14 bits with the continuation bit set on both bytes: a longer
# varint is CONTINUED[v & 0x3FFF] + the encoding of v >> 14.
CONTINUED: tuple[bytes, ...] = tuple(bytes((v & 0x7F | 0x80, v >> 7 | 0x80)) for v in range(TABLE_SIZE))

# A column of varints of at most 9 bytes each (so none can exceed 2^63 nor
# be overlong): checked in C before the column is split in C.
_COLUMN_9 = re.compile(rb"(?:[\x80-\xff]{0,8}[\x00-\x7f])*")
_VARINT_9 = re.compile(rb"[\x80-\xff]{0,8}[\x00-\x7f]")
# Value of every 2-byte varint (low byte first), by its two bytes.
_TWO_BYTE: dict[bytes, int] = {bytes((lo | 0x80, hi)): (lo | hi << 7) for lo in range(0x80) for hi in range(0x80)}
# Value of every 1- and 2-byte varint, by its bytes: a column of such varints
# is converted by one map() in C.
_SHORT: dict[bytes, int] = {**{bytes((v,)): v for v in range(0x80)}, **_TWO_BYTE}
_LONGER_THAN_TWO = re.compile(rb"[\x80-\xff]{2}")
# Value of the first 14 bits of a longer varint, by its first two bytes.
_TWO_CONTINUED: dict[bytes, int] = {bytes((lo | 0x80, hi | 0x80)): (lo | hi << 7) for lo in range(0x80) for hi in range(0x80)}


def varint_bytes(value: int, *, wide: bool = False, what: str = "varint") -> bytes:
    """CONV-1/CONV-2: minimal unsigned LEB128; the same checks as the reference encoder."""
    if type(value) is int and 0 <= value < 1 << 42:
        if value < TABLE_SIZE:
            return VARINT[value]
        if value < 1 << 28:
            return CONTINUED[value & 0x3FFF] + VARINT[value >> 14]
        return CONTINUED[value & 0x3FFF] + CONTINUED[value >> 14 & 0x3FFF] + VARINT[value >> 28]
    maximum = MAX_WIDE if wide else MAX_U64
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise EncodeError(f"{what}: {value!r} is not an unsigned integer in 0..{maximum}")
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varint_column(values: list[int], *, wide: bool = False, what: str = "varint") -> bytes:
    """The concatenated varints of a column (BATCH-3), without its length."""
    if values and min(values) >= 0:
        top = max(values)
        if top < 0x80:
            return bytes(values)
        if top < TABLE_SIZE:
            table = VARINT
            return b"".join([table[v] for v in values])
        if top < 1 << 42:
            table, cont = VARINT, CONTINUED
            return b"".join(
                [
                    table[v]
                    if v < TABLE_SIZE
                    else cont[v & 0x3FFF] + table[v >> 14]
                    if v < 1 << 28
                    else cont[v & 0x3FFF] + cont[v >> 14 & 0x3FFF] + table[v >> 28]
                    for v in values
                ]
            )
    return b"".join([varint_bytes(v, wide=wide, what=what) for v in values])


def read_varint(data: bytes, pos: int, end: int, limits: Limits, what: str, wide: bool = False) -> tuple[int, int]:
    """One varint at ``pos`` that must end before ``end``: (value, position after it).

    The exact path of the reference: truncated at the missing byte; when the
    byte at ``max_varint_bytes`` still has bit 7 set, overlong (at 10 bytes,
    CONV-4) or limit_exceeded (LIMIT-2) there, without reading the next byte;
    overflow last.
    """
    start = pos
    value = 0
    shift = 0
    last = start + limits.max_varint_bytes - 1
    while True:
        if pos >= end:
            raise Truncated(f"{what}: varint ends before its last byte", offset=pos, requirement="CONV-1")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            pos += 1
            break
        if pos == last:
            if shift == 7 * (MAX_VARINT_BYTES - 1):
                raise OverlongVarint(f"{what}: varint longer than {MAX_VARINT_BYTES} bytes", offset=start)
            most = limits.max_varint_bytes
            raise LimitExceeded(f"{what}: varint longer than max_varint_bytes={most}", offset=start, requirement="LIMIT-2")
        pos += 1
        shift += 7
    if not wide and value > MAX_U64:
        raise VarintOverflow(f"{what}: varint value {value} exceeds 2^64-1", offset=start)
    return value, pos


def read_chunk_length(
    data: bytes, pos: int, end: int, limits: Limits, what: str, limit: int | None, limit_name: str = ""
) -> tuple[int, int]:
    """CONV-6: a chunk's length, checked against ``limit`` (LIMIT-5), then against what is left."""
    if pos < end and data[pos] < 0x80:
        length = data[pos]
        after = pos + 1
    else:
        length, after = read_varint(data, pos, end, limits, f"{what} length")
    if limit is not None and length > limit:
        raise LimitExceeded(f"{what} is {length} bytes, over {limit_name}={limit}", offset=pos, requirement="LIMIT-5")
    if length > end - after:
        raise Truncated(f"{what} announces {length} bytes but only {end - after} follow", offset=pos, requirement="CONV-6")
    return length, after


def read_column(
    data: bytes,
    pos: int,
    end: int,
    limits: Limits,
    count: int,
    what: str,
    *,
    wide: bool = False,
    bound: int | None = None,
    bound_name: str = "",
) -> tuple[list[int], int]:
    """BATCH-3: chunk(varint...) holding exactly ``count`` values: (values, position after the chunk)."""
    length, start = read_chunk_length(data, pos, end, limits, what, None)
    stop = start + length
    chunk = data[start:stop]
    values: list[int] | None = None
    if length == count and max(chunk) < 0x80:
        values = list(chunk)  # every value is one byte: the common case of ids and lengths
    elif limits.max_varint_bytes >= 9 and _COLUMN_9.fullmatch(chunk):
        pieces = _VARINT_9.findall(chunk)
        if len(pieces) != count:
            pass
        elif not _LONGER_THAN_TWO.search(chunk):
            values = list(map(_SHORT.__getitem__, pieces))
        else:
            two, cont = _TWO_BYTE, _TWO_CONTINUED
            values = [
                p[0]
                if (n := len(p)) == 1
                else two[p]
                if n == 2
                else cont[p[:2]] | p[2] << 14
                if n == 3
                else cont[p[:2]] | two[p[2:]] << 14
                if n == 4
                else cont[p[:2]] | cont[p[2:4]] << 14 | p[4] << 28
                if n == 5
                else _value_of(p)
                for p in pieces
            ]
    if values is None or (bound is not None and max(values) > bound):
        # Something is wrong (or unusual) in this column: find the first
        # violation in wire order exactly as the reference does.
        values = _read_column_exact(data, start, stop, limits, count, what, wide, bound, bound_name)
    return values, stop


def _value_of(piece: bytes) -> int:
    value = 0
    for shift, byte in enumerate(piece):
        value |= (byte & 0x7F) << (7 * shift)
    return value


def _read_column_exact(
    data: bytes, start: int, stop: int, limits: Limits, count: int, what: str, wide: bool, bound: int | None, bound_name: str
) -> list[int]:
    values: list[int] = []
    pos = start
    while pos < stop:
        at = pos
        try:
            value, pos = read_varint(data, pos, stop, limits, what, wide)
        except Truncated:
            raise InconsistentBatch(f"{what}: the last varint is cut by the end of its chunk", offset=at) from None
        if bound is not None and value > bound:
            raise LimitExceeded(f"{what}: {value} exceeds {bound_name}={bound}", offset=at, requirement="LIMIT-5")
        values.append(value)
    if len(values) != count:
        raise InconsistentBatch(f"{what} holds {len(values)} values for {count} events", offset=start)
    return values
