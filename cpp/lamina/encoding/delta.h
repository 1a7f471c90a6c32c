// Delta encoding, for sorted or slowly changing integers.
//
//   body := n:varint                                       (n == 0)
//         | n:varint first[width] deltas:stream            (n >= 1)
//
// deltas holds n - 1 unsigned `width`-byte integers ZigZag(v[i] - v[i-1]), the difference
// taken mod 2^(8*width) and read as signed; it is itself encoded by the cascade (usually
// bit-packed, whose frame of reference removes the common step).
// Decoding: v[0] = first, v[i] = v[i-1] + UnZigZag(deltas[i-1]).
//
// Example (int32 10 11 12 13): 03 0c 04 0a 00 00 00 | 01 05 03 02 00 00 00
//   n 4, first 10, deltas = constant stream of 3 values ZigZag(1) = 2.
#pragma once

#include "lamina/encoding/codecs.h"

namespace lamina::enc {

void PutDeltaInts(const void* values, size_t n, int width, ByteWriter* out, int depth);
Status DecodeDeltaInts(ByteReader* body, size_t n, int width, void* out, int depth);

}  // namespace lamina::enc
