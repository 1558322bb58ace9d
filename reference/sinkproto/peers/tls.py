"""TLS contexts for Sink (TRANS-1..TRANS-5): TLS 1.2+, mutual authentication."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

__all__ = ["server_context", "client_context", "peer_identity"]


def server_context(*, cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    """A server context that requires a client certificate from ``client_ca`` (TRANS-3)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # TRANS-1
    context.load_cert_chain(cert, key)
    context.load_verify_locations(cafile=client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(*, ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """A client context that verifies the server's chain and host name (TRANS-4)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=ca)
    context.load_cert_chain(cert, key)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def peer_identity(peercert: dict[str, Any] | None) -> str | None:
    """The client identity: the common name of the verified certificate (TRANS-5)."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None
