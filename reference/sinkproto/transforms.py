"""The column transforms of records mode (spec/v1/batch.md, Columns): numbers, candidates, bit packing.

Pure rules shared by both codecs: which transforms a column type allows
(RECORD-5), the parameters of each candidate an encoder tries for a list
of values (RECORD-9: the canonical choice is the shortest, ties to the
lowest transform number); the bit packing of ``bitpacked`` and
``delta_bitpacked`` is :mod:`sinkproto.primitives`' (``pack_bits``,
``unpack_bits``, re-exported here). Each codec serialises the candidates itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any

from .primitives import MAX_WIDTH, pack_bits, unpack_bits
from .records import Column, ColumnType

__all__ = [
    "BYTES_TRANSFORMS",
    "INT_TRANSFORMS",
    "KEY_COLUMN",
    "MAX_DIGITS",
    "MAX_WIDTH",
    "Transform",
    "bytes_candidates",
    "int_candidates",
    "numbered_split",
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


INT_TRANSFORMS = frozenset(
    {
        Transform.PLAIN,
        Transform.DELTA,
        Transform.CONSTANT,
        Transform.FRAME_OF_REFERENCE,
        Transform.DICTIONARY,
        Transform.BITPACKED,
        Transform.DELTA_BITPACKED,
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
    return out


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
