meta:
  id: chunk
  title: Sink chunk (LEB128 byte length, then that many bytes)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  imports:
    - vlq_leb128
doc: |
  CONV-6: a chunk is an unsigned LEB128 byte length followed by exactly that
  many bytes. Fewer bytes than announced is malformed (truncated): the
  generated parser raises an end-of-stream error.

  Used for app_version, key, event_data, machine_message and the columns of
  the column batch. The size limits on keys and event data (LIMIT-5) are
  decoder configuration and are not checked here.
doc-ref: spec/v0/conventions.md#CONV-6
seq:
  - id: len_data
    doc: CONV-6 number of bytes that follow.
    doc-ref: spec/v0/conventions.md#CONV-6
    type: vlq_leb128
  - id: data
    doc: CONV-6 the chunk's bytes.
    doc-ref: spec/v0/conventions.md#CONV-6
    size: len_data.value
