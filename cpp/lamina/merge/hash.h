// The bucket hash: part of the on-disk format (a row's bucket folder depends on it), so
// it must never change. Definition (all arithmetic modulo 2^64, seed 0):
//
//   input   the normalized key bytes b[0..n) (see key.h); a single-integer key hashes
//           its 8 big-endian normalized bytes, so both key paths agree
//   K1 = 0x9E3779B97F4A7C15   K2 = 0xC2B2AE3D27D4EB4F   K3 = 0x165667B19E3779F9
//   h  = n * K1
//   for each 8-byte word w of b, in order, read little-endian; a last partial word is
//   padded with zero bytes to 8:
//       h = h XOR (w * K2)
//       h = rotl(h, 31) * K1
//   final mix:
//       h = h XOR (h >> 33);  h = h * K2
//       h = h XOR (h >> 29);  h = h * K3
//       h = h XOR (h >> 32)
//   bucket = h mod buckets
//
// Test vectors (pinned in tests/test_merge_core.py):
//   80 00 00 00 00 00 00 00  (integer key 0, any width)   -> 0xA0A6221EB8FD7356
//   61 00 00                 (string key "a")              -> 0x3FA121503F463E9A
//   01 02 .. 13              (19 bytes)                    -> 0xC36D8B2947A2C96B
#pragma once

#include <cstddef>
#include <cstdint>

namespace lamina::merge {

uint64_t KeyHash(const uint8_t* bytes, size_t n);

// The hash of the 8 big-endian bytes of fast-path key `k` (same as KeyHash of them).
uint64_t KeyHashU64(uint64_t k);

class NormalizedKeys;
// The hash of row i of `keys` (either key path).
uint64_t RowHash(const NormalizedKeys& keys, size_t i);

}  // namespace lamina::merge
