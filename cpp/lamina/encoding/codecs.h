// Internal entry points shared by the codecs: streams of integers, binary values and
// bitmaps at a given nesting depth. The public functions in encoding.h call these with
// depth 0; a codec that nests streams calls them with depth + 1.
//
// Integer decoders are sign-agnostic: a value is its `width` low-order bytes, and only
// encoders need `is_signed` (to order values for min/max).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lamina/encoding/stream.h"

namespace lamina::enc {

// ---- Integers ----
Status DecodeIntStream(ByteReader* in, size_t n, int width, void* out, int depth);
// REQUIRES: every idx[j] < n (callers validate).
Status TakeIntStream(ByteReader* in, size_t n, int width, const uint32_t* idx, size_t m,
                     void* out, int depth);
// Chooses an encoding by sampling (cascade.cc) and writes one stream.
void EncodeIntStream(const void* values, size_t n, int width, bool is_signed, ByteWriter* out,
                     int depth);
// The same, given ComputeRange(values, n, width, is_signed) as (min, max).
void EncodeIntStreamWithRange(const void* values, size_t n, int width, bool is_signed,
                              uint64_t min, uint64_t max, ByteWriter* out, int depth);
// Writes one stream with the given top-level encoding; nested streams are chosen by the
// cascade. InvalidArgument if `tag` cannot represent the values (e.g. constant).
Status EncodeIntStreamAs(Tag tag, const void* values, size_t n, int width, bool is_signed,
                         ByteWriter* out, int depth);

// ---- Floats (width 4 or 8) ----
// Float streams are integer streams of the values' bit patterns, or ALP (alp.h).
Status DecodeFloatStream(ByteReader* in, size_t n, int width, void* out, int depth);
Status TakeFloatStream(ByteReader* in, size_t n, int width, const uint32_t* idx, size_t m,
                       void* out, int depth);
void EncodeFloatStream(const void* values, size_t n, int width, ByteWriter* out, int depth);
Status EncodeFloatStreamAs(Tag tag, const void* values, size_t n, int width, ByteWriter* out,
                           int depth);

// ---- Binary ----
// n values given by 64-bit page-relative offsets[0..n] (offsets[0] need not be 0) into data.
struct BinaryInput {
  const uint64_t* offsets;
  const uint8_t* data;
  size_t n;
  const uint8_t* value(size_t i) const { return data + offsets[i]; }
  size_t length(size_t i) const { return static_cast<size_t>(offsets[i + 1] - offsets[i]); }
  uint64_t total_bytes() const { return n == 0 ? 0 : offsets[n] - offsets[0]; }
};

// Appends decoded values to the caller's buffers, checking 32-bit offset overflow.
class BinarySink {
 public:
  BinarySink(int offset_width, void* offsets, std::vector<uint8_t>* data);
  Status Append(const uint8_t* p, size_t len);
  // Reserves room for `max_len` more bytes; write at most that many at the returned
  // pointer, then call Commit with the count actually written as one value.
  uint8_t* Prepare(size_t max_len);
  Status Commit(size_t len);
  // Drops unused capacity left by Prepare.
  void Finish() { data_->resize(used_); }

 private:
  Status Advance(size_t len);
  int offset_width_;
  uint8_t* offsets_;
  std::vector<uint8_t>* data_;
  size_t used_;
  uint64_t current_;
  size_t count_ = 0;
};

Status DecodeBinaryStream(ByteReader* in, size_t n, BinarySink* sink, int depth);
Status TakeBinaryStream(ByteReader* in, size_t n, const uint32_t* idx, size_t m,
                        BinarySink* sink, int depth);
void EncodeBinaryStream(const BinaryInput& in, ByteWriter* out, int depth);
Status EncodeBinaryStreamAs(Tag tag, const BinaryInput& in, ByteWriter* out, int depth);

// Converts Arrow-style offsets (4 or 8 bytes) to 64-bit ones.
std::vector<uint64_t> WidenOffsets(const void* offsets, int offset_width, size_t n);

}  // namespace lamina::enc
