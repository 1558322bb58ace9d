"""mkdocs hook: the Connection's state tables, generated from sinkproto.connection.

The page docs/reference/connection.md holds the markers ``<!-- transitions -->``
and ``<!-- actions -->``; they are replaced with tables built from
``TRANSITIONS`` and ``ACTIONS``, so the docs cannot disagree with the code.
"""

from __future__ import annotations

from typing import Any


def _transitions() -> str:
    from sinkproto.connection import TRANSITIONS

    rows = ["| role | state | frame received | handled by |", "|---|---|---|---|"]
    for (role, state, frame_type), handler in sorted(TRANSITIONS.items(), key=lambda kv: (kv[0][0].value, kv[0][1].value, kv[0][2])):
        rows.append(f"| {role.value} | `{state.value}` | {frame_type.name.lower()} | `{handler}` |")
    rows.append("| any | any | anything else | protocol error `out_of_place_frame` ([ERR-6](../spec/v0/errors.md#ERR-6)) |")
    return "\n".join(rows)


def _actions() -> str:
    from sinkproto.connection import ACTIONS

    rows = ["| method | allowed for (role, state) | rule |", "|---|---|---|"]
    for action, (allowed, requirement) in ACTIONS.items():
        where = ", ".join(sorted(f"{r.value} `{s.value}`" for r, s in allowed))
        page = {"HS": "handshake", "MSGID": "messaging"}[requirement.split("-")[0]]
        rows.append(f"| `{action}()` | {where} | [{requirement}](../spec/v0/{page}.md#{requirement}) |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "<!-- transitions -->" in markdown:
        markdown = markdown.replace("<!-- transitions -->", _transitions())
    if "<!-- actions -->" in markdown:
        markdown = markdown.replace("<!-- actions -->", _actions())
    return markdown
