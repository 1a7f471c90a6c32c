#include "lamina/encoding/constant.h"

namespace lamina::enc {

void PutConstantInts(size_t n, int width, uint64_t value, ByteWriter* out) {
  ByteWriter body;
  body.PutVarint(n);
  body.PutRaw(&value, static_cast<size_t>(width));
  PutStream(Tag::kConstant, body, out);
}

Status FillConstantInts(ByteReader* body, size_t n, int width, size_t m, void* out) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "constant"));
  uint64_t value = 0;
  LAMINA_RETURN_IF_ERROR(body->GetRaw(&value, static_cast<size_t>(width)));
  LAMINA_CHECK_CORRUPT(body->empty(), "trailing bytes in constant stream");
  DispatchWidth(width, [&](auto t) {
    using T = decltype(t);
    T* o = static_cast<T*>(out);
    const T v = static_cast<T>(value);
    for (size_t i = 0; i < m; ++i) o[i] = v;
  });
  return Status::OK();
}

Status DecodeConstantInts(ByteReader* body, size_t n, int width, void* out) {
  return FillConstantInts(body, n, width, n, out);
}

void PutConstantBinary(size_t n, const uint8_t* value, size_t len, ByteWriter* out) {
  ByteWriter body;
  body.PutVarint(n);
  body.PutVarint(len);
  body.PutRaw(value, len);
  PutStream(Tag::kConstant, body, out);
}

Status FillConstantBinary(ByteReader* body, size_t n, size_t m, BinarySink* sink) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "constant binary"));
  uint64_t len = 0;
  LAMINA_RETURN_IF_ERROR(body->GetVarint(&len));
  LAMINA_CHECK_CORRUPT(len == body->remaining(), "constant binary length mismatch");
  const uint8_t* p = body->pos();
  for (size_t i = 0; i < m; ++i) LAMINA_RETURN_IF_ERROR(sink->Append(p, static_cast<size_t>(len)));
  return Status::OK();
}

void PutConstantBitmap(size_t n, bool bit, ByteWriter* out) {
  ByteWriter body;
  body.PutVarint(n);
  body.PutU8(bit ? 1 : 0);
  PutStream(Tag::kConstant, body, out);
}

Status FillConstantBitmap(ByteReader* body, size_t n, size_t m, uint8_t* out) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "constant bitmap"));
  uint8_t bit = 0;
  LAMINA_RETURN_IF_ERROR(body->GetU8(&bit));
  LAMINA_CHECK_CORRUPT(bit <= 1 && body->empty(), "bad constant bitmap");
  if (bit) {
    if (m >= 8) std::memset(out, 0xff, m / 8);
    if (m % 8) out[m / 8] |= static_cast<uint8_t>((1u << (m % 8)) - 1);
  }
  return Status::OK();
}

}  // namespace lamina::enc
