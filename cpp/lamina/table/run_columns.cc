#include "lamina/table/run_columns.h"

#include "lamina/arrow/widen.h"

namespace lamina::table {
namespace {

bool HasSchemaFieldIds(const Schema& fs) {
  for (const auto& [k, v] : fs.metadata) {
    if (k == kFieldIdsKey) return v == "table";
  }
  return false;
}

}  // namespace

int FileColumn(const Schema& fs, const Field& field) {
  if (field.field_id > 0 && HasSchemaFieldIds(fs)) {
    for (size_t c = 0; c < fs.fields.size(); ++c) {
      if (fs.fields[c].field_id == field.field_id) return static_cast<int>(c);
    }
    return -1;
  }
  return fs.FieldIndex(field.name);
}

Status ResolveRequest(const TableOptions& o, const std::vector<std::string>& columns,
                      RequestedColumns* out) {
  *out = RequestedColumns();
  const Schema& ts = o.table_schema;
  for (const std::string& name : columns) {
    int t = ts.FieldIndex(name);
    if (t < 0) return Status::SchemaError("column '" + name + "' is not in the table schema");
    out->table_col.push_back(t);
    int kp = -1;
    for (size_t k = 0; k < o.key_index.size(); ++k) {
      if (o.key_index[k] == t) kp = static_cast<int>(k);
    }
    out->key_pos.push_back(kp);
    out->schema.fields.push_back(ts.fields[t]);
  }
  return Status::OK();
}

Status ResolveRunColumns(const std::string& path, const Schema& fs, const TableOptions& o,
                         RunColumns* out) {
  *out = RunColumns();
  for (size_t k = 0; k < o.key_columns.size(); ++k) {
    const Field& want = o.table_schema.fields[o.key_index[k]];
    int c = o.schema_field_ids ? FileColumn(fs, want) : fs.FieldIndex(want.name);
    if (c < 0) {
      return Status::Corruption(path + ": data file lacks primary key column '" + want.name + "'");
    }
    if (!fs.fields[c].type.Equals(want.type)) {
      return Status::SchemaError(path + ": primary key column '" + want.name + "' has type " +
                                 fs.fields[c].type.ToString() + ", the table schema has " +
                                 want.type.ToString());
    }
    out->key.push_back(static_cast<size_t>(c));
  }
  out->kind = fs.FieldIndex(kKindColumn);
  out->seq = fs.FieldIndex(kSeqColumn);
  if (out->kind >= 0 && fs.fields[out->kind].type.id != TypeId::kInt8) {
    return Status::Corruption(path + ": _kind is not int8");
  }
  if (out->seq >= 0 && fs.fields[out->seq].type.id != TypeId::kUInt64) {
    return Status::Corruption(path + ": _seq is not uint64");
  }
  return Status::OK();
}

Result<int> ValueColumn(const std::string& path, const Schema& fs, const Field& field) {
  int c = FileColumn(fs, field);
  if (c < 0) return -1;
  if (!fs.fields[c].type.Equals(field.type) && !CanWiden(fs.fields[c].type, field.type)) {
    return Status::InvalidArgument(path + ": column '" + fs.fields[c].name + "' has type " +
                                   fs.fields[c].type.ToString() + ", the table schema has " +
                                   field.type.ToString() + " (casting on read is not supported)");
  }
  return c;
}

Status ToTableType(const Field& field, OwnedArray* a) {
  if (a->type.Equals(field.type)) return Status::OK();
  return Widen(field.type, a);
}

}  // namespace lamina::table
