meta:
  id: vlq_leb128
  title: Sink unsigned LEB128 varint (at most 10 bytes, value at most 2^64-1)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  bit-endian: be
doc: |
  CONV-1: an unsigned LEB128 varint, as used by every plain integer field of
  Sink protocol version 0 (event_type_id, schema_version, offset, timestamp,
  chunk lengths, batch header values and plain batch columns).

  Each byte holds 7 value bits, least significant group first; the high bit of
  a byte is set when another byte follows.

  Checks expressed here:
  * CONV-4 / LIMIT-2: at most 10 bytes (the 10th byte must not have its
    continuation bit set), otherwise the varint is overlong.
  * CONV-5: the value fits in 64 bits: the 10th byte may only carry the value
    bit 2^63 (its 7-bit group is 0 or 1), otherwise the varint overflows.

  CONV-3: non-minimal (zero-padded) encodings of up to 10 bytes are valid on
  decode; this type accepts them (CONV-2, minimal encoding, binds encoders).

  The value is accumulated with multiplications, not shifts, so that the
  generated code stays exact in languages with arbitrary-precision integers
  (Python, Ruby) and never relies on 32-bit shift semantics (JavaScript). In
  JavaScript the `value` instance is a double and is exact only up to 2^53:
  read the 7-bit `groups` yourself (e.g. into a BigInt) for larger values.
doc-ref: spec/v0/conventions.md#CONV-1
seq:
  - id: groups
    doc: |
      CONV-1: the 7-bit groups, least significant first. The repetition ends
      at the first byte whose continuation bit is clear.
    doc-ref: spec/v0/conventions.md#CONV-1
    type: 'group(_index, _index == 0 ? 0 : groups[_index - 1].partial_value, _index == 0 ? 1 : groups[_index - 1].multiplier * 128)'
    repeat: until
    repeat-until: not _.has_next
instances:
  len:
    doc: CONV-1 number of bytes the varint occupies (1..10).
    doc-ref: spec/v0/conventions.md#CONV-1
    value: groups.size
  value:
    doc: CONV-1 the decoded unsigned value, 0..2^64-1.
    doc-ref: spec/v0/conventions.md#CONV-1
    value: groups.last.partial_value
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
        doc: |
          CONV-5: the 7 value bits. In the 10th byte only the lowest bit may be
          set (weight 2^63): anything more is above 2^64-1 (varint_overflow).
        doc-ref: spec/v0/conventions.md#CONV-5
        type: b7
        valid:
          max: 'idx == 9 ? 1 : 127'
    instances:
      partial_value:
        doc: CONV-1 value of the groups up to and including this one.
        doc-ref: spec/v0/conventions.md#CONV-1
        value: previous_value + group_value * multiplier
