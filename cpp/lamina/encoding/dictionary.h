// Dictionary encoding: distinct values plus codes.
//
//   ints/floats:  body := n:varint d:varint dict:stream codes:stream
//   binary:       body := n:varint d:varint dict:stream codes:stream
//
// dict holds the d distinct values (integers of the column width, sorted in the column's
// order; binary values sorted bytewise, as a nested binary stream), codes holds n
// unsigned integers of CodeWidth(d) bytes, each < d. 1 <= d <= n, or d = 0 when n = 0.
// Both nested streams are encoded by the cascade (codes usually bit-packed).
//
// Example (int64 7 9 7 7): 05 15 04 02 | 02 0b 02 02 07 00 00 00 00 00 00 00 08
//                                       | 02 04 04 01 00 02
//   n 4, d 2, dict bit-packed (n 2, bits 2, base 7, packed 0b1000) = [7, 9],
//   codes bit-packed uint8 (n 4, bits 1, base 0, packed 0b0010) = [0, 1, 0, 0].
#pragma once

#include "lamina/encoding/codecs.h"

namespace lamina::enc {

inline int CodeWidth(uint64_t d) { return d <= 256 ? 1 : d <= 65536 ? 2 : 4; }

void PutDictInts(const void* values, size_t n, int width, bool is_signed, ByteWriter* out,
                 int depth);
Status DecodeDictInts(ByteReader* body, size_t n, int width, void* out, int depth);
Status TakeDictInts(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m,
                    void* out, int depth);

void PutDictBinary(const BinaryInput& in, ByteWriter* out, int depth);
Status DecodeDictBinary(ByteReader* body, size_t n, BinarySink* sink, int depth);
Status TakeDictBinary(ByteReader* body, size_t n, const uint32_t* idx, size_t m,
                      BinarySink* sink, int depth);

}  // namespace lamina::enc
