#include "lamina/table/options.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "lamina/merge/key.h"

namespace lamina::table {

Field SystemField(const char* name, TypeId id) {
  Field f;
  f.name = name;
  f.type.id = id;
  f.nullable = false;
  return f;
}

Status SetSchemaFieldIds(const std::vector<int64_t>& ids, TableOptions* o) {
  std::vector<Field>& fields = o->table_schema.fields;
  if (ids.size() != fields.size()) {
    return Status::InvalidArgument("field_ids has " + std::to_string(ids.size()) +
                                   " ids for " + std::to_string(fields.size()) + " columns");
  }
  std::set<int64_t> seen;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 1 || ids[i] > INT32_MAX || !seen.insert(ids[i]).second) {
      return Status::InvalidArgument("field id " + std::to_string(ids[i]) + " of column '" +
                                     fields[i].name + "' is out of range or repeated");
    }
    fields[i].field_id = static_cast<int32_t>(ids[i]);
    if (fields[i].type.child) {
      auto child = std::make_shared<Field>(*fields[i].type.child);
      child->field_id = 0;
      fields[i].type.child = std::move(child);
    }
  }
  o->schema_field_ids = true;
  o->validated = false;
  return Status::OK();
}

Status SetDefault(TableOptions* o, size_t c, std::string bytes) {
  const std::vector<Field>& fields = o->table_schema.fields;
  if (c >= fields.size()) return Status::InvalidArgument("no such column for a default");
  const DataType& t = fields[c].type;
  bool fixed = t.byte_width() > 0 && !t.is_list_like() && t.id != TypeId::kFixedSizeList;
  if (t.id == TypeId::kBool) {
    if (bytes.size() != 1 || static_cast<uint8_t>(bytes[0]) > 1) {
      return Status::InvalidArgument("a bool default is one byte, 0 or 1");
    }
  } else if (fixed) {
    if (bytes.size() != static_cast<size_t>(t.byte_width())) {
      return Status::InvalidArgument("default of column '" + fields[c].name + "' has " +
                                     std::to_string(bytes.size()) + " bytes, its type " +
                                     std::to_string(t.byte_width()));
    }
  } else if (!t.is_binary_like()) {
    return Status::InvalidArgument("column '" + fields[c].name + "' of type " + t.ToString() +
                                   " cannot have a default");
  }
  o->defaults.resize(fields.size());
  o->defaults[c] = std::move(bytes);
  return Status::OK();
}

OwnedArray DefaultArray(const TableOptions& o, size_t c, size_t n) {
  const DataType& t = o.table_schema.fields[c].type;
  const std::string& v = *o.defaults[c];
  OwnedArray a;
  a.type = t;
  a.length = static_cast<int64_t>(n);
  if (t.id == TypeId::kBool) {
    a.values = Buffer::Allocate((n + 7) / 8);
    if (v[0] != 0) std::memset(a.values->data(), 0xFF, (n + 7) / 8);
  } else if (t.is_binary_like()) {
    bool large = t.has_large_offsets();
    a.values = Buffer::Allocate((n + 1) * (large ? 8 : 4), /*zero=*/false);
    for (size_t i = 0; i <= n; ++i) {
      int64_t off = static_cast<int64_t>(i * v.size());
      if (large) a.values->as<int64_t>()[i] = off;
      else a.values->as<int32_t>()[i] = static_cast<int32_t>(off);
    }
    a.data = Buffer::Allocate(n * v.size(), /*zero=*/false);
    for (size_t i = 0; i < n; ++i) std::memcpy(a.data->data() + i * v.size(), v.data(), v.size());
  } else {
    a.values = Buffer::Allocate(n * v.size(), /*zero=*/false);
    for (size_t i = 0; i < n; ++i) std::memcpy(a.values->data() + i * v.size(), v.data(), v.size());
  }
  return a;
}

Schema DataFileSchema(const TableOptions& o, bool with_seq) {
  Schema s = o.table_schema;
  s.metadata.clear();
  if (o.schema_field_ids) s.metadata.emplace_back(kFieldIdsKey, "table");
  s.fields.push_back(SystemField(kKindColumn, TypeId::kInt8));
  if (with_seq) s.fields.push_back(SystemField(kSeqColumn, TypeId::kUInt64));
  return s;
}

Status Validate(TableOptions* o) {
  if (o->validated) return Status::OK();
  const Schema& s = o->table_schema;
  for (const Field& f : s.fields) {
    if (f.name == kKindColumn || f.name == kSeqColumn) {
      return Status::SchemaError("column name '" + f.name + "' is reserved for lamina");
    }
  }
  if (o->key_columns.empty()) return Status::InvalidArgument("a primary key needs at least one column");
  o->key_index.clear();
  for (const std::string& k : o->key_columns) {
    int i = s.FieldIndex(k);
    if (i < 0) return Status::SchemaError("primary key column '" + k + "' is not in the schema");
    if (std::count(o->key_columns.begin(), o->key_columns.end(), k) > 1) {
      return Status::InvalidArgument("primary key column '" + k + "' is listed twice");
    }
    if (!merge::IsKeyType(s.fields[i].type)) {
      return Status::SchemaError("primary key column '" + k + "' has type " +
                                 s.fields[i].type.ToString() +
                                 "; keys must be integers, strings or binary");
    }
    o->key_index.push_back(i);
  }
  if (!o->aggregates.empty() && o->engine != merge::Engine::kAggregate) {
    return Status::InvalidArgument("aggregate functions need merge engine 'aggregate'");
  }
  for (const auto& [name, fn] : o->aggregates) {
    int i = s.FieldIndex(name);
    if (i < 0) return Status::SchemaError("aggregated column '" + name + "' is not in the schema");
    if (std::find(o->key_columns.begin(), o->key_columns.end(), name) != o->key_columns.end()) {
      return Status::SchemaError("primary key column '" + name + "' cannot be aggregated");
    }
    LAMINA_RETURN_IF_ERROR(merge::CheckAggregate(fn, s.fields[i]));
  }
  o->validated = true;
  return Status::OK();
}

merge::AggFn ColumnFn(const TableOptions& o, int c) {
  if (std::find(o.key_index.begin(), o.key_index.end(), c) != o.key_index.end()) {
    return merge::AggFn::kLastValue;
  }
  return merge::ColumnFn(o.engine, o.table_schema.fields[c].name, o.aggregates);
}

}  // namespace lamina::table
