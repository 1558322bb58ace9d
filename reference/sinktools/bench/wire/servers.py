"""The servers the clients talk to, on loopback: the reference Sink server, mosquitto, a stdlib HTTP server, aiocoap."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from sinkproto.messages import ConnectionRequest, ConnectionResponse, DeclaredLimits, Response

from .clients import V1Setup
from .pki import HOST, Pki

__all__ = ["start_coap_server", "start_http_server", "start_mosquitto", "start_sink_server"]


async def start_sink_server(
    port: int, context: ssl.SSLContext | None, v1: V1Setup | None = None, *, declare: DeclaredLimits | None = None
) -> Any:
    """The reference server: SinkServer speaking version 0, or with ``v1`` accepting versions 0 and 1.

    ``declare``: what its version-1 answers declare (DECL-1), e.g. ``context_bases`` for batches in mode context.
    """
    from sinkproto.peers import ServerHandler, SinkServer

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
        server = SinkServer(
            Handler(), context, versions=(0, 1), codec=v1.codec, record_schemas=v1.schemas, declare=declare
        )
    await server.start(HOST, port)
    return server


def start_http_server(port: int, context: ssl.SSLContext | None) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def do_POST(self) -> None:
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
                raise SystemExit(
                    f"sink bench wire: mosquitto exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                ) from None
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("sink bench wire: mosquitto did not start listening")
