#include "lamina/util/crc32c.h"

#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <nmmintrin.h>
#define LAMINA_X86 1
#endif

namespace lamina {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

struct Tables {
  uint32_t t[8][256];
  Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

#ifdef LAMINA_X86
// One crc32 instruction has a 3-cycle latency but a throughput of one per cycle, so
// three independent lanes over adjacent blocks keep the unit busy; the lanes are
// then combined by "shifting" a lane's CRC over the bytes that follow it, a linear map
// applied with four 256-entry tables. Page checksums dominated a cold take() of a large
// file before this (benchmarks/test_w1_file.py).
constexpr size_t kLane = 4096;

__attribute__((target("sse4.2"))) uint32_t ShiftZeros(uint32_t x, size_t n) {
  uint64_t c = x;
  for (size_t i = 0; i < n; i += 8) c = _mm_crc32_u64(c, 0);
  return static_cast<uint32_t>(c);
}

struct ShiftTables {
  uint32_t t[4][256];
  ShiftTables() {
    for (int k = 0; k < 4; ++k) {
      for (uint32_t b = 0; b < 256; ++b) t[k][b] = ShiftZeros(b << (8 * k), kLane);
    }
  }
  uint32_t Shift(uint32_t x) const {
    return t[0][x & 0xff] ^ t[1][(x >> 8) & 0xff] ^ t[2][(x >> 16) & 0xff] ^ t[3][x >> 24];
  }
};

const ShiftTables& GetShiftTables() {
  static const ShiftTables tables;
  return tables;
}

__attribute__((target("sse4.2"))) uint32_t Crc32cHw(const uint8_t* p, size_t n, uint32_t crc) {
  uint64_t c = static_cast<uint32_t>(~crc);
  if (n >= 3 * kLane) {
    const ShiftTables& sh = GetShiftTables();
    while (n >= 3 * kLane) {
      uint64_t a = c, b = 0, d = 0;
      const uint8_t* pa = p;
      const uint8_t* pb = p + kLane;
      const uint8_t* pd = p + 2 * kLane;
      for (size_t i = 0; i < kLane; i += 8) {
        uint64_t va, vb, vd;
        std::memcpy(&va, pa + i, 8);
        std::memcpy(&vb, pb + i, 8);
        std::memcpy(&vd, pd + i, 8);
        a = _mm_crc32_u64(a, va);
        b = _mm_crc32_u64(b, vb);
        d = _mm_crc32_u64(d, vd);
      }
      uint32_t ab = sh.Shift(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b);
      c = sh.Shift(ab) ^ static_cast<uint32_t>(d);
      p += 3 * kLane;
      n -= 3 * kLane;
    }
  }
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return ~c32;
}

bool HasSse42() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#endif

}  // namespace

uint32_t Crc32cScalar(const void* data, size_t n, uint32_t crc) {
  const Tables& tb = GetTables();
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (n >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = tb.t[7][lo & 0xff] ^ tb.t[6][(lo >> 8) & 0xff] ^ tb.t[5][(lo >> 16) & 0xff] ^
        tb.t[4][lo >> 24] ^ tb.t[3][hi & 0xff] ^ tb.t[2][(hi >> 8) & 0xff] ^
        tb.t[1][(hi >> 16) & 0xff] ^ tb.t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = (c >> 8) ^ tb.t[0][(c ^ *p++) & 0xff];
    --n;
  }
  return ~c;
}

uint32_t Crc32c(const void* data, size_t n, uint32_t crc) {
#ifdef LAMINA_X86
  if (HasSse42()) return Crc32cHw(static_cast<const uint8_t*>(data), n, crc);
#endif
  return Crc32cScalar(data, n, crc);
}

}  // namespace lamina
