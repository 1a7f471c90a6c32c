// The keys of one split of a scan, as TakeSplits (take.h) needs them to map merged
// positions to rows: a take index (take_index.h) for a split whose every column keeps
// one stored version per key, else the split's live keys in merge order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lamina/merge/engine.h"
#include "lamina/merge/key.h"
#include "lamina/table/options.h"
#include "lamina/table/run_columns.h"
#include "lamina/table/take_index.h"
#include "lamina/util/status.h"

namespace lamina::table {

// One split of a scan for TakeSplits: either `concatenated` (files in key order, key-
// disjoint, no deletes; `value` is each file's row count) or merged (`value` is each
// file's priority, as ReadFile).
struct TakeSplit {
  bool concatenated = false;
  std::vector<std::string> paths;
  std::vector<uint64_t> value;
};

// The live keys of a merged split, in merge order.
struct LiveKeys {
  std::vector<merge::NormalizedKeys> keys;  // per file
  merge::MergedRuns merged;
  merge::KeyVersions versions;
};

// Merges the key, `_kind` and `_seq` columns of the split's files and folds the versions
// of each key as a merged read does. REQUIRES: o validated.
Status MergeKeys(const TakeSplit& split, const TableOptions& o, LiveKeys* live);

// Which version a take index selects for the request: 1 the newest (deduplicate), 0 the
// oldest (first_row), -1 none (some requested column folds several versions). Decided by
// every column of the table when they agree, so one index serves every request.
int IndexPick(const TableOptions& o, const RequestedColumns& req);

// The take index cache key of `split` for `pick` (IndexPick's 0 or 1).
std::string IndexKey(const TakeSplit& split, const TableOptions& o, int pick);

// Merges the key, `_kind` and `_seq` columns of the split's files (in parallel ranges,
// integer keys compared raw) into the selection of each live key's kept version.
Status BuildIndex(const TakeSplit& split, const TableOptions& o, bool pick_last,
                  TakeIndex* index);

}  // namespace lamina::table
