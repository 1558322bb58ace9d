"""Decoder limits (LIMIT-1..LIMIT-6).

One immutable object carries every bound a decoder enforces, so a caller
tightens them in one place and every decoder path sees the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "DEFAULT_LIMITS", "MAX_FRAME_SIZE", "MAX_VARINT_BYTES", "MAX_U64"]

MAX_FRAME_SIZE = 0xFFFF  # STREAM-2: the 2-byte length prefix cannot say more
MAX_VARINT_BYTES = 10  # LIMIT-2: 10 x 7 bits covers 64-bit values
MAX_U64 = (1 << 64) - 1


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """Hard bounds for untrusted input; exceeding one raises ``LimitExceeded``.

    ``strict_utf8`` makes text fields (``app_version``, ``human_message``)
    fail with ``InvalidUtf8`` instead of being passed through as bytes;
    ``machine_message`` is bytes, never checked (ERR-9, spec/v0/limits.md).
    """

    max_frame_size: int = MAX_FRAME_SIZE
    max_varint_bytes: int = MAX_VARINT_BYTES
    max_key_size: int = 0xFFFF
    max_event_data_size: int = 0xFFFF
    max_batch_events: int = 65536
    max_decompressed_size: int = 8 * 1024 * 1024
    strict_utf8: bool = False
    # Version 1 (spec/v1/limits.md): reader declarations (LIMIT-8) and the zstd window (LIMIT-9).
    max_declared_types: int = 1024
    max_declared_versions: int = 256
    max_zstd_window: int = 8 * 1024 * 1024
    # Version 1, records mode (LIMIT-10).
    max_record_columns: int = 1024
    max_dictionary_entries: int = 65536
    max_collection_items: int = 65536
    # Version 1, CLOSE (LIMIT-12).
    max_requirement_size: int = 32
    max_close_text: int = 1024

    def __post_init__(self) -> None:
        if not 1 <= self.max_frame_size <= MAX_FRAME_SIZE:
            raise ValueError(f"max_frame_size must be in 1..{MAX_FRAME_SIZE}")
        if not 1 <= self.max_varint_bytes <= MAX_VARINT_BYTES:
            raise ValueError(f"max_varint_bytes must be in 1..{MAX_VARINT_BYTES}")
        for name in (
            "max_key_size",
            "max_event_data_size",
            "max_batch_events",
            "max_decompressed_size",
            "max_declared_types",
            "max_declared_versions",
            "max_zstd_window",
            "max_record_columns",
            "max_dictionary_entries",
            "max_collection_items",
            "max_requirement_size",
            "max_close_text",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> Limits:
        """Build from a vector's ``limits`` object (unknown names are an error)."""
        return cls(**values)  # type: ignore[arg-type]


DEFAULT_LIMITS = Limits()
