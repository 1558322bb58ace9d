meta:
  id: sink_declared_limits
  title: Sink v1 declared limits (receive limits and keepalive interval one side declares)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  bit-endian: be
  imports:
    - vlq_leb128
doc: |
  DECL-1: the `declared_limits` field of a version-1 connection request
  (CONN-8) and of an accepting connection response (CONN-11): the
  limit_flags byte, then one varint for each of its bits 0..7 that is set,
  in bit order (bit 0 first). It has no length of its own; the frame around
  it checks that nothing follows it. Bits 6 and 7 (context_bases and
  context_lifetime, context coding, CTX-1) were reserved in draft 3; no bit
  is reserved now.

  Checks expressed here (DECL-2): the bounds of every declared value
  (value_out_of_range). A limit_flags of 0 is valid: it declares every
  default.
doc-ref: spec/v1/frames.md#DECL-1
seq:
  - id: has_context_lifetime
    doc: DECL-1 limit_flags bit 7, context_lifetime follows.
    doc-ref: spec/v1/frames.md#DECL-1
    type: b1
  - id: has_context_bases
    doc: DECL-1 limit_flags bit 6, context_bases follows.
    doc-ref: spec/v1/frames.md#DECL-1
    type: b1
  - id: has_keepalive
    doc: DECL-1 limit_flags bit 5, keepalive follows.
    doc-ref: spec/v1/frames.md#DECL-1
    type: b1
  - id: has_max_zstd_window
    doc: DECL-1 limit_flags bit 4, max_zstd_window follows.
    doc-ref: spec/v1/frames.md#DECL-1
    type: b1
  - id: has_max_in_flight
    doc: DECL-1 limit_flags bit 3, max_in_flight follows.
    doc-ref: spec/v1/frames.md#DECL-1
    type: b1
  - id: has_max_batch_events
    doc: DECL-1 limit_flags bit 2, max_batch_events follows.
    doc-ref: spec/v1/frames.md#DECL-1
    type: b1
  - id: has_max_decompressed_size
    doc: DECL-1 limit_flags bit 1, max_decompressed_size follows.
    doc-ref: spec/v1/frames.md#DECL-1
    type: b1
  - id: has_max_frame_size
    doc: DECL-1 limit_flags bit 0, max_frame_size follows.
    doc-ref: spec/v1/frames.md#DECL-1
    type: b1
  - id: max_frame_size
    doc: DECL-1 the largest frame the side accepts, 512..65535 (DECL-2).
    doc-ref: spec/v1/frames.md#DECL-2
    type: vlq_leb128
    if: has_max_frame_size
    valid:
      expr: _.value >= 512 and _.value <= 65535
  - id: max_decompressed_size
    doc: DECL-1 the largest decompressed batch body, 1024..8388608 (DECL-2).
    doc-ref: spec/v1/frames.md#DECL-2
    type: vlq_leb128
    if: has_max_decompressed_size
    valid:
      expr: _.value >= 1024 and _.value <= 8388608
  - id: max_batch_events
    doc: DECL-1 the most events in one batch, 1..65536 (DECL-2).
    doc-ref: spec/v1/frames.md#DECL-2
    type: vlq_leb128
    if: has_max_batch_events
    valid:
      expr: _.value >= 1 and _.value <= 65536
  - id: max_in_flight
    doc: DECL-1 the most publishable units in flight towards the side, 1..4096 (DECL-2).
    doc-ref: spec/v1/frames.md#DECL-2
    type: vlq_leb128
    if: has_max_in_flight
    valid:
      expr: _.value >= 1 and _.value <= 4096
  - id: max_zstd_window
    doc: DECL-1 the largest zstd window, 1024..8388608 (DECL-2).
    doc-ref: spec/v1/frames.md#DECL-2
    type: vlq_leb128
    if: has_max_zstd_window
    valid:
      expr: _.value >= 1024 and _.value <= 8388608
  - id: keepalive
    doc: DECL-1 the side's keepalive interval K in seconds, 10..65535 (DECL-2, KEEP-7).
    doc-ref: spec/v1/frames.md#DECL-2
    type: vlq_leb128
    if: has_keepalive
    valid:
      expr: _.value >= 10 and _.value <= 65535
  - id: context_bases
    doc: DECL-1 the bases the side keeps per peer for batches in mode context, 0..64 (DECL-2, CTX-1); 0 takes none.
    doc-ref: spec/v1/frames.md#DECL-2
    type: vlq_leb128
    if: has_context_bases
    valid:
      expr: _.value <= 64
  - id: context_lifetime
    doc: DECL-1 seconds the side keeps each base at least, 60..4294967295 (DECL-2, CTX-9).
    doc-ref: spec/v1/frames.md#DECL-2
    type: vlq_leb128
    if: has_context_lifetime
    valid:
      expr: _.value >= 60 and _.value <= 4294967295
