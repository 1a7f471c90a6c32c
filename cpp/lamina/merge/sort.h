// Stable sorts of row indices by normalized key: rows with equal keys keep their input
// order, which is what makes "a later row in one write wins" hold.
#pragma once

#include <cstdint>
#include <vector>

#include "lamina/merge/key.h"

namespace lamina::merge {

// Sorts idx[0..n) by keys.u64()[idx[i]] (LSD radix sort, 11-bit digits; passes whose
// digit is the same for every row are skipped). REQUIRES: keys.is_u64().
void SortRowsU64(const NormalizedKeys& keys, uint32_t* idx, size_t n);

// Sorts idx[0..n) by keys.bytes(idx[i]) (std::stable_sort). REQUIRES: !keys.is_u64().
void SortRowsBytes(const NormalizedKeys& keys, uint32_t* idx, size_t n);

inline void SortRows(const NormalizedKeys& keys, uint32_t* idx, size_t n) {
  keys.is_u64() ? SortRowsU64(keys, idx, n) : SortRowsBytes(keys, idx, n);
}

}  // namespace lamina::merge
