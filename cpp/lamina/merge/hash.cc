#include "lamina/merge/hash.h"

#include <cstring>
#include <string_view>

#include "lamina/merge/key.h"

namespace lamina::merge {
namespace {

constexpr uint64_t K1 = 0x9E3779B97F4A7C15ull;
constexpr uint64_t K2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t K3 = 0x165667B19E3779F9ull;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t Round(uint64_t h, uint64_t w) { return Rotl(h ^ (w * K2), 31) * K1; }

inline uint64_t Final(uint64_t h) {
  h ^= h >> 33;
  h *= K2;
  h ^= h >> 29;
  h *= K3;
  h ^= h >> 32;
  return h;
}

inline uint64_t LoadLE(const uint8_t* p, size_t n) {
  uint64_t w = 0;
  for (size_t i = 0; i < n; ++i) w |= static_cast<uint64_t>(p[i]) << (8 * i);
  return w;
}

}  // namespace

uint64_t KeyHash(const uint8_t* b, size_t n) {
  uint64_t h = static_cast<uint64_t>(n) * K1;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) h = Round(h, LoadLE(b + i, 8));
  if (i < n) h = Round(h, LoadLE(b + i, n - i));
  return Final(h);
}

uint64_t KeyHashU64(uint64_t k) {
  // The big-endian bytes of k read little-endian are byteswap(k).
  return Final(Round(8 * K1, __builtin_bswap64(k)));
}

uint64_t RowHash(const NormalizedKeys& keys, size_t i) {
  if (keys.is_u64()) return KeyHashU64(keys.u64()[i]);
  std::string_view b = keys.bytes(i);
  return KeyHash(reinterpret_cast<const uint8_t*>(b.data()), b.size());
}

}  // namespace lamina::merge
