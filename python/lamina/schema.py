"""Table schemas on disk: ``schema/schema-<id>.json``, with a field id per column."""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lamina import _core
from lamina import metadata as md
from lamina import options as opts
from lamina.errors import CorruptFileError, InvalidArgumentError

if TYPE_CHECKING:
    from lamina.io import FileIO

# 2: fields may have a "default" (a reader of version 1 would read null there); files
# without defaults are still written as version 1.
SCHEMA_FORMAT_VERSION = 2
MAX_DEFAULT_BYTES = 64  # of a string default
MAX_FIELDS = 1 << 17
MAX_FIELD_ID = (1 << 31) - 1
MAX_SCHEMA_ID = (1 << 31) - 1
MAX_BUCKETS = 1 << 16
# Values per fixed_size_list row. Bounded so a planted schema cannot make a read fill
# a missing column with rows * size nulls of an absurd size.
MAX_LIST_SIZE = 1 << 20
_TYPE_DEPTH = 3  # list<item>: deeper types are not stored (check_supported)
_TIME_UNITS = ("s", "ms", "us", "ns")

_SIMPLE: dict[str, pa.DataType] = {
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "large_string": pa.large_string(),
    "binary": pa.binary(),
    "large_binary": pa.large_binary(),
    "date32": pa.date32(),
}
_SIMPLE_NAMES = {v: k for k, v in _SIMPLE.items()}

KEY_TYPES = {
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "string", "large_string", "binary", "large_binary",
}  # fmt: skip


def type_to_json(t: pa.DataType) -> Any:
    if t in _SIMPLE_NAMES:
        return _SIMPLE_NAMES[t]
    if pa.types.is_timestamp(t):
        return {"type": "timestamp", "unit": t.unit, "tz": t.tz}
    if pa.types.is_fixed_size_list(t):
        return {"type": "fixed_size_list", "size": t.list_size, "item": type_to_json(t.value_type)}
    if pa.types.is_large_list(t):
        return {"type": "large_list", "item": type_to_json(t.value_type)}
    if pa.types.is_list(t):
        return {"type": "list", "item": type_to_json(t.value_type)}
    raise InvalidArgumentError(f"unsupported type {t}")


def type_from_json(j: Any, depth: int = 0) -> pa.DataType:
    """The Arrow type of a schema file's type JSON; CorruptFileError if malformed."""
    if isinstance(j, str):
        if j not in _SIMPLE:
            raise CorruptFileError(f"unknown type {md.brief(j)} in schema file")
        return _SIMPLE[j]
    if not isinstance(j, dict) or depth >= _TYPE_DEPTH:
        raise CorruptFileError(f"unknown type {md.brief(j)} in schema file")
    kind = j.get("type")
    what = "schema file type"
    if kind == "timestamp":
        unit = j.get("unit")
        tz = j.get("tz")
        if unit not in _TIME_UNITS or not (tz is None or (isinstance(tz, str) and len(tz) < 64)):
            raise CorruptFileError(f"bad timestamp type {md.brief(j)} in schema file")
        try:
            return pa.timestamp(unit, tz=tz)
        except (pa.ArrowException, ValueError, TypeError):
            raise CorruptFileError(f"bad timestamp type {md.brief(j)} in schema file") from None
    if kind == "fixed_size_list":
        size = md.get_int(j, "size", what, 1, MAX_LIST_SIZE)
        return pa.list_(type_from_json(j.get("item"), depth + 1), size)
    if kind == "large_list":
        return pa.large_list(type_from_json(j.get("item"), depth + 1))
    if kind == "list":
        return pa.list_(type_from_json(j.get("item"), depth + 1))
    raise CorruptFileError(f"unknown type {md.brief(j)} in schema file")


def check_supported(schema: pa.Schema) -> None:
    for f in schema:
        try:
            type_to_json(f.type)
        except InvalidArgumentError:
            raise InvalidArgumentError(f"column {f.name!r} has unsupported type {f.type}") from None
        if pa.types.is_fixed_size_list(f.type) and not 1 <= f.type.list_size <= MAX_LIST_SIZE:
            raise InvalidArgumentError(
                f"column {f.name!r}: fixed_size_list size must be in [1, {MAX_LIST_SIZE}]"
            )
        if pa.types.is_list(f.type) or pa.types.is_large_list(f.type):
            v = f.type.value_type
            if pa.types.is_list(v) or pa.types.is_large_list(v) or pa.types.is_fixed_size_list(v):
                raise InvalidArgumentError(
                    f"column {f.name!r} has unsupported type {f.type} (nested list)"
                )
        if f.name.startswith("_"):
            raise InvalidArgumentError(
                f"column {f.name!r}: names starting with '_' are reserved for lamina"
            )


_INT_BITS = {
    pa.int8(): (8, True), pa.int16(): (16, True), pa.int32(): (32, True), pa.int64(): (64, True),
    pa.uint8(): (8, False), pa.uint16(): (16, False), pa.uint32(): (32, False),
    pa.uint64(): (64, False),
}  # fmt: skip
_TIME_ORDER = {u: i for i, u in enumerate(_TIME_UNITS)}


def widens_losslessly(given: pa.DataType, expected: pa.DataType) -> bool:
    """True if every value of type ``given`` has an equal value of type ``expected``.

    These are the only conversions a write makes (docs/tables.md, "Writing data"):
    integers to wider integers (unsigned to a wider signed one too), float16/float32 to
    float64, integers to floats when each value is exact (the cast checks it: an int64
    above 2**53 is refused), string <-> large_string (and string_view),
    binary <-> large_binary (and binary_view), a dictionary to its value type, a null
    column to any type, a timestamp to another unit with the same time zone (a value
    the coarser unit cannot hold exactly is refused when the data is cast), and lists
    whose items widen so. Everything else (a string to an integer, a bool to an integer,
    a timestamp to an integer, int64 to float64, a float to an integer) is refused.
    """
    if given.equals(expected):
        return True
    if pa.types.is_null(given):
        return True
    if pa.types.is_dictionary(given):
        return widens_losslessly(given.value_type, expected)
    if given in _INT_BITS and expected in _INT_BITS:
        (gb, gs), (eb, es) = _INT_BITS[given], _INT_BITS[expected]
        return (gs == es and gb <= eb) or (not gs and es and gb < eb)
    if pa.types.is_floating(expected) and given in _INT_BITS:
        return True  # the cast refuses a value the float cannot hold exactly (> 2**53)
    if expected == pa.float64():
        return bool(given in (pa.float16(), pa.float32()))
    if expected == pa.float32():
        return bool(given == pa.float16())
    groups = (
        (pa.string(), pa.large_string(), pa.string_view()),
        (pa.binary(), pa.large_binary(), pa.binary_view()),
    )
    for g in groups:
        if given in g and expected in g:
            return True
    if pa.types.is_timestamp(given) and pa.types.is_timestamp(expected):
        return bool(given.tz == expected.tz)
    if pa.types.is_fixed_size_list(expected):
        return (
            pa.types.is_fixed_size_list(given)
            and given.list_size == expected.list_size
            and widens_losslessly(given.value_type, expected.value_type)
        )
    if pa.types.is_list(expected) or pa.types.is_large_list(expected):
        return (pa.types.is_list(given) or pa.types.is_large_list(given)) and widens_losslessly(
            given.value_type, expected.value_type
        )
    return False


def check_default(typ: pa.DataType, value: Any) -> Any:
    """``value`` as the default of a column of type ``typ`` (as stored in the schema
    file: a JSON number, bool or string); InvalidArgumentError if it does not fit.

    Defaults exist for integer, float, bool and string columns; a string default holds at
    most MAX_DEFAULT_BYTES bytes, a float one is finite."""
    if value is None:
        raise InvalidArgumentError("a default cannot be null (omit it: old rows read null)")
    if pa.types.is_boolean(typ):
        ok = isinstance(value, bool)
    elif pa.types.is_integer(typ):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif pa.types.is_floating(typ) and not pa.types.is_float16(typ):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and math.isfinite(value)
        value = float(value) if ok else value
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        ok = isinstance(value, str) and len(value.encode()) <= MAX_DEFAULT_BYTES
    else:
        raise InvalidArgumentError(
            f"columns of type {typ} cannot have a default (integers, floats, bools, strings)"
        )
    if ok:
        try:
            pa.scalar(value, typ)
        except (pa.ArrowInvalid, OverflowError, TypeError):
            ok = False
    if not ok:
        raise InvalidArgumentError(f"default {md.brief(value)} does not fit type {typ}")
    return value


def default_bytes(typ: pa.DataType, value: Any) -> bytes:
    """The bytes the core repeats for rows without the column (table/options.h)."""
    if pa.types.is_boolean(typ):
        return b"\x01" if value else b"\x00"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return str(value).encode()
    width = typ.bit_width // 8
    data: bytes = pa.array([value], typ).buffers()[1].to_pybytes()
    return data[:width]


@dataclass(frozen=True)
class TableSchema:
    """One version of a table's schema and its fixed properties."""

    id: int
    schema: pa.Schema
    field_ids: dict[str, int]
    primary_key: tuple[str, ...]
    partition_by: tuple[str, ...]
    buckets: int
    merge_engine: str
    options: dict[str, str] = field(default_factory=dict)
    next_field_id: int = 0
    defaults: dict[str, Any] = field(default_factory=dict)  # column -> value of old rows

    @functools.cached_property
    def core_spec(self) -> _core.TableSpec:
        """The core's typed handle of this schema version (key, engine, aggregates,
        columns and their field ids), parsed and validated once."""
        return _core.TableSpec(
            self.schema.__arrow_c_schema__(),
            list(self.primary_key),
            self.merge_engine,
            opts.aggregates(self.options),
            [self.field_ids[f.name] for f in self.schema],
            {n: default_bytes(self.schema.field(n).type, v) for n, v in self.defaults.items()},
        )

    def to_json(self) -> bytes:
        fields = []
        for f in self.schema:
            entry = {
                "id": self.field_ids[f.name],
                "name": f.name,
                "type": type_to_json(f.type),
                "nullable": f.nullable,
            }
            if f.name in self.defaults:
                entry["default"] = self.defaults[f.name]
            fields.append(entry)
        doc = {
            "format_version": 2 if self.defaults else 1,
            "id": self.id,
            "fields": fields,
            "next_field_id": self.next_field_id,
            "primary_key": list(self.primary_key),
            "partition_by": list(self.partition_by),
            "buckets": self.buckets,
            "merge_engine": self.merge_engine,
            "options": self.options,
        }
        return json.dumps(doc, indent=2, sort_keys=True).encode()

    @staticmethod
    def from_json(data: bytes, what: str = "schema file") -> TableSchema:
        """Parses and checks a schema file.

        Raises:
            CorruptFileError: Not a valid schema (bad JSON, a missing field, a wrong type,
                repeated names or field ids, a key or partition column that is not valid).
            UnsupportedVersionError: Written by a newer format version.
        """
        doc = md.parse_json(data, what)
        md.check_format_version(doc, what, SCHEMA_FORMAT_VERSION)
        fields = []
        field_ids: dict[str, int] = {}
        defaults: dict[str, Any] = {}
        for f in md.get_list(doc, "fields", what, MAX_FIELDS):
            if not isinstance(f, dict):
                raise CorruptFileError(f"{what}: a field is not an object")
            name = md.get_str(f, "name", what)
            fid = md.get_int(f, "id", what, 1, MAX_FIELD_ID)
            nullable = f.get("nullable")
            if not name or not isinstance(nullable, bool):
                raise CorruptFileError(f"{what}: field {md.brief(name)} is malformed")
            if name in field_ids:
                raise CorruptFileError(f"{what}: column {md.brief(name)} appears twice")
            field_ids[name] = fid
            typ = type_from_json(f.get("type"))
            fields.append(pa.field(name, typ, nullable=nullable))
            if "default" in f:
                try:
                    defaults[name] = check_default(typ, f["default"])
                except InvalidArgumentError as e:
                    raise CorruptFileError(f"{what}: column {md.brief(name)}: {e}") from None
        if not fields:
            raise CorruptFileError(f"{what} has no columns")
        if len(set(field_ids.values())) != len(field_ids):
            raise CorruptFileError(f"{what}: two columns share a field id")
        schema = pa.schema(fields)
        try:
            check_supported(schema)
        except InvalidArgumentError as e:
            raise CorruptFileError(f"{what}: {e}") from None
        next_id = md.get_int(doc, "next_field_id", what, 1, MAX_FIELD_ID + 1)
        if next_id <= max(field_ids.values()):
            raise CorruptFileError(f"{what}: next_field_id is not above every field id")
        pk = md.get_str_list(doc, "primary_key", what, len(fields))
        if not pk or len(set(pk)) != len(pk):
            raise CorruptFileError(f"{what}: the primary key is empty or repeats a column")
        for c in pk:
            if c not in field_ids:
                raise CorruptFileError(f"{what}: key column {md.brief(c)} is not a column")
            kf = schema.field(c)
            if kf.nullable or type_to_json(kf.type) not in KEY_TYPES:
                raise CorruptFileError(f"{what}: key column {md.brief(c)} has a bad type")
        parts = md.get_str_list(doc, "partition_by", what, len(pk))
        if len(set(parts)) != len(parts) or not set(parts) <= set(pk):
            raise CorruptFileError(f"{what}: partition columns must be distinct key columns")
        engine = md.get_str(doc, "merge_engine", what)
        if engine not in opts.MERGE_ENGINES:
            raise CorruptFileError(f"{what}: unknown merge_engine {md.brief(engine)}")
        options = doc.get("options", {})
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise CorruptFileError(f"{what}: options must map names to strings")
        _check_options(options, engine, schema, pk, what)
        return TableSchema(
            id=md.get_int(doc, "id", what, 0, MAX_SCHEMA_ID),
            schema=schema,
            field_ids=field_ids,
            primary_key=tuple(pk),
            partition_by=tuple(parts),
            buckets=md.get_int(doc, "buckets", what, 1, MAX_BUCKETS),
            merge_engine=engine,
            options=dict(options),
            next_field_id=next_id,
            defaults=defaults,
        )


def _check_options(
    options: dict[str, str], engine: str, schema: pa.Schema, pk: list[str], what: str
) -> None:
    try:
        opts.validate(options, engine)  # integer options are range-checked there
    except InvalidArgumentError as e:
        raise CorruptFileError(f"{what}: {e}") from None
    for col in opts.aggregates(options):
        if col not in schema.names or col in pk:
            raise CorruptFileError(f"{what}: an aggregate names no value column {md.brief(col)}")


def read_schema(root: str, io: FileIO, sid: int, containment: md.Containment) -> TableSchema:
    """``<root>/schema/schema-<sid>.json``, checked (see ``TableSchema.from_json``).

    Raises:
        FileNotFoundError: No such schema file.
        CorruptFileError: It is malformed, leads out of the table or holds another id.
        UnsupportedVersionError: Written by a newer format version.
    """
    path = os.path.join(root, "schema", f"schema-{sid}.json")
    what = f"schema-{sid}.json"
    containment.check(path, what, md.MAX_JSON_BYTES)
    ts = TableSchema.from_json(io.read_bytes(path), what)
    if ts.id != sid:
        raise CorruptFileError(f"{what} holds schema {ts.id}")
    return ts
