// PodArray: an uninitialized array of trivially copyable values held in a Buffer. Large
// buffers come from the Buffer mapping cache, so the multi-megabyte scratch arrays of a
// merge (selections, key boundaries) reuse freed pages instead of faulting in and
// zeroing fresh ones each call (page faults and kernel zeroing were ~20% of a merge of
// 8 x 1.25M rows under perf).
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

#include "lamina/arrow/array.h"

namespace lamina::merge {

template <typename T>
class PodArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  // Contents are unspecified after Allocate.
  void Allocate(size_t n) {
    buf_ = Buffer::Allocate(n * sizeof(T), /*zero=*/false);
    data_ = buf_->as<T>();
    size_ = n;
  }
  // Keeps the first n values (n <= size()).
  void Truncate(size_t n) { size_ = n; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

 private:
  std::shared_ptr<Buffer> buf_;
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace lamina::merge
