// Bitmaps (booleans, validity): constant (see constant.h) or plain.
//
//   plain bitmap:  body := n:varint bytes[ceil(n / 8)]      (LSB-first, as in Arrow)
//
// Bits past n in the last byte are written as 0 and ignored on decode.
// Example (bits 1 0 1 1 0): 08 02 05 0d
#pragma once

#include "lamina/encoding/codecs.h"

namespace lamina::enc {

void PutPlainBitmap(const uint8_t* bits, int64_t offset, size_t n, ByteWriter* out);
Status DecodePlainBitmap(ByteReader* body, size_t n, uint8_t* out);
Status TakePlainBitmap(ByteReader* body, size_t n, const uint32_t* idx, size_t m, uint8_t* out);

inline bool GetBit(const uint8_t* bits, uint64_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }
inline void SetBit(uint8_t* bits, uint64_t i) { bits[i >> 3] |= static_cast<uint8_t>(1u << (i & 7)); }

}  // namespace lamina::enc
