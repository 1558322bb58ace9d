"""Unit tests per message: exact bytes, exact errors (class, offset, requirement)."""

from __future__ import annotations

from functools import partial

import pytest
from sinkproto import (
    Ack,
    Batch,
    BatchLayout,
    ConnectionRequest,
    ConnectionResponse,
    EncodeError,
    Event,
    Limits,
    Nack,
    Ping,
    Pong,
    Publish,
    Response,
    decode_batch,
    decode_event,
    decode_frame,
    encode_batch,
    encode_event,
    encode_frame,
)
from sinkproto import errors as e
from sinktest import covers


def ev(**kw: object) -> Event:
    base: dict[str, object] = {
        "event_type_id": 1,
        "schema_version": 1,
        "key": b"k",
        "offset": 1,
        "timestamp": 1_700_000_000,
        "event_data": b"d",
    }
    base.update(kw)
    return Event(**base)  # type: ignore[arg-type]


@covers("CONN-1")
def test_connection_request_field_example() -> None:
    msg = ConnectionRequest(app_version=b"v1.0.0", client_instance_id=1)
    assert encode_frame(msg).hex() == "000676312e302e3000000001"
    assert decode_frame(bytes.fromhex("000676312e302e3000000001")) == msg


@covers("CONN-2")
def test_unsupported_version_names_the_version() -> None:
    with pytest.raises(e.UnsupportedVersion) as info:
        decode_frame(bytes.fromhex("01ff"))
    assert info.value.version == 1
    assert info.value.error_class == "unsupported_version" and info.value.requirement == "CONN-2"


@covers("CONN-3")
@pytest.mark.parametrize("extra", [1, 2, 3])
def test_partial_server_instance_id_is_truncated(extra: int) -> None:
    data = bytes.fromhex("000000000001") + bytes(extra)
    with pytest.raises(e.Truncated) as info:
        decode_frame(data)
    assert info.value.offset == 6 and info.value.requirement == "CONN-3"


@covers("CONN-5", "CONN-6", "CONN-7")
def test_connection_responses() -> None:
    assert (
        encode_frame(ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=0xDEADBEEF)).hex()
        == "11deadbeef"
    )
    assert encode_frame(ConnectionResponse(response=Response.UNSUPPORTED_APPLICATION_VERSION)) == b"\x15"
    q = ConnectionResponse(response=Response.QUARANTINED, machine_message=b"q", human_message=b"maintenance")
    assert encode_frame(q).hex() == "1301716d61696e74656e616e6365"
    with pytest.raises(e.TrailingBytes) as info:
        decode_frame(b"\x10\x00")
    assert info.value.offset == 1 and info.value.requirement == "CONN-6"


def test_connection_response_validates_its_payload_when_built() -> None:
    with pytest.raises(EncodeError):
        ConnectionResponse(response=Response.HELLO_NEW_CLIENT)
    with pytest.raises(EncodeError):
        ConnectionResponse(response=Response.CONNECTED, server_instance_id=1)
    with pytest.raises(EncodeError):
        ConnectionResponse(response=Response.QUARANTINED, machine_message=b"")


@covers("FRAME-2", "ACK-1")
def test_twelve_bit_message_id_layout() -> None:
    assert encode_frame(Ack(message_id=0x31A)) == bytes([0x33, 0x1A])
    assert encode_frame(Nack(message_id=0xFFF, machine_message=b"", human_message=b"")) == b"\x7f\xff\x00"
    with pytest.raises(EncodeError):
        Ack(message_id=4096)
    with pytest.raises(EncodeError):
        Ack(message_id=-1)


@covers("FRAME-4", "FRAME-5")
def test_ping_pong_bits_are_ignored_and_length_is_exact() -> None:
    assert decode_frame(bytes.fromhex("5abc")) == Ping()
    assert encode_frame(Ping()) == b"\x50\x00" and encode_frame(Pong()) == b"\x60\x00"
    with pytest.raises(e.TrailingBytes) as info:
        decode_frame(bytes.fromhex("500000"))
    assert info.value.requirement == "FRAME-4" and info.value.offset == 2


@covers("FRAME-3", "STREAM-3")
def test_unknown_types_and_empty_frame() -> None:
    for t in (2, 8, 15):
        with pytest.raises(e.UnknownType):
            decode_frame(bytes([t << 4]))
    with pytest.raises(e.Truncated) as info:
        decode_frame(b"")
    assert info.value.requirement == "STREAM-3"


@covers("FRAME-1", "FRAME-3", "FRAME-7")
def test_one_frame_type_says_which_version_added_each_type() -> None:

    from sinkproto import FrameType, construct_codec, fast_codec

    assert {t.name: (t.value, t.since) for t in FrameType} == {
        "CONNECTION_REQUEST": (0, 0),
        "CONNECTION_RESPONSE": (1, 0),
        "BATCH_PUBLISH": (2, 1),
        "ACK": (3, 0),
        "PUBLISH": (4, 0),
        "PING": (5, 0),
        "PONG": (6, 0),
        "NACK": (7, 0),
        "BATCH_RESULT": (8, 1),
        "CLOSE": (9, 1),
    }
    # The table and the decoders agree: a type is unknown exactly to the decoders of versions before its `since`.
    decoders = {
        0: (construct_codec.decode_frame, fast_codec.decode_frame),
        1: (partial(construct_codec.decode_frame, version=1), partial(fast_codec.decode_frame, version=1)),
    }
    for version, pair in decoders.items():
        for nibble in range(16):
            defined = nibble in FrameType._value2member_map_ and FrameType(nibble).since <= version
            for decode in pair:
                try:
                    decode(bytes([nibble << 4, 0]))
                except e.UnknownType:
                    assert not defined, (version, nibble, decode)
                except e.DecodeError:
                    assert defined, (version, nibble, decode)
                else:
                    assert defined, (version, nibble, decode)


def test_one_model_for_every_version() -> None:
    import typing

    import sinkproto
    from sinkproto.events import BatchAnswered, BatchReceived, ConnectionEvent
    from sinkproto.messages import BatchPublish, BatchResult, Frame

    assert {BatchPublish, BatchResult, Ack, ConnectionRequest} <= set(typing.get_args(Frame))
    assert {BatchReceived, BatchAnswered} <= set(typing.get_args(ConnectionEvent))
    for name in (
        "BatchPublish",
        "BatchResult",
        "BatchResultEntry",
        "BatchFormat",
        "BatchCodec",
        "BatchMode",
    ):
        assert getattr(sinkproto, name) is getattr(sinkproto.messages, name) and name in sinkproto.__all__
    assert not hasattr(sinkproto, "BatchV1") and not hasattr(sinkproto.messages, "BatchV1")  # one Batch class


@covers("PUB-1", "PUB-2", "PUB-3")
def test_event_layout_and_exact_end() -> None:
    data = encode_event(ev(key=b"", event_data=b""))
    assert data.hex() == "0101000180e2cfaa0600"
    with pytest.raises(e.TrailingBytes) as info:
        decode_event(data + b"\x00")
    assert info.value.offset == len(data) and info.value.requirement == "PUB-2"


@covers("CONV-3", "CONV-4", "CONV-5", "LIMIT-2")
def test_varint_bounds() -> None:
    tail = bytes.fromhex("01016b0180e2cfaa060164")
    assert decode_event(b"\x80" * 9 + b"\x00" + tail).event_type_id == 0
    assert decode_event(b"\xff" * 9 + b"\x01" + tail).event_type_id == (1 << 64) - 1
    with pytest.raises(e.OverlongVarint) as over:
        decode_event(b"\x80" * 10 + b"\x00" + tail)
    assert over.value.offset == 0
    with pytest.raises(e.VarintOverflow):
        decode_event(b"\xff" * 9 + b"\x02" + tail)
    with pytest.raises(e.LimitExceeded) as info:
        decode_event(b"\x80\x80\x01" + tail, limits=Limits(max_varint_bytes=2))
    assert info.value.requirement == "LIMIT-2"
    with pytest.raises(EncodeError):
        ev(offset=1 << 64)


_PUBLISH_TAIL = bytes.fromhex("01016b0180e2cfaa060164")
# (unit, input, max_varint_bytes, error class): the byte at the limit still has bit 7 set, and nothing follows it
# (issue 16: both codecs read the byte after the limit first and said ``truncated`` or ``inconsistent_batch``).
AT_THE_LIMIT = [
    ("event", bytes.fromhex("ffffffff7fffffffffffff"), 6, e.LimitExceeded),  # schema_version, 6 bytes, input ends
    ("event", b"\xff" * 9, 9, e.LimitExceeded),
    ("event", b"\xff" * 10, 10, e.OverlongVarint),  # the default: CONV-4
    ("event", b"\x80", 1, e.LimitExceeded),
    ("event", bytes.fromhex("0101") + b"\x80" * 3, 3, e.LimitExceeded),  # the key chunk length
    ("batch", b"\x20" + b"\x80" * 5, 5, e.LimitExceeded),  # header event_type_id
    ("batch", b"\x00" + b"\x80" * 4, 4, e.LimitExceeded),  # count
    # the timestamps column is `06 808080808080`: its last varint reaches the limit where the chunk ends
    ("batch", bytes.fromhex("00 01 0101 0101 0101 01 6b 0101 06808080808080 0101 64"), 6, e.LimitExceeded),
    (
        "batch",
        bytes.fromhex("00 01 0101 0101 0101 01 6b 0101 0a") + b"\x80" * 10 + bytes.fromhex("0101 64"),
        10,
        e.OverlongVarint,
    ),
    # limit 9: the fast codec's 9-byte column path must not take it
    (
        "batch",
        bytes.fromhex("00 01 0101 0101 0101 01 6b 0101 09") + b"\xff" * 9 + bytes.fromhex("0101 64"),
        9,
        e.LimitExceeded,
    ),
]


@covers("LIMIT-2", "CONV-4", "ERR-2")
@pytest.mark.parametrize("codec", ["construct", "fast"])
@pytest.mark.parametrize(
    ("unit", "data", "most", "error"), AT_THE_LIMIT, ids=[f"{u}-{d.hex()[:24]}-{m}" for u, d, m, _ in AT_THE_LIMIT]
)
def test_varint_at_the_limit_is_decided_at_its_last_allowed_byte(
    codec: str, unit: str, data: bytes, most: int, error: type[e.DecodeError]
) -> None:
    from sinkproto import construct_codec, fast_codec

    module = construct_codec if codec == "construct" else fast_codec
    decode = module.decode_event if unit == "event" else module.decode_batch
    with pytest.raises(e.DecodeError) as info:
        decode(data, limits=Limits(max_varint_bytes=most))
    assert type(info.value) is error, info.value
    assert info.value.requirement == ("LIMIT-2" if error is e.LimitExceeded else "CONV-4")
    # the same varint with one more byte after it: the same verdict, the extra byte is never read
    with pytest.raises(error):
        decode(data + b"\x00", limits=Limits(max_varint_bytes=most))


@covers("CONV-6", "LIMIT-5")
def test_chunk_length_checked_before_reading() -> None:
    with pytest.raises(e.Truncated) as info:
        decode_event(bytes.fromhex("0101") + b"\x64" + bytes(20))
    assert info.value.offset == 2
    # a length above the limit is refused as such, before looking for the bytes
    with pytest.raises(e.LimitExceeded):
        decode_event(bytes.fromhex("0101") + b"\xff\xff\xff\xff\x0f")
    with pytest.raises(e.LimitExceeded) as limit:
        decode_event(encode_event(ev(key=b"abc")), limits=Limits(max_key_size=2))
    assert limit.value.requirement == "LIMIT-5"


@covers("LIMIT-1")
def test_frame_size_limit() -> None:
    frame = encode_frame(Publish(message_id=1, event=ev(event_data=bytes(100))))
    with pytest.raises(e.LimitExceeded):
        decode_frame(frame, limits=Limits(max_frame_size=len(frame) - 1))
    assert decode_frame(frame, limits=Limits(max_frame_size=len(frame))).event.event_data == bytes(100)  # type: ignore[union-attr]


def test_strict_utf8_is_opt_in() -> None:
    data = bytes.fromhex("0002fffe00000001")
    assert decode_frame(data) == ConnectionRequest(app_version=b"\xff\xfe", client_instance_id=1)
    with pytest.raises(e.InvalidUtf8):
        decode_frame(data, limits=Limits(strict_utf8=True))


@covers("BATCH-1", "BATCH-2", "BATCH-3", "BATCH-4")
def test_batch_worked_example() -> None:
    hetero = (
        Event(event_type_id=1, schema_version=6, key=b"\x02\x03", offset=4, timestamp=1618150125, event_data=b"\x05"),
        Event(
            event_type_id=2,
            schema_version=9,
            key=b"\x03\x04\x05",
            offset=6,
            timestamp=1618150126,
            event_data=b"\x07\x08",
        ),
    )
    data = bytes.fromhex("0604ed85cc830602020102020609020203050203030405020004020002020102050708")
    assert encode_batch(Batch(events=hetero)) == data
    decoded = decode_batch(data)
    assert decoded.events == hetero
    assert decoded.layout == BatchLayout(delta_offset=True, delta_timestamp=True)


@covers("BATCH-7", "BATCH-8")
def test_batch_encoder_rules() -> None:
    with pytest.raises(EncodeError):
        encode_batch(Batch(events=()))
    with pytest.raises(EncodeError):  # layout claims homogeneity the events do not have
        encode_batch(Batch(events=(ev(), ev(event_type_id=2)), layout=BatchLayout(same_event_type_id=True)))
    many = tuple(ev(offset=i, key=b"meter-%03d" % (i % 10)) for i in range(200))
    assert encode_batch(Batch(events=many))[0] & 0x40  # repetitive: gzip wins
    assert not encode_batch(Batch(events=(ev(),)))[0] & 0x40  # tiny: gzip header costs more


@covers("BATCH-9", "BATCH-4")
def test_delta_range() -> None:
    extreme = (ev(offset=(1 << 64) - 1), ev(offset=0))
    assert decode_batch(encode_batch(Batch(events=extreme))).events == extreme
    with pytest.raises(e.ValueOutOfRange):
        decode_batch(bytes.fromhex("040001010101010101016b01010101010164"))


@covers("LIMIT-3", "BATCH-6")
def test_decompression_bomb_is_refused_without_inflating_it() -> None:
    import tracemalloc
    import zlib

    body = bytes(64 * 1024 * 1024)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"\x7f\x01\x01\x01\x01\x01\x01" + packer.compress(body) + packer.flush()
    del body
    tracemalloc.start()
    with pytest.raises(e.LimitExceeded) as info:
        decode_batch(bomb, limits=Limits(max_decompressed_size=1024 * 1024))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.value.requirement == "LIMIT-3"
    assert peak < 8 * 1024 * 1024, f"peak allocation {peak} bytes while refusing a 64 MiB bomb"


@covers("LIMIT-4")
def test_event_count_limit_checked_before_columns() -> None:
    with pytest.raises(e.LimitExceeded) as info:
        decode_batch(bytes.fromhex("3f010100010100") + b"\xff\xff\xff\xff\x0f")
    assert info.value.requirement == "LIMIT-4"
