"""The column transforms of records mode (spec/v1/batch.md, Columns): numbers, candidates, bit packing.

Pure rules shared by both codecs: which transforms a column type allows
(RECORD-5), the parameters of each candidate an encoder tries for a list
of values (RECORD-9: the canonical choice is the shortest, ties to the
lowest transform number); the bit packing of ``bitpacked``,
``delta_bitpacked``, ``patched`` and ``delta_patched`` is :mod:`sinkproto.primitives`' (``pack_bits``,
``unpack_bits``, re-exported here). Each codec serialises the candidates itself.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from enum import IntEnum
from itertools import repeat
from operator import add, sub
from typing import Any, NamedTuple

from .primitives import MAX_WIDTH, pack_bits, packed_size, unpack_bits, varint_size, zigzag_encode
from .records import Column, ColumnType

__all__ = [
    "BYTES_TRANSFORMS",
    "INT_TRANSFORMS",
    "KEY_COLUMN",
    "MAX_DIGITS",
    "MAX_WIDTH",
    "Patch",
    "Transform",
    "bytes_candidates",
    "int_candidates",
    "numbered_split",
    "patch",
    "pack_bits",
    "unpack_bits",
]


class Transform(IntEnum):
    PLAIN = 0
    DELTA = 1
    CONSTANT = 2
    FRAME_OF_REFERENCE = 3
    DICTIONARY = 4
    PREFIX = 5
    KEY = 6
    BITPACKED = 7
    DELTA_BITPACKED = 8
    NUMBERED = 9
    PATCHED = 10
    DELTA_PATCHED = 11


INT_TRANSFORMS = frozenset(
    {
        Transform.PLAIN,
        Transform.DELTA,
        Transform.CONSTANT,
        Transform.FRAME_OF_REFERENCE,
        Transform.DICTIONARY,
        Transform.BITPACKED,
        Transform.DELTA_BITPACKED,
        Transform.PATCHED,
        Transform.DELTA_PATCHED,
    }
)
BYTES_TRANSFORMS = frozenset(
    {Transform.PLAIN, Transform.CONSTANT, Transform.DICTIONARY, Transform.PREFIX, Transform.KEY, Transform.NUMBERED}
)
MAX_DIGITS = 18  # 10^18 - 1 < 2^63: a numbered value is an Avro long

# The keys column of the records body: bytes, one value per event; the
# ``key`` transform is refused there (it would refer to itself).
KEY_COLUMN = Column("keys", ColumnType.BYTES, None, avro="key")


def _deltas(values: Sequence[int]) -> list[int]:
    return [b - a for a, b in zip([0, *values], values)]


def _dictionary(values: Sequence[Any]) -> dict[str, Any]:
    entries: dict[Any, int] = {}
    for value in values:
        entries.setdefault(value, len(entries))
    return {"entry_count": len(entries), "entries": list(entries), "indices": [entries[v] for v in values]}


def _bitpacked(values: Sequence[int]) -> tuple[int, int, list[int]]:
    base = min(values, default=0)
    offsets = [v - base for v in values]
    return base, max(offsets, default=0).bit_length(), offsets


class Patch(NamedTuple):
    """The parameters of a ``patched`` payload (RECORD-9) and its size in bytes."""

    base: int
    width: int
    exceptions: list[tuple[int, int]]  # (index, value minus base), indexes ascending
    packed: list[int]  # value i minus base, 0 in an exception's slot
    size: int


def patch(values: Sequence[int], below: int | None = None, ordered: Sequence[int] | None = None) -> Patch | None:
    """RECORD-9's ``patched`` parameters for ``values``; None when no payload is shorter than ``below``.

    For each ``width`` w from 0 up whose windows can leave at most n // 8
    values out, ``base`` is the smallest value whose window
    base..base+2^w-1 holds the most values; the values outside it are
    exceptions. The shortest payload wins, ties to the smaller w. Widths
    past the bit length of max - min only add bytes (the window already
    holds every value), and a width whose packed bytes alone reach the
    best size so far (or ``below``) cannot win, nor can any wider one: so
    the loop stops there, giving the same choice as trying all 65 widths.
    Each width costs one bisection per window start that can hold
    n - n // 8 values (the first n // 8 + 1 sorted values); the
    exceptions' sizes are counted by bisection too, and the exceptions
    listed only for a width that beats the best so far: O(n log n) in all.
    ``ordered``: the values sorted, when the caller has them.
    """
    n = len(values)
    if not n:
        return None if below is not None and below <= 3 else Patch(0, 0, [], [], 3)
    if ordered is None:
        ordered = sorted(values)
    top = min(MAX_WIDTH, (ordered[-1] - ordered[0]).bit_length())
    # At most n // 8 exceptions: a width is a candidate only when some window of it holds n - n // 8 values,
    # that is from the bit length of the least spread of n - n // 8 consecutive sorted values up.
    keep = n - n // 8
    least = min(map(sub, ordered[keep - 1 :], ordered)).bit_length()
    best: Patch | None = None
    bound = below
    # A window holding keep values or more starts at sorted index n - keep at the latest: only those starts count.
    starts = range(n - keep + 1)
    firsts = ordered[: n - keep + 1]
    for width in range(least, top + 1):
        packed_bytes = packed_size(n, width)
        if bound is not None and packed_bytes + 3 >= bound:  # base, width and count take a byte each at least
            break
        span = (1 << width) - 1
        if bound is not None:
            # Shorter than bound needs at most `allowed` exceptions (2 bytes each at least), so a window
            # holding n - allowed values: none does when every n - allowed sorted values spread wider than span.
            allowed = (bound - 4 - packed_bytes) // 2
            if allowed < n - 1 and min(map(sub, ordered[n - allowed - 1 :], ordered)) > span:
                continue
        ends = map(bisect_right, repeat(ordered), map(add, firsts, repeat(span)))
        counts = list(map(sub, ends, starts))
        most = max(counts)  # at least keep, by the choice of least
        at = counts.index(most)
        base = ordered[at]
        # Every exception takes an index (1 byte at least) and a zigzag varint of its value minus base:
        # 1 byte, plus one per power 2^7j it reaches, counted on the sorted values below and above the window.
        size = varint_size(zigzag_encode(base)) + 1 + varint_size(n - most) + packed_bytes + 2 * (n - most)
        for j in range(1, 11):
            reach = 1 << (7 * j - 1)
            under = bisect_right(ordered, base - reach - 1, 0, at)
            over = n - bisect_left(ordered, max(base + span + 1, base + reach), at + most)
            if not under and not over:
                break
            size += under + over
        if bound is not None and size >= bound:
            continue
        high = base + span
        exceptions = [(i, v - base) for i, v in enumerate(values) if v < base or v > high]
        if n > 128:  # indexes from 128 up take 2 bytes or more
            size += sum(varint_size(i) - 1 for i, _ in exceptions)
            if bound is not None and size >= bound:
                continue
        packed = [v - base for v in values]
        for i, _ in exceptions:
            packed[i] = 0
        best = Patch(base, width, exceptions, packed, size)
        bound = size
    return best


def int_candidates(values: Sequence[int]) -> list[tuple[Transform, dict[str, Any]]]:
    """Every transform that can carry ``values``, with its parameters, in transform order (RECORD-9)."""
    out: list[tuple[Transform, dict[str, Any]]] = [
        (Transform.PLAIN, {"values": list(values)}),
        (Transform.DELTA, {"deltas": _deltas(values)}),
    ]
    if values and all(v == values[0] for v in values):
        out.append((Transform.CONSTANT, {"value": values[0]}))
    if values:
        base = min(values)
        out.append((Transform.FRAME_OF_REFERENCE, {"base": base, "offsets": [v - base for v in values]}))
        out.append((Transform.DICTIONARY, _dictionary(values)))
        base, width, offsets = _bitpacked(values)
        out.append((Transform.BITPACKED, {"base": base, "width": width, "packed": pack_bits(offsets, width)}))
        base, width, offsets = _bitpacked(_deltas(values)[1:])
        if width <= MAX_WIDTH:  # deltas of 64-bit values can need 65 bits
            out.append(
                (
                    Transform.DELTA_BITPACKED,
                    {"first": values[0], "base": base, "width": width, "packed": pack_bits(offsets, width)},
                )
            )
        patched = patch(values)
        if patched is not None:  # none when every width 0..64 leaves more than n // 8 exceptions
            out.append((Transform.PATCHED, _patched_params(patched)))
        patched = patch(_deltas(values)[1:])
        if patched is not None:
            out.append((Transform.DELTA_PATCHED, {"first": values[0], **_patched_params(patched)}))
    return out


def _patched_params(p: Patch) -> dict[str, Any]:
    return {
        "base": p.base,
        "width": p.width,
        "exception_count": len(p.exceptions),
        "packed": pack_bits(p.packed, p.width),
        "exceptions": [{"index": i, "value": d} for i, d in p.exceptions],
    }


def numbered_split(values: Sequence[bytes]) -> tuple[bytes, int] | None:
    """``(prefix, digits)`` when every value is one prefix and the same number of decimal digits, else None."""
    if not values or any(len(v) != len(values[0]) for v in values):
        return None
    digits = min(len(v) - len(v.rstrip(b"0123456789")) for v in values)
    digits = min(digits, MAX_DIGITS)
    if digits == 0:
        return None
    prefix = values[0][: len(values[0]) - digits]
    if any(v[: len(v) - digits] != prefix for v in values):
        return None
    return prefix, digits


def bytes_candidates(values: Sequence[bytes], keys: Sequence[bytes] | None) -> list[tuple[Transform, dict[str, Any]]]:
    """Every transform that can carry ``values``; ``keys`` when the column has one value per event (RECORD-9)."""
    out: list[tuple[Transform, dict[str, Any]]] = [(Transform.PLAIN, {"values": list(values)})]
    if values and all(v == values[0] for v in values):
        out.append((Transform.CONSTANT, {"value": values[0]}))
    if values:
        out.append((Transform.DICTIONARY, _dictionary(values)))
    shared, previous = [], b""
    for value in values:
        common = 0
        for a, b in zip(previous, value):
            if a != b:
                break
            common += 1
        shared.append({"shared": common, "rest": value[common:]})
        previous = value
    out.append((Transform.PREFIX, {"values": shared}))
    if keys is not None and list(values) == list(keys):
        out.append((Transform.KEY, {}))
    split = numbered_split(values)
    if split is not None:
        prefix, digits = split
        out.append(
            (
                Transform.NUMBERED,
                {"prefix": prefix, "digits": digits, "numbers": [int(v[len(prefix) :]) for v in values]},
            )
        )
    return out
