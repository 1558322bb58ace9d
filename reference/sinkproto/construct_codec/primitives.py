"""Field types of the Sink wire format as `construct` classes (CONV-1..CONV-7).

construct's own ``VarInt`` is unbounded and its ``GreedyRange`` swallows
errors, so the fields a Sink decoder needs are declared here, each bounded
by the :class:`~sinkproto.limits.Limits` passed to ``parse(..., limits=...)``
and each raising the kit's own errors with the byte offset and requirement ID.
The varints, chunk lengths, columns and end-of-unit checks themselves are
:mod:`sinkproto.primitives`, which these classes call on the stream's buffer
at the stream's position: one reader serves both codecs.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from construct import Construct, Subconstruct

from ..batchrules import gunzip_body, gzip_body
from ..errors import DecodeError, EncodeError, InvalidUtf8, LimitExceeded
from ..limits import DEFAULT_LIMITS, Limits
from ..primitives import (
    check_end,
    cut_optional,
    read_chunk_length,
    read_column,
    read_delta_column,
    read_varint,
    varint_bytes,
    varint_column,
)

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
    "stream_varint",
    "stream_chunk_length",
]

Condition = bool | Callable[[Any], bool]


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


def stream_varint(stream: io.BytesIO, limits: Limits, *, wide: bool = False, what: str = "varint") -> int:
    """:func:`sinkproto.primitives.read_varint` at the stream's position; the stream moves past the varint."""
    with stream.getbuffer() as data:
        value, after = read_varint(data, stream.tell(), len(data), limits, what, wide=wide)
    stream.seek(after)
    return value


def stream_chunk_length(
    stream: io.BytesIO, limits: Limits, what: str, limit_name: str | None = None, rule: str = "LIMIT-5"
) -> int:
    """:func:`sinkproto.primitives.read_chunk_length` at the stream's position; the stream moves to the chunk's bytes."""
    limit = getattr(limits, limit_name) if limit_name is not None else None
    with stream.getbuffer() as data:
        length, after = read_chunk_length(data, stream.tell(), len(data), limits, what, limit, limit_name or "", rule)
    stream.seek(after)
    return length


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
        value = stream_varint(stream, limits, wide=_evaluate(self.wide, context), what=self.what)
        if self.limit is not None and value > getattr(limits, self.limit):
            raise LimitExceeded(
                f"{self.what}: {value} exceeds {self.limit}={getattr(limits, self.limit)}",
                offset=start,
                requirement="LIMIT-5",
            )
        return value

    def _build(self, obj: int, stream: io.BytesIO, context: Any, path: str) -> int:
        stream.write(varint_bytes(obj, wide=_evaluate(self.wide, context), what=self.what))
        return obj


class Chunk(Construct):
    """CONV-6: a varint byte length, then that many bytes (checked before reading)."""

    def __init__(self, what: str, *, limit: str | None = None, rule: str = "LIMIT-5") -> None:
        super().__init__()
        self.what = what
        self.limit = limit
        self.rule = rule

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> bytes:
        length = stream_chunk_length(stream, limits_of(context), self.what, self.limit, self.rule)
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

    def __init__(
        self,
        what: str,
        *,
        count: Callable[[Any], int],
        wide: Condition = False,
        limit: str | None = None,
        delta_from: Callable[[Any], int | None] | None = None,
    ) -> None:
        super().__init__()
        self.what = what
        self.count = count
        self.wide = wide
        self.limit = limit
        self.delta_from = delta_from

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> list[int]:
        limits = limits_of(context)
        bound = getattr(limits, self.limit) if self.limit else None
        wide = _evaluate(self.wide, context)
        count = self.count(context)
        # BATCH-4 / BATCH-9: a delta column (from the header value) is reconstructed, and each of its values
        # range-checked, as it is read (ERR-2).
        start = self.delta_from(context) if self.delta_from is not None else None
        with stream.getbuffer() as data:
            if start is not None:
                values, after = read_delta_column(data, stream.tell(), len(data), limits, count, self.what, start)
            else:
                values, after = read_column(
                    data,
                    stream.tell(),
                    len(data),
                    limits,
                    count,
                    self.what,
                    wide=wide,
                    bound=bound,
                    bound_name=self.limit or "",
                )
        stream.seek(after)
        return values

    def _build(self, obj: list[int], stream: io.BytesIO, context: Any, path: str) -> list[int]:
        body = varint_column(obj, wide=_evaluate(self.wide, context), what=self.what)
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
            raise cut_optional(left, size, stream.tell(), self.requirement)
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
        with stream.getbuffer() as data:
            check_end(data, stream.tell(), self.requirement)
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
