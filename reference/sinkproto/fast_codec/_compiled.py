"""Records mode's transposition and rebuilding compiled per writer schema (RECORD-2, RECORD-4): the fast codec's.

:func:`sinkproto.records.transpose` and :func:`sinkproto.records.rebuild`
walk the flattened plan's tree for every value: a call, an ``isinstance``
dispatch and a reader object per value. Here a plan is turned once into
the source of one straight-line function (the tree unrolled: a record's
fields one after the other, a union an ``if`` chain, an array or map a
loop) and compiled; the construct codec keeps the declarative walk, and
tests/test_compiled_records.py proves both give the same columns, the same
None for data that is not canonical, and the same rebuilt records.

The generated source holds only names chosen here and integers taken from
the plan (column numbers, sizes, bounds): nothing of a schema's text (a
name, a doc) reaches it. A plan whose source Python cannot compile (loops
nested deeper than the compiler allows) or that is very large keeps the
declarative walk: :func:`transposer` and :func:`rebuilder` answer None.

Canonical, as :func:`~sinkproto.records.transpose` defines it (decoding and
re-encoding give the same bytes), is checked while reading: every varint
minimal (no final 0x00 byte after the first) and below 2^64, every length
and count not negative, every array or map one block ended by the byte 0,
every value inside its column's range, no byte left over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from operator import add
from typing import Any

from ..errors import LimitExceeded
from ..limits import MAX_U64
from ..primitives import TABLE_SIZE, VARINT, unzigzag_column, varint_bytes, zigzag_column
from ..records import INT32, INT64, ColumnType, RecordPlan, _Array, _Leaf, _Map, _Node, _Null, _Record, _Union

__all__ = ["rebuilder", "transposer"]

Transposer = Callable[[Sequence[bytes]], list[list[Any]] | None]
Rebuilder = Callable[[Sequence[Sequence[Any]], int, int, int], Iterator[bytes]]

# Larger plans keep the declarative walk: their source would take longer to compile than it saves.
_MAX_COLUMNS = 512
_MAX_DEPTH = 12  # nested unions, arrays and maps (Python allows 20 nested blocks, the loops add their own)
_KEPT = 64


class _NotCanonical(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A varint of 2 bytes or more at ``pos``, minimal and below 2^64; IndexError when ``data`` ends inside it."""
    value = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift >= 70:
            raise _NotCanonical
    if not byte or value > MAX_U64:  # a final 0x00 makes it longer than the minimal one
        raise _NotCanonical
    return value, pos


def _unsigned_bytes(value: int) -> bytes:
    """The varint of a non-negative value's zigzag (a union branch, an item count)."""
    return VARINT[value << 1] if value < TABLE_SIZE >> 1 else varint_bytes(value << 1, wide=True)


def _long_column(values: Sequence[int]) -> list[bytes]:
    """The Avro ``long`` encoding of each of ``values``."""
    zigzags = zigzag_column(values)
    if not zigzags or max(zigzags) < TABLE_SIZE:
        return list(map(VARINT.__getitem__, zigzags))
    return [VARINT[z] if z < TABLE_SIZE else varint_bytes(z, wide=True) for z in zigzags]


def _bytes_column(values: Sequence[bytes]) -> list[bytes]:
    """The Avro ``bytes``/``string`` encoding of each of ``values``: the length's long, then the bytes."""
    return list(map(add, _long_column(list(map(len, values))), values))


_BYTE = tuple(bytes((i,)) for i in range(256))


class _Source:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names = 0

    def name(self, stem: str) -> str:
        self.names += 1
        return f"{stem}{self.names}"

    def add(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


def _depth(node: _Node) -> int:
    if isinstance(node, _Record):
        return max(map(_depth, node.fields), default=0)
    if isinstance(node, _Union):
        return 1 + max(map(_depth, node.branches), default=0)
    if isinstance(node, _Array):
        return 1 + _depth(node.items)
    if isinstance(node, _Map):
        return 1 + _depth(node.values)
    return 0


def _compiled(source: list[str], name: str, env: dict[str, Any]) -> Any:
    try:
        code = compile("\n".join(source), f"<records plan: {name}>", "exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    exec(code, env)  # the source was generated above from integers of the plan only
    return env[name]


def _compilable(plan: RecordPlan) -> bool:
    return len(plan.columns) <= _MAX_COLUMNS and _depth(plan.root) <= _MAX_DEPTH


# -- transposing -----------------------------------------------------------------------------------


def _read_zigzag(src: _Source, indent: int, target: str) -> None:
    """Source that reads one varint at ``p`` of ``d`` into ``target`` (a zigzag, unchecked); 1 to 4 bytes inline."""
    src.add(indent, f"{target} = d[p]")
    src.add(indent, f"if {target} < 128:")
    src.add(indent + 1, "p += 1")
    src.add(indent, "else:")
    src.add(indent + 1, "y = d[p + 1]")
    src.add(indent + 1, "if 0 < y < 128:")
    src.add(indent + 2, f"{target} = {target} - 128 | y << 7")
    src.add(indent + 2, "p += 2")
    src.add(indent + 1, "elif y < 128:")  # 0: over-long
    src.add(indent + 2, "raise _NotCanonical")
    src.add(indent + 1, "else:")
    src.add(indent + 2, "w = d[p + 2]")
    src.add(indent + 2, "if 0 < w < 128:")
    src.add(indent + 3, f"{target} = {target} - 128 | y - 128 << 7 | w << 14")
    src.add(indent + 3, "p += 3")
    src.add(indent + 2, "elif w < 128:")
    src.add(indent + 3, "raise _NotCanonical")
    src.add(indent + 2, "else:")
    src.add(indent + 3, "u = d[p + 3]")
    src.add(indent + 3, "if 0 < u < 128:")
    src.add(indent + 4, f"{target} = {target} - 128 | y - 128 << 7 | w - 128 << 14 | u << 21")
    src.add(indent + 4, "p += 4")
    src.add(indent + 3, "else:")
    src.add(indent + 4, f"{target}, p = _varint(d, p)")


def _read_length(src: _Source, indent: int, column: int) -> None:
    """Source that reads a length (a long, not negative) and appends that many bytes to column ``column``."""
    _read_zigzag(src, indent, "z")
    src.add(indent, "if z & 1:")
    src.add(indent + 1, "raise _NotCanonical")
    src.add(indent, "e = p + (z >> 1)")
    src.add(indent, "if e > len(d):")
    src.add(indent + 1, "raise _NotCanonical")
    src.add(indent, f"a{column}(d[p:e])")
    src.add(indent, "p = e")


def _transpose_node(src: _Source, indent: int, node: _Node, plan: RecordPlan) -> None:
    if isinstance(node, _Null):
        return
    if isinstance(node, _Record):
        for child in node.fields:
            _transpose_node(src, indent, child, plan)
        return
    if isinstance(node, _Leaf):
        column = plan.columns[node.column]
        i = node.column
        if node.avro == "boolean":
            src.add(indent, f"a{i}(d[p])")  # its range (0..1) is checked on the whole column
            src.add(indent, "p += 1")
        elif column.type is ColumnType.INT:
            _read_zigzag(src, indent, "z")
            src.add(indent, f"a{i}(z)")  # a zigzag: decoded and range-checked on the whole column
        elif column.size is not None:
            src.add(indent, f"e = p + {int(column.size)}")
            src.add(indent, "if e > len(d):")
            src.add(indent + 1, "raise _NotCanonical")
            src.add(indent, f"a{i}(d[p:e])")
            src.add(indent, "p = e")
        else:
            _read_length(src, indent, i)
        return
    if isinstance(node, _Union):
        branch = src.name("b")
        _read_zigzag(src, indent, branch)
        src.add(indent, f"if {branch} & 1 or {branch} >= {2 * len(node.branches)}:")
        src.add(indent + 1, "raise _NotCanonical")
        src.add(indent, f"{branch} >>= 1")
        src.add(indent, f"a{node.column}({branch})")
        first = True
        for number, child in enumerate(node.branches):
            body = _Source()
            body.names = src.names
            _transpose_node(body, indent + 1, child, plan)
            src.names = body.names
            if not body.lines:
                continue
            src.add(indent, f"{'if' if first else 'elif'} {branch} == {number}:")
            src.lines += body.lines
            first = False
        return
    assert isinstance(node, (_Array, _Map))
    count = src.name("n")
    _read_zigzag(src, indent, count)
    src.add(indent, f"if {count} & 1:")
    src.add(indent + 1, "raise _NotCanonical")
    src.add(indent, f"{count} >>= 1")
    src.add(indent, f"a{node.column}({count})")
    src.add(indent, f"if {count}:")
    body = _Source()
    body.names = src.names
    if isinstance(node, _Map):
        _read_length(body, indent + 2, node.keys)
        _transpose_node(body, indent + 2, node.values, plan)
    else:
        _transpose_node(body, indent + 2, node.items, plan)
    src.names = body.names
    if body.lines:  # items that take no bytes (null) need no loop
        src.add(indent + 1, f"for _ in range({count}):")
        src.lines += body.lines
    src.add(indent + 1, "if d[p]:")  # the block's end: the byte 0, nothing longer
    src.add(indent + 2, "raise _NotCanonical")
    src.add(indent + 1, "p += 1")


def _transpose_source(plan: RecordPlan) -> list[str]:
    src = _Source()
    count = len(plan.columns)
    src.add(0, "def transpose(event_data):")
    for i in range(count):
        src.add(1, f"c{i} = []")
        src.add(1, f"a{i} = c{i}.append")
    src.add(1, "try:")
    src.add(2, "for d in event_data:")
    src.add(3, "p = 0")
    _transpose_node(src, 3, plan.root, plan)
    src.add(3, "if p != len(d):")
    src.add(4, "return None")
    src.add(1, "except (IndexError, _NotCanonical):")
    src.add(2, "return None")
    for i, column in enumerate(plan.columns):
        if column.type is not ColumnType.INT or column.avro in ("union", "array", "map"):
            continue  # bytes, branches and counts were appended as they are
        if column.avro == "boolean":
            src.add(1, f"if c{i} and max(c{i}) > 1:")
            src.add(2, "return None")
        elif (column.low, column.high) == INT64:
            src.add(1, f"c{i} = _unzigzag(c{i})")  # every varint is below 2^64: every zigzag is a long
        elif (column.low, column.high) == INT32:
            src.add(1, f"if c{i} and max(c{i}) > {(1 << 32) - 1}:")
            src.add(2, "return None")
            src.add(1, f"c{i} = _unzigzag(c{i})")
        else:
            src.add(1, f"c{i} = _unzigzag(c{i})")
            src.add(1, f"if c{i} and (min(c{i}) < {int(column.low)} or max(c{i}) > {int(column.high)}):")
            src.add(2, "return None")
    src.add(1, f"return [{', '.join(f'c{i}' for i in range(count))}]")
    return src.lines


_TRANSPOSERS: dict[int, tuple[RecordPlan, Transposer | None]] = {}


def transposer(plan: RecordPlan) -> Transposer | None:
    """``plan``'s compiled :func:`~sinkproto.records.transpose` (same answers), or None to use that one."""
    cached = _TRANSPOSERS.get(id(plan))
    if cached is not None and cached[0] is plan:
        return cached[1]
    function = None
    if _compilable(plan):
        env: dict[str, Any] = {"_NotCanonical": _NotCanonical, "_varint": _varint, "_unzigzag": unzigzag_column}
        function = _compiled(_transpose_source(plan), "transpose", env)
    if len(_TRANSPOSERS) >= _KEPT:
        del _TRANSPOSERS[next(iter(_TRANSPOSERS))]
    _TRANSPOSERS[id(plan)] = (plan, function)
    return function


# -- rebuilding ------------------------------------------------------------------------------------


def _flush(src: _Source, indent: int, pending: list[str]) -> None:
    """Source appending the parts gathered since the last branch or loop, in one statement."""
    if len(pending) == 1:
        src.add(indent, f"x({pending[0]})")
    elif pending:
        src.add(indent, f"o += ({', '.join(pending)},)")
    pending.clear()


def _rebuild_node(src: _Source, indent: int, node: _Node, pending: list[str]) -> None:
    if isinstance(node, _Null):
        return
    if isinstance(node, _Record):
        for child in node.fields:
            _rebuild_node(src, indent, child, pending)
        return
    if isinstance(node, _Leaf):
        pending.append(f"e{node.column}()")  # the value's Avro bytes, encoded column by column beforehand
        return
    _flush(src, indent, pending)
    if isinstance(node, _Union):
        branch = src.name("b")
        src.add(indent, f"{branch} = v{node.column}()")
        src.add(indent, f"x(_unsigned({branch}))")
        first = True
        for number, child in enumerate(node.branches):
            body = _Source()
            body.names = src.names
            inner: list[str] = []
            _rebuild_node(body, indent + 1, child, inner)
            _flush(body, indent + 1, inner)
            src.names = body.names
            if not body.lines:
                continue
            src.add(indent, f"{'if' if first else 'elif'} {branch} == {number}:")
            src.lines += body.lines
            first = False
        return
    assert isinstance(node, (_Array, _Map))
    count = src.name("n")
    src.add(indent, f"{count} = v{node.column}()")
    src.add(indent, f"if {count}:")
    src.add(indent + 1, f"x(_unsigned({count}))")
    body = _Source()
    body.names = src.names
    inner = [f"e{node.keys}()"] if isinstance(node, _Map) else []
    _rebuild_node(body, indent + 2, node.values if isinstance(node, _Map) else node.items, inner)
    _flush(body, indent + 2, inner)
    src.names = body.names
    if body.lines:
        src.add(indent + 1, f"for _ in range({count}):")
        src.lines += body.lines
    src.add(indent, "x(b'\\x00')")


def _rebuild_source(plan: RecordPlan) -> list[str]:
    src = _Source()
    src.add(0, "def rebuild(columns, count, max_size, offset):")
    for i, column in enumerate(plan.columns):
        if column.avro in ("union", "array", "map"):
            src.add(1, f"v{i} = iter(columns[{i}]).__next__")
        elif column.avro == "boolean":
            src.add(1, f"e{i} = iter(list(map(_BYTE.__getitem__, columns[{i}]))).__next__")
        elif column.type is ColumnType.INT:
            src.add(1, f"e{i} = iter(_longs(columns[{i}])).__next__")
        elif column.size is not None:
            src.add(1, f"e{i} = iter(columns[{i}]).__next__")
        else:
            src.add(1, f"e{i} = iter(_strings(columns[{i}])).__next__")
    src.add(1, "for _ in range(count):")
    src.add(2, "o = []")
    src.add(2, "x = o.append")
    pending: list[str] = []
    _rebuild_node(src, 2, plan.root, pending)
    _flush(src, 2, pending)
    src.add(2, "r = b''.join(o)")
    src.add(2, "if len(r) > max_size:")
    src.add(3, "raise _too_large(max_size, offset)")
    src.add(2, "yield r")
    return src.lines


def _too_large(max_event_data_size: int, offset: int) -> LimitExceeded:
    # The words of sinkproto.records.rebuild's error.
    return LimitExceeded(
        f"a rebuilt event_data exceeds max_event_data_size={max_event_data_size}",
        offset=offset,
        requirement="RECORD-6",
    )


_REBUILDERS: dict[int, tuple[RecordPlan, Rebuilder | None]] = {}


def rebuilder(plan: RecordPlan) -> Rebuilder | None:
    """``plan``'s compiled :func:`~sinkproto.records.rebuild` ``(columns, count, max_size, offset)``, or None."""
    cached = _REBUILDERS.get(id(plan))
    if cached is not None and cached[0] is plan:
        return cached[1]
    function = None
    if _compilable(plan):
        env: dict[str, Any] = {
            "_BYTE": _BYTE,
            "_longs": _long_column,
            "_strings": _bytes_column,
            "_unsigned": _unsigned_bytes,
            "_too_large": _too_large,
        }
        function = _compiled(_rebuild_source(plan), "rebuild", env)
    if len(_REBUILDERS) >= _KEPT:
        del _REBUILDERS[next(iter(_REBUILDERS))]
    _REBUILDERS[id(plan)] = (plan, function)
    return function
