#include "lamina/table/lookup_keys.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace lamina::table {
namespace {

// Normalized part of a bytes key column holding `s` (merge/key.h grammar).
std::string EscapePart(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    out += c;
    if (c == '\0') out += '\xff';
  }
  out += '\0';
  out += '\0';
  return out;
}

}  // namespace

LookupKeys MakeLookupKeys(const merge::NormalizedKeys& keys, const std::vector<uint32_t>* rows) {
  LookupKeys out;
  out.is_u64 = keys.is_u64();
  size_t n = rows != nullptr ? rows->size() : keys.size();
  auto row = [&](size_t i) { return rows != nullptr ? (*rows)[i] : static_cast<uint32_t>(i); };
  // (key, request row) sorted, then the first entry of each key: its smallest row.
  auto build = [&](auto key_at, auto* sorted_keys) {
    using K = decltype(key_at(0));
    std::vector<std::pair<K, uint32_t>> e(n);
    for (size_t i = 0; i < n; ++i) e[i] = {key_at(row(i)), row(i)};
    std::sort(e.begin(), e.end());
    for (size_t i = 0; i < n; ++i) {
      if (i > 0 && e[i].first == e[i - 1].first) continue;
      sorted_keys->emplace_back(e[i].first);
      out.first.push_back(e[i].second);
    }
  };
  if (out.is_u64) {
    build([&](uint32_t r) { return keys.u64()[r]; }, &out.u64);
  } else {
    build([&](uint32_t r) { return keys.bytes(r); }, &out.bytes);
  }
  return out;
}

PartBounds PageBounds(const DataType& t, const format::Stats& s) {
  PartBounds b;
  if (!s.has_min_max) return b;
  if (t.is_integer_like()) {
    if (s.min.size() != 8 || s.max.size() != 8) return b;
    std::memcpy(&b.ulo, s.min.data(), 8);
    std::memcpy(&b.uhi, s.max.data(), 8);
    if (t.is_signed()) {
      b.ulo ^= uint64_t{1} << 63;
      b.uhi ^= uint64_t{1} << 63;
    }
    b.lo = merge::U64KeyBytes(b.ulo);
    b.hi = merge::U64KeyBytes(b.uhi);
  } else if (t.is_binary_like()) {
    b.lo = EscapePart(s.min);
    b.hi = EscapePart(s.max);
  } else {
    return b;
  }
  b.known = true;
  return b;
}

uint64_t BigEndianU64(const std::string& b) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}

// Parts are prefix-free, so comparing the whole key with lo, and
// its first |hi| bytes with hi, decides that.
std::pair<size_t, size_t> KeysInBounds(const LookupKeys& keys, size_t a, size_t b,
                                       const PartBounds& bounds) {
  if (keys.is_u64) {
    const uint64_t* k = keys.u64.data();
    size_t lo = static_cast<size_t>(std::lower_bound(k + a, k + b, bounds.ulo) - k);
    size_t hi = static_cast<size_t>(std::upper_bound(k + lo, k + b, bounds.uhi) - k);
    return {lo, hi};
  }
  const auto& k = keys.bytes;
  auto first = std::lower_bound(k.begin() + static_cast<std::ptrdiff_t>(a),
                                k.begin() + static_cast<std::ptrdiff_t>(b), bounds.lo);
  auto last = std::partition_point(first, k.begin() + static_cast<std::ptrdiff_t>(b),
                                   [&](const std::string& key) {
                                     return std::string_view(key).substr(0, bounds.hi.size()) <=
                                            bounds.hi;
                                   });
  return {static_cast<size_t>(first - k.begin()), static_cast<size_t>(last - k.begin())};
}


}  // namespace lamina::table
