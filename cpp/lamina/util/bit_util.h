// Bit helpers shared by the format layer.
#pragma once

#include <cstdint>
#include <cstring>

namespace lamina {

inline bool GetBit(const uint8_t* bits, int64_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }
inline void SetBit(uint8_t* bits, int64_t i) { bits[i >> 3] |= static_cast<uint8_t>(1u << (i & 7)); }
inline void ClearBit(uint8_t* bits, int64_t i) {
  bits[i >> 3] &= static_cast<uint8_t>(~(1u << (i & 7)));
}
inline void SetBitTo(uint8_t* bits, int64_t i, bool v) { v ? SetBit(bits, i) : ClearBit(bits, i); }

// Copies n bits from src starting at bit src_off to dst starting at bit dst_off.
// Byte-aligned copies use memcpy; others go bit by bit (rare: page boundaries are
// multiples of 8 rows except at the end of an input chunk).
inline void CopyBits(const uint8_t* src, int64_t src_off, uint8_t* dst, int64_t dst_off,
                     int64_t n) {
  if (n <= 0) return;
  if ((src_off & 7) == 0 && (dst_off & 7) == 0) {
    int64_t bytes = n >> 3;
    std::memcpy(dst + (dst_off >> 3), src + (src_off >> 3), static_cast<size_t>(bytes));
    for (int64_t i = bytes * 8; i < n; ++i) SetBitTo(dst, dst_off + i, GetBit(src, src_off + i));
    return;
  }
  for (int64_t i = 0; i < n; ++i) SetBitTo(dst, dst_off + i, GetBit(src, src_off + i));
}

}  // namespace lamina
