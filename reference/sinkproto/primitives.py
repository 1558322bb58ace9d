"""The primitives of the Sink wire format, once: varints, chunks, zigzag, bit packing, cut and trailing bytes.

Both codecs, the records mode, the vector builders and the fuzz seeds call
these functions; nothing else in the kit reads or writes a varint, zigzags
a value or packs bits (hot decoders may take a 1-byte varint inline,
``data[pos] < 0x80``, and call :func:`read_varint` for anything else).

- LEB128 (CONV-1..CONV-7, LIMIT-2, LIMIT-5): :func:`varint_bytes`,
  :func:`varint_column`, :func:`varint_size`, :func:`varints_size`;
  :func:`read_varint`, :func:`read_varints`, :func:`read_chunk_length`,
  :func:`read_column`.
- Zigzag (CONV-8), over unbounded integers: :func:`zigzag_encode`,
  :func:`zigzag_decode`, :func:`zigzag_column`, :func:`unzigzag_column`.
- Bit packing of records mode (RECORD-8): :func:`pack_bits`,
  :func:`unpack_bits`, :func:`packed_size`.
- Errors at the end of a unit: :func:`cut_in_field`, :func:`cut_optional`,
  :func:`check_end`.

Readers take ``data`` (bytes or a memoryview of the unit being decoded), a
position and the end they must not read past; offsets in their errors are
positions in ``data``. Each has a fast path for what real traffic is made
of (1- to 5-byte varints, columns of short varints, precomputed tables) and
an exact path that finds the first violation in wire order (ERR-2), which
the fast path falls back to on anything unusual.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import accumulate, repeat
from operator import and_, lshift, rshift

from .errors import (
    DecodeError,
    EncodeError,
    InconsistentBatch,
    LimitExceeded,
    OverlongVarint,
    TrailingBytes,
    Truncated,
    ValueOutOfRange,
    VarintOverflow,
)
from .limits import MAX_U64, MAX_VARINT_BYTES, Limits

__all__ = [
    "ByteData",
    "MAX_WIDE",
    "MAX_WIDTH",
    "TABLE_SIZE",
    "VARINT",
    "CONTINUED",
    "UNZIGZAG14",
    "varint_bytes",
    "varint_column",
    "varint_size",
    "varints_size",
    "read_varint",
    "read_varints",
    "read_chunk_length",
    "read_column",
    "read_delta_column",
    "zigzag_encode",
    "zigzag_decode",
    "zigzag_column",
    "unzigzag_column",
    "pack_bits",
    "unpack_bits",
    "packed_size",
    "cut_in_field",
    "cut_optional",
    "check_end",
]

ByteData = bytes | bytearray | memoryview
"""What the readers read: the unit being decoded (the construct codec passes its stream's buffer)."""

# A 10-byte varint holds 70 bits; delta columns (BATCH-4) and zigzag values
# of records mode use more than 64 of them ("wide" varints).
MAX_WIDE = (1 << (7 * MAX_VARINT_BYTES)) - 1

# RECORD-8: the widest bit-packed value.
MAX_WIDTH = 64

# -- LEB128: writing --------------------------------------------------------------------------------

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

# The length of a varint by the bit length of its value (up to the 70 bits of a wide varint, and beyond).
_SIZE_BY_BITS: tuple[int, ...] = tuple((bits + 6) // 7 or 1 for bits in range(128))


def varint_bytes(value: int, *, wide: bool = False, what: str = "varint") -> bytes:
    """CONV-1/CONV-2: the minimal unsigned LEB128 of ``value``, in 0..2^64-1 (``wide``: 0..2^70-1)."""
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


def varint_column(values: Sequence[int], *, wide: bool = False, what: str = "varint") -> bytes:
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


def varint_size(value: int) -> int:
    """The length of the minimal varint of ``value`` (>= 0), without writing it."""
    return (value.bit_length() + 6) // 7 or 1


def varints_size(values: Sequence[int]) -> int:
    """The summed length of the minimal varints of ``values`` (all >= 0), computed in C."""
    if max(values, default=0) < 0x80:
        return len(values)
    return sum(map(_SIZE_BY_BITS.__getitem__, map(int.bit_length, values)))


# -- LEB128: reading --------------------------------------------------------------------------------


def read_varint(
    data: ByteData, pos: int, end: int, limits: Limits, what: str, *, wide: bool = False
) -> tuple[int, int]:
    """CONV-1: one varint at ``pos`` that must end before ``end``: (value, position after it).

    Truncated (CONV-1) at the missing byte; when the byte at
    ``max_varint_bytes`` still has bit 7 set, overlong (at 10 bytes, CONV-4)
    or limit_exceeded (below 10, LIMIT-2) at the varint's first byte,
    without reading another byte; then, unless ``wide``, varint_overflow
    (CONV-5) for a value over 2^64-1.
    """
    if pos < end:
        b0 = data[pos]
        if b0 < 0x80:
            return b0, pos + 1
        if end - pos >= 5 and limits.max_varint_bytes >= 5:  # up to 35 bits: no limit or overflow can apply
            b1 = data[pos + 1]
            if b1 < 0x80:
                return (b0 & 0x7F) | b1 << 7, pos + 2
            b2 = data[pos + 2]
            if b2 < 0x80:
                return (b0 & 0x7F) | (b1 & 0x7F) << 7 | b2 << 14, pos + 3
            b3 = data[pos + 3]
            if b3 < 0x80:
                return (b0 & 0x7F) | (b1 & 0x7F) << 7 | (b2 & 0x7F) << 14 | b3 << 21, pos + 4
            b4 = data[pos + 4]
            if b4 < 0x80:
                return (b0 & 0x7F) | (b1 & 0x7F) << 7 | (b2 & 0x7F) << 14 | (b3 & 0x7F) << 21 | b4 << 28, pos + 5
    return _read_varint_exact(data, pos, end, limits, what, wide)


def _read_varint_exact(data: ByteData, pos: int, end: int, limits: Limits, what: str, wide: bool) -> tuple[int, int]:
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
        if pos == last:  # the byte at the limit still has bit 7 set, whatever follows it (even the end)
            if shift == 7 * (MAX_VARINT_BYTES - 1):
                raise OverlongVarint(f"{what}: varint longer than {MAX_VARINT_BYTES} bytes", offset=start)
            most = limits.max_varint_bytes
            raise LimitExceeded(
                f"{what}: varint longer than max_varint_bytes={most}", offset=start, requirement="LIMIT-2"
            )
        pos += 1
        shift += 7
    if not wide and value > MAX_U64:
        raise VarintOverflow(f"{what}: varint value {value} exceeds 2^64-1", offset=start)
    return value, pos


def read_varints(
    data: ByteData, pos: int, end: int, count: int, limits: Limits, what: str, *, wide: bool = False
) -> tuple[list[int], int]:
    """``count`` varints one after the other from ``pos`` (no chunk around them): (values, position after them)."""
    if end - pos == count and (not count or max(data[pos:end]) < 0x80):
        return list(data[pos:end]), end  # the whole rest, one byte each: the common case
    out: list[int] = []
    append = out.append
    for _ in range(count):
        if pos < end and (byte := data[pos]) < 0x80:
            append(byte)
            pos += 1
        else:
            value, pos = read_varint(data, pos, end, limits, what, wide=wide)
            append(value)
    return out, pos


def read_chunk_length(
    data: ByteData,
    pos: int,
    end: int,
    limits: Limits,
    what: str,
    limit: int | None = None,
    limit_name: str = "",
    rule: str = "LIMIT-5",
) -> tuple[int, int]:
    """CONV-6: a chunk's length, checked against ``limit`` (``rule``), then against what is left: (length, first byte)."""
    if pos < end and data[pos] < 0x80:
        length = data[pos]
        after = pos + 1
    else:
        length, after = _read_varint_exact(data, pos, end, limits, f"{what} length", False)
    if limit is not None and length > limit:
        raise LimitExceeded(f"{what} is {length} bytes, over {limit_name}={limit}", offset=pos, requirement=rule)
    if length > end - after:
        raise Truncated(
            f"{what} announces {length} bytes but only {end - after} follow", offset=pos, requirement="CONV-6"
        )
    return length, after


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
_TWO_CONTINUED: dict[bytes, int] = {
    bytes((lo | 0x80, hi | 0x80)): (lo | hi << 7) for lo in range(0x80) for hi in range(0x80)
}


def read_column(
    data: ByteData,
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
    """BATCH-3: chunk(varint...) holding exactly ``count`` values: (values, position after the chunk).

    The varints are read inside the chunk (they can never read past it);
    each value is checked against ``bound`` as soon as it is read (LIMIT-5),
    and a varint cut by the end of the chunk or a number of values other
    than ``count`` is ``inconsistent_batch`` (BATCH-5), in wire order (ERR-2).
    """
    length, start = read_chunk_length(data, pos, end, limits, what)
    stop = start + length
    chunk = data[start:stop]
    values: list[int] | None = None
    if length == count and (not length or max(chunk) < 0x80):
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
    if values is None or (bound is not None and values and max(values) > bound):
        # Something is wrong (or unusual) in this column: find the first
        # violation in wire order.
        values = _read_column_exact(data, start, stop, limits, count, what, wide, bound, bound_name)
    return values, stop


def read_delta_column(
    data: ByteData, pos: int, end: int, limits: Limits, count: int, what: str, start: int
) -> tuple[list[int], int]:
    """BATCH-4 / BATCH-9: a delta column from the header value ``start``: (values, position after the chunk).

    Each of the ``count`` values is reconstructed and range-checked (0..2^64-1)
    as it is read, so an out-of-range value is reported at its entry before
    any later violation of the column (ERR-2). The whole column is read the
    fast way first; only when that fails, or a value leaves the range, is it
    walked value by value to find which violation comes first.
    """
    try:
        deltas, after = read_column(data, pos, end, limits, count, what, wide=True)
    except DecodeError:
        _first_out_of_range(data, pos, end, limits, count, what, start)
        raise
    values = list(accumulate(unzigzag_column(deltas), initial=start))
    del values[0]
    if values and (min(values) < 0 or max(values) > MAX_U64):
        _first_out_of_range(data, pos, end, limits, count, what, start)
        raise AssertionError(f"{what}: a value leaves 0..2^64-1 but the exact walk found none")  # pragma: no cover
    return values, after


def _first_out_of_range(data: ByteData, pos: int, end: int, limits: Limits, count: int, what: str, start: int) -> None:
    """Raise ValueOutOfRange (BATCH-9) at the first of the column's ``count`` values that leaves 0..2^64-1, if it
    comes before the column's first other violation; return otherwise (the caller reports that one)."""
    try:
        length, at = read_chunk_length(data, pos, end, limits, what)
    except DecodeError:
        return
    stop = at + length
    previous = start
    for index in range(count):
        if at >= stop:
            return
        try:
            delta, after = read_varint(data, at, stop, limits, what, wide=True)
        except DecodeError:
            return
        previous += zigzag_decode(delta)
        if not 0 <= previous <= MAX_U64:
            raise ValueOutOfRange(
                f"{what}[{index}] reconstructs to {previous}, outside 0..2^64-1", offset=at, requirement="BATCH-9"
            )
        at = after


def _value_of(piece: bytes) -> int:
    """The value of a varint of 6 to 9 bytes that the column pattern already checked."""
    value = 0
    for shift, byte in enumerate(piece):
        value |= (byte & 0x7F) << (7 * shift)
    return value


def _read_column_exact(
    data: ByteData,
    start: int,
    stop: int,
    limits: Limits,
    count: int,
    what: str,
    wide: bool,
    bound: int | None,
    bound_name: str,
) -> list[int]:
    values: list[int] = []
    pos = start
    while pos < stop:
        at = pos
        try:
            value, pos = _read_varint_exact(data, pos, stop, limits, what, wide)
        except Truncated:
            raise InconsistentBatch(f"{what}: the last varint is cut by the end of its chunk", offset=at) from None
        if bound is not None and value > bound:
            raise LimitExceeded(f"{what}: {value} exceeds {bound_name}={bound}", offset=at, requirement="LIMIT-5")
        values.append(value)
    if len(values) != count:
        raise InconsistentBatch(f"{what} holds {len(values)} values for {count} events", offset=start)
    return values


# -- zigzag ---------------------------------------------------------------------------------------


def zigzag_encode(value: int) -> int:
    """CONV-8: a signed integer as an unsigned one, 0, -1, 1, -2 -> 0, 1, 2, 3, over unbounded integers."""
    return value << 1 if value >= 0 else ~value << 1 | 1


def zigzag_decode(value: int) -> int:
    """CONV-8: the inverse of :func:`zigzag_encode` (``value`` >= 0, of any size)."""
    return (value >> 1) ^ -(value & 1)


# zigzag_decode of every 1- and 2-byte varint value (deltas of nearby timestamps).
UNZIGZAG14: tuple[int, ...] = tuple(map(zigzag_decode, range(TABLE_SIZE)))


def zigzag_column(values: Sequence[int]) -> list[int]:
    """:func:`zigzag_encode` of each of ``values``."""
    return [v << 1 if v >= 0 else ~v << 1 | 1 for v in values]


def unzigzag_column(values: Sequence[int]) -> list[int]:
    """:func:`zigzag_decode` of each of ``values`` (all >= 0), from the table when they are all below 2^14."""
    if values and max(values) < TABLE_SIZE:
        return list(map(UNZIGZAG14.__getitem__, values))
    return [(z >> 1) ^ -(z & 1) for z in values]


# -- bit packing (records mode: bitpacked, delta_bitpacked) ----------------------------------------

# Values are (un)packed 64 at a time: 64 values of ``width`` bits fill 8 * width bytes exactly, so each group is
# one small integer and the work stays linear (one integer as long as the whole column would make it quadratic).
_GROUP = 64


def packed_size(count: int, width: int) -> int:
    """The bytes that ``count`` values of ``width`` bits take: ceil(count * width / 8)."""
    return (count * width + 7) // 8


def pack_bits(values: Sequence[int], width: int) -> bytes:
    """``values`` (each in 0..2^width-1) as one little-endian integer, value i at bits i*width.., zero padding."""
    size = packed_size(len(values), width)
    if not size:
        return b""
    shifts = range(0, _GROUP * width, width)
    groups = [
        sum(map(lshift, values[at : at + _GROUP], shifts)).to_bytes(8 * width, "little")
        for at in range(0, len(values), _GROUP)
    ]
    return b"".join(groups)[:size]


def unpack_bits(data: bytes, width: int, count: int) -> list[int]:
    """The inverse of :func:`pack_bits`; ``data`` holds exactly ``packed_size(count, width)`` bytes.

    A ``width`` over 64 and padding bits that are not zero are
    ``inconsistent_batch`` (RECORD-8), raised at offset 0: the caller
    reports them at the column's first byte.
    """
    if width > MAX_WIDTH:
        raise InconsistentBatch(f"bit width {width} is over 64", offset=0, requirement="RECORD-8")
    if not width:
        return [0] * count
    shifts = range(0, _GROUP * width, width)
    mask = (1 << width) - 1
    out: list[int] = []
    for at in range(0, len(data), 8 * width):
        group = int.from_bytes(data[at : at + 8 * width], "little")
        out.extend(map(and_, map(rshift, repeat(group, _GROUP), shifts), repeat(mask, _GROUP)))
    if any(out[count:]):
        raise InconsistentBatch("bit-packed values have padding bits set", offset=0, requirement="RECORD-8")
    del out[count:]
    return out


# -- the end of a unit ----------------------------------------------------------------------------


def cut_in_field(data: bytes, unit: str = "frame", field: str | None = None) -> Truncated:
    """The error of a unit that ends inside a fixed-size field (a 2-byte header, a 4-byte id): at its end."""
    where = field if field is not None else f"at byte {len(data)}"
    return Truncated(f"{unit} ends inside a field ({where})", offset=len(data))


def cut_optional(left: int, size: int, offset: int, requirement: str) -> Truncated:
    """The error of an optional fixed-size field at the end of a unit that is neither absent nor whole (CONN-3)."""
    return Truncated(
        f"{left} bytes where an optional {size}-byte field is either absent or whole",
        offset=offset,
        requirement=requirement,
    )


def check_end(data: ByteData, pos: int, requirement: str) -> None:
    """The unit ``data`` must end at ``pos``: anything more is ``trailing_bytes`` under ``requirement``."""
    if pos != len(data):
        raise TrailingBytes(f"{len(data) - pos} unexpected bytes after the end", offset=pos, requirement=requirement)
