// Columnar gather across runs: output row j takes row `row[j]` of run `run[j]`'s array.
// This is how merged data is produced from a merge selection (loser_tree.h): one pass
// per column over the selection, typed by value width, never a per-value dispatch.
#pragma once

#include <cstdint>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/util/status.h"

namespace lamina::merge {

// run[j] == kNullRun makes output row j null, as does a null source (a file that lacks
// the column).
constexpr uint32_t kNullRun = UINT32_MAX;

// A view of `arr` (which must outlive it and not move).
ArrayView ViewOf(const OwnedArray& arr);

// REQUIRES: every non-null src[r] has type `type`; rows are in range.
// InvalidArgument if a string/list column would exceed 32-bit offsets.
// Buffers that `*out` holds on entry, when nothing else shares them and they are big
// enough, are reused for the result (a caller gathering similar selections in a loop
// skips faulting in fresh pages); pass a fresh OwnedArray otherwise.
Status GatherRuns(const DataType& type, const std::vector<const ArrayView*>& src,
                  const uint32_t* run, const uint32_t* row, size_t m, OwnedArray* out);

// An array of m nulls.
OwnedArray NullArray(const DataType& type, size_t m);

}  // namespace lamina::merge
