#include "lamina/merge/key.h"

#include <cstring>

namespace lamina::merge {
namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;

template <typename T>
uint64_t Widen(const void* values, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const T*>(values) + i, sizeof(T));
  if constexpr (std::is_signed_v<T>) {
    return static_cast<uint64_t>(static_cast<int64_t>(v)) ^ kSignBit;
  } else {
    return static_cast<uint64_t>(v);
  }
}

void PutU64BE(uint64_t k, std::vector<uint8_t>* out) {
  for (int s = 56; s >= 0; s -= 8) out->push_back(static_cast<uint8_t>(k >> s));
}

// Fills out[0..n) with the normalized images of col rows [0, n).
template <typename T>
void NormalizeRange(const ArrayView& col, uint64_t* out) {
  const T* v = static_cast<const T*>(col.values) + col.offset;
  for (int64_t i = 0; i < col.length; ++i) {
    if constexpr (std::is_signed_v<T>) {
      out[i] = static_cast<uint64_t>(static_cast<int64_t>(v[i])) ^ kSignBit;
    } else {
      out[i] = static_cast<uint64_t>(v[i]);
    }
  }
}

void NormalizeColumnU64(const ArrayView& col, uint64_t* out) {
  switch (col.type->byte_width()) {
    case 1: col.type->is_signed() ? NormalizeRange<int8_t>(col, out) : NormalizeRange<uint8_t>(col, out); break;
    case 2: col.type->is_signed() ? NormalizeRange<int16_t>(col, out) : NormalizeRange<uint16_t>(col, out); break;
    case 4: col.type->is_signed() ? NormalizeRange<int32_t>(col, out) : NormalizeRange<uint32_t>(col, out); break;
    default: col.type->is_signed() ? NormalizeRange<int64_t>(col, out) : NormalizeRange<uint64_t>(col, out); break;
  }
}

}  // namespace

bool IsKeyType(const DataType& t) { return t.is_integer_like() || t.is_binary_like(); }

uint64_t NormalizeInt(const ArrayView& col, int64_t i) {
  int64_t r = col.offset + i;
  bool s = col.type->is_signed();
  switch (col.type->byte_width()) {
    case 1: return s ? Widen<int8_t>(col.values, r) : Widen<uint8_t>(col.values, r);
    case 2: return s ? Widen<int16_t>(col.values, r) : Widen<uint16_t>(col.values, r);
    case 4: return s ? Widen<int32_t>(col.values, r) : Widen<uint32_t>(col.values, r);
    default: return s ? Widen<int64_t>(col.values, r) : Widen<uint64_t>(col.values, r);
  }
}

std::string U64KeyBytes(uint64_t k) {
  std::string s(8, '\0');
  for (int b = 0; b < 8; ++b) s[b] = static_cast<char>(k >> (56 - 8 * b));
  return s;
}

std::string NormalizedKeys::KeyBytes(size_t i) const {
  if (is_u64_) return U64KeyBytes(u64_[i]);
  return std::string(bytes(i));
}

int NormalizedKeys::Compare(size_t i, const NormalizedKeys& o, size_t j) const {
  if (is_u64_) {
    uint64_t a = u64_[i], b = o.u64_[j];
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  std::string_view a = bytes(i), b = o.bytes(j);
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

Status NormalizeKeys(const std::vector<const ArrayView*>& cols,
                     const std::vector<std::string>& names, NormalizedKeys* out) {
  if (cols.empty()) return Status::InvalidArgument("a primary key needs at least one column");
  int64_t n = cols[0]->length;
  for (size_t c = 0; c < cols.size(); ++c) {
    const ArrayView& col = *cols[c];
    if (!IsKeyType(*col.type)) {
      return Status::SchemaError("primary key column '" + names[c] + "' has type " +
                                 col.type->ToString() +
                                 "; keys must be integers, strings or binary");
    }
    if (col.length != n) return Status::InvalidArgument("key columns differ in length");
    if (col.null_count != 0 && CountNulls(col.validity, col.offset, col.length) != 0) {
      return Status::SchemaError("primary key column '" + names[c] + "' contains nulls");
    }
  }
  bool fast = cols.size() == 1 && cols[0]->type->is_integer_like();
  if (out->size() == 0 && out->bytes_.empty()) out->is_u64_ = fast;
  if (out->is_u64_ != fast) return Status::InvalidArgument("key columns changed type");
  if (fast) {
    size_t base = out->u64_.size();
    out->u64_.resize(base + static_cast<size_t>(n));
    NormalizeColumnU64(*cols[0], out->u64_.data() + base);
    return Status::OK();
  }
  // Reserve roughly: 8 bytes per int part, string bytes + 2 per string part.
  size_t est = 0;
  for (const ArrayView* col : cols) {
    if (col->type->is_integer_like()) {
      est += 8 * static_cast<size_t>(n);
    } else if (n > 0) {
      est += static_cast<size_t>(col->OffsetAt(n) - col->OffsetAt(0)) + 2 * static_cast<size_t>(n);
    }
  }
  out->bytes_.reserve(out->bytes_.size() + est);
  out->offsets_.reserve(out->offsets_.size() + static_cast<size_t>(n));
  std::vector<uint8_t>& b = out->bytes_;
  for (int64_t i = 0; i < n; ++i) {
    for (const ArrayView* col : cols) {
      if (col->type->is_integer_like()) {
        PutU64BE(NormalizeInt(*col, i), &b);
      } else {
        int64_t lo = col->OffsetAt(i), hi = col->OffsetAt(i + 1);
        const uint8_t* p = col->data + lo;
        for (int64_t k = 0; k < hi - lo; ++k) {
          b.push_back(p[k]);
          if (p[k] == 0) b.push_back(0xFF);
        }
        b.push_back(0);
        b.push_back(0);
      }
    }
    out->offsets_.push_back(b.size());
  }
  return Status::OK();
}

}  // namespace lamina::merge
