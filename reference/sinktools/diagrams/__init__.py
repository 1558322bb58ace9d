"""State diagrams of the connection, generated from its one transition table.

Like h11's ``make-state-diagrams.py``, but with no hand-added edge: every
edge of :func:`connection_dot` is a row of ``sinkproto.connection.TRANSITIONS``
(the rows that apply at the version: for each (state, input), the row with
the greatest ``since`` not above it), and the state-entry actions
(``ON_ENTER``) are written in the node they belong to. Two kinds of row are
left out, both by the explicit rule :func:`is_plumbing`: ``data_received``
handled by ``deframe`` (it cuts bytes into frames, each one dispatched as
``frame_arrived``), and ``frame_arrived`` handled by ``decode_and_classify``
(it decodes a frame and dispatches it as its ``recv_*`` input, whose row is
drawn), when they stay in their state. Rows that stay in their state are
merged into one self-loop per state; rows between the same two states into
one edge; each label line is ``input / handler``, coloured by the input's
kind.

``python -m sinktools.diagrams`` renders the four diagrams with graphviz
``dot -Tsvg`` into ``docs/reference/diagrams/connection-{client,server}-v{0,1}.svg``,
and the client lifecycle of the spec (:mod:`sinktools.diagrams.lifecycle`).
Each SVG records the SHA-256 of the graphviz source it was rendered from
(:data:`SOURCE_MARK`, the scheme ``spec/tools/kaitai_build.py`` uses for the
format diagrams, with these helpers), so a test tells a stale diagram from
the source alone, without graphviz (whose SVG bytes vary between versions).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from html import escape
from pathlib import Path

from sinkproto.connection import DEFAULT_RULES, SUPPORTED_VERSIONS, Connection, Input, Role, Row, Rules, State, handlers

__all__ = [
    "DIAGRAM_DIR",
    "PLUMBING",
    "SOURCE_MARK",
    "DiagramError",
    "connection_dot",
    "diagram_path",
    "is_plumbing",
    "recorded_digest",
    "render_svg",
    "source_digest",
    "visible_rows",
    "write_diagrams",
]

DIAGRAM_DIR = Path(__file__).resolve().parents[3] / "docs" / "reference" / "diagrams"
SOURCE_MARK = "sink-diagram-source-sha256"

#: (input, handler) pairs that only move data to another row's input; drawn when they change the state.
PLUMBING: dict[Input, handlers.Handler] = {
    Input.DATA_RECEIVED: handlers.deframe,  # bytes -> one frame_arrived per whole frame
    Input.FRAME_ARRIVED: handlers.decode_and_classify,  # one frame -> its recv_* input (or peer_error)
}

#: Label colour of each input kind (Input.kind).
KIND_COLOR = {"frame": "#002092", "action": "#017517", "timer": "#7600a1", "transport": "#8a4b00"}


class DiagramError(RuntimeError):
    """graphviz is missing or failed; the message says which."""


def is_plumbing(row: Row) -> bool:
    """A row left off the diagrams: a plumbing (input, handler) pair that stays in its state."""
    return row.next is None and PLUMBING.get(row.input) is row.handler


def visible_rows(role: Role, version: int, rules: Rules = DEFAULT_RULES) -> list[Row]:
    """The rows a diagram draws: those that apply to ``role`` at ``version``, in table order, minus plumbing."""
    keys = dict.fromkeys((row.state, row.input) for row in rules.rows if row.role is role)
    applying = (rules.lookup(role, state, input, version) for state, input in keys)
    return [row for row in applying if row is not None and not is_plumbing(row)]


def _line(row: Row) -> str:
    since = f" (since {row.since})" if row.since else ""
    text = f"{row.input.label} / {row.handler.__name__}{since}"
    return f'<FONT COLOR="{KIND_COLOR[row.input.kind]}">{escape(text)}</FONT>'


def connection_dot(role: Role, version: int, rules: Rules = DEFAULT_RULES) -> str:
    """The graphviz source of the connection's state machine for ``role`` at protocol ``version``."""
    rows = visible_rows(role, version, rules)
    start = Connection(role, now=0.0, message_id_start=0, versions=(version,), rules=rules).state
    states = list(dict.fromkeys([start, *(r.state for r in rows), *(r.next for r in rows if r.next is not None)]))
    edges: dict[tuple[State, State], list[Row]] = {}
    for row in rows:
        edges.setdefault((row.state, row.next or row.state), []).append(row)
    out = [
        "digraph {",
        '  graph [fontname="Helvetica" bgcolor="transparent" labelloc="t" labeljust="l" '
        f'label=<<FONT POINT-SIZE="18">Sink connection: {role.value}, version {version}</FONT>>]',
        '  node [fontname="Helvetica" shape="box" style="rounded"]',
        '  edge [fontname="Helvetica" fontsize="10"]',
    ]
    for state in states:
        notes = ["<I>start state</I>"] if state is start else []
        if state in rules.on_enter:
            notes.append(f"<I>on entry: {escape(rules.on_enter[state].__name__)}</I>")
        label = "<BR/>".join([f"<B>{state.value}</B>", *notes])
        out.append(f"  {state.value} [label=<{label}>]")
    for (source, target), group in edges.items():
        label = '<BR ALIGN="LEFT"/>'.join(_line(row) for row in group) + '<BR ALIGN="LEFT"/>'
        colors = {KIND_COLOR[row.input.kind] for row in group}
        color = colors.pop() if len(colors) == 1 else "#444444"
        out.append(f'  {source.value} -> {target.value} [color="{color}" label=<{label}>]')
    out.append("}")
    return "\n".join(out) + "\n"


def diagram_path(role: Role, version: int, out_dir: Path = DIAGRAM_DIR) -> Path:
    return out_dir / f"connection-{role.value}-v{version}.svg"


def source_digest(source: str | bytes) -> str:
    """The SHA-256 a diagram's SVG records of the graphviz source it was rendered from."""
    return hashlib.sha256(source.encode() if isinstance(source, str) else source).hexdigest()


def render_svg(source: str | bytes) -> str:
    """Run ``dot -Tsvg`` on a graphviz source; the SVG carries the source's digest after its XML declaration."""
    dot = shutil.which("dot")
    if dot is None:
        raise DiagramError("graphviz `dot` not found (Debian: apt-get install -y graphviz)")
    data = source.encode() if isinstance(source, str) else source
    proc = subprocess.run([dot, "-Tsvg"], input=data, capture_output=True)
    if proc.returncode != 0:
        raise DiagramError(f"dot failed:\n{proc.stderr.decode(errors='replace')}")
    # The mark goes after the XML declaration, which must stay first.
    declaration, _, rest = proc.stdout.decode().partition("\n")
    return f"{declaration}\n<!-- {SOURCE_MARK}: {source_digest(data)} -->\n{rest}"


def recorded_digest(svg: Path) -> str | None:
    """The source digest an SVG written by :func:`render_svg` records, or None."""
    prefix = f"<!-- {SOURCE_MARK}: "
    for line in svg.read_text().split("\n")[:3]:
        if line.startswith(prefix):
            return line[len(prefix) : -len(" -->")]
    return None


def write_diagrams(out_dir: Path = DIAGRAM_DIR, versions: Sequence[int] = SUPPORTED_VERSIONS) -> list[Path]:
    """Render every role's diagram at every version into ``out_dir``; return the written files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for version in versions:
        for role in Role:
            path = diagram_path(role, version, out_dir)
            path.write_text(render_svg(connection_dot(role, version)))
            written.append(path)
    return written
