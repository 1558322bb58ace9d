"""What ``sink`` and ``sink-check`` share about their command lines: help texts, exit statuses, a closed pipe.

Each command's ``--help`` ends with its exit statuses, taken from one table
per tool (:data:`sinktools.cli.EXIT_CODES`, :data:`sinkcheck.cli.EXIT_CODES`);
docs/tools/cli.md and docs/conformance/reports.md show the same tables, and
the test suite checks that every option of every command has a help text and
every command its exit statuses.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence

__all__ = ["COMMON_EXIT_CODES", "HelpFormatter", "apply_exit_codes", "commands", "exit_codes_markdown", "run_main"]

#: Exit statuses every command shares, after its own.
COMMON_EXIT_CODES: tuple[tuple[int, str], ...] = (
    (2, "the command line is wrong (the usage is printed)"),
    (130, "interrupted (Ctrl-C)"),
    (141, "its output was closed early (e.g. piped into `head`): it stops quietly"),
)


#: What a command not (yet) in its tool's table says.
GENERIC_EXIT_CODES: tuple[tuple[int, str], ...] = ((0, "success"), (1, "a failure: the message says what"))


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Epilogs keep their line breaks; an option's default is shown when its help does not say it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or any(default is v for v in (None, False, True, argparse.SUPPRESS))
            or default == []
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command a person can run (the leaves of the subcommand tree), as (words after the tool, parser)."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
        return
    for group in groups:
        seen: set[int] = set()
        for name, sub in group.choices.items():
            if id(sub) not in seen:  # aliases share a parser: the first name is the command's
                seen.add(id(sub))
                yield from commands(sub, (*path, name))


def _merged(codes: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """The command's statuses and the shared ones, by number; one line per number."""
    texts: dict[int, list[str]] = {}
    for code, text in (*codes, *COMMON_EXIT_CODES):
        texts.setdefault(code, []).append(text)
    return [(code, "; or ".join(texts[code])) for code in sorted(texts)]


def _epilog(codes: Sequence[tuple[int, str]]) -> str:
    return "exit status:\n" + "\n".join(f"  {code:<4} {text}" for code, text in _merged(codes))


def apply_exit_codes(parser: argparse.ArgumentParser, table: Mapping[str, Sequence[tuple[int, str]]]) -> None:
    """Give each command its exit statuses (``table`` keys: the words after the tool, e.g. "dead-letters retry").

    A command the table forgets gets a generic epilog here (the tool still runs); the test suite
    (tests/test_cli.py) fails until the table has it.
    """
    parser.formatter_class = HelpFormatter
    parser.epilog = _epilog(table.get("", GENERIC_EXIT_CODES))
    for path, command in commands(parser):
        command.formatter_class = HelpFormatter
        command.epilog = _epilog(table.get(" ".join(path), GENERIC_EXIT_CODES))
    _format_all(parser)


def _format_all(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = HelpFormatter
    for group in (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)):
        for sub in group.choices.values():
            _format_all(sub)


def exit_codes_markdown(tool: str, table: Mapping[str, Sequence[tuple[int, str]]]) -> str:
    """The exit statuses as the docs show them: one row per command, then the shared ones."""
    rows = ["| Command | Exit status |", "|---|---|"]
    for path, codes in table.items():
        if path:
            rows.append(f"| `{tool} {path}` | " + "; ".join(f"{code} {text}" for code, text in codes) + " |")
    rows.append(f"| every `{tool}` command | " + "; ".join(f"{code} {text}" for code, text in COMMON_EXIT_CODES) + " |")
    return "\n".join(rows)


def run_main(main: Callable[[], int]) -> int:
    """``main()``, with Ctrl-C and a closed output pipe ending the command quietly (no traceback)."""
    try:
        code = main()
        sys.stdout.flush()  # a closed pipe shows here for buffered output
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): say nothing more, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
