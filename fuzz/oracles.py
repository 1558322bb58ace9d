"""Properties every decoder target checks, beyond "did not crash".

Imported from ``Target.setup`` only (it imports the codec, which must be
imported inside the harness's instrumentation block).

* A decoder rejects input with a :class:`~sinkproto.errors.DecodeError` whose
  ``error_class`` is one the vectors know, whose ``offset`` is a byte offset
  and whose ``requirement`` is an ID of the spec registry. Anything else that
  escapes (``IndexError``, ``zlib.error``, an ``EncodeError``) is a finding.
* What a decoder accepts, its encoder can write back, and that decodes to the
  same value (layout included, for batches).
* Tightening a limit can only turn a success into ``limit_exceeded``; and
  tightening it just below what a decoded value needs must do exactly that.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any, TypeVar

from sinkproto import DEFAULT_LIMITS, DecodeError, LimitExceeded, Limits, SinkError
from sinkproto.errors import ERROR_CLASSES

from .target import ROOT, Finding

__all__ = [
    "REQUIREMENT_IDS",
    "REQUIREMENT_IDS_V1",
    "decode_or_none",
    "check_error",
    "check_roundtrip",
    "check_tighter",
    "TIGHT_VARINTS",
    "STRICT_UTF8",
]

V = TypeVar("V")
Decoder = Callable[..., V]  # called as decode(data, limits=...), the codecs' keyword


def _registry(version: str) -> frozenset[str]:
    return frozenset(
        r["id"] for r in tomllib.loads((ROOT / "spec" / version / "requirements.toml").read_text())["requirement"]
    )


REQUIREMENT_IDS = _registry("v0")
# Version 1 shares the ID space of version 0 and adds its own (spec/v1/requirements.toml): what a v1 decoder may cite.
REQUIREMENT_IDS_V1 = REQUIREMENT_IDS | _registry("v1")

# Every varint of a unit that decodes under this limit is one byte long.
TIGHT_VARINTS = Limits(max_varint_bytes=1)
STRICT_UTF8 = Limits(strict_utf8=True)


def check_error(exc: SinkError, unit_size: int | None, known: frozenset[str] = REQUIREMENT_IDS) -> DecodeError:
    """A decoder's rejection must be a well-formed DecodeError.

    ``unit_size`` bounds the offset; None where offsets may point into a
    decompressed body (batch errors inside gzip count from the body start).
    ``known`` is the requirement registry of the decoder's protocol version.
    """
    if not isinstance(exc, DecodeError):
        raise Finding(f"decoder raised {type(exc).__name__} (not a DecodeError): {exc}") from exc
    if ERROR_CLASSES.get(exc.error_class) is not type(exc):
        raise Finding(f"{type(exc).__name__} has error_class {exc.error_class!r}, not a registered class") from exc
    if not isinstance(exc.offset, int) or exc.offset < 0 or (unit_size is not None and exc.offset > unit_size):
        raise Finding(f"{exc.error_class}: offset {exc.offset!r} outside 0..{unit_size}") from exc
    if exc.requirement not in known:
        raise Finding(f"{exc.error_class} cites {exc.requirement!r}, not in the spec's requirements.toml") from exc
    return exc


def decode_or_none(
    decode: Decoder[V],
    data: bytes,
    limits: Limits = DEFAULT_LIMITS,
    *,
    bounded_offset: bool = True,
    known: frozenset[str] = REQUIREMENT_IDS,
) -> V | DecodeError:
    """The decoded value, or the (checked) DecodeError; anything else propagates."""
    try:
        return decode(data, limits=limits)
    except SinkError as exc:
        return check_error(exc, len(data) if bounded_offset else None, known)


def check_roundtrip(value: V, encode: Callable[[V], bytes], decode: Decoder[V]) -> bytes:
    """encode(value) must succeed and decode back to an equal value."""
    try:
        again = encode(value)
    except SinkError as exc:
        raise Finding(f"a decoded value does not re-encode: {exc!r} ({value!r})") from exc
    try:
        back = decode(again, limits=DEFAULT_LIMITS)
    except SinkError as exc:
        raise Finding(f"re-encoded bytes {again.hex()} do not decode: {exc}") from exc
    if back != value:
        raise Finding(f"round trip changed the value:\n  {value!r}\n  {back!r}")
    return again


def check_tighter(
    decode: Decoder[Any],
    data: bytes,
    value: Any,
    limits: Limits,
    *,
    must_fail: bool,
    refusal: type[DecodeError] = LimitExceeded,
    known: frozenset[str] = REQUIREMENT_IDS,
) -> None:
    """Decode ``data`` (accepted under the defaults) again under stricter ``limits``.

    The result must be the same value or ``refusal`` (``limit_exceeded``, or
    ``invalid_utf8`` for ``strict_utf8``); with ``must_fail`` (the limit sits
    just below what ``value`` needs) only ``refusal`` will do. Any other
    error means the limit changed how the input was parsed.
    """
    try:
        again = decode(data, limits=limits)
    except refusal as exc:
        check_error(exc, None, known)
        return
    except SinkError as exc:
        raise Finding(f"under {limits} the decoder raised {exc!r} instead of {refusal.error_class}") from exc
    if must_fail:
        raise Finding(f"under {limits} the decoder accepted the input; {refusal.error_class} was due")
    if again != value:
        raise Finding(f"under {limits} the decoder returned another value: {again!r} vs {value!r}")
