"""The clients: connect, send one event, send many in one message, close; one per protocol.

The reference Sink client session (v0, and v1 with one BATCH_PUBLISH for the
100 events), paho-mqtt, ``http.client``, aiocoap; the asyncio ones run on a
:class:`Loop` in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import ssl
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from sinkproto.codec import CONSTRUCT, FAST, Codec
from sinkproto.connection import Connection, Role
from sinkproto.events import BatchAnswered, HandshakeCompleted
from sinkproto.limits import DEFAULT_LIMITS
from sinkproto.messages import Batch, ConnectionRequest, Event, FrameType
from sinkproto.readers import ReaderSchemas
from sinkproto.stream import Deframer

from ..profiles import Profile
from .pki import HOST

__all__ = [
    "Client",
    "CoapClient",
    "HttpClient",
    "Loop",
    "MqttClient",
    "RecordingConnectionV1",
    "SinkBenchClient",
    "SinkV1BenchClient",
    "V1Setup",
    "event_bytes",
    "event_json",
    "many_bytes",
]

T = TypeVar("T")


log = logging.getLogger("sinktools.bench.wire")


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
    from sinkproto.primitives import varint_bytes

    return b"".join(varint_bytes(len(b)) + b for b in map(event_bytes, events))


def event_json(event: Event) -> dict[str, Any]:
    return {
        "event_type_id": event.event_type_id,
        "schema_version": event.schema_version,
        "key": base64.b64encode(event.key).decode(),
        "offset": event.offset,
        "timestamp": event.timestamp,
        "event_data": base64.b64encode(event.event_data).decode(),
    }


class SinkBenchClient(Client):
    """The reference client session (Connection + PeerSession) of a returning client."""

    transport = "TCP"

    def __init__(self, loop: Loop, port: int, context: ssl.SSLContext | None) -> None:
        self.name = "Sink v0"
        self.loop, self.port, self.context = loop, port, context

    async def _connect(self) -> None:
        from sinkproto.peers import PeerSession

        reader, writer = await asyncio.open_connection(
            HOST, self.port, ssl=self.context, server_hostname="localhost" if self.context else None
        )
        ready = asyncio.Event()

        async def on_event(session: Any, event: Any) -> None:
            if isinstance(event, HandshakeCompleted):
                ready.set()

        loop = asyncio.get_running_loop()
        connection = Connection(Role.CLIENT, now=loop.time(), message_id_start=0)
        self.session = PeerSession(connection, reader, writer, on_event, peer="bench", logger=log)
        await self.session.send_request(
            ConnectionRequest(app_version=b"1.0.0", client_instance_id=1, server_instance_id=7)
        )
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
        from ..batch_bench import record_schemas

        pairs: dict[int, set[int]] = {}
        for event in profile.events:
            pairs.setdefault(event.event_type_id, set()).add(event.schema_version)
        declaration = ReaderSchemas(entries=tuple((t, tuple(sorted(v))) for t, v in sorted(pairs.items())))
        schemas = record_schemas()
        codec = FAST
        if schemas is not None:
            readable = schemas.restricted_to([(t, v) for t, vs in declaration.entries for v in vs])
            value = Batch(events=profile.events)
            if len(CONSTRUCT.encode_batch(value, version=1, schemas=readable)) < len(
                FAST.encode_batch(value, version=1, schemas=readable)
            ):
                codec = CONSTRUCT  # a fast codec without the records mode
        return cls(schemas, declaration, codec)


class RecordingConnectionV1(Connection):
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
    """The reference version-1 client session (Connection speaking versions 0 and 1 + PeerSession) against SinkServer(versions=(0, 1)).

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
        from sinkproto.peers import PeerSession

        reader, writer = await asyncio.open_connection(
            HOST, self.port, ssl=self.context, server_hostname="localhost" if self.context else None
        )
        ready = asyncio.Event()
        self.answers: dict[int, asyncio.Future[BatchAnswered]] = {}

        async def on_event(session: Any, event: Any) -> None:
            if isinstance(event, HandshakeCompleted):
                ready.set()
            elif isinstance(event, BatchAnswered) and event.message_id in self.answers:
                self.answers.pop(event.message_id).set_result(event)

        loop = asyncio.get_running_loop()
        self.connection = RecordingConnectionV1(
            Role.CLIENT,
            versions=(0, 1),
            now=loop.time(),
            message_id_start=0,
            record_schemas=self.setup.schemas,
            codec=self.setup.codec,
        )
        self.session = PeerSession(self.connection, reader, writer, on_event, peer="bench", logger=log)
        await self.session.send_request(
            ConnectionRequest(version=1, app_version=b"1.0.0", client_instance_id=1, server_instance_id=7)
        )
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
        frames = [f for data in self.connection.sent[sent:] for f in Deframer(DEFAULT_LIMITS).feed(data)]
        self.batch = next(f[2:] for f in frames if f[0] >> 4 == FrameType.BATCH_PUBLISH)  # after the 2-byte header
        answered = await asyncio.wait_for(answer, 10)
        if answered.nacked:
            raise RuntimeError(f"the server NACKed {len(answered.nacked)} events of the batch")

    def send_many(self, events: tuple[Event, ...]) -> bool:
        self.loop.call(self._send_batch(events))
        return True


class MqttClient(Client):
    def __init__(self, port: int, context: ssl.SSLContext | None, version: int, alias: bool) -> None:
        import paho.mqtt.client as mqtt

        self.name = {4: "MQTT 3.1.1 QoS 1", 5: "MQTT 5 QoS 1"}[version] + (" + topic alias" if alias else "")
        self.alias = alias
        self.v5 = version == 5
        self.aliased = False
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="bench", protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311
        )
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
