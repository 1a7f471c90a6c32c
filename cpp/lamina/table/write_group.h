// The second half of WriteTable (write.h): one group's -- one (partition, bucket)'s --
// rows sorted by key, their versions collapsed, and written as one sorted run of files.
// The first half (write.cc) validates, normalizes keys and routes rows to groups.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/merge/engine.h"
#include "lamina/merge/key.h"
#include "lamina/table/write.h"
#include "lamina/util/status.h"

namespace lamina::table {

// The rows of all batches in one numbering (batch after batch), with their normalized keys
// and partition keys.
struct InputRows {
  size_t nb = 0, n = 0;
  std::vector<uint64_t> start;     // the first row of each batch, then n
  std::vector<uint32_t> batch_of;  // the batch of each row (only if nb > 1)
  merge::NormalizedKeys keys, pkeys;

  void Locate(uint64_t g, uint32_t* b, uint32_t* r) const {
    *b = nb > 1 ? batch_of[g] : 0;
    *r = static_cast<uint32_t>(g - start[*b]);
  }
};

// Rows routed to groups (partition p, bucket b is group p * buckets + b): group i holds
// rows order[gstart[i], gstart[i + 1]), in input order.
struct Groups {
  uint64_t buckets = 1;
  std::vector<uint64_t> part_row;  // a row of each partition
  std::vector<uint64_t> gstart;
  std::vector<uint32_t> order;
  std::vector<size_t> nonempty;    // the groups with rows
};

// Sources per table column: one array per batch. Count columns take the contribution of
// each written value (1 if valid) instead of the value, summed.
struct ColumnSources {
  std::vector<merge::AggFn> fns;
  std::vector<std::vector<OwnedArray>> counts;
  std::vector<std::vector<ArrayView>> count_views;
  std::vector<std::vector<const ArrayView*>> src;
  std::vector<uint64_t> col_bytes;  // uncompressed input bytes of each column
  size_t rows_per_file = 1;
};

// What every group of one write shares.
struct WriteContext {
  const WriteRequest* req = nullptr;
  const std::vector<std::vector<ArrayView>>* batches = nullptr;
  std::vector<int> part_index, in_of;
  InputRows in;
  Groups groups;
  ColumnSources cols;
  Schema file_schema;  // the table's columns, then `_kind`
  std::mutex mu;
  std::vector<std::string> written;  // absolute paths, removed on failure
};

// Sorts and collapses group `grp`'s rows and writes them as files of at most
// ctx.cols.rows_per_file rows, appended to `out`. Each path is added to ctx.written
// before its file is created. Safe to call for different groups at once.
Status WriteGroup(WriteContext& ctx, size_t grp, std::vector<WrittenFile>* out);

}  // namespace lamina::table
