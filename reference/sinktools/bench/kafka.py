"""A Kafka RecordBatch (magic 2) encoder, for the offline yardstick of ``sink bench wire --profile meter-series``.

Written from the Kafka protocol documentation ("Message Format", Kafka 3.x
and later): the batch header (baseOffset int64, batchLength int32,
partitionLeaderEpoch int32, magic int8 = 2, crc uint32, attributes int16,
lastOffsetDelta int32, baseTimestamp int64, maxTimestamp int64, producerId
int64, producerEpoch int16, baseSequence int32, recordsCount int32), then
the records, compressed as one block when the attributes name a codec
(bits 0-2: 4 is zstd). The CRC is CRC-32C (Castagnoli) of everything after
it. A record is: length (zigzag varint), attributes int8, timestampDelta
(zigzag varlong), offsetDelta (zigzag varint), key and value (zigzag varint
length, -1 for null, then the bytes), header count and headers (key and
value the same way). All integers big-endian.

How a Sink event is carried, so that the batch holds the same information:
key = the event's key, value = its ``event_data`` (the Avro bytes),
timestamp = its ``timestamp`` in milliseconds, and its ``offset`` (the
per-key sequence Sink keeps; Kafka's own offsets are the broker's) as one
record header ``o`` holding the offset as a zigzag varint. The event type
and schema version are the topic's (a topic per type and version), so not
in the batch. Only the RecordBatch is counted: not the ProduceRequest
around it, nor TCP/IP or TLS.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from sinkproto.messages import Event
from sinkproto.primitives import varint_bytes, zigzag_encode

__all__ = ["ZSTD", "ZSTD_LEVEL", "crc32c", "record_batch"]

ZSTD = 4  # attributes bits 0-2
ZSTD_LEVEL = 3  # the producer's default zstd level (compression.zstd.level, KIP-390)


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # the Castagnoli polynomial, reflected
        table.append(c)
    return tuple(table)


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as Kafka's RecordBatch uses; crc32c(b"123456789") == 0xE3069283."""
    c = 0xFFFFFFFF
    for byte in data:
        c = _TABLE[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _varint(value: int) -> bytes:
    """Kafka's varint/varlong: zigzag, then 7 bits a byte, low first: Sink's own (CONV-1, CONV-8)."""
    return varint_bytes(zigzag_encode(value), wide=True)


def _bytes(value: bytes | None) -> bytes:
    return _varint(-1) if value is None else _varint(len(value)) + value


def _record(event: Event, offset_delta: int, base_timestamp: int) -> bytes:
    header = _bytes(b"o") + _bytes(_varint(event.offset))
    body = (
        b"\x00"  # record attributes: unused
        + _varint(event.timestamp * 1000 - base_timestamp)
        + _varint(offset_delta)
        + _bytes(event.key)
        + _bytes(event.event_data)
        + _varint(1)
        + header
    )
    return _varint(len(body)) + body


def record_batch(events: Sequence[Event], *, compression: int = ZSTD, level: int = ZSTD_LEVEL) -> bytes:
    """The events as one RecordBatch v2, records compressed with zstd (``compression`` 4) or not (0)."""
    if not events:
        raise ValueError("a RecordBatch holds at least one record")
    base_timestamp = events[0].timestamp * 1000
    max_timestamp = max(e.timestamp for e in events) * 1000
    records = b"".join(_record(e, i, base_timestamp) for i, e in enumerate(events))
    if compression == ZSTD:
        import zstandard

        records = zstandard.ZstdCompressor(level=level).compress(records)
    elif compression != 0:
        raise ValueError(f"compression {compression}: only none (0) and zstd (4) here")
    after_crc = (
        struct.pack(
            ">hiqqqhii",
            compression,  # attributes: the codec, create time, not transactional, not control
            len(events) - 1,  # lastOffsetDelta
            base_timestamp,
            max_timestamp,
            -1,  # producerId: no idempotent producer
            -1,  # producerEpoch
            -1,  # baseSequence
            len(events),  # recordsCount
        )
        + records
    )
    after_length = struct.pack(">ibI", 0, 2, crc32c(after_crc)) + after_crc  # partitionLeaderEpoch, magic, crc
    return struct.pack(">qi", 0, len(after_length)) + after_length  # baseOffset, batchLength
