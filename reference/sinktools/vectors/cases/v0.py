"""The sources of the golden vectors: every case, built deterministically.

Valid cases are written as logical values (and a few as literal bytes taken
from the field implementation's wire captures); their bytes come from the
reference encoder and are cross-checked against the field implementation's
own bytes and the Kaitai parsers by the test suite. Invalid cases are crafted
bytes whose error class is decided here, from the spec, never by asking the
decoder. IDs are semantic and stable: never renumber, never reuse.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sinkproto import construct_codec as codec
from sinkproto.batchrules import canonical_layout, gzip_body
from sinkproto.jsonform import LAYOUT_FLAGS
from sinkproto.messages import (
    Ack,
    Batch,
    BatchLayout,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Nack,
    NackPayload,
    Ping,
    Pong,
    Publish,
    Response,
)
from sinkproto.primitives import varint_bytes

from ..builder import Builder
from ..model import Case, StreamValue

__all__ = ["build_all", "FILE_DESCRIPTIONS"]

FILE_DESCRIPTIONS = {
    "connection_request": "CONNECTION_REQUEST frames (type 0): the client's first frame.",
    "connection_response": "CONNECTION_RESPONSE frames (type 1): every response code.",
    "ack": "ACK frames (type 3).",
    "publish": "PUBLISH frames (type 4) carrying one event.",
    "nack": "NACK frames (type 7).",
    "ping": "PING frames (type 5).",
    "pong": "PONG frames (type 6).",
    "frame": "Frame-level cases that belong to no one message type: empty frames, unknown types, size limits.",
    "event": "PUBLISH payloads (one event) on their own, including varints at every 7-bit boundary.",
    "nack_payload": "NACK payloads on their own (also the quarantined response payload).",
    "batch": "Column batches: every flag combination, compressed and not, and malformed batches.",
    "stream": "Byte streams of 2-byte length-prefixed frames, for the deframer.",
}

APP = b"1.0.0"
TS = 1_700_000_000
BOUNDARIES = sorted(
    {0, 1}
    | {(1 << (7 * k)) - 1 for k in range(1, 10)}
    | {1 << (7 * k) for k in range(1, 10)}
    | {(1 << 63), (1 << 64) - 1}
)


def ev(**kw: Any) -> Event:
    base: dict[str, Any] = {
        "event_type_id": 1,
        "schema_version": 1,
        "key": b"k",
        "offset": 1,
        "timestamp": TS,
        "event_data": b"d",
    }
    base.update(kw)
    return Event(**base)


# -- frames ------------------------------------------------------------------------------


def connection_request() -> Builder:
    b = Builder("connection_request")
    r = ["CONN-1", "FRAME-1", "CONV-6", "CONV-7"]
    b.valid(
        "connection_request.field-example",
        "The field facts' example: version 0, app 'v1.0.0', client instance id 1, no server instance id.",
        r,
        ConnectionRequest(app_version=b"v1.0.0", client_instance_id=1),
        data=bytes.fromhex("000676312e302e3000000001"),
    )
    b.valid(
        "connection_request.field-capture",
        "Captured from a real field client: app '1.0.0', client instance id 0x1234, no server instance id.",
        r,
        ConnectionRequest(app_version=APP, client_instance_id=0x1234),
        data=bytes.fromhex("0005312e302e3000001234"),
    )
    with_server = b.valid(
        "connection_request.with-server-instance-id",
        "A client that completed a handshake before sends the server instance id it was given.",
        [*r, "CONN-3"],
        ConnectionRequest(app_version=APP, client_instance_id=0x1234, server_instance_id=1000),
    )
    for cid in (0, 0xFFFF_FFFF):
        for sid in (None, 0, 0xFFFF_FFFF):
            b.valid(
                f"connection_request.instance-ids.client-{cid}.server-{'absent' if sid is None else sid}",
                f"Boundary instance ids: client {cid}, server {'absent' if sid is None else sid}.",
                [*r, "CONN-3"],
                ConnectionRequest(app_version=APP, client_instance_id=cid, server_instance_id=sid),
            )
    b.valid(
        "connection_request.app-version.empty",
        "An empty application version.",
        r,
        ConnectionRequest(app_version=b"", client_instance_id=7),
    )
    b.valid(
        "connection_request.app-version.utf8",
        "A non-ASCII UTF-8 application version ('ü-1').",
        r,
        ConnectionRequest(app_version="ü-1".encode(), client_instance_id=7),
    )
    b.valid(
        "connection_request.app-version.200-bytes",
        "A 200-byte application version: a 2-byte chunk length.",
        r,
        ConnectionRequest(app_version=b"x" * 200, client_instance_id=7),
    )
    b.valid(
        "connection_request.app-version.padded-length",
        "The app_version length written as a 2-byte non-minimal varint (0x85 0x00): decoders accept it, encoders never emit it.",
        [*r, "CONV-3"],
        ConnectionRequest(app_version=APP, client_instance_id=1),
        data=bytes.fromhex("008500312e302e3000000001"),
        canonical=False,
    )
    b.acceptable(
        "connection_request.app-version.not-utf8",
        "app_version is not UTF-8: accepted as bytes by default, rejected as invalid_utf8 by a decoder set to strict_utf8.",
        [*r, "ERR-9"],
        ConnectionRequest(app_version=b"\xff\xfe", client_instance_id=1),
        bytes.fromhex("0002fffe00000001"),
        "invalid_utf8",
        {"strict_utf8": False},
    )
    for version in (1, 2, 15):
        b.invalid(
            f"connection_request.version.{version}",
            f"A connection request for protocol version {version}: recognised, payload not parsed; the server answers unsupported_protocol_version.",
            ["CONN-2"],
            bytes([version]) + bytes.fromhex("0005312e302e3000000001"),
            "unsupported_version",
        )
    base = bytes.fromhex("0005312e302e3000001234")
    for extra in (1, 2, 3):
        b.invalid(
            f"connection_request.server-instance-id.{extra}-bytes",
            f"{extra} bytes after client_instance_id: a server_instance_id is either absent or 4 bytes.",
            ["CONN-3"],
            base + b"\x00" * extra,
            "truncated",
        )
    b.invalid(
        "connection_request.trailing-byte",
        "A byte after the server_instance_id.",
        ["CONN-3"],
        with_server + b"\x00",
        "trailing_bytes",
    )
    b.invalid(
        "connection_request.app-version.length-past-end",
        "The app_version chunk announces more bytes than the frame holds.",
        ["CONV-6"],
        bytes.fromhex("0020312e302e3000001234"),
        "truncated",
    )
    b.invalid(
        "connection_request.app-version.overlong-length",
        "The app_version length is an 11-byte varint.",
        ["CONV-4", "LIMIT-2"],
        b"\x00" + b"\x80" * 10 + b"\x00" + bytes(4),
        "overlong_varint",
    )
    b.invalid(
        "connection_request.app-version.length-overflow",
        "The app_version length is a 10-byte varint above 2^64-1.",
        ["CONV-5"],
        b"\x00" + b"\x80" * 9 + b"\x02" + bytes(4),
        "varint_overflow",
    )
    # Cutting the 4-byte server_instance_id off whole leaves a valid request without it.
    b.truncations(
        "connection_request", with_server, ["CONN-1", "CONN-3", "CONV-6"], valid_prefixes={len(with_server) - 4}
    )
    return b


def connection_response() -> Builder:
    b = Builder("connection_response")
    for code in (
        Response.CONNECTED,
        Response.INSTANCE_ID_MISMATCH,
        Response.UNSUPPORTED_PROTOCOL_VERSION,
        Response.UNSUPPORTED_APPLICATION_VERSION,
    ):
        data = b.valid(
            f"connection_response.{code.wire_name}",
            f"The {code.wire_name} response: a single byte, no payload.",
            ["CONN-4", "CONN-6"],
            ConnectionResponse(response=code),
            data=bytes([0x10 | code]),
        )
        b.invalid(
            f"connection_response.{code.wire_name}.trailing-byte",
            f"{code.wire_name} followed by a byte: it carries no payload.",
            ["CONN-6"],
            data + b"\x00",
            "trailing_bytes",
        )
    for sid in (0, 1, 1000, 0xFFFF_FFFF):
        hello = b.valid(
            f"connection_response.hello_new_client.{sid}",
            f"hello_new_client assigning server instance id {sid}.",
            ["CONN-4", "CONN-5", "CONV-7"],
            ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=sid),
        )
    b.invalid(
        "connection_response.hello_new_client.trailing-byte",
        "hello_new_client with 5 payload bytes.",
        ["CONN-5"],
        hello + b"\x00",
        "trailing_bytes",
    )
    b.truncations("connection_response.hello_new_client", hello, ["CONN-5"])
    for name, machine, human in (
        ("empty", b"", b""),
        ("maintenance", b"q", b"maintenance"),
        ("binary-machine-utf8-human", b"\x00\xff", "désolé".encode()),
    ):
        q = b.valid(
            f"connection_response.quarantined.{name}",
            "quarantined with chunk(machine_message) and human_message to the end.",
            ["CONN-4", "CONN-7", "NACK-2"],
            ConnectionResponse(response=Response.QUARANTINED, machine_message=machine, human_message=human),
        )
    b.truncations("connection_response.quarantined", q[:4], ["CONN-7", "CONV-6"])
    b.acceptable(
        "connection_response.quarantined.human-not-utf8",
        "A quarantined human_message that is not UTF-8: bytes by default, invalid_utf8 under strict_utf8.",
        ["CONN-7", "ERR-9"],
        ConnectionResponse(response=Response.QUARANTINED, machine_message=b"q", human_message=b"\xc3("),
        bytes.fromhex("130171c328"),
        "invalid_utf8",
        {"strict_utf8": False},
    )
    for number in range(6, 16):
        b.invalid(
            f"connection_response.code.{number}",
            f"Response code {number} is not defined in v0.",
            ["CONN-4"],
            bytes([0x10 | number]),
            "unknown_response_code",
        )
    return b


def ack() -> Builder:
    b = Builder("ack")
    for mid in (0, 1, 255, 256, 0x31A, 4095):
        data = b.valid(f"ack.message-id.{mid}", f"ACK of message id {mid}.", ["ACK-1", "FRAME-2"], Ack(message_id=mid))
    b.invalid("ack.truncated-at-1", "An ACK cut after its first byte.", ["FRAME-4"], data[:1], "truncated")
    b.invalid("ack.trailing-byte", "An ACK of 3 bytes.", ["FRAME-4"], data + b"\x00", "trailing_bytes")
    return b


PUBLISH_EVENT = Event(
    event_type_id=7,
    schema_version=2,
    key=b"SM5R-000123",
    offset=48211,
    timestamp=1709294402,
    event_data=bytes.fromhex("30fce1ef87e763476ce27d378148e1b3"),
)


def publish() -> Builder:
    b = Builder("publish")
    b.valid(
        "publish.field-capture",
        "Captured from a real field client: message id 0x31a, event type 1, schema 1, key 'cap-1', offset 7.",
        ["PUB-1", "FRAME-2"],
        Publish(
            message_id=0x31A,
            event=Event(event_type_id=1, schema_version=1, key=b"cap-1", offset=7, timestamp=TS, event_data=b"x"),
        ),
        data=bytes.fromhex("431a010105636170 2d310780e2cfaa060178".replace(" ", "")),
    )
    for mid in (0, 258, 4095):
        data = b.valid(
            f"publish.message-id.{mid}",
            f"A meter reading published under message id {mid}.",
            ["PUB-1", "FRAME-2"],
            Publish(message_id=mid, event=PUBLISH_EVENT),
        )
    b.valid(
        "publish.key.empty",
        "An event with an empty key and empty event_data.",
        ["PUB-1", "PUB-3"],
        Publish(message_id=1, event=ev(key=b"", event_data=b"")),
    )
    header_and_fields = 2 + 1 + 1 + 1 + 1 + 1 + 5 + 3  # header, ids, key chunk, offset, timestamp, data length
    big = Publish(message_id=9, event=ev(event_data=bytes(range(256)) * 255 + bytes(65535 - header_and_fields - 65280)))
    frame65535 = b.valid(
        "publish.frame-size.65535",
        "A PUBLISH frame of exactly 65,535 bytes, the largest a stream can carry.",
        ["STREAM-2", "LIMIT-1", "PUB-1"],
        big,
    )
    assert len(frame65535) == 65535, len(frame65535)
    b.invalid(
        "publish.frame-size.over-configured-limit",
        "The same 65,535-byte frame against a receiver configured with max_frame_size=65534.",
        ["LIMIT-1", "LIMIT-6"],
        frame65535,
        "limit_exceeded",
        limits={"max_frame_size": 65534},
    )
    b.invalid(
        "publish.trailing-byte",
        "A byte after event_data: the payload must end exactly there.",
        ["PUB-2"],
        data + b"\x00",
        "trailing_bytes",
    )
    b.invalid(
        "publish.key.over-configured-limit",
        "An 11-byte key against max_key_size=10.",
        ["LIMIT-5"],
        data,
        "limit_exceeded",
        limits={"max_key_size": 10},
    )
    b.invalid(
        "publish.event-data.over-configured-limit",
        "16 bytes of event_data against max_event_data_size=15.",
        ["LIMIT-5"],
        data,
        "limit_exceeded",
        limits={"max_event_data_size": 15},
    )
    b.truncations("publish", data, ["PUB-1", "CONV-6", "FRAME-2"])
    return b


def nack() -> Builder:
    b = Builder("nack")
    for mid in (0, 4095):
        data = b.valid(
            f"nack.message-id.{mid}",
            f"NACK of message id {mid} with machine 'E42' and human 'bad reading'.",
            ["NACK-1", "NACK-2", "FRAME-2"],
            Nack(message_id=mid, machine_message=b"E42", human_message=b"bad reading"),
        )
    b.valid(
        "nack.messages.empty",
        "A NACK with empty machine and human messages.",
        ["NACK-1"],
        Nack(message_id=5, machine_message=b"", human_message=b""),
    )
    b.truncations("nack", data[:6], ["NACK-1", "CONV-6"])
    return b


def keepalive(kind: str, cls: type[Ping] | type[Pong], type_nibble: int) -> Builder:
    b = Builder(kind)
    data = b.valid(
        f"{kind}.canonical",
        f"{kind.upper()} as the field sends it: the 12 bits are 0.",
        ["FRAME-5", "FRAME-4"],
        cls(),
        data=bytes([type_nibble << 4, 0]),
    )
    for bits in (0xABC, 0xFFF):
        b.valid(
            f"{kind}.ignored-bits.{bits:03x}",
            f"{kind.upper()} whose 12 bits are {bits:#05x}: ignored on receipt.",
            ["FRAME-5"],
            cls(),
            data=bytes([type_nibble << 4 | bits >> 8, bits & 0xFF]),
            canonical=False,
        )
    b.invalid(f"{kind}.truncated-at-1", f"A {kind.upper()} of one byte.", ["FRAME-4"], data[:1], "truncated")
    b.invalid(
        f"{kind}.trailing-byte",
        f"A {kind.upper()} of 3 bytes: the field implementation cannot decode it.",
        ["FRAME-4"],
        data + b"\x00",
        "trailing_bytes",
    )
    return b


def frame() -> Builder:
    b = Builder("frame")
    b.invalid(
        "frame.empty",
        "A zero-length frame carries nothing; a decoder reports it as truncated.",
        ["STREAM-3"],
        b"",
        "truncated",
    )
    for t in (2, *range(8, 16)):
        b.invalid(
            f"frame.type.{t}", f"Frame type {t} is not defined in v0.", ["FRAME-3"], bytes([t << 4, 0]), "unknown_type"
        )
    b.invalid("frame.type.2.alone", "A lone byte of reserved type 2.", ["FRAME-3"], b"\x20", "unknown_type")
    b.invalid(
        "frame.size.over-configured-limit",
        "A 3-byte NACK against max_frame_size=2.",
        ["LIMIT-1"],
        bytes.fromhex("700000"),
        "limit_exceeded",
        limits={"max_frame_size": 2},
    )
    b.invalid(
        "frame.size.over-configured-limit.unknown-type",
        "The 3-byte frame 2f ff 00 (type 2) against max_frame_size=2: "
        "the frame's size is checked before its first byte, so limit_exceeded, not unknown_type.",
        ["LIMIT-1", "ERR-2", "FRAME-3"],
        bytes.fromhex("2fff00"),
        "limit_exceeded",
        limits={"max_frame_size": 2},
    )
    return b


# -- payloads -------------------------------------------------------------------------------


def event() -> Builder:
    b = Builder("event")
    for name in ("event_type_id", "schema_version", "offset", "timestamp"):
        for value in BOUNDARIES:
            b.valid(
                f"event.{name.replace('_', '-')}.{value}",
                f"{name} = {value} ({len(varint_bytes(value))}-byte varint).",
                ["PUB-1", "CONV-1", "CONV-2"],
                ev(**{name: value}),
            )
    for size in (0, 1, 127, 128, 300):
        b.valid(
            f"event.key.{size}-bytes",
            f"A key of {size} bytes.",
            ["PUB-1", "PUB-3", "CONV-6"],
            ev(key=bytes(i % 251 for i in range(size))),
        )
        b.valid(
            f"event.event-data.{size}-bytes",
            f"event_data of {size} bytes.",
            ["PUB-1", "PUB-3", "CONV-6"],
            ev(event_data=bytes((i * 7) % 256 for i in range(size))),
        )
    b.valid(
        "event.padded-varint.offset",
        "offset 1 written as 0x81 0x00 (non-minimal): accepted, never emitted.",
        ["CONV-3"],
        ev(),
        data=bytes.fromhex("0101016b810080e2cfaa060164"),
        canonical=False,
    )
    b.valid(
        "event.padded-varint.10-bytes",
        "event_type_id 0 as a 10-byte non-minimal varint: the longest allowed.",
        ["CONV-3", "LIMIT-2"],
        ev(event_type_id=0),
        data=b"\x80" * 9 + b"\x00" + bytes.fromhex("01016b0180e2cfaa060164"),
        canonical=False,
    )
    good = codec.encode_event(ev())
    b.invalid(
        "event.varint.overlong",
        "event_type_id as an 11-byte varint.",
        ["CONV-4", "LIMIT-2"],
        b"\x80" * 10 + b"\x00" + good[1:],
        "overlong_varint",
    )
    b.invalid(
        "event.varint.overflow",
        "event_type_id = 2^64 as a 10-byte varint.",
        ["CONV-5"],
        b"\x80" * 9 + b"\x02" + good[1:],
        "varint_overflow",
    )
    b.invalid(
        "event.varint.over-configured-length",
        "A 6-byte timestamp varint against max_varint_bytes=5.",
        ["LIMIT-2", "LIMIT-6"],
        codec.encode_event(ev(timestamp=1 << 35)),
        "limit_exceeded",
        limits={"max_varint_bytes": 5},
    )
    b.invalid("event.trailing-byte", "A byte after event_data.", ["PUB-2"], good + b"\x00", "trailing_bytes")
    b.invalid(
        "event.key.length-past-end",
        "The key chunk announces 100 bytes.",
        ["CONV-6"],
        bytes.fromhex("010164") + good[3:],
        "truncated",
    )
    b.invalid(
        "event.key.over-configured-limit",
        "A 1-byte key against max_key_size=0.",
        ["LIMIT-5"],
        good,
        "limit_exceeded",
        limits={"max_key_size": 0},
    )
    b.truncations("event", good, ["PUB-1", "CONV-6"])
    # LIMIT-2 is decided at the byte at the limit: nothing after it is read, so the end of the input there is no truncation.
    b.invalid(
        "event.varint.at-configured-limit.end-of-input",
        "schema_version's 6th byte has bit 7 set and is the input's "
        "last byte, against max_varint_bytes=6: limit_exceeded at that byte, not truncated.",
        ["LIMIT-2", "LIMIT-6", "ERR-2"],
        bytes.fromhex("ffffffff7fffffffffffff"),
        "limit_exceeded",
        limits={"max_varint_bytes": 6},
    )
    b.invalid(
        "event.varint.at-default-limit.end-of-input",
        "event_type_id's 10th byte has bit 7 set and is the input's last "
        "byte: overlong_varint at that byte, not truncated.",
        ["CONV-4", "LIMIT-2", "ERR-2"],
        b"\xff" * 10,
        "overlong_varint",
    )
    return b


def nack_payload() -> Builder:
    b = Builder("nack_payload")
    for name, machine, human in (
        ("empty", b"", b""),
        ("machine-only", b"E42", b""),
        ("human-only", b"", b"text"),
        ("binary-machine-utf8-human", b"\x00\xff", "ünicode".encode()),
    ):
        b.valid(
            f"nack_payload.{name}",
            "chunk(machine_message) then human_message to the end.",
            ["NACK-1", "NACK-2"],
            NackPayload(machine_message=machine, human_message=human),
        )
    b.invalid(
        "nack_payload.empty-input",
        "No bytes at all: the machine_message chunk is missing.",
        ["NACK-1", "CONV-6"],
        b"",
        "truncated",
    )
    b.invalid(
        "nack_payload.machine.length-past-end",
        "machine_message announces 5 bytes, 2 follow.",
        ["CONV-6"],
        bytes.fromhex("054534"),
        "truncated",
    )
    b.acceptable(
        "nack_payload.human-not-utf8",
        "A human_message that is not UTF-8.",
        ["NACK-2", "ERR-9"],
        NackPayload(machine_message=b"", human_message=b"\xff"),
        b"\x00\xff",
        "invalid_utf8",
        {"strict_utf8": False},
    )
    # ERR-9: strict mode checks app_version and human_message only; machine_message is opaque bytes (NACK-2).
    b.valid(
        "nack_payload.machine-not-utf8.strict",
        "machine_message 83 (not UTF-8) under strict_utf8: machine_message is bytes, which strict mode does not check.",
        ["NACK-2", "ERR-9"],
        NackPayload(machine_message=b"\x83", human_message=b"\x03"),
        limits={"strict_utf8": True},
    )
    return b


# -- batches ---------------------------------------------------------------------------------

UNIFORM = tuple(
    Event(
        event_type_id=3,
        schema_version=2,
        key=f"m{i}".encode(),
        offset=10 + i,
        timestamp=TS + 60 * i,
        event_data=bytes([97 + i]) * 2,
    )
    for i in range(3)
)


def _layout_name(layout: BatchLayout) -> str:
    return f"{layout.to_byte():02x}"


def _meter_events() -> tuple[Event, ...]:
    rng = random.Random(20261128)
    events = []
    for _i in range(100):
        meter = rng.randrange(1_000_000)
        events.append(
            Event(
                event_type_id=1,
                schema_version=1,
                key=f"SM5R-{meter:06d}".encode(),
                offset=48_200 + rng.randrange(100),
                timestamp=1_709_294_400 + rng.randrange(900),
                event_data=bytes(rng.randrange(256) for _ in range(16)),
            )
        )
    return tuple(events)


def batch() -> Builder:
    b = Builder("batch")
    canonical = canonical_layout(UNIFORM)
    for header in range(128):
        layout = BatchLayout.from_byte(header)
        b.valid(
            f"batch.layout.{_layout_name(layout)}",
            "Three events that share type, schema, key length and data length, in layout "
            + ", ".join(n for n in LAYOUT_FLAGS if getattr(layout, n))
            + (" (no flags)" if header == 0 else "")
            + ".",
            ["BATCH-1", "BATCH-2", "BATCH-3", "BATCH-4", "BATCH-5"]
            + (["BATCH-6", "BATCH-10"] if layout.compressed else []),
            Batch(events=UNIFORM, layout=layout),
            canonical=layout == canonical,
        )
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
    hetero_bytes = b.valid(
        "batch.heterogeneous",
        "Nothing shared: every column present (the spec's worked example).",
        ["BATCH-3", "BATCH-4", "BATCH-7"],
        Batch(events=hetero, layout=canonical_layout(hetero)),
        data=bytes.fromhex("0604ed85cc830602020102020609020203050203030405020004020002020102050708"),
    )
    b.valid(
        "batch.single",
        "A one-event batch: every same_* flag set.",
        ["BATCH-7"],
        Batch(events=(ev(),), layout=canonical_layout((ev(),))),
    )
    neg = (ev(offset=1000, timestamp=TS + 900), ev(offset=10, timestamp=TS), ev(offset=500, timestamp=TS + 500))
    b.valid(
        "batch.negative-deltas",
        "Offsets and timestamps that go down: negative zigzag deltas.",
        ["BATCH-4", "CONV-8"],
        Batch(events=neg, layout=canonical_layout(neg)),
    )
    empty = (ev(key=b"", event_data=b""), ev(key=b"", event_data=b"", offset=2))
    b.valid(
        "batch.empty-key-and-data",
        "Homogeneous zero-length keys and data.",
        ["BATCH-5", "PUB-3"],
        Batch(events=empty, layout=canonical_layout(empty)),
    )
    huge = (
        ev(event_type_id=1 << 63, schema_version=1 << 32, offset=(1 << 64) - 2, timestamp=1 << 40),
        ev(event_type_id=1 << 63, schema_version=1 << 32, offset=(1 << 64) - 1, timestamp=(1 << 40) + 1),
    )
    b.valid(
        "batch.huge-values",
        "Values near 2^64.",
        ["BATCH-2", "CONV-1"],
        Batch(events=huge, layout=canonical_layout(huge)),
    )
    extreme = (ev(offset=(1 << 64) - 1, timestamp=0), ev(offset=0, timestamp=(1 << 64) - 1))
    b.valid(
        "batch.extreme-deltas",
        "Deltas of -(2^64-1) and +(2^64-1): zigzag values need 65 bits, still within 10 varint bytes.",
        ["BATCH-4", "BATCH-9"],
        Batch(events=extreme, layout=canonical_layout(extreme)),
    )
    meter = _meter_events()
    b.valid(
        "batch.meter-100",
        "100 meter readings in one 15-minute window: gzip makes the body smaller, so it is compressed.",
        ["BATCH-6", "BATCH-7", "BATCH-10"],
        Batch(events=meter, layout=canonical_layout(meter, compressed=True)),
    )
    rng = random.Random(7)
    rand = tuple(
        Event(
            event_type_id=rng.randrange(1, 5),
            schema_version=1,
            key=rng.randbytes(8),
            offset=rng.randrange(1 << 20),
            timestamp=TS + rng.randrange(100_000),
            event_data=rng.randbytes(60),
        )
        for _ in range(50)
    )
    b.valid(
        "batch.random-50",
        "50 random events: gzip would not make the body smaller, so it is not compressed.",
        ["BATCH-7"],
        Batch(events=rand, layout=canonical_layout(rand)),
    )

    # -- invalid batches: crafted bytes, error classes from the spec --------------------------
    uniform = codec.encode_batch(Batch(events=UNIFORM, layout=canonical))  # 0x3f layout, uncompressed
    b.invalid("batch.empty-input", "No bytes at all.", ["BATCH-1"], b"", "truncated")
    b.invalid(
        "batch.reserved-bit", "Header bit 7 set.", ["BATCH-1"], bytes([uniform[0] | 0x80]) + uniform[1:], "reserved_bit"
    )
    b.invalid(
        "batch.reserved-bit.alone",
        "Header 0x80 and nothing else: bit 7 is checked first.",
        ["BATCH-1"],
        b"\x80",
        "reserved_bit",
    )
    b.invalid(
        "batch.count.zero",
        "A batch announcing 0 events.",
        ["BATCH-8"],
        bytes.fromhex("000000000000000000"),
        "inconsistent_batch",
    )
    # layout 0x00, count 2, but 1 value in each column
    b.invalid(
        "batch.column.too-short",
        "count 2 but the event_type_ids column holds one value.",
        ["BATCH-3", "BATCH-5"],
        bytes.fromhex("00020101020101020101026b6b0201010201010201016464"),
        "inconsistent_batch",
    )
    b.invalid(
        "batch.keys.length-mismatch",
        "key_lengths add up to 2 but the keys chunk holds 3 bytes.",
        ["BATCH-11"],
        bytes.fromhex("0002020101020101020101036b6b6b0201010201010201016464"),
        "inconsistent_batch",
    )
    b.invalid(
        "batch.keys.not-divisible",
        "same_key_length 2 for 2 events but 3 bytes of keys.",
        ["BATCH-5"],
        bytes.fromhex("080202020101020101036b6b6b0201010201010201016464"),
        "inconsistent_batch",
    )
    b.invalid(
        "batch.event-data.short",
        "event_data_lengths add up to 2 but 1 byte of data follows.",
        ["BATCH-11"],
        bytes.fromhex("0002020101020101020101026b6b02010102010102010164"),
        "inconsistent_batch",
    )
    b.invalid(
        "batch.column.varint-cut",
        "The offsets column's chunk ends inside a varint: the chunk is whole, its content is not.",
        ["BATCH-3", "BATCH-5"],
        bytes.fromhex("0001010101010101016b01800101010164"),
        "inconsistent_batch",
    )
    b.invalid(
        "batch.header.overlong-varint",
        "The header event_type_id is an 11-byte varint.",
        ["CONV-4", "BATCH-2"],
        b"\x20" + b"\x80" * 10 + b"\x01",
        "overlong_varint",
    )
    b.invalid(
        "batch.header.varint-overflow",
        "The header offset is 2^64.",
        ["CONV-5", "BATCH-2"],
        b"\x04" + b"\x80" * 9 + b"\x02",
        "varint_overflow",
    )
    b.invalid(
        "batch.plain-column.varint-overflow",
        "A plain (non-delta) offsets column holding 2^64.",
        ["CONV-5", "BATCH-3"],
        bytes.fromhex("0001010101010101016b") + b"\x0a" + b"\x80" * 9 + b"\x02" + bytes.fromhex("0101010164"),
        "varint_overflow",
    )
    b.invalid(
        "batch.delta.below-zero",
        "delta_offset from header 0 with a delta of -1.",
        ["BATCH-9"],
        bytes.fromhex("040001010101010101016b01010101010164"),
        "value_out_of_range",
    )
    b.invalid(
        "batch.delta.above-2-64",
        "delta_offset from header 2^64-1 with a delta of +1.",
        ["BATCH-9"],
        b"\x04" + b"\xff" * 9 + b"\x01" + bytes.fromhex("01010101010101016b01020101010164"),
        "value_out_of_range",
    )
    b.invalid(
        "batch.count.over-limit",
        "A batch announcing 2^32 events, everything homogeneous.",
        ["LIMIT-4"],
        bytes.fromhex("3f 01 01 00 01 01 00 8080808010 00 00 00".replace(" ", "")),
        "limit_exceeded",
    )
    b.invalid(
        "batch.count.over-configured-limit",
        "Three events against max_batch_events=2.",
        ["LIMIT-4"],
        uniform,
        "limit_exceeded",
        limits={"max_batch_events": 2},
    )
    b.invalid(
        "batch.key.over-configured-limit",
        "2-byte keys against max_key_size=1.",
        ["LIMIT-5"],
        uniform,
        "limit_exceeded",
        limits={"max_key_size": 1},
    )
    head = bytes([0x40 | 0x3F]) + uniform[1 : _header_end(uniform)]
    body = uniform[_header_end(uniform) :]
    b.invalid(
        "batch.gzip.not-gzip", "Bit 6 set but the body is not gzip data.", ["BATCH-6"], head + body, "bad_compression"
    )
    packed = gzip_body(body)
    b.invalid("batch.gzip.cut", "A gzip member cut short.", ["BATCH-6"], head + packed[:-6], "bad_compression")
    b.invalid(
        "batch.gzip.trailing-bytes",
        "Bytes after the gzip member.",
        ["BATCH-6"],
        head + packed + b"\x00",
        "bad_compression",
    )
    b.invalid(
        "batch.gzip.two-members",
        "Two gzip members: a body is one member.",
        ["BATCH-6"],
        head + packed + packed,
        "bad_compression",
    )
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb_data = bomb.compress(bytes(16 * 1024 * 1024)) + bomb.flush()
    b.invalid(
        "batch.gzip.bomb",
        "16 MiB of zeros in 16 KiB of gzip: refused by max_decompressed_size (8 MiB) while inflating.",
        ["LIMIT-3", "SEC-2"],
        head + bomb_data,
        "limit_exceeded",
    )
    b.invalid(
        "batch.gzip.over-configured-limit",
        f"A {len(body)}-byte body against max_decompressed_size={len(body) - 1}.",
        ["LIMIT-3"],
        head + packed,
        "limit_exceeded",
        limits={"max_decompressed_size": len(body) - 1},
    )
    # BATCH-3: event_data runs to the end of the body, so a cut inside it is a
    # length disagreement, not a truncation; everywhere before, it is truncated.
    data_start = len(hetero_bytes) - 3
    for cut in range(len(hetero_bytes)):
        b.invalid(
            f"batch.truncated-at-{cut}",
            f"The first {cut} bytes of the heterogeneous batch.",
            ["BATCH-3", "CONV-6", "BATCH-5"],
            hetero_bytes[:cut],
            "truncated" if cut < data_start else "inconsistent_batch",
        )
    # LIMIT-2 at the byte at the limit, where a column chunk or the input ends (ERR-2: the varint's verdict comes first).
    columns = bytes.fromhex("0001010101010101016b0101")
    b.invalid(
        "batch.column.varint-at-configured-limit",
        "The timestamps column is 80 80 80 80 80 80: its varint has bit 7 set "
        "on its 6th byte, the chunk's last, against max_varint_bytes=6: limit_exceeded, not inconsistent_batch.",
        ["LIMIT-2", "BATCH-3", "ERR-2"],
        columns + b"\x06" + b"\x80" * 6 + bytes.fromhex("010164"),
        "limit_exceeded",
        limits={"max_varint_bytes": 6},
    )
    b.invalid(
        "batch.column.varint-at-default-limit",
        "The timestamps column is ten 80 bytes: its varint has bit 7 set on its "
        "10th byte, the chunk's last: overlong_varint, not inconsistent_batch.",
        ["CONV-4", "LIMIT-2", "BATCH-3", "ERR-2"],
        columns + b"\x0a" + b"\x80" * 10 + bytes.fromhex("010164"),
        "overlong_varint",
    )
    b.invalid(
        "batch.header.varint-at-configured-limit.end-of-input",
        "The header event_type_id is 80 80 80 80 80 and the input "
        "ends, against max_varint_bytes=5: limit_exceeded, not truncated.",
        ["LIMIT-2", "BATCH-2", "ERR-2"],
        b"\x20" + b"\x80" * 5,
        "limit_exceeded",
        limits={"max_varint_bytes": 5},
    )
    b.invalid(
        "batch.header.varint-at-default-limit.end-of-input",
        "The header event_type_id is ten 80 bytes and the input ends: overlong_varint, not truncated.",
        ["CONV-4", "LIMIT-2", "BATCH-2", "ERR-2"],
        b"\x20" + b"\x80" * 10,
        "overlong_varint",
    )
    # BATCH-9 / ERR-2: a delta value leaves the range where it is read, before any later column is looked at.
    b.invalid(
        "batch.delta.out-of-range-before-overlong-varint",
        "delta_offset from header 5: offsets[3] is 5 - 7 = -2, and "
        "the timestamps column after it starts with an 11-byte varint: value_out_of_range (met first), not "
        "overlong_varint.",
        ["BATCH-9", "ERR-2", "CONV-4"],
        bytes.fromhex("3d01010005000400040000000d") + b"\x0c" + b"\xff" * 10 + b"\x01\x00",
        "value_out_of_range",
    )
    b.invalid(
        "batch.delta.out-of-range-before-bad-lengths",
        "delta_timestamp from header 0: timestamps[1] is -1, and the "
        "event_data_lengths column after it holds one value for two events: value_out_of_range, not inconsistent_batch.",
        ["BATCH-9", "ERR-2", "BATCH-5"],
        bytes.fromhex("3a0101000002000201020200010100"),
        "value_out_of_range",
    )
    # BATCH-8: count is checked against 0 and max_batch_events only; a count the columns cannot hold is found where a
    # column fails, whichever error that is.
    b.invalid(
        "batch.count.over-body-size",
        "count 200 in a 7-byte body of zero-length keys and event data: the offsets "
        "column holds one value, inconsistent_batch there (nothing checks count against the body's size).",
        ["BATCH-8", "BATCH-5", "ERR-2"],
        bytes.fromhex("3f010100000000c8010001000100"),
        "inconsistent_batch",
    )
    b.invalid(
        "batch.count.over-body-size.overlong-offset",
        "count 200 in a 15-byte body whose offsets column starts with "
        "an 11-byte varint: overlong_varint, met before any disagreement about the count.",
        ["BATCH-8", "CONV-4", "ERR-2"],
        bytes.fromhex("3f010100000000c801000b") + b"\xff" * 10 + b"\x01",
        "overlong_varint",
    )
    return b


def _header_end(data: bytes) -> int:
    from ..model import _gzip_start

    return _gzip_start(data)


# -- streams ---------------------------------------------------------------------------------


def stream() -> Builder:
    b = Builder("stream")
    frames = (
        bytes.fromhex("0005312e302e3000001234"),
        bytes.fromhex("1100000001"),
        bytes.fromhex("5000"),
        bytes.fromhex("3fff"),
    )
    data = b.valid(
        "stream.four-frames",
        "A request, a response, a ping and an ACK back to back.",
        ["STREAM-1", "STREAM-4"],
        StreamValue(frames=frames),
    )
    b.valid("stream.empty", "No bytes: no frames.", ["STREAM-1"], StreamValue(frames=()))
    b.valid(
        "stream.zero-length-frame",
        "A zero-length frame between two PINGs: the deframer passes it on, the frame decoder rejects it.",
        ["STREAM-3"],
        StreamValue(frames=(b"\x50\x00", b"", b"\x50\x00")),
        data=bytes.fromhex("00025000000000025000"),
        canonical=False,
    )
    big = codec.encode_frame(Publish(message_id=1, event=ev(event_data=bytes(65535 - 2 - 10 - 3))))
    assert len(big) == 65535
    b.valid(
        "stream.frame-65535",
        "One frame of the largest size, 0xffff.",
        ["STREAM-1", "STREAM-2"],
        StreamValue(frames=(big,)),
    )
    b.invalid(
        "stream.partial-prefix",
        "The stream ends after one byte of a length prefix.",
        ["STREAM-4"],
        data + b"\x00",
        "truncated",
    )
    b.invalid("stream.partial-frame", "The stream ends inside a frame.", ["STREAM-4"], data[:-1], "truncated")
    b.invalid(
        "stream.over-configured-limit",
        "A 11-byte frame against max_frame_size=10: refused on the prefix.",
        ["LIMIT-1"],
        data,
        "limit_exceeded",
        limits={"max_frame_size": 10},
    )
    return b


GENERATORS = {
    "connection_request": connection_request,
    "connection_response": connection_response,
    "ack": ack,
    "publish": publish,
    "nack": nack,
    "ping": lambda: keepalive("ping", Ping, 5),
    "pong": lambda: keepalive("pong", Pong, 6),
    "frame": frame,
    "event": event,
    "nack_payload": nack_payload,
    "batch": batch,
    "stream": stream,
}


def build_all(schemas_dir: Path | None = None) -> Iterator[tuple[str, list[Case]]]:
    """Every kind's cases; the Avro cases (vectors/cases/avro.py, from ``schemas_dir``) follow each kind's own."""
    from .avro import AVRO_GENERATORS

    for kind, generate in GENERATORS.items():
        cases = generate().cases
        if kind in AVRO_GENERATORS:
            cases += AVRO_GENERATORS[kind](schemas_dir).cases
        yield kind, cases
