"""What the peers log for a person running them: counts per connection, one line for a dead peer, valid logfmt."""

from __future__ import annotations

import asyncio
import logging

import pytest
from peer_support import MemoryClient, MemoryServer, ev, eventually, make_client, run, start_server
from sinkproto import ConnectionRequest
from sinkproto.certs import DevPki, make_dev_pki
from sinkproto.connection import Connection, Role
from sinkproto.peers import PeerSession
from sinktools.logfmt import LogfmtFormatter, _value, configure


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return make_dev_pki(tmp_path_factory.mktemp("pki"), ["gw-1"])


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("two words", '"two words"'),
        ('ValueError("bad value")', r'"ValueError(\"bad value\")"'),
        ("a=b", '"a=b"'),
        ("back\\slash", r'"back\\slash"'),
        ("line\nbreak", r'"line\nbreak"'),
        (b"QUARANTINED", "QUARANTINED"),
    ],
)
def test_logfmt_values_are_quoted_and_escaped(value: object, shown: str) -> None:
    assert _value(value) == shown


def test_a_logfmt_line_with_quotes_parses_back() -> None:
    record = logging.makeLogRecord(
        {
            "name": "sinkproto.server",
            "levelname": "INFO",
            "msg": "transport error",
            "peer": "gw-1",
            "error": "OSError('no \"route\"')",
        }
    )
    line = LogfmtFormatter().format(record)
    assert line.endswith(r'''peer=gw-1 error="OSError('no \"route\"')"''')


def test_the_server_logs_what_each_connection_carried(pki: DevPki, caplog: pytest.LogCaptureFixture) -> None:
    server_handler = MemoryServer(to_publish=[ev(1, b"cmd-1"), ev(2, b"cmd-1")])
    client_handler = MemoryClient()

    async def scenario() -> None:
        server, port = await start_server(pki, server_handler)
        server.stats_every = 0.05  # the periodic line, every 60 s in `sink serve`
        client = make_client(pki, "gw-1", client_handler, port)
        runner = asyncio.create_task(client.run())
        await eventually(lambda: client.session is not None and client_handler.connected == 1)
        session = client.session
        assert session is not None
        answers = [await (await session.publish(event)) for event in (ev(1), ev(2), ev(3, b"poison-1"))]
        assert [type(a).__name__ for a in answers] == ["PublishAcked", "PublishAcked", "PublishNacked"]
        await eventually(lambda: len(server_handler.acked) == 2)
        await eventually(lambda: any(r.getMessage() == "connection counts" and r.received == 3 for r in caplog.records))
        await client.stop()
        await runner
        await eventually(lambda: len(server_handler.disconnects) == 1)
        await server.close()

    with caplog.at_level(logging.INFO, logger="sinkproto"):
        run(scenario())
    closed = [r for r in caplog.records if r.name == "sinkproto.server" and r.getMessage() == "disconnected"]
    assert len(closed) == 1
    tally = {k: getattr(closed[0], k) for k in ("received", "acked", "nacked", "sent", "peer_acked", "peer_nacked")}
    assert tally == {"received": 3, "acked": 2, "nacked": 1, "sent": 2, "peer_acked": 2, "peer_nacked": 0}
    client_closed = [r for r in caplog.records if r.name == "sinkproto.client" and r.getMessage() == "disconnected"]
    assert (client_closed[0].sent, client_closed[0].peer_acked, client_closed[0].peer_nacked) == (3, 2, 1)


class _DeadWriter:
    """A StreamWriter whose peer is gone: every drain fails, as asyncio's does after a reset."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    async def drain(self) -> None:
        raise ConnectionResetError(104, "Connection reset by peer")

    def is_closing(self) -> bool:
        return False


def test_a_dead_peer_is_said_once_and_not_written_to_again(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> _DeadWriter:
        writer = _DeadWriter()
        connection = Connection(Role.CLIENT, now=0.0, message_id_start=0)
        session = PeerSession(
            connection,
            asyncio.StreamReader(),
            writer,
            lambda s, e: None,  # type: ignore[arg-type]
            peer="gw-1",
            logger=logging.getLogger("sinkproto.client"),
        )
        await session.send_request(ConnectionRequest(app_version=b"1", client_instance_id=1))
        connection.data_to_send = lambda: b"\x50\x00"  # type: ignore[method-assign]  # more to send: a PING
        for _ in range(10):
            await session._flush()
        return writer

    with caplog.at_level(logging.INFO, logger="sinkproto"):
        writer = run(scenario())
    assert writer.writes == 1
    gone = [r for r in caplog.records if r.getMessage() == "peer gone while sending"]
    assert len(gone) == 1 and gone[0].peer == "gw-1" and "ConnectionResetError" in gone[0].error


def test_asyncio_lines_per_write_to_a_lost_connection_are_dropped() -> None:
    configure()
    asyncio_log = logging.getLogger("asyncio")

    def record(message: str) -> logging.LogRecord:
        return asyncio_log.makeRecord("asyncio", logging.WARNING, __file__, 1, message, (), None)

    assert not asyncio_log.filter(record("socket.send() raised exception."))
    assert not asyncio_log.filter(record("SSL connection is closed"))
    assert asyncio_log.filter(record("Unclosed connection"))
