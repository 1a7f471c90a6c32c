// Merge-on-read of one bucket: every file of the bucket is a sorted run; their keys are
// merged (by key, then sequence) in key ranges on the thread pool (merge/mread_merge.h),
// each key's versions are folded by the merge engine, deleted keys are dropped, and only
// the requested columns are decoded and gathered. The result is one batch sorted by key.
// When every requested column keeps one version per key (deduplicate, first_row), the
// merge emits that selection directly; a single integer key column is compared raw.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/table/options.h"
#include "lamina/util/status.h"

namespace lamina::table {

struct ReadFile {
  std::string path;
  uint64_t priority = 0;  // the sequence of rows of a file without `_seq`; later commits larger
};

struct MergeResult {
  Schema schema;  // the requested columns, typed as in the table schema
  std::vector<OwnedArray> columns;
  int64_t length = 0;
};

// A file that lacks a requested non-key column contributes nulls to it (a column added
// later). REQUIRES: files hold the table's key columns with the table's types.
Result<MergeResult> MergeRead(const std::vector<ReadFile>& files,
                              const std::vector<std::string>& columns, TableOptions options);

}  // namespace lamina::table
