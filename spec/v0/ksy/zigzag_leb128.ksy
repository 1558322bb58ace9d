meta:
  id: zigzag_leb128
  title: Sink zigzag-coded signed LEB128 varint (delta columns of the column batch)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  bit-endian: be
doc: |
  CONV-8 / BATCH-4: one element of a delta-coded column (offsets, timestamps) of the
  column batch: a signed difference, zigzag-mapped to an unsigned integer
  (0, -1, 1, -2, 2 ... become 0, 1, 2, 3, 4 ...) and written as unsigned LEB128
  (CONV-1).

  A difference between two values in 0..2^64-1 lies in -(2^64-1)..2^64-1, so
  its zigzag image needs up to 65 bits: unlike a plain varint (see
  vlq_leb128), the 10th byte may carry any of its 7 value bits here; only the
  10-byte length bound (CONV-4) applies. Whether the reconstructed value is
  in range (BATCH-9) is checked by the column that accumulates the deltas
  (sink_batch).

  This is a separate type from vlq_leb128 because the two differ in that
  one check: Kaitai cannot switch a `valid` bound on a caller's flag without
  a parameter on every plain field.

  Decoding uses arithmetic (`%`, integer `/`), not shifts and xor, so it stays
  exact where integers are unbounded (Python) and is not cut to 32 bits in
  JavaScript (where values above 2^53 are rounded doubles).
doc-ref: spec/v0/conventions.md#CONV-8
seq:
  - id: groups
    doc: CONV-1 the 7-bit groups, least significant first.
    doc-ref: spec/v0/conventions.md#CONV-1
    type: 'group(_index, _index == 0 ? 0 : groups[_index - 1].partial_value, _index == 0 ? 1 : groups[_index - 1].multiplier * 128)'
    repeat: until
    repeat-until: not _.has_next
instances:
  len:
    doc: CONV-1 number of bytes the varint occupies (1..10).
    doc-ref: spec/v0/conventions.md#CONV-1
    value: groups.size
  raw:
    doc: BATCH-4 the unsigned (zigzag-mapped) value as written, 0..2^70-1.
    doc-ref: spec/v0/batch.md#BATCH-4
    value: groups.last.partial_value
  value:
    doc: CONV-8 the signed difference (zigzag decoded).
    doc-ref: spec/v0/conventions.md#CONV-8
    # The sign comes from the first group's low bit, which is exact in every
    # language, rather than from `raw % 2`, which a double (JavaScript) loses
    # above 2^53 and would then flip the sign of a large difference.
    value: 'groups.first.group_value % 2 == 0 ? raw / 2 : -((raw + 1) / 2)'
types:
  group:
    doc: CONV-1 one byte of the varint; continuation bit then 7 value bits.
    doc-ref: spec/v0/conventions.md#CONV-1
    params:
      - id: idx
        doc: CONV-1 position of this byte in the varint, from 0.
        type: s4
      - id: previous_value
        doc: CONV-1 value accumulated from the bytes before this one.
        type: u8
      - id: multiplier
        doc: CONV-1 weight of this group, 128^idx.
        type: u8
    seq:
      - id: has_next
        doc: |
          CONV-4: continuation bit. The 10th byte (idx 9) must have it clear:
          a varint longer than 10 bytes is malformed (overlong_varint).
        doc-ref: spec/v0/conventions.md#CONV-4
        type: b1
        valid:
          expr: not _ or idx < 9
      - id: group_value
        doc: CONV-1 the 7 value bits of this byte.
        doc-ref: spec/v0/conventions.md#CONV-1
        type: b7
    instances:
      partial_value:
        doc: CONV-1 value of the groups up to and including this one.
        doc-ref: spec/v0/conventions.md#CONV-1
        value: previous_value + group_value * multiplier
