// K-way merge of sorted runs by (key, sequence) with a loser tree. The result is a
// selection -- which (run, row) comes next -- not merged data: columns are gathered
// afterwards with that selection (gather.h), so the merge touches keys only.
//
// Runs whose key ranges do not overlap are concatenated without comparisons.
#pragma once

#include <cstdint>
#include <vector>

#include "lamina/merge/key.h"
#include "lamina/merge/pod_array.h"
#include "lamina/util/status.h"

namespace lamina::merge {

struct RunKeys {
  const NormalizedKeys* keys = nullptr;  // strictly ascending within the run
  const uint64_t* seq = nullptr;         // per-row sequence, or nullptr: every row has
  uint64_t priority = 0;                 // this sequence
};

// Every row of every run, ordered by key, then sequence, then run index (older first).
// Versions of one key are adjacent: key_start[g] .. key_start[g + 1].
// At most 2^32 - 1 rows in all (InvalidArgument otherwise).
struct MergedRuns {
  PodArray<uint32_t> run, row;
  PodArray<uint32_t> key_start;  // one per distinct key, plus the total at the end
  size_t num_keys() const { return key_start.empty() ? 0 : key_start.size() - 1; }
};

// REQUIRES: all runs' keys come from the same key columns (all fast path or none).
// Corruption if a run's keys are not strictly ascending.
Status MergeRuns(const std::vector<RunKeys>& runs, MergedRuns* out);

}  // namespace lamina::merge
