#include "lamina/encoding/delta.h"

#include <vector>

#include "lamina/encoding/kernels.h"

namespace lamina::enc {

void PutDeltaInts(const void* values, size_t n, int width, ByteWriter* out, int depth) {
  ByteWriter body;
  body.PutVarint(n);
  if (n > 0) {
    body.PutRaw(values, static_cast<size_t>(width));
    DispatchWidth(width, [&](auto t) {
      using T = decltype(t);
      const T* v = static_cast<const T*>(values);
      std::vector<T> d(n - 1);
      for (size_t i = 1; i < n; ++i) d[i - 1] = ZigZag(static_cast<T>(v[i] - v[i - 1]));
      EncodeIntStream(d.data(), n - 1, width, /*is_signed=*/false, &body, depth + 1);
    });
  }
  PutStream(Tag::kDelta, body, out);
}

Status DecodeDeltaInts(ByteReader* body, size_t n, int width, void* out, int depth) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "delta"));
  if (n == 0) {
    LAMINA_CHECK_CORRUPT(body->empty(), "trailing bytes in delta stream");
    return Status::OK();
  }
  uint8_t* o = static_cast<uint8_t*>(out);
  LAMINA_RETURN_IF_ERROR(body->GetRaw(o, static_cast<size_t>(width)));
  // The deltas land in place, then the prefix sum turns them into values.
  LAMINA_RETURN_IF_ERROR(DecodeIntStream(body, n - 1, width, o + width, depth + 1));
  LAMINA_CHECK_CORRUPT(body->empty(), "trailing bytes in delta stream");
  PrefixSumZigZag(out, n, width);
  return Status::OK();
}

}  // namespace lamina::enc
