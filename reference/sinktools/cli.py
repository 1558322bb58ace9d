"""The ``sink`` command: the kit's tools, one subcommand each.

``sink vectors generate`` / ``sink vectors check`` maintain the golden
vectors; ``sink decode`` pretty-prints a frame, payload, batch or stream for
a person debugging a capture, or prints the vectors' JSON form with --json.
The reference peers (``certs``, ``serve``, ``connect``, ``publish``) live in
:mod:`.peer_commands`, the store's operations (``status``, ``dead-letters``,
``policies``) in :mod:`.ops_commands`, ``bench`` in :mod:`.bench.commands`.
Every command's exit statuses are in :data:`EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sinkkit import checkout_root, kit_file

from . import __version__
from ._clihelp import apply_exit_codes, run_main
from .errors import DecodeError, SchemaError, SinkError
from .limits import Limits
from .messages import Batch, ConnectionRequest, ConnectionResponse, Event, Nack, NackPayload, Publish
from .schemas import Registry
from .vectors.model import StreamValue, decode_kind, value_to_json

__all__ = ["main", "build_parser", "EXIT_CODES"]

_ERROR = (1, "an error (the message says what: a store, a certificate, an address...)")
_NO_STORE = (1, "--db is not an existing event store")
#: Each command's exit statuses, shown at the end of its --help and on docs/tools/cli.md (the shared ones,
#: 2 usage, 130 interrupted, 141 output closed, are in sinkproto._clihelp.COMMON_EXIT_CODES).
EXIT_CODES: dict[str, tuple[tuple[int, str], ...]] = {
    "": ((0, "success"), _ERROR),
    "vectors regenerate": ((0, "the vectors were written (with --dry-run: what would change was printed)"),
                           (1, "the schemas break the evolution rules (nothing was written), or an error")),
    "vectors check": ((0, "every vector and file checks out"), (1, "a vector or a file failed (each failure is printed)")),
    "decode": ((0, "decoded and printed"), (1, "the bytes do not decode as --as says (the error class and offset are "
                                              "printed), or the input is neither a file nor hex")),
    "certs": ((0, "the certificates were written or kept (each line says which)"), _ERROR),
    "serve": ((0, "stopped by SIGINT or SIGTERM"), (1, "it could not start (store, certificates, address in use)")),
    "connect": ((0, "with --until-synced: everything pending was answered"), _ERROR,
                (3, "the server refused the connection: instance_id_mismatch always (the operator decides, HS-16); "
                    "any refusal with --until-synced (a version-1 client's fallback to version 0 is not one)")),
    "publish": ((0, "appended (with --server: and everything pending was answered)"), _ERROR,
                (3, "with --server: the server refused the connection (as for connect --until-synced)")),
    "status": ((0, "printed"), _NO_STORE),
    "dead-letters list": ((0, "listed (also when none match)"), _NO_STORE),
    "dead-letters export": ((0, "exported (also when none match)"), _NO_STORE),
    "dead-letters retry": ((0, "the selected dead letters are pending again (also when none match)"), _NO_STORE,
                           (2, "no selection: name the events or pass --all")),
    "policies apply": ((0, "the store now uses the file's policies"),
                       (1, "the policy file is invalid (the store is unchanged), or --db is not an event store")),
    "policies show": ((0, "printed"), _NO_STORE),
    "bench codec": ((0, "measured and printed (with --update-docs: and written)"),
                    (1, "--update-docs found no page, or the page has no section for it")),
    "bench wire": ((0, "measured and printed (with --update-docs: and written)"),
                   (1, "--update-docs found no page, or the page has no section for it"),
                   (2, "tcpdump or mosquitto is missing (the message says how to install them)")),
    "bench memory": ((0, "measured and printed (with --update-docs: and written)"),
                     (1, "--update-docs found no page, or the page has no section for it")),
    "bench batch": ((0, "measured and printed (with --update-docs: and written)"),
                    (1, "--update-docs found no page, or the page has no section for it")),
}

DECODE_KINDS = ("frame", "event", "nack_payload", "batch", "stream")


def find_vectors_dir(start: Path | None = None) -> Path | None:
    """``vectors/v0`` here or above, else the kit's own (a checkout's, or the ones an installed wheel carries)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "vectors" / "v0"
        if candidate.is_dir():
            return candidate
    return kit_file("vectors/v0")


def _vectors_dir(arg: str | None, *, writing: bool = False) -> Path:
    if arg:
        return Path(arg)
    found = find_vectors_dir()
    if found is None:
        raise SystemExit("sink: no vectors/v0 folder here or above; pass --dir")
    if writing and checkout_root() is None and found == kit_file("vectors/v0"):
        raise SystemExit("sink vectors regenerate: needs a checkout of the kit (git clone it): the vectors an installed "
                         f"kit carries ({found}) are part of the release and are not rewritten; pass --dir to "
                         "regenerate a vectors folder of your own")
    return found


def _schemas_arg(arg: str | None, vectors_dir: Path | None = None) -> Path | None:
    from .schemas import find_schemas_dir
    from .vectors.regenerate import schemas_dir_for

    if arg:
        return Path(arg)
    return schemas_dir_for(vectors_dir) if vectors_dir is not None else find_schemas_dir()


def _each_version(command: Callable[[argparse.Namespace, Path], int], *,
                  writing: bool = False) -> Callable[[argparse.Namespace], int]:
    """Without --dir, run ``command`` on vectors/v0 and every later vectors/vN beside it (vectors/v1: spec/v1)."""

    def run(args: argparse.Namespace) -> int:
        first = _vectors_dir(args.dir, writing=writing)
        if args.dir:
            return command(args, first)
        folders = sorted((p for p in first.parent.glob("v*") if p.is_dir() and p.name[1:].isdigit()), key=lambda p: int(p.name[1:]))
        return max(command(args, folder) for folder in folders)

    return run


def cmd_regenerate(args: argparse.Namespace) -> int:
    from .schema_evolution import check_registry
    from .schemas import default_registry
    from .vectors.avro_cases import missing_examples

    registry = default_registry(_schemas_arg(args.schemas, _vectors_dir(args.dir, writing=True)))
    # Vectors generated from schemas that break the evolution rules would lock in the breakage: refuse
    # first, once for every vectors folder (they share the schemas).
    violations = check_registry(registry)
    if violations:
        for violation in violations:
            print(f"schemas: {violation}")
        print("sink vectors regenerate: refused: fix the schemas first; nothing was written", file=sys.stderr)
        return 1
    status = _each_version(_regenerate_in, writing=True)(args)
    for name, version in missing_examples(registry):
        print(f"warning: {name} v{version} has no example record, so no vector shows it: add one at the end of EXAMPLES "
              "in reference/sinkproto/vectors/avro_cases.py and run this again")
    return status


def cmd_check(args: argparse.Namespace) -> int:
    status = _each_version(_check_in)(args)
    if status and not args.json:
        # Several folders print a summary each: the last line must not read as a pass.
        print("sink vectors check: FAILED (see the FILE and FAIL lines above)")
    return status


def _regenerate_in(args: argparse.Namespace, directory: Path) -> int:
    from .vectors.regenerate import regenerate

    schemas = _schemas_arg(args.schemas, directory)
    changes = regenerate(directory, __version__, schemas, write=not args.dry_run)
    changed = [c for c in changes if c.changed]
    for change in changed:
        print("\n".join(change.summary_lines()))
    verb = "would change" if args.dry_run else "written"
    print(f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}, {len(changes) - len(changed)} unchanged")
    if any(c.relocked for c in changes):
        print("warning: some locked IDs changed meaning; `sink vectors check` will fail until those cases get new IDs")
    return 0


def _check_in(args: argparse.Namespace, directory: Path) -> int:
    from .vectors.check import check_dir

    schema_path = directory.parent / "schema" / "vector-file.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8")) if schema_path.exists() else None
    report = check_dir(directory, schema=schema, schemas_dir=_schemas_arg(args.schemas, directory), sources=not args.skip_sources)
    if args.json:
        print(json.dumps({
            "ok": report.ok,
            "file_problems": report.file_problems,
            "cases": [{"kind": r.kind, "id": r.id, "ok": r.ok, "problems": r.problems} for r in report.results],
        }, indent=1))
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
        summary += f"; FAILED: {count} problem{'s' if count != 1 else ''} with the files or their sources (the FILE lines)"
    print(summary)
    return 0 if report.ok else 1


def _read_input(arg: str) -> bytes:
    if arg == "-":
        return sys.stdin.buffer.read()
    path = Path(arg)
    try:
        is_file = path.is_file()
    except OSError:  # a long hex string is no valid file name (ENAMETOOLONG)
        is_file = False
    if is_file:
        return path.read_bytes()
    text = "".join(arg.split()).lower()
    if text.startswith("0x"):
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise SystemExit(f"sink decode: {arg!r} is neither a file nor hex") from None


def _show_bytes(value: bytes) -> str:
    if not value:
        return "(empty)"
    try:
        text = value.decode("utf-8")
        if text.isprintable():
            return f'"{text}" ({len(value)} byte{"s" if len(value) != 1 else ""})'
    except UnicodeDecodeError:
        pass
    shown = value[:32].hex(" ")
    return f"{len(value)} byte{'s' if len(value) != 1 else ''}: {shown}{' ...' if len(value) > 32 else ''}"


def _show_time(seconds: int) -> str:
    try:
        return f"{seconds} ({dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace('+00:00', 'Z')})"
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def _show_hex(value: bytes) -> str:
    shown = value[:32].hex(" ")
    return f"{len(value)} byte{'s' if len(value) != 1 else ''}: {shown}{' ...' if len(value) > 32 else ''}" if value else "(empty)"


def _event_lines(event: Event, indent: str, registry: Registry | None = None) -> list[str]:
    lines = [
        f"{indent}event_type_id   {event.event_type_id}",
        f"{indent}schema_version  {event.schema_version}",
        f"{indent}key             {_show_bytes(event.key)}",
        f"{indent}offset          {event.offset}",
        f"{indent}timestamp       {_show_time(event.timestamp)}",
    ]
    if registry is None:
        return [*lines, f"{indent}event_data      {_show_bytes(event.event_data)}"]
    try:
        version = registry.resolve(event.event_type_id, event.schema_version)
        record = registry.decode(event.event_type_id, event.schema_version, event.event_data)
    except SchemaError as exc:
        # Raw bytes, never a guess: the reader sees exactly what arrived and why it has no meaning here.
        return [*lines, f"{indent}event_data      {_show_hex(event.event_data)}", f"{indent}                ({exc.detail})"]
    record_lines = json.dumps(record, indent=2, ensure_ascii=False).splitlines()
    return [*lines, f"{indent}event_data      {len(event.event_data)} bytes, Avro {version.label} "
            f"({registry.types[event.event_type_id].direction.value}):", *(f"{indent}  {line}" for line in record_lines)]


def _events_lines(events: Sequence[Event], registry: Registry | None) -> list[str]:
    lines = []
    for index, event in enumerate(events):
        lines.append(f"  [{index}]")
        lines.extend(_event_lines(event, "    ", registry))
    return lines


def _describe_v1(value: Any, size: int, registry: Registry | None) -> list[str] | None:
    """The version-1 units: batch v1, BATCH_PUBLISH, BATCH_RESULT; None for anything else."""
    from .messages_v1 import BatchPublish, BatchResult, BatchV1

    if isinstance(value, BatchPublish):
        inner = _describe_v1(value.batch, size - 2, registry) or []
        return [f"BatchPublish ({size} bytes) message_id={value.message_id} ({value.message_id:#05x})", *inner]
    if isinstance(value, BatchResult):
        return [f"BatchResult ({size} bytes) message_id={value.message_id} ({value.message_id:#05x}), "
                f"{len(value.entries)} NACKed", *(f"  [{e.index}] machine_message {_show_bytes(e.machine_message)} "
                                                  f"human_message {_show_bytes(e.human_message)}" for e in value.entries)]
    if isinstance(value, BatchV1):
        form = ("version-0 layout" if value.format is None else
                f"extended, codec {value.format.codec.wire_name}, mode {value.format.mode.wire_name}")
        flags = [name for name, _bit in value.layout.FLAG_BITS if getattr(value.layout, name)] if value.layout else []
        return [f"batch v1 of {len(value.events)} events ({size} bytes), {form}; flags: {', '.join(flags) or 'none'}",
                *_events_lines(value.events, registry)]
    return None


def describe(kind: str, value: Any, size: int, registry: Registry | None = None, version: int = 0) -> list[str]:
    """Human-readable lines for a decoded unit; with a registry, event_data are shown as their records."""
    v1_lines = _describe_v1(value, size, registry) if version == 1 else None
    if v1_lines is not None:
        return v1_lines
    if isinstance(value, StreamValue):
        lines = [f"stream of {len(value.frames)} frames ({size} bytes)"]
        for index, frame in enumerate(value.frames):
            try:
                inner = describe("frame", decode_kind("frame", frame, Limits(), version, _record_schemas(registry, version)),
                                 len(frame), registry, version)
            except DecodeError as exc:
                inner = [f"undecodable frame: {exc}"]
            lines.append(f"[{index}] " + inner[0])
            lines.extend("    " + line for line in inner[1:])
        return lines
    if isinstance(value, Event):
        return [f"event ({size} bytes)", *_event_lines(value, "  ", registry)]
    if isinstance(value, NackPayload):
        return [f"nack payload ({size} bytes)", f"  machine_message {_show_bytes(value.machine_message)}",
                f"  human_message   {_show_bytes(value.human_message)}"]
    if isinstance(value, Batch):
        assert value.layout is not None
        flags = [name for name, _bit in value.layout.FLAG_BITS if getattr(value.layout, name)]
        lines = [f"column batch of {len(value.events)} events ({size} bytes), header {value.layout.to_byte():#04x}: {', '.join(flags) or 'no flags'}"]
        return [*lines, *_events_lines(value.events, registry)]
    name = type(value).__name__
    head = f"{name} ({size} bytes)"
    if isinstance(value, ConnectionRequest):
        sid = "absent" if value.server_instance_id is None else f"{value.server_instance_id} ({value.server_instance_id:#010x})"
        return [head, f"  version             {value.version}", f"  app_version         {_show_bytes(value.app_version)}",
                f"  client_instance_id  {value.client_instance_id} ({value.client_instance_id:#010x})",
                f"  server_instance_id  {sid}", *_declaration_lines(value.reader_schemas)]
    if isinstance(value, ConnectionResponse):
        lines = [head, f"  response            {value.response.wire_name} ({int(value.response)})"]
        if value.server_instance_id is not None:
            lines.append(f"  server_instance_id  {value.server_instance_id} ({value.server_instance_id:#010x})")
        if value.machine_message is not None and value.human_message is not None:
            lines.append(f"  machine_message     {_show_bytes(value.machine_message)}")
            lines.append(f"  human_message       {_show_bytes(value.human_message)}")
        return [*lines, *_declaration_lines(value.reader_schemas)]
    if isinstance(value, Publish):
        return [f"{head} message_id={value.message_id} ({value.message_id:#05x})", *_event_lines(value.event, "  ", registry)]
    if isinstance(value, Nack):
        return [f"{head} message_id={value.message_id} ({value.message_id:#05x})",
                f"  machine_message {_show_bytes(value.machine_message)}", f"  human_message   {_show_bytes(value.human_message)}"]
    message_id = getattr(value, "message_id", None)
    return [head if message_id is None else f"{head} message_id={message_id} ({message_id:#05x})"]


def _declaration_lines(reads: Any) -> list[str]:
    """A version-1 reader declaration (SNEG-1), when present."""
    if reads is None:
        return []
    return ["  reader_schemas      " + "; ".join(f"type {t}: versions {', '.join(map(str, vs))}" for t, vs in reads.entries)]


def _record_schemas(registry: Registry | None, version: int) -> Any:
    """The writer schemas records batches of version 1 decode with: the registry's, else the kit's."""
    if version != 1 or registry is None:
        return None
    from .records import RecordSchemas

    return RecordSchemas.from_registry(registry)


def cmd_decode(args: argparse.Namespace) -> int:
    data = _read_input(args.input)
    limits = Limits(strict_utf8=args.strict_utf8)
    version = args.protocol_version
    if version == 1 and args.kind in ("event", "nack_payload"):
        version = 0  # version 1 keeps these payloads as they are
    registry = _decode_registry(args)
    try:
        value = decode_kind(args.kind, data, limits, version, _record_schemas(registry, version))
    except DecodeError as exc:
        if args.json:
            print(json.dumps({"error_class": exc.error_class, "offset": exc.offset, "requirement": exc.requirement, "detail": exc.detail}))
        else:
            print(f"sink decode: cannot decode as {args.kind}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        obj = value_to_json(args.kind, value)
        if args.avro:
            _add_avro_json(obj, value, registry)
        print(json.dumps(obj))
    else:
        print("\n".join(describe(args.kind, value, len(data), registry, version)))
    return 0


def _decode_registry(args: argparse.Namespace) -> Registry | None:
    from .schemas import find_schemas_dir

    directory = Path(args.schemas) if args.schemas else find_schemas_dir()
    if args.no_schemas or (directory is None and not args.avro):
        return None
    if directory is None:
        raise SystemExit("sink decode: --avro needs a schema registry: no schemas/registry.toml here or above; pass --schemas")
    return Registry.load(directory)


def _add_avro_json(obj: dict[str, Any], value: Any, registry: Registry | None) -> None:
    """Put ``event_data_avro`` (the record, or null with ``event_data_avro_error``) beside each event_data_hex."""
    from .vectors.avro_check import events_of

    if isinstance(value, Publish):
        targets = [obj["event"]]
    elif isinstance(value, Batch) or type(value).__name__ == "BatchV1":
        targets = obj["events"]
    elif type(value).__name__ == "BatchPublish":
        targets = obj["batch"]["events"]
    elif isinstance(value, Event):
        targets = [obj]
    else:
        return
    assert registry is not None
    for target, event in zip(targets, events_of(value)):
        try:
            target["event_data_avro"] = registry.decode(event.event_type_id, event.schema_version, event.event_data)
        except SchemaError as exc:
            target["event_data_avro"] = None
            target["event_data_avro_error"] = {"reason": exc.reason, "detail": exc.detail}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sink", description="The Sink protocol kit's tools: run the reference server and client (certs, serve,\n"
                                 "connect, publish), operate their event stores (status, dead-letters, policies),\n"
                                 "decode captures, maintain the golden vectors, and run the benchmarks.\n"
                                 "`sink COMMAND --help` describes each command and its exit statuses.")
    parser.add_argument("--version", action="version", version=f"sink-protocol {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    vectors = sub.add_parser("vectors", help="golden test vectors")
    vsub = vectors.add_subparsers(dest="vectors_command", required=True)
    gen = vsub.add_parser("regenerate", aliases=["generate"], help="regenerate vectors/v0 from their sources; print what changed")
    gen.add_argument("--dir", help="vector folder (default: vectors/v0 here or above)")
    gen.add_argument("--schemas", help="schema registry folder (default: schemas/ beside vectors/)")
    gen.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    gen.set_defaults(func=cmd_regenerate)
    chk = vsub.add_parser("check", help="verify every committed vector against the reference codec and its sources")
    chk.add_argument("--dir", help="vector folder (default: vectors/v0 here or above)")
    chk.add_argument("--schemas", help="schema registry folder (default: schemas/ beside vectors/)")
    chk.add_argument("--skip-sources", action="store_true",
                     help="do not check that the vectors are what the sources generate (for vectors from elsewhere)")
    chk.add_argument("--json", action="store_true", help="machine-readable report")
    chk.set_defaults(func=cmd_check)

    dec = sub.add_parser("decode", help="decode a frame, payload, batch or stream given as hex, a file, or - for stdin")
    dec.add_argument("input", help="hex bytes, a file of raw bytes, or - for stdin")
    dec.add_argument("--as", dest="kind", choices=DECODE_KINDS, default="frame", help="what the bytes are (default: frame)")
    dec.add_argument("--json", action="store_true", help="print the value in the vectors' JSON form")
    dec.add_argument("--strict-utf8", action="store_true", help="reject text fields that are not UTF-8")
    dec.add_argument("--schemas", help="schema registry folder for event_data (default: schemas/ here or above, else the kit's)")
    dec.add_argument("--no-schemas", action="store_true", help="show event_data as bytes, without the registry")
    dec.add_argument("--avro", action="store_true", help="with --json: add event_data_avro, the decoded record, beside event_data_hex")
    dec.add_argument("--protocol-version", type=int, choices=(0, 1), default=0,
                     help="decode as on a connection of this protocol version (default 0); 1 adds BATCH_PUBLISH, "
                          "BATCH_RESULT, reader declarations and batch v1, records mode with the registry's schemas")
    dec.set_defaults(func=cmd_decode)

    from .ops_commands import register as register_ops
    from .peer_commands import register

    register(sub)
    register_ops(sub)
    from .bench.commands import register as register_bench

    register_bench(sub)
    apply_exit_codes(parser, EXIT_CODES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .logfmt import configure

    configure()

    def run() -> int:
        try:
            return int(args.func(args))
        except SinkError as exc:
            print(f"sink: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            print(f"sink: {exc}", file=sys.stderr)  # a folder that cannot be written, a port in use, ...
            return 1

    return run_main(run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
