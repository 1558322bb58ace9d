"""The profile (capability manifest) an implementer fills in, as TOML.

It says how to reach the implementation and what it is configured to do, so
that cases can provoke and expect the right reactions. Optional features the
profile does not declare make their cases ``unsupported``, never a silent pass.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .observe import ObserveSettings

__all__ = ["Identity", "ClientSettings", "Profile", "ProfileOptions", "load_profile", "FEATURES", "DERIVED_FEATURES"]

#: Optional behaviours a case may depend on; the profile lists those the implementation has.
FEATURES = {
    "poison_nack": "the server NACKs events whose key starts with poison_key_prefix",
    "quarantine": "a quarantined client identity is configured (identities.quarantined)",
    "app_version_policy": "the server rejects rejected_app_version",
    "publish_on_connect": "the server publishes events_on_connect to each client after the handshake",
    "fresh_identity": "identities.fresh is a client identity the server has never seen",
    "frame_65535": "the server accepts a PUBLISH frame of 65,535 bytes",
    "client_publish": "client mode: the client under test publishes [client] events_to_publish new events each start",
}

#: Features a case may depend on that follow from other keys, never listed in ``features``.
DERIVED_FEATURES = {
    "server_v1": "the server under test accepts protocol version 1 (versions includes 1)",
    "client_v1": "the client under test offers protocol version 1 ([client] versions includes 1)",
}
VERSIONS = (0, 1)  # the protocol versions the runner knows


@dataclass(frozen=True)
class Identity:
    cert: Path
    key: Path


@dataclass(frozen=True)
class ClientSettings:
    """The ``[client]`` section: how the runner, playing the server, drives the client under test."""

    exec: str | None = None  # command that starts the client; {host} and {port} are the runner's address
    events_to_publish: int = 3  # new events the client publishes after each start (feature client_publish)
    keepalive: float | None = None  # the client's K; None: the profile's keepalive
    server_instance_id: int = 0x5EED_0001  # the runner's instance id: stable, so a client's stored id keeps matching
    connect_wait: float = 10.0  # seconds to wait for the client's first connection after (re)starting it
    reconnect_wait: float = 3.0  # seconds to wait for a reconnect before restarting the client (field: ~60 s)
    versions: tuple[int, ...] = (0,)  # what the client offers: with 1, it offers 1 and falls back to 0 (VER-2)
    # False: the client keeps no store of its own (the field client leaves its instance ids and unanswered
    # events to the application): the cases that check what it keeps across a restart are unsupported
    keeps_store: bool = True


@dataclass(frozen=True)
class Profile:
    name: str = "unnamed"
    ca: Path | None = None  # trust anchor for the peer's certificate
    server_hostname: str = "localhost"
    identities: dict[str, Identity] = field(default_factory=dict)  # main, second, quarantined, fresh, other_ca
    client_instance_id: int = 0x5151_0001
    app_version: bytes = b"sink-check"
    rejected_app_version: bytes | None = None
    poison_key_prefix: bytes = b"poison"
    events_on_connect: int = 0
    keepalive: float = 60.0
    features: frozenset[str] = frozenset()
    versions: tuple[int, ...] = (0,)  # server mode: the protocol versions the server accepts (VER-6, VER-9)
    unreadable_schema: tuple[int, int] | None = None  # an (event_type_id, schema_version) the server cannot read
    max_batch_events: int = 65536  # the server's LIMIT-4 bound
    client: ClientSettings = field(default_factory=ClientSettings)
    observe: ObserveSettings | None = None  # [observe]: the testee's log and crash pattern (ERR-5)
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def has(self, feature: str) -> bool:
        if feature == "server_v1":
            return 1 in self.versions
        if feature == "client_v1":
            return 1 in self.client.versions
        return feature in self.features

    def identity(self, name: str) -> Identity | None:
        return self.identities.get(name)

    @property
    def client_keepalive(self) -> float:
        return self.client.keepalive if self.client.keepalive is not None else self.keepalive


def _versions(value: Any, key: str) -> tuple[int, ...]:
    versions = tuple(sorted(set(value))) if isinstance(value, list) else ()
    if not versions or any(v not in VERSIONS for v in versions):
        raise ValueError(f"{key} must be a non-empty list of protocol versions among {list(VERSIONS)}, got {value!r}")
    return versions


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else bytes(value)


def load_profile(path: Path | None, **overrides: Any) -> Profile:
    """Read a profile; paths inside it are relative to the file. ``overrides`` come from the command line."""
    raw: dict[str, Any] = tomllib.loads(path.read_text()) if path else {}
    base = path.parent if path else Path.cwd()

    def p(value: str | None) -> Path | None:
        return None if value is None else (base / value).resolve()

    identities = {}
    for name, entry in raw.get("identities", {}).items():
        identities[name] = Identity(cert=p(entry["cert"]), key=p(entry["key"]))  # type: ignore[arg-type]
    unknown = set(raw.get("features", [])) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown features in profile: {sorted(unknown)} (known: {sorted(FEATURES)})")
    client_raw = dict(raw.get("client", {}))
    unknown_keys = set(client_raw) - set(ClientSettings.__dataclass_fields__)
    if unknown_keys:
        raise ValueError(f"unknown keys in [client]: {sorted(unknown_keys)}")
    if "versions" in client_raw:
        client_raw["versions"] = _versions(client_raw["versions"], "[client] versions")
    if not isinstance(client_raw.get("keeps_store", True), bool):
        raise ValueError(f"[client] keeps_store must be true or false, got {client_raw['keeps_store']!r}")
    client = ClientSettings(**client_raw)
    unreadable = raw.get("unreadable_schema")
    if unreadable is not None and (len(unreadable) != 2 or not all(isinstance(v, int) and v >= 0 for v in unreadable)):
        raise ValueError("unreadable_schema is [event_type_id, schema_version]")
    if "client_publish" in raw.get("features", []) and client.events_to_publish < 1:
        raise ValueError("feature client_publish needs [client] events_to_publish >= 1")
    profile = Profile(
        name=raw.get("name", path.stem if path else "command line"),
        ca=p(raw.get("ca")),
        server_hostname=raw.get("server_hostname", "localhost"),
        identities=identities,
        client_instance_id=int(raw.get("client_instance_id", 0x5151_0001)),
        app_version=_bytes(raw.get("app_version", "sink-check")) or b"",
        rejected_app_version=_bytes(raw.get("rejected_app_version")),
        poison_key_prefix=_bytes(raw.get("poison_key_prefix", "poison")) or b"poison",
        events_on_connect=int(raw.get("events_on_connect", 0)),
        keepalive=float(raw.get("keepalive", 60.0)),
        features=frozenset(raw.get("features", [])),
        versions=_versions(raw.get("versions", [0]), "versions"),
        unreadable_schema=None if unreadable is None else (int(unreadable[0]), int(unreadable[1])),
        max_batch_events=int(raw.get("max_batch_events", 65536)),
        client=client,
        observe=ObserveSettings.from_toml(raw["observe"], base) if "observe" in raw else None,
        source=path,
        raw=raw,
    )
    if overrides:
        identities = dict(profile.identities)
        if overrides.get("cert") and overrides.get("key"):
            # server mode: the runner's main client identity; client mode: the runner's server identity
            identities[overrides.get("identity", "main")] = Identity(
                cert=Path(overrides["cert"]).resolve(), key=Path(overrides["key"]).resolve()
            )
        client = profile.client
        if overrides.get("exec"):
            client = ClientSettings(**{**client.__dict__, "exec": overrides["exec"]})
        profile = Profile(
            **{
                **profile.__dict__,
                "identities": identities,
                "client": client,
                "ca": Path(overrides["ca"]).resolve() if overrides.get("ca") else profile.ca,
            }
        )
    return profile


@dataclass(frozen=True)
class ProfileOptions:
    """Where a command's profile comes from: its file (``--profile``) and the command line's ``--ca``,
    ``--cert`` and ``--key``, which override the file."""

    path: Path | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def load(self, *, identity: str = "main", exec: str | None = None) -> Profile:
        """The profile. ``identity``: whose certificate ``--cert``/``--key`` are (server mode: the runner's
        main client, ``main``; client mode: the runner's server, ``server``); ``exec``: ``--exec``, which
        overrides ``[client] exec``."""
        return load_profile(self.path, ca=self.ca, cert=self.cert, key=self.key, identity=identity, exec=exec)
