"""The checklist of docs/architecture.md, done once: adding a frame type touches only the files it names.

The test copies the core package (``reference/sinkproto``), the connection-table
docs hook and the requirement registries into a temporary folder, applies
the checklist's entries there as source edits (each anchored on text that
must occur exactly once, so a moved anchor fails loudly), and runs a probe
in a fresh interpreter against that copy: a throwaway frame type ECHO
(type nibble 14, since version 1, a 12-bit message id and nothing else)
must round-trip through both codecs at version 1, be ``UnknownType`` at
version 0, be dispatched by a :class:`~sinkproto.connection.Connection`,
be killable by a mutant (a ``Rules`` edit), and show up in the docs'
connection table. Nothing in the checked-out tree or in this process's
modules is changed. If adding a frame ever needs an edit the checklist
does not name, the probe fails and the checklist (and this test) must
grow that entry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"

# (checklist entry, file, anchor, text that replaces the anchor). Every entry keeps its anchor.
EDITS: list[tuple[str, str, str, str]] = [
    # 1. the model: a FrameType member, its `since`, the message class (and the Frame union)
    ("model", "reference/sinkproto/messages.py", "    BATCH_RESULT = 8\n", "    BATCH_RESULT = 8\n    ECHO = 14\n"),
    (
        "model",
        "reference/sinkproto/messages.py",
        "_SINCE: dict[FrameType, int] = {FrameType.BATCH_PUBLISH: 1, FrameType.BATCH_RESULT: 1",
        "_SINCE: dict[FrameType, int] = {FrameType.ECHO: 1, FrameType.BATCH_PUBLISH: 1, FrameType.BATCH_RESULT: 1",
    ),
    (
        "model",
        "reference/sinkproto/messages.py",
        "\nFrame = ConnectionRequest | ",
        "\n@dataclass(frozen=True, kw_only=True, slots=True)\n"
        "class Echo:\n"
        "    message_id: int\n\n"
        "    def __post_init__(self) -> None:\n"
        '        _check_uint("message_id", self.message_id, MAX_MESSAGE_ID)\n\n\n'
        "Frame = Echo | ConnectionRequest | ",
    ),
    # 2. the reference codec: a construct in FRAME_CONSTRUCTS (by type, then since) and FRAME_TYPE_OF
    (
        "construct codec",
        "reference/sinkproto/construct_codec/frames.py",
        "    MAX_RETRY_AFTER,\n    Ack,\n",
        "    MAX_RETRY_AFTER,\n    Ack,\n    Echo,\n",
    ),
    (
        "construct codec",
        "reference/sinkproto/construct_codec/frames.py",
        "# -- FRAME-1, FRAME-7: the frame ---",
        'echo_struct = Struct("header" / _id_header(FrameType.ECHO), End("FRAME-4"))\n\n\n'
        "class EchoAdapter(Adapter):\n"
        "    def _decode(self, obj: Any, context: Any, path: str) -> Echo:\n"
        "        return Echo(message_id=obj.header.message_id)\n\n"
        "    def _encode(self, obj: Echo, context: Any, path: str) -> dict[str, Any]:\n"
        '        return {"header": {"message_id": obj.message_id}}\n\n\n'
        "# -- FRAME-1, FRAME-7: the frame ---",
    ),
    (
        "construct codec",
        "reference/sinkproto/construct_codec/frames.py",
        "    FrameType.BATCH_RESULT: {1: BatchResultAdapter(batch_result_struct)},\n",
        "    FrameType.BATCH_RESULT: {1: BatchResultAdapter(batch_result_struct)},\n"
        "    FrameType.ECHO: {1: EchoAdapter(echo_struct)},\n",
    ),
    (
        "construct codec",
        "reference/sinkproto/construct_codec/frames.py",
        "    Close: FrameType.CLOSE,\n}",
        "    Close: FrameType.CLOSE,\n    Echo: FrameType.ECHO,\n}",
    ),
    # 3. the fast codec: a decoder in DECODERS (by type, then since), an encoder in ENCODERS (by class, then since)
    (
        "fast codec",
        "reference/sinkproto/fast_codec/frames.py",
        "    MAX_RETRY_AFTER,\n    Ack,\n",
        "    MAX_RETRY_AFTER,\n    Ack,\n    Echo,\n",
    ),
    (
        "fast codec",
        "reference/sinkproto/fast_codec/frames.py",
        "# FRAME-1, FRAME-7: by frame type, then by the version from which the entry applies.\n",
        "def _decode_echo(\n"
        "    data: bytes, limits: Limits, schemas: RecordSchemas | None, bases: BaseLookup | None = None\n"
        ") -> Echo:\n"
        '    check_end(data, 2, "FRAME-4")\n'
        "    return Echo(message_id=(data[0] & 0x0F) << 8 | data[1])\n\n\n"
        "def _encode_echo(value: Echo, schemas: RecordSchemas | None) -> bytes:\n"
        "    return bytes((0xE0 | value.message_id >> 8, value.message_id & 0xFF))\n\n\n"
        "# FRAME-1, FRAME-7: by frame type, then by the version from which the entry applies.\n",
    ),
    (
        "fast codec",
        "reference/sinkproto/fast_codec/frames.py",
        "    FrameType.BATCH_RESULT: {1: _decode_batch_result},\n",
        "    FrameType.BATCH_RESULT: {1: _decode_batch_result},\n    FrameType.ECHO: {1: _decode_echo},\n",
    ),
    (
        "fast codec",
        "reference/sinkproto/fast_codec/frames.py",
        "    BatchResult: {1: _encode_batch_result},\n",
        "    BatchResult: {1: _encode_batch_result},\n    Echo: {1: _encode_echo},\n",
    ),
    # 4. the connection's input alphabet: an Input member (with since and rule) and its FRAME_INPUT entry
    (
        "connection input",
        "reference/sinkproto/connection/_alphabet.py",
        '    RECV_BATCH_RESULT = ("recv_batch_result", "frame", 1, "BRES-5")\n',
        '    RECV_BATCH_RESULT = ("recv_batch_result", "frame", 1, "BRES-5")\n'
        '    RECV_ECHO = ("recv_echo", "frame", 1, "ECHO-1")\n',
    ),
    (
        "connection input",
        "reference/sinkproto/connection/_alphabet.py",
        "    BatchResult,\n    Close,\n    ConnectionRequest,\n",
        "    BatchResult,\n    Close,\n    ConnectionRequest,\n    Echo,\n",
    ),
    (
        "connection input",
        "reference/sinkproto/connection/_alphabet.py",
        "    BatchResult: Input.RECV_BATCH_RESULT,\n",
        "    BatchResult: Input.RECV_BATCH_RESULT,\n    Echo: Input.RECV_ECHO,\n",
    ),
    # 5. a handler (the behaviour of the new rows)
    (
        "connection handler",
        "reference/sinkproto/connection/handlers.py",
        "def batch_received(",
        "def echo_received(conn: Connection, frame: object, now: float) -> list[ConnectionEvent]:\n"
        '    """ECHO-1: answer an ECHO with the same frame."""\n'
        "    conn.send(frame, now)  # type: ignore[arg-type]\n"
        "    return []\n\n\n"
        "def batch_received(",
    ),
    # 6. the rows, with since=1, in the one transition table
    (
        "connection rows",
        "reference/sinkproto/connection/_table.py",
        '            (Input.RECV_BATCH_RESULT, h.batch_result_received, "BRES-5"),\n',
        '            (Input.RECV_BATCH_RESULT, h.batch_result_received, "BRES-5"),\n'
        '            (Input.RECV_ECHO, h.echo_received, "ECHO-1"),\n',
    ),
    # 7. the spec's requirement ID (the docs' table links every row's rule to it)
    (
        "spec requirement",
        "spec/v1/requirements.toml",
        '[[requirement]]\nid = "FRAME-7"',
        '[[requirement]]\nid = "ECHO-1"\nlevel = "MUST"\ntarget = "both"\nsection = "frames.md#ECHO-1"\n'
        'interop = true\nstatus = "active"\nsummary = "A peer answers an ECHO with the same frame"\n\n'
        '[[requirement]]\nid = "FRAME-7"',
    ),
]

# Run in a fresh interpreter against the edited copy.
PROBE = r"""
import connection_tables
from sinkproto import construct_codec, fast_codec
from sinkproto.connection import DEFAULT_RULES, Connection, Input, Role, State
from sinkproto.errors import EncodeError, UnknownType
from sinkproto.events import ProtocolError
from sinkproto.messages import ConnectionRequest, ConnectionResponse, Echo, FrameType, Response
from sinkproto.stream import frame_bytes

assert construct_codec.__file__.startswith(COPY), construct_codec.__file__  # the copy, not the checkout
assert FrameType.ECHO == 14 and FrameType.ECHO.since == 1
echo = Echo(message_id=0x123)
wire = bytes((0xE1, 0x23))

# both codecs, at the version that defines it and below it
for codec in (construct_codec, fast_codec):
    assert codec.encode_frame(echo, version=1) == wire, codec.__name__
    assert codec.decode_frame(wire, version=1) == echo, codec.__name__
    try:
        codec.decode_frame(wire, version=0)
    except UnknownType as exc:
        assert exc.requirement == "FRAME-3", exc.requirement
    else:
        raise AssertionError(f"{codec.__name__}: ECHO decoded at version 0")
    try:
        codec.encode_frame(echo, version=0)
    except EncodeError:
        pass
    else:
        raise AssertionError(f"{codec.__name__}: ECHO encoded at version 0")


def pair(version, rules=DEFAULT_RULES):
    client = Connection(Role.CLIENT, versions=(0, 1)[: version + 1], now=0.0, message_id_start=1)
    server = Connection(Role.SERVER, versions=(0, 1), now=0.0, message_id_start=1, rules=rules)
    client.send_request(ConnectionRequest(version=version, app_version=b"1", client_instance_id=7), 0.0)
    server.receive_data(client.data_to_send(), 0.0)
    server.send_response(ConnectionResponse(response=Response.CONNECTED), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    assert server.state is State.OPEN and server.negotiated_version == version
    return client, server


# a version-1 connection dispatches it through its row: the server answers with the same frame
client, server = pair(1)
assert server.receive_data(frame_bytes(wire), 0.0) == []
assert server.data_to_send() == frame_bytes(wire) and server.state is State.OPEN
# a version-0 connection: unknown_type, as before
client, server = pair(0)
events = server.receive_data(frame_bytes(wire), 0.0)
assert isinstance(events[0], ProtocolError) and events[0].error_class == "unknown_type", events
# the mutant: one Rules edit drops the server's row; the frame is then out of place (ERR-11)
mutant = DEFAULT_RULES.without(Role.SERVER, State.OPEN, Input.RECV_ECHO, since=1)
client, server = pair(1, mutant)
events = server.receive_data(frame_bytes(wire), 0.0)
assert isinstance(events[0], ProtocolError) and events[0].requirement == "ERR-11", events

# the docs' connection table shows the new rows at version 1 only
table = connection_tables.render()
row = "| `open` | recv_echo | `echo_received` | (stays) | 1 | [ECHO-1](../spec/v1/frames.md#ECHO-1) |"
v0, v1 = table.split("### Version 1, client")
assert row not in v0 and v1.count(row) == 2, table
print("checklist ok")
"""


def _copy_tree(copy: Path) -> None:
    shutil.copytree(
        ROOT / "reference" / "sinkproto", copy / "reference" / "sinkproto", ignore=shutil.ignore_patterns("__pycache__")
    )
    (copy / "docs" / "hooks").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "hooks" / "connection_tables.py", copy / "docs" / "hooks")
    for version in ("v0", "v1"):
        (copy / "spec" / version).mkdir(parents=True)
        shutil.copy(ROOT / "spec" / version / "requirements.toml", copy / "spec" / version)


def _apply(copy: Path) -> None:
    for entry, name, anchor, replacement in EDITS:
        path = copy / name
        text = path.read_text()
        assert text.count(anchor) == 1, f"checklist entry {entry!r}: the anchor moved in {name}: {anchor!r}"
        path.write_text(text.replace(anchor, replacement))


def _probe(copy: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(copy / "reference"), str(copy / "docs" / "hooks")]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    script = f"COPY = {str(copy)!r}\n" + PROBE
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)


def test_checklist_adds_a_frame_type(tmp_path: Path) -> None:
    copy = tmp_path / "kit"
    _copy_tree(copy)
    # Without the edits the probe fails: the throwaway frame type does not exist yet.
    before = _probe(copy)
    assert before.returncode != 0 and "cannot import name 'Echo'" in before.stderr
    _apply(copy)
    after = _probe(copy)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "checklist ok"


def test_page_names_every_file_the_checklist_edits() -> None:
    """The page's checklist names every file the test had to edit (and the checked-out tree has no ECHO)."""
    page = PAGE.read_text()
    for _entry, name, _anchor, _replacement in EDITS:
        short = name.removeprefix("reference/")
        assert f"`{short}`" in page, f"docs/architecture.md does not name {short}"
    from sinkproto.messages import FrameType

    assert "ECHO" not in FrameType.__members__
