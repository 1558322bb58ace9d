"""The codec boundary: parse and build a unit, and the checks a whole frame meets first.

Every construct exception is translated here into the kit's own hierarchy,
so callers only ever see :class:`~sinkproto.errors.SinkError`. The
version-keyed tables (protocol versions known, frame-size bound by version)
live here too, so every module of the codec reads them from one place.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, TypeVar

from construct import ConstructError, StreamError

from ..errors import EncodeError, LimitExceeded, SinkError, Truncated
from ..limits import Limits
from ..primitives import cut_in_field
from ..versions import SUPPORTED_VERSIONS, pick

__all__ = ["VERSIONS", "MAX_ENCODED_FRAME", "build", "check_frame_size", "check_encoded_size", "check_version", "parse"]

T = TypeVar("T")

VERSIONS = SUPPORTED_VERSIONS
"""The protocol versions this codec speaks; any other ``version=`` is a ``ValueError``."""

MAX_ENCODED_FRAME: Mapping[int, int] = {1: 0xFFFF}
"""ERR-8, BPUB-5: from version 1 the encoder refuses a frame the 2-byte length prefix cannot carry."""


def check_version(version: int) -> int:
    if version not in VERSIONS:
        raise ValueError(f"no codec for protocol version {version}")
    return version


def parse(construct: Any, data: bytes, limits: Limits, unit: str, schemas: Any = None, bases: Any = None) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{unit} must be bytes-like, got {type(data).__name__}")
    data = bytes(data)
    stream = io.BytesIO(data)
    try:
        # ``schemas`` (a records.RecordSchemas) is what records mode of batch v1 decodes with; ``bases``
        # (a messages.BaseLookup, None when this side takes no context) what mode context decodes against.
        return construct.parse_stream(stream, limits=limits, schemas=schemas, bases=bases)
    except SinkError:
        raise
    except StreamError as exc:
        # construct ran out of bytes inside a fixed-size field.
        raise cut_in_field(data, unit, exc.path or "header") from None
    except ConstructError as exc:  # pragma: no cover - every construct here raises the kit's errors
        raise Truncated(f"{unit} is malformed: {exc}", offset=stream.tell()) from None


def build(construct: Any, value: Any, schemas: Any = None) -> bytes:
    try:
        return bytes(construct.build(value, schemas=schemas))
    except SinkError:
        raise
    except ConstructError as exc:
        raise EncodeError(f"cannot encode {type(value).__name__}: {exc}") from None


def check_frame_size(data: bytes, limits: Limits) -> None:
    """STREAM-3, LIMIT-1: a frame has one byte at least and at most ``max_frame_size``."""
    if len(data) == 0:
        raise Truncated("a frame has at least one byte", offset=0, requirement="STREAM-3")
    if len(data) > limits.max_frame_size:
        raise LimitExceeded(
            f"frame of {len(data)} bytes exceeds max_frame_size={limits.max_frame_size}",
            offset=0,
            requirement="LIMIT-1",
        )


def check_encoded_size(data: bytes, version: int) -> bytes:
    """ERR-8, BPUB-5 (:data:`MAX_ENCODED_FRAME`)."""
    bound = pick(MAX_ENCODED_FRAME, version)
    if bound is not None and len(data) > bound:
        raise EncodeError(f"a frame of {len(data)} bytes does not fit the {bound:,}-byte limit (ERR-8, BPUB-5)")
    return data
