meta:
  id: sink_frame
  title: Sink protocol version 0 frame
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  bit-endian: be
  imports:
    - chunk
    - sink_event
    - sink_nack_payload
doc: |
  FRAME-1: one Sink v0 frame, the bytes that a stream length prefix (STREAM-1, see
  sink_stream) announces. Parse it from exactly those bytes: several checks
  below are "nothing may follow" checks against the end of the frame.

  FRAME-1: the high nibble of the first byte is the message type. A
  connection request carries the protocol version in the low nibble
  (CONN-2), a connection response its response code (CONN-4); types 3..7
  carry a 12-bit big-endian message id in the low nibble and the second byte
  (FRAME-2). Then the payload of the message type follows.

  What this description checks: unknown types (FRAME-3) and response codes
  (CONN-4), the version nibble (CONN-2), lengths and truncation of every
  field, nothing after the end of each message (FRAME-4, CONN-3, CONN-6,
  PUB-2), the varint bounds (CONV-4, CONV-5). What it cannot check and a
  decoder must: the configurable decoder limits (LIMIT-1..6, e.g. a frame
  longer than max_frame_size) and the connection state machine.

  A zero-length frame (STREAM-3) fails on the first read (truncated).
doc-ref: spec/v0/frames.md#FRAME-1
seq:
  - id: type
    doc: |
      FRAME-1 message type, the high nibble of byte 0. FRAME-3: 2 (reserved
      for a future batch publish) and 8..15 are unknown in v0 and rejected.
    doc-ref: spec/v0/frames.md#FRAME-1
    type: b4
    enum: frame_type
    valid:
      in-enum: true
  - id: version
    doc: |
      CONN-2 protocol version, low nibble of a connection request; 0 in this
      spec. Any other value is rejected here (unsupported_version: the frame
      is recognised but its payload is not parsed).
    doc-ref: spec/v0/frames.md#CONN-2
    type: b4
    if: type == frame_type::connection_request
    valid:
      eq: 0
  - id: response
    doc: CONN-4 response code, low nibble of a connection response; 6..15 are unknown.
    doc-ref: spec/v0/frames.md#CONN-4
    type: b4
    enum: response_code
    if: type == frame_type::connection_response
    valid:
      in-enum: true
  - id: message_id
    doc: |
      FRAME-2 12-bit message id (low nibble of byte 0, then byte 1) of ACK,
      PUBLISH, PING, PONG and NACK. FRAME-5: PING and PONG send 0 here and
      the receiver ignores the value.
    doc-ref: spec/v0/frames.md#FRAME-2
    type: b12
    if: type != frame_type::connection_request and type != frame_type::connection_response
  - id: body
    doc: FRAME-1 the message's payload, up to the end of the frame.
    doc-ref: spec/v0/frames.md#FRAME-1
    size-eos: true
    type:
      switch-on: type
      cases:
        'frame_type::connection_request': connection_request
        'frame_type::connection_response': connection_response(response)
        'frame_type::ack': no_payload
        'frame_type::publish': sink_event
        'frame_type::ping': no_payload
        'frame_type::pong': no_payload
        'frame_type::nack': sink_nack_payload
types:
  connection_request:
    doc: |
      CONN-1 connection request payload, sent by the client as the first
      frame: app_version, client_instance_id and, when the client completed
      a handshake with this server before, server_instance_id.
    doc-ref: spec/v0/frames.md#CONN-1
    seq:
      - id: app_version
        doc: CONN-1 application version of the client, bytes that SHOULD be UTF-8 (chunk).
        doc-ref: spec/v0/frames.md#CONN-1
        type: chunk
      - id: client_instance_id
        doc: CONN-1 the client's instance id (u4be, CONV-7).
        doc-ref: spec/v0/frames.md#CONN-1
        type: u4
      - id: server_instance_id
        doc: |
          CONN-3 the server instance id the client last saw (u4be), absent when
          the frame ends after client_instance_id. 1..3 remaining bytes are
          truncated (the read fails).
        doc-ref: spec/v0/frames.md#CONN-3
        type: u4
        if: not _io.eof
      - id: trailing
        doc: CONN-3 bytes after server_instance_id; must be none (trailing_bytes).
        doc-ref: spec/v0/frames.md#CONN-3
        size-eos: true
        valid:
          expr: _.length == 0
  connection_response:
    doc: CONN-4 connection response payload; its layout depends on the response code.
    doc-ref: spec/v0/frames.md#CONN-4
    params:
      - id: response
        doc: CONN-4 the response code from the frame header.
        type: u1
        enum: response_code
    seq:
      - id: server_instance_id
        doc: CONN-5 hello_new_client carries the server's instance id (u4be).
        doc-ref: spec/v0/frames.md#CONN-5
        type: u4
        if: response == response_code::hello_new_client
      - id: machine_message
        doc: CONN-7 quarantined carries a machine-readable reason (chunk).
        doc-ref: spec/v0/frames.md#CONN-7
        type: chunk
        if: response == response_code::quarantined
      - id: human_message
        doc: CONN-7 quarantined then carries a UTF-8 description to the end of the frame.
        doc-ref: spec/v0/frames.md#CONN-7
        size-eos: true
        if: response == response_code::quarantined
      - id: trailing
        doc: |
          CONN-6 connected, instance_id_mismatch, unsupported_protocol_version
          and unsupported_application_version carry no payload, and
          hello_new_client nothing after the id: must be empty (trailing_bytes).
        doc-ref: spec/v0/frames.md#CONN-6
        size-eos: true
        valid:
          expr: _.length == 0
  no_payload:
    doc: |
      FRAME-4 ACK (ACK-1), PING and PONG frames are exactly 2 bytes: nothing
      may follow the message id (trailing_bytes).
    doc-ref: spec/v0/frames.md#FRAME-4
    seq:
      - id: trailing
        doc: FRAME-4 bytes after the 2-byte header; must be none.
        doc-ref: spec/v0/frames.md#FRAME-4
        size-eos: true
        valid:
          expr: _.length == 0
enums:
  frame_type:
    0:
      id: connection_request
      doc: CONN-1 client to server, first frame of a connection.
      doc-ref: spec/v0/frames.md#CONN-1
    1:
      id: connection_response
      doc: CONN-4 server to client, answer to the connection request.
      doc-ref: spec/v0/frames.md#CONN-4
    3:
      id: ack
      doc: ACK-1 the PUBLISH with this message id was received and processed.
      doc-ref: spec/v0/frames.md#ACK-1
    4:
      id: publish
      doc: PUB-1 one event.
      doc-ref: spec/v0/frames.md#PUB-1
    5:
      id: ping
      doc: FRAME-5 keepalive probe; the peer answers pong.
      doc-ref: spec/v0/frames.md#FRAME-5
    6:
      id: pong
      doc: FRAME-5 answer to a ping.
      doc-ref: spec/v0/frames.md#FRAME-5
    7:
      id: nack
      doc: NACK-1 the PUBLISH with this message id was refused (poison event).
      doc-ref: spec/v0/frames.md#NACK-1
  response_code:
    0:
      id: connected
      doc: CONN-6 both instance ids as expected; no payload.
      doc-ref: spec/v0/frames.md#CONN-6
    1:
      id: hello_new_client
      doc: CONN-5 first handshake; carries the server's instance id.
      doc-ref: spec/v0/frames.md#CONN-5
    2:
      id: instance_id_mismatch
      doc: CONN-6 instance ids disagree; no payload, the server closes.
      doc-ref: spec/v0/frames.md#CONN-6
    3:
      id: quarantined
      doc: CONN-7 client refused; machine and human message follow, the server closes.
      doc-ref: spec/v0/frames.md#CONN-7
    4:
      id: unsupported_protocol_version
      doc: CONN-6 the request's version nibble is not supported; no payload.
      doc-ref: spec/v0/frames.md#CONN-6
    5:
      id: unsupported_application_version
      doc: CONN-6 the request's app_version is not supported; no payload.
      doc-ref: spec/v0/frames.md#CONN-6
