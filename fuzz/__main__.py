"""``python -m fuzz``: list targets, build seeds, run the fuzzers, replay inputs.

    python -m fuzz list
    python -m fuzz seeds                          # build/fuzz/seeds/<target>/
    python -m fuzz run --seconds 60 [--jobs 2] [--targets frame,batch] [--json out.json]
    python -m fuzz replay TARGET FILE...          # run inputs through a target, no libFuzzer

``run`` exits 1 when any target has a finding; the inputs are copied to
fuzz/regressions/<target>/, where tests/test_fuzz_regressions.py replays them.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from .runner import RunOptions, format_table, run_all
from .seeds import write_seeds
from .target import BUILD_DIR, REGRESSIONS_DIR, Target, all_targets, get_target


def _targets(spec: str | None) -> list[Target]:
    if not spec:
        return all_targets()
    return [get_target(name.strip()) for name in spec.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the targets")
    seeds = sub.add_parser("seeds", help="write the seed corpora built from the vectors")
    seeds.add_argument("--targets", help="comma-separated target names (default: all)")
    run = sub.add_parser("run", help="fuzz every target (or --targets) for --seconds each")
    run.add_argument("--seconds", type=int, default=60, help="time budget per target (default 60)")
    run.add_argument("--targets", help="comma-separated target names (default: all)")
    run.add_argument("--jobs", type=int, default=1, help="targets run at once (default 1)")
    run.add_argument("--seed", type=int, help="libFuzzer -seed, for a reproducible run")
    run.add_argument("--timeout", type=int, default=10, help="seconds one input may take (default 10)")
    run.add_argument("--work-dir", type=Path, default=BUILD_DIR, help="corpora, logs, artifacts (default build/fuzz)")
    run.add_argument("--regressions", type=Path, default=REGRESSIONS_DIR, help="where finding inputs are copied")
    run.add_argument("--fresh-corpus", action="store_true", help="start from the seeds, drop the kept corpus")
    run.add_argument("--json", type=Path, help="also write the results as JSON")
    replay = sub.add_parser("replay", help="run input files through a target without libFuzzer")
    replay.add_argument("target")
    replay.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)

    if args.command == "list":
        for target in all_targets():
            print(f"{target.name:14} {target.description}")
        return 0
    if args.command == "seeds":
        for target in _targets(args.targets):
            folder = write_seeds(target)
            print(f"{target.name}: {len(list(folder.iterdir()))} seeds in {folder}")
        return 0
    if args.command == "replay":
        target = get_target(args.target)
        if target.prepare is not None:
            target.prepare()
        check = target.setup()
        failed = 0
        for path in args.files:
            try:
                check(path.read_bytes())
                print(f"ok    {path}")
            except Exception:
                failed += 1
                print(f"FAIL  {path}\n{traceback.format_exc()}")
        return 1 if failed else 0

    options = RunOptions(
        seconds=args.seconds,
        jobs=args.jobs,
        seed=args.seed,
        timeout=args.timeout,
        work_dir=args.work_dir,
        regressions=args.regressions,
        fresh_corpus=args.fresh_corpus,
    )
    results = run_all(_targets(args.targets), options)
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=1) + "\n")
    return 1 if any(r.findings for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
