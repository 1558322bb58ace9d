meta:
  id: sink_batch
  title: Sink v0 column batch
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  bit-endian: be
  imports:
    - vlq_leb128
    - zigzag_leb128
doc: |
  BATCH-1..10: the column batch of Sink protocol version 0, the encoding the
  field implementation uses for snapshots (a file of back-to-back
  chunk(batch)) and intends for a future batch publish. Events are turned
  into columns, which compress far better than rows.

  Layout: a header byte of flags (BATCH-1), then for each set flag among
  event_type_id, schema_version, key_length, offset, timestamp,
  event_data_length, in that order, the first event's value (BATCH-2); then
  the body (BATCH-3), gzip-compressed as a whole when the `compressed` flag is
  set (BATCH-6): count, the columns as chunks, and event_data to the end.

  Event i of the batch is: event_type_id = header.event_type_id when
  same_event_type_id, else body.event_type_ids.values[i].value (likewise
  schema_version); key = body.keys.items[i], the empty string when
  same_key_length with key_length 0 (event_data likewise); offset =
  body.offsets.items[i].value (the reconstructed value when delta_offset, the
  plain varint otherwise; timestamp likewise).

  Compressed bodies use a custom process routine, `process: sink_gzip`. Kaitai
  Struct has no built-in gzip, so a `sink_gzip` process class is provided for
  each generated language; the Sink kit ships it for Python
  (spec/tools/process/python/sink_gzip.py) and JavaScript
  (spec/tools/process/javascript/SinkGzip.js), and docs/format/generate-a-parser.md
  tells how to write it for another language. The routine must decode exactly
  one gzip member (RFC 1952), fail on invalid data or on any byte after the
  member (bad_compression), and stop inflating once the output exceeds
  max_decompressed_size (LIMIT-3) instead of allocating the expanded size.

  Checks expressed here: reserved bit (BATCH-1), count at least 1 (BATCH-8),
  every column holding exactly count entries and keys/event_data splitting
  exactly (BATCH-5), the range of reconstructed delta values (BATCH-9), the
  varint bounds (CONV-4, CONV-5). Not expressed (a decoder must check): the
  configurable limits (LIMIT-3 is left to the process routine; LIMIT-4,
  LIMIT-5, max_frame_size). In JavaScript, integers above 2^53 (including
  reconstructed deltas) are rounded doubles, so the BATCH-9 range check is
  exact only in languages with exact 64-bit or unbounded integers.
doc-ref: spec/v0/batch.md#BATCH-1
seq:
  - id: header
    doc: BATCH-1 / BATCH-2 flags byte and the header values of the set flags.
    doc-ref: spec/v0/batch.md#BATCH-1
    type: header
  - id: body_plain
    doc: BATCH-3 the body, stored as is (compressed flag clear).
    doc-ref: spec/v0/batch.md#BATCH-3
    size-eos: true
    type: body(header)
    if: not header.compressed
  - id: body_compressed
    doc: |
      BATCH-6 the body, one gzip member (compressed flag set), inflated by the
      sink_gzip process routine, then parsed like body_plain.
    doc-ref: spec/v0/batch.md#BATCH-6
    size-eos: true
    process: sink_gzip
    type: body(header)
    if: header.compressed
instances:
  body:
    doc: BATCH-3 the (decompressed) body, whichever way it was stored.
    doc-ref: spec/v0/batch.md#BATCH-3
    value: 'header.compressed ? body_compressed : body_plain'
types:
  header:
    doc: BATCH-1 / BATCH-2 header byte (flags, most significant bit first) and header values.
    doc-ref: spec/v0/batch.md#BATCH-1
    seq:
      - id: reserved
        doc: BATCH-1 bit 7, reserved, MUST be 0 (reserved_bit).
        doc-ref: spec/v0/batch.md#BATCH-1
        type: b1
        valid:
          eq: false
      - id: compressed
        doc: BATCH-1 bit 6, the body is gzip-compressed (BATCH-6).
        doc-ref: spec/v0/batch.md#BATCH-1
        type: b1
      - id: same_event_type_id
        doc: BATCH-1 bit 5, all events share header.event_type_id; no event_type_ids column.
        doc-ref: spec/v0/batch.md#BATCH-1
        type: b1
      - id: same_schema_version
        doc: BATCH-1 bit 4, all events share header.schema_version; no schema_versions column.
        doc-ref: spec/v0/batch.md#BATCH-1
        type: b1
      - id: same_key_length
        doc: BATCH-1 bit 3, all keys are header.key_length bytes long; no key_lengths column (BATCH-5).
        doc-ref: spec/v0/batch.md#BATCH-1
        type: b1
      - id: delta_offset
        doc: BATCH-1 bit 2, the offsets column is delta-coded from header.offset (BATCH-4).
        doc-ref: spec/v0/batch.md#BATCH-1
        type: b1
      - id: delta_timestamp
        doc: BATCH-1 bit 1, the timestamps column is delta-coded from header.timestamp (BATCH-4).
        doc-ref: spec/v0/batch.md#BATCH-1
        type: b1
      - id: same_event_data_length
        doc: BATCH-1 bit 0, all event data are header.event_data_length bytes long; no event_data_lengths column (BATCH-5).
        doc-ref: spec/v0/batch.md#BATCH-1
        type: b1
      - id: event_type_id
        doc: BATCH-2 the event type id of every event (LEB128), present when same_event_type_id.
        doc-ref: spec/v0/batch.md#BATCH-2
        type: vlq_leb128
        if: same_event_type_id
      - id: schema_version
        doc: BATCH-2 the schema version of every event (LEB128), present when same_schema_version.
        doc-ref: spec/v0/batch.md#BATCH-2
        type: vlq_leb128
        if: same_schema_version
      - id: key_length
        doc: BATCH-2 the length of every key (LEB128), present when same_key_length.
        doc-ref: spec/v0/batch.md#BATCH-2
        type: vlq_leb128
        if: same_key_length
      - id: offset
        doc: BATCH-2 the first event's offset, start of the delta chain (LEB128), present when delta_offset.
        doc-ref: spec/v0/batch.md#BATCH-2
        type: vlq_leb128
        if: delta_offset
      - id: timestamp
        doc: BATCH-2 the first event's timestamp, start of the delta chain (LEB128), present when delta_timestamp.
        doc-ref: spec/v0/batch.md#BATCH-2
        type: vlq_leb128
        if: delta_timestamp
      - id: event_data_length
        doc: BATCH-2 the length of every event_data (LEB128), present when same_event_data_length.
        doc-ref: spec/v0/batch.md#BATCH-2
        type: vlq_leb128
        if: same_event_data_length
  body:
    doc: |
      BATCH-3 the body: count, the columns (each a chunk: LEB128 byte length,
      then the column), then event_data up to the end of the body.
    doc-ref: spec/v0/batch.md#BATCH-3
    params:
      - id: header
        doc: BATCH-2 the batch header, which says which columns are present.
        type: header
    seq:
      - id: count
        doc: |
          BATCH-8 number of events, at least 1 (count 0: inconsistent_batch).
          Nothing else is checked at the count (BATCH-8): a count the columns
          cannot hold is found where a column fails (BATCH-5), in wire order
          (ERR-2). A forged count cannot make a parser loop: every column
          read per event takes at least one byte per value, and
          fixed_bytes_column reads no pieces when their length is 0. The
          configurable max_batch_events (LIMIT-4) is not checked here.
        doc-ref: spec/v0/batch.md#BATCH-8
        type: vlq_leb128
        valid:
          expr: _.value >= 1
      - id: len_event_type_ids
        doc: BATCH-3 byte length of the event_type_ids column.
        doc-ref: spec/v0/batch.md#BATCH-3
        type: vlq_leb128
        if: not header.same_event_type_id
      - id: event_type_ids
        doc: BATCH-3 one LEB128 event type id per event, unless same_event_type_id.
        doc-ref: spec/v0/batch.md#BATCH-3
        size: len_event_type_ids.value
        type: varint_column(count.value)
        if: not header.same_event_type_id
      - id: len_schema_versions
        doc: BATCH-3 byte length of the schema_versions column.
        doc-ref: spec/v0/batch.md#BATCH-3
        type: vlq_leb128
        if: not header.same_schema_version
      - id: schema_versions
        doc: BATCH-3 one LEB128 schema version per event, unless same_schema_version.
        doc-ref: spec/v0/batch.md#BATCH-3
        size: len_schema_versions.value
        type: varint_column(count.value)
        if: not header.same_schema_version
      - id: len_key_lengths
        doc: BATCH-3 byte length of the key_lengths column.
        doc-ref: spec/v0/batch.md#BATCH-3
        type: vlq_leb128
        if: not header.same_key_length
      - id: key_lengths
        doc: BATCH-3 one LEB128 key length per event, unless same_key_length.
        doc-ref: spec/v0/batch.md#BATCH-3
        size: len_key_lengths.value
        type: varint_column(count.value)
        if: not header.same_key_length
      - id: len_keys
        doc: BATCH-3 byte length of the keys column.
        doc-ref: spec/v0/batch.md#BATCH-3
        type: vlq_leb128
      - id: keys
        doc: |
          BATCH-5 all keys concatenated, cut into equal pieces of
          header.key_length (same_key_length) or by the key_lengths column.
        doc-ref: spec/v0/batch.md#BATCH-5
        size: len_keys.value
        type:
          switch-on: header.same_key_length
          cases:
            true: fixed_bytes_column(count.value, header.key_length.value)
            false: listed_bytes_column(count.value, key_lengths)
      - id: len_offsets
        doc: BATCH-3 byte length of the offsets column.
        doc-ref: spec/v0/batch.md#BATCH-3
        type: vlq_leb128
      - id: offsets
        doc: |
          BATCH-4 one offset per event: zigzag LEB128 differences from
          header.offset when delta_offset, plain LEB128 values otherwise.
        doc-ref: spec/v0/batch.md#BATCH-4
        size: len_offsets.value
        type:
          switch-on: header.delta_offset
          cases:
            true: delta_column(count.value, header.offset.value)
            false: varint_column(count.value)
      - id: len_timestamps
        doc: BATCH-3 byte length of the timestamps column.
        doc-ref: spec/v0/batch.md#BATCH-3
        type: vlq_leb128
      - id: timestamps
        doc: |
          BATCH-4 one timestamp per event: zigzag LEB128 differences from
          header.timestamp when delta_timestamp, plain LEB128 values otherwise.
        doc-ref: spec/v0/batch.md#BATCH-4
        size: len_timestamps.value
        type:
          switch-on: header.delta_timestamp
          cases:
            true: delta_column(count.value, header.timestamp.value)
            false: varint_column(count.value)
      - id: len_event_data_lengths
        doc: BATCH-3 byte length of the event_data_lengths column.
        doc-ref: spec/v0/batch.md#BATCH-3
        type: vlq_leb128
        if: not header.same_event_data_length
      - id: event_data_lengths
        doc: BATCH-3 one LEB128 event data length per event, unless same_event_data_length.
        doc-ref: spec/v0/batch.md#BATCH-3
        size: len_event_data_lengths.value
        type: varint_column(count.value)
        if: not header.same_event_data_length
      - id: event_data
        doc: |
          BATCH-5 all event data concatenated, to the end of the body, cut into
          equal pieces of header.event_data_length (same_event_data_length) or
          by the event_data_lengths column.
        doc-ref: spec/v0/batch.md#BATCH-5
        size-eos: true
        type:
          switch-on: header.same_event_data_length
          cases:
            true: fixed_bytes_column(count.value, header.event_data_length.value)
            false: listed_bytes_column(count.value, event_data_lengths)
  varint_column:
    doc: |
      BATCH-5 a column of exactly `count` plain LEB128 values filling its chunk
      exactly (fewer or more: inconsistent_batch).
    doc-ref: spec/v0/batch.md#BATCH-5
    params:
      - id: count
        doc: BATCH-3 the batch's event count.
        type: u8
    seq:
      - id: values
        doc: BATCH-3 the values, one per event.
        doc-ref: spec/v0/batch.md#BATCH-3
        type: vlq_leb128
        repeat: expr
        repeat-expr: count
      - id: trailing
        doc: BATCH-5 bytes after the count-th value; must be none (inconsistent_batch).
        doc-ref: spec/v0/batch.md#BATCH-5
        size-eos: true
        valid:
          expr: _.length == 0
  delta_column:
    doc: |
      BATCH-4 a delta-coded column: exactly `count` zigzag LEB128 differences;
      each value is the previous one plus the difference, the previous value
      starting at the header value (so the field encoder's first difference
      is 0).
    doc-ref: spec/v0/batch.md#BATCH-4
    params:
      - id: count
        doc: BATCH-3 the batch's event count.
        type: u8
      - id: start
        doc: BATCH-4 the header value the chain starts from.
        type: u8
    seq:
      - id: items
        doc: BATCH-4 the differences and the values they reconstruct, one per event.
        doc-ref: spec/v0/batch.md#BATCH-4
        type: 'delta_item(_index == 0 ? start : items[_index - 1].value)'
        repeat: expr
        repeat-expr: count
      - id: trailing
        doc: BATCH-5 bytes after the count-th difference; must be none (inconsistent_batch).
        doc-ref: spec/v0/batch.md#BATCH-5
        size-eos: true
        valid:
          expr: _.length == 0
  delta_item:
    doc: BATCH-4 one difference of a delta column and the value it reconstructs.
    doc-ref: spec/v0/batch.md#BATCH-4
    params:
      - id: previous
        doc: BATCH-4 the previous event's value (the header value for the first event).
        type: u8
    seq:
      - id: delta
        doc: |
          BATCH-4 the difference to the previous value (zigzag LEB128).
          BATCH-9: the reconstructed value must lie in 0..2^64-1
          (value_out_of_range).
        doc-ref: spec/v0/batch.md#BATCH-9
        type: zigzag_leb128
        valid:
          expr: previous + _.value >= 0 and previous + _.value <= 0xffff_ffff_ffff_ffff
    instances:
      value:
        doc: BATCH-4 the reconstructed value, previous + delta.
        doc-ref: spec/v0/batch.md#BATCH-4
        value: previous + delta.value
  fixed_bytes_column:
    doc: |
      BATCH-5 keys or event data of one common length: the column is cut into
      `count` pieces of `length` bytes and must hold exactly count * length
      bytes (otherwise inconsistent_batch). When `length` is 0 every piece is
      empty: `items` is then empty (piece i is the empty string), so that a
      large count over zero-length pieces costs no loop.
    doc-ref: spec/v0/batch.md#BATCH-5
    params:
      - id: count
        doc: BATCH-3 the batch's event count.
        type: u8
      - id: length
        doc: BATCH-5 the common length from the header.
        type: u8
    seq:
      - id: items
        doc: BATCH-5 the pieces, one per event (none when length is 0, every piece then being empty).
        doc-ref: spec/v0/batch.md#BATCH-5
        size: length
        repeat: expr
        repeat-expr: 'length == 0 ? 0 : count'
      - id: trailing
        doc: BATCH-5 bytes after the count-th piece; must be none (inconsistent_batch).
        doc-ref: spec/v0/batch.md#BATCH-5
        size-eos: true
        valid:
          expr: _.length == 0
  listed_bytes_column:
    doc: |
      BATCH-11 keys or event data of individual lengths: piece i is
      lengths.values[i] bytes; the lengths must add up to the column's size
      (otherwise inconsistent_batch).
    doc-ref: spec/v0/batch.md#BATCH-11
    params:
      - id: count
        doc: BATCH-3 the batch's event count.
        type: u8
      - id: lengths
        doc: BATCH-3 the key_lengths or event_data_lengths column.
        type: varint_column
    seq:
      - id: items
        doc: BATCH-5 the pieces, one per event.
        doc-ref: spec/v0/batch.md#BATCH-5
        size: lengths.values[_index].value
        repeat: expr
        repeat-expr: count
      - id: trailing
        doc: BATCH-11 bytes after the count-th piece; must be none (inconsistent_batch).
        doc-ref: spec/v0/batch.md#BATCH-11
        size-eos: true
        valid:
          expr: _.length == 0
