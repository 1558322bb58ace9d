"""Records mode of batch v1 (RECORD-1..RECORD-9): Avro records <-> columns, shared by both codecs.

This module holds what records mode means, not how its bytes look: the
flattening of a writer schema into typed columns (RECORD-4), the rule
that says how many values each column holds (RECORD-5), the transposition
of canonical Avro ``event_data`` into column values (RECORD-2) and the
rebuilding of ``event_data`` from them. The column transforms, which are
wire format, are each codec's own (``construct_codec.records``,
``fast_codec.records``).

Nothing here parses untrusted bytes except :func:`transpose`, which reads
an application's own ``event_data`` on the encoding side and answers
None, never an exception, when the data is not canonical Avro of the
schema: the encoder then keeps mode ``columns``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from itertools import repeat
from typing import Any

from .errors import (
    BaseUnavailable,
    DecodeError,
    InconsistentBatch,
    LimitExceeded,
    SchemaError,
    UnknownFormat,
    ValueOutOfRange,
)
from .limits import DEFAULT_LIMITS, MAX_U64
from .messages import MAX_BATCH_ID, BaseLookup, ContextBase, Event
from .primitives import read_varint, varint_bytes, zigzag_decode, zigzag_encode

__all__ = [
    "AGAINST_BASE",
    "INT32",
    "INT64",
    "UINT64",
    "Column",
    "ColumnType",
    "RecordPlan",
    "RecordSchemas",
    "Transpose",
    "against_allowed",
    "base_columns",
    "base_row_column",
    "base_rows",
    "check_context_id",
    "flatten",
    "look_up_base",
    "references",
    "rebuild",
    "transpose",
]

INT32 = (-(1 << 31), (1 << 31) - 1)
INT64 = (-(1 << 63), (1 << 63) - 1)
UINT64 = (0, MAX_U64)


class ColumnType(Enum):
    INT = "int"
    BYTES = "bytes"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a flattened schema.

    ``reach`` says which rows reach the column (RECORD-5): ``None`` for every
    event of the batch; ``(c, b)`` for the values of column ``c`` equal to
    ``b`` (a union branch); ``(c, None)`` for the sum of the values of
    column ``c`` (the items of an array or map). ``low``/``high`` bound an
    int column's values; ``size`` fixes a bytes column's value length.
    """

    path: str
    type: ColumnType
    reach: tuple[int, int | None] | None
    low: int = 0
    high: int = 0
    size: int | None = None
    avro: str = ""
    rule: str = "RECORD-5"  # the requirement a value outside low..high breaks (CTX-6 for base_rows)

    @property
    def per_event(self) -> bool:
        """True when every event reaches the column by the schema's structure: the ``key`` transform needs it (RECORD-10).

        Structure, not count: a union branch every row of a batch takes still has a ``reach``.
        """
        return self.reach is None


# Plan nodes: how one Avro value is laid out over the columns.
@dataclass(frozen=True, slots=True)
class _Leaf:
    column: int
    avro: str  # int long boolean enum float double fixed string bytes


@dataclass(frozen=True, slots=True)
class _Null:
    pass


@dataclass(frozen=True, slots=True)
class _Record:
    fields: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Union:
    column: int
    branches: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Array:
    column: int  # item counts
    items: _Node


@dataclass(frozen=True, slots=True)
class _Map:
    column: int  # item counts
    keys: int  # the key column
    values: _Node


_Node = _Leaf | _Null | _Record | _Union | _Array | _Map

_FIXED_SIZE = {"float": 4, "double": 8}


@dataclass(frozen=True)
class RecordPlan:
    """A writer schema flattened depth first (RECORD-4): its columns and how a value spreads over them."""

    columns: tuple[Column, ...]
    root: Any = field(repr=False)


class _Flattener:
    def __init__(self, max_columns: int) -> None:
        self.columns: list[Column] = []
        self.named: dict[str, Any] = {}
        self.max_columns = max_columns
        self.stack: list[str] = []

    def add(self, column: Column) -> int:
        if len(self.columns) >= self.max_columns:
            raise SchemaError(
                f"the schema flattens to more than {self.max_columns} columns",
                reason="not_flattenable",
                requirement="LIMIT-10",
            )
        self.columns.append(column)
        return len(self.columns) - 1

    def int_column(self, path: str, reach: Any, bounds: tuple[int, int], avro: str) -> int:
        return self.add(Column(path, ColumnType.INT, reach, bounds[0], bounds[1], avro=avro))

    def node(self, schema: Any, path: str, reach: Any, namespace: str = "") -> _Node:
        if isinstance(schema, list):
            branch_column = self.int_column(path + "#branch", reach, (0, len(schema) - 1), "union")
            return _Union(
                branch_column,
                tuple(self.node(b, f"{path}#{i}", (branch_column, i), namespace) for i, b in enumerate(schema)),
            )
        if isinstance(schema, str):
            if schema in self.named or (namespace and f"{namespace}.{schema}" in self.named):
                full = schema if schema in self.named else f"{namespace}.{schema}"
                if full in self.stack:
                    raise SchemaError(
                        f"{full} is recursive: records mode cannot flatten it",
                        reason="not_flattenable",
                        requirement="RECORD-4",
                    )
                return self.node(self.named[full], path, reach, full.rpartition(".")[0])
            return self.primitive(schema, path, reach)
        if not isinstance(schema, Mapping):
            raise SchemaError(
                f"{path}: {schema!r} is not an Avro schema", reason="not_flattenable", requirement="RECORD-4"
            )
        kind = schema.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            name = str(schema["name"])
            space = schema.get("namespace", namespace) if "." not in name else name.rpartition(".")[0]
            full = name if "." in name else (f"{space}.{name}" if space else name)
            self.named[full] = schema
            if kind in ("record", "error"):
                self.stack.append(full)
                fields = tuple(
                    self.node(f["type"], f"{path}.{f['name']}" if path else str(f["name"]), reach, space)
                    for f in schema["fields"]
                )
                self.stack.pop()
                return _Record(fields)
            if kind == "enum":
                return _Leaf(self.int_column(path, reach, (0, len(schema["symbols"]) - 1), "enum"), "enum")
            size = int(schema["size"])
            return _Leaf(self.add(Column(path, ColumnType.BYTES, reach, size=size, avro="fixed")), "fixed")
        if kind == "array":
            counts = self.int_column(path + "#count", reach, (0, MAX_U64), "array")
            return _Array(counts, self.node(schema["items"], path + "[]", (counts, None), namespace))
        if kind == "map":
            counts = self.int_column(path + "#count", reach, (0, MAX_U64), "map")
            keys = self.add(Column(path + "#key", ColumnType.BYTES, (counts, None), avro="string"))
            return _Map(counts, keys, self.node(schema["values"], path + "{}", (counts, None), namespace))
        if isinstance(kind, (str, list, dict)):
            # {"type": "long", "logicalType": ...} and {"type": {...}}: the type is what counts.
            return self.node(kind, path, reach, namespace)
        raise SchemaError(f"{path}: {schema!r} is not an Avro schema", reason="not_flattenable", requirement="RECORD-4")

    def primitive(self, name: str, path: str, reach: Any) -> _Node:
        if name == "null":
            return _Null()
        if name in ("int", "long", "boolean"):
            bounds = {"int": INT32, "long": INT64, "boolean": (0, 1)}[name]
            return _Leaf(self.int_column(path, reach, bounds, name), name)
        if name in _FIXED_SIZE:
            return _Leaf(self.add(Column(path, ColumnType.BYTES, reach, size=_FIXED_SIZE[name], avro=name)), name)
        if name in ("string", "bytes"):
            return _Leaf(self.add(Column(path, ColumnType.BYTES, reach, avro=name)), name)
        raise SchemaError(f"{path}: unknown Avro type {name!r}", reason="not_flattenable", requirement="RECORD-4")


def flatten(schema: Any, *, max_columns: int = 1 << 16) -> RecordPlan:
    """RECORD-4: the columns of ``schema`` (Avro JSON, already loaded), depth first.

    Raises :class:`SchemaError` for what records mode cannot carry (a
    recursive schema, more than ``max_columns`` columns).
    """
    flattener = _Flattener(max_columns)
    root = flattener.node(schema, "", None)
    return RecordPlan(columns=tuple(flattener.columns), root=root)


# -- Avro binary, the subset a canonical encoding uses --------------------------------------------------


class _NotCanonical(Exception):
    """event_data is not the canonical Avro encoding of one record of the schema (RECORD-2)."""


def _long_bytes(value: int) -> bytes:
    return varint_bytes(zigzag_encode(value), wide=True)


class _Reader:
    __slots__ = ("at", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def long(self) -> int:
        try:
            value, self.at = read_varint(self.data, self.at, len(self.data), DEFAULT_LIMITS, "long", wide=True)
        except DecodeError:
            raise _NotCanonical from None
        return zigzag_decode(value)

    def take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise _NotCanonical
        self.at += size
        return self.data[self.at - size : self.at]


def _read(node: _Node, reader: _Reader, columns: list[list[Any]], plan: RecordPlan) -> None:
    if isinstance(node, _Leaf):
        column = plan.columns[node.column]
        if column.type is ColumnType.INT:
            value = reader.long() if node.avro != "boolean" else reader.take(1)[0]
            if not column.low <= value <= column.high:
                raise _NotCanonical
            columns[node.column].append(value)
        else:
            columns[node.column].append(reader.take(column.size if column.size is not None else reader.long()))
    elif isinstance(node, _Record):
        for child in node.fields:
            _read(child, reader, columns, plan)
    elif isinstance(node, _Union):
        branch = reader.long()
        if not 0 <= branch < len(node.branches):
            raise _NotCanonical
        columns[node.column].append(branch)
        _read(node.branches[branch], reader, columns, plan)
    elif isinstance(node, (_Array, _Map)):
        # Only the canonical block structure round-trips: one block with a
        # positive count, then the 0 that ends the list (or just 0).
        count = reader.long()
        if count < 0:
            raise _NotCanonical
        columns[node.column].append(count)
        for _ in range(count):
            if isinstance(node, _Map):
                columns[node.keys].append(reader.take(reader.long()))
                _read(node.values, reader, columns, plan)
            else:
                _read(node.items, reader, columns, plan)
        if count and reader.long() != 0:
            raise _NotCanonical


def transpose(plan: RecordPlan, event_data: Sequence[bytes]) -> list[list[Any]] | None:
    """The column values of ``event_data`` (one Avro record each), or None if one is not canonical (RECORD-2)."""
    columns: list[list[Any]] = [[] for _ in plan.columns]
    for data in event_data:
        reader = _Reader(data)
        try:
            _read(plan.root, reader, columns, plan)
        except (_NotCanonical, RecursionError):
            return None
        if reader.at != len(data):
            return None
    # A value such as an over-long varint decodes but does not re-encode to
    # the same bytes; the comparison is the definition of canonical.
    if list(rebuild(plan, columns, len(event_data), max_event_data_size=MAX_U64)) != list(event_data):
        return None
    return columns


def rebuild(
    plan: RecordPlan, columns: Sequence[Sequence[Any]], count: int, *, max_event_data_size: int, offset: int = 0
) -> Iterable[bytes]:
    """The ``event_data`` of each of ``count`` rows, from column values whose counts were checked (RECORD-5).

    ``max_event_data_size`` bounds every rebuilt record (RECORD-6); ``offset``
    is where the body starts, for that error.
    """
    cursors = [0] * len(columns)

    def write(node: _Node, out: bytearray) -> None:
        if isinstance(node, _Leaf):
            value = columns[node.column][cursors[node.column]]
            cursors[node.column] += 1
            if node.avro == "boolean":
                out.append(value)
            elif plan.columns[node.column].type is ColumnType.INT:
                out += _long_bytes(value)
            else:
                if plan.columns[node.column].size is None:
                    out += _long_bytes(len(value))
                out += value
        elif isinstance(node, _Record):
            for child in node.fields:
                write(child, out)
        elif isinstance(node, _Union):
            branch = columns[node.column][cursors[node.column]]
            cursors[node.column] += 1
            out += _long_bytes(branch)
            write(node.branches[branch], out)
        elif isinstance(node, (_Array, _Map)):
            items = columns[node.column][cursors[node.column]]
            cursors[node.column] += 1
            if items:
                out += _long_bytes(items)
            for _ in range(items):
                if isinstance(node, _Map):
                    key = columns[node.keys][cursors[node.keys]]
                    cursors[node.keys] += 1
                    out += _long_bytes(len(key)) + key
                    write(node.values, out)
                else:
                    write(node.items, out)
                if len(out) > max_event_data_size:
                    break
            out.append(0)
        if len(out) > max_event_data_size:
            raise LimitExceeded(
                f"a rebuilt event_data exceeds max_event_data_size={max_event_data_size}",
                offset=offset,
                requirement="RECORD-6",
            )

    for _ in range(count):
        out = bytearray()
        write(plan.root, out)
        yield bytes(out)


def reach_count(plan: RecordPlan, index: int, count: int, columns: Sequence[Sequence[Any]]) -> int:
    """RECORD-5: how many values column ``index`` holds, from the values of the columns before it."""
    reach = plan.columns[index].reach
    if reach is None:
        return count
    source, branch = reach
    values = columns[source]
    if branch is None:
        return sum(values)
    return sum(1 for v in values if v == branch)


def check_value(column: Column, value: Any, *, offset: int, what: str) -> None:
    """A decoded value against its column's type: int range, fixed size (RECORD-5)."""
    if column.type is ColumnType.INT:
        if not column.low <= value <= column.high:
            raise ValueOutOfRange(
                f"{what}: {value} is outside {column.low}..{column.high} ({column.avro or 'int'})",
                offset=offset,
                requirement=column.rule,
            )
    elif column.size is not None and len(value) != column.size:
        raise InconsistentBatch(
            f"{what}: a {column.avro} value of {len(value)} bytes, not {column.size}",
            offset=offset,
            requirement="RECORD-5",
        )


# -- the schemas both sides know -------------------------------------------------------------------------


class RecordSchemas:
    """The writer schemas records mode may use, by (event_type_id, schema_version), flattened once.

    A codec takes one of these as ``schemas=``; a side builds it from its
    schema registry. Only schemas that flatten are listed: a recursive
    schema is simply not available to records mode.
    """

    def __init__(self, schemas: Mapping[tuple[int, int], Any]) -> None:
        self._schemas = dict(schemas)
        self._plans: dict[tuple[int, int], RecordPlan | None] = {}

    @classmethod
    def from_registry(cls, registry: Any) -> RecordSchemas:
        return cls({(t.id, v.version): v.schema for t in registry for v in t.versions.values()})

    def __contains__(self, key: object) -> bool:
        return key in self._schemas

    def keys(self) -> Iterable[tuple[int, int]]:
        return self._schemas.keys()

    def plan(self, event_type_id: int, schema_version: int) -> RecordPlan | None:
        """The flattened schema, or None if it is unknown or cannot be flattened."""
        key = (event_type_id, schema_version)
        if key not in self._plans:
            schema = self._schemas.get(key)
            try:
                self._plans[key] = None if schema is None else flatten(schema)
            except SchemaError:
                self._plans[key] = None
        return self._plans[key]

    def restricted_to(self, readable: Iterable[tuple[int, int]]) -> RecordSchemas:
        """Only the pairs the peer declared it can read (RECORD-2)."""
        wanted = set(readable)
        return RecordSchemas({k: v for k, v in self._schemas.items() if k in wanted})


# -- mode context (spec/v1/context.md): what both codecs share -------------------------------------------

#: CTX-7: bit 7 of a column's transform byte: its values are differences from the same column in the base.
AGAINST_BASE = 0x80


def against_allowed(column: Column) -> bool:
    """CTX-7: ``against_base`` may be set on an int column every event reaches (offsets and timestamps are such)."""
    return column.type is ColumnType.INT and column.per_event


def split_transform(
    transform: int, column: Column, in_context: bool, reference: Callable[[], Sequence[int]] | None
) -> tuple[int, Sequence[int] | None]:
    """CTX-7: a transform byte read in a column as (transform, the references its values are added to, or None).

    Bit 7 is ``against_base`` only in mode context (elsewhere the byte is an
    unknown transform, for the caller to refuse), and only on a column that
    has a ``reference``; both codecs read it here, at the column's offset 0.
    """
    if not (in_context and transform & AGAINST_BASE):
        return transform, None
    if reference is None:
        raise UnknownFormat(
            f"against_base on column {column.path or 'keys'}: only on offsets, timestamps and int columns "
            "every event reaches, in a batch with a base",
            offset=0,
            requirement="CTX-7",
        )
    return transform & ~AGAINST_BASE, reference()


def base_row_column(base_count: int) -> Column:
    """CTX-6: the ``base_rows`` column of a batch whose base holds ``base_count`` events: values -1..base_count-1."""
    return Column("base_rows", ColumnType.INT, None, -1, base_count - 1, avro="base_rows", rule="CTX-6")


def check_context_id(value: int, *, what: str, offset: int, zero: bool) -> None:
    """CTX-3: ``batch_id`` is 1..2^32-1 (``zero`` False), ``base_id`` 0..2^32-1 (``zero`` True)."""
    if value > MAX_BATCH_ID or (value == 0 and not zero):
        raise ValueOutOfRange(
            f"{what} {value} is outside {0 if zero else 1}..{MAX_BATCH_ID}", offset=offset, requirement="CTX-3"
        )


def look_up_base(
    bases: BaseLookup,
    base_id: int,
    digest: bytes,
    event_type_id: int,
    schema_version: int,
    plan: RecordPlan,
    *,
    offset: int,
    by: Transpose | None = None,
) -> tuple[ContextBase, list[list[Any]]]:
    """CTX-5: the base named by ``base_id`` and ``digest`` and its column values in ``plan``, or :class:`BaseUnavailable`.

    ``offset`` is ``base_id``'s first byte. A base whose ``event_data`` is not
    canonical Avro of the batch's schema cannot have been a batch in mode
    context of it (a receiver builds its bases from what it decoded): it is
    ``stale`` like one of another schema.
    """
    base = bases.get(base_id)
    if base is None:
        raise BaseUnavailable(
            f"no base {base_id} held", base_id=base_id, digest=digest, reason="unknown", offset=offset
        )
    first = base.events[0]
    if base.digest != digest or (first.event_type_id, first.schema_version) != (event_type_id, schema_version):
        raise BaseUnavailable(
            f"base {base_id} held has digest {base.digest.hex()}, event type {first.event_type_id} version "
            f"{first.schema_version}; the batch names digest {digest.hex()}, event type {event_type_id} "
            f"version {schema_version}",
            base_id=base_id,
            digest=digest,
            reason="stale",
            offset=offset,
        )
    columns = base_columns(plan, base, by=by)
    if columns is None:
        raise BaseUnavailable(
            f"base {base_id} held is not records mode of event type {event_type_id} version {schema_version}",
            base_id=base_id,
            digest=digest,
            reason="stale",
            offset=offset,
        )
    return base, columns


# The column values of the bases a codec coded or decoded against lately, by (batch id, digest):
# a sender codes every batch against its last one, so each base is transposed once, not once a batch.
_BASE_COLUMNS: dict[tuple[int, bytes], tuple[RecordPlan, list[list[Any]] | None]] = {}
_BASE_COLUMNS_KEPT = 128


Transpose = Callable[[RecordPlan, Sequence[bytes]], list[list[Any]] | None]
"""A function answering as :func:`transpose` does (the fast codec compiles one per plan)."""


def base_columns(plan: RecordPlan, base: ContextBase, *, by: Transpose | None = None) -> list[list[Any]] | None:
    """The column values of ``base``'s events in ``plan`` (RECORD-4), or None if one is not canonical Avro of it.

    ``by`` transposes in place of :func:`transpose` (the same answers, faster).
    """
    key = (base.batch_id, base.digest)
    cached = _BASE_COLUMNS.get(key)
    if cached is not None and cached[0] is plan:
        return cached[1]
    columns = (by or transpose)(plan, [e.event_data for e in base.events])
    if len(_BASE_COLUMNS) >= _BASE_COLUMNS_KEPT:
        del _BASE_COLUMNS[next(iter(_BASE_COLUMNS))]
    _BASE_COLUMNS[key] = (plan, columns)
    return columns


def base_rows(base: ContextBase, events: Sequence[Event]) -> list[int]:
    """CTX-13: for each event, the first row of ``base`` with its key, or -1 when the base has none."""
    keys = [e.key for e in base.events]
    # Built from the last row to the first, the dict keeps each key's first row.
    first = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))
    return list(map(first.get, [e.key for e in events], repeat(-1)))


def references(base_values: Sequence[int], rows: Sequence[int]) -> list[int]:
    """CTX-7: each row's reference: the base's value in row ``rows[i]``, 0 for a row not in the base (-1)."""
    # Row -1 reads the 0 put after the base's values.
    return list(map([*base_values, 0].__getitem__, rows))
