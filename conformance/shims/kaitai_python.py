#!/usr/bin/env python3
"""Codec-mode shim on the Kaitai-generated Python parsers (decode only).

    python spec/tools/kaitai_build.py      # once: build/kaitai/python
    sink-check codec --exec "python conformance/shims/kaitai_python.py"

It shows what a shim around a parser that was not written for this kit looks
like: the parsers come from the .ksy files, the values are mapped to the
vector JSON form, and the parser's exceptions are mapped to the spec's error
classes where the exception says enough (the failing field's path). The
parsers have no encoder and no configurable limits, so the shim announces no
encode kinds and no limits, and answers any encode request ``unsupported``:
the runner reports those checks as unsupported, never as passes.

It declares protocol version 0 only: the version-1 parsers exist
(``sink_frame_v1``, ``sink_batch_v1``), but their exceptions are not mapped to
error classes here, and a records batch parses to its column framing, not to
its events. Every version-1 case is therefore reported unsupported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sinkcheck.codec_protocol import KINDS, failure, ok, serve

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "kaitai"))  # the parser loader and value mapping the Kaitai tests use

from kaitai_support import KaitaiPy  # noqa: E402

# (exception class name, the failing field's path) -> error class. Paths are those of spec/v0/ksy.
BY_PATH = {
    ("ValidationNotInEnumError", "/seq/0"): "unknown_type",
    ("ValidationNotInEnumError", "/seq/2"): "unknown_response_code",
    ("ValidationNotEqualError", "/seq/1"): "unsupported_version",
    ("ValidationNotEqualError", "/types/header/seq/0"): "reserved_bit",
    ("ValidationExprError", "/types/connection_request/seq/3"): "trailing_bytes",
    ("ValidationExprError", "/types/connection_response/seq/3"): "trailing_bytes",
    ("ValidationExprError", "/types/no_payload/seq/0"): "trailing_bytes",
    ("ValidationExprError", "/seq/6"): "trailing_bytes",
    ("ValidationExprError", "/types/group/seq/0"): "overlong_varint",
    ("ValidationGreaterThanError", "/types/group/seq/1"): "varint_overflow",
    ("ValidationExprError", "/types/delta_item/seq/0"): "value_out_of_range",
    ("ValidationExprError", "/types/listed_bytes_column/seq/1"): "inconsistent_batch",
    # The batch count check is count >= 1 (BATCH-8); max_batch_events is a limit the .ksy leaves to decoders.
    ("ValidationExprError", "/types/body/seq/0"): "inconsistent_batch",
}
BY_TYPE = {
    "EndOfStreamError": "truncated",
    "EOFError": "truncated",
    "SinkGzipError": "bad_compression",
    "SinkGzipLimitError": "limit_exceeded",
}


def error_class(exc: BaseException) -> str:
    name = type(exc).__name__
    return BY_PATH.get((name, getattr(exc, "src_path", None)), BY_TYPE.get(name, "malformed"))


def make_handler(parsers: KaitaiPy) -> Any:
    def handle(request: dict[str, Any]) -> dict[str, Any]:
        op, kind = request.get("op"), request.get("kind")
        if op == "hello":
            return ok(
                request,
                name="Kaitai Struct generated Python parsers",
                protocol_versions={"0": {"kinds": {"decode": list(KINDS), "encode": []}, "limits": []}},
            )
        if op == "encode":
            return failure(request, "unsupported", "Kaitai Struct parsers only parse")
        if op != "decode":
            return failure(request, "bad_request", f"unknown op {op!r}")
        if request.get("protocol_version") != 0:
            return failure(request, "unsupported", "this shim maps the version-0 parsers only")
        if kind not in KINDS:
            return failure(request, "unsupported", f"unknown kind {kind!r}")
        if request.get("limits"):
            return failure(request, "unsupported", "the generated parsers have fixed (default) limits")
        try:
            obj = parsers.parse(kind, request["hex"])
            return ok(request, value=parsers.value(kind, obj))
        except parsers.rejections as exc:
            return failure(request, "decode_error", f"{type(exc).__name__}: {exc}", error_class=error_class(exc))
        except (ValueError, KeyError) as exc:  # malformed hex, or a value the mapping does not know: a bug here
            return failure(request, "crash", f"{type(exc).__name__}: {exc}")

    return handle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parsers",
        type=Path,
        default=REPO / "build" / "kaitai" / "python",
        help="folder of the generated parsers (default: build/kaitai/python)",
    )
    args = parser.parse_args()
    return serve(make_handler(KaitaiPy(args.parsers)), sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
