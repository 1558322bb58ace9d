"""``sink bench wire``: bytes on the wire for the same events over Sink v0 and v1, MQTT, HTTP and CoAP.

Real servers on loopback, started here: the reference Sink servers
(:class:`~sinkproto.peers.SinkServer`, and ``SinkServerV1`` for v1), Debian's mosquitto broker, a
stdlib HTTP/1.1 server, an aiocoap CoAP server. Real clients: the
reference Sink client session, paho-mqtt, ``http.client``, aiocoap.

Counting: ``tcpdump`` captures every packet to and from the servers' ports
on ``lo``; each packet counts its IP total length (IPv4 header, TCP or UDP
header with options, payload: what a link bills, without the loopback's
fake Ethernet header) and its payload (the application bytes: the
protocol's bytes, and TLS records with TLS). Pure ACKs count too. Every
protocol is counted the same way.

Each client, on a warm connection (one untimed event first, so that MQTT's
topic alias is set and TLS session tickets are out of the way), sends one
event, then 100 events one by one (each waits for its confirmation), then
100 events in one message; connection setup (TCP, TLS, the protocol's
own handshake) is reported separately. Phases are separated by a pause
that lets delayed ACKs go out, and packets are assigned to a phase by
their capture time.

Every protocol carries the same information per event: the six fields of
a Sink event. MQTT, HTTP octet-stream and CoAP send them in Sink's own
compact event encoding (PUB-1) under a constant short topic or path; HTTP
JSON sends a JSON object with base64 key and data. The 100-event message is
the 100 encodings, each length-prefixed (a JSON array for JSON). Sink v0
has no batch frame: that cell is n/a, and the column batch is shown
as a size computed offline. Sink v1 (the reference version-1 session,
:class:`~sinkproto.connection_v1.ConnectionV1`, against
:class:`~sinkproto.peers.v1.SinkServerV1`) sends single events as PUBLISH,
like v0, and the 100 as one BATCH_PUBLISH in profile order, the encoder
picking the smallest batch v1 (CODEC-5), answered by one ACK; a second
table compares its all-in bytes per event with v0 and MQTT 5.

Caveat: the loopback MTU is 64 KiB, so the 100-event messages (about 8 kB)
travel in one or two segments here where a 1500-byte link needs about
six: about 200 more header bytes each way on a real link.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import http.server
import json
import logging
import os
import shutil
import sys
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..codec import CONSTRUCT, FAST, Codec
from ..connection import Connection, Role
from ..connection_v1 import BatchAnswered, ConnectionV1
from ..events import HandshakeCompleted
from ..limits import DEFAULT_LIMITS
from ..messages import Batch, ConnectionRequest, ConnectionResponse, Event, Publish, Response
from ..messages_v1 import BatchV1, FrameTypeV1
from ..readers import ReaderSchemas
from ..stream import frame_bytes
from .profiles import Profile, load

__all__ = ["Traffic", "Result", "run", "format_report", "main", "PHASES"]

PHASES = ("setup", "one event", "100 one by one", "100 in one message")
SETTLE = 0.3  # seconds between phases: more than Linux's 40 ms delayed ACK
HOST = "127.0.0.1"
T = TypeVar("T")
log = logging.getLogger("sinkproto.bench.wire")


@dataclass
class Traffic:
    """What one phase put on the wire, per direction (up: client to server)."""

    app_up: int = 0
    app_down: int = 0
    ip_up: int = 0
    ip_down: int = 0
    packets: int = 0

    @property
    def app(self) -> int:
        return self.app_up + self.app_down

    @property
    def ip(self) -> int:
        return self.ip_up + self.ip_down


@dataclass
class Result:
    protocol: str
    tls: bool
    transport: str  # TCP or UDP
    phases: dict[str, Traffic | None] = field(default_factory=dict)
    note: str = ""
    batch: bytes = b""  # Sink v1: the batch v1 its BATCH_PUBLISH carried


# -- capture ---------------------------------------------------------------------------------


class Capture:
    """tcpdump on ``lo`` for some ports, written to a pcap file and parsed afterwards."""

    def __init__(self, ports: list[int], path: Path) -> None:
        self.ports = ports
        self.path = path
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        expression = " or ".join(f"port {p}" for p in self.ports)
        self._proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-n", "-U", "-s", "128", "-w", str(self.path), expression],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert self._proc.stderr is not None
        line = self._proc.stderr.readline().decode(errors="replace")  # "listening on lo, ..." once it captures
        if "listening" not in line:
            self._proc.kill()
            raise SystemExit(f"sink bench wire: tcpdump could not capture on lo: {line.strip()} (run as root)")

    def stop(self) -> list[tuple[float, int, int, int, int]]:
        """(time, source port, destination port, IP length, payload length) of every packet."""
        assert self._proc is not None
        time.sleep(0.2)
        self._proc.send_signal(signal.SIGINT)
        self._proc.wait(timeout=10)
        return parse_pcap(self.path.read_bytes())

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)


def parse_pcap(data: bytes) -> list[tuple[float, int, int, int, int]]:
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = struct.unpack(endian + "I", data[:4])[0] == 0xA1B23C4D
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    link_header = {1: 14, 0: 4, 113: 16, 276: 20, 101: 0}[linktype]
    out = []
    pos = 24
    while pos + 16 <= len(data):
        seconds, fraction, captured, _ = struct.unpack(endian + "IIII", data[pos : pos + 16])
        packet = data[pos + 16 : pos + 16 + captured]
        pos += 16 + captured
        ip = packet[link_header:]
        if len(ip) < 20 or ip[0] >> 4 != 4:
            continue
        ip_header = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        protocol = ip[9]
        l4 = ip[ip_header:]
        source, destination = int.from_bytes(l4[0:2], "big"), int.from_bytes(l4[2:4], "big")
        l4_header = (l4[12] >> 4) * 4 if protocol == 6 else 8
        when = seconds + fraction / (1e9 if nano else 1e6)
        out.append((when, source, destination, total, total - ip_header - l4_header))
    return out


def account(packets: list[tuple[float, int, int, int, int]], port: int, start: float, end: float) -> Traffic:
    traffic = Traffic()
    for when, source, destination, total, payload in packets:
        if not start <= when < end or port not in (source, destination):
            continue
        traffic.packets += 1
        if destination == port:
            traffic.app_up += payload
            traffic.ip_up += total
        else:
            traffic.app_down += payload
            traffic.ip_down += total
    return traffic


# -- an event loop for the asyncio servers and clients ------------------------------------------------


class Loop:
    """An asyncio loop in a thread; ``call`` runs a coroutine there and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self) -> ssl.SSLContext:
        from ..peers import server_context

        return server_context(cert=self.server_cert, key=self.server_key, client_ca=self.ca)

    def client_context(self) -> ssl.SSLContext:
        from ..peers import client_context

        return client_context(ca=self.ca, cert=self.client_cert, key=self.client_key)


def make_pki(directory: Path) -> Pki:
    from ..certs import make_dev_pki

    pki = make_dev_pki(directory, ["bench"])
    return Pki(pki.ca, pki.server_cert, pki.server_key, pki.client_cert("bench"), pki.client_key("bench"))


# -- the clients: connect, send one event, send many in one message, close ------------------------------


class Client:
    name = ""
    transport = "TCP"

    def connect(self) -> None: ...

    def send_one(self, event: Event) -> None: ...

    def send_many(self, events: tuple[Event, ...]) -> bool:
        """One message holding all ``events``; False when the protocol has none."""
        return False

    def close(self) -> None: ...


def event_bytes(event: Event) -> bytes:
    return FAST.encode_event(event)


def many_bytes(events: tuple[Event, ...]) -> bytes:
    from ..fast_codec.primitives import varint_bytes

    return b"".join(varint_bytes(len(b)) + b for b in map(event_bytes, events))


def event_json(event: Event) -> dict[str, Any]:
    return {"event_type_id": event.event_type_id, "schema_version": event.schema_version,
            "key": base64.b64encode(event.key).decode(), "offset": event.offset, "timestamp": event.timestamp,
            "event_data": base64.b64encode(event.event_data).decode()}  # fmt: skip


class SinkBenchClient(Client):
    """The reference client session (Connection + PeerSession) of a returning client."""

    transport = "TCP"

    def __init__(self, loop: Loop, port: int, context: ssl.SSLContext | None) -> None:
        self.name = "Sink v0"
        self.loop, self.port, self.context = loop, port, context

    async def _connect(self) -> None:
        from ..peers import PeerSession

        reader, writer = await asyncio.open_connection(
            HOST, self.port, ssl=self.context, server_hostname="localhost" if self.context else None)
        ready = asyncio.Event()

        async def on_event(session: Any, event: Any) -> None:
            if isinstance(event, HandshakeCompleted):
                ready.set()

        loop = asyncio.get_running_loop()
        connection = Connection(Role.CLIENT, now=loop.time(), message_id_start=0)
        self.session = PeerSession(connection, reader, writer, on_event, peer="bench", logger=log)
        await self.session.send_request(ConnectionRequest(app_version=b"1.0.0", client_instance_id=1, server_instance_id=7))
        self.task = asyncio.create_task(self.session.run())
        await asyncio.wait_for(ready.wait(), 10)

    async def _send(self, event: Event) -> None:
        answer = await self.session.publish(event)
        await asyncio.wait_for(answer, 10)

    async def _close(self) -> None:
        await self.session.close()
        await asyncio.wait_for(self.task, 10)

    def connect(self) -> None:
        self.loop.call(self._connect())

    def send_one(self, event: Event) -> None:
        self.loop.call(self._send(event))

    def close(self) -> None:
        self.loop.call(self._close())


@dataclass(frozen=True)
class V1Setup:
    """What both version-1 peers of the bench know: record schemas, the server's reader declaration, the codec.

    The server declares it reads the (event_type_id, schema_version) pairs
    of the profile, so the client may send them in records mode (RECORD-2)
    when the records mode exists; the codec is the one whose encoder gives
    the smallest batch of the profile (the fast codec unless only the
    reference has the records mode): this benchmark counts bytes, not time.
    """

    schemas: Any | None
    declaration: ReaderSchemas
    codec: Codec

    @classmethod
    def for_profile(cls, profile: Profile) -> V1Setup:
        from .batch_bench import record_schemas

        pairs: dict[int, set[int]] = {}
        for event in profile.events:
            pairs.setdefault(event.event_type_id, set()).add(event.schema_version)
        declaration = ReaderSchemas(entries=tuple((t, tuple(sorted(v))) for t, v in sorted(pairs.items())))
        schemas = record_schemas()
        codec = FAST
        if schemas is not None:
            readable = schemas.restricted_to([(t, v) for t, vs in declaration.entries for v in vs])
            value = BatchV1(events=profile.events)
            if len(CONSTRUCT.encode_batch_v1(value, schemas=readable)) < len(FAST.encode_batch_v1(value, schemas=readable)):
                codec = CONSTRUCT  # a fast codec without the records mode
        return cls(schemas, declaration, codec)


class RecordingConnectionV1(ConnectionV1):
    """A version-1 client connection that keeps what it hands to the transport, to name the batch it sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[bytes] = []

    def data_to_send(self) -> bytes:
        data = super().data_to_send()
        if data:
            self.sent.append(data)
        return data


class SinkV1BenchClient(SinkBenchClient):
    """The reference version-1 client session (ConnectionV1 + PeerSession) against SinkServerV1.

    One event and one by one are PUBLISH frames, as in version 0; the 100
    events in one message are one BATCH_PUBLISH in profile order, the
    encoder picking the smallest encoding (CODEC-5), answered by one ACK.
    """

    def __init__(self, loop: Loop, port: int, context: ssl.SSLContext | None, setup: V1Setup) -> None:
        super().__init__(loop, port, context)
        self.name = "Sink v1"
        self.setup = setup
        self.batch = b""  # the batch v1 the BATCH_PUBLISH carried

    async def _connect(self) -> None:
        from ..peers import PeerSession

        reader, writer = await asyncio.open_connection(
            HOST, self.port, ssl=self.context, server_hostname="localhost" if self.context else None)
        ready = asyncio.Event()
        self.answers: dict[int, asyncio.Future[BatchAnswered]] = {}

        async def on_event(session: Any, event: Any) -> None:
            if isinstance(event, HandshakeCompleted):
                ready.set()
            elif isinstance(event, BatchAnswered) and event.message_id in self.answers:
                self.answers.pop(event.message_id).set_result(event)

        loop = asyncio.get_running_loop()
        self.connection = RecordingConnectionV1(Role.CLIENT, version=1, now=loop.time(), message_id_start=0,
                                                record_schemas=self.setup.schemas, codec=self.setup.codec)  # fmt: skip
        self.session = PeerSession(self.connection, reader, writer, on_event, peer="bench", logger=log)
        await self.session.send_request(ConnectionRequest(version=1, app_version=b"1.0.0", client_instance_id=1,
                                                          server_instance_id=7))  # fmt: skip
        self.task = asyncio.create_task(self.session.run())
        await asyncio.wait_for(ready.wait(), 10)
        if self.connection.negotiated_version != 1:
            raise RuntimeError("the server did not accept protocol version 1")

    async def _send_batch(self, events: tuple[Event, ...]) -> None:
        await self.session.wait_can_publish()
        message_id = self.connection.publish_batch(events, self.session.now())
        answer = self.answers[message_id] = asyncio.get_running_loop().create_future()
        sent = len(self.connection.sent)
        await self.session._flush()
        frames = [f for data in self.connection.sent[sent:] for f in FAST.Deframer(DEFAULT_LIMITS).feed(data)]
        self.batch = next(f[2:] for f in frames if f[0] >> 4 == FrameTypeV1.BATCH_PUBLISH)  # after the 2-byte header
        answered = await asyncio.wait_for(answer, 10)
        if answered.nacked:
            raise RuntimeError(f"the server NACKed {len(answered.nacked)} events of the batch")

    def send_many(self, events: tuple[Event, ...]) -> bool:
        self.loop.call(self._send_batch(events))
        return True


async def start_sink_server(port: int, context: ssl.SSLContext | None, v1: V1Setup | None = None) -> Any:
    """The reference server: SinkServer (version 0), or with ``v1`` SinkServerV1 accepting versions 0 and 1."""
    from ..peers import ServerHandler, SinkServer
    from ..peers.v1 import SinkServerV1

    class Handler(ServerHandler):
        def anonymous(self) -> str | None:
            return "bench"  # the plain-TCP variant has no certificate to name the client

        async def decide(self, client: str, request: ConnectionRequest) -> ConnectionResponse:
            if v1 is not None and request.version == 1:
                return ConnectionResponse(response=Response.CONNECTED, reader_schemas=v1.declaration)  # SNEG-1
            return ConnectionResponse(response=Response.CONNECTED)

    if v1 is None:
        server = SinkServer(Handler(), context)
    else:
        server = SinkServerV1(Handler(), context, version=1, codec=v1.codec, record_schemas=v1.schemas)
    await server.start(HOST, port)
    return server


class MqttClient(Client):
    def __init__(self, port: int, context: ssl.SSLContext | None, version: int, alias: bool) -> None:
        import paho.mqtt.client as mqtt

        self.name = {4: "MQTT 3.1.1 QoS 1", 5: "MQTT 5 QoS 1"}[version] + (" + topic alias" if alias else "")
        self.alias = alias
        self.v5 = version == 5
        self.aliased = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench",
                                  protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311)  # fmt: skip
        if context is not None:
            self.client.tls_set_context(context)
        self.port = port
        self.connected = threading.Event()
        self.client.on_connect = lambda *args: self.connected.set()

    def connect(self) -> None:
        self.client.connect(HOST, self.port, keepalive=60)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("no CONNACK from mosquitto")

    def _publish(self, payload: bytes) -> None:
        topic, properties = "sink/ev", None
        if self.alias:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.PUBLISH)
            properties.TopicAlias = 1
            if self.aliased:
                topic = ""  # MQTT 5: the alias alone names the topic
            self.aliased = True
        info = self.client.publish(topic, payload, qos=1, properties=properties)
        info.wait_for_publish(10)
        if not info.is_published():
            raise RuntimeError("no PUBACK from mosquitto")

    def send_one(self, event: Event) -> None:
        self._publish(event_bytes(event))

    def send_many(self, events: tuple[Event, ...]) -> bool:
        self._publish(many_bytes(events))
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class HttpClient(Client):
    def __init__(self, port: int, context: ssl.SSLContext | None, as_json: bool) -> None:
        self.name = "HTTP/1.1 POST " + ("JSON" if as_json else "octet-stream")
        self.as_json = as_json
        self.port, self.context = port, context

    def connect(self) -> None:
        if self.context is None:
            self.connection: http.client.HTTPConnection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        else:
            self.connection = http.client.HTTPSConnection(HOST, self.port, timeout=10, context=self.context)
        self.connection.connect()

    def _post(self, body: bytes, content_type: str) -> None:
        self.connection.request("POST", "/ev", body, {"Content-Type": content_type})
        response = self.connection.getresponse()
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"HTTP {response.status}")

    def send_one(self, event: Event) -> None:
        if self.as_json:
            self._post(json.dumps(event_json(event)).encode(), "application/json")
        else:
            self._post(event_bytes(event), "application/octet-stream")

    def send_many(self, events: tuple[Event, ...]) -> bool:
        if self.as_json:
            self._post(json.dumps([event_json(e) for e in events]).encode(), "application/json")
        else:
            self._post(many_bytes(events), "application/octet-stream")
        return True

    def close(self) -> None:
        self.connection.close()


def start_http_server(port: int, context: ssl.SSLContext | None) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((HOST, port), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class CoapClient(Client):
    transport = "UDP"

    def __init__(self, loop: Loop, port: int) -> None:
        self.name = "CoAP CON POST"
        self.loop, self.port = loop, port

    async def _connect(self) -> None:
        import aiocoap

        self.context = await aiocoap.Context.create_client_context()

    async def _post(self, payload: bytes) -> None:
        import aiocoap

        request = aiocoap.Message(code=aiocoap.POST, uri=f"coap://{HOST}:{self.port}/ev", payload=payload)
        response = await self.context.request(request).response
        if not response.code.is_successful():
            raise RuntimeError(f"CoAP {response.code}")

    def connect(self) -> None:
        self.loop.call(self._connect())

    def send_one(self, event: Event) -> None:
        self.loop.call(self._post(event_bytes(event)))

    def send_many(self, events: tuple[Event, ...]) -> bool:
        self.loop.call(self._post(many_bytes(events)))
        return True

    def close(self) -> None:
        self.loop.call(self.context.shutdown())


async def start_coap_server(port: int) -> Any:
    import aiocoap
    import aiocoap.resource

    class Events(aiocoap.resource.Resource):
        async def render_post(self, request: Any) -> Any:
            return aiocoap.Message(code=aiocoap.CHANGED)

    site = aiocoap.resource.Site()
    site.add_resource(["ev"], Events())
    return await aiocoap.Context.create_server_context(site, bind=(HOST, port))


def start_mosquitto(directory: Path, port: int, tls_port: int, pki: Pki) -> subprocess.Popen[bytes]:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        raise SystemExit("sink bench wire: mosquitto is not installed; on Debian: apt-get install mosquitto tcpdump")
    config = directory / "mosquitto.conf"
    config.write_text(
        "per_listener_settings false\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n"
        # As root, mosquitto would switch to its own user, who cannot read this temporary folder.
        + ("user root\n" if os.geteuid() == 0 else "")
        + f"listener {port} {HOST}\n"
        + f"listener {tls_port} {HOST}\ncafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        + "require_certificate true\n"
    )
    proc = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            socket.create_connection((HOST, port), timeout=0.1).close()
            socket.create_connection((HOST, tls_port), timeout=0.1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"sink bench wire: mosquitto exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("sink bench wire: mosquitto did not start listening")


# -- the run -------------------------------------------------------------------------------------------


def measure(client: Client, port: int, events: tuple[Event, ...], marks: list[tuple[str, float, float]]) -> None:
    """Run the phases; record (phase, start, end) capture-time windows."""
    start = time.time()
    client.connect()
    time.sleep(SETTLE)
    marks.append(("setup", start, time.time()))
    client.send_one(events[1])  # warm-up, not counted
    time.sleep(SETTLE)
    start = time.time()
    client.send_one(events[0])
    time.sleep(SETTLE)
    marks.append(("one event", start, time.time()))
    start = time.time()
    for event in events:
        client.send_one(event)
    time.sleep(SETTLE)
    marks.append(("100 one by one", start, time.time()))
    start = time.time()
    if client.send_many(events):
        time.sleep(SETTLE)
        marks.append(("100 in one message", start, time.time()))
    client.close()
    time.sleep(SETTLE)


Window = tuple[Client, int, bool, list[tuple[str, float, float]], list[tuple[float, int, int, int, int]]]


def capture_windows(clients: list[tuple[Client, int, bool]], events: tuple[Event, ...], path: Path,
                    cleanup: list[Callable[[], None]], progress: Callable[[str], None]) -> list[Window]:
    """Measure each client under one tcpdump capture; each window keeps the packets it is counted from."""
    capture = Capture(sorted({port for _, port, _ in clients}), path)
    capture.start()
    cleanup.append(capture.kill)  # a failed run must not leave tcpdump behind
    measured = []
    for number, (client, port, tls) in enumerate(clients, 1):
        progress(f"[{number}/{len(clients)}] {client.name}{' over TLS' if tls else ''}")
        marks: list[tuple[str, float, float]] = []
        measure(client, port, events, marks)
        measured.append((client, port, tls, marks))
    packets = capture.stop()
    return [(client, port, tls, marks, packets) for client, port, tls, marks in measured]


def phases_of(client: Client, port: int, marks: list[tuple[str, float, float]],
              packets: list[tuple[float, int, int, int, int]]) -> dict[str, Traffic | None]:
    found = {name: account(packets, port, start, end) for name, start, end in marks}
    phases = {name: found.get(name) for name in PHASES}
    if client.transport == "UDP" and phases["setup"] is not None and not phases["setup"].packets:
        phases["setup"] = Traffic()  # CoAP has no connection to set up
    return phases


def missed_phase(client: Client, port: int, tls: bool, marks: list[tuple[str, float, float]],
                 packets: list[tuple[float, int, int, int, int]]) -> bool:
    """Whether a phase in which the client sent something counted no packet at all."""
    phases = phases_of(client, port, marks, packets)
    return any(traffic is not None and not traffic.packets for name, traffic in phases.items()
               if not (name == "setup" and client.transport == "UDP"))


def tools_missing(protocols: set[str]) -> list[str]:
    missing = [] if shutil.which("tcpdump") else ["tcpdump"]
    if "mqtt" in protocols and not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        missing.append("mosquitto")
    return missing


def run(profile: Profile, protocols: set[str], progress: Callable[[str], None] = lambda s: None) -> list[Result]:
    logging.getLogger("sinkproto").setLevel(logging.WARNING)
    events = profile.events
    with tempfile.TemporaryDirectory(prefix="sink-bench-wire-") as tmp:
        directory = Path(tmp)
        pki = make_pki(directory / "pki")
        loop = Loop()
        ports = {name: free_port() for name in ("sink0", "sink0_tls", "sink1", "sink1_tls", "mqtt", "mqtt_tls", "http", "http_tls", "coap")}
        cleanup: list[Callable[[], None]] = []
        clients: list[tuple[Client, int, bool]] = []
        try:
            if "sink" in protocols:
                v1 = V1Setup.for_profile(profile)
                for version in (0, 1):
                    for key, context in ((f"sink{version}", None), (f"sink{version}_tls", pki.server_context())):
                        server = loop.call(start_sink_server(ports[key], context, v1 if version else None))
                        def close_server(s: Any = server) -> None:  # s: this server, bound now
                            loop.call(s.close())
                        cleanup.append(close_server)
                        client_context = pki.client_context() if context else None
                        sink_client = (SinkV1BenchClient(loop, ports[key], client_context, v1) if version
                                       else SinkBenchClient(loop, ports[key], client_context))  # fmt: skip
                        clients.append((sink_client, ports[key], context is not None))
            if "mqtt" in protocols:
                broker = start_mosquitto(directory, ports["mqtt"], ports["mqtt_tls"], pki)
                def stop_broker() -> None:
                    broker.terminate()
                    broker.wait(5)
                cleanup.append(stop_broker)
                for version, alias in ((4, False), (5, False), (5, True)):
                    for key, tls in (("mqtt", False), ("mqtt_tls", True)):
                        clients.append((MqttClient(ports[key], pki.client_context() if tls else None, version, alias), ports[key], tls))
            if "http" in protocols:
                for key, tls in (("http", False), ("http_tls", True)):
                    http_server = start_http_server(ports[key], pki.server_context() if tls else None)
                    cleanup.append(http_server.shutdown)
                for as_json in (True, False):
                    for key, tls in (("http", False), ("http_tls", True)):
                        clients.append((HttpClient(ports[key], pki.client_context() if tls else None, as_json), ports[key], tls))
            if "coap" in protocols:
                coap = loop.call(start_coap_server(ports["coap"]))
                cleanup.append(lambda: loop.call(coap.shutdown()))
                clients.append((CoapClient(loop, ports["coap"]), ports["coap"], False))

            windows = capture_windows(clients, events, directory / "capture.pcap", cleanup, progress)
            # A phase that sent something but counted no packet is a capture that missed them (seen on a loaded
            # machine), not a figure: measure those clients again, at most twice.
            for attempt in (1, 2):
                missed = [i for i, w in enumerate(windows) if missed_phase(*w)]
                if not missed:
                    break
                progress(f"capture missed packets of {len(missed)} clients; measuring them again ({attempt})")
                again = capture_windows([clients[i] for i in missed], events, directory / f"capture-{attempt}.pcap", cleanup,
                                        progress)
                for i, window in zip(missed, again):
                    windows[i] = window
        finally:
            for step in reversed(cleanup):
                try:
                    step()
                except Exception:  # noqa: BLE001 - best effort teardown of benchmark servers
                    pass
            loop.stop()

    results = []
    for client, port, tls, marks, packets in windows:
        result = Result(client.name, tls, client.transport)
        result.phases = phases_of(client, port, marks, packets)
        if isinstance(client, SinkV1BenchClient):
            result.batch = client.batch
            result.note = f"{client.setup.codec.name} codec"
        results.append(result)
    return results


def offline_batch(profile: Profile) -> tuple[int, int]:
    """(column batch bytes, as one frame with the stream prefix and a 2-byte header): computed, not measured."""
    size = len(FAST.encode_batch(Batch(events=profile.events)))
    return size, size + 2 + 2


def one_event_app(profile: Profile) -> int:
    return len(frame_bytes(FAST.encode_frame(Publish(message_id=1, event=profile.events[0]))))


def _cell(traffic: Traffic | None, payload: int) -> str:
    if traffic is None:
        return "n/a"
    return f"{traffic.app:,} / {traffic.ip:,} ({traffic.ip / payload:.1f}x)"


def format_report(results: list[Result], profile: Profile) -> str:
    data_one = len(profile.events[0].event_data)
    data_all = sum(len(e.event_data) for e in profile.events)
    lines = [
        f"Bytes both ways, as application bytes / IP bytes (application + IP and TCP/UDP headers of every packet, "
        f"pure ACKs included), and in parentheses IP bytes per byte of event_data ({data_one} bytes per event, "
        f"{data_all:,} for 100). Profile `{profile.name}`.",
        "",
        "| Protocol | TLS | One event | 100 one by one | 100 in one message | Connection setup | Packets (one event) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        one = r.phases.get("one event")
        setup = r.phases.get("setup")
        lines.append(
            f"| {r.protocol} ({r.transport}) | {'mutual TLS' if r.tls else 'no'} | {_cell(one, data_one)} | "
            f"{_cell(r.phases.get('100 one by one'), data_all)} | {_cell(r.phases.get('100 in one message'), data_all)} | "
            f"{'n/a' if setup is None else f'{setup.app:,} / {setup.ip:,}'} | {one.packets if one else 'n/a'} |"
        )
    batch, framed = offline_batch(profile)
    lines += [
        "",
        f"Sink v0 has no batch frame: the 100 events as one column batch (BATCH-1..11, computed offline, not sent) "
        f"take {batch:,} bytes, {framed:,} with a frame header and the stream length prefix, against "
        f"{data_all + sum(len(e.key) for e in profile.events):,} bytes of keys and event_data.",
    ]
    v1 = format_v1_report(results, profile)
    return "\n".join(lines) + ("\n\n" + v1 if v1 else "")


#: The v1 rows: (protocol, phase, what crosses the wire), compared with the first.
V1_ROWS = (
    ("Sink v1", "100 in one message", "one BATCH_PUBLISH (batch v1), one ACK"),
    ("Sink v0", "100 one by one", "100 PUBLISH, 100 ACK"),
    ("MQTT 5 QoS 1", "100 one by one", "100 PUBLISH, 100 PUBACK"),
    ("MQTT 5 QoS 1", "100 in one message", "one PUBLISH of the 100 event encodings, one PUBACK"),
)


def v1_rows(results: list[Result]) -> list[tuple[str, bool, str, Traffic]]:
    """(protocol, TLS, what was sent, traffic) of the v1 comparison, for the rows this run measured."""
    out = []
    for tls in (True, False):
        for protocol, phase, what in V1_ROWS:
            for r in results:
                traffic = r.phases.get(phase)
                if r.protocol == protocol and r.tls == tls and traffic is not None:
                    out.append((protocol, tls, what, traffic))
    return out


def format_v1_report(results: list[Result], profile: Profile) -> str:
    """All-in bytes per event of 100 events as one v1 batch, against v0 and MQTT 5 one by one."""
    from .batch_bench import batch_format

    sink_v1 = {r.tls: r for r in results if r.protocol == "Sink v1" and r.batch}
    rows = v1_rows(results)
    if not sink_v1 or not rows:
        return ""
    count = len(profile.events)
    base = {tls: traffic for protocol, tls, _, traffic in rows if protocol == "Sink v1"}
    lines = [
        f"Version 1: the {count} events of profile `{profile.name}` with delivery confirmation, all-in bytes per event "
        f"(IP bytes both ways: TCP/IP headers, pure ACKs and TLS records included; connection setup excluded) "
        f"and application bytes per event (TCP payload: the protocol's bytes, TLS records with TLS).",
        "",
        "| Sent as | TLS | All-in bytes per event | Application bytes per event | Packets | All-in vs Sink v1 batch |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for protocol, tls, what, traffic in rows:
        ratio = f"{traffic.ip / base[tls].ip:.2f}x" if tls in base and base[tls].ip else "n/a"
        lines.append(f"| {protocol}: {what} | {'mutual TLS' if tls else 'no'} | {traffic.ip / count:,.1f} | "
                     f"{traffic.app / count:,.1f} | {traffic.packets} | {ratio} |")  # fmt: skip
    result = next(iter(sink_v1.values()))
    batch = result.batch
    plain = base.get(False)
    lines += [
        "",
        f"The BATCH_PUBLISH carried a batch v1 of {len(batch):,} bytes ({batch_format(batch)}, the encoder's choice; "
        f"{result.note}), "
        f"{len(batch) + 4:,} with its 2-byte frame header and 2-byte length prefix"
        + (f" (counted on the wire without TLS: {plain.app_up:,} application bytes up, {plain.app_down:,} down: the ACK)"
           if plain is not None else "") + ".",
    ]  # fmt: skip
    return "\n".join(lines)


def chart(results: list[Result], profile: Profile, path: Path) -> None:
    """Bytes per event on the wire (IP bytes), per protocol, for the one-event and one-by-one phases."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r.phases.get("one event") is not None]
    labels = [f"{r.protocol}{' + TLS' if r.tls else ''}" for r in rows]
    one = [r.phases["one event"].ip for r in rows]  # type: ignore[union-attr]
    each = [(r.phases["100 one by one"].ip / 100) if r.phases.get("100 one by one") else 0 for r in rows]  # type: ignore[union-attr]
    batched = [(r.phases["100 in one message"].ip / 100) if r.phases.get("100 in one message") else 0 for r in rows]  # type: ignore[union-attr]
    figure, axis = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.6))
    y = list(range(len(rows)))
    height = 0.27
    axis.barh([i - height for i in y], one, height, label="one event (warm connection)")
    axis.barh(y, each, height, label="per event, 100 one by one")
    axis.barh([i + height for i in y], batched, height, label="per event, 100 in one message")
    data = len(profile.events[0].event_data)
    axis.axvline(data, color="black", linewidth=0.8, linestyle="--", label=f"the event's {data} bytes of event_data")
    axis.set_yticks(y, labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xlabel("IP bytes on the wire, both directions (headers, pure ACKs and TLS included)")
    axis.set_title(f"Bytes per event with delivery confirmation, loopback, profile '{profile.name}'", fontsize=10)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(args: argparse.Namespace, page: Path | None) -> int:
    from .commands import machine_line, replace_region

    protocols = {"sink"} if args.quick else set((args.protocols or "sink,mqtt,http,coap").split(","))
    unknown = protocols - {"sink", "mqtt", "http", "coap"}
    if unknown:
        raise SystemExit(f"sink bench wire: unknown protocols {', '.join(sorted(unknown))}")
    missing = tools_missing(protocols)
    if missing:
        print(f"sink bench wire: needs {' and '.join(missing)}: on Debian, apt-get install {' '.join(missing)} "
              "(the kit's .ci/run does this); tcpdump needs root or CAP_NET_RAW")  # fmt: skip
        return 2
    profile = load()[args.profile]
    line = machine_line()
    started = time.monotonic()
    results = run(profile, protocols, progress=lambda s: print(f"sink bench: {s}", file=sys.stderr, flush=True))
    text = format_report(results, profile)
    print(text)
    print(f"\n({time.monotonic() - started:.0f} s)")
    if page is not None and not args.quick and protocols == {"sink", "mqtt", "http", "coap"}:
        name = f"wire-{profile.name}" if profile.name != "random" else "wire"
        chart(results, profile, page.parent / "performance" / f"{name}.png")
        replace_region(page, name, f"{line}\n\n{text}")
        print(f"written to {page} and {page.parent / 'performance' / f'{name}.png'}")
    return 0
