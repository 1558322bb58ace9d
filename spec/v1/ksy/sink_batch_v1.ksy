meta:
  id: sink_batch_v1
  title: Sink v1 batch (column batch, extended header with codec and mode, records mode, context mode)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  bit-endian: be
  imports:
    - vlq_leb128
    - zigzag_leb128
    - chunk
    - sink_batch
doc: |
  BATCH-12: a batch v1, what a BATCH_PUBLISH carries (BPUB-1). Bit 7 of the
  header byte is the `extended` flag. Clear: the batch is a version-0
  column batch with its meaning and rules (sink_batch.ksy). Set: bit 6 must
  be 0 (BATCH-13) and a `format` byte follows, codec in the high nibble,
  mode in the low nibble (BATCH-14); then the version-0 header values and
  the body, compressed as the codec says (BATCH-15).

  Mode columns: event i is read as in sink_batch: header.event_type_id
  when same_event_type_id, else body.event_type_ids.values[i].value, and
  so on.

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

  Mode records (1, RECORD-1..9) is described generically, since a
  description cannot know the Avro writer schema of (event_type_id,
  schema_version): the header must set exactly same_event_type_id and
  same_schema_version (RECORD-1), and the body (records_body) is count,
  then column chunks to its end, each a transform byte and that
  transform's payload (RECORD-3, RECORD-5): keys, offsets and timestamps,
  then the columns of the flattened writer schema (schema_columns). The
  keys column must not use `key` nor an int transform, offsets and
  timestamps no bytes-only transform. The payloads of bitpacked,
  delta_bitpacked, patched, delta_patched and numbered are read up to
  their values, for their width and digits bounds (RECORD-8); every other
  payload is bytes. Events
  are rebuilt from the payloads with the writer schema, which this file
  does not do.

  Mode context (2, CTX-2..7) is mode records coded against a base: the
  same header rule (RECORD-1), then batch_id (1..2^32-1) and base_id
  (0..2^32-1, 0: no base) (CTX-3), the base's 8-byte digest and, after
  count, the base_rows column when there is a base (CTX-6), then the
  columns of records mode. Each column's transform byte splits into bit 7,
  against_base, and the transform in the low 7 bits (CTX-7): against_base
  only in a batch with a base, never on keys or base_rows. Resolving the
  base (CTX-5), the range of base_rows, which schema columns every event
  reaches (CTX-7) and the values once the reference is added need the
  bases the receiver holds and the writer schema, which a description
  cannot have.

  Not expressed (a decoder must check): the configurable limits, as in
  sink_batch (max_zstd_window and max_decompressed_size are the routines'
  defaults unless their caller sets others); in mode records everything
  that needs the writer schema or the payloads' values (RECORD-2, the
  number of columns and the type of each schema column, the number and
  range of the values of RECORD-5, RECORD-7, the padding bits of RECORD-8,
  a patched payload's exception_count and indexes against its number of
  values (RECORD-8),
  the RECORD-6 limits).
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
    type:
      switch-on: header.mode
      cases:
        'mode::columns': body(header)
        'mode::records': records_body
        'mode::context': context_body
    if: header.codec == codec::none
  - id: body_gzip
    doc: CODEC-1 the body as one gzip member (codec gzip, or the version-0 compressed flag).
    doc-ref: spec/v1/batch.md#CODEC-1
    size-eos: true
    process: sink_gzip
    type:
      switch-on: header.mode
      cases:
        'mode::columns': body(header)
        'mode::records': records_body
        'mode::context': context_body
    if: header.codec == codec::gzip
  - id: body_zstd
    doc: CODEC-2 the body as one Zstandard frame (codec zstd).
    doc-ref: spec/v1/batch.md#CODEC-2
    size-eos: true
    process: sink_zstd
    type:
      switch-on: header.mode
      cases:
        'mode::columns': body(header)
        'mode::records': records_body
        'mode::context': context_body
    if: header.codec == codec::zstd
instances:
  body:
    doc: |
      BATCH-15 the (decompressed) body, whichever codec stored it: a body
      (mode columns), a records_body (mode records) or a context_body (mode
      context).
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
        doc: |
          BATCH-14 codec and mode, present when extended; checked before the
          header values. RECORD-1: with mode records (and mode context,
          CTX-2), the flags set must be exactly same_event_type_id and
          same_schema_version (bit 6 is 0 by BATCH-13), else
          inconsistent_batch.
        doc-ref: spec/v1/batch.md#BATCH-14
        type: format
        if: extended
        valid:
          expr: >-
            (_.mode != mode::records and _.mode != mode::context)
            or (same_event_type_id and same_schema_version and not same_key_length
            and not delta_offset and not delta_timestamp and not same_event_data_length)
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
      mode:
        doc: BATCH-14 how the body is laid out; the format byte's mode when extended, else columns.
        doc-ref: spec/v1/batch.md#BATCH-14
        value: 'extended ? format.mode : mode::columns'
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
        doc: BATCH-14 the mode; 3..15 are unassigned (unknown_format).
        doc-ref: spec/v1/batch.md#BATCH-14
        type: b4
        enum: mode
        valid:
          in-enum: true
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
          BATCH-15 number of events, at least 1 (BATCH-8); nothing else is
          checked at the count, as in sink_batch (a count the columns cannot
          hold is found where a column fails, BATCH-5, ERR-2).
        doc-ref: spec/v1/batch.md#BATCH-15
        type: vlq_leb128
        valid:
          expr: _.value >= 1
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
  records_body:
    doc: |
      RECORD-3 the body of mode records: count, the keys, offsets and
      timestamps columns, then one column per leaf of the flattened writer
      schema (RECORD-4), and nothing after the last column.
    doc-ref: spec/v1/batch.md#RECORD-3
    seq:
      - id: count
        doc: |
          RECORD-3 number of events, at least 1 (BATCH-8). It may exceed the
          body's bytes (constant and bitpacked columns carry many values in a
          few bytes); nothing here loops over it.
        doc-ref: spec/v1/batch.md#RECORD-3
        type: vlq_leb128
        valid:
          expr: _.value >= 1
      - id: keys
        doc: RECORD-3 the keys column (bytes, count values; any bytes transform but key).
        doc-ref: spec/v1/batch.md#RECORD-3
        type: record_column(column_kind::keys)
      - id: offsets
        doc: RECORD-3 the offsets column (int, 0..2^64-1, count values).
        doc-ref: spec/v1/batch.md#RECORD-3
        type: record_column(column_kind::int)
      - id: timestamps
        doc: RECORD-3 the timestamps column (int, 0..2^64-1, count values).
        doc-ref: spec/v1/batch.md#RECORD-3
        type: record_column(column_kind::int)
      - id: schema_columns
        doc: |
          RECORD-4 the columns of the flattened writer schema, in schema
          order, to the end of the body; how many there are and the type of
          each is the schema's (not checked here).
        doc-ref: spec/v1/batch.md#RECORD-4
        type: record_column(column_kind::schema)
        repeat: eos
  record_column:
    doc: RECORD-5 one column of a records body, a chunk (CONV-6) holding a transform byte and its payload.
    doc-ref: spec/v1/batch.md#RECORD-5
    params:
      - id: kind
        doc: RECORD-5 what the body knows of the column's type, which limits its transforms.
        type: u1
        enum: column_kind
    seq:
      - id: len_column
        doc: RECORD-5 byte length of the column (CONV-6); its offset is the one every error inside the column reports (RECORD-8).
        doc-ref: spec/v1/batch.md#RECORD-5
        type: vlq_leb128
      - id: column
        doc: |
          RECORD-5 the transform byte and payload; a transform the column's
          type does not allow is unknown_format: keys take the bytes
          transforms but key, offsets and timestamps the int transforms.
        doc-ref: spec/v1/batch.md#RECORD-5
        size: len_column.value
        type: column_chunk
        valid:
          expr: >-
            kind == column_kind::schema
            or (kind == column_kind::keys and (_.transform == transform::plain
            or _.transform == transform::constant or _.transform == transform::dictionary
            or _.transform == transform::prefix or _.transform == transform::numbered))
            or (kind == column_kind::int and _.transform != transform::prefix
            and _.transform != transform::key and _.transform != transform::numbered)
  column_chunk:
    doc: RECORD-5 the content of a column chunk.
    doc-ref: spec/v1/batch.md#RECORD-5
    seq:
      - id: transform
        doc: RECORD-5 how the payload codes the column's values; 12..255 are unassigned (unknown_format).
        doc-ref: spec/v1/batch.md#RECORD-5
        type: u1
        enum: transform
        valid:
          in-enum: true
      - id: payload
        doc: |
          RECORD-5 the transform's payload, to the end of the column: as
          many values as rows reach the column, which the writer schema
          says. So the values are not described; the payloads of
          bitpacked, delta_bitpacked, patched, delta_patched and numbered are described up to
          their values, for the checks of RECORD-8 that do not need their
          number (width, digits); the other payloads are bytes.
        doc-ref: spec/v1/batch.md#RECORD-5
        size-eos: true
        type:
          switch-on: transform
          cases:
            'transform::bitpacked': bitpacked_payload
            'transform::delta_bitpacked': delta_bitpacked_payload
            'transform::numbered': numbered_payload
            'transform::patched': patched_payload
            'transform::delta_patched': delta_patched_payload
  context_body:
    doc: |
      CTX-2 the body of mode context: batch_id, base_id, base_digest and
      count, the base_rows column when there is a base, then the columns of
      records mode (RECORD-3, RECORD-4), and nothing after the last column.
      A receiver looks the base up right after base_digest (CTX-5); what
      follows can be read as columns, not resolved, without it.
    doc-ref: spec/v1/context.md#CTX-2
    seq:
      - id: batch_id
        doc: CTX-2 this batch's id, under which the receiver keeps it as a base once it ACKs it; 1..2^32-1 (CTX-3, value_out_of_range).
        doc-ref: spec/v1/context.md#CTX-3
        type: vlq_leb128
        valid:
          expr: _.value >= 1 and _.value <= 4294967295
      - id: base_id
        doc: CTX-2 the batch_id of the base this batch is coded against, 0 for none; at most 2^32-1 (CTX-3, value_out_of_range).
        doc-ref: spec/v1/context.md#CTX-3
        type: vlq_leb128
        valid:
          expr: _.value <= 4294967295
      - id: base_digest
        doc: CTX-4 the first 8 bytes of the SHA-256 of the base's events; present when base_id is not 0.
        doc-ref: spec/v1/context.md#CTX-4
        size: 8
        if: has_base
      - id: count
        doc: CTX-2 number of events, at least 1, as in records mode (RECORD-3, BATCH-8).
        doc-ref: spec/v1/context.md#CTX-2
        type: vlq_leb128
        valid:
          expr: _.value >= 1
      - id: base_rows
        doc: |
          CTX-6 per row, the row of the base with the same key, or -1 for a
          key given in the keys column: an int column of count values in
          -1..(base events - 1), which only the base can check; present when
          base_id is not 0.
        doc-ref: spec/v1/context.md#CTX-6
        type: context_column(column_kind::base_rows, false)
        if: has_base
      - id: keys
        doc: CTX-6 the keys of the rows whose base_rows value is -1 (every row without a base); bytes transforms but key.
        doc-ref: spec/v1/context.md#CTX-6
        type: context_column(column_kind::keys, has_base)
      - id: offsets
        doc: CTX-2 the offsets column, as in records mode; against_base allowed with a base (CTX-7).
        doc-ref: spec/v1/context.md#CTX-7
        type: context_column(column_kind::int, has_base)
      - id: timestamps
        doc: CTX-2 the timestamps column, as in records mode; against_base allowed with a base (CTX-7).
        doc-ref: spec/v1/context.md#CTX-7
        type: context_column(column_kind::int, has_base)
      - id: schema_columns
        doc: |
          RECORD-4 the columns of the flattened writer schema to the end of
          the body; against_base only with a base, and (not checked here)
          only on int columns every event reaches (CTX-7).
        doc-ref: spec/v1/context.md#CTX-7
        type: context_column(column_kind::schema, has_base)
        repeat: eos
    instances:
      has_base:
        doc: CTX-2 whether the batch names a base (base_id not 0).
        doc-ref: spec/v1/context.md#CTX-2
        value: base_id.value != 0
  context_column:
    doc: CTX-7 one column of a context body, a chunk (CONV-6) holding a transform byte (bit 7 against_base) and its payload.
    doc-ref: spec/v1/context.md#CTX-7
    params:
      - id: kind
        doc: RECORD-5 what the body knows of the column's type, which limits its transforms.
        type: u1
        enum: column_kind
      - id: has_base
        doc: CTX-7 whether the batch has a base, without which no column may set against_base.
        type: bool
    seq:
      - id: len_column
        doc: RECORD-5 byte length of the column (CONV-6).
        doc-ref: spec/v1/batch.md#RECORD-5
        type: vlq_leb128
      - id: column
        doc: |
          CTX-7 the transform byte and payload; unknown_format: a transform
          the column's type does not allow (as in records mode; base_rows
          is an int column), and against_base in a batch without a base or
          on keys or base_rows.
        doc-ref: spec/v1/context.md#CTX-7
        size: len_column.value
        type: context_column_chunk
        valid:
          expr: >-
            (not _.against_base or (has_base and (kind == column_kind::int or kind == column_kind::schema)))
            and (kind == column_kind::schema
            or (kind == column_kind::keys and (_.transform == transform::plain
            or _.transform == transform::constant or _.transform == transform::dictionary
            or _.transform == transform::prefix or _.transform == transform::numbered))
            or ((kind == column_kind::int or kind == column_kind::base_rows) and _.transform != transform::prefix
            and _.transform != transform::key and _.transform != transform::numbered))
  context_column_chunk:
    doc: CTX-7 the content of a column chunk of mode context.
    doc-ref: spec/v1/context.md#CTX-7
    seq:
      - id: against_base
        doc: CTX-7 transform byte bit 7; set, the values are differences from the same column's value in base row base_rows[i] (0 for a row with -1).
        doc-ref: spec/v1/context.md#CTX-7
        type: b1
      - id: transform
        doc: RECORD-5 the low 7 bits, the transform; 12..127 are unassigned (unknown_format).
        doc-ref: spec/v1/batch.md#RECORD-5
        type: b7
        enum: transform
        valid:
          in-enum: true
      - id: payload
        doc: RECORD-5 the transform's payload, to the end of the column, as in records mode (column_chunk).
        doc-ref: spec/v1/batch.md#RECORD-5
        size-eos: true
        type:
          switch-on: transform
          cases:
            'transform::bitpacked': bitpacked_payload
            'transform::delta_bitpacked': delta_bitpacked_payload
            'transform::numbered': numbered_payload
            'transform::patched': patched_payload
            'transform::delta_patched': delta_patched_payload
  bitpacked_payload:
    doc: RECORD-8 the payload of bitpacked, up to the packed values.
    doc-ref: spec/v1/batch.md#RECORD-8
    seq:
      - id: base
        doc: RECORD-5 zigzag varint subtracted from every value before packing.
        doc-ref: spec/v1/batch.md#RECORD-5
        type: zigzag_leb128
      - id: width
        doc: RECORD-8 bits per value, 0..64 (inconsistent_batch above).
        doc-ref: spec/v1/batch.md#RECORD-8
        type: u1
        valid:
          max: 64
      - id: packed
        doc: |
          RECORD-8 ceil(n x width / 8) bytes, one little-endian integer with
          value i minus base at bits i x width.., padding bits 0 (n, the
          number of values, comes from the writer schema).
        doc-ref: spec/v1/batch.md#RECORD-8
        size-eos: true
  delta_bitpacked_payload:
    doc: RECORD-8 the payload of delta_bitpacked, up to the packed differences.
    doc-ref: spec/v1/batch.md#RECORD-8
    seq:
      - id: first
        doc: RECORD-5 the first value, a zigzag varint.
        doc-ref: spec/v1/batch.md#RECORD-5
        type: zigzag_leb128
      - id: base
        doc: RECORD-5 zigzag varint subtracted from every difference before packing; unused with one value (RECORD-11).
        doc-ref: spec/v1/batch.md#RECORD-5
        type: zigzag_leb128
      - id: width
        doc: RECORD-8 bits per difference, 0..64 (inconsistent_batch above).
        doc-ref: spec/v1/batch.md#RECORD-8
        type: u1
        valid:
          max: 64
      - id: packed
        doc: RECORD-8 the n - 1 differences minus base, packed as in bitpacked.
        doc-ref: spec/v1/batch.md#RECORD-8
        size-eos: true
  patched_payload:
    doc: |
      RECORD-8 the payload of patched, up to the packed values: the packed
      bytes (ceil(n x width / 8), n from the writer schema) and the
      exceptions after them cannot be told apart without n.
    doc-ref: spec/v1/batch.md#RECORD-8
    seq:
      - id: base
        doc: RECORD-5 zigzag varint subtracted from every value before packing.
        doc-ref: spec/v1/batch.md#RECORD-5
        type: zigzag_leb128
      - id: width
        doc: RECORD-8 bits per value, 0..64 (inconsistent_batch above).
        doc-ref: spec/v1/batch.md#RECORD-8
        type: u1
        valid:
          max: 64
      - id: exception_count
        doc: RECORD-8 the number of exceptions, at most n (inconsistent_batch above, as soon as it is read).
        doc-ref: spec/v1/batch.md#RECORD-8
        type: vlq_leb128
      - id: packed_and_exceptions
        doc: |
          RECORD-8 ceil(n x width / 8) bytes packed as in bitpacked (value i
          minus base; an exception's bits ignored), then exception_count
          pairs of a varint index (0..n-1, strictly ascending) and a zigzag
          varint, that value minus base.
        doc-ref: spec/v1/batch.md#RECORD-8
        size-eos: true
  delta_patched_payload:
    doc: RECORD-8 the payload of delta_patched, the first value then the n - 1 differences as a patched payload.
    doc-ref: spec/v1/batch.md#RECORD-8
    seq:
      - id: first
        doc: RECORD-5 the first value, a zigzag varint.
        doc-ref: spec/v1/batch.md#RECORD-5
        type: zigzag_leb128
      - id: differences
        doc: RECORD-8 the n - 1 differences, a patched payload of n - 1 values (exception_count at most n - 1).
        doc-ref: spec/v1/batch.md#RECORD-8
        type: patched_payload
  numbered_payload:
    doc: RECORD-8 the payload of numbered, a prefix and digits, then the numbers as an int column.
    doc-ref: spec/v1/batch.md#RECORD-8
    seq:
      - id: prefix
        doc: RECORD-5 the bytes every value starts with, a chunk.
        doc-ref: spec/v1/batch.md#RECORD-5
        type: chunk
      - id: digits
        doc: RECORD-8 decimal digits of every number, 1..18 (inconsistent_batch outside).
        doc-ref: spec/v1/batch.md#RECORD-8
        type: u1
        valid:
          min: 1
          max: 18
      - id: numbers
        doc: |
          RECORD-5 the numbers, a transform byte and payload to the end of
          the column: any int transform (unknown_format otherwise), numbers
          in 0..10^digits-1, read and checked before the total length of
          the values, n x (prefix length + digits), is (RECORD-6).
        doc-ref: spec/v1/batch.md#RECORD-5
        type: column_chunk
        valid:
          expr: >-
            _.transform != transform::prefix and _.transform != transform::key
            and _.transform != transform::numbered
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
      doc: BATCH-14 the records body (RECORD-3), described generically (records_body).
      doc-ref: spec/v1/batch.md#BATCH-14
    2:
      id: context
      doc: CTX-2 the records body coded against a base (context_body).
      doc-ref: spec/v1/context.md#CTX-2
  column_kind:
    0:
      id: keys
      doc: RECORD-5 the keys column, bytes; every bytes transform but key.
      doc-ref: spec/v1/batch.md#RECORD-5
    1:
      id: int
      doc: RECORD-5 the offsets or timestamps column, int (0..2^64-1); the int transforms.
      doc-ref: spec/v1/batch.md#RECORD-5
    2:
      id: schema
      doc: RECORD-5 a column of the writer schema, int or bytes as the schema says; any transform (key only where every event reaches the column, RECORD-10, which needs the schema).
      doc-ref: spec/v1/batch.md#RECORD-5
    3:
      id: base_rows
      doc: CTX-6 the base_rows column of mode context, int (-1..base events - 1); the int transforms, never against_base.
      doc-ref: spec/v1/context.md#CTX-6
  transform:
    0:
      id: plain
      doc: "RECORD-5 int, bytes: one zigzag varint per value, or one chunk per value."
      doc-ref: spec/v1/batch.md#RECORD-5
    1:
      id: delta
      doc: "RECORD-5 int: one zigzag varint per value, the value minus the previous one (starting at 0)."
      doc-ref: spec/v1/batch.md#RECORD-5
    2:
      id: constant
      doc: "RECORD-5 int, bytes: one value (zigzag varint or chunk) that every row has; present even when no row reaches the column, and then not range-checked (RECORD-11)."
      doc-ref: spec/v1/batch.md#RECORD-5
    3:
      id: frame_of_reference
      doc: "RECORD-5 int: a zigzag varint base, then one varint per value, the value minus base."
      doc-ref: spec/v1/batch.md#RECORD-5
    4:
      id: dictionary
      doc: "RECORD-5 int, bytes: entry_count varint, the entries as in plain, then one varint index per value (RECORD-6, RECORD-7); an entry no index selects is not range-checked (RECORD-11)."
      doc-ref: spec/v1/batch.md#RECORD-5
    5:
      id: prefix
      doc: "RECORD-5 bytes: per value, a varint length shared with the previous value, then a chunk, the rest (RECORD-7)."
      doc-ref: spec/v1/batch.md#RECORD-5
    6:
      id: key
      doc: "RECORD-10 bytes, only on a schema column that every event reaches by the schema's structure (no enclosing union, array or map): no payload, every value is the event's key."
      doc-ref: spec/v1/batch.md#RECORD-10
    7:
      id: bitpacked
      doc: "RECORD-5 int: a zigzag varint base, a byte width (0..64), then the values minus base packed little-endian in width bits each (RECORD-8)."
      doc-ref: spec/v1/batch.md#RECORD-5
    8:
      id: delta_bitpacked
      doc: "RECORD-5 int: zigzag varints first and base, a byte width, then the n - 1 differences minus base packed as in bitpacked (RECORD-8); with one value base and width are unused (width still 0..64, RECORD-11)."
      doc-ref: spec/v1/batch.md#RECORD-5
    9:
      id: numbered
      doc: "RECORD-5 bytes: a chunk prefix, a byte digits (1..18), then an int transform byte and payload of the numbers (RECORD-8)."
      doc-ref: spec/v1/batch.md#RECORD-5
    10:
      id: patched
      doc: "RECORD-5 int: a zigzag varint base, a byte width (0..64), a varint exception_count (0..n), the values minus base packed as in bitpacked, then exception_count pairs of a varint index (ascending, below n) and a zigzag varint value minus base replacing that row's packed value (RECORD-8)."
      doc-ref: spec/v1/batch.md#RECORD-5
    11:
      id: delta_patched
      doc: "RECORD-5 int: a zigzag varint first, then the n - 1 differences as a patched payload of n - 1 values (RECORD-8)."
      doc-ref: spec/v1/batch.md#RECORD-5
