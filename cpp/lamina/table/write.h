// The write path of a primary-key table: validate, route rows to (partition, bucket),
// sort each bucket by key, collapse duplicate keys with the merge engine (a later row of
// the input is newer), and write each bucket's rows as one sorted run of level-0 files.
//
// Files land in <directory>/data/<partition path>/bucket-<b>/<file_prefix>-<n>.lam (see
// partition.h). The files of one bucket from one call have disjoint, ascending key
// ranges (n = 0, 1, ... in key order) and together form one sorted run. Nothing is
// committed here: the caller records the returned metadata in a snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/merge/row_kind.h"
#include "lamina/table/options.h"
#include "lamina/table/partition.h"
#include "lamina/util/status.h"

namespace lamina::table {

struct WriteRequest {
  TableOptions table;
  std::vector<std::string> partition_columns;  // a subset of the key columns
  int64_t buckets = 1;
  // kUpsert: the input has every table column; kDelete: keys only. Nothing else.
  merge::RowKind kind = merge::RowKind::kUpsert;
  std::string directory;
  std::string file_prefix;
  int64_t target_file_size = 128 << 20;
  bool sync = false;
};

struct WrittenFile {
  std::string path;  // relative to the table directory
  std::vector<PartitionValue> partition;  // one per partition column
  int64_t bucket = 0;
  uint64_t row_count = 0;
  uint64_t file_size = 0;
  std::string min_key, max_key;  // normalized key bytes (key.h)
  uint64_t delete_count = 0;
  uint32_t run_file = 0;  // n: position of the file within its bucket's run
};

// `batches[b][c]` is column c (of `input`) of batch b. On failure, files written so far
// are removed and nothing is returned. Validation (schema, null keys) happens before any
// file is written.
Result<std::vector<WrittenFile>> WriteTable(const Schema& input,
                                            const std::vector<std::vector<ArrayView>>& batches,
                                            WriteRequest request);

}  // namespace lamina::table
