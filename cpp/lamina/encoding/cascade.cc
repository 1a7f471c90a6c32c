#include "lamina/encoding/cascade.h"

#include "lamina/encoding/bitmap.h"
#include "lamina/encoding/bitpack.h"
#include "lamina/encoding/constant.h"
#include "lamina/encoding/plain.h"

namespace lamina::enc {

void EncodeIntStream(const void* values, size_t n, int width, bool is_signed, ByteWriter* out,
                     int depth) {
  IntRange r = ComputeRange(values, n, width, is_signed);
  if (n > 0 && r.min == r.max) return PutConstantInts(n, width, r.min, out);
  if (PackedBytes(n, r.bits) + width < n * width) return PutBitPackIntsWithRange(values, n, width, r, out);
  PutPlainInts(values, n, width, out);
}

void EncodeFloatStream(const void* values, size_t n, int width, ByteWriter* out, int depth) {
  EncodeIntStream(values, n, width, false, out, depth);
}

void EncodeBinaryStream(const BinaryInput& in, ByteWriter* out, int depth) {
  bool all_equal = in.n > 0;
  for (size_t i = 1; i < in.n && all_equal; ++i) {
    all_equal = in.length(i) == in.length(0) &&
                std::memcmp(in.value(i), in.value(0), in.length(0)) == 0;
  }
  if (all_equal) return PutConstantBinary(in.n, in.value(0), in.length(0), out);
  PutPlainBinary(in, out, depth);
}

}  // namespace lamina::enc
