#include "lamina/table/options.h"

#include <algorithm>
#include <cstdint>
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
