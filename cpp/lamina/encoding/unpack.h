// Bit-packing kernels. Values are packed LSB-first into a little-endian bit stream:
// value i occupies bits [i*bits, (i+1)*bits) and the stream takes
// PackedBytes(n, bits) = ceil(n*bits/8) bytes, with no padding.
//
// Frame of reference is fused in: packing stores (v - base) mod 2^(8*width), unpacking
// writes base + packed value, truncated to the output width.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lamina::enc {

inline size_t PackedBytes(size_t n, int bits) {
  // n*bits/8 without overflowing for n near SIZE_MAX/8.
  return (n / 8) * static_cast<size_t>(bits) + ((n % 8) * static_cast<size_t>(bits) + 7) / 8;
}

// Packs n values of `width` bytes. REQUIRES: 0 <= bits <= 64, every value - base fits in
// `bits` bits, out has PackedBytes(n, bits) bytes (all of them are written).
void PackBits(const void* in, int width, size_t n, uint64_t base, int bits, uint8_t* out);

// Unpacks n values into out (width 1, 2, 4 or 8 bytes each).
// REQUIRES: in has PackedBytes(n, bits) readable bytes, bits <= 8 * width.
// UnpackScalar is the bit-at-a-time reference; UnpackFast is the dispatched kernel
// (AVX2 clone on x86-64 CPUs that have it). Both never read past PackedBytes(n, bits).
void UnpackScalar(const uint8_t* in, size_t n, int bits, uint64_t base, int width, void* out);
void UnpackFast(const uint8_t* in, size_t n, int bits, uint64_t base, int width, void* out);

// Reads value i (without base). REQUIRES: PackedBytes(i + 1, bits) <= len.
inline uint64_t ReadPacked(const uint8_t* in, size_t len, size_t i, int bits) {
  if (bits == 0) return 0;
  uint64_t bit = static_cast<uint64_t>(i) * static_cast<uint64_t>(bits);
  size_t byte = static_cast<size_t>(bit >> 3);
  int sh = static_cast<int>(bit & 7);
  uint64_t w = 0;
  size_t avail = len - byte;
  if (avail >= 9) {
    uint64_t lo, hi8;
    __builtin_memcpy(&lo, in + byte, 8);
    hi8 = in[byte + 8];
    w = lo >> sh;
    if (sh != 0) w |= hi8 << (64 - sh);
  } else {
    // Near the end: assemble byte by byte from what exists.
    unsigned __int128 acc = 0;
    for (size_t k = 0; k < avail; ++k) acc |= static_cast<unsigned __int128>(in[byte + k]) << (8 * k);
    w = static_cast<uint64_t>(acc >> sh);
  }
  return bits == 64 ? w : (w & ((uint64_t{1} << bits) - 1));
}

// Whether UnpackFast runs the AVX2 clone on this CPU.
bool UnpackUsesAvx2();

}  // namespace lamina::enc
