"""``sink bench codec|wire|memory|batch``: argument parsing, printing, and the docs page update.

Each command prints its markdown table, and its progress (phase n/N) on
stderr. Only with ``--update-docs`` does it also rewrite its section of
``docs/performance.md`` (between ``<!-- bench:NAME:start -->`` and
``<!-- bench:NAME:end -->``; ``--docs PAGE`` names another page) and, for
``wire``, the chart ``docs/performance/wire.png``: a run never changes a
checkout's files unless asked to.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "docs_page", "replace_region"]


def docs_page(start: Path | None = None) -> Path | None:
    """``docs/performance.md`` here or above (the kit's tree), or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "docs" / "performance.md"
        if candidate.is_file():
            return candidate
    return None


def replace_region(page: Path, name: str, text: str) -> None:
    """Put ``text`` between the page's ``bench:NAME`` markers."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    content = page.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(content):
        raise SystemExit(f"sink bench: {page} has no {start} ... {end} section")
    page.write_text(pattern.sub(lambda _: f"{start}\n{text.rstrip()}\n{end}", content), encoding="utf-8")


def machine_line(extra: str = "") -> str:
    """One line saying when and where the figures were taken."""
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, load average {load:.1f} at the start{extra}.")  # fmt: skip


def _target_page(args: argparse.Namespace) -> Path | None:
    """The page to rewrite: only when asked, with --update-docs (the kit's docs/performance.md) or --docs PAGE."""
    if args.docs:
        return Path(args.docs)
    if not args.update_docs:
        return None
    page = docs_page()
    if page is None:
        raise SystemExit("sink bench: --update-docs found no docs/performance.md here or above; pass --docs PAGE")
    return page


def _progress(text: str) -> None:
    """Where the run is (phase n/N), on stderr: stdout keeps only the table."""
    print(f"sink bench: {text}", file=sys.stderr, flush=True)


def cmd_codec(args: argparse.Namespace) -> int:
    from . import codec_bench
    from .profiles import load

    budget, repeats = (0.03, 3) if args.quick else (args.budget, args.repeats)
    line = machine_line()
    report = codec_bench.run(load(), budget=budget, repeats=repeats, progress=_progress)
    text = codec_bench.format_report(report)
    print(text)
    page = _target_page(args)
    if page is not None and not args.quick:
        replace_region(page, "codec", f"{line}\n\n{text}")
        print(f"\nwritten to {page}")
    return 0


def cmd_wire(args: argparse.Namespace) -> int:
    from . import wire_bench

    return wire_bench.main(args, _target_page(args))


def cmd_memory(args: argparse.Namespace) -> int:
    from . import memory_bench

    line = machine_line()
    report = memory_bench.run(connections=args.connections, progress=_progress)
    text = memory_bench.format_report(report)
    print(text)
    page = _target_page(args)
    if page is not None and args.connections == memory_bench.DEFAULT_CONNECTIONS:
        replace_region(page, "memory", f"{line}\n\n{text}")
        print(f"\nwritten to {page}")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from . import batch_bench
    from .profiles import load

    _progress("[1/1] 100 meter readings as one batch v1")
    report = batch_bench.run(load()["meter"])
    text = batch_bench.format_report(report)
    print(text)
    page = _target_page(args)
    if page is not None:
        replace_region(page, "batch", text)  # sizes, not timings: no machine line
        print(f"\nwritten to {page}")
    return 0


def _docs_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--update-docs", action="store_true",
                        help="also rewrite this benchmark's section of docs/performance.md here or above (default: print only)")
    parser.add_argument("--docs", metavar="PAGE",
                        help="rewrite this page instead (implies --update-docs)")
    parser.add_argument("--no-docs", action="store_true",
                        help="deprecated, no effect: the page is left alone unless --update-docs is given")


def register(sub: Any) -> None:
    """Add ``sink bench`` to the ``sink`` command's subparsers."""
    bench = sub.add_parser("bench", help="benchmarks: codec speed, bytes on the wire, memory, batch size")
    bsub = bench.add_subparsers(dest="bench_command", required=True)

    codec = bsub.add_parser("codec", help="µs/op of the construct and fast codecs, msgpack and fastavro, on both profiles")
    codec.add_argument("--quick", action="store_true", help="short loops (a smoke run; figures are rough, docs untouched)")
    codec.add_argument("--budget", type=float, default=0.2, help="seconds per timing loop (default 0.2)")
    codec.add_argument("--repeats", type=int, default=5, help="timing loops per cell, best kept (default 5)")
    codec.add_argument("--verbose", action="store_true",
                       help="deprecated, no effect: each cell is reported as it is measured (on stderr)")
    _docs_options(codec)
    codec.set_defaults(func=cmd_codec)

    wire = bsub.add_parser("wire", help="bytes on the wire on loopback: Sink v0 and v1, MQTT 3.1.1/5, HTTP/1.1, CoAP")
    wire.add_argument("--quick", action="store_true", help="Sink only, no chart, docs untouched (a smoke run)")
    wire.add_argument("--protocols", help="comma-separated subset: sink,mqtt,http,coap (default: all)")
    wire.add_argument("--profile", choices=("random", "meter"), default="random", help="events to send (default: random)")
    _docs_options(wire)
    wire.set_defaults(func=cmd_wire)

    batch = bsub.add_parser("batch", help="the meter batch figure: 100 meter readings as one batch v1, against 1,000 bytes")
    _docs_options(batch)
    batch.set_defaults(func=cmd_batch)

    memory = bsub.add_parser("memory", help="peak memory of decoding at the limits; server RSS per idle TLS connection")
    memory.add_argument("--connections", type=int, default=1000, help="idle mutual-TLS connections to open (default 1000)")
    _docs_options(memory)
    memory.set_defaults(func=cmd_memory)
