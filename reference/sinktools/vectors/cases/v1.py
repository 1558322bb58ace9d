"""The sources of the version-1 golden vectors (vectors/v1, spec/v1), built deterministically.

Same conventions as :mod:`.cases`: valid cases are logical values encoded
by the reference encoder (and a few literal bytes from the spec's examples,
checked against it); invalid cases are crafted bytes whose error class is
decided here, from the spec. IDs are semantic and stable: never renumber,
never reuse.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import zstandard
from sinkproto.batchrules import canonical_layout, gzip_body
from sinkproto.messages import (
    CONSTRAINED_PROFILE,
    Ack,
    Batch,
    BatchCodec,
    BatchFormat,
    BatchLayout,
    BatchMode,
    BatchPublish,
    BatchResult,
    BatchResultEntry,
    Close,
    CloseCode,
    ConnectionRequest,
    ConnectionResponse,
    DeclaredLimits,
    Event,
    Ping,
    Publish,
    Response,
)
from sinkproto.readers import ReaderSchemas

from ..builder import Builder
from ..model import Case
from .v0 import APP, TS, ev
from .v1_context import context_cases

__all__ = ["build_all_v1", "FILE_DESCRIPTIONS_V1", "GENERATORS_V1", "WITHDRAWN_V1"]

# Ids whose meaning a later draft changed: kept in the lock, never used again (their cases have new ids).
WITHDRAWN_V1 = {
    "v1.connection_request.flags.reserved-bit-2": "draft 3: request_flags bit 2 is has_declared_limits",
    "v1.connection_response.connected.bad-declaration": "draft 3: response_flags; now connected.flags.bad-declaration",
    "v1.connection_response.connected.declaration": "draft 3: response_flags; now connected.flags.reader-schemas",
    "v1.connection_response.connected.declaration.trailing-byte": "draft 3: response_flags; "
    "now connected.flags.reader-schemas.trailing-byte",
    "v1.connection_response.hello.declaration": "draft 3: response_flags; now hello.flags.reader-schemas",
    "v1.connection_response.hello.declaration.cut": "draft 3: response_flags; now hello.flags.reader-schemas.cut",
    "v1.frame.type-9": "draft 3: type 9 is CLOSE (close.json)",
    "v1.connection_request.declared-limits.reserved-bit-6": "draft 4: limit_flags bit 6 is context_bases; "
    "now declared-limits.context-bases",
    "v1.connection_request.declared-limits.reserved-bit-7": "draft 4: limit_flags bit 7 is context_lifetime; "
    "now declared-limits.context-lifetime",
    "v1.batch.records.transform-10": "draft 5: transform 10 is patched; now records.transform-12",
    "v1.batch_publish.records.transform-10": "draft 5: transform 10 is patched; now records.transform-12",
    "v1.batch.context.against-base-unassigned-transform": "draft 5: transform 10 is patched; "
    "now context.against-base-unassigned-transform-12",
    "v1.batch_publish.context.against-base-unassigned-transform": "draft 5: transform 10 is patched; "
    "now context.against-base-unassigned-transform-12",
}

FILE_DESCRIPTIONS_V1 = {
    "connection_request": "Version 1: CONNECTION_REQUEST frames of both layouts (version 0 and version 1), request_flags, reader declarations, declared limits.",
    "connection_response": "Version 1: CONNECTION_RESPONSE frames, with and without response_flags, the server's reader declaration and declared limits.",
    "batch_publish": "Version 1: BATCH_PUBLISH frames (type 2) carrying a batch v1: version-0 batches and extended ones "
    "with every codec, in every mode (mode context decoded with the bases each case lists).",
    "batch_result": "Version 1: BATCH_RESULT frames (type 8): per-event NACKs by index.",
    "close": "Version 1: CLOSE frames (type 9): close codes, requirement, last message id, retry-after, text.",
    "frame": "Version 1: frame-level cases: version-0 frames on a version-1 connection, unassigned types 10..15.",
    "batch": "Version 1: batch v1 on its own: the extended header, the format byte, codecs none, gzip and zstd, records "
    "mode (decoded with the writer schemas of the kit's registry in schemas/) and mode context (decoded with the "
    "bases each case lists).",
}

READS = ReaderSchemas.from_mapping({1: [1, 2]})


class BuilderV1(Builder):
    """A :class:`Builder` whose valid cases are encoded with the version-1 codec."""

    version = 1

    def literal_must_match(self, data: bytes, canonical: bool) -> bool:
        # compressed bodies, and records batches that are not canonical (RECORD-9 is a SHOULD), may differ
        return not _compressed(self.kind, data) and not (not canonical and _records(data, self.kind))


def _records(data: bytes, kind: str) -> bool:
    """A records batch: any choice of transforms decodes (RECORD-9 is a SHOULD), so literal bytes may differ."""
    at = 2 if kind == "batch_publish" else 0
    return (
        len(data) > at + 1 and bool(data[at] & 0x80) and data[at + 1] & 0x0F in (BatchMode.RECORDS, BatchMode.CONTEXT)
    )


def _compressed(kind: str, data: bytes) -> bool:
    at = 2 if kind == "batch_publish" else 0
    return len(data) > at + 1 and bool(data[at] & 0x80) and bool(data[at + 1] >> 4)


def hexb(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# -- connection request -----------------------------------------------------------------------------


def connection_request() -> Builder:
    b = BuilderV1("connection_request")
    r = ["CONN-8", "FRAME-1", "CONV-6", "CONV-7"]
    plain = b.valid(
        "v1.connection_request.no-options",
        "Version 1 with no server instance id and no declaration (spec example).",
        r,
        ConnectionRequest(version=1, app_version=APP, client_instance_id=0x1234),
        data=hexb("01 05 312e302e30 00001234 00"),
    )
    b.valid(
        "v1.connection_request.with-server-instance-id",
        "has_server_instance_id: server instance id 1000 (spec example).",
        r,
        ConnectionRequest(version=1, app_version=APP, client_instance_id=0x1234, server_instance_id=1000),
        data=hexb("01 05 312e302e30 00001234 01 000003e8"),
    )
    full = b.valid(
        "v1.connection_request.with-declaration",
        "Server instance id and a declaration: type 1, versions 1 and 2 (spec example).",
        [*r, "SNEG-1"],
        ConnectionRequest(
            version=1, app_version=APP, client_instance_id=0x1234, server_instance_id=1000, reader_schemas=READS
        ),
        data=hexb("01 05 312e302e30 00001234 03 000003e8 01 01 02 01 02"),
    )
    b.valid(
        "v1.connection_request.declaration-only",
        "A declaration without a server instance id (a client's first connection).",
        [*r, "SNEG-1"],
        ConnectionRequest(version=1, app_version=APP, client_instance_id=7, reader_schemas=READS),
    )
    b.valid(
        "v1.connection_request.declaration.many",
        "Three event types, the largest ids and versions a varint holds.",
        [*r, "SNEG-1"],
        ConnectionRequest(
            version=1,
            app_version=b"",
            client_instance_id=0xFFFF_FFFF,
            server_instance_id=0,
            reader_schemas=ReaderSchemas.from_mapping({0: [0], 9: [1, 2, 3], (1 << 64) - 1: [5, (1 << 64) - 1]}),
        ),
    )
    b.valid(
        "v1.connection_request.version-0-layout",
        "A version-0 request is decoded with the version-0 layout by a version-1 decoder (fallback).",
        ["CONN-10", "CONN-1"],
        ConnectionRequest(app_version=APP, client_instance_id=0x1234),
        data=hexb("00 05 312e302e30 00001234"),
    )
    for version in (2, 15):
        b.invalid(
            f"v1.connection_request.version-{version}",
            f"Version {version}: recognised, not parsed, unsupported_version.",
            ["CONN-10", "VER-7"],
            bytes([version]) + plain[1:],
            "unsupported_version",
        )
    # Bit 2 is has_declared_limits since draft 3: its case (reserved-bit-2) is withdrawn, not reused.
    for bit in range(3, 8):
        b.invalid(
            f"v1.connection_request.flags.reserved-bit-{bit}",
            f"request_flags with reserved bit {bit} set.",
            ["CONN-9"],
            plain[:-1] + bytes([1 << bit]),
            "reserved_bit",
        )
    b.invalid(
        "v1.connection_request.trailing-byte",
        "A byte after request_flags that announce nothing.",
        ["CONN-9"],
        plain + b"\x00",
        "trailing_bytes",
    )
    b.invalid(
        "v1.connection_request.declaration.trailing-byte",
        "A byte after the declaration.",
        ["CONN-9"],
        full + b"\x00",
        "trailing_bytes",
    )
    b.invalid(
        "v1.connection_request.server-id-missing",
        "has_server_instance_id set but the frame ends.",
        ["CONN-8"],
        plain[:-1] + b"\x01",
        "truncated",
    )
    b.invalid(
        "v1.connection_request.declaration-missing",
        "has_reader_schemas set but the frame ends.",
        ["CONN-8", "SNEG-1"],
        plain[:-1] + b"\x02",
        "truncated",
    )
    head = plain[:-1] + b"\x02"
    b.invalid(
        "v1.connection_request.declaration.no-types", "type_count 0.", ["SNEG-2"], head + hexb("00"), "invalid_list"
    )
    b.invalid(
        "v1.connection_request.declaration.no-versions",
        "A declared type with version_count 0.",
        ["SNEG-2"],
        head + hexb("01 01 00"),
        "invalid_list",
    )
    b.invalid(
        "v1.connection_request.declaration.types-descending",
        "Event types 4 then 1.",
        ["SNEG-2"],
        head + hexb("02 04 01 01 01 01 01"),
        "invalid_list",
    )
    b.invalid(
        "v1.connection_request.declaration.type-twice",
        "Event type 1 declared twice.",
        ["SNEG-2"],
        head + hexb("02 01 01 01 01 01 02"),
        "invalid_list",
    )
    b.invalid(
        "v1.connection_request.declaration.versions-descending",
        "Versions 2 then 1.",
        ["SNEG-2"],
        head + hexb("01 01 02 02 01"),
        "invalid_list",
    )
    b.invalid(
        "v1.connection_request.declaration.version-twice",
        "Version 1 twice.",
        ["SNEG-2"],
        head + hexb("01 01 02 01 01"),
        "invalid_list",
    )
    b.invalid(
        "v1.connection_request.declaration.type-count-over-limit",
        "type_count 2^32: refused when read, before any entry.",
        ["LIMIT-8"],
        head + hexb("8080808010"),
        "limit_exceeded",
    )
    b.invalid(
        "v1.connection_request.declaration.type-count-over-configured-limit",
        "Two types against max_declared_types=1.",
        ["LIMIT-8"],
        head + hexb("02 01 01 01 02 01 01"),
        "limit_exceeded",
        limits={"max_declared_types": 1},
    )
    b.invalid(
        "v1.connection_request.declaration.version-count-over-configured-limit",
        "Two versions against max_declared_versions=1.",
        ["LIMIT-8"],
        head + hexb("01 01 02 01 02"),
        "limit_exceeded",
        limits={"max_declared_versions": 1},
    )
    b.invalid(
        "v1.connection_request.declaration.cut",
        "A version_count that announces more versions than follow.",
        ["SNEG-1"],
        head + hexb("01 01 03 01 02"),
        "truncated",
    )
    b.invalid(
        "v1.connection_request.declaration.varint-at-configured-limit",
        "type_count is 80 80 80 and the frame ends, "
        "against max_varint_bytes=3: limit_exceeded at the 3rd byte, not truncated.",
        ["LIMIT-2", "SNEG-1", "ERR-2"],
        head + hexb("808080"),
        "limit_exceeded",
        limits={"max_varint_bytes": 3},
    )
    b.invalid(
        "v1.connection_request.declaration.varint-at-default-limit",
        "type_count is ten 80 bytes and the frame ends: overlong_varint, not truncated.",
        ["CONV-4", "LIMIT-2", "SNEG-1", "ERR-2"],
        head + b"\x80" * 10,
        "overlong_varint",
    )
    _declared_limits_cases(b, plain[:-1])
    # Every proper prefix is short: request_flags 03 announce both optional fields.
    for cut in range(1, len(full)):
        b.invalid(
            f"v1.connection_request.truncated-at-{cut}",
            f"The first {cut} of {len(full)} bytes of the full example.",
            ["CONN-8", "CONV-6"],
            full[:cut],
            "truncated",
        )
    return b


_CONSTRAINED = hexb("1f 8020 808001 8002 10 808001")


def _declared_values(limits: DeclaredLimits) -> dict[str, Any]:
    """The declared values of ``limits`` by field name (the unset ones left out)."""
    from sinkproto.messages import DECLARED_BOUNDS

    return {name: getattr(limits, name) for name, *_ in DECLARED_BOUNDS if getattr(limits, name) is not None}


def _declared_limits_cases(b: Builder, head: bytes) -> None:
    """DECL-1, DECL-2: the declared limits of a version-1 request; ``head`` ends before request_flags."""
    r = ["CONN-8", "DECL-1"]
    b.valid(
        "v1.connection_request.declared-limits.keepalive",
        "Declared limits: keepalive 180 s only (spec example).",
        r,
        ConnectionRequest(
            version=1, app_version=APP, client_instance_id=0x1234, declared_limits=DeclaredLimits(keepalive=180)
        ),
        data=head + hexb("04 20 b401"),
    )
    b.valid(
        "v1.connection_request.declared-limits.constrained",
        "The constrained profile (spec example).",
        [*r, "DECL-7"],
        ConnectionRequest(version=1, app_version=APP, client_instance_id=0x1234, declared_limits=CONSTRAINED_PROFILE),
        data=head + b"\x04" + _CONSTRAINED,
    )
    b.valid(
        "v1.connection_request.declared-limits.none-declared",
        "limit_flags 0: declared limits that declare every default.",
        r,
        ConnectionRequest(version=1, app_version=APP, client_instance_id=0x1234, declared_limits=DeclaredLimits()),
        data=head + hexb("04 00"),
    )
    lowest = DeclaredLimits(
        max_frame_size=512,
        max_decompressed_size=1024,
        max_batch_events=1,
        max_in_flight=1,
        max_zstd_window=1024,
        keepalive=10,
    )
    highest = DeclaredLimits(
        max_frame_size=65535,
        max_decompressed_size=8388608,
        max_batch_events=65536,
        max_in_flight=4096,
        max_zstd_window=8388608,
        keepalive=65535,
    )
    for name, declared in (("lowest", lowest), ("highest", highest)):
        b.valid(
            f"v1.connection_request.declared-limits.{name}",
            f"The values of bits 0..5 declared, each at its {name} bound.",
            r,
            ConnectionRequest(
                version=1,
                app_version=APP,
                client_instance_id=0x1234,
                server_instance_id=1000,
                reader_schemas=READS,
                declared_limits=declared,
            ),
        )
    b.invalid(
        "v1.connection_request.declared-limits.missing",
        "has_declared_limits set but the frame ends before limit_flags.",
        ["CONN-8", "DECL-1"],
        head + hexb("04"),
        "truncated",
    )
    b.invalid(
        "v1.connection_request.declared-limits.value-missing",
        "limit_flags announce max_frame_size but the frame ends.",
        ["DECL-1", "CONV-1"],
        head + hexb("04 01"),
        "truncated",
    )
    b.invalid(
        "v1.connection_request.declared-limits.trailing-byte",
        "A byte after the declared limits.",
        ["CONN-9"],
        head + hexb("04 20 3c 00"),
        "trailing_bytes",
    )
    # Bits 6 and 7 carry context_bases and context_lifetime since draft 4 (CTX-1): their reserved-bit cases are
    # withdrawn, not reused.
    b.valid(
        "v1.connection_request.declared-limits.context-bases",
        "limit_flags bit 6: context_bases 16 (context coding, CTX-1).",
        [*r, "CTX-1"],
        ConnectionRequest(
            version=1, app_version=APP, client_instance_id=0x1234, declared_limits=DeclaredLimits(context_bases=16)
        ),
        data=head + hexb("04 40 10"),
    )
    b.valid(
        "v1.connection_request.declared-limits.context-lifetime",
        "limit_flags bit 7: context_lifetime 3600 s, context_bases left at its default 0.",
        [*r, "CTX-9"],
        ConnectionRequest(
            version=1,
            app_version=APP,
            client_instance_id=0x1234,
            declared_limits=DeclaredLimits(context_lifetime=3600),
        ),
        data=head + hexb("04 80 901c"),
    )
    for name, bases, lifetime in (("lowest", 0, 60), ("highest", 64, 0xFFFF_FFFF)):
        b.valid(
            f"v1.connection_request.declared-limits.all-{name}",
            f"All eight values declared (limit_flags ff), each at its {name} bound.",
            [*r, "CTX-1"],
            ConnectionRequest(
                version=1,
                app_version=APP,
                client_instance_id=0x1234,
                declared_limits=DeclaredLimits(
                    **_declared_values(lowest if name == "lowest" else highest),
                    context_bases=bases,
                    context_lifetime=lifetime,
                ),
            ),
        )
    out_of_range = (
        ("max-frame-size.below", 0, 511),
        ("max-frame-size.above", 0, 65536),
        ("max-decompressed-size.below", 1, 1023),
        ("max-decompressed-size.above", 1, 8388609),
        ("max-batch-events.zero", 2, 0),
        ("max-batch-events.above", 2, 65537),
        ("max-in-flight.zero", 3, 0),
        ("max-in-flight.above", 3, 4097),
        ("max-zstd-window.below", 4, 1023),
        ("max-zstd-window.above", 4, 8388609),
        ("keepalive.below", 5, 9),
        ("keepalive.above", 5, 65536),
        ("context-bases.above", 6, 65),
        ("context-lifetime.below", 7, 59),
        ("context-lifetime.zero", 7, 0),
        ("context-lifetime.above", 7, 0x1_0000_0000),
    )
    for name, bit, value in out_of_range:
        b.invalid(
            f"v1.connection_request.declared-limits.{name}",
            f"A declared value of {value} (bit {bit}): outside its bounds, reported at the value.",
            ["DECL-2"],
            head + hexb("04") + bytes([1 << bit]) + _varint(value),
            "value_out_of_range",
        )
    b.invalid(
        "v1.connection_request.declared-limits.bound-before-trailing",
        "keepalive 0 then a trailing byte: the bound is met first (ERR-2).",
        ["DECL-2", "ERR-2"],
        head + hexb("04 20 00 00"),
        "value_out_of_range",
    )


# -- connection response ------------------------------------------------------------------------------


def connection_response() -> Builder:
    b = BuilderV1("connection_response")
    server_reads = ReaderSchemas.from_mapping({1: [1], 4: [1]})
    b.valid(
        "v1.connection_response.connected",
        "connected without a declaration.",
        ["CONN-11"],
        ConnectionResponse(response=Response.CONNECTED),
        data=hexb("10"),
    )
    with_decl = b.valid(
        "v1.connection_response.connected.flags.reader-schemas",
        "connected; the server reads type 1 v1 and type 4 v1 (spec example; response_flags since draft 3).",
        ["CONN-11", "SNEG-1"],
        ConnectionResponse(response=Response.CONNECTED, reader_schemas=server_reads),
        data=hexb("10 01 02 01 01 01 04 01 01"),
    )
    b.valid(
        "v1.connection_response.hello",
        "hello_new_client without a declaration.",
        ["CONN-11", "CONN-5"],
        ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=1),
        data=hexb("11 00000001"),
    )
    hello = b.valid(
        "v1.connection_response.hello.flags.reader-schemas",
        "hello_new_client with a declaration (spec example; response_flags since draft 3).",
        ["CONN-11", "SNEG-1"],
        ConnectionResponse(response=Response.HELLO_NEW_CLIENT, server_instance_id=1, reader_schemas=READS),
        data=hexb("11 00000001 01 01 01 02 01 02"),
    )
    b.valid(
        "v1.connection_response.connected.declared-limits",
        "connected; the server declares max_frame_size 4096 and keepalive 60 s (spec example).",
        ["CONN-11", "DECL-1"],
        ConnectionResponse(
            response=Response.CONNECTED, declared_limits=DeclaredLimits(max_frame_size=4096, keepalive=60)
        ),
        data=hexb("10 02 21 8020 3c"),
    )
    b.valid(
        "v1.connection_response.connected.declared-limits.context",
        "connected; the server takes batches in mode context: context_bases 16, context_lifetime 7 days (CTX-1).",
        ["CONN-11", "DECL-1", "CTX-1"],
        ConnectionResponse(
            response=Response.CONNECTED, declared_limits=DeclaredLimits(context_bases=16, context_lifetime=604800)
        ),
        data=hexb("10 02 c0 10 80f524"),
    )
    b.invalid(
        "v1.connection_response.connected.declared-limits.context-bases.above",
        "A declared context_bases of 65: value_out_of_range at the value.",
        ["DECL-2", "CTX-1"],
        hexb("10 02 40 41"),
        "value_out_of_range",
    )
    both = b.valid(
        "v1.connection_response.hello.declaration.declared-limits",
        "hello_new_client with a reader declaration and the constrained profile.",
        ["CONN-11", "SNEG-1", "DECL-1"],
        ConnectionResponse(
            response=Response.HELLO_NEW_CLIENT,
            server_instance_id=1,
            reader_schemas=READS,
            declared_limits=CONSTRAINED_PROFILE,
        ),
        data=hexb("11 00000001 03 01 01 02 01 02") + _CONSTRAINED,
    )
    b.invalid(
        "v1.connection_response.connected.flags-zero",
        "connected followed by a response_flags of 0, which announces nothing: a trailing byte.",
        ["CONN-13"],
        hexb("10 00"),
        "trailing_bytes",
    )
    for bit in range(2, 8):
        b.invalid(
            f"v1.connection_response.connected.flags.reserved-bit-{bit}",
            f"response_flags with reserved bit {bit} set.",
            ["CONN-13"],
            bytes([0x10, 1 << bit | 1]) + hexb("01 01 01 01"),
            "reserved_bit",
        )
    b.invalid(
        "v1.connection_response.connected.declared-limits.missing",
        "has_declared_limits set but the frame ends.",
        ["CONN-11", "DECL-1"],
        hexb("10 02"),
        "truncated",
    )
    b.invalid(
        "v1.connection_response.connected.declared-limits.max-frame-size.below",
        "A declared max_frame_size of 511.",
        ["DECL-2"],
        hexb("10 02 01 ff03"),
        "value_out_of_range",
    )
    b.invalid(
        "v1.connection_response.hello.declared-limits.trailing-byte",
        "A byte after the declared limits.",
        ["CONN-13"],
        both + b"\x00",
        "trailing_bytes",
    )
    for code, name in (
        (2, "instance-id-mismatch"),
        (4, "unsupported-protocol-version"),
        (5, "unsupported-application-version"),
    ):
        b.valid(
            f"v1.connection_response.{name}",
            f"Response {code}: the version-0 layout, on version 1 too.",
            ["CONN-11", "CONN-6"],
            ConnectionResponse(response=Response(code)),
        )
    b.valid(
        "v1.connection_response.quarantined",
        "quarantined: the version-0 layout.",
        ["CONN-11", "CONN-7"],
        ConnectionResponse(response=Response.QUARANTINED, machine_message=b"q", human_message=b"maintenance"),
    )
    b.invalid(
        "v1.connection_response.connected.flags.bad-declaration",
        "connected whose declaration has type_count 0.",
        ["SNEG-2"],
        hexb("10 01 00"),
        "invalid_list",
    )
    b.invalid(
        "v1.connection_response.connected.flags.reader-schemas.trailing-byte",
        "A byte after the declaration.",
        ["CONN-13"],
        with_decl + b"\x00",
        "trailing_bytes",
    )
    b.invalid(
        "v1.connection_response.hello.flags.reader-schemas.cut",
        "hello_new_client whose declaration is cut.",
        ["CONN-11", "SNEG-1"],
        hello[:-1],
        "truncated",
    )
    b.invalid(
        "v1.connection_response.hello.short-id",
        "hello_new_client with 3 bytes of server instance id.",
        ["CONN-5"],
        hexb("11 000000"),
        "truncated",
    )
    b.invalid(
        "v1.connection_response.mismatch.trailing-byte",
        "instance_id_mismatch carries nothing, in version 1 too.",
        ["CONN-6"],
        hexb("12 00"),
        "trailing_bytes",
    )
    b.invalid(
        "v1.connection_response.code-6",
        "Response code 6 is unassigned.",
        ["CONN-4"],
        hexb("16"),
        "unknown_response_code",
    )
    return b


# -- batches ---------------------------------------------------------------------------------------------

HETERO = (
    Event(event_type_id=1, schema_version=6, key=b"\x02\x03", offset=4, timestamp=1618150125, event_data=b"\x05"),
    Event(
        event_type_id=2, schema_version=9, key=b"\x03\x04\x05", offset=6, timestamp=1618150126, event_data=b"\x07\x08"
    ),
)
SINGLE = (ev(),)
METERS = tuple(
    Event(
        event_type_id=1,
        schema_version=2,
        key=b"SM5R-%06d" % (100 + i),
        offset=48_000 + i,
        timestamp=TS,
        event_data=bytes([i % 7]) * 20,
    )
    for i in range(100)
)


def _extended(events: tuple[Event, ...], codec: BatchCodec) -> Batch:
    return Batch(events=events, layout=canonical_layout(events), format=BatchFormat(codec=codec))


def _batch_cases(b: Builder, prefix: str, wrap: Any, head: bytes) -> None:
    """The cases shared by the ``batch`` and ``batch_publish`` files; ``wrap`` turns a batch into the kind's value."""
    r = ["BATCH-12", "BATCH-15"]
    b.valid(
        f"{prefix}.v0.single",
        "A version-0 batch (extended clear) is a batch v1 with the same meaning (batch.single).",
        ["BATCH-12", "BATCH-3"],
        wrap(Batch(events=SINGLE, layout=canonical_layout(SINGLE))),
        data=head + hexb("3f 01 01 01 01 80e2cfaa06 01 01 01 6b 01 00 01 00 64"),
        canonical=False,
    )
    b.valid(
        f"{prefix}.v0.heterogeneous",
        "The version-0 heterogeneous batch.",
        ["BATCH-12", "BATCH-3"],
        wrap(Batch(events=HETERO, layout=canonical_layout(HETERO))),
        canonical=False,
    )
    packed = BatchLayout(
        **{**{n: getattr(canonical_layout(METERS), n) for n, _ in BatchLayout.FLAG_BITS}, "compressed": True}
    )
    b.valid(
        f"{prefix}.v0.gzip",
        "A version-0 gzip-compressed batch (bit 6) of 100 meter events.",
        ["BATCH-12", "BATCH-6"],
        wrap(Batch(events=METERS, layout=packed)),
        canonical=False,
    )
    b.valid(
        f"{prefix}.extended.none.single",
        "batch.single with the extended header, codec none (spec example).",
        [*r, "BATCH-14"],
        wrap(_extended(SINGLE, BatchCodec.NONE)),
        data=head + hexb("bf 00 01 01 01 01 80e2cfaa06 01 01 01 6b 01 00 01 00 64"),
        canonical=False,
    )
    for codec in BatchCodec:
        name = codec.wire_name
        b.valid(
            f"{prefix}.extended.{name}.heterogeneous",
            f"The heterogeneous batch, extended, codec {name}.",
            [*r, "BATCH-14", "CODEC-4"],
            wrap(_extended(HETERO, codec)),
            canonical=False,
        )
        b.valid(
            f"{prefix}.extended.{name}.meters",
            f"100 meter events, extended, codec {name}.",
            [
                *r,
                "BATCH-14",
                "CODEC-1" if codec is BatchCodec.GZIP else "CODEC-2" if codec is BatchCodec.ZSTD else "CODEC-4",
            ],
            wrap(_extended(METERS, codec)),
            canonical=False,
        )
    plain = head + hexb("bf 00 01 01 01 01 80e2cfaa06 01 01 01 6b 01 00 01 00 64")
    at = len(head)
    b.invalid(
        f"{prefix}.extended.bit-6",
        "Extended header with bit 6 (compressed) set.",
        ["BATCH-13"],
        plain[:at] + b"\xff" + plain[at + 1 :],
        "reserved_bit",
    )
    b.invalid(
        f"{prefix}.extended.no-format-byte",
        "Extended header byte, then nothing.",
        ["BATCH-12"],
        plain[: at + 1],
        "truncated",
    )
    for number in (3, 15):
        b.invalid(
            f"{prefix}.extended.codec-{number}",
            f"Codec {number} is unassigned.",
            ["BATCH-14"],
            plain[: at + 1] + bytes([number << 4]) + plain[at + 2 :],
            "unknown_format",
        )
    for mode in (2, 3, 15):
        # Mode 2 is context since draft 4: to a decoder that declared no context_bases it is unknown_format all
        # the same (CTX-1), so its case keeps its id; mode 3 is the first unassigned one.
        b.invalid(
            f"{prefix}.extended.mode-{mode}",
            "Mode 2 (context) to a decoder that declared no context_bases (CTX-1)."
            if mode == 2
            else f"Mode {mode} is unassigned.",
            ["BATCH-14", "CTX-1"] if mode == 2 else ["BATCH-14"],
            plain[: at + 1] + bytes([mode]) + plain[at + 2 :],
            "unknown_format",
        )
    body = plain[at + 12 :]
    zhead = plain[:at] + b"\xbf\x20" + plain[at + 2 : at + 12]
    ghead = plain[:at] + b"\xbf\x10" + plain[at + 2 : at + 12]
    z = zstandard.ZstdCompressor(level=19, write_checksum=True, write_content_size=True).compress(body)
    b.invalid(
        f"{prefix}.zstd.not-zstd",
        "Codec zstd but the body is not a zstd frame.",
        ["CODEC-2"],
        zhead + body,
        "bad_compression",
    )
    b.invalid(f"{prefix}.zstd.cut", "A zstd frame cut short.", ["CODEC-2"], zhead + z[:-3], "bad_compression")
    b.invalid(
        f"{prefix}.zstd.trailing-bytes",
        "A byte after the zstd frame.",
        ["CODEC-2"],
        zhead + z + b"\x00",
        "bad_compression",
    )
    b.invalid(
        f"{prefix}.zstd.two-frames",
        "Two zstd frames: a body is one frame.",
        ["CODEC-2"],
        zhead + z + z,
        "bad_compression",
    )
    bad_sum = z[:-1] + bytes([z[-1] ^ 0xFF])
    b.invalid(
        f"{prefix}.zstd.bad-checksum",
        "A zstd frame whose content checksum does not match.",
        ["CODEC-2"],
        zhead + bad_sum,
        "bad_compression",
    )
    skippable = hexb("502a4d18 04000000 00000000")
    b.invalid(
        f"{prefix}.zstd.skippable-frame",
        "A skippable frame is not a body.",
        ["CODEC-2"],
        zhead + skippable + z,
        "bad_compression",
    )
    bomb = zstandard.ZstdCompressor(level=3).compress(bytes(16 * 1024 * 1024))
    b.invalid(
        f"{prefix}.zstd.bomb",
        "16 MiB of zeros in a small zstd frame: refused by max_decompressed_size (8 MiB) while decompressing.",
        ["CODEC-3", "LIMIT-3"],
        zhead + bomb,
        "limit_exceeded",
    )
    b.invalid(
        f"{prefix}.zstd.window-over-configured-limit",
        "A frame whose window exceeds max_zstd_window=1024, refused before decompressing.",
        ["LIMIT-9", "CODEC-3"],
        zhead + zstandard.ZstdCompressor(level=19).compress(bytes(range(256)) * 64),
        "limit_exceeded",
        limits={"max_zstd_window": 1024},
    )
    b.invalid(
        f"{prefix}.gzip.not-gzip",
        "Codec gzip but the body is not gzip data.",
        ["CODEC-1", "BATCH-6"],
        ghead + body,
        "bad_compression",
    )
    b.invalid(
        f"{prefix}.gzip.trailing-bytes",
        "A byte after the gzip member.",
        ["CODEC-1", "BATCH-6"],
        ghead + gzip_body(body) + b"\x00",
        "bad_compression",
    )
    bomb_gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    b.invalid(
        f"{prefix}.gzip.bomb",
        "16 MiB of zeros as a gzip body: refused at max_decompressed_size.",
        ["CODEC-3", "LIMIT-3"],
        ghead + bomb_gz.compress(bytes(16 * 1024 * 1024)) + bomb_gz.flush(),
        "limit_exceeded",
    )
    b.invalid(
        f"{prefix}.extended.varint-at-configured-limit",
        "Extended, codec none: the header event_type_id is 80 80 80 80 "
        "80 and the input ends, against max_varint_bytes=5: limit_exceeded, not truncated.",
        ["LIMIT-2", "BATCH-12", "ERR-2"],
        plain[: at + 2] + b"\x80" * 5,
        "limit_exceeded",
        limits={"max_varint_bytes": 5},
    )
    b.invalid(
        f"{prefix}.v0.reserved-cases-stay",
        "A version-0 batch keeps its own errors: count 0.",
        ["BATCH-8", "BATCH-12"],
        head + hexb("3f 01 01 01 01 00 01 00"),
        "inconsistent_batch",
    )
    b.invalid(
        f"{prefix}.extended.delta-out-of-range-before-bad-lengths",
        "Extended, codec none, columns: timestamps[1] "
        "is -1 and the event_data_lengths column after it holds one value for two events: value_out_of_range (BATCH-9 is "
        "checked as each value is read), not inconsistent_batch.",
        ["BATCH-15", "BATCH-9", "ERR-2"],
        head + hexb("ba 00 01 01 00 00 02 00 02 01 02 02 00 01 01 00"),
        "value_out_of_range",
    )
    _records_cases(b, prefix, wrap, head)
    context_cases(b, prefix, wrap, head)


# -- records mode (RECORD-1..RECORD-9) -----------------------------------------------------------------------


def _registry_events(type_id: int, version: int, rows: list[tuple[bytes, int, dict[str, Any]]]) -> tuple[Event, ...]:
    from sinkproto.schemas import default_registry

    registry = default_registry()
    return tuple(
        Event(
            event_type_id=type_id,
            schema_version=version,
            key=key,
            offset=offset,
            timestamp=TS + i * 7,
            event_data=registry.encode(type_id, version, record),
        )
        for i, (key, offset, record) in enumerate(rows)
    )


def _meter(serial: str, wh: int, export: int, reactive: int | None, phase: str = "SINGLE") -> dict[str, Any]:
    return {
        "meter_serial": serial,
        "interval_seconds": 900,
        "active_energy_import_wh": wh,
        "active_energy_export_wh": export,
        "voltage_dv": 2301,
        "current_ma": 1200 + wh % 1000,
        "power_factor_permille": 950,
        "frequency_mhz": 50_010,
        "reactive_energy_varh": reactive,
        "phase": phase,
    }


RECORD_METERS = _registry_events(
    1,
    2,
    [
        (b"SM5R-000123", 48_001, _meter("SM5R-000123", 1_234_567, 0, None)),
        (b"SM5R-004711", 52_310, _meter("SM5R-004711", 7_654_321, 120_000, 55_000)),
        (b"SM5R-000124", 48_002, _meter("SM5R-000124", 1_300_001, 0, None, "L2")),
    ],
)
RECORD_TARIFFS = _registry_events(
    5,
    1,
    [
        (
            b"T-1",
            10,
            {
                "tariff_id": "T-1",
                "site_id": "site-9",
                "currency": "KES",
                "effective_from": 1_700_000_000,
                "bands": [
                    {"start_minute": 0, "price_per_kwh_minor": 1_500},
                    {"start_minute": 1_080, "price_per_kwh_minor": 2_900},
                ],
                "daily_fee_minor": 300,
            },
        ),
        (
            b"T-2",
            11,
            {
                "tariff_id": "T-2",
                "site_id": "site-9",
                "currency": "KES",
                "effective_from": 1_700_086_400,
                "bands": [],
                "daily_fee_minor": 0,
            },
        ),
    ],
)
RECORD_HEALTH = _registry_events(
    7,
    3,
    [
        (
            b"BS-17",
            900,
            {
                "station_id": "BS-17",
                "battery_voltage_mv": 12_700,
                "temperature_dc": -35,
                "rssi_dbm": -71,
                "storage_free_kib": 812_000,
                "outbox_depth": 12,
                "uptime_seconds": 86_400,
                "cellular_operator": "Safaricom",
                "meters_online": 96,
                "position": {"latitude_e7": -12_921_000, "longitude_e7": 368_219_000},
                "data_used_today_bytes": 1_048_576,
            },
        ),
        (
            b"BS-17",
            901,
            {
                "station_id": "BS-17",
                "battery_voltage_mv": 12_650,
                "temperature_dc": -30,
                "rssi_dbm": -75,
                "storage_free_kib": 811_900,
                "outbox_depth": 0,
                "uptime_seconds": 87_300,
                "cellular_operator": None,
                "meters_online": 97,
                "position": None,
                "data_used_today_bytes": 1_100_000,
            },
        ),
    ],
)


def _records_batch(events: tuple[Event, ...], codec: BatchCodec = BatchCodec.NONE) -> Batch:
    from sinkproto.construct_codec.batch_format import RECORDS_LAYOUT

    return Batch(events=events, layout=RECORDS_LAYOUT, format=BatchFormat(codec=codec, mode=BatchMode.RECORDS))


def _column(transform: int, payload: bytes) -> bytes:
    body = bytes([transform]) + payload
    return _varint(len(body)) + body


def _varint(value: int) -> bytes:
    from sinkproto.primitives import varint_bytes

    return varint_bytes(value, wide=True)


def _zz(value: int) -> bytes:
    from sinkproto.primitives import zigzag_encode

    return _varint(zigzag_encode(value))


def _meter_parts() -> tuple[bytes, list[bytes]]:
    """The records batch of RECORD_METERS, codec none, cut into its head (to count) and its columns."""
    return _record_parts(RECORD_METERS)


def _record_parts(events: tuple[Event, ...]) -> tuple[bytes, list[bytes]]:
    """The records batch of ``events`` (one type and version, fewer than 128), codec none: its head and columns."""
    from sinkproto.construct_codec.records import _OFFSETS, _TIMESTAMPS, KEY_COLUMN, build_column
    from sinkproto.records import transpose

    from ..model import vector_record_schemas

    type_id, version = events[0].event_type_id, events[0].schema_version
    plan = vector_record_schemas().plan(type_id, version)
    assert plan is not None
    keys = [e.key for e in events]
    columns = transpose(plan, [e.event_data for e in events])
    assert columns is not None
    parts = [
        build_column(KEY_COLUMN, keys, None),
        build_column(_OFFSETS, [e.offset for e in events], None),
        build_column(_TIMESTAMPS, [e.timestamp for e in events], None),
    ]
    parts += [build_column(c, v, keys) for c, v in zip(plan.columns, columns)]
    from sinkproto.construct_codec.batch_format import RECORDS_LAYOUT

    head = bytes([0x80 | RECORDS_LAYOUT.to_byte(), 0x01]) + _varint(type_id) + _varint(version) + _varint(len(events))
    return head, parts


def _records_cases(b: Builder, prefix: str, wrap: Any, head: bytes) -> None:
    r = ["RECORD-1", "RECORD-3", "RECORD-4", "RECORD-5", "BATCH-14"]
    p = f"{prefix}.records"
    for codec in BatchCodec:
        b.valid(
            f"{p}.{codec.wire_name}.meters",
            f"Three meter_reading v2 records (a union in both branches, an enum), codec {codec.wire_name}.",
            [*r, "RECORD-9"],
            wrap(_records_batch(RECORD_METERS, codec)),
            canonical=codec is BatchCodec.NONE,
        )
    b.valid(
        f"{p}.none.tariffs",
        "Two tariff_schedule v1 records: an array of nested records, one of them empty.",
        [*r, "RECORD-9"],
        wrap(_records_batch(RECORD_TARIFFS)),
    )
    b.valid(
        f"{p}.none.health",
        "Two base_station_health v3 records: unions of a string and of a nested record, both branches.",
        [*r, "RECORD-9"],
        wrap(_records_batch(RECORD_HEALTH)),
    )
    top, cols = _meter_parts()
    whole = head + top + b"".join(cols)
    keys, offsets, serial, interval = 0, 1, 3, 4  # column indices (2 is timestamps)
    phase, branch = len(cols) - 1, len(cols) - 3

    def swap(index: int, column: bytes) -> bytes:
        return head + top + b"".join(column if i == index else c for i, c in enumerate(cols))

    b.valid(
        f"{p}.none.plain-columns",
        "The same three meters with every column plain: a decoder accepts any transform.",
        ["RECORD-5", "RECORD-9"],
        wrap(_records_batch(RECORD_METERS)),
        data=head + top + _column(0, b"".join(_varint(len(e.key)) + e.key for e in RECORD_METERS)) + b"".join(cols[1:]),
        canonical=False,
    )
    b.invalid(
        f"{p}.flags",
        "Mode records with same_key_length also set.",
        ["RECORD-1"],
        head + bytes([whole[len(head)] | 0x08, 1]) + whole[len(head) + 2 :],
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.unknown-schema",
        "Records of event type 99, whose schema the decoder does not know.",
        ["RECORD-2"],
        head + top[:2] + hexb("63 01 03") + b"".join(cols),
        "unknown_format",
    )
    b.invalid(
        f"{p}.count-0",
        "count 0.",
        ["RECORD-3", "BATCH-8"],
        head + top[:4] + b"\x00" + b"".join(cols),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.trailing-bytes", "A byte after the last column.", ["RECORD-3"], whole + b"\x00", "inconsistent_batch"
    )
    b.invalid(
        f"{p}.missing-column",
        "The last column (phase) is missing.",
        ["RECORD-3", "CONV-6"],
        whole[: -len(cols[phase])],
        "truncated",
    )
    b.invalid(
        f"{p}.key-transform-on-keys",
        "The keys column with transform key.",
        ["RECORD-5"],
        swap(keys, _column(6, b"")),
        "unknown_format",
    )
    b.invalid(
        f"{p}.delta-on-bytes",
        "A bytes column (meter_serial) with the int transform delta.",
        ["RECORD-5"],
        swap(serial, _column(1, b"\x00\x00\x00")),
        "unknown_format",
    )
    b.invalid(
        f"{p}.prefix-on-int",
        "An int column with the bytes transform prefix.",
        ["RECORD-5"],
        swap(interval, _column(5, b"")),
        "unknown_format",
    )
    b.invalid(
        f"{p}.transform-12",
        "Transform 12 is unassigned.",
        ["RECORD-5"],
        swap(interval, _column(12, b"")),
        "unknown_format",
    )
    b.invalid(
        f"{p}.empty-column",
        "A column chunk of length 0: no transform byte.",
        ["RECORD-5"],
        swap(interval, b"\x00"),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.too-few-values",
        "interval_seconds plain with two values for three rows.",
        ["RECORD-5"],
        swap(interval, _column(0, _zz(900) * 2)),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.too-many-values",
        "interval_seconds plain with four values for three rows.",
        ["RECORD-5"],
        swap(interval, _column(0, _zz(900) * 4)),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.int-out-of-range",
        "interval_seconds (an Avro int) constant 2^31.",
        ["RECORD-5"],
        swap(interval, _column(2, _zz(1 << 31))),
        "value_out_of_range",
    )
    b.invalid(
        f"{p}.enum-out-of-range",
        "phase (4 symbols) constant 4.",
        ["RECORD-5"],
        swap(phase, _column(2, _zz(4))),
        "value_out_of_range",
    )
    b.invalid(
        f"{p}.branch-out-of-range",
        "A union of two branches with branch 2.",
        ["RECORD-5"],
        swap(branch, _column(2, _zz(2))),
        "value_out_of_range",
    )
    b.invalid(
        f"{p}.negative-offset",
        "The offsets column constant -1: offsets are 0..2^64-1.",
        ["RECORD-5"],
        swap(offsets, _column(2, _zz(-1))),
        "value_out_of_range",
    )
    b.invalid(
        f"{p}.dictionary-index",
        "A dictionary of one entry and an index 1.",
        ["RECORD-7"],
        swap(interval, _column(4, b"\x01" + _zz(900) + b"\x00\x00\x01")),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.prefix-too-long",
        "A prefix length over the previous value's length.",
        ["RECORD-7"],
        swap(keys, _column(5, b"\x00\x01A\x02\x00\x00\x00")),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.width-65",
        "bitpacked with width 65.",
        ["RECORD-8"],
        swap(interval, _column(7, _zz(0) + b"\x41" + bytes(25))),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.padding-bits",
        "bitpacked width 1 for three values with a padding bit set.",
        ["RECORD-8"],
        swap(interval, _column(7, _zz(900) + b"\x01\x08")),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.digits-0",
        "numbered with digits 0.",
        ["RECORD-8"],
        swap(keys, _column(9, b"\x00\x00\x02" + _zz(0))),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.digits-19",
        "numbered with digits 19.",
        ["RECORD-8"],
        swap(keys, _column(9, b"\x00\x13\x02" + _zz(0))),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.number-out-of-range",
        "numbered with 2 digits and the number 100.",
        ["RECORD-5", "RECORD-8"],
        swap(keys, _column(9, b"\x00\x02\x02" + _zz(100))),
        "value_out_of_range",
    )
    b.invalid(
        f"{p}.delta-bitpacked-cut",
        "delta_bitpacked whose packed bytes are missing.",
        ["RECORD-5"],
        swap(interval, _column(8, _zz(900) + _zz(0) + b"\x08")),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.dictionary-over-configured-limit",
        "A dictionary of 2 entries against max_dictionary_entries=1.",
        ["RECORD-6"],
        swap(interval, _column(4, b"\x02" + _zz(900) + _zz(901) + b"\x00\x01\x00")),
        "limit_exceeded",
        limits={"max_dictionary_entries": 1},
    )
    b.invalid(
        f"{p}.columns-over-configured-limit",
        "meter_reading v2 flattens to 11 columns, against max_record_columns=10.",
        ["RECORD-6", "LIMIT-10"],
        whole,
        "limit_exceeded",
        limits={"max_record_columns": 10},
    )
    b.invalid(
        f"{p}.event-data-over-configured-limit",
        "Rebuilt meter readings of about 40 bytes against max_event_data_size=30.",
        ["RECORD-6"],
        whole,
        "limit_exceeded",
        limits={"max_event_data_size": 30},
    )
    b.invalid(
        f"{p}.key-over-configured-limit",
        "Keys of 11 bytes against max_key_size=10.",
        ["RECORD-6", "LIMIT-5"],
        whole,
        "limit_exceeded",
        limits={"max_key_size": 10},
    )
    big = _column(2, _varint(60_000) + b"S" * 60_000)
    b.invalid(
        f"{p}.expansion-over-configured-limit",
        "A constant 60,000-byte key for three events: 180,000 bytes rebuilt from a "
        "60,000-byte body, against max_decompressed_size=100,000.",
        ["RECORD-6"],
        swap(keys, big),
        "limit_exceeded",
        limits={"max_decompressed_size": 100_000},
    )
    # Transforms whose values outgrow the bytes that carry them, refused at the default limits (RECORD-6).
    growing = b"".join(_varint(i) + b"\x01a" for i in range(5000))  # value i shares all i bytes of the one before
    b.invalid(
        f"{p}.prefix-expansion",
        "5,000 keys, each the previous one plus a byte: 12.5 MB of keys from 20 kB, refused "
        "while the prefix column builds them (max_decompressed_size 8 MiB).",
        ["RECORD-6", "RECORD-3"],
        head + top[:4] + _varint(5000) + _column(5, growing),
        "limit_exceeded",
    )
    numbered = _column(9, _varint(200) + b"K" * 200 + b"\x01" + b"\x02" + _zz(0))
    b.invalid(
        f"{p}.numbered-expansion",
        "65,536 keys numbered after a 200-byte prefix: 13 MB of keys from 210 bytes, "
        "refused before they are built (max_decompressed_size 8 MiB).",
        ["RECORD-6", "RECORD-3"],
        head + top[:4] + _varint(65_536) + numbered,
        "limit_exceeded",
    )
    tariffs = _records_batch(RECORD_TARIFFS)
    from ..model import encode_kind

    b.invalid(
        f"{p}.varint-at-configured-limit",
        "interval_seconds plain: two values, then 80 80 80 80 80 80 ending the "
        "column, against max_varint_bytes=6: limit_exceeded at the 6th byte, not inconsistent_batch.",
        ["LIMIT-2", "RECORD-5", "ERR-2"],
        swap(interval, _column(0, _zz(900) * 2 + b"\x80" * 6)),
        "limit_exceeded",
        limits={"max_varint_bytes": 6},
    )
    b.invalid(
        f"{p}.varint-at-default-limit",
        "interval_seconds plain: two values, then ten 80 bytes ending the column: "
        "overlong_varint, not inconsistent_batch.",
        ["CONV-4", "LIMIT-2", "RECORD-5", "ERR-2"],
        swap(interval, _column(0, _zz(900) * 2 + b"\x80" * 10)),
        "overlong_varint",
    )
    b.invalid(
        f"{p}.items-over-configured-limit",
        "Two tariff bands against max_collection_items=1.",
        ["RECORD-6", "LIMIT-10"],
        encode_kind(b.kind, wrap(tariffs), 1),
        "limit_exceeded",
        limits={"max_collection_items": 1},
    )
    # Error order of the records header (ERR-2): bit 6 on the header byte alone (BATCH-13) before the flags that mode
    # records forbids (RECORD-1); the writer schema and max_record_columns right after the header values, before the
    # body is decompressed (RECORD-2, RECORD-6).
    b.invalid(
        f"{p}.flags-and-reserved-bit",
        "Extended header c8 (bit 6 and same_key_length set) in mode records: "
        "reserved_bit, met on the header byte before the format byte makes the flags wrong (RECORD-1).",
        ["BATCH-13", "RECORD-1", "ERR-2"],
        head + bytes([0xC8, 0x01]) + whole[len(head) + 2 :],
        "reserved_bit",
    )
    b.invalid(
        f"{p}.unknown-schema.bad-gzip",
        "Records of event type 99 (unknown) with codec gzip and a body that is not "
        "gzip: unknown_format, checked before the body is decompressed.",
        ["RECORD-2", "CODEC-1", "ERR-2"],
        head + bytes([top[0], 0x11]) + hexb("63 01") + b"not gzip",
        "unknown_format",
    )
    b.invalid(
        f"{p}.columns-over-configured-limit.bad-gzip",
        "meter_reading v2 (11 columns) against max_record_columns=10, "
        "codec gzip, a body that is not gzip: limit_exceeded, checked before the body is decompressed.",
        ["RECORD-6", "LIMIT-10", "CODEC-1", "ERR-2"],
        head + bytes([top[0], 0x11]) + top[2:4] + b"not gzip",
        "limit_exceeded",
        limits={"max_record_columns": 10},
    )
    # RECORD-3 / BATCH-8: nothing bounds count by the body's size; constant and bitpacked columns carry many values in
    # a few bytes.
    many = _registry_events(
        1, 2, [(b"SM5R-000123", 1_000 + i, _meter("SM5R-000123", 1_234_567, 0, None)) for i in range(130)]
    )
    b.valid(
        f"{p}.none.count-over-body-size",
        "130 readings of one meter, one minute apart: a body of fewer bytes than "
        "events (count is not bounded by the body's size).",
        ["RECORD-3", "BATCH-8", "RECORD-5"],
        wrap(_records_batch(many)),
    )
    _records_rules_cases(b, p, wrap, head)


def _health(station: str, operator: str | None) -> dict[str, Any]:
    return {
        "station_id": station,
        "battery_voltage_mv": 12_700,
        "temperature_dc": -35,
        "rssi_dbm": -71,
        "storage_free_kib": 812_000,
        "outbox_depth": 0,
        "uptime_seconds": 86_400,
        "cellular_operator": operator,
        "meters_online": 96,
        "position": None,
        "data_used_today_bytes": 0,
    }


def _serial_meters(serials: list[str]) -> tuple[Event, ...]:
    return _registry_events(
        1, 2, [(s.encode(), 48_001 + i, _meter(s, 1_234_567 + i, 0, None)) for i, s in enumerate(serials)]
    )


def _records_rules_cases(b: Builder, p: str, wrap: Any, head: bytes) -> None:
    """The records rules a reader of the prose alone could not decide (issue #19): each pinned here."""
    # RECORD-10: `key` by the schema's structure, not by how many rows a column happens to hold.
    relayed = _registry_events(
        7, 3, [(b"BS-17", 900, _health("BS-17", "BS-17")), (b"BS-18", 901, _health("BS-18", "BS-18"))]
    )
    b.valid(
        f"{p}.none.branch-equal-to-key",
        "Two base_station_health v3 records whose cellular_operator (a union branch) equals the key in every row: "
        "the encoder codes that column without `key`, which only a column every event reaches by the schema allows.",
        ["RECORD-10", "RECORD-9"],
        wrap(_records_batch(relayed)),
    )
    top, cols = _record_parts(relayed)
    operator = 3 + 8  # keys, offsets, timestamps; station_id .. uptime_seconds, the branch of cellular_operator
    b.invalid(
        f"{p}.key-on-branch-column",
        "The same batch with the string branch of cellular_operator coded `key`: every row takes the branch, so the "
        "column holds one value per event and each equals the key, but a union branch is not reached by every event "
        "by the schema's structure: unknown_format.",
        ["RECORD-5", "RECORD-10"],
        head + top + b"".join(_column(6, b"") if i == operator else c for i, c in enumerate(cols)),
        "unknown_format",
    )

    # RECORD-11: what a column gives no row is read but not checked.
    top, cols = _meter_parts()
    reactive, interval, keys = len(cols) - 2, 4, 0

    def swap(index: int, column: bytes) -> bytes:
        return head + top + b"".join(column if i == index else c for i, c in enumerate(cols))

    b.valid(
        f"{p}.none.delta-bitpacked-one-value",
        "The long branch of reactive_energy_varh (one value, 55000) coded delta_bitpacked with base -7 and width 64: "
        "with one value there is no difference, so base and width are unused and accepted (width still at most 64).",
        ["RECORD-11", "RECORD-8", "RECORD-5"],
        wrap(_records_batch(RECORD_METERS)),
        data=swap(reactive, _column(8, _zz(55_000) + _zz(-7) + b"\x40")),
        canonical=False,
    )
    b.invalid(
        f"{p}.delta-bitpacked-one-value-width-65",
        "The same one-value delta_bitpacked column with width 65: no bits are packed, but a width above 64 is "
        "refused whatever the number of values.",
        ["RECORD-8", "RECORD-11"],
        swap(reactive, _column(8, _zz(55_000) + _zz(0) + b"\x41")),
        "inconsistent_batch",
    )
    b.valid(
        f"{p}.none.dictionary-unused-entry",
        "interval_seconds (an Avro int) as a dictionary of 900 and 2^31 whose indexes select only 900: an entry no "
        "row takes is not range-checked.",
        ["RECORD-11", "RECORD-5", "RECORD-7"],
        wrap(_records_batch(RECORD_METERS)),
        data=swap(interval, _column(4, b"\x02" + _zz(900) + _zz(1 << 31) + b"\x00\x00\x00")),
        canonical=False,
    )
    unmetered = _registry_events(
        1,
        2,
        [
            (b"SM5R-000123", 48_001, _meter("SM5R-000123", 1_234_567, 0, None)),
            (b"SM5R-000124", 48_002, _meter("SM5R-000124", 1_300_001, 0, None)),
        ],
    )
    unmetered_top, unmetered_cols = _record_parts(unmetered)
    assert unmetered_cols[reactive] == b"\x01\x00"  # no row takes the long branch: an empty plain column

    def unrow(column: bytes) -> bytes:
        return head + unmetered_top + b"".join(column if i == reactive else c for i, c in enumerate(unmetered_cols))

    b.valid(
        f"{p}.none.constant-no-rows",
        "Two meter readings without reactive energy: the long branch of reactive_energy_varh holds no value, coded "
        "constant 2^63 (outside an Avro long): the value gives no row, so it is read but not range-checked.",
        ["RECORD-11", "RECORD-5"],
        wrap(_records_batch(unmetered)),
        data=unrow(_column(2, _zz(1 << 63))),
        canonical=False,
    )
    b.invalid(
        f"{p}.constant-no-rows-no-value",
        "The same column coded constant with no value after the transform byte: a constant's value is present "
        "even when no row takes it.",
        ["RECORD-5", "RECORD-11"],
        unrow(_column(2, b"")),
        "inconsistent_batch",
    )

    # RECORD-9: numbered only when every value has one length and one prefix before its last `digits` digits.
    for name, serials, what in (
        (
            "numbered-lengths-differ",
            ["SM5R-123", "SM5R-4711", "SM5R-124"],
            "serials of two lengths: numbered cannot carry them, whatever digits",
        ),
        (
            "numbered-prefixes-differ",
            ["SM5R-000123", "SM5X-004711", "SM5R-000124"],
            "serials of one length whose prefixes before the 6 digits differ: no numbered",
        ),
        (
            "numbered-20-digits",
            ["10000000000000000123", "10000000000000004711", "10000000000000000124"],
            "serials of 20 decimal digits: numbered with 18 digits (the most) and the prefix 10",
        ),
    ):
        b.valid(
            f"{p}.none.{name}",
            f"Three meter readings keyed by their {what}.",
            ["RECORD-9"],
            wrap(_records_batch(_serial_meters(serials))),
        )

    # RECORD-6: a numbered column's numbers are read and checked before the size of its values.
    b.invalid(
        f"{p}.numbered-number-out-of-range-before-expansion",
        "65,536 keys numbered after a 200-byte prefix (13 MB, over max_decompressed_size) with 1 digit and the "
        "number 10: value_out_of_range, since the numbers are checked before the values' total size.",
        ["RECORD-6", "RECORD-5", "RECORD-8"],
        head + top[:4] + _varint(65_536) + _column(9, _varint(200) + b"K" * 200 + b"\x01\x02" + _zz(10)),
        "value_out_of_range",
    )

    # RECORD-12: inside one column, the payload is read whole before any value is derived or range-checked.
    b.invalid(
        f"{p}.out-of-range-before-cut",
        "interval_seconds plain: 2^31 (outside an Avro int), 900, and no third value: inconsistent_batch, since "
        "the payload is read whole before the range of its values is checked.",
        ["RECORD-12", "RECORD-5", "ERR-2"],
        swap(interval, _column(0, _zz(1 << 31) + _zz(900))),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.dictionary-index-before-overlong-index",
        "interval_seconds dictionary of one entry, indexes 1 (not below entry_count), 0, then ten 80 bytes: "
        "overlong_varint, since every index is read before the first is looked up.",
        ["RECORD-12", "RECORD-7", "CONV-4", "ERR-2"],
        swap(interval, _column(4, b"\x01" + _zz(900) + b"\x01\x00" + b"\x80" * 10)),
        "overlong_varint",
    )
    b.invalid(
        f"{p}.out-of-range-before-dictionary-index",
        "interval_seconds dictionary of 2^31 and 900, indexes 0 (a value out of range), 1, 5 (not below "
        "entry_count): inconsistent_batch, since every index is looked up before any value's range is checked.",
        ["RECORD-12", "RECORD-7", "RECORD-5"],
        swap(interval, _column(4, b"\x02" + _zz(1 << 31) + _zz(900) + b"\x00\x01\x05")),
        "inconsistent_batch",
    )
    grown = (
        _varint(0) + _varint(60) + b"a" * 60 + _varint(60) + _varint(60) + b"b" * 60 + _varint(0) + _varint(5) + b"c"
    )
    b.invalid(
        f"{p}.prefix-expansion-before-cut",
        "The keys column prefix: 60 bytes, then 120 (over max_decompressed_size=100), then a rest announced as 5 "
        "bytes of which 1 is there: inconsistent_batch, since the payload is read whole before values are built.",
        ["RECORD-12", "RECORD-6", "RECORD-5"],
        swap(keys, _column(5, grown)),
        "inconsistent_batch",
        limits={"max_decompressed_size": 100},
    )
    _patched_cases(b, p, wrap, head)


def _patched_meters() -> tuple[Event, ...]:
    """16 readings whose offsets (one far off) and import registers (one far off) the encoder codes with exceptions."""
    rows = []
    for i in range(16):
        serial = f"SM5R-{200 + i:06d}"
        wh = 2_000_000 + (i * 5) % 7 if i != 9 else 9_876_543
        offset = 70_000 + i if i != 15 else 9_000_000_000
        rows.append((serial.encode(), offset, _meter(serial, wh, 0, None)))
    return _registry_events(1, 2, rows)


def _patched_cases(b: Builder, p: str, wrap: Any, head: bytes) -> None:
    """RECORD-5, RECORD-8, RECORD-9, RECORD-12: the transforms patched (10) and delta_patched (11)."""
    events = _patched_meters()
    top, cols = _record_parts(events)
    offsets, energy = 1, 5
    assert cols[offsets][1] == 11 and cols[energy][1] == 10, "the canonical choice must use both transforms"
    b.valid(
        f"{p}.none.patched",
        "16 meter readings: offsets 70000.. with the last at 9000000000 (delta_patched: differences 1 packed in "
        "width 0, one exception), "
        "active_energy_import_wh near 2000000 with one at 9876543 and current_ma (patched: width 3, one exception).",
        ["RECORD-5", "RECORD-8", "RECORD-9"],
        wrap(_records_batch(events)),
    )
    # The packed bits of an exception's row are ignored: here they hold 7, the exception's value replaces them.
    energy_column = cols[energy]
    packed_from = 2 + len(_zz(2_000_000)) + 2  # length, transform, base, width, exception_count
    bits = bytearray(energy_column[packed_from : packed_from + 6])  # 16 values x 3 bits
    whole = int.from_bytes(bits, "little") | (7 << (9 * 3))
    patched_bits = energy_column[:packed_from] + whole.to_bytes(6, "little") + energy_column[packed_from + 6 :]
    b.valid(
        f"{p}.none.patched-exception-bits-ignored",
        "The same batch with the packed bits of the import register's exception row set to 7: a decoder ignores "
        "them, the exception's value replaces them.",
        ["RECORD-5", "RECORD-8"],
        wrap(_records_batch(events)),
        data=head + top + b"".join(patched_bits if i == energy else c for i, c in enumerate(cols)),
        canonical=False,
    )
    top, cols = _meter_parts()
    interval, reactive = 4, len(cols) - 2

    def swap(index: int, column: bytes) -> bytes:
        return head + top + b"".join(column if i == index else c for i, c in enumerate(cols))

    b.valid(
        f"{p}.none.patched-exception-below-base",
        "interval_seconds (900 x 3) as patched with base 1000, width 0 and every row an exception of -100.",
        ["RECORD-5", "RECORD-8"],
        wrap(_records_batch(RECORD_METERS)),
        data=swap(interval, _column(10, _zz(1000) + b"\x00\x03" + b"".join(bytes([i]) + _zz(-100) for i in range(3)))),
        canonical=False,
    )
    b.valid(
        f"{p}.none.delta-patched-one-value",
        "The long branch of reactive_energy_varh (one value, 55000) as delta_patched with base -7, width 64 and no "
        "exception: a patched payload of no value, base and width unused (RECORD-11).",
        ["RECORD-11", "RECORD-8", "RECORD-5"],
        wrap(_records_batch(RECORD_METERS)),
        data=swap(reactive, _column(11, _zz(55_000) + _zz(-7) + b"\x40\x00")),
        canonical=False,
    )
    b.invalid(
        f"{p}.patched-exception-count-over-n",
        "interval_seconds (3 values) as patched with exception_count 4 and nothing after it: inconsistent_batch as "
        "soon as the count is read, before the missing packed bytes and exceptions.",
        ["RECORD-8", "RECORD-12"],
        swap(interval, _column(10, _zz(900) + b"\x00\x04")),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.patched-index-not-ascending",
        "interval_seconds as patched with exceptions at rows 1 and 1.",
        ["RECORD-8"],
        swap(interval, _column(10, _zz(900) + b"\x00\x02" + b"\x01" + _zz(0) + b"\x01" + _zz(0))),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.patched-index-not-below-n",
        "interval_seconds (3 values) as patched with an exception at row 3.",
        ["RECORD-8"],
        swap(interval, _column(10, _zz(900) + b"\x00\x01" + b"\x03" + _zz(0))),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.patched-width-65",
        "interval_seconds as patched with width 65 (25 packed bytes for 3 values) and no exception.",
        ["RECORD-8"],
        swap(interval, _column(10, _zz(0) + b"\x41\x00" + bytes(25))),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.patched-cut",
        "interval_seconds as patched with one exception whose value is missing.",
        ["RECORD-5"],
        swap(interval, _column(10, _zz(900) + b"\x00\x01\x00")),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.patched-exception-out-of-range",
        "interval_seconds (an Avro int) as patched, base 900 and an exception at row 1 of +2^31.",
        ["RECORD-5", "RECORD-8"],
        swap(interval, _column(10, _zz(900) + b"\x00\x01\x01" + _zz(1 << 31))),
        "value_out_of_range",
    )
    b.invalid(
        f"{p}.patched-index-before-out-of-range",
        "interval_seconds as patched: an exception at row 0 of +2^31 (out of range), then one at row 0 again: "
        "inconsistent_batch, since every index is checked before any value's range.",
        ["RECORD-12", "RECORD-8", "RECORD-5"],
        swap(interval, _column(10, _zz(900) + b"\x00\x02\x00" + _zz(1 << 31) + b"\x00" + _zz(0))),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.delta-patched-cut",
        "interval_seconds as delta_patched, width 8 for its 2 differences, whose packed bytes are missing.",
        ["RECORD-5"],
        swap(interval, _column(11, _zz(900) + _zz(0) + b"\x08\x00")),
        "inconsistent_batch",
    )
    b.invalid(
        f"{p}.delta-patched-exception-count-over-n",
        "interval_seconds (3 values, 2 differences) as delta_patched with exception_count 3.",
        ["RECORD-8"],
        swap(interval, _column(11, _zz(900) + _zz(0) + b"\x00\x03")),
        "inconsistent_batch",
    )


def batch() -> Builder:
    b = BuilderV1("batch")
    _batch_cases(b, "v1.batch", lambda batch_value: batch_value, b"")
    b.invalid("v1.batch.empty", "No bytes: a batch has at least its header byte.", ["BATCH-12"], b"", "truncated")
    return b


def batch_publish() -> Builder:
    b = BuilderV1("batch_publish")
    _batch_cases(b, "v1.batch_publish", lambda batch_value: BatchPublish(message_id=7, batch=batch_value), b"\x20\x07")
    one = Batch(events=SINGLE, layout=canonical_layout(SINGLE))
    for mid in (0, 4095):
        b.valid(
            f"v1.batch_publish.message-id.{mid}",
            f"Message id {mid}.",
            ["BPUB-1", "FRAME-8"],
            BatchPublish(message_id=mid, batch=one),
            canonical=False,
        )
    b.invalid(
        "v1.batch_publish.header-only",
        "Only the 2 header bytes: the batch is missing.",
        ["BPUB-1"],
        hexb("2007"),
        "truncated",
    )
    b.invalid("v1.batch_publish.one-byte", "One byte of a type-2 frame.", ["FRAME-8"], hexb("20"), "truncated")
    return b


# -- batch result -----------------------------------------------------------------------------------------


def batch_result() -> Builder:
    b = BuilderV1("batch_result")
    r = ["BRES-1", "FRAME-8"]
    example = b.valid(
        "v1.batch_result.spec-example",
        "Index 2 NACKed with unknown_schema, empty human message (spec example).",
        [*r, "BRES-7"],
        BatchResult(message_id=7, entries=(BatchResultEntry(index=2, machine_message=b"unknown_schema"),)),
        data=hexb("8007 01 02 0e 756e6b6e6f776e5f736368656d61 00"),
    )
    three = b.valid(
        "v1.batch_result.three",
        "Three NACKed events with messages.",
        r,
        BatchResult(
            message_id=0xABC,
            entries=(
                BatchResultEntry(index=0, machine_message=b"undecodable", human_message=b"avro datum cut"),
                BatchResultEntry(index=5, machine_message=b"rejected", human_message=b"meter unknown"),
                BatchResultEntry(index=99, machine_message=b"E42", human_message="lecture refus\u00e9e".encode()),
            ),
        ),
    )
    for mid in (0, 4095):
        b.valid(
            f"v1.batch_result.message-id.{mid}",
            f"Message id {mid}.",
            r,
            BatchResult(message_id=mid, entries=(BatchResultEntry(index=0, machine_message=b""),)),
        )
    b.valid(
        "v1.batch_result.index.max",
        "The largest index a varint holds (the connection, not the decoder, checks the batch size).",
        [*r, "BRES-5"],
        BatchResult(message_id=1, entries=(BatchResultEntry(index=(1 << 64) - 1, machine_message=b"x"),)),
    )
    b.invalid("v1.batch_result.empty", "nack_count 0: an empty list.", ["BRES-2"], hexb("8007 00"), "invalid_list")
    b.invalid(
        "v1.batch_result.index-twice",
        "Index 2 listed twice.",
        ["BRES-2"],
        hexb("8007 02 02 00 00 02 00 00"),
        "invalid_list",
    )
    b.invalid(
        "v1.batch_result.index-descending",
        "Indices 3 then 1.",
        ["BRES-2"],
        hexb("8007 02 03 00 00 01 00 00"),
        "invalid_list",
    )
    b.invalid(
        "v1.batch_result.trailing-byte", "A byte after the last entry.", ["BRES-2"], example + b"\x00", "trailing_bytes"
    )
    b.invalid(
        "v1.batch_result.count-over-limit",
        "nack_count 2^32: refused when read.",
        ["BRES-2", "LIMIT-4"],
        hexb("8007 8080808010"),
        "limit_exceeded",
    )
    b.invalid(
        "v1.batch_result.count-over-configured-limit",
        "Three entries against max_batch_events=2.",
        ["BRES-2", "LIMIT-4"],
        three,
        "limit_exceeded",
        limits={"max_batch_events": 2},
    )
    b.invalid(
        "v1.batch_result.varint-at-configured-limit",
        "The first index is ff ff ff ff and the frame ends, against "
        "max_varint_bytes=4: limit_exceeded at the 4th byte, not truncated.",
        ["LIMIT-2", "BRES-1", "ERR-2"],
        hexb("8007 01 ffffffff"),
        "limit_exceeded",
        limits={"max_varint_bytes": 4},
    )
    b.invalid(
        "v1.batch_result.varint-at-default-limit",
        "The first index is ten ff bytes and the frame ends: overlong_varint, not truncated.",
        ["CONV-4", "LIMIT-2", "BRES-1", "ERR-2"],
        hexb("8007 01") + b"\xff" * 10,
        "overlong_varint",
    )
    for cut in range(len(example)):
        b.invalid(
            f"v1.batch_result.truncated-at-{cut}",
            f"The first {cut} of {len(example)} bytes of the spec example.",
            ["BRES-1", "CONV-6"],
            example[:cut],
            "truncated",
        )
    return b


# -- frames -------------------------------------------------------------------------------------------------


def frame() -> Builder:
    b = BuilderV1("frame")
    b.valid(
        "v1.frame.publish",
        "A PUBLISH is the same frame on a version-1 connection.",
        ["FRAME-7", "PUB-1"],
        Publish(message_id=0x31A, event=ev(key=b"cap-1", offset=7, event_data=b"\x78")),
        data=hexb("431a 01 01 05 6361702d31 07 80e2cfaa06 01 78"),
    )
    b.valid(
        "v1.frame.ack",
        "An ACK on a version-1 connection.",
        ["FRAME-7", "ACK-1"],
        Ack(message_id=4095),
        data=hexb("3fff"),
    )
    b.valid("v1.frame.ping", "A PING on a version-1 connection.", ["FRAME-7", "FRAME-5"], Ping(), data=hexb("5000"))
    # Type 9 is CLOSE since draft 3 (close.json): its case (type-9) is withdrawn, not reused.
    for t in range(10, 16):
        b.invalid(
            f"v1.frame.type-{t}",
            f"Type {t} is unassigned in version 1: decided from the type nibble alone.",
            ["FRAME-7"],
            bytes([t << 4, 0, 0]),
            "unknown_type",
        )
    b.invalid("v1.frame.empty", "A zero-length frame.", ["STREAM-3"], b"", "truncated")
    return b


# -- CLOSE ---------------------------------------------------------------------------------------------------


def close() -> Builder:
    b = BuilderV1("close")
    r = ["CLOSE-1", "FRAME-7"]
    b.valid(
        "v1.close.drain.nothing-processed",
        "A drain with nothing processed yet and no text (spec example).",
        r,
        Close(error_class=CloseCode.NO_ERROR),
        data=hexb("90 00 00 00"),
    )
    refused = b.valid(
        "v1.close.quarantined",
        "After quarantined: handshake_refused, HS-18, last message id 42, retry after 642 s (spec example).",
        [*r, "CLOSE-4"],
        Close(error_class=CloseCode.HANDSHAKE_REFUSED, requirement=b"HS-18", last_message_id=42, retry_after=642),
        data=hexb("93 01 05 48532d3138 2a 8205 00"),
    )
    b.valid(
        "v1.close.unknown-type",
        "After an unknown frame type: unknown_type, FRAME-7, last message id 7 (spec example).",
        [*r, "CLOSE-3"],
        Close(error_class=CloseCode.UNKNOWN_TYPE, requirement=b"FRAME-7", last_message_id=7),
        data=hexb("91 16 07 4652414d452d37 07 00"),
    )
    b.valid(
        "v1.close.drain.text",
        "A drain after message id 4095, with a UTF-8 text.",
        [*r, "CLOSE-6", "CLOSE-7"],
        Close(error_class=CloseCode.NO_ERROR, last_message_id=4095, human_message="arr\u00eat planifi\u00e9".encode()),
    )
    for code in CloseCode:
        b.valid(
            f"v1.close.code.{code.wire_name}",
            f"Close code {int(code)}, {code.wire_name}.",
            r,
            Close(error_class=code, requirement=b"ERR-11" if code else b""),
        )
    b.valid(
        "v1.close.retry-after.bounds",
        "retry_after 1 and no last message id.",
        r,
        Close(error_class=CloseCode.HANDSHAKE_REFUSED, requirement=b"HS-9", retry_after=1),
        data=hexb("92 01 04 48532d39 01 00"),
    )
    b.valid(
        "v1.close.retry-after.max",
        "retry_after 86400, the largest.",
        r,
        Close(error_class=CloseCode.HANDSHAKE_REFUSED, retry_after=86400),
    )
    b.valid(
        "v1.close.limits.at-configured",
        "A requirement of 32 bytes and a text of 1024 bytes: at the default limits.",
        ["CLOSE-1", "LIMIT-12"],
        Close(error_class=CloseCode.INTERNAL_ERROR, requirement=b"R" * 32, human_message=b"t" * 1024),
    )
    b.invalid(
        "v1.close.requirement-over-limit",
        "A requirement of 33 bytes against max_requirement_size 32: refused when its length is read.",
        ["CLOSE-2", "LIMIT-12"],
        hexb("90 02 21") + b"R" * 33 + hexb("00"),
        "limit_exceeded",
    )
    b.invalid(
        "v1.close.text-over-limit",
        "A human_message of 1025 bytes against max_close_text 1024.",
        ["CLOSE-2", "LIMIT-12"],
        hexb("90 07 00 8108") + b"t" * 1025,
        "limit_exceeded",
    )
    b.invalid(
        "v1.close.text-over-configured-limit-before-cut",
        "A human_message announcing 200 bytes in a short frame, against max_close_text 100: the limit first (ERR-2).",
        ["CLOSE-2", "LIMIT-12", "ERR-2"],
        hexb("90 07 00 c801 7878"),
        "limit_exceeded",
        limits={"max_close_text": 100},
    )
    b.invalid(
        "v1.close.requirement-over-configured-limit",
        "A 7-byte requirement against max_requirement_size 4.",
        ["CLOSE-2", "LIMIT-12"],
        hexb("90 16 07 4652414d452d37 00"),
        "limit_exceeded",
        limits={"max_requirement_size": 4},
    )
    for bit in (2, 3):
        b.invalid(
            f"v1.close.reserved-bit-{bit}",
            f"close_flags with reserved bit {bit} set: decided from byte 0.",
            ["CLOSE-2"],
            bytes([0x90 | 1 << bit]) + hexb("00 00 00"),
            "reserved_bit",
        )
    b.invalid(
        "v1.close.reserved-bit.alone",
        "A CLOSE of byte 9c alone: the reserved bit of byte 0 comes before the missing error_class (ERR-2).",
        ["CLOSE-2", "ERR-2"],
        hexb("9c"),
        "reserved_bit",
    )
    for unassigned in (8, 15, 31, 127, 300):
        b.invalid(
            f"v1.close.code-{unassigned}",
            f"Close code {unassigned} is unassigned.",
            ["CLOSE-2"],
            hexb("90") + _varint(unassigned) + hexb("00 00"),
            "value_out_of_range",
        )
    b.invalid(
        "v1.close.last-message-id-over",
        "last_message_id 4096.",
        ["CLOSE-2"],
        hexb("91 00 00 8020 00"),
        "value_out_of_range",
    )
    b.invalid(
        "v1.close.retry-after-zero",
        "retry_after 0.",
        ["CLOSE-2"],
        hexb("92 01 00 00 00"),
        "value_out_of_range",
    )
    b.invalid(
        "v1.close.retry-after-over",
        "retry_after 86401.",
        ["CLOSE-2"],
        hexb("92 01 00") + _varint(86401) + hexb("00"),
        "value_out_of_range",
    )
    b.invalid(
        "v1.close.trailing-byte",
        "A byte after human_message.",
        ["CLOSE-2"],
        refused + b"\x00",
        "trailing_bytes",
    )
    b.invalid(
        "v1.close.text-is-rest-not-chunk",
        "A human_message written to the end of the frame, as in a NACK, instead of as a chunk.",
        ["CLOSE-1"],
        hexb("90 00 00 6869"),
        "truncated",
    )
    b.acceptable(
        "v1.close.text-not-utf8.strict",
        "A human_message that is not UTF-8: bytes by default, invalid_utf8 under strict_utf8.",
        ["CLOSE-2", "ERR-9"],
        Close(error_class=CloseCode.INTERNAL_ERROR, human_message=b"\xc3("),
        hexb("90 07 00 02 c328"),
        "invalid_utf8",
        {"strict_utf8": False},
    )
    b.acceptable(
        "v1.close.requirement-not-utf8.strict",
        "A requirement that is not UTF-8: bytes by default, invalid_utf8 under strict_utf8.",
        ["CLOSE-2", "ERR-9"],
        Close(error_class=CloseCode.INTERNAL_ERROR, requirement=b"\xff"),
        hexb("90 07 01 ff 00"),
        "invalid_utf8",
        {"strict_utf8": False},
    )
    b.invalid(
        "v1.close.varint-at-configured-limit",
        "error_class is 80 80 80 and the frame ends, against max_varint_bytes=3: limit_exceeded, not truncated.",
        ["LIMIT-2", "CLOSE-1", "ERR-2"],
        hexb("90 808080"),
        "limit_exceeded",
        limits={"max_varint_bytes": 3},
    )
    for cut in range(1, len(refused)):
        b.invalid(
            f"v1.close.truncated-at-{cut}",
            f"The first {cut} of {len(refused)} bytes of the quarantine example.",
            ["CLOSE-1", "CONV-6"],
            refused[:cut],
            "truncated",
        )
    return b


GENERATORS_V1 = {
    "connection_request": connection_request,
    "connection_response": connection_response,
    "batch_publish": batch_publish,
    "batch_result": batch_result,
    "close": close,
    "frame": frame,
    "batch": batch,
}


def build_all_v1() -> Iterator[tuple[str, list[Case]]]:
    for kind, generate in GENERATORS_V1.items():
        yield kind, generate().cases
