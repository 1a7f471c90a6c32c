#include "lamina/merge/sort.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace lamina::merge {

void SortRowsU64(const NormalizedKeys& keys, uint32_t* idx, size_t n) {
  const uint64_t* k = keys.u64();
  if (n < 64) {
    std::stable_sort(idx, idx + n, [k](uint32_t a, uint32_t b) { return k[a] < k[b]; });
    return;
  }
  constexpr int kBits = 11;
  constexpr int kPasses = (64 + kBits - 1) / kBits;  // 6
  constexpr size_t kRadix = size_t{1} << kBits;
  // Pairs (key, row) sort with one stream of memory instead of an indirection per pass.
  struct Item {
    uint64_t key;
    uint32_t row;
  };
  std::vector<Item> a(n), b(n);
  std::vector<std::array<uint32_t, kRadix>> hist(kPasses);
  for (auto& h : hist) h.fill(0);
  bool sorted = true;
  for (size_t i = 0; i < n; ++i) {
    uint64_t key = k[idx[i]];
    a[i] = {key, idx[i]};
    if (i > 0 && key < a[i - 1].key) sorted = false;
    for (int p = 0; p < kPasses; ++p) ++hist[p][(key >> (p * kBits)) & (kRadix - 1)];
  }
  if (sorted) return;  // already in order (stable: nothing moves)
  Item* src = a.data();
  Item* dst = b.data();
  for (int p = 0; p < kPasses; ++p) {
    auto& h = hist[p];
    int shift = p * kBits;
    if (h[(src[0].key >> shift) & (kRadix - 1)] == n) continue;  // one digit value: no-op
    uint32_t sum = 0;
    for (size_t d = 0; d < kRadix; ++d) {
      uint32_t c = h[d];
      h[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) dst[h[(src[i].key >> shift) & (kRadix - 1)]++] = src[i];
    std::swap(src, dst);
  }
  for (size_t i = 0; i < n; ++i) idx[i] = src[i].row;
}

void SortRowsBytes(const NormalizedKeys& keys, uint32_t* idx, size_t n) {
  std::stable_sort(idx, idx + n,
                   [&keys](uint32_t a, uint32_t b) { return keys.bytes(a) < keys.bytes(b); });
}

}  // namespace lamina::merge
