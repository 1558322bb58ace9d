"""The peer registry: what this side remembers about each peer across restarts.

Instance ids learnt in handshakes (HS-9, HS-10, HS-13, HS-14), the protocol
version a server accepted after refusing a higher one (VER-2, VER-3), and
when a peer was last heard from or last refused a handshake (HS-17, for
``sink status``). Every time is the caller's clock, passed in: the store
reads none.
"""

from __future__ import annotations

from ..errors import StoreError
from ._base import _StoreBase
from ._checks import check_instance_id, check_peer

__all__ = ["_Peers"]


class _Peers(_StoreBase):
    """Handshake state and contact times, per peer."""

    def known_client_instance_id(self, client: str) -> int | None:
        """Server side: the client_instance_id recorded for ``client`` (HS-9), or None."""
        return self._get_instance_id("known_clients", "client", client)

    def set_known_client_instance_id(self, client: str, instance_id: int) -> None:
        """Server side: record ``client``'s instance id; durable on return, before hello_new_client is sent (HS-10)."""
        self._set_instance_id("known_clients", "client", client, instance_id)

    def server_instance_id_for(self, server: str) -> int | None:
        """Client side: the server_instance_id to send to ``server`` (HS-14), or None."""
        return self._get_instance_id("known_servers", "server", server)

    def set_server_instance_id_for(self, server: str, instance_id: int) -> None:
        """Client side: record the id from hello_new_client; durable on return, before any PUBLISH (HS-13)."""
        self._set_instance_id("known_servers", "server", server, instance_id)

    def remembered_versions(self) -> dict[str, tuple[int, float]]:
        """Client side: per server, the protocol version it accepted after refusing a higher one, and when (VER-3)."""
        with self._read() as db:
            return {
                row[0]: (int(row[1]), float(row[2]))
                for row in db.execute("SELECT server, version, refused_at FROM server_versions ORDER BY server")
            }

    def remember_version(self, server: str, version: int, refused_at: float) -> None:
        """Client side: ``server`` refused the version above ``version`` at ``refused_at``; durable on return (VER-2, VER-3)."""
        check_peer(server)
        if not 0 <= version <= 15:
            raise StoreError(f"protocol version {version} is not in 0..15")
        with self._write() as db:
            db.execute(
                """INSERT INTO server_versions (server, version, refused_at) VALUES (?, ?, ?)
                          ON CONFLICT (server) DO UPDATE SET version = excluded.version, refused_at = excluded.refused_at""",
                (server, version, float(refused_at)),
            )

    def forget_version(self, server: str) -> None:
        """Client side: offer ``server`` the highest version again (VER-4: its configuration changed)."""
        check_peer(server)
        with self._write() as db:
            db.execute("DELETE FROM server_versions WHERE server = ?", (server,))

    def record_seen(self, peer: str, at: float, *, handshake: bool = False) -> None:
        """Record that ``peer`` was heard from at ``at`` (the caller's clock, unix seconds).

        ``handshake=True``: ``at`` is also the peer's last completed
        handshake. The peers layer calls this on handshakes and, throttled,
        on frames; ``sink status`` shows the times.
        """
        check_peer(peer)
        if not isinstance(at, (int, float)) or isinstance(at, bool):
            raise StoreError(f"at must be unix seconds, got {at!r}")
        with self._write() as db:
            db.execute("INSERT INTO subscribers (peer) VALUES (?) ON CONFLICT (peer) DO NOTHING", (peer,))
            db.execute(
                """UPDATE subscribers SET
                       last_seen_at = max(coalesce(last_seen_at, :at), :at),
                       last_handshake_at = CASE WHEN :handshake THEN :at ELSE last_handshake_at END
                   WHERE peer = :peer""",
                {"peer": peer, "at": float(at), "handshake": handshake},
            )

    def record_refusal(
        self, peer: str, at: float, *, response: str, machine_message: bytes = b"", human_message: bytes = b""
    ) -> None:
        """Record that ``peer`` refused a handshake at ``at`` with ``response`` (a wire name, HS-17).

        Only the last refusal per peer is kept; ``sink status`` shows it
        while it is newer than the last completed handshake.
        """
        check_peer(peer)
        if not isinstance(at, (int, float)) or isinstance(at, bool):
            raise StoreError(f"at must be unix seconds, got {at!r}")
        if not isinstance(response, str) or not response:
            raise StoreError(f"response must be a non-empty wire name, got {response!r}")
        with self._write() as db:
            db.execute("INSERT INTO subscribers (peer) VALUES (?) ON CONFLICT (peer) DO NOTHING", (peer,))
            db.execute(
                """UPDATE subscribers SET refused_at = :at, refusal = :response, refusal_machine_message = :machine,
                       refusal_human_message = :human WHERE peer = :peer""",
                {
                    "peer": peer,
                    "at": float(at),
                    "response": response,
                    "machine": bytes(machine_message),
                    "human": bytes(human_message),
                },
            )

    # The two instance-id tables have the same shape; `table` and `column`
    # are always one of the literal pairs above, never caller text.

    def _get_instance_id(self, table: str, column: str, name: str) -> int | None:
        check_peer(name)
        with self._read() as db:
            row = db.execute(f"SELECT instance_id FROM {table} WHERE {column} = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def _set_instance_id(self, table: str, column: str, name: str, instance_id: int) -> None:
        check_peer(name)
        check_instance_id("instance_id", instance_id)
        with self._write() as db:
            db.execute(
                f"""INSERT INTO {table} ({column}, instance_id) VALUES (?, ?)
                    ON CONFLICT ({column}) DO UPDATE SET instance_id = excluded.instance_id""",
                (name, instance_id),
            )
