"""The server's handshake decision (HS-8, HS-9, HS-11, HS-12, HS-18), as a pure function.

The server application knows, for the client identity on this connection,
the server's own instance id, the client instance id it recorded (if any),
whether the identity is quarantined and whether its application version is
accepted; :func:`decide_handshake` turns that into the one response the
spec requires. Persisting ``known_client_instance_id`` before sending
``hello_new_client`` (HS-10) is the caller's job: see :func:`records_client`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import ConnectionRequest, ConnectionResponse, Response

__all__ = ["Quarantine", "decide_handshake", "instance_id_response", "records_client"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Quarantine:
    """Why a client identity is quarantined (HS-18); either message may be empty."""

    machine_message: bytes = b""
    human_message: bytes = b""


def instance_id_response(
    *, server_instance_id: int, known_client_instance_id: int | None, request: ConnectionRequest
) -> Response:
    """HS-9: the instance-id table, evaluated top to bottom."""
    c, s = request.client_instance_id, request.server_instance_id
    if known_client_instance_id == c and s == server_instance_id:
        return Response.CONNECTED  # known client, same histories
    if known_client_instance_id is None and s is None:
        return Response.HELLO_NEW_CLIENT  # new client
    if known_client_instance_id == c and s is None:
        return Response.HELLO_NEW_CLIENT  # interrupted first handshake
    return Response.INSTANCE_ID_MISMATCH  # wiped client, wrong server, restored server


def decide_handshake(
    request: ConnectionRequest,
    *,
    server_instance_id: int,
    known_client_instance_id: int | None,
    quarantine: Quarantine | None = None,
    app_version_accepted: bool = True,
) -> ConnectionResponse:
    """HS-8: quarantine, then application version, then instance ids."""
    if quarantine is not None:
        return ConnectionResponse(
            response=Response.QUARANTINED,
            machine_message=quarantine.machine_message,
            human_message=quarantine.human_message,
        )
    if not app_version_accepted:
        return ConnectionResponse(response=Response.UNSUPPORTED_APPLICATION_VERSION)
    outcome = instance_id_response(
        server_instance_id=server_instance_id, known_client_instance_id=known_client_instance_id, request=request
    )
    if outcome is Response.HELLO_NEW_CLIENT:
        return ConnectionResponse(response=outcome, server_instance_id=server_instance_id)
    return ConnectionResponse(response=outcome)


def records_client(response: ConnectionResponse) -> bool:
    """True when the server must durably record the client's instance id before sending (HS-10)."""
    return response.response is Response.HELLO_NEW_CLIENT
