"""The kit's files, wherever the kit runs: a checkout or an installed wheel.

The commands need files that are not Python code: ``schemas/`` (the event
registry), ``vectors/`` (golden vectors v0 and v1, the field implementation's
bytes, the JSON Schema and the ID locks), the spec's requirement registries
and ``.ksy`` sources (``spec/v0``, ``spec/v1``), and ``conformance/`` (profiles,
expected-failures files, the codec-mode shims).

In a checkout they are the repository's top-level folders. A wheel carries
the same folders, under the same relative names, inside this package:
pyproject.toml maps each folder into ``sinkkit`` (``package-dir``), so the tree
stays their one source and nothing is copied by hand. Code asks for a file by
its name in the repository (``kit_file("spec/v0/requirements.toml")``) and gets
the same answer in both cases.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["KIT_FOLDERS", "kit_root", "kit_file", "checkout_root", "kit_argument"]

#: The top-level folders of the kit's files (each mapped into this package in a wheel).
KIT_FOLDERS = ("schemas", "vectors", "spec", "conformance")


def checkout_root() -> Path | None:
    """The repository root when the kit runs from a checkout (editable install or PYTHONPATH), else None."""
    here = Path(__file__).resolve().parent  # <root>/reference/sinkkit in a checkout
    root = here.parents[1]
    if (root / "pyproject.toml").is_file() and (root / "reference" / "sinkkit").resolve() == here:
        return root
    return None


def kit_root() -> Path:
    """The folder holding the kit's files: the checkout's root, or this package in an installed wheel."""
    root = checkout_root()
    if root is not None:
        return root
    # An installed wheel is unpacked on disk, so the package's resources are real files.
    return Path(str(files(__name__)))


def kit_file(relative: str) -> Path | None:
    """The kit's file or folder named ``relative`` (as in the repository, e.g. ``vectors/v0``), or None."""
    candidate = kit_root() / relative
    return candidate if candidate.exists() else None


def kit_argument(value: str, cwd: Path | None = None) -> str:
    """A path given on a command line: as given when it exists (or is absolute), else the kit's file of that name.

    The docs name the kit's own files by their place in the repository
    (``conformance/shims/python_reference.py``,
    ``conformance/profiles/elixir-field.expected-failures``); run from a
    checkout's root those names exist, and from anywhere else (an installed
    wheel, another folder) they mean the kit's copy. Anything else is returned
    unchanged.
    """
    path = Path(value)
    if path.is_absolute() or (cwd or Path.cwd()).joinpath(path).exists() or ".." in path.parts:
        return value
    found = kit_file(path.as_posix())
    return str(found) if found is not None and path.parts and path.parts[0] in KIT_FOLDERS else value
