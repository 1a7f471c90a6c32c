// ALP-style encoding of decimal-like floats (idea from "ALP: Adaptive Lossless
// floating-Point Compression", Afroozeh et al. 2023; our own implementation).
//
//   body := n:varint e:u8 f:u8 digits:stream exc_count:varint
//           [positions:stream exc_values:stream]          (only when exc_count > 0)
//
// F is float (width 4) or double (width 8); digits holds n signed integers of the same
// width. Value i = F(digits[i]) * P[f] / P[e], evaluated in F with IEEE round-to-nearest,
// where P[k] = 10^k (exact in F for every allowed k: e <= 10 for float, e <= 18 for
// double; f <= e). Then for k < exc_count, value[positions[k]] = the bit pattern
// exc_values[k] (width bytes). positions: IndexWidth(n)-byte unsigned ints, strictly
// increasing, < n; exc_count <= n. Exceptions are values the formula cannot reproduce
// bit-exactly (NaN, +-inf, -0.0, too many digits); their digits slot holds a filler.
//
// Example (float64 1.5 2.25 NaN): 07 25 03 02 00
//   | 02 0d 03 07 96 00 00 00 00 00 00 00 80 e5 12     digits bit-packed: 150 225 225
//   | 01                                               one exception
//   | 01 05 01 02 00 00 00                             positions: constant uint32 [2]
//   | 01 09 01 00 00 00 00 00 00 f8 7f                 values: constant NaN bits
//   (e = 2, f = 0: 150 * 1 / 100 = 1.5; the filler digit at row 2 repeats 225).
#pragma once

#include "lamina/encoding/codecs.h"

namespace lamina::enc {

struct AlpParams {
  int e = 0;
  int f = 0;
  size_t exceptions = 0;   // in the sample
  int bits = 64;           // bit width of the sample's digits range
};

// Finds the (e, f) that minimise estimated size on `sample` (float or double values).
AlpParams ChooseAlpParams(const void* sample, size_t n, int width);

// Writes an ALP stream with the given parameters.
void PutAlp(const void* values, size_t n, int width, int e, int f, ByteWriter* out, int depth);
Status DecodeAlp(ByteReader* body, size_t n, int width, void* out, int depth);
Status TakeAlp(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m, void* out,
               int depth);

}  // namespace lamina::enc
