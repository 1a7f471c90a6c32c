#include "lamina/table/options.h"

#include <algorithm>

#include "lamina/merge/key.h"

namespace lamina::table {

Field SystemField(const char* name, TypeId id) {
  Field f;
  f.name = name;
  f.type.id = id;
  f.nullable = false;
  return f;
}

Status Validate(TableOptions* o) {
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
  return Status::OK();
}

merge::AggFn ColumnFn(const TableOptions& o, int c) {
  if (std::find(o.key_index.begin(), o.key_index.end(), c) != o.key_index.end()) {
    return merge::AggFn::kLastValue;
  }
  return merge::ColumnFn(o.engine, o.table_schema.fields[c].name, o.aggregates);
}

}  // namespace lamina::table
