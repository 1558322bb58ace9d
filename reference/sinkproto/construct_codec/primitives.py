"""Field types of the Sink wire format as `construct` classes (CONV-1..CONV-7).

construct's own ``VarInt`` is unbounded and its ``GreedyRange`` swallows
errors, so the primitives a Sink decoder needs are written here, each bounded
by the :class:`~sinkproto.limits.Limits` passed to ``parse(..., limits=...)``
and each raising the kit's own errors with the byte offset and requirement ID.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from construct import Construct, Subconstruct

from ..batchrules import gunzip_body, gzip_body
from ..errors import (
    DecodeError,
    EncodeError,
    InconsistentBatch,
    InvalidUtf8,
    LimitExceeded,
    OverlongVarint,
    TrailingBytes,
    Truncated,
    VarintOverflow,
)
from ..limits import DEFAULT_LIMITS, MAX_U64, MAX_VARINT_BYTES, Limits

__all__ = [
    "VarUInt",
    "Chunk",
    "Text",
    "RestBytes",
    "VarUIntColumn",
    "OptionalTail",
    "End",
    "Reject",
    "Gzipped",
    "limits_of",
    "remaining",
]

# A 10-byte varint holds 70 bits; delta columns (BATCH-4) may legitimately use
# more than 64 of them because zigzag doubles the range of a difference.
MAX_WIDE = (1 << (7 * MAX_VARINT_BYTES)) - 1

Condition = bool | Callable[[Any], bool]


class BytesIOAt(io.BytesIO):
    """A sub-buffer whose ``tell()`` reports offsets in the enclosing unit."""

    def __init__(self, data: bytes, base: int) -> None:
        super().__init__(data)
        self.base = base

    def tell(self) -> int:
        return super().tell() + self.base

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            offset -= self.base
        return super().seek(offset, whence) + self.base


def limits_of(context: Any) -> Limits:
    params = getattr(context, "_params", None)
    limits = getattr(params, "limits", None) if params is not None else None
    return limits if isinstance(limits, Limits) else DEFAULT_LIMITS


def remaining(stream: io.BytesIO) -> int:
    here = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(here)
    return end - here


def _evaluate(condition: Condition, context: Any) -> bool:
    return bool(condition(context)) if callable(condition) else bool(condition)


def read_varint(stream: io.BytesIO, limits: Limits, *, wide: bool, what: str) -> int:
    """CONV-1 with LIMIT-2 and CONV-4 decided at the byte at the limit: a byte after it is never read."""
    start = stream.tell()
    most = limits.max_varint_bytes
    value = 0
    for index in range(most):
        raw = stream.read(1)
        if not raw:
            raise Truncated(f"{what}: varint ends before its last byte", offset=start + index, requirement="CONV-1")
        byte = raw[0]
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            break
    else:  # the byte at the limit still has bit 7 set, whatever follows it (even the end of the input)
        if most >= MAX_VARINT_BYTES:
            raise OverlongVarint(f"{what}: varint longer than {MAX_VARINT_BYTES} bytes", offset=start)
        raise LimitExceeded(f"{what}: varint longer than max_varint_bytes={most}", offset=start, requirement="LIMIT-2")
    if not wide and value > MAX_U64:
        raise VarintOverflow(f"{what}: varint value {value} exceeds 2^64-1", offset=start)
    return value


def varint_bytes(value: int, *, wide: bool = False, what: str = "varint") -> bytes:
    maximum = MAX_WIDE if wide else MAX_U64
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise EncodeError(f"{what}: {value!r} is not an unsigned integer in 0..{maximum}")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


class VarUInt(Construct):
    """CONV-1: unsigned LEB128, at most 10 bytes (LIMIT-2), minimal on build (CONV-2)."""

    def __init__(self, *, wide: Condition = False, what: str = "varint", limit: str | None = None) -> None:
        super().__init__()
        self.wide = wide
        self.what = what
        self.limit = limit

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> int:
        start = stream.tell()
        limits = limits_of(context)
        value = read_varint(stream, limits, wide=_evaluate(self.wide, context), what=self.what)
        if self.limit is not None and value > getattr(limits, self.limit):
            raise LimitExceeded(
                f"{self.what}: {value} exceeds {self.limit}={getattr(limits, self.limit)}", offset=start, requirement="LIMIT-5"
            )
        return value

    def _build(self, obj: int, stream: io.BytesIO, context: Any, path: str) -> int:
        stream.write(varint_bytes(obj, wide=_evaluate(self.wide, context), what=self.what))
        return obj


def _chunk_length(stream: io.BytesIO, context: Any, what: str, limit_name: str | None) -> int:
    limits = limits_of(context)
    start = stream.tell()
    length = read_varint(stream, limits, wide=False, what=f"{what} length")
    if limit_name is not None and length > getattr(limits, limit_name):
        raise LimitExceeded(
            f"{what} is {length} bytes, over {limit_name}={getattr(limits, limit_name)}",
            offset=start,
            requirement="LIMIT-5",
        )
    left = remaining(stream)
    if length > left:
        raise Truncated(f"{what} announces {length} bytes but only {left} follow", offset=start, requirement="CONV-6")
    return length


class Chunk(Construct):
    """CONV-6: a varint byte length, then that many bytes (checked before reading)."""

    def __init__(self, what: str, *, limit: str | None = None) -> None:
        super().__init__()
        self.what = what
        self.limit = limit

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> bytes:
        length = _chunk_length(stream, context, self.what, self.limit)
        return stream.read(length)

    def _build(self, obj: bytes, stream: io.BytesIO, context: Any, path: str) -> bytes:
        if not isinstance(obj, (bytes, bytearray)):
            raise EncodeError(f"{self.what} must be bytes")
        stream.write(varint_bytes(len(obj), what=f"{self.what} length"))
        stream.write(obj)
        return obj


class Text(Subconstruct):
    """Bytes that SHOULD be UTF-8; checked only when ``Limits.strict_utf8`` asks (ERR-2)."""

    def __init__(self, subcon: Construct, what: str) -> None:
        super().__init__(subcon)
        self.what = what

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> bytes:
        start = stream.tell()
        value: bytes = self.subcon._parsereport(stream, context, path)
        if limits_of(context).strict_utf8:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidUtf8(f"{self.what} is not UTF-8: {exc.reason}", offset=start) from None
        return value


class RestBytes(Construct):
    """Everything up to the end of the enclosing unit (human_message, event_data columns)."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> bytes:
        return stream.read()

    def _build(self, obj: bytes, stream: io.BytesIO, context: Any, path: str) -> bytes:
        if not isinstance(obj, (bytes, bytearray)):
            raise EncodeError("expected bytes")
        stream.write(obj)
        return obj


class VarUIntColumn(Construct):
    """BATCH-3: chunk(varint, varint, ...): a column of ``count`` values.

    The varints are decoded inside the chunk (they can never read past it);
    each value is checked against ``limit`` as soon as it is read (LIMIT-5),
    and a varint cut by the end of the chunk or a number of values other
    than ``count`` is ``inconsistent_batch`` (BATCH-5), in wire order (ERR-2).
    """

    def __init__(self, what: str, *, count: Callable[[Any], int], wide: Condition = False, limit: str | None = None) -> None:
        super().__init__()
        self.what = what
        self.count = count
        self.wide = wide
        self.limit = limit

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> list[int]:
        length = _chunk_length(stream, context, self.what, None)
        # Parse the chunk on its own so a varint can never read past it.
        column = BytesIOAt(stream.read(length), stream.tell() - length)
        limits = limits_of(context)
        wide = _evaluate(self.wide, context)
        bound = getattr(limits, self.limit) if self.limit else None
        values: list[int] = []
        while remaining(column):
            start = column.tell()
            try:
                value = read_varint(column, limits, wide=wide, what=self.what)
            except Truncated:
                raise InconsistentBatch(f"{self.what}: the last varint is cut by the end of its chunk", offset=start) from None
            if bound is not None and value > bound:
                raise LimitExceeded(f"{self.what}: {value} exceeds {self.limit}={bound}", offset=start, requirement="LIMIT-5")
            values.append(value)
        count = self.count(context)
        if len(values) != count:
            raise InconsistentBatch(f"{self.what} holds {len(values)} values for {count} events", offset=column.base)
        return values

    def _build(self, obj: list[int], stream: io.BytesIO, context: Any, path: str) -> list[int]:
        wide = _evaluate(self.wide, context)
        body = b"".join(varint_bytes(v, wide=wide, what=self.what) for v in obj)
        stream.write(varint_bytes(len(body)))
        stream.write(body)
        return obj

class OptionalTail(Subconstruct):
    """A fixed-size field that is either wholly present or absent at the end (CONN-3)."""

    def __init__(self, subcon: Construct, requirement: str) -> None:
        super().__init__(subcon)
        self.requirement = requirement

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> Any:
        left = remaining(stream)
        if left == 0:
            return None
        size = self.subcon.sizeof()
        if left < size:
            raise Truncated(
                f"{left} bytes where an optional {size}-byte field is either absent or whole",
                offset=stream.tell(),
                requirement=self.requirement,
            )
        return self.subcon._parsereport(stream, context, path)

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> Any:
        if obj is not None:
            self.subcon._build(obj, stream, context, path)
        return obj


class End(Construct):
    """The unit must end here; anything more is ``trailing_bytes`` under ``requirement``."""

    def __init__(self, requirement: str) -> None:
        super().__init__()
        self.requirement = requirement
        self.flagbuildnone = True

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> None:
        left = remaining(stream)
        if left:
            raise TrailingBytes(f"{left} unexpected bytes after the end", offset=stream.tell(), requirement=self.requirement)
        return None

    def _build(self, obj: None, stream: io.BytesIO, context: Any, path: str) -> None:
        return None

    def _sizeof(self, context: Any, path: str) -> int:
        return 0


class Reject(Construct):
    """A switch default: the selector names something this version does not define."""

    def __init__(self, make_error: Callable[[Any, int], DecodeError]) -> None:
        super().__init__()
        self.make_error = make_error

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> None:
        raise self.make_error(context, stream.tell())

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> None:
        raise EncodeError(f"cannot encode {obj!r}: not defined by this protocol version")


class Gzipped(Subconstruct):
    """BATCH-6: the rest of the unit is one gzip member holding ``subcon``.

    Inflation is bounded by ``Limits.max_decompressed_size`` (LIMIT-3). The
    inner unit is parsed from its own stream, so offsets in errors raised
    inside it count from the start of the decompressed body.
    """

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> Any:
        start = stream.tell()
        body = gunzip_body(stream.read(), limit=limits_of(context).max_decompressed_size, offset=start)
        return self.subcon._parsereport(io.BytesIO(body), context, path)

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> Any:
        inner = io.BytesIO()
        self.subcon._build(obj, inner, context, path)
        stream.write(gzip_body(inner.getvalue()))
        return obj


