meta:
  id: sink_close
  title: Sink v1 CLOSE payload (why a side closes, how far it got, when to come back)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  imports:
    - vlq_leb128
    - chunk
doc: |
  CLOSE-1: the payload of a CLOSE frame (type 9), after its first byte,
  whose low nibble holds close_flags (sink_frame_v1 reads it and passes its
  two flags): error_class (a close code), requirement (chunk), the optional
  last_message_id and retry_after, human_message (chunk), and nothing after.

  Checks expressed here (CLOSE-2): error_class is an assigned close code,
  last_message_id at most 4095 and retry_after in 1..86400
  (value_out_of_range); requirement and human_message within the default
  max_requirement_size (32) and max_close_text (1024) (limit_exceeded,
  LIMIT-12); nothing after human_message (trailing_bytes). Not expressed:
  those two limits configured to other values, and strict UTF-8 (ERR-9).
doc-ref: spec/v1/frames.md#CLOSE-1
params:
  - id: has_last_message_id
    doc: CLOSE-1 close_flags bit 0, last_message_id follows.
    type: bool
  - id: has_retry_after
    doc: CLOSE-1 close_flags bit 1, retry_after follows.
    type: bool
seq:
  - id: error_class
    doc: CLOSE-1 the close code (spec/v1/errors.md#close-codes); 8..15 and above 30 are unassigned (CLOSE-2).
    doc-ref: spec/v1/frames.md#CLOSE-2
    type: vlq_leb128
    valid:
      expr: _.value <= 7 or (_.value >= 16 and _.value <= 30)
  - id: requirement
    doc: CLOSE-1 the requirement ID broken (ASCII), or empty; at most 32 bytes by default (LIMIT-12).
    doc-ref: spec/v1/frames.md#CLOSE-1
    type: chunk
    valid:
      expr: _.len_data.value <= 32
  - id: last_message_id
    doc: CLOSE-1 the last publishable unit of the receiver the sender answered, 0..4095 (CLOSE-2).
    doc-ref: spec/v1/frames.md#CLOSE-2
    type: vlq_leb128
    if: has_last_message_id
    valid:
      expr: _.value <= 4095
  - id: retry_after
    doc: CLOSE-1 seconds before the client may reconnect, 1..86400 (CLOSE-2, CLOSE-9).
    doc-ref: spec/v1/frames.md#CLOSE-2
    type: vlq_leb128
    if: has_retry_after
    valid:
      expr: _.value >= 1 and _.value <= 86400
  - id: human_message
    doc: CLOSE-1 UTF-8 text for an operator's log; at most 1024 bytes by default (LIMIT-12).
    doc-ref: spec/v1/frames.md#CLOSE-1
    type: chunk
    valid:
      expr: _.len_data.value <= 1024
  - id: trailing
    doc: CLOSE-2 bytes after human_message; must be none (trailing_bytes).
    doc-ref: spec/v1/frames.md#CLOSE-2
    size-eos: true
    valid:
      expr: _.length == 0
