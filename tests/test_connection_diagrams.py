"""The connection's state diagrams (docs/reference/diagrams/) are generated from the one transition table.

The committed SVGs are current (each records the SHA-256 of the graphviz
source it was rendered from, so this needs no graphviz), every row of the
table is drawn or declared plumbing, and no edge comes from anywhere else.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from sinkproto.connection import DEFAULT_RULES, SUPPORTED_VERSIONS, TRANSITIONS, Input, Role, Row, State, handlers
from sinktools.diagrams import (
    DIAGRAM_DIR,
    PLUMBING,
    connection_dot,
    diagram_path,
    is_plumbing,
    recorded_digest,
    render_svg,
    source_digest,
    visible_rows,
)

REGENERATE = "python -m sinktools.diagrams"
DIAGRAMS = [(role, version) for version in SUPPORTED_VERSIONS for role in Role]
EDGE = re.compile(r"^  (\w+) -> (\w+) \[color=\"[^\"]+\" label=<(.*)>\]$")
LINE = re.compile(r'<FONT COLOR="[^"]+">([^<]*)</FONT>')


def edges(dot: str) -> list[tuple[str, str, str]]:
    """(from, to, 'input / handler ...') for every label line of every edge of a diagram source."""
    found = []
    for line in dot.splitlines():
        if match := EDGE.match(line):
            found += [(match[1], match[2], unescape(text)) for text in LINE.findall(match[3])]
    return found


def drawn(row: Row) -> tuple[str, str, str]:
    since = f" (since {row.since})" if row.since else ""
    return row.state.value, (row.next or row.state).value, f"{row.input.label} / {row.handler.__name__}{since}"


def test_committed_diagrams_are_current() -> None:
    expected = {diagram_path(role, version).name for role, version in DIAGRAMS}
    assert {p.name for p in DIAGRAM_DIR.glob("*.svg")} == expected, f"diagram set differs: run `{REGENERATE}`"
    stale = [
        f"{role.value} v{version}"
        for role, version in DIAGRAMS
        if recorded_digest(diagram_path(role, version)) != source_digest(connection_dot(role, version))
    ]
    assert not stale, f"stale connection diagrams {stale}: run `{REGENERATE}`"


def test_a_row_added_to_the_table_changes_the_diagram_source() -> None:
    # What makes the freshness test fail when the table changes and nobody re-renders.
    rules = DEFAULT_RULES.replace(Row(Role.SERVER, State.OPEN, Input.TIMER_KEEPALIVE, handlers.send_ping))
    for version in SUPPORTED_VERSIONS:
        changed = connection_dot(Role.SERVER, version, rules)
        assert source_digest(changed) != recorded_digest(diagram_path(Role.SERVER, version))
        assert ("open", "open", "timer_keepalive / send_ping") in edges(changed)
        assert connection_dot(Role.CLIENT, version, rules) == connection_dot(Role.CLIENT, version)


def test_every_row_is_on_a_diagram_or_declared_plumbing() -> None:
    on_diagrams = {(role, version): edges(connection_dot(role, version)) for role, version in DIAGRAMS}
    missing = [
        row
        for row in TRANSITIONS
        if not is_plumbing(row)
        and not any(drawn(row) in on_diagrams[row.role, version] for version in SUPPORTED_VERSIONS)
    ]
    assert not missing, f"rows on no diagram: {missing}"
    plumbing = [row for row in TRANSITIONS if is_plumbing(row)]
    assert plumbing, "the plumbing rule no longer matches any row: drop it"
    assert {row.input for row in plumbing} == set(PLUMBING)


@pytest.mark.parametrize(("role", "version"), DIAGRAMS, ids=lambda x: getattr(x, "value", f"v{x}"))
def test_every_edge_is_a_row(role: Role, version: int) -> None:
    # No hand-added edge: the label lines are exactly the rows that apply at the version, minus plumbing.
    rows = visible_rows(role, version)
    assert sorted(edges(connection_dot(role, version))) == sorted(drawn(row) for row in rows)
    for row in rows:
        assert row is DEFAULT_RULES.lookup(role, row.state, row.input, version)


def test_version_1_rows_are_only_on_version_1_diagrams() -> None:
    batch = "recv_batch_publish / batch_received (since 1)"
    for role in Role:
        assert ("open", "open", batch) in edges(connection_dot(role, 1))
        assert not any(text == batch for _, _, text in edges(connection_dot(role, 0)))


def test_a_plumbing_row_that_changes_the_state_is_drawn() -> None:
    rules = DEFAULT_RULES.edit(Input.DATA_RECEIVED, role=Role.CLIENT, state=State.OPEN, next=State.CLOSED)
    assert ("open", "closed", "data_received / deframe") in edges(connection_dot(Role.CLIENT, 0, rules))
    assert not any("deframe" in text for _, _, text in edges(connection_dot(Role.CLIENT, 0)))


def test_start_state_and_entry_actions_are_in_the_nodes() -> None:
    client, server = connection_dot(Role.CLIENT, 0), connection_dot(Role.SERVER, 0)
    assert "send_request [label=<<B>send_request</B><BR/><I>start state</I>>]" in client
    assert "await_request [label=<<B>await_request</B><BR/><I>start state</I>>]" in server
    assert "open [label=<<B>open</B><BR/><I>on entry: release_held</I>>]" in server
    assert "closed [label=<<B>closed</B><BR/><I>on entry: closed</I>>]" in client


def test_graphviz_renders_the_source_and_the_svg_carries_its_mark(tmp_path: Path) -> None:
    # Needs graphviz `dot` (python3 kit.py test installs it with apt-get); the freshness test above does not.
    source = connection_dot(Role.SERVER, 1)
    svg = tmp_path / "server.svg"
    svg.write_text(render_svg(source))
    assert svg.read_text().startswith("<?xml")
    assert recorded_digest(svg) == source_digest(source)
    assert ">deciding</text>" in svg.read_text()
    assert "recv_batch_publish / batch_received (since 1)" in svg.read_text()
