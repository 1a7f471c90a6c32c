// Positional take on primary-key tables: rows at positions of a scan, without a merged
// read of whole files.
//
// TakeRows: rows at positions of the concatenation of key-disjoint files without deletes
// (a bucket after full compaction), where the merged read is that concatenation.
// TakeSplits: the same over a scan's splits, merged ones included (take_split.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lamina/table/merge_read.h"
#include "lamina/table/options.h"
#include "lamina/table/take_split.h"
#include "lamina/util/status.h"

namespace lamina::table {

struct TakeFile {
  std::string path;
  uint64_t num_rows = 0;  // checked against the file (Corruption if it differs)
};

// Rows at `positions` (any order, repeats allowed) of the concatenation of `files`.
// InvalidArgument if a position is negative or not below the total row count.
// REQUIRES (not checked): every row of every file is live and the only version of its
// key -- files are key-disjoint and hold no deletes -- so this equals the merged read.
// A file that lacks a requested column contributes nulls to it.
Result<MergeResult> TakeRows(const std::vector<TakeFile>& files,
                             const std::vector<std::string>& columns, TableOptions options,
                             const int64_t* positions, size_t m);

// Rows at `positions` of the scan whose merged read is the splits' merged reads, one after
// another (each sorted by key). A concatenated split maps positions to file rows through
// row counts. A merged split whose every column keeps one stored version per key
// (deduplicate, first_row) uses its take index (take_index.h: built once by a merge of
// its key, `_kind` and `_seq` columns, then cached), so a warm take is index look-ups
// plus FileReader::Take of the wanted rows, file by file in parallel. Other merged splits
// (partial_update, aggregate) merge their keys, then Lookup the keys at the wanted
// positions. InvalidArgument for a position out of range.
Result<MergeResult> TakeSplits(const std::vector<TakeSplit>& splits,
                               const std::vector<std::string>& columns, TableOptions options,
                               const int64_t* positions, size_t m);

// Row j of the result is row row[j] of parts[run[j]], with the columns of `schema`
// (which every part that is selected has). REQUIRES: run.size() == row.size().
Result<MergeResult> GatherParts(const std::vector<MergeResult>& parts, const Schema& schema,
                                const std::vector<uint32_t>& run,
                                const std::vector<uint32_t>& row);

}  // namespace lamina::table
