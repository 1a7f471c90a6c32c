// The keys a lookup asks for, and how they compare with a file's keys and with the
// min/max statistics of its pages (merge/key.h normalized form).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lamina/arrow/types.h"
#include "lamina/format/file_reader.h"
#include "lamina/merge/key.h"

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

// Bounds on the normalized first key part of a page's rows, from its statistics. A
// string page's min is a prefix of the true min and its max an upper bound: both stay
// valid bounds once escaped, since escaping preserves order.
struct PartBounds {
  bool known = false;
  uint64_t ulo = 0, uhi = 0;  // integer key column
  std::string lo, hi;         // normalized part bytes (both kinds)
};

// The bounds of a page of key column type `t` with statistics `s` (unknown if `s` has
// no min/max or `t` is neither integer- nor binary-like).
PartBounds PageBounds(const DataType& t, const format::Stats& s);

// The 8 bytes of `b` as a big-endian integer. REQUIRES: b.size() >= 8.
uint64_t BigEndianU64(const std::string& b);

// Requested keys [a, b) that fall in `bounds`: a key's first part is at least bounds.lo
// and at most bounds.hi.
std::pair<size_t, size_t> KeysInBounds(const LookupKeys& keys, size_t a, size_t b,
                                       const PartBounds& bounds);

// <0, 0, >0 as requested key j is below, equal to or above row i of `nk`. Inline: the
// binary searches of a lookup call it per probe.
inline int CompareKey(const LookupKeys& keys, size_t j, const merge::NormalizedKeys& nk,
                      size_t i) {
  if (keys.is_u64) {
    uint64_t a = keys.u64[j], b = nk.u64()[i];
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  return std::string_view(keys.bytes[j]).compare(nk.bytes(i));
}

}  // namespace lamina::table
