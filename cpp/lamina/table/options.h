// What the core needs to know about a primary-key table to write or merge its files.
// Data files hold the table's user columns followed by the system columns below.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lamina/arrow/array.h"
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

// Schema metadata key of data files whose top-level field ids are the table schema's
// (value "table"): readers match their columns by field id. Files without it (written
// before field ids, or by a core call given no ids) are matched by name.
constexpr const char* kFieldIdsKey = "lamina.field_ids";

// A non-nullable system column of type `id`.
Field SystemField(const char* name, TypeId id);

struct TableOptions {
  Schema table_schema;                  // user columns only
  std::vector<std::string> key_columns;
  merge::Engine engine = merge::Engine::kDeduplicate;
  std::map<std::string, merge::AggFn> aggregates;  // aggregate engine only

  // Per table column (or shorter): the value rows of files without the column read as (a
  // column added with a default, issue 12); nullopt: those rows read null. SetDefault.
  std::vector<std::optional<std::string>> defaults;

  // True when table_schema's top-level field ids are the schema file's (SetSchemaFieldIds):
  // data files are written with them and read by them.
  bool schema_field_ids = false;

  // Indexes into table_schema, filled by Validate().
  std::vector<int> key_index;
  bool validated = false;
};

// Gives table column i the schema file's field id ids[i] (nested fields get 0).
// InvalidArgument unless there is one id per column, each in [1, 2^31-1] and distinct.
Status SetSchemaFieldIds(const std::vector<int64_t>& ids, TableOptions* options);

// Sets table column `c`'s default: for integer, float, bool, date and timestamp columns the
// value's little-endian bytes in the column's width (bool: one byte 0/1), for string and
// binary columns the bytes themselves. InvalidArgument for other types or a wrong size.
Status SetDefault(TableOptions* options, size_t c, std::string bytes);

// `n` copies of table column `c`'s default (REQUIRES: HasDefault(options, c)).
OwnedArray DefaultArray(const TableOptions& options, size_t c, size_t n);

// True if column `c` has a default.
inline bool HasDefault(const TableOptions& o, size_t c) {
  return c < o.defaults.size() && o.defaults[c].has_value();
}

// The schema of the data files of the table: its columns, `_kind`, and `_seq` when
// `with_seq` (compaction output). With schema field ids, they are stamped (metadata
// kFieldIdsKey); otherwise the columns keep the core's pre-order numbering.
Schema DataFileSchema(const TableOptions& options, bool with_seq);

// Checks names and types: keys exist, are distinct and of key types; aggregates name
// non-key columns and fit their types; no user column uses a system column's name.
// SchemaError or InvalidArgument naming the column. Runs once: options already
// validated (a TableSpec's) return OK at once.
Status Validate(TableOptions* options);

// The fold function of table column `c`.
merge::AggFn ColumnFn(const TableOptions& options, int c);

}  // namespace lamina::table
