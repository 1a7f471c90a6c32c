// Run-length encoding: run values plus run ends.
//
//   body := n:varint runs:varint values:stream ends:stream
//
// values holds `runs` integers of the column's width; ends holds `runs` unsigned
// integers of IndexWidth(n) bytes (4 when n < 2^32, else 8): the exclusive end row of
// each run, strictly increasing, the last equal to n. 1 <= runs <= n, or runs = 0 when
// n = 0. Both nested streams are encoded by the cascade (ends usually as delta).
// Take binary-searches the ends.
//
// Example (int8 5 5 5 9): 04 10 04 02 | 00 03 02 05 09 | 02 07 02 01 03 00 00 00 02
//   n 4, 2 runs, values plain int8 [5, 9], ends bit-packed uint32 (n 2, bits 1, base 3,
//   packed 0b10) = [3, 4].
#pragma once

#include "lamina/encoding/codecs.h"

namespace lamina::enc {

// Number of runs (0 for n == 0).
size_t CountRuns(const void* values, size_t n, int width);

void PutRleInts(const void* values, size_t n, int width, bool is_signed, ByteWriter* out,
                int depth);
Status DecodeRleInts(ByteReader* body, size_t n, int width, void* out, int depth);
Status TakeRleInts(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m,
                   void* out, int depth);

}  // namespace lamina::enc
