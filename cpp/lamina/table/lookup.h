// Point lookup and positional take on primary-key tables, without a merged read of
// whole files.
//
// Lookup: in each file of a bucket, the requested keys are first pruned by the file's
// key range, then matched to the pages of the first key column whose min/max statistics
// may hold them; only those pages of the key columns are decoded and binary searched.
// The rows found are taken (FileReader::Take decodes only the pages that hold them) and
// the versions of each key are folded by the merge engine exactly as MergeRead folds
// them, so the result equals MergeRead restricted to the requested keys.
//
// Take: rows at positions of the concatenation of key-disjoint files without deletes
// (a bucket after full compaction), where the merged read is that concatenation.
//
// Opened FileReaders are kept in a small process-wide cache keyed by (path, inode,
// size, mtime), so repeated calls skip opening, page-index parsing and page checksums.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lamina/merge/key.h"
#include "lamina/table/merge_read.h"
#include "lamina/table/options.h"
#include "lamina/util/status.h"

namespace lamina::table {

// The requested keys: normalized, sorted ascending, without repeats. Build with
// MakeLookupKeys.
struct LookupKeys {
  bool is_u64 = false;         // the fast path of a one-integer-column key (merge/key.h)
  std::vector<uint64_t> u64;   // is_u64
  std::vector<std::string> bytes;  // !is_u64
  std::vector<uint32_t> first;  // first[j]: the first request row that asked for key j
  size_t size() const { return is_u64 ? u64.size() : bytes.size(); }
};

// Sorts and de-duplicates rows `rows` of `keys` (all rows if `rows` is null); a key's
// `first` is the smallest of its rows.
LookupKeys MakeLookupKeys(const merge::NormalizedKeys& keys, const std::vector<uint32_t>* rows);

// The current rows of `keys` among the files of one bucket (ReadFile as for MergeRead:
// any order, priorities as the merged read uses them). Keys absent from every file, or
// deleted, are absent from the result; the result is sorted by key. Files are searched
// in parallel. `key_of`, if given, receives for each result row the index of its key in
// `keys`. REQUIRES: as MergeRead.
Result<MergeResult> Lookup(const std::vector<ReadFile>& files, const LookupKeys& keys,
                           const std::vector<std::string>& columns, TableOptions options,
                           std::vector<uint32_t>* key_of = nullptr);

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

// One split of a scan for TakeSplits: either `concatenated` (files in key order, key-
// disjoint, no deletes; `value` is each file's row count) or merged (`value` is each
// file's priority, as ReadFile).
struct TakeSplit {
  bool concatenated = false;
  std::vector<std::string> paths;
  std::vector<uint64_t> value;
};

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

// Drops every cached FileReader (their mappings are released once no call uses them).
void ClearReaderCache();
// How many FileReaders the cache holds.
size_t ReaderCacheSize();

}  // namespace lamina::table
