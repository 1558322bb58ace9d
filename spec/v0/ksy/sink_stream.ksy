meta:
  id: sink_stream
  title: Sink v0 byte stream (length-prefixed frames)
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  imports:
    - sink_frame
doc: |
  STREAM-1: on the TLS connection every frame is preceded by its length as a
  2-byte unsigned big-endian integer, frames back to back (the field
  implementation's Erlang `{packet, 2}`). STREAM-2: a frame is therefore at
  most 65,535 bytes. STREAM-3: a zero-length frame is malformed (truncated);
  here its body fails to parse.

  This type reads a captured byte stream to its end. A live receiver instead
  reassembles frames from arbitrary segmentation (STREAM-4) and enforces
  max_frame_size before buffering (LIMIT-1); neither is a format rule.
doc-ref: spec/v0/transport.md#STREAM-1
seq:
  - id: frames
    doc: STREAM-1 the frames, back to back, up to the end of the stream.
    doc-ref: spec/v0/transport.md#STREAM-1
    type: framed
    repeat: eos
types:
  framed:
    doc: STREAM-1 one length-prefixed frame.
    doc-ref: spec/v0/transport.md#STREAM-1
    seq:
      - id: len_frame
        doc: STREAM-1 / STREAM-2 frame length, u2be, 1..65535 (STREAM-3).
        doc-ref: spec/v0/transport.md#STREAM-1
        type: u2
      - id: frame
        doc: STREAM-1 the frame's bytes, parsed as a sink_frame.
        doc-ref: spec/v0/transport.md#STREAM-1
        size: len_frame
        type: sink_frame
