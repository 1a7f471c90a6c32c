// How a data file's columns map onto the table a merge reads it for. The one place these
// rules are written: merged reads, lookups, takes and compaction resolve every request
// and file through it. Columns are matched by field id in files stamped with the table
// schema's ids (options.h kFieldIdsKey), by name in older files.
#pragma once

#include <string>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/arrow/types.h"
#include "lamina/table/options.h"
#include "lamina/util/status.h"

namespace lamina::table {

// The columns a read asks for, resolved against the table schema.
struct RequestedColumns {
  std::vector<int> table_col;  // requested i -> table column
  std::vector<int> key_pos;    // requested i -> position among the keys, or -1
  Schema schema;               // the requested fields, in request order
};

// SchemaError naming a requested column the table lacks.
Status ResolveRequest(const TableOptions& o, const std::vector<std::string>& columns,
                      RequestedColumns* out);

struct RunColumns {
  std::vector<size_t> key;  // file column of each key column, in key order
  int kind = -1;            // file column of `_kind`, or -1: upserts only
  int seq = -1;             // file column of `_seq`, or -1: rows take the file's priority
};

// Corruption if the file at `path` (schema `fs`) lacks a key column or a system column
// has the wrong type; SchemaError if a key column's type is not the table's.
Status ResolveRunColumns(const std::string& path, const Schema& fs, const TableOptions& o,
                         RunColumns* out);

// The file column of table column `field`: the top-level column with its field id in a
// file stamped with schema field ids (and `field` has one), else the column of its name;
// -1 if none.
int FileColumn(const Schema& fs, const Field& field);

// The file column holding table column `field` (FileColumn), or -1 if the file lacks it
// (its values read as null). The file's type may be narrower when a schema change widened
// the column (arrow/widen.h CanWiden; ToTableType converts what is read); any other type
// difference is InvalidArgument.
Result<int> ValueColumn(const std::string& path, const Schema& fs, const Field& field);

// `a`, read from a file column ValueColumn accepted for `field`, in `field`'s type.
Status ToTableType(const Field& field, OwnedArray* a);

}  // namespace lamina::table
