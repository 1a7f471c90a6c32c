// The encoded streams that make up a lamina page. Each stream is self-delimiting:
//
//   stream := tag:u8 body_len:varint body[body_len]
//
// The tag names the encoding; the body layout belongs to that encoding and may nest
// further streams (a cascade: dictionary codes that are then bit-packed, run values and
// run ends that are each encoded again, ...). docs/format.md gives each body's grammar.
//
// Encoders pick the encoding of a stream by sampling (see cascade.h). Decoders treat the
// bytes as untrusted: every length and offset is checked, and nothing is allocated that
// the stream's own byte length (or the caller's n) cannot justify. Bad bytes yield
// Status::Corruption, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lamina/util/bytes.h"
#include "lamina/util/status.h"

namespace lamina::enc {

enum class Tag : uint8_t {
  kPlain = 0,
  kConstant = 1,
  kBitPack = 2,    // frame of reference + bit-packing; O(1) random access
  kDelta = 3,      // first value + bit-packed zigzag deltas
  kRle = 4,        // run values stream + run ends stream
  kDict = 5,       // dictionary stream + codes stream
  kFsst = 6,       // strings: symbol table + compressed strings
  kAlp = 7,        // floats: decimal exponent/factor + integer stream + exceptions
  kBitmap = 8,     // booleans / validity: plain bitmap
};

const char* TagName(Tag tag);

// ---- Integers --------------------------------------------------------------------
// `values` holds n integers of `width` bytes (1, 2, 4 or 8), little endian; `is_signed`
// selects the ordering used for min/max and frame of reference.

void EncodeInts(const void* values, size_t n, int width, bool is_signed, ByteWriter* out);

// As EncodeInts, also giving the values' min and max in the `is_signed` order (as
// zero-extended `width`-byte patterns), which the encoder finds anyway: callers that
// keep statistics save a pass. REQUIRES: n > 0.
void EncodeIntsMinMax(const void* values, size_t n, int width, bool is_signed, ByteWriter* out,
                      uint64_t* min, uint64_t* max);

// Decodes a stream of exactly n integers into out (n * width bytes). Advances `in`
// past the stream.
Status DecodeInts(ByteReader* in, size_t n, int width, bool is_signed, void* out);

// out[j] = value[idx[j]] for j < m. REQUIRES: every idx[j] < n (checked: Corruption
// would be wrong here, so an out-of-range index is InvalidArgument). Decodes only what
// the encoding needs (bit-packed and plain streams read single values).
Status TakeInts(ByteReader* in, size_t n, int width, bool is_signed, const uint32_t* idx,
                size_t m, void* out);

// ---- Floats (width 4 or 8) -------------------------------------------------------

void EncodeFloats(const void* values, size_t n, int width, ByteWriter* out);
Status DecodeFloats(ByteReader* in, size_t n, int width, void* out);
Status TakeFloats(ByteReader* in, size_t n, int width, const uint32_t* idx, size_t m,
                  void* out);

// ---- Variable-length binary (strings) --------------------------------------------
// Input: n values given Arrow-style by offsets[0..n] (offset_width 4 or 8 bytes) into
// data. Offsets need not start at 0.

void EncodeBinary(const void* offsets, int offset_width, const uint8_t* data, size_t n,
                  ByteWriter* out);

// Decodes n values: appends their bytes to *data_out and writes offsets_out[1..n]
// (offset_width bytes each) as running ends, continuing from offsets_out[0], which the
// caller sets (normally data_out->size() before the call). Fails with Corruption if the
// total would overflow a 32-bit offset when offset_width == 4.
Status DecodeBinary(ByteReader* in, size_t n, int offset_width, void* offsets_out,
                    std::vector<uint8_t>* data_out);
Status TakeBinary(ByteReader* in, size_t n, const uint32_t* idx, size_t m, int offset_width,
                  void* offsets_out, std::vector<uint8_t>* data_out);

// ---- Bitmaps (booleans and validity) ---------------------------------------------
// Bits are LSB-first as in Arrow. Input bits start at bit `offset` of `bits`.

void EncodeBitmap(const uint8_t* bits, int64_t offset, size_t n, ByteWriter* out);
// Writes n bits starting at bit 0 of out (ceil(n/8) bytes; the caller zeroes it).
Status DecodeBitmap(ByteReader* in, size_t n, uint8_t* out);
// out bit j = bit idx[j]; out starts at bit 0 (ceil(m/8) bytes, zeroed by the caller).
Status TakeBitmap(ByteReader* in, size_t n, const uint32_t* idx, size_t m, uint8_t* out);

// ---- Forced encodings (tests and benchmarks) -------------------------------------
// Encode with the given top-level encoding; nested streams are still chosen by the
// cascade. InvalidArgument when that encoding cannot represent the values (constant of
// non-constant values, ALP for integers, ...).

Status EncodeIntsAs(Tag tag, const void* values, size_t n, int width, bool is_signed,
                    ByteWriter* out);
Status EncodeFloatsAs(Tag tag, const void* values, size_t n, int width, ByteWriter* out);
Status EncodeBinaryAs(Tag tag, const void* offsets, int offset_width, const uint8_t* data,
                      size_t n, ByteWriter* out);

// Skips one stream (any encoding) without decoding it.
Status SkipStream(ByteReader* in);

// Returns the tag of the stream at the reader's position without consuming it.
Status PeekTag(const ByteReader& in, Tag* tag);

}  // namespace lamina::enc
