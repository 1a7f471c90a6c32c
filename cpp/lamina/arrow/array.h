// Arrays crossing the Arrow C Data Interface.
//
// ArrayView borrows an imported ArrowArray's buffers (zero copy); the ArrowArray must
// outlive it. OwnedArray holds buffers the core allocated (decoded data) and is exported
// to Arrow without copying: the exported ArrowArray keeps the buffers alive until its
// consumer calls release().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lamina/arrow/c_abi.h"
#include "lamina/arrow/types.h"
#include "lamina/util/status.h"

namespace lamina {

struct ArrayView {
  const DataType* type = nullptr;
  int64_t length = 0;
  int64_t offset = 0;           // in elements, applies to validity and values/offsets
  int64_t null_count = 0;
  const uint8_t* validity = nullptr;  // nullptr: no nulls
  const void* values = nullptr;       // fixed width values, bool bits, or offsets
  const uint8_t* data = nullptr;      // string/binary bytes
  std::vector<ArrayView> children;

  bool IsValid(int64_t i) const {
    if (validity == nullptr) return true;
    int64_t b = offset + i;
    return (validity[b >> 3] >> (b & 7)) & 1;
  }
  // Offsets for var-length and list types, as int64 regardless of their width.
  int64_t OffsetAt(int64_t i) const;
};

// Builds a view over `array`, checking that the buffers it needs are present.
// `column` names the column in error messages.
Status MakeArrayView(const ArrowArray& array, const DataType& type, const std::string& column,
                     ArrayView* out);

// Immutable, 64-byte aligned, zero-padded to a multiple of 64 bytes.
class Buffer {
 public:
  // Contents zeroed unless `zero` is false (then only the padding is zeroed: callers that
  // overwrite every byte skip a pass over memory).
  static std::shared_ptr<Buffer> Allocate(size_t size, bool zero = true);
  static std::shared_ptr<Buffer> FromVector(std::vector<uint8_t>&& v);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  template <typename T>
  T* as() { return reinterpret_cast<T*>(data_); }

 private:
  Buffer() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool aligned_alloc_ = false;
  size_t mapped_size_ = 0;  // non-zero: data_ is an anonymous mapping of this size
  std::vector<uint8_t> vec_;
};

struct OwnedArray {
  DataType type;
  int64_t length = 0;
  int64_t null_count = 0;
  std::shared_ptr<Buffer> validity;  // may be null when null_count == 0
  std::shared_ptr<Buffer> values;    // values, bool bits or offsets
  std::shared_ptr<Buffer> data;      // string/binary bytes
  std::vector<OwnedArray> children;
};

// Moves `array` into a C ArrowArray that the consumer releases.
void ExportArray(OwnedArray array, ArrowArray* out);

// A record batch: a struct array without validity whose children are the columns.
void ExportRecordBatch(std::vector<OwnedArray> columns, int64_t length, ArrowArray* out);

// Uncompressed bytes of a view's values (validity excluded): a size estimate for
// reserving buffers, sizing windows and splitting files.
uint64_t UncompressedBytes(const ArrayView& v);

// Counts null bits in validity[offset, offset+length).
int64_t CountNulls(const uint8_t* validity, int64_t offset, int64_t length);

}  // namespace lamina
