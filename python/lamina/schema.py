"""Table schemas on disk: ``schema/schema-<id>.json``, with a field id per column."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from lamina.errors import CorruptFileError, InvalidArgumentError

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


def type_from_json(j: Any) -> pa.DataType:
    if isinstance(j, str):
        if j not in _SIMPLE:
            raise CorruptFileError(f"unknown type {j!r} in schema file")
        return _SIMPLE[j]
    kind = j.get("type")
    if kind == "timestamp":
        return pa.timestamp(j["unit"], tz=j.get("tz"))
    if kind == "fixed_size_list":
        return pa.list_(type_from_json(j["item"]), int(j["size"]))
    if kind == "large_list":
        return pa.large_list(type_from_json(j["item"]))
    if kind == "list":
        return pa.list_(type_from_json(j["item"]))
    raise CorruptFileError(f"unknown type {j!r} in schema file")


def check_supported(schema: pa.Schema) -> None:
    for f in schema:
        try:
            type_to_json(f.type)
        except InvalidArgumentError:
            raise InvalidArgumentError(f"column {f.name!r} has unsupported type {f.type}") from None
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

    def to_json(self) -> bytes:
        doc = {
            "format_version": 1,
            "id": self.id,
            "fields": [
                {
                    "id": self.field_ids[f.name],
                    "name": f.name,
                    "type": type_to_json(f.type),
                    "nullable": f.nullable,
                }
                for f in self.schema
            ],
            "next_field_id": self.next_field_id,
            "primary_key": list(self.primary_key),
            "partition_by": list(self.partition_by),
            "buckets": self.buckets,
            "merge_engine": self.merge_engine,
            "options": self.options,
        }
        return json.dumps(doc, indent=2, sort_keys=True).encode()

    @staticmethod
    def from_json(data: bytes) -> TableSchema:
        try:
            doc = json.loads(data)
            if doc.get("format_version", 1) > 1:
                raise CorruptFileError(
                    "schema written by a newer lamina (format_version "
                    f"{doc['format_version']}); upgrade lamina"
                )
            fields = [
                pa.field(f["name"], type_from_json(f["type"]), nullable=f["nullable"])
                for f in doc["fields"]
            ]
            return TableSchema(
                id=int(doc["id"]),
                schema=pa.schema(fields),
                field_ids={f["name"]: int(f["id"]) for f in doc["fields"]},
                primary_key=tuple(doc["primary_key"]),
                partition_by=tuple(doc["partition_by"]),
                buckets=int(doc["buckets"]),
                merge_engine=str(doc["merge_engine"]),
                options={str(k): str(v) for k, v in doc["options"].items()},
                next_field_id=int(doc["next_field_id"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptFileError(f"malformed schema file: {e}") from None
