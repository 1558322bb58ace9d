"""asyncio peers: mutual-TLS client and server around the sans-I/O Connection.

This is the only layer of ``sinkproto`` that touches sockets, TLS, the clock
and randomness; everything below it takes those as arguments.
"""

from __future__ import annotations

from .backoff import Backoff
from .batching import BatchPolicy
from .client import ClientHandler, SinkClient
from .server import ServerHandler, SinkServer
from .session import Answer, ConnectionLost, PeerSession
from .tls import client_context, peer_identity, server_context

__all__ = [
    "Answer",
    "Backoff",
    "BatchPolicy",
    "ClientHandler",
    "ConnectionLost",
    "PeerSession",
    "ServerHandler",
    "SinkClient",
    "SinkServer",
    "client_context",
    "peer_identity",
    "server_context",
]
