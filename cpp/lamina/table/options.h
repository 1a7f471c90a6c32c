// What the core needs to know about a primary-key table to write or merge its files.
// Data files hold the table's user columns followed by the system columns below.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lamina/arrow/types.h"
#include "lamina/merge/engine.h"
#include "lamina/util/status.h"

namespace lamina::table {

// System columns of data files. `_kind`: the row kind, merge/row_kind.h (0 = upsert,
// 1 = delete, 2 = upsert that hides every older version).
// `_seq`: absolute sequence of the row (only files written by compaction have it; other
// rows take their file's priority).
constexpr const char* kKindColumn = "_kind";
constexpr const char* kSeqColumn = "_seq";

// A non-nullable system column of type `id`.
Field SystemField(const char* name, TypeId id);

struct TableOptions {
  Schema table_schema;                  // user columns only
  std::vector<std::string> key_columns;
  merge::Engine engine = merge::Engine::kDeduplicate;
  std::map<std::string, merge::AggFn> aggregates;  // aggregate engine only

  // Indexes into table_schema, filled by Validate().
  std::vector<int> key_index;
};

// Checks names and types: keys exist, are distinct and of key types; aggregates name
// non-key columns and fit their types; no user column uses a system column's name.
// SchemaError or InvalidArgument naming the column.
Status Validate(TableOptions* options);

// The fold function of table column `c`.
merge::AggFn ColumnFn(const TableOptions& options, int c);

}  // namespace lamina::table
