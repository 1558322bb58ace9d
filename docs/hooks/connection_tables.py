"""mkdocs hook: the Connection's transition tables, generated from sinkproto.connection.

The page docs/reference/connection.md holds the marker ``<!-- transitions -->``;
it is replaced with one table per protocol version and role, built from the
one table ``TRANSITIONS`` (the rows that apply at that version: for each
(state, input), the row with the greatest ``since`` not above it) and the
state-entry actions ``ON_ENTER``, so the docs cannot disagree with the code.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REGISTRIES = {version: ROOT / "spec" / version / "requirements.toml" for version in ("v0", "v1")}


def _sections() -> dict[str, str]:
    """Requirement ID -> ``vN/FILE.md#ID`` (one ID space across versions)."""
    return {
        r["id"]: f"{version}/{r['section']}"
        for version, path in REGISTRIES.items()
        for r in tomllib.loads(path.read_text())["requirement"]
    }


def _link(rule: str, sections: dict[str, str]) -> str:
    # a relative link: strict mode checks that the page and the anchor exist
    return f"[{rule}](../spec/{sections[rule]})" if rule else ""


def render() -> str:
    from sinkproto.connection import DEFAULT_RULES, ON_ENTER, OUT_OF_PLACE_RULE, SUPPORTED_VERSIONS, Role

    sections = _sections()
    states = list(dict.fromkeys(r.state for r in DEFAULT_RULES.rows))
    out: list[str] = []
    for version in SUPPORTED_VERSIONS:
        for role in Role:
            out += [
                f"### Version {version}, {role.value}",
                "",
                "| state | input | handler | next state | since | rule |",
                "|---|---|---|---|---|---|",
            ]
            for state in states:
                inputs = dict.fromkeys(r.input for r in DEFAULT_RULES.rows if r.role is role and r.state is state)
                for input in inputs:
                    row = DEFAULT_RULES.lookup(role, state, input, version)
                    if row is None:
                        continue
                    if row.next is None:
                        next_state = "(stays)"
                    else:
                        next_state = f"`{row.next.value}`" + (f" ({row.close_reason})" if row.close_reason else "")
                    out.append(
                        f"| `{state.value}` | {input.label} | `{row.handler.__name__}` | {next_state} | "
                        f"{row.since} | {_link(row.rule, sections)} |"
                    )
            rule = OUT_OF_PLACE_RULE[max(v for v in OUT_OF_PLACE_RULE if v <= version)]
            out += [
                f"| any | any other received frame | protocol error `out_of_place_frame` | `closed` | "
                f"{version} | {_link(rule, sections)} |",
                "| any | any other local action | raises `LocalProtocolError` | (unchanged) | 0 | |",
                "",
            ]
    out += ["### State-entry actions", "", "| entering | action |", "|---|---|"]
    out += [f"| `{state.value}` | `{action.__name__}` |" for state, action in ON_ENTER.items()]
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "<!-- transitions -->" in markdown:
        markdown = markdown.replace("<!-- transitions -->", render())
    return markdown
