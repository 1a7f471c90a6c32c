// Plain encoding: values stored as they are.
//
//   ints/floats:  body := n:varint values[n * width]          (little endian)
//   binary:       body := n:varint offsets:stream data_len:varint data[data_len]
//     offsets holds n + 1 unsigned 64-bit page-relative offsets (offsets[0] = 0,
//     non-decreasing, offsets[n] = data_len), always bit-packed so that take reads
//     two offsets per value.
//
// Example (int16 1 -2): 00 05 02 01 00 fe ff
// Example (["ab", "", "xyz"]): 00 15 03 | 02 0c 04 03 00 00 00 00 00 00 00 00 90 0a
//   | 05 61 62 78 79 7a    (offsets n 4, bits 3, base 0, packed = [0, 2, 2, 5])
#pragma once

#include "lamina/encoding/codecs.h"

namespace lamina::enc {

void PutPlainInts(const void* values, size_t n, int width, ByteWriter* out);
Status DecodePlainInts(ByteReader* body, size_t n, int width, void* out);
Status TakePlainInts(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m,
                     void* out);

void PutPlainBinary(const BinaryInput& in, ByteWriter* out, int depth);
Status DecodePlainBinary(ByteReader* body, size_t n, BinarySink* sink, int depth);
Status TakePlainBinary(ByteReader* body, size_t n, const uint32_t* idx, size_t m,
                       BinarySink* sink, int depth);

}  // namespace lamina::enc
