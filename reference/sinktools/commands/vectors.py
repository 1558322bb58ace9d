"""``sink vectors regenerate`` and ``sink vectors check``: the golden vectors of every vectors/vN folder.

The options are parsed in :mod:`sinktools.cli`; the work is done by :mod:`sinktools.vectors`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from sinkkit import checkout_root, kit_file
from sinkproto import __version__
from sinkproto.schemas import default_registry, find_schemas_dir

from ..schema_evolution import check_registry
from ..vectors.cases.avro import missing_examples
from ..vectors.check import check_dir
from ..vectors.regenerate import regenerate as regenerate_dir
from ..vectors.regenerate import schemas_dir_for

__all__ = ["check", "find_vectors_dir", "regenerate", "vectors_dir"]


def find_vectors_dir(start: Path | None = None) -> Path | None:
    """``vectors/v0`` here or above, else the kit's own (a checkout's, or the ones an installed wheel carries)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "vectors" / "v0"
        if candidate.is_dir():
            return candidate
    return kit_file("vectors/v0")


def vectors_dir(arg: str | None, *, writing: bool = False) -> Path:
    """``arg`` (--dir), else :func:`find_vectors_dir`; ``writing``: refuse the vectors an installed kit carries."""
    if arg:
        return Path(arg)
    found = find_vectors_dir()
    if found is None:
        raise SystemExit("sink: no vectors/v0 folder here or above; pass --dir")
    if writing and checkout_root() is None and found == kit_file("vectors/v0"):
        raise SystemExit(
            "sink vectors regenerate: needs a checkout of the kit (git clone it): the vectors an installed "
            f"kit carries ({found}) are part of the release and are not rewritten; pass --dir to "
            "regenerate a vectors folder of your own"
        )
    return found


def _schemas_arg(arg: str | None, directory: Path | None = None) -> Path | None:
    if arg:
        return Path(arg)
    return schemas_dir_for(directory) if directory is not None else find_schemas_dir()


def _each_version(command: Callable[[Path], int], directory: str | None, *, writing: bool = False) -> int:
    """Without ``directory`` (--dir), run ``command`` on vectors/v0 and every later vectors/vN beside it (vectors/v1: spec/v1)."""
    first = vectors_dir(directory, writing=writing)
    if directory:
        return command(first)
    folders = sorted(
        (p for p in first.parent.glob("v*") if p.is_dir() and p.name[1:].isdigit()), key=lambda p: int(p.name[1:])
    )
    return max(command(folder) for folder in folders)


def regenerate(directory: str | None = None, *, schemas: str | None = None, dry_run: bool = False) -> int:
    """`sink vectors regenerate`: rebuild every vectors folder (or ``directory``) from its sources; print what changed."""
    registry = default_registry(_schemas_arg(schemas, vectors_dir(directory, writing=True)))
    # Vectors generated from schemas that break the evolution rules would lock in the breakage: refuse
    # first, once for every vectors folder (they share the schemas).
    violations = check_registry(registry)
    if violations:
        for violation in violations:
            print(f"schemas: {violation}")
        print("sink vectors regenerate: refused: fix the schemas first; nothing was written", file=sys.stderr)
        return 1
    status = _each_version(lambda folder: _regenerate_in(folder, schemas, dry_run=dry_run), directory, writing=True)
    for name, version in missing_examples(registry):
        print(
            f"warning: {name} v{version} has no example record, so no vector shows it: add one at the end of EXAMPLES "
            "in reference/sinktools/vectors/cases/avro.py and run this again"
        )
    return status


def check(
    directory: str | None = None, *, schemas: str | None = None, skip_sources: bool = False, as_json: bool = False
) -> int:
    """`sink vectors check`: every vector of every vectors folder (or ``directory``) against the codec and its sources."""
    status = _each_version(
        lambda folder: _check_in(folder, schemas, skip_sources=skip_sources, as_json=as_json), directory
    )
    if status and not as_json:
        # Several folders print a summary each: the last line must not read as a pass.
        print("sink vectors check: FAILED (see the FILE and FAIL lines above)")
    return status


def _regenerate_in(directory: Path, schemas: str | None, *, dry_run: bool) -> int:
    changes = regenerate_dir(directory, __version__, _schemas_arg(schemas, directory), write=not dry_run)
    changed = [c for c in changes if c.changed]
    for change in changed:
        print("\n".join(change.summary_lines()))
    verb = "would change" if dry_run else "written"
    print(f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}, {len(changes) - len(changed)} unchanged")
    if any(c.relocked for c in changes):
        print("warning: some locked IDs changed meaning; `sink vectors check` will fail until those cases get new IDs")
    return 0


def _check_in(directory: Path, schemas: str | None, *, skip_sources: bool, as_json: bool) -> int:
    schema_path = directory.parent / "schema" / "vector-file.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8")) if schema_path.exists() else None
    report = check_dir(directory, schema=schema, schemas_dir=_schemas_arg(schemas, directory), sources=not skip_sources)
    if as_json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "file_problems": report.file_problems,
                    "cases": [{"kind": r.kind, "id": r.id, "ok": r.ok, "problems": r.problems} for r in report.results],
                },
                indent=1,
            )
        )
        return 0 if report.ok else 1
    by_kind: dict[str, list[int]] = {}
    for r in report.results:
        tally = by_kind.setdefault(r.kind, [0, 0])
        tally[0 if r.ok else 1] += 1
    print(f"Sink golden vectors in {directory} (kit {__version__})")
    if schema is None:
        print(f"  warning: {schema_path} not found; files were not validated against the schema")
    for kind, (good, bad) in by_kind.items():
        print(f"  {kind:<20} {good:>4} ok {bad:>4} failed")
    for problem in report.file_problems:
        print(f"  FILE  {problem}")
    for failure in report.failures:
        for problem in failure.problems:
            print(f"  FAIL  {failure.kind}/{failure.id}: {problem}")
    passed = len(report.results) - len(report.failures)
    summary = f"{passed} passed, {len(report.failures)} failed"
    if report.file_problems:
        count = len(report.file_problems)
        summary += (
            f"; FAILED: {count} problem{'s' if count != 1 else ''} with the files or their sources (the FILE lines)"
        )
    print(summary)
    return 0 if report.ok else 1
