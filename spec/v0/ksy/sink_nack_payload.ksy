meta:
  id: sink_nack_payload
  title: Sink v0 NACK payload
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  imports:
    - chunk
doc: |
  NACK-1: the payload of a NACK frame (and the same layout follows a
  quarantined connection response, CONN-7): chunk(machine_message), then
  human_message up to the end of the frame.

  NACK-2: machine_message is an implementer-defined code meant for automated
  recovery (like an HTTP status); human_message is a UTF-8 description, which
  may be empty. Both are exposed as bytes: the text encoding is a SHOULD of
  the spec, not a parse rule.
doc-ref: spec/v0/frames.md#NACK-1
seq:
  - id: machine_message
    doc: NACK-2 implementer-defined machine-readable code (chunk).
    doc-ref: spec/v0/frames.md#NACK-2
    type: chunk
  - id: human_message
    doc: NACK-2 human-readable description (UTF-8), to the end of the payload; may be empty.
    doc-ref: spec/v0/frames.md#NACK-2
    size-eos: true
