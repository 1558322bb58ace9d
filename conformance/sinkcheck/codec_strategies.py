"""Generated codec-mode cases: hypothesis strategies over the logical model, seeded and reproducible.

Three shapes, all judged by the reference codec (``sinkproto.construct_codec``):

* ``roundtrip``: a logical value; the shim must encode it to the reference
  bytes (compressed batches: after decompression) and decode those bytes
  back to the reference's value.
* ``mutant``: the reference bytes of a value, damaged (truncated, a bit
  flipped, a byte inserted or appended, a varint made overlong) and decoded
  under drawn limits; the shim must give the reference's value or error class.
* ``refuse``: a value with no valid encoding (an id out of range, an empty
  batch, ...); the shim must refuse it (ERR-8).

The same ``seed`` and ``count`` give the same cases (with the same hypothesis
version), so a failure found in CI can be rerun with ``--seed``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from sinkproto.errors import DecodeError
from sinkproto.jsonform import to_json
from sinkproto.limits import Limits
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
from sinkproto.vectors.model import StreamValue, decode_kind, encode_kind, value_to_json

from .codec_cases import Check, CodecCase, non_default_limits, reference_decode, reference_encode

__all__ = ["events", "frames", "batches", "streams", "units", "mutations", "limits", "unencodable", "generate"]

u64 = st.integers(0, 2**64 - 1)
# Varint boundaries matter more than uniform 64-bit values: mix small values, 7-bit boundaries and the full range.
boundary = st.sampled_from(sorted({0, 1, 2**64 - 1} | {(1 << (7 * k)) + d for k in range(1, 10) for d in (-1, 0)}))
varint_value = st.one_of(st.integers(0, 300), boundary, u64)
u32 = st.integers(0, 2**32 - 1)
message_id = st.integers(0, 4095)

events = st.builds(Event, event_type_id=varint_value, schema_version=varint_value, key=st.binary(max_size=40),
                   offset=varint_value, timestamp=varint_value, event_data=st.binary(max_size=80))

frames = st.one_of(
    st.builds(ConnectionRequest, app_version=st.binary(max_size=50), client_instance_id=u32,
              server_instance_id=st.none() | u32),
    st.sampled_from([r for r in Response if r not in (Response.HELLO_NEW_CLIENT, Response.QUARANTINED)]).map(
        lambda r: ConnectionResponse(response=r)),
    st.builds(lambda s: ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=s), u32),
    st.builds(lambda m, h: ConnectionResponse(response=Response.QUARANTINED, machine_message=m, human_message=h),
              st.binary(max_size=30), st.binary(max_size=30)),
    st.builds(Ack, message_id=message_id),
    st.builds(Publish, message_id=message_id, event=events),
    st.builds(Nack, message_id=message_id, machine_message=st.binary(max_size=30), human_message=st.binary(max_size=30)),
    st.just(Ping()),
    st.just(Pong()),
)

nack_payloads = st.builds(NackPayload, machine_message=st.binary(max_size=30), human_message=st.binary(max_size=30))


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    """Events homogeneous where the drawn layout says so; sometimes no layout (the canonical encoder picks it)."""
    layout = BatchLayout.from_byte(draw(st.integers(0, 127)))
    n = draw(st.integers(1, 10))
    et, sv = draw(varint_value), draw(varint_value)
    kl, dl = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    base_offset = draw(st.integers(0, 2**63))
    out = []
    for i in range(n):
        out.append(Event(
            event_type_id=et if layout.same_event_type_id else draw(varint_value),
            schema_version=sv if layout.same_schema_version else draw(varint_value),
            key=draw(st.binary(min_size=kl, max_size=kl)) if layout.same_key_length else draw(st.binary(max_size=8)),
            # offsets mostly ascending, as a topic's are: the delta columns then stay small
            offset=draw(st.one_of(st.just(base_offset + i), varint_value)),
            timestamp=draw(varint_value),
            event_data=draw(st.binary(min_size=dl, max_size=dl)) if layout.same_event_data_length
            else draw(st.binary(max_size=8)),
        ))
    return Batch(events=tuple(out), layout=layout if draw(st.booleans()) else None)


streams = st.lists(frames.map(lambda f: encode_kind("frame", f)), max_size=5).map(
    lambda fs: StreamValue(frames=tuple(fs)))

#: (kind, logical value)
units = st.one_of(
    st.tuples(st.just("frame"), frames),
    st.tuples(st.just("event"), events),
    st.tuples(st.just("nack_payload"), nack_payloads),
    st.tuples(st.just("batch"), batches()),
    st.tuples(st.just("stream"), streams),
)

#: (operation, position as a share of the length, byte)
mutations = st.tuples(st.sampled_from(["truncate", "flip", "insert", "append", "overlong"]),
                      st.floats(0, 1, allow_nan=False), st.integers(0, 255))

#: Decoder limits a request may tighten (all default most of the time).
limits = st.one_of(
    st.just({}),
    st.fixed_dictionaries({}, optional={
        "max_frame_size": st.integers(1, 200),
        "max_varint_bytes": st.integers(1, 10),
        "max_key_size": st.integers(0, 20),
        "max_event_data_size": st.integers(0, 40),
        "max_batch_events": st.integers(0, 5),
        "max_decompressed_size": st.integers(0, 200),
        "strict_utf8": st.booleans(),
    }),
)

#: (kind, JSON value) with no valid encoding.
unencodable = st.one_of(
    st.tuples(st.just("frame"), st.builds(lambda i: {"type": "ack", "message_id": i}, st.integers(4096, 2**16))),
    st.tuples(st.just("frame"), st.builds(
        lambda c: {"type": "connection_request", "version": 0, "app_version_hex": "", "client_instance_id": c,
                   "server_instance_id": None}, st.integers(2**32, 2**40))),
    st.tuples(st.just("event"), st.builds(
        lambda v: {"event_type_id": v, "schema_version": 1, "key_hex": "", "offset": 0, "timestamp": 0,
                   "event_data_hex": ""}, st.integers(2**64, 2**66))),
    st.tuples(st.just("batch"), st.just({"events": []})),
    st.tuples(st.just("frame"), st.builds(
        lambda s: {"type": "connection_response", "response": "hello_new_client", "server_instance_id": s},
        st.integers(2**32, 2**33))),
)

spec = st.one_of(
    st.tuples(st.just("roundtrip"), units),
    st.tuples(st.just("mutant"), st.tuples(units, mutations, limits)),
    st.tuples(st.just("refuse"), unencodable),
)

ROUNDTRIP_REQUIREMENTS = {
    "frame": ("FRAME-1", "FRAME-2", "CONN-1", "PUB-1", "ACK-1", "NACK-1", "CONV-2"),
    "event": ("PUB-1", "PUB-3", "CONV-1", "CONV-2"),
    "nack_payload": ("NACK-1",),
    "batch": ("BATCH-1", "BATCH-2", "BATCH-3", "BATCH-4", "BATCH-7", "BATCH-10"),
    "stream": ("STREAM-1", "STREAM-4"),
}


def _mutate(data: bytes, mutation: tuple[str, float, int]) -> bytes:
    op, share, byte = mutation
    at = min(int(share * len(data)), max(len(data) - 1, 0))
    if op == "truncate":
        return data[:at]
    if op == "flip" and data:
        return data[:at] + bytes([data[at] ^ (1 << (byte % 8))]) + data[at + 1:]
    if op == "insert":
        return data[:at] + bytes([byte]) + data[at:]
    if op == "overlong":  # a run of continuation bytes: an over-long varint wherever one is read
        return data[:at] + b"\x80" * (11 + byte % 4) + data[at:]
    return data + bytes([byte])


def _value_json(kind: str, value: Any) -> dict[str, Any]:
    if kind == "batch" and value.layout is None:
        return {"events": to_json(value)["events"]}  # no layout: the encoder must choose the canonical one
    return value_to_json(kind, value)


def _case(index: int, seed_: int, drawn: tuple[str, Any]) -> CodecCase:
    shape, body = drawn
    prefix = f"gen.{seed_}.{index:05d}"
    if shape == "roundtrip":
        kind, value = body
        value_json = _value_json(kind, value)
        outcome, hex_ = reference_encode(kind, value_json)
        if outcome == "refused":  # the strategy drew something without an encoding: a refusal case then
            return CodecCase(f"{prefix}.{kind}.refuse", "generated", kind, ("ERR-8",),
                             (Check("encode", kind, "refused", None, value=value_json, label="encode"),))
        expect, expected = reference_decode(kind, bytes.fromhex(hex_), {})
        return CodecCase(f"{prefix}.{kind}.roundtrip", "generated", kind, ROUNDTRIP_REQUIREMENTS[kind], (
            Check("encode", kind, "bytes", hex_, value=value_json, label="encode"),
            Check("decode", kind, expect, expected, hex=hex_, label="decode"),
        ))
    if shape == "mutant":
        (kind, value), mutation, drawn_limits = body
        data = _mutate(encode_kind(kind, value), mutation)
        limits_ = non_default_limits(drawn_limits)
        try:
            decode_kind(kind, data, Limits.from_dict(limits_))
            requirements: tuple[str, ...] = ROUNDTRIP_REQUIREMENTS[kind]
        except DecodeError as exc:
            requirements = (exc.requirement, "ERR-1")
        expect, expected = reference_decode(kind, data, limits_)
        return CodecCase(f"{prefix}.{kind}.mutant-{mutation[0]}", "generated", kind, requirements, (
            Check("decode", kind, expect, expected, hex=data.hex(), limits=limits_, label="decode"),))
    kind, value_json = body
    return CodecCase(f"{prefix}.{kind}.refuse", "generated", kind, ("ERR-8",),
                     (Check("encode", kind, "refused", None, value=value_json, label="encode"),))


def generate(seed_: int, count: int) -> list[CodecCase]:
    """``count`` cases drawn with ``seed_`` (fewer only if hypothesis runs out of distinct inputs)."""
    if count <= 0:
        return []
    drawn: list[tuple[str, Any]] = []

    # Hypothesis as a seeded generator: only the generate phase, no example database (a database would
    # replay earlier finds first and break reproducibility), no deadline, no health checks on slow draws.
    @seed(seed_)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(spec)
    def collect(item: tuple[str, Any]) -> None:
        drawn.append(item)

    collect()
    return [_case(i, seed_, item) for i, item in enumerate(drawn[:count])]
