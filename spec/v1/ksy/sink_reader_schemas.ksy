meta:
  id: sink_reader_schemas
  title: Sink v1 reader declaration (event types and the schema versions a side can read)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  imports:
    - vlq_leb128
doc: |
  SNEG-1: the `reader_schemas` field of a version-1 connection request
  (CONN-8) and of an accepting connection response (CONN-11): type_count,
  then per event type its event_type_id, version_count and the schema
  versions. It has no length of its own; the frame around it checks that
  nothing follows it.

  Checks expressed here (SNEG-2, invalid_list): type_count and every
  version_count at least 1, event type ids strictly ascending over the
  entries, schema versions strictly ascending within an entry. A count can
  never exceed the bytes of the frame (every entry and every version takes
  at least one byte), which is checked as soon as the count is read, so a
  forged count cannot make a parser loop. Not expressed: the configurable
  limits max_declared_types and max_declared_versions (LIMIT-8). In
  JavaScript, ids and versions above 2^53 are compared as rounded doubles.
doc-ref: spec/v1/frames.md#SNEG-1
seq:
  - id: type_count
    doc: SNEG-1 number of event types declared, at least 1 (SNEG-2).
    doc-ref: spec/v1/frames.md#SNEG-1
    type: vlq_leb128
    valid:
      expr: _.value >= 1 and _.value <= _io.size
  - id: entries
    doc: SNEG-1 one entry per event type, event_type_id strictly ascending (SNEG-2).
    doc-ref: spec/v1/frames.md#SNEG-1
    type: 'entry(_index == 0, _index == 0 ? 0 : entries[_index - 1].event_type_id.value)'
    repeat: expr
    repeat-expr: type_count.value
types:
  entry:
    doc: SNEG-1 one declared event type and the schema versions of it that the side reads.
    doc-ref: spec/v1/frames.md#SNEG-1
    params:
      - id: first
        doc: SNEG-2 this is the first entry (no predecessor to compare with).
        type: bool
      - id: previous
        doc: SNEG-2 the previous entry's event_type_id.
        type: u8
    seq:
      - id: event_type_id
        doc: SNEG-1 the event type (LEB128), above the previous entry's (SNEG-2, invalid_list).
        doc-ref: spec/v1/frames.md#SNEG-2
        type: vlq_leb128
        valid:
          expr: first or _.value > previous
      - id: version_count
        doc: SNEG-1 number of schema versions, at least 1 (SNEG-2).
        doc-ref: spec/v1/frames.md#SNEG-2
        type: vlq_leb128
        valid:
          expr: _.value >= 1 and _.value <= _io.size
      - id: schema_versions
        doc: SNEG-1 the schema versions, strictly ascending (SNEG-2, invalid_list).
        doc-ref: spec/v1/frames.md#SNEG-1
        type: 'version(_index == 0, _index == 0 ? 0 : schema_versions[_index - 1].value.value)'
        repeat: expr
        repeat-expr: version_count.value
  version:
    doc: SNEG-1 one schema version of an entry.
    doc-ref: spec/v1/frames.md#SNEG-1
    params:
      - id: first
        doc: SNEG-2 this is the entry's first version.
        type: bool
      - id: previous
        doc: SNEG-2 the previous schema version of the entry.
        type: u8
    seq:
      - id: value
        doc: SNEG-2 the schema version (LEB128), above the previous one (invalid_list).
        doc-ref: spec/v1/frames.md#SNEG-2
        type: vlq_leb128
        valid:
          expr: first or _.value > previous
