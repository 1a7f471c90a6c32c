// Plain encoding: values stored as they are.
//
//   ints/floats:  body := n:varint values[n * width]          (little endian)
//   binary:       body := n:varint offsets:stream data_len:varint data[data_len]
//     offsets holds n + 1 unsigned 64-bit page-relative offsets (offsets[0] = 0,
//     non-decreasing, offsets[n] = data_len), always bit-packed so that take reads
//     two offsets per value.
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
