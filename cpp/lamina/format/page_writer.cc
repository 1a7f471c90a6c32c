#include "lamina/format/page_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "lamina/encoding/encoding.h"
#include "lamina/util/bit_util.h"

namespace lamina::format {
namespace {

template <typename T>
std::string ScalarBytes(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(T));
}

void EncodeValidity(const ArrayView& v, int64_t start, int64_t n, ByteWriter* out) {
  if (v.validity != nullptr) {
    enc::EncodeBitmap(v.validity, v.offset + start, static_cast<size_t>(n), out);
    return;
  }
  std::vector<uint8_t> ones(static_cast<size_t>((n + 7) / 8), 0xff);
  enc::EncodeBitmap(ones.data(), 0, static_cast<size_t>(n), out);
}

// Integers: nulls get the minimum so they cost no extra bits; min/max skip them.
template <typename T>
void EncodeIntsT(const ArrayView& v, int64_t start, int64_t n, bool is_signed, ByteWriter* out,
                 Stats* stats) {
  const T* src = static_cast<const T*>(v.values) + v.offset + start;
  bool any = false;
  T mn{}, mx{};
  if (v.validity == nullptr) {
    if (n > 0) {
      // The encoder finds min and max anyway; taking them from it saves a pass.
      uint64_t lo = 0, hi = 0;
      enc::EncodeIntsMinMax(src, static_cast<size_t>(n), sizeof(T), is_signed, out, &lo, &hi);
      mn = static_cast<T>(lo);
      mx = static_cast<T>(hi);
      any = true;
    } else {
      enc::EncodeInts(src, 0, sizeof(T), is_signed, out);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      if (!v.IsValid(start + i)) continue;
      if (!any) { mn = mx = src[i]; any = true; }
      mn = std::min(mn, src[i]);
      mx = std::max(mx, src[i]);
    }
    std::vector<T> tmp(src, src + n);
    for (int64_t i = 0; i < n; ++i) {
      if (!v.IsValid(start + i)) tmp[static_cast<size_t>(i)] = mn;
    }
    enc::EncodeInts(tmp.data(), static_cast<size_t>(n), sizeof(T), is_signed, out);
  }
  if (any) {
    stats->has_min_max = true;
    // Stored widened to 64 bits so readers need not know the column's width.
    if (is_signed) {
      stats->min = ScalarBytes<int64_t>(static_cast<int64_t>(mn));
      stats->max = ScalarBytes<int64_t>(static_cast<int64_t>(mx));
    } else {
      stats->min = ScalarBytes<uint64_t>(static_cast<uint64_t>(mn));
      stats->max = ScalarBytes<uint64_t>(static_cast<uint64_t>(mx));
    }
  }
}

// Min and max of n floats, NaN ignored; false if all are NaN. Lanes of independent
// minima let the compiler use vector min/max (the scalar loop with a NaN test per value
// was ~3% of a W1 ingest); `x < lo ? x : lo` skips NaN as the scalar test did.
template <typename T>
inline __attribute__((always_inline)) bool MinMaxNoNan(const T* v, size_t n, T* mn, T* mx) {
  constexpr size_t kLanes = 16;
  T lo[kLanes], hi[kLanes];
  for (size_t k = 0; k < kLanes; ++k) {
    lo[k] = std::numeric_limits<T>::infinity();
    hi[k] = -std::numeric_limits<T>::infinity();
  }
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (size_t k = 0; k < kLanes; ++k) {
      T x = v[i + k];
      lo[k] = x < lo[k] ? x : lo[k];
      hi[k] = x > hi[k] ? x : hi[k];
    }
  }
  for (; i < n; ++i) {
    lo[0] = v[i] < lo[0] ? v[i] : lo[0];
    hi[0] = v[i] > hi[0] ? v[i] : hi[0];
  }
  for (size_t k = 1; k < kLanes; ++k) {
    lo[0] = lo[k] < lo[0] ? lo[k] : lo[0];
    hi[0] = hi[k] > hi[0] ? hi[k] : hi[0];
  }
  *mn = lo[0];
  *mx = hi[0];
  return lo[0] <= hi[0];  // false only when no value was seen (all NaN)
}

#if defined(__x86_64__) && defined(__gnu_linux__)
#define LAMINA_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LAMINA_CLONES
#endif
LAMINA_CLONES bool MinMaxF32(const float* v, size_t n, float* mn, float* mx) {
  return MinMaxNoNan(v, n, mn, mx);
}
LAMINA_CLONES bool MinMaxF64(const double* v, size_t n, double* mn, double* mx) {
  return MinMaxNoNan(v, n, mn, mx);
}
inline bool MinMax(const float* v, size_t n, float* mn, float* mx) { return MinMaxF32(v, n, mn, mx); }
inline bool MinMax(const double* v, size_t n, double* mn, double* mx) {
  return MinMaxF64(v, n, mn, mx);
}

template <typename T>
void EncodeFloatsT(const ArrayView& v, int64_t start, int64_t n, ByteWriter* out, Stats* stats) {
  const T* src = static_cast<const T*>(v.values) + v.offset + start;
  bool any = false;
  T mn{}, mx{};
  if (v.validity == nullptr) {
    any = MinMax(src, static_cast<size_t>(n), &mn, &mx);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      T x = src[i];
      if (std::isnan(x) || !v.IsValid(start + i)) continue;
      if (!any) { mn = mx = x; any = true; }
      mn = std::min(mn, x);
      mx = std::max(mx, x);
    }
  }
  if (v.validity == nullptr) {
    enc::EncodeFloats(src, static_cast<size_t>(n), sizeof(T), out);
  } else {
    std::vector<T> tmp(src, src + n);
    for (int64_t i = 0; i < n; ++i) {
      if (!v.IsValid(start + i)) tmp[static_cast<size_t>(i)] = 0;
    }
    enc::EncodeFloats(tmp.data(), static_cast<size_t>(n), sizeof(T), out);
  }
  if (any) {
    stats->has_min_max = true;
    stats->min = ScalarBytes<double>(static_cast<double>(mn));
    stats->max = ScalarBytes<double>(static_cast<double>(mx));
  }
}

// A truncated max must still bound the real max from above: bump the last byte that
// can be bumped and cut after it. Returns false when no such bound exists (all 0xff).
bool UpperBound(std::string_view s, std::string* out) {
  if (s.size() <= kMaxStatBytes) {
    out->assign(s);
    return true;
  }
  std::string p(s.substr(0, kMaxStatBytes));
  while (!p.empty()) {
    unsigned char c = static_cast<unsigned char>(p.back());
    if (c != 0xff) {
      p.back() = static_cast<char>(c + 1);
      *out = std::move(p);
      return true;
    }
    p.pop_back();
  }
  return false;
}

// Min and max of the valid values of rows [start, start + n); O: the offset type.
// Values equal to the current min or max (most of them, for low-cardinality strings)
// skip both comparisons by a length and first-byte check plus one memcmp.
template <typename O>
bool BinaryMinMax(const ArrayView& v, int64_t start, int64_t n, std::string_view* mn,
                  std::string_view* mx, bool* null_bytes) {
  const O* offs = static_cast<const O*>(v.values) + v.offset;
  const char* data = reinterpret_cast<const char*>(v.data);
  bool any = false;
  auto same = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && (a.empty() || (a[0] == b[0] && a == b));
  };
  for (int64_t i = start; i < start + n; ++i) {
    int64_t a = offs[i], b = offs[i + 1];
    if (!v.IsValid(i)) {
      *null_bytes |= b != a;
      continue;
    }
    std::string_view s(data + a, static_cast<size_t>(b - a));
    if (!any) { *mn = *mx = s; any = true; continue; }
    if (same(s, *mn) || same(s, *mx)) continue;
    if (s < *mn) *mn = s;
    else if (s > *mx) *mx = s;
  }
  return any;
}

void EncodeBinaryValues(const ArrayView& v, int64_t start, int64_t n, ByteWriter* out,
                        Stats* stats) {
  int ow = v.type->has_large_offsets() ? 8 : 4;
  const uint8_t* offsets = static_cast<const uint8_t*>(v.values) + (v.offset + start) * ow;
  std::string_view mn, mx;
  bool null_bytes = false;  // a null slot that still points at bytes
  bool any = ow == 8 ? BinaryMinMax<int64_t>(v, start, n, &mn, &mx, &null_bytes)
                     : BinaryMinMax<int32_t>(v, start, n, &mn, &mx, &null_bytes);
  if (!null_bytes) {
    enc::EncodeBinary(offsets, ow, v.data, static_cast<size_t>(n), out);
  } else {
    // Null slots must not carry (possibly sensitive) bytes into the file.
    std::vector<int64_t> offs(static_cast<size_t>(n) + 1);
    std::vector<uint8_t> data;
    for (int64_t i = 0; i < n; ++i) {
      if (v.IsValid(start + i)) {
        int64_t a = v.OffsetAt(start + i), b = v.OffsetAt(start + i + 1);
        data.insert(data.end(), v.data + a, v.data + b);
      }
      offs[static_cast<size_t>(i) + 1] = static_cast<int64_t>(data.size());
    }
    enc::EncodeBinary(offs.data(), 8, data.data(), static_cast<size_t>(n), out);
  }
  if (any) {
    std::string hi;
    if (UpperBound(mx, &hi)) {
      stats->has_min_max = true;
      stats->min.assign(mn.substr(0, kMaxStatBytes));
      stats->max = std::move(hi);
    }
  }
}

// Encodes the values of rows [start, start + n) of a non-list array.
void EncodeValues(const ArrayView& v, int64_t start, int64_t n, ByteWriter* out, Stats* stats) {
  const DataType& t = *v.type;
  bool s = t.is_signed();
  switch (t.id) {
    case TypeId::kInt8: EncodeIntsT<int8_t>(v, start, n, s, out, stats); return;
    case TypeId::kInt16: EncodeIntsT<int16_t>(v, start, n, s, out, stats); return;
    case TypeId::kInt32: case TypeId::kDate32:
      EncodeIntsT<int32_t>(v, start, n, s, out, stats); return;
    case TypeId::kInt64: case TypeId::kTimestamp:
      EncodeIntsT<int64_t>(v, start, n, s, out, stats); return;
    case TypeId::kUInt8: EncodeIntsT<uint8_t>(v, start, n, s, out, stats); return;
    case TypeId::kUInt16: EncodeIntsT<uint16_t>(v, start, n, s, out, stats); return;
    case TypeId::kUInt32: EncodeIntsT<uint32_t>(v, start, n, s, out, stats); return;
    case TypeId::kUInt64: EncodeIntsT<uint64_t>(v, start, n, s, out, stats); return;
    case TypeId::kFloat32: EncodeFloatsT<float>(v, start, n, out, stats); return;
    case TypeId::kFloat64: EncodeFloatsT<double>(v, start, n, out, stats); return;
    case TypeId::kBool: {
      const uint8_t* bits = static_cast<const uint8_t*>(v.values);
      bool seen[2] = {false, false};
      for (int64_t i = 0; i < n && !(seen[0] && seen[1]); ++i) {
        if (v.IsValid(start + i)) seen[GetBit(bits, v.offset + start + i)] = true;
      }
      if (seen[0] || seen[1]) {
        stats->has_min_max = true;
        stats->min = std::string(1, seen[0] ? 0 : 1);
        stats->max = std::string(1, seen[1] ? 1 : 0);
      }
      enc::EncodeBitmap(bits, v.offset + start, static_cast<size_t>(n), out);
      return;
    }
    case TypeId::kString: case TypeId::kLargeString: case TypeId::kBinary:
    case TypeId::kLargeBinary:
      EncodeBinaryValues(v, start, n, out, stats);
      return;
    default:
      return;  // lists are handled by EncodePage
  }
}

}  // namespace

void EncodePage(const ArrayView& col, int64_t start, int64_t n, ByteWriter* out, Stats* stats,
                uint8_t* encoding) {
  stats->null_count = static_cast<uint64_t>(CountNulls(col.validity, col.offset + start, n));
  EncodeValidity(col, start, n, out);
  size_t values_pos = out->size();
  const DataType& t = *col.type;
  if (t.is_list_like() || t.id == TypeId::kFixedSizeList) {
    const ArrayView& child = col.children[0];
    int64_t cstart, cend;
    if (t.id == TypeId::kFixedSizeList) {
      cstart = (col.offset + start) * t.list_size;
      cend = (col.offset + start + n) * t.list_size;
    } else {
      cstart = col.OffsetAt(start);
      cend = col.OffsetAt(start + n);
      std::vector<uint64_t> rel(static_cast<size_t>(n) + 1);
      for (int64_t i = 0; i <= n; ++i) {
        rel[static_cast<size_t>(i)] = static_cast<uint64_t>(col.OffsetAt(start + i) - cstart);
      }
      enc::EncodeInts(rel.data(), rel.size(), 8, false, out);
    }
    // Child rows are addressed relative to the child view's own offset.
    Stats child_stats;
    EncodeValidity(child, cstart, cend - cstart, out);
    EncodeValues(child, cstart, cend - cstart, out, &child_stats);
  } else {
    EncodeValues(col, start, n, out, stats);
  }
  *encoding = out->size() > values_pos ? out->data()[values_pos] : 0;
}

int64_t PageBytes(const ArrayView& col, int64_t start, int64_t n) {
  const DataType& t = *col.type;
  if (t.is_binary_like()) return col.OffsetAt(start + n) - col.OffsetAt(start) + n * 4;
  if (t.is_list_like()) {
    int w = std::max(1, t.child->type.byte_width());
    if (t.child->type.is_binary_like()) w = 16;
    return (col.OffsetAt(start + n) - col.OffsetAt(start)) * w + n * 4;
  }
  if (t.id == TypeId::kFixedSizeList) return n * t.list_size * t.child->type.byte_width();
  return 0;
}

int64_t PageRows(const ArrayView& col, int64_t start, int64_t n, int64_t max_rows,
                 int64_t target_bytes) {
  int64_t rows = std::min(n, max_rows);
  if (rows == 0) return 0;
  int64_t bytes = PageBytes(col, start, rows);
  if (bytes > target_bytes) {
    rows = std::max<int64_t>(1, rows * target_bytes / bytes);
    rows = rows >= 64 ? rows & ~int64_t{7} : rows;  // keep validity bytes aligned
  }
  return rows;
}

}  // namespace lamina::format
