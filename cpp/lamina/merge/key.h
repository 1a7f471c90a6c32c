// Normalized primary keys: a byte string per row whose memcmp order (shorter first on a
// common prefix) equals the order of the key tuple. Grammar, one part per key column:
//
//   key        := part{num_key_columns}
//   part       := int_part | bytes_part
//   int_part   := 8 bytes, big-endian, of the value widened to 64 bits; signed types
//                 have the sign bit flipped (so -1 -> 7F FF .. FF, 0 -> 80 00 .. 00)
//   bytes_part := (escaped byte)* 00 00
//   escaped    := 00 FF (for a 00 byte) | the byte itself (01..FF)
//
// Integers are widened before encoding, so a key keeps its bytes (and bucket) when its
// column is widened from int32 to int64. Example: int32 key 5 and string key "a\0":
//   80 00 00 00 00 00 00 05 | 61 00 FF 00 00
//
// Fast path: a key of a single integer column is kept as the uint64 whose big-endian
// bytes are its normalized key (no byte strings are built).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/util/status.h"

namespace lamina::merge {

class NormalizedKeys {
 public:
  bool is_u64() const { return is_u64_; }
  size_t size() const { return is_u64_ ? u64_.size() : offsets_.size() - 1; }

  // REQUIRES: is_u64()
  const uint64_t* u64() const { return u64_.data(); }
  // REQUIRES: !is_u64()
  std::string_view bytes(size_t i) const {
    return std::string_view(reinterpret_cast<const char*>(bytes_.data()) + offsets_[i],
                            offsets_[i + 1] - offsets_[i]);
  }
  // The normalized key bytes of row i, either path.
  std::string KeyBytes(size_t i) const;

  // Lexicographic comparison of rows i and j (of this or another NormalizedKeys of the
  // same key columns).
  int Compare(size_t i, const NormalizedKeys& other, size_t j) const;

 private:
  friend Status NormalizeKeys(const std::vector<const ArrayView*>&,
                              const std::vector<std::string>&, NormalizedKeys*);
  bool is_u64_ = false;
  std::vector<uint64_t> u64_;
  std::vector<uint8_t> bytes_;
  std::vector<uint64_t> offsets_{0};
};

// True for the column types a primary key may have.
bool IsKeyType(const DataType& type);

// Normalizes the rows of `columns` (all the same length), appending to `out` (so that
// several batches can be normalized into one sequence). `names` name the columns for
// errors: a null key is SchemaError("primary key column 'x' contains nulls").
// REQUIRES: every call on one `out` passes the same column types.
Status NormalizeKeys(const std::vector<const ArrayView*>& columns,
                     const std::vector<std::string>& names, NormalizedKeys* out);

// The 64-bit order-preserving image of integer value `i` of `col` (the fast path's key).
uint64_t NormalizeInt(const ArrayView& col, int64_t i);

// Big-endian bytes of a fast-path key.
std::string U64KeyBytes(uint64_t k);

}  // namespace lamina::merge
