// Constant encoding: every value is the same.
//
//   ints/floats:  body := n:varint value[width]
//   binary:       body := n:varint len:varint bytes[len]
//   bitmap:       body := n:varint bit:u8                 (bit is 0 or 1)
//
// Example (5 int32 values of 7): 01 05 05 07 00 00 00
// Example (3 x "hi"): 01 04 03 02 68 69;  (10 bits all 1): 01 02 0a 01
#pragma once

#include "lamina/encoding/codecs.h"

namespace lamina::enc {

void PutConstantInts(size_t n, int width, uint64_t value, ByteWriter* out);
Status DecodeConstantInts(ByteReader* body, size_t n, int width, void* out);
// Take of a constant is a fill of m values; the same as decoding m.
Status FillConstantInts(ByteReader* body, size_t n, int width, size_t m, void* out);

void PutConstantBinary(size_t n, const uint8_t* value, size_t len, ByteWriter* out);
Status FillConstantBinary(ByteReader* body, size_t n, size_t m, BinarySink* sink);

void PutConstantBitmap(size_t n, bool bit, ByteWriter* out);
Status FillConstantBitmap(ByteReader* body, size_t n, size_t m, uint8_t* out);

}  // namespace lamina::enc
