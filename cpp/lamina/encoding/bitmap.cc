#include "lamina/encoding/bitmap.h"

#include "lamina/encoding/constant.h"

namespace lamina::enc {

void PutPlainBitmap(const uint8_t* bits, int64_t offset, size_t n, ByteWriter* out) {
  ByteWriter body;
  body.PutVarint(n);
  size_t nbytes = (n + 7) / 8;
  uint8_t* dst = body.Extend(nbytes);
  std::memset(dst, 0, nbytes);
  if (offset % 8 == 0) {
    if (nbytes) std::memcpy(dst, bits + offset / 8, nbytes);
    if (n % 8) dst[nbytes - 1] &= static_cast<uint8_t>((1u << (n % 8)) - 1);
  } else {
    for (size_t i = 0; i < n; ++i) {
      if (GetBit(bits, static_cast<uint64_t>(offset) + i)) SetBit(dst, i);
    }
  }
  PutStream(Tag::kBitmap, body, out);
}

static Status OpenPlainBitmap(ByteReader* body, size_t n, const uint8_t** data) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "bitmap"));
  LAMINA_CHECK_CORRUPT(body->remaining() == n / 8 + (n % 8 != 0), "bitmap length mismatch");
  *data = body->pos();
  return Status::OK();
}

Status DecodePlainBitmap(ByteReader* body, size_t n, uint8_t* out) {
  const uint8_t* data;
  LAMINA_RETURN_IF_ERROR(OpenPlainBitmap(body, n, &data));
  size_t nbytes = (n + 7) / 8;
  if (nbytes) std::memcpy(out, data, nbytes);
  if (n % 8) out[nbytes - 1] &= static_cast<uint8_t>((1u << (n % 8)) - 1);
  return Status::OK();
}

Status TakePlainBitmap(ByteReader* body, size_t n, const uint32_t* idx, size_t m, uint8_t* out) {
  const uint8_t* data;
  LAMINA_RETURN_IF_ERROR(OpenPlainBitmap(body, n, &data));
  for (size_t j = 0; j < m; ++j) {
    if (GetBit(data, idx[j])) SetBit(out, j);
  }
  return Status::OK();
}

}  // namespace lamina::enc
