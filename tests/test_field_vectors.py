"""Wire compatibility with the field (Elixir) implementation, byte for byte.

The 133 cases in vectors/field were produced by the field encoder;
they are external ground truth: our decoder must read each to the logical
input, and our encoder must produce exactly the same bytes (gzip bodies are
compared after decompression, BATCH-10).
"""

from __future__ import annotations

from typing import Any

import pytest
from sinkproto import (
    Ack,
    Batch,
    ConnectionRequest,
    ConnectionResponse,
    Event,
    Nack,
    NackPayload,
    Ping,
    Pong,
    Publish,
    Response,
    decode_batch,
    decode_event,
    decode_frame,
    decode_nack_payload,
    encode_batch,
    encode_event,
    encode_frame,
    encode_nack_payload,
)
from sinkproto.batchrules import gunzip_body
from sinktest import covers, load_field_cases
from sinktools.vectors.model import _gzip_start

CASES = load_field_cases()


def _event(obj: dict[str, Any]) -> Event:
    return Event(
        event_type_id=obj["event_type_id"],
        schema_version=obj["schema_version"],
        key=bytes.fromhex(obj["key_hex"]),
        offset=obj["offset"],
        timestamp=obj["timestamp"],
        event_data=bytes.fromhex(obj["event_data_hex"]),
    )


def _frame(obj: dict[str, Any]) -> Any:
    kind = obj["type"]
    if kind == "connection_request":
        return ConnectionRequest(
            app_version=bytes.fromhex(obj["app_version_hex"]),
            client_instance_id=obj["client_instance_id"],
            server_instance_id=obj["server_instance_id"],
        )
    if kind == "connection_response":
        response = Response.from_wire_name(obj["response"])
        if response is Response.QUARANTINED:
            return ConnectionResponse(
                response=response,
                machine_message=bytes.fromhex(obj["machine_hex"]),
                human_message=bytes.fromhex(obj["human_hex"]),
            )
        return ConnectionResponse(response=response, server_instance_id=obj.get("server_instance_id"))
    if kind == "ack":
        return Ack(message_id=obj["message_id"])
    if kind == "publish":
        return Publish(message_id=obj["message_id"], event=decode_event(bytes.fromhex(obj["payload_hex"])))
    if kind == "nack":
        return Nack(
            message_id=obj["message_id"],
            machine_message=bytes.fromhex(obj["machine_hex"]),
            human_message=bytes.fromhex(obj["human_hex"]),
        )
    return {"ping": Ping, "pong": Pong}[kind]()


def _inflated(batch: bytes) -> bytes:
    if not batch[0] & 0x40:
        return batch
    start = _gzip_start(batch)
    return batch[:start] + gunzip_body(batch[start:], limit=1 << 26, offset=start)


def test_all_133_field_cases_are_loaded() -> None:
    assert len(CASES) == 133
    assert {c["kind"] for c in CASES} == {"frame", "publish_payload", "nack_payload", "batch"}


@covers(
    "CONN-1",
    "CONN-3",
    "CONN-4",
    "CONN-5",
    "CONN-6",
    "CONN-7",
    "FRAME-1",
    "FRAME-2",
    "FRAME-5",
    "ACK-1",
    "NACK-1",
    "PUB-1",
    "CONV-1",
    "CONV-2",
    "CONV-6",
    "CONV-7",
    "BATCH-1",
    "BATCH-2",
    "BATCH-3",
    "BATCH-4",
    "BATCH-5",
    "BATCH-6",
    "BATCH-7",
    "BATCH-10",
)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_field_case_round_trips_byte_for_byte(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    kind = case["kind"]
    if kind == "frame":
        expected = _frame(case["input"])
        assert decode_frame(data) == expected
        assert encode_frame(expected) == data
    elif kind == "publish_payload":
        expected = _event(case["input"])
        assert decode_event(data) == expected
        assert encode_event(expected) == data
    elif kind == "nack_payload":
        expected = NackPayload(
            machine_message=bytes.fromhex(case["input"]["machine_hex"]),
            human_message=bytes.fromhex(case["input"]["human_hex"]),
        )
        assert decode_nack_payload(data) == expected
        assert encode_nack_payload(expected) == data
    else:
        events = tuple(_event(e) for e in case["input"]["events"])
        assert decode_batch(data).events == events
        produced = encode_batch(Batch(events=events))
        # The field encoder decided compression the same way (BATCH-7) ...
        assert produced[0] == data[0]
        # ... and the bytes match, gzip bodies after decompression (BATCH-10).
        assert _inflated(produced) == _inflated(data)
