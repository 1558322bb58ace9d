#!/usr/bin/env python3
"""Codec-mode shim for the kit's own codec (docs/conformance/codec-mode.md).

    sink-check codec --exec "python conformance/shims/python_reference.py"

It answers every op for every kind of protocol versions 0 and 1 and honours
every limit; version-1 batches in records mode use the writer schemas of the
registry the runner names in ``hello`` (the kit's ``schemas/``), batches in mode context the
request's ``bases`` (it declares ``context``). ``--codec
construct`` runs the construct reference codec instead of the default (the
fast codec). A ``DecodeError`` or ``EncodeError`` of the codec is a
``decode_error`` or ``encode_error``; any other exception is a bug of the
codec and is answered ``crash``, which always fails the check.

``--break`` makes it a deliberately broken codec, so the tests can prove that
codec mode catches each kind of fault:

* ``error-class``: reports ``varint_overflow`` where the codec says ``overlong_varint``;
* ``field``: decodes ``client_instance_id`` of connection requests off by one;
* ``encode``: emits one byte too many for every encoded event payload;
* ``hang``: never answers a request to decode a PING frame;
* ``crash``: raises ``KeyError`` instead of refusing a value without an encoding;
* ``utf8``: rejects text that is not UTF-8 although ``strict_utf8`` is off (ERR-9);
* ``v1-batch-result``: decodes BATCH_RESULT indices off by one (version 1 only).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from sinkcheck.codec_protocol import KINDS_BY_VERSION, LIMIT_NAMES_BY_VERSION, failure, ok, serve
from sinkproto import Deframer, Limits, frame_bytes
from sinkproto.codec import get_codec
from sinkproto.errors import BaseUnavailable, DecodeError, EncodeError
from sinkproto.jsonform import bases_from_json, from_json, to_json

BREAKS = ("error-class", "field", "encode", "hang", "crash", "utf8", "v1-batch-result")


def codec_functions(name: str) -> dict[str, Any]:
    codec = get_codec("construct" if name == "construct" else "fast")
    return {
        "decode": {
            "frame": codec.decode_frame,
            "event": codec.decode_event,
            "nack_payload": codec.decode_nack_payload,
            "batch": codec.decode_batch,
        },
        "encode": {
            "frame": codec.encode_frame,
            "event": codec.encode_event,
            "nack_payload": codec.encode_nack_payload,
            "batch": codec.encode_batch,
        },
    }


def record_schemas(folder: str | None) -> Any:
    """The writer schemas records mode uses: the registry the runner names, else the kit's own."""
    from sinkproto.records import RecordSchemas
    from sinkproto.schemas import default_registry

    return RecordSchemas.from_registry(default_registry(Path(folder) if folder else None))


class Handler:
    def __init__(self, codec: str, broken: str | None) -> None:
        self.codec = codec
        self.broken = broken
        self.functions = codec_functions(codec)
        self.schemas_folder: str | None = None
        self._schemas: Any = None

    @property
    def schemas(self) -> Any:
        if self._schemas is None:
            self._schemas = record_schemas(self.schemas_folder)
        return self._schemas

    def schemas_of(self, version: int) -> Any:
        """The writer schemas of records mode: from version 1 (version 0 has no records mode)."""
        return self.schemas if version >= 1 else None

    def decode(self, version: int, kind: str, data: bytes, limits: Limits, bases: Any = None) -> dict[str, Any]:
        if kind == "stream":
            deframer = Deframer(limits)
            frames = deframer.feed(data)
            deframer.close()  # a partial frame left at the end of the stream is truncated
            return {"frames_hex": [f.hex() for f in frames]}
        if kind in ("frame", "batch"):  # the one API: frames and batches take the version (schemas, bases from 1)
            extra = {"bases": bases} if version >= 1 else {}
            return to_json(
                self.functions["decode"][kind](
                    data, limits=limits, version=version, schemas=self.schemas_of(version), **extra
                ),
                version,
            )
        return to_json(self.functions["decode"][kind](data, limits=limits))

    def encode(self, version: int, kind: str, value: dict[str, Any], bases: Any = None) -> bytes:
        if kind == "stream":
            return b"".join(frame_bytes(bytes.fromhex(f)) for f in value["frames_hex"])
        if (
            self.broken == "crash"
            and kind == "frame"
            and value.get("type") == "ack"
            and value.get("message_id", 0) > 4095
        ):
            raise KeyError("message_id")  # a bug: what the codec raises is not its EncodeError
        if kind in ("frame", "batch"):
            return bytes(
                self.functions["encode"][kind](
                    from_json(kind, value, version, bases), version=version, schemas=self.schemas_of(version)
                )
            )
        return bytes(self.functions["encode"][kind](from_json(kind, value)))

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        op, kind = request.get("op"), request.get("kind")
        if op == "hello":
            self.schemas_folder = request.get("schemas")
            return ok(
                request,
                name=f"sinkproto ({self.codec} codec){' broken: ' + self.broken if self.broken else ''}",
                protocol_versions={
                    str(v): {
                        "kinds": {"decode": list(KINDS_BY_VERSION[v]), "encode": list(KINDS_BY_VERSION[v])},
                        "limits": list(LIMIT_NAMES_BY_VERSION[v]),
                        **({"context": True} if v >= 1 else {}),
                    }
                    for v in KINDS_BY_VERSION
                },
            )
        if op not in ("decode", "encode"):
            return failure(request, "bad_request", f"unknown op {op!r}")
        version = request.get("protocol_version")
        if version not in KINDS_BY_VERSION:
            return failure(request, "unsupported", f"protocol version {version!r}")
        if kind not in KINDS_BY_VERSION[version]:
            return failure(request, "unsupported", f"unknown kind {kind!r} in protocol version {version}")
        if op == "decode":
            return self.answer_decode(request, version, kind)
        return self.answer_encode(request, version, kind)

    def answer_decode(self, request: dict[str, Any], version: int, kind: str) -> dict[str, Any]:
        try:
            data = bytes.fromhex(request["hex"])
            limits = Limits.from_dict(request.get("limits") or {})
            bases = bases_from_json(request.get("bases"))
        except (KeyError, TypeError, ValueError) as exc:
            return failure(request, "bad_request", f"bad decode request: {exc}")
        if self.broken == "hang" and kind == "frame" and data[:1] and data[0] >> 4 == 5:
            time.sleep(3600)
        try:
            if self.broken == "utf8" and kind == "nack_payload":
                limits = Limits.from_dict({**(request.get("limits") or {}), "strict_utf8": True})
            value = self.decode(version, kind, data, limits, bases)
        except BaseUnavailable as exc:  # CTX-5: the base is not held; not a decode error
            return failure(request, "unknown_base", str(exc))
        except DecodeError as exc:
            error_class = exc.error_class
            if self.broken == "error-class" and error_class == "overlong_varint":
                error_class = "varint_overflow"
            return failure(request, "decode_error", str(exc), error_class=error_class, offset=exc.offset)
        except Exception as exc:
            return failure(request, "crash", f"{type(exc).__name__}: {exc}")
        if self.broken == "field" and value.get("type") == "connection_request":
            value["client_instance_id"] ^= 1
        if self.broken == "v1-batch-result" and version == 1 and value.get("type") == "batch_result":
            value["entries"][0]["index"] += 1
        return ok(request, value=value)

    def answer_encode(self, request: dict[str, Any], version: int, kind: str) -> dict[str, Any]:
        if not isinstance(request.get("value"), dict):
            return failure(request, "bad_request", "an encode request carries a value object")
        try:
            data = self.encode(version, kind, request["value"], bases_from_json(request.get("bases")))
        except EncodeError as exc:
            return failure(request, "encode_error", str(exc))
        except (TypeError, ValueError) as exc:
            # The JSON form's own checks (a field of the wrong type, a value a message constructor refuses): the
            # value has no encoding, which is what ERR-8 asks the encoder to say.
            return failure(request, "encode_error", f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            return failure(request, "crash", f"{type(exc).__name__}: {exc}")
        if self.broken == "encode" and kind == "event":
            data += b"\x00"
        return ok(request, hex=data.hex())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", choices=["default", "construct"], default="default")
    parser.add_argument("--break", dest="broken", choices=BREAKS)
    args = parser.parse_args()
    return serve(Handler(args.codec, args.broken), sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
