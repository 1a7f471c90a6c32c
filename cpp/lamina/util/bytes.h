// ByteWriter appends little-endian scalars and varints to a growable buffer;
// ByteReader reads them back from untrusted memory, checking every length.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "lamina/util/status.h"

namespace lamina {

class ByteWriter {
 public:
  void PutU8(uint8_t v) { buf_.push_back(v); }
  void PutU16(uint16_t v) { PutRaw(&v, 2); }
  void PutU32(uint32_t v) { PutRaw(&v, 4); }
  void PutU64(uint64_t v) { PutRaw(&v, 8); }
  void PutVarint(uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    buf_.push_back(static_cast<uint8_t>(v));
  }
  // Varint length followed by the bytes.
  void PutString(std::string_view s) {
    PutVarint(s.size());
    PutRaw(s.data(), s.size());
  }
  void PutRaw(const void* p, size_t n) {
    if (n == 0) return;
    size_t old = buf_.size();
    buf_.resize(old + n);
    std::memcpy(buf_.data() + old, p, n);
  }
  // Grows the buffer by n bytes and returns a pointer to them (valid until the next Put).
  uint8_t* Extend(size_t n) {
    size_t old = buf_.size();
    buf_.resize(old + n);
    return buf_.data() + old;
  }
  void Append(const ByteWriter& other) { PutRaw(other.data(), other.size()); }
  size_t size() const { return buf_.size(); }
  const uint8_t* data() const { return buf_.data(); }
  uint8_t* mutable_data() { return buf_.data(); }
  std::vector<uint8_t>& vec() { return buf_; }
  void Reserve(size_t n) { buf_.reserve(n); }
  void Clear() { buf_.clear(); }

 private:
  std::vector<uint8_t> buf_;
};

// Reads from [data, data+size). Every getter checks bounds and returns Corruption
// rather than reading past the end.
class ByteReader {
 public:
  ByteReader() = default;
  ByteReader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* pos() const { return p_; }
  bool empty() const { return p_ == end_; }

  Status GetU8(uint8_t* v) { return GetRaw(v, 1); }
  Status GetU16(uint16_t* v) { return GetRaw(v, 2); }
  Status GetU32(uint32_t* v) { return GetRaw(v, 4); }
  Status GetU64(uint64_t* v) { return GetRaw(v, 8); }
  Status GetVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return Status::Corruption("truncated varint");
      uint8_t b = *p_++;
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return Status::OK();
      }
    }
    return Status::Corruption("varint longer than 10 bytes");
  }
  // A varint that must not exceed `limit` (guards allocations driven by file bytes).
  Status GetVarintAtMost(uint64_t limit, uint64_t* v, const char* what) {
    LAMINA_RETURN_IF_ERROR(GetVarint(v));
    if (*v > limit) return Status::Corruption(std::string(what) + " out of range");
    return Status::OK();
  }
  Status GetString(std::string* s) {
    uint64_t n;
    LAMINA_RETURN_IF_ERROR(GetVarint(&n));
    if (n > remaining()) return Status::Corruption("truncated string");
    s->assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return Status::OK();
  }
  Status GetRaw(void* out, size_t n) {
    if (n > remaining()) return Status::Corruption("truncated data");
    std::memcpy(out, p_, n);
    p_ += n;
    return Status::OK();
  }
  // Returns a sub-reader over the next n bytes and advances past them.
  Status GetSlice(size_t n, ByteReader* out) {
    if (n > remaining()) return Status::Corruption("truncated section");
    *out = ByteReader(p_, n);
    p_ += n;
    return Status::OK();
  }
  // A varint length, then that many bytes as a sub-reader.
  Status GetSizedSlice(ByteReader* out) {
    uint64_t n;
    LAMINA_RETURN_IF_ERROR(GetVarint(&n));
    return GetSlice(n, out);
  }
  Status Skip(size_t n) {
    if (n > remaining()) return Status::Corruption("truncated data");
    p_ += n;
    return Status::OK();
  }

 private:
  const uint8_t* p_ = nullptr;
  const uint8_t* end_ = nullptr;
};

}  // namespace lamina
