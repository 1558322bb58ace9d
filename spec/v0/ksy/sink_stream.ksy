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
  most 65,535 bytes.

  This type only deframes: each frame's bytes are a substream, and
  `frames[i].frame.parsed` decodes them with sink_frame on demand (a lazy
  instance). So a stream whose framing is intact deframes even when one of
  its frames is malformed, the way a receiver's deframer passes every frame
  on and its frame decoder then rejects the bad one. STREAM-3: a zero-length
  frame is such a frame: it deframes, and `parsed` fails (truncated).

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
        doc: STREAM-1 the frame's bytes (len_frame of them), decoded on demand by `parsed`.
        doc-ref: spec/v0/transport.md#STREAM-1
        size: len_frame
        type: frame_slot
  frame_slot:
    doc: |
      STREAM-1 the substream holding exactly one frame. Nothing is read
      eagerly: a malformed frame does not stop deframing.
    doc-ref: spec/v0/transport.md#STREAM-1
    seq: []
    instances:
      parsed:
        doc: FRAME-1 the frame decoded with sink_frame (raises on a malformed frame, e.g. zero-length, STREAM-3).
        doc-ref: spec/v0/frames.md#FRAME-1
        pos: 0
        type: sink_frame
