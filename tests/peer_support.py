"""In-memory handlers and helpers for tests of the asyncio peers over real TLS on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sinkproto import ConnectionRequest, ConnectionResponse, Event
from sinkproto.certs import DevPki
from sinkproto.events import ConnectionClosed
from sinkproto.handshake import Quarantine, decide_handshake, records_client
from sinkproto.peers import (
    Answer,
    ClientHandler,
    PeerSession,
    ServerHandler,
    SinkClient,
    SinkServer,
    client_context,
    server_context,
)

T = TypeVar("T")


def ev(offset: int, key: bytes = b"meter-1", event_type_id: int = 1) -> Event:
    return Event(
        event_type_id=event_type_id,
        schema_version=1,
        key=key,
        offset=offset,
        timestamp=1_700_000_000 + offset,
        event_data=b"reading-%d" % offset,
    )


@dataclass
class MemoryServer(ServerHandler):
    server_instance_id: int = 99
    known: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, Quarantine] = field(default_factory=dict)
    refused_versions: set[bytes] = field(default_factory=set)
    to_publish: list[Event] = field(default_factory=list)
    received: list[tuple[str, Event]] = field(default_factory=list)
    acked: list[Event] = field(default_factory=list)
    nacked: list[tuple[Event, bytes]] = field(default_factory=list)
    poison_prefix: bytes = b"poison"
    disconnects: list[tuple[str, ConnectionClosed]] = field(default_factory=list)
    connects: list[str] = field(default_factory=list)

    async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
        response = decide_handshake(
            request,
            server_instance_id=self.server_instance_id,
            known_client_instance_id=self.known.get(client),
            quarantine=self.quarantined.get(client),
            app_version_accepted=request.app_version not in self.refused_versions,
        )
        if records_client(response):
            self.known[client] = request.client_instance_id
        return response

    async def on_connect(self, session: PeerSession, client: str) -> None:
        self.connects.append(client)
        for event in self.to_publish:
            await session.publish(event)

    async def on_event(self, session: PeerSession, client: str, event: Event) -> Answer | None:
        if event.key.startswith(self.poison_prefix):
            return Answer.nack(b"E-POISON", b"cannot parse " + event.key)
        self.received.append((client, event))
        return None

    async def on_ack(self, session: PeerSession, client: str, event: Event) -> None:
        self.acked.append(event)

    async def on_disconnect(self, session: PeerSession, client: str, closed: ConnectionClosed) -> None:
        self.disconnects.append((client, closed))


@dataclass
class MemoryClient(ClientHandler):
    client_instance_id: int = 7
    server_instance_id: int | None = None
    app_version: bytes = b"1.0.0"
    received: list[Event] = field(default_factory=list)
    acked: list[Event] = field(default_factory=list)
    nacked: list[tuple[Event, bytes, bytes]] = field(default_factory=list)
    refused: list[ConnectionResponse] = field(default_factory=list)
    connected: int = 0

    def connection_request(self) -> ConnectionRequest:
        return ConnectionRequest(
            app_version=self.app_version,
            client_instance_id=self.client_instance_id,
            server_instance_id=self.server_instance_id,
        )

    async def on_hello(self, server_instance_id: int) -> None:
        self.server_instance_id = server_instance_id

    async def on_connect(self, session: PeerSession) -> None:
        self.connected += 1

    async def on_refused(self, response: ConnectionResponse) -> None:
        self.refused.append(response)

    async def on_event(self, session: PeerSession, event: Event) -> Answer | None:
        self.received.append(event)
        return None

    async def on_ack(self, session: PeerSession, event: Event) -> None:
        self.acked.append(event)

    async def on_nack(self, session: PeerSession, event: Event, machine_message: bytes, human_message: bytes) -> None:
        self.nacked.append((event, machine_message, human_message))


async def start_server(pki: DevPki, handler: ServerHandler, **kw: Any) -> tuple[SinkServer, int]:
    server = SinkServer(handler, server_context(cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca), **kw)
    _host, port = await server.start("127.0.0.1", 0)
    return server, port


def make_client(pki: DevPki, name: str, handler: ClientHandler, port: int, **kw: Any) -> SinkClient:
    context = client_context(ca=pki.ca, cert=pki.client_cert(name), key=pki.client_key(name))
    return SinkClient(handler, context, "127.0.0.1", port, server_hostname="localhost", **kw)


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 60))  # type: ignore[arg-type]


def pki_dir(tmp: Path) -> Path:
    return tmp / "pki"
