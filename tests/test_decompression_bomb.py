"""LIMIT-3: a gzip bomb is refused while inflating, without allocating its expanded size.

The batch fuzz target checks the limit's logic on every input; memory is
measured here, once, with tracemalloc (it traces the bytes objects zlib
returns and the buffer the decoder grows), because measuring it per fuzz
input would slow fuzzing tenfold.
"""

from __future__ import annotations

import tracemalloc
import zlib
from functools import cache

import pytest
from sinkproto import LimitExceeded, Limits, decode_batch
from sinktest import covers

MiB = 1 << 20


@cache
def _bomb(expanded: int) -> bytes:
    """A batch header (compressed flag only) and a gzip member of `expanded` zero bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MiB)
    body = b"".join(packer.compress(zeros) for _ in range(expanded // MiB)) + packer.flush()
    return b"\x40" + body


@covers("LIMIT-3", "LIMIT-6")
@pytest.mark.parametrize(
    ("limit", "expanded", "ceiling"),
    [
        # (max_decompressed_size, what the bomb inflates to, the peak we allow)
        (1 * MiB, 64 * MiB, 4 * MiB),
        (Limits().max_decompressed_size, 64 * MiB, 16 * MiB),  # the default, 8 MiB
    ],
)
def test_bomb_is_refused_within_bounded_memory(limit: int, expanded: int, ceiling: int) -> None:
    bomb = _bomb(expanded)
    assert len(bomb) < expanded // 500  # it is a bomb: >500x expansion
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded) as info:
            decode_batch(bomb, limits=Limits(max_decompressed_size=limit))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.requirement == "LIMIT-3"
    # Inflating it all would peak at >= 64 MiB; the limit plus one inflate step is the budget.
    assert peak < ceiling, f"peak {peak / MiB:.1f} MiB while refusing a bomb at a {limit / MiB:.0f} MiB limit"
