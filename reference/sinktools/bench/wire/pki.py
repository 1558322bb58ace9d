"""The benchmark's certificates (a development CA, the server, one client) and its loopback ports."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HOST", "Pki", "free_port", "make_pki"]

HOST = "127.0.0.1"


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
        from sinkproto.peers import server_context

        return server_context(cert=self.server_cert, key=self.server_key, client_ca=self.ca)

    def client_context(self) -> ssl.SSLContext:
        from sinkproto.peers import client_context

        return client_context(ca=self.ca, cert=self.client_cert, key=self.client_key)


def make_pki(directory: Path) -> Pki:
    from sinkproto.certs import make_dev_pki

    pki = make_dev_pki(directory, ["bench"])
    return Pki(pki.ca, pki.server_cert, pki.server_key, pki.client_cert("bench"), pki.client_key("bench"))
