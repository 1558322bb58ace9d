meta:
  id: sink_batch_result
  title: Sink v1 BATCH_RESULT payload (per-event NACKs by index)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  imports:
    - vlq_leb128
    - chunk
doc: |
  BRES-1: the payload of a BATCH_RESULT frame (type 8), after its 2-byte
  header: nack_count, then per NACKed event its index in the batch, a
  machine_message chunk and a human_message chunk, and nothing after.

  Checks expressed here (BRES-2): nack_count at least 1 and indices
  strictly ascending (invalid_list), nothing after the last entry
  (trailing_bytes). nack_count can never exceed the payload's size (an
  entry takes at least 3 bytes), checked when it is read. Not expressed:
  max_batch_events (LIMIT-4, configuration) and whether an index is below
  the batch's event count (BRES-5, known to the connection only).
doc-ref: spec/v1/frames.md#BRES-1
seq:
  - id: nack_count
    doc: BRES-1 number of NACKed events, at least 1 (BRES-2).
    doc-ref: spec/v1/frames.md#BRES-2
    type: vlq_leb128
    valid:
      expr: _.value >= 1 and _.value <= _io.size
  - id: entries
    doc: BRES-1 the NACKed events, index strictly ascending (BRES-2).
    doc-ref: spec/v1/frames.md#BRES-1
    type: 'entry(_index == 0, _index == 0 ? 0 : entries[_index - 1].index.value)'
    repeat: expr
    repeat-expr: nack_count.value
  - id: trailing
    doc: BRES-2 bytes after the last entry; must be none (trailing_bytes).
    doc-ref: spec/v1/frames.md#BRES-2
    size-eos: true
    valid:
      expr: _.length == 0
types:
  entry:
    doc: BRES-1 one NACKed event.
    doc-ref: spec/v1/frames.md#BRES-1
    params:
      - id: first
        doc: BRES-2 this is the first entry.
        type: bool
      - id: previous
        doc: BRES-2 the previous entry's index.
        type: u8
    seq:
      - id: index
        doc: BRES-1 0-based position of the event in the batch, above the previous index (BRES-2).
        doc-ref: spec/v1/frames.md#BRES-2
        type: vlq_leb128
        valid:
          expr: first or _.value > previous
      - id: machine_message
        doc: BRES-1 machine-readable code, as in a NACK (chunk).
        doc-ref: spec/v1/frames.md#BRES-1
        type: chunk
      - id: human_message
        doc: BRES-1 human-readable description; a chunk here, because entries follow.
        doc-ref: spec/v1/frames.md#BRES-1
        type: chunk
