"""``sink bench wire``: bytes on the wire for the same events over Sink v0 and v1, MQTT, HTTP and CoAP.

Real servers on loopback, started here: the reference Sink servers
(:class:`~sinkproto.peers.SinkServer`, with ``versions=(0, 1)`` for v1), Debian's mosquitto broker, a
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
:class:`~sinkproto.connection.Connection` with ``versions=(0, 1)``, against
:class:`~sinkproto.peers.SinkServer` with ``versions=(0, 1)``) sends single events as PUBLISH,
like v0, and the 100 as one BATCH_PUBLISH in profile order, the encoder
picking the smallest batch v1 (CODEC-5), answered by one ACK; a second
table compares its all-in bytes per event with v0 and MQTT 5.

Caveat: the loopback MTU is 64 KiB, so the 100-event messages (about 8 kB)
travel in one or two segments here where a 1500-byte link needs about
six: about 200 more header bytes each way on a real link.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sinkproto.messages import Event

from ..profiles import Profile, load
from .capture import PHASES, Capture, missed_phase, phases_of, tools_missing
from .clients import Client, CoapClient, HttpClient, Loop, MqttClient, SinkBenchClient, SinkV1BenchClient, V1Setup
from .pki import free_port, make_pki
from .report import Result, chart, format_report
from .servers import start_coap_server, start_http_server, start_mosquitto, start_sink_server

__all__ = ["PHASES", "SETTLE", "Window", "capture_windows", "main", "measure", "polls_main", "run"]

SETTLE = 0.3  # seconds between phases: more than Linux's 40 ms delayed ACK


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


def capture_windows(
    clients: list[tuple[Client, int, bool]],
    events: tuple[Event, ...],
    path: Path,
    cleanup: list[Callable[[], None]],
    progress: Callable[[str], None],
) -> list[Window]:
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


def run(profile: Profile, protocols: set[str], progress: Callable[[str], None] = lambda s: None) -> list[Result]:
    logging.getLogger("sinkproto").setLevel(logging.WARNING)
    events = profile.events
    with tempfile.TemporaryDirectory(prefix="sink-bench-wire-") as tmp:
        directory = Path(tmp)
        pki = make_pki(directory / "pki")
        loop = Loop()
        ports = {
            name: free_port()
            for name in ("sink0", "sink0_tls", "sink1", "sink1_tls", "mqtt", "mqtt_tls", "http", "http_tls", "coap")
        }
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
                        sink_client = (
                            SinkV1BenchClient(loop, ports[key], client_context, v1)
                            if version
                            else SinkBenchClient(loop, ports[key], client_context)
                        )
                        clients.append((sink_client, ports[key], context is not None))
            if "mqtt" in protocols:
                broker = start_mosquitto(directory, ports["mqtt"], ports["mqtt_tls"], pki)

                def stop_broker() -> None:
                    broker.terminate()
                    broker.wait(5)

                cleanup.append(stop_broker)
                for version, alias in ((4, False), (5, False), (5, True)):
                    for key, tls in (("mqtt", False), ("mqtt_tls", True)):
                        clients.append(
                            (
                                MqttClient(ports[key], pki.client_context() if tls else None, version, alias),
                                ports[key],
                                tls,
                            )
                        )
            if "http" in protocols:
                for key, tls in (("http", False), ("http_tls", True)):
                    http_server = start_http_server(ports[key], pki.server_context() if tls else None)
                    cleanup.append(http_server.shutdown)
                for as_json in (True, False):
                    for key, tls in (("http", False), ("http_tls", True)):
                        clients.append(
                            (HttpClient(ports[key], pki.client_context() if tls else None, as_json), ports[key], tls)
                        )
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
                again = capture_windows(
                    [clients[i] for i in missed], events, directory / f"capture-{attempt}.pcap", cleanup, progress
                )
                for i, window in zip(missed, again):
                    windows[i] = window
        finally:
            for step in reversed(cleanup):
                try:
                    step()
                except Exception:
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


def main(
    *,
    quick: bool = False,
    protocols: str | None = None,
    profile: str = "random",
    page: Path | None = None,
    polls: int | None = None,
) -> int:
    """``sink bench wire``: ``protocols`` is a comma-separated subset of sink,mqtt,http,coap (default: all).

    ``profile`` ``meter-series`` measures a day of polls (:mod:`.polls`): Sink and MQTT 5 over mutual TLS;
    ``polls`` limits it to the day's first polls (``quick``: 3 polls, Sink only).
    """
    from .._report import machine_line, replace_region

    if profile == "meter-series":
        return polls_main(quick=quick, protocols=protocols, page=page, polls=polls)

    chosen = {"sink"} if quick else set((protocols or "sink,mqtt,http,coap").split(","))
    unknown = chosen - {"sink", "mqtt", "http", "coap"}
    if unknown:
        raise SystemExit(f"sink bench wire: unknown protocols {', '.join(sorted(unknown))}")
    missing = tools_missing(chosen)
    if missing:
        print(
            f"sink bench wire: needs {' and '.join(missing)}: on Debian, apt-get install {' '.join(missing)} "
            "(the kit's .ci/run does this); tcpdump needs root or CAP_NET_RAW"
        )
        return 2
    measured = load()[profile]
    line = machine_line()
    started = time.monotonic()
    results = run(measured, chosen, progress=lambda s: print(f"sink bench: {s}", file=sys.stderr, flush=True))
    text = format_report(results, measured)
    print(text)
    print(f"\n({time.monotonic() - started:.0f} s)")
    if page is not None and not quick and chosen == {"sink", "mqtt", "http", "coap"}:
        name = f"wire-{measured.name}" if measured.name != "random" else "wire"
        chart(results, measured, page.parent / "performance" / f"{name}.png")
        replace_region(page, name, f"{line}\n\n{text}")
        print(f"written to {page} and {page.parent / 'performance' / f'{name}.png'}")
    return 0


def polls_main(*, quick: bool, protocols: str | None, page: Path | None, polls: int | None) -> int:
    """``sink bench wire --profile meter-series``: the day of polls, its tables, and (with a page) its section."""
    from .._report import machine_line, replace_region
    from ..series import load as load_series
    from .polls import format_polls_report, polls_chart, run_polls

    chosen = {"sink"} if quick else set((protocols or "sink,mqtt").split(","))
    unknown = chosen - {"sink", "mqtt"}
    if unknown or "sink" not in chosen:
        raise SystemExit("sink bench wire --profile meter-series: protocols are sink and mqtt (sink always)")
    missing = tools_missing(chosen)
    if missing:
        print(f"sink bench wire: needs {' and '.join(missing)}: on Debian, apt-get install {' '.join(missing)}")
        return 2
    series = load_series()
    line = machine_line()
    started = time.monotonic()
    report = run_polls(
        series,
        polls=3 if quick and polls is None else polls,
        mqtt="mqtt" in chosen,
        progress=lambda s: print(f"sink bench: {s}", file=sys.stderr, flush=True),
    )
    text = format_polls_report(report)
    print(text)
    print(f"\n({time.monotonic() - started:.0f} s)")
    if page is not None and not quick and chosen == {"sink", "mqtt"} and report.polls == len(series.polls):
        polls_chart(report, series, page.parent / "performance" / "wire-series.png")
        replace_region(page, "wire-series", f"{line}\n\n{text}")
        print(f"written to {page} and {page.parent / 'performance' / 'wire-series.png'}")
    return 0
