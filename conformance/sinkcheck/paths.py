"""Where the runner finds the kit's files (a checkout's, or the ones an installed wheel carries: see sinkkit),
and the environment of the peers it starts."""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from sinkkit import kit_file

__all__ = ["SPEC_REGISTRY", "SPEC_REGISTRY_V1", "peer_environment", "kit_scripts", "profile_template"]

SPEC_REGISTRY = kit_file("spec/v0/requirements.toml")
#: Version 1 defines only its own IDs (one ID space with version 0).
SPEC_REGISTRY_V1 = kit_file("spec/v1/requirements.toml")


def peer_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a process the runner starts (``--exec``, a profile's ``exec``, a codec shim).

    PATH starts with the folder of the running kit's own scripts, as
    activating its virtual environment would: a bare ``sink`` (and, in a
    virtual environment, ``python``) in a command is the kit's, even when the
    runner was started as ``/path/to/venv/bin/sink-check`` without activating
    anything. Nothing else in the environment changes.
    """
    env = dict(os.environ if base is None else base)
    folder = kit_scripts()
    if folder is not None:
        rest = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and Path(p) != folder]
        env["PATH"] = os.pathsep.join([str(folder), *rest])
    return env


def kit_scripts() -> Path | None:
    """The folder holding the running kit's ``sink`` script: the runner's own, the interpreter's scripts, or None."""
    name = "sink.exe" if os.name == "nt" else "sink"
    for folder in (
        Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] else None,
        Path(sysconfig.get_path("scripts")),
        Path(sys.executable).parent,
    ):
        if folder is not None and (folder / name).is_file():
            return folder
    return None


def profile_template(name: str = "reference") -> str:
    """The kit's profile ``conformance/profiles/NAME.toml``, its paths made relative to the folder it is saved in.

    The kit's copy lives two folders below the repository root (``"../../certs/ca.pem"``);
    the template expects ``certs/`` and ``certs-other/`` (made by ``sink certs``) beside it.
    """
    path = kit_file(f"conformance/profiles/{name}.toml")
    if path is None:
        known = sorted(p.stem for p in (kit_file("conformance/profiles") or Path()).glob("*.toml"))
        raise ValueError(f"the kit has no profile {name!r} (it has: {', '.join(known)})")
    lines = path.read_text(encoding="utf-8").splitlines()
    body = lines[next(i for i, line in enumerate(lines) if not line.startswith("#")) :]
    header = [
        f"# sink-check profile {name!r}, written by `sink-check profile {name}` from the kit's",
        f"# conformance/profiles/{name}.toml. Every key is described in docs/conformance/profile.md.",
        "# Paths are relative to this file: keep it in the folder where `sink certs` made certs/ and",
        "# certs-other/, and change what differs for your implementation.",
    ]
    return "\n".join(header + [line.replace('"../../', '"') for line in body]) + "\n"
