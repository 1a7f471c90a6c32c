// Frame of reference + bit-packing, with O(1) random access.
//
//   body := n:varint bits:u8 base[width] packed[ceil(n * bits / 8)]
//
// Value i = (base + unpacked_i) mod 2^(8*width), where unpacked_i is bits
// [i*bits, (i+1)*bits) of `packed` read LSB-first (see unpack.h). bits <= 8 * width.
// The encoder takes base = min(values) in the signed or unsigned ordering, so
// bits = bit length of (max - min).
//
// Example (int32 100 101 103): 02 07 03 02 64 00 00 00 34
//   tag 2, body_len 7, n 3, bits 2, base 100, packed 0x34 = 0b11'01'00 -> 0 1 3.
#pragma once

#include "lamina/encoding/codecs.h"
#include "lamina/encoding/unpack.h"

namespace lamina::enc {

// min, max in the chosen ordering, and the bits needed for max - min.
struct IntRange {
  uint64_t min = 0;  // zero-extended `width`-byte values
  uint64_t max = 0;
  int bits = 0;
};
IntRange ComputeRange(const void* values, size_t n, int width, bool is_signed);

inline int BitLength(uint64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(v); }

void PutBitPackInts(const void* values, size_t n, int width, bool is_signed, ByteWriter* out);
void PutBitPackIntsWithRange(const void* values, size_t n, int width, const IntRange& range,
                             ByteWriter* out);
inline size_t BitPackBodySize(size_t n, int width, int bits) {
  return 10 + 1 + static_cast<size_t>(width) + PackedBytes(n, bits);
}

// A parsed, validated bit-packed body.
struct BitPacked {
  size_t n = 0;
  int bits = 0;
  uint64_t base = 0;
  const uint8_t* packed = nullptr;
  size_t packed_len = 0;
};
Status OpenBitPacked(ByteReader* body, size_t n, int width, BitPacked* bp);
// Writes all n values into out (width bytes each).
Status UnpackBitPacked(const BitPacked& bp, int width, void* out);
// Value i as base + unpacked (mod 2^64; callers truncate to their width).
inline uint64_t BitPackedAt(const BitPacked& bp, size_t i) {
  return bp.base + ReadPacked(bp.packed, bp.packed_len, i, bp.bits);
}

Status DecodeBitPackInts(ByteReader* body, size_t n, int width, void* out);
Status TakeBitPackInts(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m,
                       void* out);

}  // namespace lamina::enc
