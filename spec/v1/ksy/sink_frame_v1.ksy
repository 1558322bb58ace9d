meta:
  id: sink_frame_v1
  title: Sink protocol version 1 frame
  license: Apache-2.0
  ks-version: '0.11'
  endian: be
  bit-endian: be
  imports:
    - chunk
    - sink_event
    - sink_nack_payload
    - sink_frame
    - sink_batch_v1
    - sink_batch_result
    - sink_reader_schemas
    - sink_declared_limits
    - sink_close
doc: |
  FRAME-7: one frame as a version-1 decoder reads it, from exactly the bytes
  a stream length prefix announces (STREAM-1). The frames of version 0 keep
  their layout (sink_frame, sink_event, sink_nack_payload); version 1
  assigns type 2 (batch_publish, BPUB-1) and type 8 (batch_result, BRES-1),
  both with a 12-bit message id (FRAME-8), and type 9 (close, CLOSE-1),
  whose low nibble holds close_flags; gives the connection request of
  version 1 its own layout with request_flags (CONN-8), and lets the
  accepting connection responses carry response_flags, the server's reader
  declaration and its declared limits (CONN-11).

  Checks expressed here, besides those of version 0: types 10..15 (FRAME-7),
  request versions 2..15 (CONN-10, unsupported_version: the payload is not
  parsed), the reserved request_flags, response_flags, limit_flags and
  close_flags bits (CONN-9, CONN-13, DECL-2, CLOSE-2), a response_flags of
  0 (CONN-13), nothing after the last announced field (CONN-9, CONN-13),
  the reader declaration (SNEG-2), the declared limits' bounds (DECL-2),
  the batch (BATCH-12..15), the batch result (BRES-2) and CLOSE (CLOSE-2).

  Which version the connection negotiated is not in the bytes: this file
  is for version-1 connections; a version-0 connection uses sink_frame,
  which rejects types 2 and 8 (FRAME-7). Not expressed: the configurable
  limits (LIMIT-1..11) and the connection state machine (ERR-11, BRES-5).
doc-ref: spec/v1/frames.md#FRAME-7
seq:
  - id: type
    doc: FRAME-7 message type, the high nibble of byte 0; 10..15 are unassigned (unknown_type).
    doc-ref: spec/v1/frames.md#FRAME-7
    type: b4
    enum: frame_type
    valid:
      in-enum: true
  - id: version
    doc: |
      CONN-10 protocol version of a connection request: 0 (version-0 layout)
      or 1 (CONN-8 layout); 2..15 are unsupported_version.
    doc-ref: spec/v1/frames.md#CONN-10
    type: b4
    if: type == frame_type::connection_request
    valid:
      max: 1
  - id: response
    doc: CONN-11 response code of a connection response; the registry of version 0 (CONN-4).
    doc-ref: spec/v1/frames.md#CONN-11
    type: b4
    enum: response_code
    if: type == frame_type::connection_response
    valid:
      in-enum: true
  - id: message_id
    doc: FRAME-8 12-bit message id of every other type, batch_publish and batch_result included.
    doc-ref: spec/v1/frames.md#FRAME-8
    type: b12
    if: >-
      type != frame_type::connection_request and type != frame_type::connection_response
      and type != frame_type::close
  - id: close_reserved
    doc: CLOSE-2 close_flags bits 3..2 (low nibble of a CLOSE's byte 0), reserved, must be 0 (reserved_bit).
    doc-ref: spec/v1/frames.md#CLOSE-2
    type: b2
    if: type == frame_type::close
    valid:
      eq: 0
  - id: has_retry_after
    doc: CLOSE-1 close_flags bit 1, retry_after follows.
    doc-ref: spec/v1/frames.md#CLOSE-1
    type: b1
    if: type == frame_type::close
  - id: has_last_message_id
    doc: CLOSE-1 close_flags bit 0, last_message_id follows.
    doc-ref: spec/v1/frames.md#CLOSE-1
    type: b1
    if: type == frame_type::close
  - id: body
    doc: FRAME-7 the message's payload, up to the end of the frame.
    doc-ref: spec/v1/frames.md#FRAME-7
    size-eos: true
    type:
      switch-on: type
      cases:
        'frame_type::connection_request': connection_request(version)
        'frame_type::connection_response': connection_response(response)
        'frame_type::batch_publish': sink_batch_v1
        'frame_type::ack': sink_frame::no_payload
        'frame_type::publish': sink_event
        'frame_type::ping': sink_frame::no_payload
        'frame_type::pong': sink_frame::no_payload
        'frame_type::nack': sink_nack_payload
        'frame_type::batch_result': sink_batch_result
        'frame_type::close': sink_close(has_last_message_id, has_retry_after)
types:
  connection_request:
    doc: |
      CONN-10 connection request payload: the version-0 layout (CONN-1) for
      version 0, the CONN-8 layout for version 1.
    doc-ref: spec/v1/frames.md#CONN-10
    params:
      - id: version
        doc: CONN-10 the version nibble of the frame header.
        type: u1
    seq:
      - id: app_version
        doc: CONN-8 application version of the client (chunk), as in version 0.
        doc-ref: spec/v1/frames.md#CONN-8
        type: chunk
      - id: client_instance_id
        doc: CONN-8 the client's instance id (u4be), as in version 0.
        doc-ref: spec/v1/frames.md#CONN-8
        type: u4
      - id: request_flags
        doc: CONN-8 which optional fields follow (version 1 only).
        doc-ref: spec/v1/frames.md#CONN-8
        type: request_flags
        if: version == 1
      - id: server_instance_id
        doc: |
          CONN-8 the server instance id the client last saw (u4be): in version
          1 when has_server_instance_id, in version 0 when bytes remain (CONN-3).
        doc-ref: spec/v1/frames.md#CONN-8
        type: u4
        if: 'version == 1 ? request_flags.has_server_instance_id : not _io.eof'
      - id: reader_schemas
        doc: CONN-8 the client's reader declaration, when has_reader_schemas (SNEG-1).
        doc-ref: spec/v1/frames.md#CONN-8
        type: sink_reader_schemas
        if: version == 1 and request_flags.has_reader_schemas
      - id: declared_limits
        doc: CONN-8 the client's declared limits, when has_declared_limits (DECL-1).
        doc-ref: spec/v1/frames.md#CONN-8
        type: sink_declared_limits
        if: version == 1 and request_flags.has_declared_limits
      - id: trailing
        doc: CONN-9 bytes after the last announced field; must be none (trailing_bytes).
        doc-ref: spec/v1/frames.md#CONN-9
        size-eos: true
        valid:
          expr: _.length == 0
  request_flags:
    doc: CONN-8 the request_flags byte of a version-1 connection request.
    doc-ref: spec/v1/frames.md#CONN-8
    seq:
      - id: reserved
        doc: CONN-9 bits 7..3, reserved, must be 0 (reserved_bit).
        doc-ref: spec/v1/frames.md#CONN-9
        type: b5
        valid:
          eq: 0
      - id: has_declared_limits
        doc: CONN-8 bit 2, declared_limits follows.
        doc-ref: spec/v1/frames.md#CONN-8
        type: b1
      - id: has_reader_schemas
        doc: CONN-8 bit 1, reader_schemas follows.
        doc-ref: spec/v1/frames.md#CONN-8
        type: b1
      - id: has_server_instance_id
        doc: CONN-8 bit 0, server_instance_id follows.
        doc-ref: spec/v1/frames.md#CONN-8
        type: b1
  connection_response:
    doc: |
      CONN-11 connection response payload: the version-0 layouts (CONN-5 to
      CONN-7), and connected / hello_new_client may end with response_flags
      (present exactly when bytes follow, never 0, CONN-13), then the
      server's reader declaration and declared limits it announces.
    doc-ref: spec/v1/frames.md#CONN-11
    params:
      - id: response
        doc: CONN-11 the response code from the frame header.
        type: u1
        enum: response_code
    seq:
      - id: server_instance_id
        doc: CONN-11 hello_new_client carries the server's instance id (u4be, CONN-5).
        doc-ref: spec/v1/frames.md#CONN-11
        type: u4
        if: response == response_code::hello_new_client
      - id: response_flags
        doc: |
          CONN-11 which optional fields follow a connected or hello_new_client,
          present when bytes follow: bit 0 has_reader_schemas, bit 1
          has_declared_limits; bits 7..2 reserved (reserved_bit) and 0 is not
          written (trailing_bytes), CONN-13.
        doc-ref: spec/v1/frames.md#CONN-13
        type: u1
        if: >-
          (response == response_code::connected or response == response_code::hello_new_client)
          and not _io.eof
        valid:
          expr: _ >= 1 and _ <= 3
      - id: reader_schemas
        doc: CONN-11 the server's reader declaration, when response_flags bit 0 is set.
        doc-ref: spec/v1/frames.md#CONN-11
        type: sink_reader_schemas
        if: >-
          (response == response_code::connected or response == response_code::hello_new_client)
          and _io.pos > (response == response_code::hello_new_client ? 4 : 0) and response_flags & 1 != 0
      - id: declared_limits
        doc: CONN-11 the server's declared limits, when response_flags bit 1 is set.
        doc-ref: spec/v1/frames.md#CONN-11
        type: sink_declared_limits
        if: >-
          (response == response_code::connected or response == response_code::hello_new_client)
          and _io.pos > (response == response_code::hello_new_client ? 4 : 0) and response_flags & 2 != 0
      - id: machine_message
        doc: CONN-11 quarantined carries a machine-readable reason (chunk), as in version 0 (CONN-7).
        doc-ref: spec/v1/frames.md#CONN-11
        type: chunk
        if: response == response_code::quarantined
      - id: human_message
        doc: CONN-11 quarantined then carries a UTF-8 description to the end of the frame (CONN-7).
        doc-ref: spec/v1/frames.md#CONN-11
        size-eos: true
        if: response == response_code::quarantined
      - id: trailing
        doc: CONN-13 nothing may follow (trailing_bytes), as for version 0 (CONN-6).
        doc-ref: spec/v1/frames.md#CONN-13
        size-eos: true
        valid:
          expr: _.length == 0
enums:
  frame_type:
    0:
      id: connection_request
      doc: CONN-10 client to server, first frame; version 0 or 1.
      doc-ref: spec/v1/frames.md#CONN-10
    1:
      id: connection_response
      doc: CONN-11 server to client, answer to the connection request.
      doc-ref: spec/v1/frames.md#CONN-11
    2:
      id: batch_publish
      doc: BPUB-1 many events under one message id, as one batch v1.
      doc-ref: spec/v1/frames.md#BPUB-1
    3:
      id: ack
      doc: FRAME-7 as in version 0 (ACK-1); also answers a whole batch.
      doc-ref: spec/v1/frames.md#FRAME-7
    4:
      id: publish
      doc: FRAME-7 one event, as in version 0 (PUB-1).
      doc-ref: spec/v1/frames.md#FRAME-7
    5:
      id: ping
      doc: FRAME-7 keepalive probe, as in version 0 (FRAME-5).
      doc-ref: spec/v1/frames.md#FRAME-7
    6:
      id: pong
      doc: FRAME-7 answer to a ping, as in version 0 (FRAME-5).
      doc-ref: spec/v1/frames.md#FRAME-7
    7:
      id: nack
      doc: FRAME-7 as in version 0 (NACK-1); also NACKs a whole batch.
      doc-ref: spec/v1/frames.md#FRAME-7
    8:
      id: batch_result
      doc: BRES-1 NACKs some events of a batch by index and accepts the rest.
      doc-ref: spec/v1/frames.md#BRES-1
    9:
      id: close
      doc: CLOSE-1 the last frame of a version-1 connection, saying why the sender closes.
      doc-ref: spec/v1/frames.md#CLOSE-1
  response_code:
    0:
      id: connected
      doc: CONN-11 accepted; may carry the server's reader declaration.
      doc-ref: spec/v1/frames.md#CONN-11
    1:
      id: hello_new_client
      doc: CONN-11 first handshake; server instance id, then maybe a reader declaration.
      doc-ref: spec/v1/frames.md#CONN-11
    2:
      id: instance_id_mismatch
      doc: CONN-11 no payload, as in version 0.
      doc-ref: spec/v1/frames.md#CONN-11
    3:
      id: quarantined
      doc: CONN-11 machine and human message, as in version 0.
      doc-ref: spec/v1/frames.md#CONN-11
    4:
      id: unsupported_protocol_version
      doc: CONN-11 no payload on both versions, so a v1 client reads a v0 server's refusal.
      doc-ref: spec/v1/frames.md#CONN-11
    5:
      id: unsupported_application_version
      doc: CONN-11 no payload, as in version 0.
      doc-ref: spec/v1/frames.md#CONN-11
