meta:
  id: sink_event
  title: Sink v0 event (the PUBLISH payload)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  imports:
    - vlq_leb128
    - chunk
doc: |
  PUB-1: the payload of a PUBLISH frame is one event: event_type_id,
  schema_version, key, offset, timestamp, event_data. PUB-2: the payload ends
  exactly after event_data; bytes after it are malformed (trailing_bytes),
  checked here by `trailing`, which must be empty.

  The event is identified for acknowledgement by (event_type_id, key, offset);
  event_type_id + key is the topic, whose offset grows by 1 per event from 1.
  Parse this type from the payload bytes alone (sink_frame does so with a
  substream that ends at the end of the frame).
doc-ref: spec/v0/frames.md#PUB-1
seq:
  - id: event_type_id
    doc: PUB-1 the event's type, an application-assigned number (LEB128).
    doc-ref: spec/v0/frames.md#PUB-1
    type: vlq_leb128
  - id: schema_version
    doc: PUB-1 version of the schema of event_data (LEB128).
    doc-ref: spec/v0/frames.md#PUB-1
    type: vlq_leb128
  - id: key
    doc: PUB-3 the event's key, opaque bytes, may be empty (chunk).
    doc-ref: spec/v0/frames.md#PUB-3
    type: chunk
  - id: offset
    doc: PUB-1 position of the event in its topic (LEB128).
    doc-ref: spec/v0/frames.md#PUB-1
    type: vlq_leb128
  - id: timestamp
    doc: PUB-1 event time in unix seconds (LEB128).
    doc-ref: spec/v0/frames.md#PUB-1
    type: vlq_leb128
  - id: event_data
    doc: PUB-3 the event's data, opaque to Sink, may be empty (chunk).
    doc-ref: spec/v0/frames.md#PUB-3
    type: chunk
  - id: trailing
    doc: PUB-2 bytes after event_data; must be none (trailing_bytes).
    doc-ref: spec/v0/frames.md#PUB-2
    size-eos: true
    valid:
      expr: _.length == 0
