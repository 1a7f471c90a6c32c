// Parallel k-way merge for reads: the key space of a bucket is split into ranges at
// splitter keys sampled from the runs, each range (a slice of every run, found by binary
// search) is merged on its own thread, and the range results are concatenated in key
// order. Every version of a key falls into one range (a run's slice boundary is the first
// row whose key is >= the splitter), so the ranges fold keys independently and the result
// is exactly MergeRuns' (loser_tree.h): order by key, then sequence, then run index.
//
// Keys of a single integer column of width 4 or 8 are compared raw (the order-preserving
// image of NormalizeInt is computed as a key is loaded), so no normalized keys are built.
// Within a range, slices whose key ranges do not overlap are concatenated without
// comparisons.
#pragma once

#include <cstdint>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/merge/engine.h"
#include "lamina/merge/key.h"
#include "lamina/merge/loser_tree.h"
#include "lamina/util/status.h"

namespace lamina::merge {

// How raw keys are read: the type of a single integer key column, or kNone (use
// normalized keys).
enum class RawKey { kNone, kI32, kU32, kI64, kU64 };

// kNone unless `type` is an integer-like type of width 4 or 8.
RawKey RawKeyOf(const DataType& type);

// One sorted run. Either `keys` (normalized) or, when the merge's RawKey is not kNone,
// `raw` (raw_size values of the key column, offset applied).
struct RangeRun {
  const NormalizedKeys* keys = nullptr;
  const void* raw = nullptr;
  size_t raw_size = 0;
  const uint64_t* seq = nullptr;  // per-row sequence, or nullptr: every row has `priority`
  uint64_t priority = 0;
  const int8_t* kind = nullptr;   // the run's `_kind` (nullptr: no deletes or resets)
};

struct RangeMergeInput {
  std::vector<RangeRun> runs;
  RawKey raw = RawKey::kNone;
};

// The merge of every row, as MergeRuns computes it. Corruption if a run is not strictly
// ascending; InvalidArgument over 2^32 - 1 rows.
Status MergeRanges(const RangeMergeInput& in, MergedRuns* out);

// The merge fused with FoldVersions(kRead) and SelectPositional(fn): for each live key in key
// order, the version that last_value (pick_last) or first_value keeps. *used_runs[r] is
// set to 1 for every run that holds a selected version.
Status MergeSelect(const RangeMergeInput& in, bool pick_last, Selection* out, size_t* n,
                   std::vector<uint8_t>* used_runs);

// Whether the runs can be read without a merge, concatenated: no run has a `kind`, the
// non-empty runs' key ranges are disjoint and each run is strictly ascending. If so sets
// *order to the non-empty runs in key order and *concat to true. Corruption if the runs
// are disjoint by their end keys but one is not strictly ascending. Checks only the end
// keys of runs that overlap (the merge checks them).
Status ConcatOrder(const RangeMergeInput& in, std::vector<uint32_t>* order, bool* concat);

// Rows per range below which a merge is not split further (default 65536; the
// environment variable LAMINA_MERGE_MIN_RANGE_ROWS overrides it, for tests).
size_t MinRangeRows();

}  // namespace lamina::merge
