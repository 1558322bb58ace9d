meta:
  id: sink_batch_v1
  title: Sink v1 batch (column batch, extended header with codec and mode)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  bit-endian: be
  imports:
    - vlq_leb128
    - sink_batch
doc: |
  BATCH-12: a batch v1, what a BATCH_PUBLISH carries (BPUB-1). Bit 7 of the
  header byte is the `extended` flag. Clear: the batch is a version-0
  column batch with its meaning and rules (sink_batch.ksy). Set: bit 6 must
  be 0 (BATCH-13) and a `format` byte follows, codec in the high nibble,
  mode in the low nibble (BATCH-14); then the version-0 header values and
  the body, compressed as the codec says (BATCH-15).

  Event i is read as in sink_batch: header.event_type_id when
  same_event_type_id, else body.event_type_ids.values[i].value, and so on.

  The header is this file's own (the version-0 header type insists on bit 7
  being 0); the body mirrors sink_batch's body because its parameter is the
  header, and reuses sink_batch's column types as they are.

  Codecs: none; gzip with the `sink_gzip` process routine of version 0
  (CODEC-1, BATCH-6); zstd with a `sink_zstd` process routine (CODEC-2),
  shipped for Python (spec/tools/process/python/sink_zstd.py) and
  JavaScript (spec/tools/process/javascript/SinkZstd.js). That routine must
  accept exactly one Zstandard frame with nothing after it and no
  dictionary, refuse a window above max_zstd_window before decompressing
  (LIMIT-9) and stop at max_decompressed_size (CODEC-3).

  Mode: only `columns` (0) is described. The records mode (1) is a proposal
  of the draft (RECORD-1..7) that the reference codec does not implement
  yet; this description rejects it like an unassigned mode (unknown_format),
  as the reference decoder does.

  Not expressed (a decoder must check): the configurable limits, as in
  sink_batch (max_zstd_window and max_decompressed_size are the routines'
  defaults unless their caller sets others).
doc-ref: spec/v1/batch.md#BATCH-12
seq:
  - id: header
    doc: BATCH-12 header byte, format byte when extended, header values.
    doc-ref: spec/v1/batch.md#BATCH-12
    type: header
  - id: body_plain
    doc: BATCH-15 the body as it is (codec none, or a version-0 batch without compression).
    doc-ref: spec/v1/batch.md#BATCH-15
    size-eos: true
    type: body(header)
    if: header.codec == codec::none
  - id: body_gzip
    doc: CODEC-1 the body as one gzip member (codec gzip, or the version-0 compressed flag).
    doc-ref: spec/v1/batch.md#CODEC-1
    size-eos: true
    process: sink_gzip
    type: body(header)
    if: header.codec == codec::gzip
  - id: body_zstd
    doc: CODEC-2 the body as one Zstandard frame (codec zstd).
    doc-ref: spec/v1/batch.md#CODEC-2
    size-eos: true
    process: sink_zstd
    type: body(header)
    if: header.codec == codec::zstd
instances:
  body:
    doc: BATCH-15 the (decompressed) body, whichever codec stored it.
    doc-ref: spec/v1/batch.md#BATCH-15
    value: 'header.codec == codec::zstd ? body_zstd : header.codec == codec::gzip ? body_gzip : body_plain'
types:
  header:
    doc: BATCH-12 the header byte, the format byte of an extended batch, and the header values.
    doc-ref: spec/v1/batch.md#BATCH-12
    seq:
      - id: extended
        doc: BATCH-12 bit 7; set, a format byte follows; clear, a version-0 batch.
        doc-ref: spec/v1/batch.md#BATCH-12
        type: b1
      - id: compressed
        doc: |
          BATCH-13 bit 6: the version-0 `compressed` flag (gzip body) when
          not extended; must be 0 in an extended header (reserved_bit).
        doc-ref: spec/v1/batch.md#BATCH-13
        type: b1
        valid:
          expr: not (extended and _)
      - id: same_event_type_id
        doc: BATCH-12 bit 5, as in version 0 (BATCH-1).
        doc-ref: spec/v1/batch.md#BATCH-12
        type: b1
      - id: same_schema_version
        doc: BATCH-12 bit 4, as in version 0 (BATCH-1).
        doc-ref: spec/v1/batch.md#BATCH-12
        type: b1
      - id: same_key_length
        doc: BATCH-12 bit 3, as in version 0 (BATCH-1).
        doc-ref: spec/v1/batch.md#BATCH-12
        type: b1
      - id: delta_offset
        doc: BATCH-12 bit 2, as in version 0 (BATCH-1).
        doc-ref: spec/v1/batch.md#BATCH-12
        type: b1
      - id: delta_timestamp
        doc: BATCH-12 bit 1, as in version 0 (BATCH-1).
        doc-ref: spec/v1/batch.md#BATCH-12
        type: b1
      - id: same_event_data_length
        doc: BATCH-12 bit 0, as in version 0 (BATCH-1).
        doc-ref: spec/v1/batch.md#BATCH-12
        type: b1
      - id: format
        doc: BATCH-14 codec and mode, present when extended; checked before the header values.
        doc-ref: spec/v1/batch.md#BATCH-14
        type: format
        if: extended
      - id: event_type_id
        doc: BATCH-15 the header values of version 0 (BATCH-2), present when same_event_type_id.
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        if: same_event_type_id
      - id: schema_version
        doc: BATCH-15 present when same_schema_version (BATCH-2).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        if: same_schema_version
      - id: key_length
        doc: BATCH-15 present when same_key_length (BATCH-2).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        if: same_key_length
      - id: offset
        doc: BATCH-15 start of the offsets delta chain, present when delta_offset (BATCH-2).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        if: delta_offset
      - id: timestamp
        doc: BATCH-15 start of the timestamps delta chain, present when delta_timestamp (BATCH-2).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        if: delta_timestamp
      - id: event_data_length
        doc: BATCH-15 present when same_event_data_length (BATCH-2).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        if: same_event_data_length
    instances:
      codec:
        doc: |
          BATCH-14 how the body is stored: the format byte's codec when
          extended, else gzip or none from the version-0 compressed flag.
        doc-ref: spec/v1/batch.md#BATCH-14
        value: 'extended ? format.codec : compressed ? codec::gzip : codec::none'
  format:
    doc: BATCH-14 the format byte, codec in the high nibble, mode in the low nibble.
    doc-ref: spec/v1/batch.md#BATCH-14
    seq:
      - id: codec
        doc: BATCH-14 the codec; 3..15 are unassigned (unknown_format).
        doc-ref: spec/v1/batch.md#BATCH-14
        type: b4
        enum: codec
        valid:
          in-enum: true
      - id: mode
        doc: |
          BATCH-14 the mode; only columns (0) is described here: records (1)
          is proposed and rejected like 2..15 (unknown_format).
        doc-ref: spec/v1/batch.md#BATCH-14
        type: b4
        enum: mode
        valid:
          eq: mode::columns
  body:
    doc: |
      BATCH-15 the body of mode columns, decoded exactly as a version-0 body
      (BATCH-3): count, the columns as chunks, event_data to the end.
    doc-ref: spec/v1/batch.md#BATCH-15
    params:
      - id: header
        doc: BATCH-15 the batch header, which says which columns are present.
        type: header
    seq:
      - id: count
        doc: |
          BATCH-15 number of events, at least 1 (BATCH-8), never more than
          the body's bytes (a forged count cannot make a parser loop).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        valid:
          expr: _.value >= 1 and _.value <= _io.size
      - id: len_event_type_ids
        doc: BATCH-15 byte length of the event_type_ids column (BATCH-3).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        if: not header.same_event_type_id
      - id: event_type_ids
        doc: BATCH-15 one LEB128 event type id per event, unless same_event_type_id.
        doc-ref: spec/v1/batch.md#BATCH-15
        size: len_event_type_ids.value
        type: sink_batch::varint_column(count.value)
        if: not header.same_event_type_id
      - id: len_schema_versions
        doc: BATCH-15 byte length of the schema_versions column (BATCH-3).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        if: not header.same_schema_version
      - id: schema_versions
        doc: BATCH-15 one LEB128 schema version per event, unless same_schema_version.
        doc-ref: spec/v1/batch.md#BATCH-15
        size: len_schema_versions.value
        type: sink_batch::varint_column(count.value)
        if: not header.same_schema_version
      - id: len_key_lengths
        doc: BATCH-15 byte length of the key_lengths column (BATCH-3).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        if: not header.same_key_length
      - id: key_lengths
        doc: BATCH-15 one LEB128 key length per event, unless same_key_length.
        doc-ref: spec/v1/batch.md#BATCH-15
        size: len_key_lengths.value
        type: sink_batch::varint_column(count.value)
        if: not header.same_key_length
      - id: len_keys
        doc: BATCH-15 byte length of the keys column (BATCH-3).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
      - id: keys
        doc: BATCH-15 all keys, cut by header.key_length or by key_lengths (BATCH-5).
        doc-ref: spec/v1/batch.md#BATCH-15
        size: len_keys.value
        type:
          switch-on: header.same_key_length
          cases:
            true: sink_batch::fixed_bytes_column(count.value, header.key_length.value)
            false: sink_batch::listed_bytes_column(count.value, key_lengths)
      - id: len_offsets
        doc: BATCH-15 byte length of the offsets column (BATCH-3).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
      - id: offsets
        doc: BATCH-15 one offset per event, delta-coded from header.offset when delta_offset (BATCH-4).
        doc-ref: spec/v1/batch.md#BATCH-15
        size: len_offsets.value
        type:
          switch-on: header.delta_offset
          cases:
            true: sink_batch::delta_column(count.value, header.offset.value)
            false: sink_batch::varint_column(count.value)
      - id: len_timestamps
        doc: BATCH-15 byte length of the timestamps column (BATCH-3).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
      - id: timestamps
        doc: BATCH-15 one timestamp per event, delta-coded from header.timestamp when delta_timestamp (BATCH-4).
        doc-ref: spec/v1/batch.md#BATCH-15
        size: len_timestamps.value
        type:
          switch-on: header.delta_timestamp
          cases:
            true: sink_batch::delta_column(count.value, header.timestamp.value)
            false: sink_batch::varint_column(count.value)
      - id: len_event_data_lengths
        doc: BATCH-15 byte length of the event_data_lengths column (BATCH-3).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        if: not header.same_event_data_length
      - id: event_data_lengths
        doc: BATCH-15 one LEB128 event data length per event, unless same_event_data_length.
        doc-ref: spec/v1/batch.md#BATCH-15
        size: len_event_data_lengths.value
        type: sink_batch::varint_column(count.value)
        if: not header.same_event_data_length
      - id: event_data
        doc: BATCH-15 all event data to the end of the body, cut by header.event_data_length or by event_data_lengths (BATCH-5).
        doc-ref: spec/v1/batch.md#BATCH-15
        size-eos: true
        type:
          switch-on: header.same_event_data_length
          cases:
            true: sink_batch::fixed_bytes_column(count.value, header.event_data_length.value)
            false: sink_batch::listed_bytes_column(count.value, event_data_lengths)
enums:
  codec:
    0:
      id: none
      doc: BATCH-14 the body as it is.
      doc-ref: spec/v1/batch.md#BATCH-14
    1:
      id: gzip
      doc: CODEC-1 one gzip member.
      doc-ref: spec/v1/batch.md#CODEC-1
    2:
      id: zstd
      doc: CODEC-2 one Zstandard frame.
      doc-ref: spec/v1/batch.md#CODEC-2
  mode:
    0:
      id: columns
      doc: BATCH-14 the version-0 body (BATCH-3).
      doc-ref: spec/v1/batch.md#BATCH-14
    1:
      id: records
      doc: BATCH-14 the records body (RECORD-3), proposed; not described by this file.
      doc-ref: spec/v1/batch.md#BATCH-14
