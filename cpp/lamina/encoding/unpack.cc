// Bit-packing kernels: a bit-at-a-time scalar reference, and fast paths specialised per
// bit width (constant shifts and masks, 32 values per block, no per-value branches),
// compiled twice on x86-64 (baseline and AVX2+BMI2) and picked at run time.
#include "lamina/encoding/unpack.h"

#include <cstring>
#include <utility>

#define LAMINA_INLINE inline __attribute__((always_inline))

namespace lamina::enc {
namespace {

LAMINA_INLINE uint64_t Ld64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

template <int B>
constexpr uint64_t kMask = B == 64 ? ~uint64_t{0} : ((uint64_t{1} << B) - 1);

// ---- Unpack ----

// Reads bytes [0, 4*B + 8) of `in` (B > 0, B < 64).
template <int B, typename T, size_t I>
LAMINA_INLINE void UnpackOne(const uint8_t* in, uint64_t base, T* out) {
  constexpr size_t bit = I * B;
  constexpr size_t byte = bit >> 3;
  constexpr int sh = static_cast<int>(bit & 7);
  uint64_t w = Ld64(in + byte) >> sh;
  if constexpr (sh + B > 64) w |= static_cast<uint64_t>(in[byte + 8]) << (64 - sh);
  out[I] = static_cast<T>((w & kMask<B>) + base);
}

template <int B, typename T, size_t... I>
LAMINA_INLINE void Unpack32(const uint8_t* in, uint64_t base, T* out, std::index_sequence<I...>) {
  (UnpackOne<B, T, I>(in, base, out), ...);
}

template <int B, typename T>
LAMINA_INLINE void UnpackRun(const uint8_t* in, size_t n, uint64_t base, T* out) {
  if constexpr (B == 0) {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(base);
  } else if constexpr (B == 64) {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(Ld64(in + 8 * i) + base);
  } else {
    constexpr size_t kBlockBytes = 4 * B;
    const size_t nbytes = PackedBytes(n, B);
    // Blocks whose 8-byte over-read stays inside the stream run straight from `in`.
    size_t safe_blocks = nbytes >= kBlockBytes + 8 ? (nbytes - 8) / kBlockBytes : 0;
    if (safe_blocks > n / 32) safe_blocks = n / 32;
    size_t i = 0;
    for (size_t b = 0; b < safe_blocks; ++b, i += 32) {
      Unpack32<B, T>(in + b * kBlockBytes, base, out + i, std::make_index_sequence<32>{});
    }
    // The last block or two go through a zero-padded copy.
    while (i < n) {
      uint8_t buf[kBlockBytes + 8] = {};
      size_t off = (i / 32) * kBlockBytes;
      size_t len = nbytes - off < kBlockBytes ? nbytes - off : kBlockBytes;
      std::memcpy(buf, in + off, len);
      T tmp[32];
      Unpack32<B, T>(buf, base, tmp, std::make_index_sequence<32>{});
      size_t k = n - i < 32 ? n - i : 32;
      std::memcpy(out + i, tmp, k * sizeof(T));
      i += k;
    }
  }
}

#define LAMINA_BITS_CASES(X)                                                                  \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16) \
  X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) X(28) X(29) X(30) X(31)  \
  X(32) X(33) X(34) X(35) X(36) X(37) X(38) X(39) X(40) X(41) X(42) X(43) X(44) X(45) X(46)  \
  X(47) X(48) X(49) X(50) X(51) X(52) X(53) X(54) X(55) X(56) X(57) X(58) X(59) X(60) X(61)  \
  X(62) X(63) X(64)

template <typename T>
LAMINA_INLINE void UnpackAnyBits(const uint8_t* in, size_t n, int bits, uint64_t base, T* out) {
  switch (bits) {
#define LAMINA_UNPACK_CASE(B)                                         \
  case B:                                                             \
    if constexpr (B <= 8 * sizeof(T)) UnpackRun<B, T>(in, n, base, out); \
    return;
    LAMINA_BITS_CASES(LAMINA_UNPACK_CASE)
#undef LAMINA_UNPACK_CASE
    default:
      return;
  }
}

LAMINA_INLINE void UnpackAnyWidth(const uint8_t* in, size_t n, int bits, uint64_t base, int width,
                                  void* out) {
  switch (width) {
    case 1: return UnpackAnyBits(in, n, bits, base, static_cast<uint8_t*>(out));
    case 2: return UnpackAnyBits(in, n, bits, base, static_cast<uint16_t*>(out));
    case 4: return UnpackAnyBits(in, n, bits, base, static_cast<uint32_t*>(out));
    default: return UnpackAnyBits(in, n, bits, base, static_cast<uint64_t*>(out));
  }
}

void UnpackBaseline(const uint8_t* in, size_t n, int bits, uint64_t base, int width, void* out) {
  UnpackAnyWidth(in, n, bits, base, width, out);
}

#if defined(__x86_64__)
__attribute__((target("avx2,bmi2"))) void UnpackAvx2(const uint8_t* in, size_t n, int bits,
                                                      uint64_t base, int width, void* out) {
  UnpackAnyWidth(in, n, bits, base, width, out);
}
bool DetectAvx2() {
  __builtin_cpu_init();  // runs during static initialisation, before main
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
}
#else
bool DetectAvx2() { return false; }
#endif

const bool kHasAvx2 = DetectAvx2();

// ---- Pack ----

// Packs 32 values into exactly 4*B bytes of out.
template <int B, typename T>
LAMINA_INLINE void Pack32(const T* in, T base, uint8_t* out) {
  uint64_t acc = 0;
  int filled = 0;
#pragma GCC unroll 32
  for (int i = 0; i < 32; ++i) {
    uint64_t v = static_cast<T>(in[i] - base);
    acc |= v << filled;
    filled += B;
    if (filled >= 64) {
      std::memcpy(out, &acc, 8);
      out += 8;
      filled -= 64;
      acc = filled ? v >> (B - filled) : 0;
    }
  }
  if (filled) std::memcpy(out, &acc, 4);  // 32*B bits leave 0 or 32 bits over
}

template <int B, typename T>
void PackRun(const T* in, size_t n, T base, uint8_t* out) {
  if constexpr (B == 0) {
    return;
  } else {
    size_t i = 0;
    for (; i + 32 <= n; i += 32, out += 4 * B) Pack32<B, T>(in + i, base, out);
    if (i < n) {
      T tmp[32];
      size_t k = n - i;
      for (size_t j = 0; j < 32; ++j) tmp[j] = j < k ? in[i + j] : base;
      uint8_t buf[4 * B];
      Pack32<B, T>(tmp, base, buf);
      std::memcpy(out, buf, PackedBytes(k, B));
    }
  }
}

template <typename T>
void PackT(const T* in, size_t n, uint64_t base, int bits, uint8_t* out) {
  switch (bits) {
#define LAMINA_PACK_CASE(B)                                                           \
  case B:                                                                             \
    if constexpr (B <= 8 * sizeof(T)) PackRun<B, T>(in, n, static_cast<T>(base), out); \
    return;
    LAMINA_BITS_CASES(LAMINA_PACK_CASE)
#undef LAMINA_PACK_CASE
    default:
      return;
  }
}

}  // namespace

void PackBits(const void* in, int width, size_t n, uint64_t base, int bits, uint8_t* out) {
  switch (width) {
    case 1: return PackT(static_cast<const uint8_t*>(in), n, base, bits, out);
    case 2: return PackT(static_cast<const uint16_t*>(in), n, base, bits, out);
    case 4: return PackT(static_cast<const uint32_t*>(in), n, base, bits, out);
    default: return PackT(static_cast<const uint64_t*>(in), n, base, bits, out);
  }
}

void UnpackScalar(const uint8_t* in, size_t n, int bits, uint64_t base, int width, void* out) {
  uint8_t* o = static_cast<uint8_t*>(out);
  for (size_t i = 0; i < n; ++i) {
    uint64_t v = 0;
    for (int b = 0; b < bits; ++b) {
      uint64_t bit = static_cast<uint64_t>(i) * bits + b;
      v |= static_cast<uint64_t>((in[bit >> 3] >> (bit & 7)) & 1) << b;
    }
    v += base;
    std::memcpy(o + i * width, &v, static_cast<size_t>(width));
  }
}

void UnpackFast(const uint8_t* in, size_t n, int bits, uint64_t base, int width, void* out) {
#if defined(__x86_64__)
  if (kHasAvx2) return UnpackAvx2(in, n, bits, base, width, out);
#endif
  UnpackBaseline(in, n, bits, base, width, out);
}

bool UnpackUsesAvx2() { return kHasAvx2; }

}  // namespace lamina::enc
