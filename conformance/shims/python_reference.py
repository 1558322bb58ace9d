#!/usr/bin/env python3
"""Codec-mode shim for the kit's own codec (docs/conformance/codec-mode.md).

    sink-check codec --exec "python conformance/shims/python_reference.py"

It answers every op for every kind and honours every limit. ``--codec
construct`` runs the construct reference codec instead of the default
(``sinkproto``'s public functions). ``--break`` makes it a deliberately broken
codec, so the tests can prove that codec mode catches each kind of fault:

* ``error-class``: reports ``varint_overflow`` where the codec says ``overlong_varint``;
* ``field``: decodes ``client_instance_id`` of connection requests off by one;
* ``encode``: emits one byte too many for every encoded event payload;
* ``hang``: never answers a request to decode a PING frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from sinkcheck.codec_protocol import KINDS, LIMIT_NAMES, failure, ok, serve
from sinkproto import Deframer, Limits, frame_bytes
from sinkproto.errors import DecodeError, EncodeError
from sinkproto.jsonform import from_json, to_json


def codec_functions(name: str) -> dict[str, Any]:
    if name == "construct":
        from sinkproto import construct_codec as module
    else:
        import sinkproto as module  # type: ignore[no-redef]
    return {"decode": {"frame": module.decode_frame, "event": module.decode_event,
                       "nack_payload": module.decode_nack_payload, "batch": module.decode_batch},
            "encode": {"frame": module.encode_frame, "event": module.encode_event,
                       "nack_payload": module.encode_nack_payload, "batch": module.encode_batch}}


def decode(functions: dict[str, Any], kind: str, data: bytes, limits: Limits) -> dict[str, Any]:
    if kind == "stream":
        deframer = Deframer(limits)
        frames = deframer.feed(data)
        deframer.close()  # a partial frame left at the end of the stream is truncated
        return {"frames_hex": [f.hex() for f in frames]}
    return to_json(functions["decode"][kind](data, limits))


def encode(functions: dict[str, Any], kind: str, value: dict[str, Any]) -> bytes:
    if kind == "stream":
        return b"".join(frame_bytes(bytes.fromhex(f)) for f in value["frames_hex"])
    return bytes(functions["encode"][kind](from_json(kind, value)))


def make_handler(codec: str, broken: str | None) -> Any:
    functions = codec_functions(codec)

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        op, kind = request.get("op"), request.get("kind")
        if op == "hello":
            return ok(request, name=f"sinkproto ({codec} codec){' broken: ' + broken if broken else ''}",
                      kinds={"decode": list(KINDS), "encode": list(KINDS)}, limits=list(LIMIT_NAMES))
        if op not in ("decode", "encode"):
            return failure(request, "bad_request", f"unknown op {op!r}")
        if kind not in KINDS:
            return failure(request, "unsupported", f"unknown kind {kind!r}")
        if op == "decode":
            try:
                data = bytes.fromhex(request["hex"])
                limits = Limits.from_dict(request.get("limits") or {})
            except (KeyError, TypeError, ValueError) as exc:
                return failure(request, "bad_request", f"bad decode request: {exc}")
            if broken == "hang" and kind == "frame" and data[:1] and data[0] >> 4 == 5:
                time.sleep(3600)
            try:
                value = decode(functions, kind, data, limits)
            except DecodeError as exc:
                error_class = exc.error_class
                if broken == "error-class" and error_class == "overlong_varint":
                    error_class = "varint_overflow"
                return failure(request, "decode_error", str(exc), error_class=error_class, offset=exc.offset)
            if broken == "field" and value.get("type") == "connection_request":
                value["client_instance_id"] ^= 1
            return ok(request, value=value)
        try:
            data = encode(functions, kind, request["value"])
        except (EncodeError, KeyError, TypeError, ValueError) as exc:
            return failure(request, "encode_error", f"{type(exc).__name__}: {exc}")
        if broken == "encode" and kind == "event":
            data += b"\x00"
        return ok(request, hex=data.hex())

    return handle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", choices=["default", "construct"], default="default")
    parser.add_argument("--break", dest="broken", choices=["error-class", "field", "encode", "hang"])
    args = parser.parse_args()
    return serve(make_handler(args.codec, args.broken), sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
