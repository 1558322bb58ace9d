"""The one set of primitives (sinkproto.primitives) against a model written from the spec text.

Both codecs read every varint, chunk length and column with these
functions, so the construct-versus-fast differential no longer compares two
varint readers. This file is the independent check instead: a few lines per
rule, written from spec/v0/conventions.md (CONV-1..CONV-8), limits.md
(LIMIT-2, LIMIT-5), batch.md (BATCH-3, BATCH-5) and spec/v1/batch.md
(bitpacked, RECORD-8), and compared exhaustively where the input space is
small (every 1- and 2-byte input, every limit 1..10, every width 0..64) and
by hypothesis elsewhere.
"""

from __future__ import annotations

import io
from itertools import product
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sinkproto.construct_codec.primitives import stream_chunk_length, stream_varint
from sinkproto.errors import (
    DecodeError,
    EncodeError,
    InconsistentBatch,
    LimitExceeded,
    OverlongVarint,
    TrailingBytes,
    Truncated,
    VarintOverflow,
)
from sinkproto.limits import Limits
from sinkproto.primitives import (
    UNZIGZAG14,
    check_end,
    cut_in_field,
    cut_optional,
    pack_bits,
    packed_size,
    read_chunk_length,
    read_column,
    read_varint,
    read_varints,
    unpack_bits,
    unzigzag_column,
    varint_bytes,
    varint_column,
    varint_size,
    varints_size,
    zigzag_column,
    zigzag_decode,
    zigzag_encode,
)
from sinktest import covers

MAX_U64 = 2**64 - 1
LIMITS = {most: Limits(max_varint_bytes=most) for most in range(1, 11)}

# -- the model, from the spec text -------------------------------------------------------------------


def model_varint(data: bytes, pos: int, end: int, most: int, wide: bool) -> tuple[Any, ...]:
    """CONV-1, CONV-4, CONV-5, LIMIT-2: ("value", value, position after) or ("error", class, offset, requirement).

    Read bytes b[0], b[1], ... until one has bit 7 clear: value = sum((b[i] & 0x7f) << 7i).
    The input ending before that byte (and before the byte at the limit) is
    truncated at the missing byte. When the byte at the limit (``most``,
    10 at most) still has bit 7 set, the varint is too long there, whatever
    follows: overlong_varint at 10, limit_exceeded below; both reported at
    the varint's first byte. A plain field over 2^64-1 is varint_overflow.
    """
    for i in range(most):
        if pos + i >= end:
            return ("error", Truncated, pos + i, "CONV-1")
        if data[pos + i] < 0x80:
            value = sum((data[pos + k] & 0x7F) << (7 * k) for k in range(i + 1))
            if not wide and value > MAX_U64:
                return ("error", VarintOverflow, pos, "CONV-5")
            return ("value", value, pos + i + 1)
    if most == 10:
        return ("error", OverlongVarint, pos, "CONV-4")
    return ("error", LimitExceeded, pos, "LIMIT-2")


def model_bytes(value: int) -> bytes:
    """CONV-1, CONV-2: groups of 7 bits, least significant first, bit 7 set on every byte but the last; minimal."""
    out = []
    while True:
        out.append(value % 128)
        value //= 128
        if value == 0:
            break
    return bytes(b + 128 for b in out[:-1]) + bytes(out[-1:])


def model_zigzag(n: int) -> int:
    """CONV-8: z = 2n for n >= 0, z = -2n - 1 for n < 0."""
    return 2 * n if n >= 0 else -2 * n - 1


def model_unzigzag(z: int) -> int:
    """CONV-8: n = z / 2 when z is even, -(z + 1) / 2 when z is odd."""
    return z // 2 if z % 2 == 0 else -(z + 1) // 2


def model_pack(values: list[int], width: int) -> bytes:
    """bitpacked: one little-endian integer whose bits i*width .. (i+1)*width-1 hold value i; ceil(n*width/8) bytes."""
    number = sum(v << (i * width) for i, v in enumerate(values))
    return number.to_bytes((len(values) * width + 7) // 8, "little")


def outcome(call: Any) -> tuple[Any, ...]:
    try:
        value, after = call()
    except DecodeError as exc:
        return ("error", type(exc), exc.offset, exc.requirement)
    return ("value", value, after)


def got_varint(data: bytes, pos: int, end: int, most: int, wide: bool) -> tuple[Any, ...]:
    return outcome(lambda: read_varint(data, pos, end, LIMITS[most], "v", wide=wide))


# -- reading one varint ---------------------------------------------------------------------------------

ONE_AND_TWO_BYTES = [bytes((a,)) for a in range(256)] + [bytes((a, b)) for a in range(256) for b in range(256)]


@covers("CONV-1", "CONV-3", "LIMIT-2")
@pytest.mark.parametrize("most", [1, 2, 3, 10])
def test_every_one_and_two_byte_input(most: int) -> None:
    # At the end of the input, and followed by bytes (with and without bit 7),
    # after a prefix so that offsets are checked as positions in ``data``;
    # the long tails reach the unrolled fast path (five bytes or more left).
    for raw in ONE_AND_TWO_BYTES:
        for tail in (b"", b"\x00\x00\x00\x00\x00", b"\x81\x82\x83\x84\x05"):
            data = b"\xaa\xbb" + raw + tail
            assert got_varint(data, 2, len(data), most, False) == model_varint(data, 2, len(data), most, False), (
                data.hex()
            )


@covers("CONV-1", "CONV-4", "CONV-5", "LIMIT-2")
@pytest.mark.parametrize("most", range(1, 11))
def test_nine_ten_and_eleven_byte_inputs_at_every_limit(most: int) -> None:
    for length, fill, last in product((9, 10, 11), (0x80, 0xFF), range(256)):
        raw = bytes([fill] * (length - 1) + [last])
        for data in (raw, raw + b"\x00", b"\x01" + raw + b"\xff\x7f"):
            pos = 1 if data[0] == 0x01 else 0
            for wide in (False, True):
                assert got_varint(data, pos, len(data), most, wide) == model_varint(data, pos, len(data), most, wide), (
                    data.hex()
                )


@covers("CONV-4", "LIMIT-2")
@pytest.mark.parametrize("most", range(1, 11))
def test_the_limit_is_decided_at_its_byte_even_at_the_end_of_input(most: int) -> None:
    at_limit = b"\x80" * most
    for data in (at_limit, at_limit + b"\x00", at_limit + b"\x80" * 5):
        error = OverlongVarint if most == 10 else LimitExceeded
        requirement = "CONV-4" if most == 10 else "LIMIT-2"
        assert got_varint(data, 0, len(data), most, False) == ("error", error, 0, requirement)
    # One byte short of the limit, at the end of the input: truncated at the missing byte.
    assert got_varint(at_limit[:-1], 0, most - 1, most, False) == ("error", Truncated, most - 1, "CONV-1")
    # The last allowed byte with bit 7 clear: a value, whatever the limit.
    data = b"\x80" * (most - 1) + b"\x01"
    assert got_varint(data, 0, len(data), most, False) == ("value", 1 << (7 * (most - 1)), most)


@covers("CONV-1")
def test_a_varint_cut_anywhere_is_truncated_at_the_missing_byte() -> None:
    for value in (0x80, 1 << 20, 1 << 35, MAX_U64):
        raw = model_bytes(value)
        for cut in range(len(raw)):
            data = raw + b"\x00\x00\x00\x00\x00\x00"
            assert got_varint(data, 0, cut, 10, False) == ("error", Truncated, cut, "CONV-1")


@covers("CONV-3", "CONV-4", "CONV-5")
def test_overlong_and_overflow() -> None:
    # Padded (non-minimal) varints of up to 10 bytes decode to their value.
    assert got_varint(b"\x80\x00", 0, 2, 10, False) == ("value", 0, 2)
    assert got_varint(b"\x80" * 9 + b"\x00", 0, 10, 10, False) == ("value", 0, 10)
    assert got_varint(b"\xff" * 9 + b"\x01", 0, 10, 10, False) == ("value", MAX_U64, 10)
    # 2^64: one past the range of a plain field; fine in a wide (delta, zigzag) one.
    assert got_varint(b"\x80" * 9 + b"\x02", 0, 10, 10, False) == ("error", VarintOverflow, 0, "CONV-5")
    assert got_varint(b"\x80" * 9 + b"\x02", 0, 10, 10, True) == ("value", 1 << 64, 10)
    assert got_varint(b"\xff" * 9 + b"\x7f", 0, 10, 10, True) == ("value", (1 << 70) - 1, 10)
    # An 11th byte is never read: the 10th decides.
    assert got_varint(b"\x80" * 10, 0, 10, 10, True) == ("error", OverlongVarint, 0, "CONV-4")
    assert got_varint(b"\x80" * 10 + b"\x00", 0, 11, 10, True) == ("error", OverlongVarint, 0, "CONV-4")


varint_soup = st.lists(
    st.one_of(
        st.sampled_from(
            [b"\x80" * 9 + b"\x01", b"\xff" * 10, b"\xff" * 9 + b"\x7f", b"\x80\x00", b"\xff\xff\xff\xff\x0f"]
        ),
        st.binary(min_size=1, max_size=6),
    ),
    max_size=6,
).map(b"".join)


@given(varint_soup, st.integers(0, 12), st.integers(0, 40), st.integers(1, 10), st.booleans())
def test_any_input_at_any_position(data: bytes, pos: int, cut: int, most: int, wide: bool) -> None:
    pos = min(pos, len(data))
    end = max(pos, len(data) - cut)
    assert got_varint(data, pos, end, most, wide) == model_varint(data, pos, end, most, wide)


# -- several varints, chunks, columns ------------------------------------------------------------------


def model_varints(data: bytes, pos: int, end: int, count: int, most: int, wide: bool) -> tuple[Any, ...]:
    values = []
    for _ in range(count):
        step = model_varint(data, pos, end, most, wide)
        if step[0] == "error":
            return step
        values.append(step[1])
        pos = step[2]
    return ("value", values, pos)


def model_chunk_length(data: bytes, pos: int, end: int, most: int, limit: int | None) -> tuple[Any, ...]:
    """CONV-6, LIMIT-5: the length (a plain varint), checked against its limit, then against the bytes left."""
    step = model_varint(data, pos, end, most, False)
    if step[0] == "error":
        return step
    _, length, after = step
    if limit is not None and length > limit:
        return ("error", LimitExceeded, pos, "LIMIT-5")
    if length > end - after:
        return ("error", Truncated, pos, "CONV-6")
    return ("value", length, after)


def model_column(
    data: bytes, pos: int, end: int, most: int, count: int, wide: bool, bound: int | None
) -> tuple[Any, ...]:
    """BATCH-3, BATCH-5, LIMIT-5: chunk(varint...) of exactly ``count`` values, read inside the chunk, in wire order."""
    step = model_chunk_length(data, pos, end, most, None)
    if step[0] == "error":
        return step
    _, length, start = step
    stop, at, values = start + length, start, []
    while at < stop:
        step = model_varint(data, at, stop, most, wide)
        if step[0] == "error":
            if step[1] is Truncated:  # a varint cut by the end of its chunk
                return ("error", InconsistentBatch, at, "BATCH-5")
            return step
        if bound is not None and step[1] > bound:
            return ("error", LimitExceeded, at, "LIMIT-5")
        values.append(step[1])
        at = step[2]
    if len(values) != count:
        return ("error", InconsistentBatch, start, "BATCH-5")
    return ("value", values, stop)


@given(varint_soup, st.integers(0, 8), st.integers(1, 10), st.booleans())
def test_varints_one_after_the_other(data: bytes, count: int, most: int, wide: bool) -> None:
    got = outcome(lambda: read_varints(data, 0, len(data), count, LIMITS[most], "v", wide=wide))
    assert got == model_varints(data, 0, len(data), count, most, wide)


@covers("CONV-6", "LIMIT-5")
@given(varint_soup, st.integers(1, 10), st.one_of(st.none(), st.integers(0, 300)))
def test_chunk_lengths(data: bytes, most: int, limit: int | None) -> None:
    got = outcome(lambda: read_chunk_length(data, 0, len(data), LIMITS[most], "c", limit, "max_c"))
    assert got == model_chunk_length(data, 0, len(data), most, limit)


columns = st.tuples(st.lists(st.integers(0, 2**70 - 1) | st.integers(0, 300), max_size=8), st.integers(0, 3))


@covers("BATCH-3", "BATCH-5", "LIMIT-5")
@given(
    columns,
    varint_soup,
    st.integers(-2, 2),
    st.sampled_from([1, 2, 5, 9, 10]),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 2**64)),
)
def test_columns(
    column: tuple[list[int], int], soup: bytes, miscount: int, most: int, wide: bool, bound: int | None
) -> None:
    values, garbage = column
    body = b"".join(map(model_bytes, values)) + soup[:garbage]
    data = b"\x07" + model_bytes(len(body)) + body + b"\xee"
    count = max(0, len(values) + miscount)
    got = outcome(
        lambda: read_column(data, 1, len(data), LIMITS[most], count, "v", wide=wide, bound=bound, bound_name="b")
    )
    assert got == model_column(data, 1, len(data), most, count, wide, bound)


@covers("BATCH-3")
def test_a_column_of_every_short_varint() -> None:
    # The fast paths: all one-byte values; all 1- and 2-byte values; every length 1..9.
    for values in (list(range(128)), list(range(1 << 14)), [(1 << (7 * n)) - 1 for n in range(1, 10)] * 3):
        body = b"".join(map(model_bytes, values))
        data = model_bytes(len(body)) + body
        assert read_column(data, 0, len(data), LIMITS[10], len(values), "v") == (values, len(data))


def test_the_construct_adapters_read_at_the_stream_position() -> None:
    stream = io.BytesIO(b"\x00\x00\xac\x02\x03abc\x80\x80")
    stream.seek(2)
    assert stream_varint(stream, LIMITS[10]) == 300 and stream.tell() == 4
    assert stream_chunk_length(stream, LIMITS[10], "c") == 3 and stream.read() == b"abc\x80\x80"
    stream.seek(8)
    with pytest.raises(Truncated) as info:
        stream_varint(stream, LIMITS[10])
    assert info.value.offset == 10  # a position in the unit, not in the rest of the stream
    stream.seek(8)
    with pytest.raises(LimitExceeded) as limit:
        stream_varint(stream, LIMITS[2])
    assert limit.value.offset == 8 and limit.value.requirement == "LIMIT-2"


# -- writing varints ------------------------------------------------------------------------------------

EDGES = sorted({v for n in range(71) for v in ((1 << n) - 1, 1 << n, (1 << n) + 1)} | set(range(300)))


@covers("CONV-1", "CONV-2")
def test_varint_bytes_is_the_minimal_encoding() -> None:
    for value in EDGES:
        if value <= MAX_U64:
            assert varint_bytes(value) == model_bytes(value)
        else:
            with pytest.raises(EncodeError):
                varint_bytes(value)
        if value < 1 << 70:
            assert varint_bytes(value, wide=True) == model_bytes(value)
            assert varint_size(value) == len(model_bytes(value))
        else:
            with pytest.raises(EncodeError):
                varint_bytes(value, wide=True)
    for value in range(1 << 14):
        assert varint_bytes(value) == model_bytes(value)


@pytest.mark.parametrize("bad", [-1, True, 1.0, "1", None, 1 << 64])
def test_varint_bytes_refuses_what_is_not_a_varint(bad: Any) -> None:
    with pytest.raises(EncodeError):
        varint_bytes(bad)


@given(st.lists(st.sampled_from(EDGES[:-3]) | st.integers(0, 1 << 69), max_size=40))
def test_columns_and_sizes_of_many_values(values: list[int]) -> None:
    assert varint_column(values, wide=True) == b"".join(map(model_bytes, values))
    assert varints_size(values) == sum(len(model_bytes(v)) for v in values)


# -- zigzag -----------------------------------------------------------------------------------------------

SIGNED_EDGES = sorted(
    {s * v for v in EDGES for s in (1, -1)} | {-(1 << 63), (1 << 63) - 1, -(1 << 64), MAX_U64, -MAX_U64}
)


@covers("CONV-8")
def test_zigzag_at_the_64_bit_edges_and_beyond() -> None:
    for n in SIGNED_EDGES:
        z = zigzag_encode(n)
        assert z == model_zigzag(n) and zigzag_decode(z) == n == model_unzigzag(z)
    assert zigzag_encode(-(MAX_U64)) == 2**65 - 3 and zigzag_encode(MAX_U64) == 2**65 - 2  # deltas of 64-bit values
    assert zigzag_column(SIGNED_EDGES) == [model_zigzag(n) for n in SIGNED_EDGES]
    zigzags = [model_zigzag(n) for n in SIGNED_EDGES]
    assert unzigzag_column(zigzags) == SIGNED_EDGES


@covers("CONV-8")
def test_the_zigzag_table_and_column() -> None:
    assert list(UNZIGZAG14) == [model_unzigzag(z) for z in range(1 << 14)]
    small = list(range(1 << 14))
    assert unzigzag_column(small) == [model_unzigzag(z) for z in small]  # from the table
    assert unzigzag_column([*small[:5], 1 << 14]) == [0, -1, 1, -2, 2, 1 << 13]  # not from the table
    assert unzigzag_column([]) == [] and zigzag_column([]) == []


@given(st.integers())
def test_zigzag_round_trips_over_unbounded_integers(n: int) -> None:
    assert zigzag_encode(n) == model_zigzag(n) >= 0 and zigzag_decode(model_zigzag(n)) == n


# -- bit packing ------------------------------------------------------------------------------------------


@covers("RECORD-8")
@pytest.mark.parametrize("width", range(65))
def test_bit_packing_at_every_width(width: int) -> None:
    top = (1 << width) - 1
    for count in (0, 1, 7, 8, 9, 63, 64, 65, 130):
        for values in (
            [top] * count,
            [i % (top + 1) for i in range(count)],
            [(i * 0x9E3779B97F4A7C15) & top for i in range(count)],
        ):
            packed = pack_bits(values, width)
            assert packed == model_pack(values, width) and len(packed) == packed_size(count, width)
            assert unpack_bits(packed, width, count) == values
            if packed_size(count, width) * 8 > count * width:  # there are padding bits: setting one is refused
                with pytest.raises(InconsistentBatch) as info:
                    unpack_bits(packed[:-1] + bytes([packed[-1] | 0x80]), width, count)
                assert (info.value.requirement, info.value.offset) == ("RECORD-8", 0)


@covers("RECORD-8")
def test_widths_over_64_are_refused() -> None:
    for width in (65, 255):
        with pytest.raises(InconsistentBatch) as info:
            unpack_bits(b"", width, 0)
        assert (info.value.requirement, info.value.offset) == ("RECORD-8", 0)


@given(st.integers(0, 64), st.integers(0, 150), st.data())
def test_unpacking_any_bytes(width: int, count: int, data: st.DataObject) -> None:
    packed = data.draw(st.binary(min_size=packed_size(count, width), max_size=packed_size(count, width)))
    number = int.from_bytes(packed, "little")
    mask = (1 << width) - 1
    if number >> (count * width):
        with pytest.raises(InconsistentBatch):
            unpack_bits(packed, width, count)
    else:
        assert unpack_bits(packed, width, count) == [(number >> (i * width)) & mask for i in range(count)]


# -- the end of a unit ------------------------------------------------------------------------------------


def test_cut_and_trailing_bytes() -> None:
    error = cut_in_field(b"\x40\x01\x02")
    assert (type(error), error.offset, error.requirement) == (Truncated, 3, "CONV-6")
    assert "at byte 3" in error.detail and "(header)" in cut_in_field(b"\x40", "event", "header").detail
    error = cut_optional(2, 4, 9, "CONN-3")
    assert (type(error), error.offset, error.requirement) == (Truncated, 9, "CONN-3")
    check_end(b"\x50\x00", 2, "FRAME-4")
    with pytest.raises(TrailingBytes) as info:
        check_end(b"\x50\x00\x00", 2, "FRAME-4")
    assert (info.value.offset, info.value.requirement) == (2, "FRAME-4")
