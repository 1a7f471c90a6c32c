#include "lamina/encoding/bitpack.h"

#include <string>

namespace lamina::enc {
namespace {

template <typename T>
inline __attribute__((always_inline)) IntRange RangeT(const T* v, size_t n, bool is_signed) {
  IntRange r;
  if (n == 0) return r;
  // Flipping the sign bit maps the signed order onto the unsigned one.
  const T flip = is_signed ? static_cast<T>(T{1} << (8 * sizeof(T) - 1)) : T{0};
  T lo = static_cast<T>(v[0] ^ flip), hi = lo;
  for (size_t i = 1; i < n; ++i) {
    T x = static_cast<T>(v[i] ^ flip);
    lo = x < lo ? x : lo;
    hi = x > hi ? x : hi;
  }
  r.min = static_cast<T>(lo ^ flip);
  r.max = static_cast<T>(hi ^ flip);
  r.bits = BitLength(static_cast<T>(hi - lo));
  return r;
}

}  // namespace

// One pass over every value of every int page a writer encodes: the AVX2 clone compares
// four 64-bit lanes at once (baseline x86-64 has no 64-bit vector compare).
#if defined(__x86_64__) && defined(__gnu_linux__)
__attribute__((target_clones("avx2", "default")))
#endif
IntRange ComputeRange(const void* values, size_t n, int width, bool is_signed) {
  return DispatchWidth(width, [&](auto t) {
    using T = decltype(t);
    return RangeT(static_cast<const T*>(values), n, is_signed);
  });
}

void PutBitPackIntsWithRange(const void* values, size_t n, int width, const IntRange& range,
                             ByteWriter* out) {
  size_t packed = PackedBytes(n, range.bits);
  // The body straight into `out`: its size is known up front.
  PutStreamHeader(Tag::kBitPack, VarintSize(n) + 1 + static_cast<size_t>(width) + packed, out);
  out->PutVarint(n);
  out->PutU8(static_cast<uint8_t>(range.bits));
  out->PutRaw(&range.min, static_cast<size_t>(width));
  PackBits(values, width, n, range.min, range.bits, out->Extend(packed));
}

void PutBitPackInts(const void* values, size_t n, int width, bool is_signed, ByteWriter* out) {
  PutBitPackIntsWithRange(values, n, width, ComputeRange(values, n, width, is_signed), out);
}

Status OpenBitPacked(ByteReader* body, size_t n, int width, BitPacked* bp) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "bitpack"));
  uint8_t bits = 0;
  LAMINA_RETURN_IF_ERROR(body->GetU8(&bits));
  if (bits > 8 * width) {
    return Status::Corruption("bitpack width " + std::to_string(bits) + " exceeds " +
                              std::to_string(8 * width) + " bits");
  }
  uint64_t base = 0;
  LAMINA_RETURN_IF_ERROR(body->GetRaw(&base, static_cast<size_t>(width)));
  if (n > SIZE_MAX / 64) return Status::Corruption("bitpack count too large");
  size_t need = PackedBytes(n, bits);
  LAMINA_CHECK_CORRUPT(body->remaining() == need, "bitpack data length does not match count");
  bp->n = n;
  bp->bits = bits;
  bp->base = base;
  bp->packed = body->pos();
  bp->packed_len = need;
  return Status::OK();
}

Status UnpackBitPacked(const BitPacked& bp, int width, void* out) {
  UnpackFast(bp.packed, bp.n, bp.bits, bp.base, width, out);
  return Status::OK();
}

Status DecodeBitPackInts(ByteReader* body, size_t n, int width, void* out) {
  BitPacked bp;
  LAMINA_RETURN_IF_ERROR(OpenBitPacked(body, n, width, &bp));
  return UnpackBitPacked(bp, width, out);
}

Status TakeBitPackInts(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m,
                       void* out) {
  BitPacked bp;
  LAMINA_RETURN_IF_ERROR(OpenBitPacked(body, n, width, &bp));
  DispatchWidth(width, [&](auto t) {
    using T = decltype(t);
    T* o = static_cast<T*>(out);
    for (size_t j = 0; j < m; ++j) o[j] = static_cast<T>(BitPackedAt(bp, idx[j]));
  });
  return Status::OK();
}

}  // namespace lamina::enc
