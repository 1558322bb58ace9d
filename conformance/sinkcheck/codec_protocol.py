"""The codec-mode wire protocol between ``sink-check codec`` and a shim (docs/conformance/codec-mode.md).

A shim is a small program wrapped around an implementation's codec. The runner
starts it, writes requests to its stdin and reads responses from its stdout.
Every message, both ways, is one *envelope*: a 4-byte big-endian unsigned
length followed by that many bytes of UTF-8 JSON (one object). Nothing else
may be written to stdout; a shim logs to stderr.

This module holds the constants and the blocking helpers a Python shim uses;
the runner's asyncio side is in ``codec_mode``. It never imports the codec.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

__all__ = [
    "PROTOCOL_VERSION",
    "LEGACY_PROTOCOL_VERSION",
    "SINK_VERSIONS",
    "MAX_MESSAGE",
    "KINDS",
    "KINDS_BY_VERSION",
    "LIMIT_NAMES",
    "LIMIT_NAMES_BY_VERSION",
    "ERRORS",
    "ProtocolViolation",
    "encode_message",
    "read_message",
    "write_message",
    "ok",
    "failure",
    "serve",
]

#: Version 2 adds the Sink protocol version: ``protocol_version`` in every decode and encode request,
#: ``protocol_versions`` in ``hello``. Version 1 (Sink version 0 only, no such fields) is still spoken by the
#: runner when a shim refuses a version-2 ``hello``.
PROTOCOL_VERSION = 2
LEGACY_PROTOCOL_VERSION = 1
#: The Sink protocol versions codec mode tests (spec/v0, spec/v1).
SINK_VERSIONS = (0, 1)
#: Largest envelope body either side accepts (the largest golden vector is ~130 KB of hex).
MAX_MESSAGE = 16 * 1024 * 1024
#: The units a shim decodes and encodes, per Sink protocol version. Every frame type is one kind: ``frame``
#: (in version 1: the frames of a version-1 connection, BATCH_PUBLISH and BATCH_RESULT included); ``batch`` is
#: a column batch in version 0 and a batch v1 in version 1 (records mode with the kit's registry).
KINDS_BY_VERSION = {0: ("frame", "event", "nack_payload", "batch", "stream"), 1: ("frame", "batch")}
KINDS = KINDS_BY_VERSION[0]
#: Decoder limits a request may set (spec/v0/limits.md, spec/v1/limits.md); a shim lists those it honours in
#: ``hello``, per version.
LIMIT_NAMES = (
    "max_frame_size",
    "max_varint_bytes",
    "max_key_size",
    "max_event_data_size",
    "max_batch_events",
    "max_decompressed_size",
    "strict_utf8",
)
LIMIT_NAMES_BY_VERSION = {
    0: LIMIT_NAMES,
    1: (
        *LIMIT_NAMES,
        "max_declared_types",
        "max_declared_versions",
        "max_zstd_window",
        "max_record_columns",
        "max_dictionary_entries",
        "max_collection_items",
        "max_requirement_size",
        "max_close_text",
    ),
}
#: The ``error`` values of a failed response.
ERRORS = {
    "decode_error": "the bytes are not a valid unit of this kind; error_class names why (spec errors.md)",
    "encode_error": "the value has no valid encoding; the encoder refused it and produced no bytes (ERR-8)",
    "unknown_base": "version 1, context coding: the batch names a base that the request's bases do not hold, or hold "
    "stale (another digest, event type or schema version); the decoder stopped there, not a decode error (CTX-5)",
    "crash": "the codec failed in a way it does not report as a decode or encode error (an unexpected exception, "
    "a panic): always a failed check",
    "unsupported": "the shim does not implement this op, kind, limit or protocol version; reported as unsupported, "
    "never a pass",
    "bad_request": "the request is malformed, names an unknown op or a protocol version the shim does not speak",
}
_LENGTH = struct.Struct(">I")


class ProtocolViolation(Exception):
    """The other side broke the envelope rules (length, JSON, size).

    ``fatal``: the stream is no longer aligned on envelopes (an oversized or cut
    envelope), so nothing more can be read from it.
    """

    def __init__(self, detail: str, *, fatal: bool = False) -> None:
        super().__init__(detail)
        self.fatal = fatal


def encode_message(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_MESSAGE:
        raise ProtocolViolation(f"message of {len(body)} bytes exceeds {MAX_MESSAGE}")
    return _LENGTH.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolViolation(f"envelope body is not UTF-8 JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolViolation("envelope body is not a JSON object")
    return message


def _read_exactly(stream: BinaryIO, n: int) -> bytes | None:
    chunks: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            if got:
                raise ProtocolViolation(f"stream ended inside an envelope ({got} of {n} bytes)", fatal=True)
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    """The next envelope's object; None at a clean end of stream (between envelopes)."""
    head = _read_exactly(stream, 4)
    if head is None:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > MAX_MESSAGE:
        raise ProtocolViolation(f"envelope announces {length} bytes, more than {MAX_MESSAGE}", fatal=True)
    body = _read_exactly(stream, length)
    if body is None:
        raise ProtocolViolation("stream ended after an envelope's length", fatal=True)
    return decode_body(body)


def write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    stream.write(encode_message(message))
    stream.flush()


def ok(request: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": request.get("id"), "ok": True, **fields}


def failure(request: dict[str, Any], error: str, detail: str = "", **fields: Any) -> dict[str, Any]:
    assert error in ERRORS, error
    return {"v": PROTOCOL_VERSION, "id": request.get("id"), "ok": False, "error": error, "detail": detail, **fields}


def serve(handle: Any, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """The loop of a Python shim: read a request, answer it with ``handle(request)``, until ``bye`` or EOF.

    Requests in another protocol version, and envelopes that are not JSON
    objects, are answered ``bad_request`` instead of ending the shim, so the
    runner always gets an answer (a hang would cost it a timeout per request).
    """
    while True:
        try:
            request = read_message(stdin)
        except ProtocolViolation as exc:
            write_message(stdout, failure({}, "bad_request", str(exc)))
            if exc.fatal:
                return 1
            continue
        if request is None:
            return 0
        if request.get("v") != PROTOCOL_VERSION:
            write_message(
                stdout,
                failure(
                    request,
                    "bad_request",
                    f"protocol version {request.get('v')!r}; this shim speaks {PROTOCOL_VERSION}",
                ),
            )
            continue
        if request.get("op") == "bye":
            write_message(stdout, ok(request))
            return 0
        write_message(stdout, handle(request))
