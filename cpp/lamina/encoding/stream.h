// Stream framing shared by every encoding, and small helpers the codecs share.
//
//   stream := tag:u8 body_len:varint body[body_len]
//
// Every integer, float and binary body starts with `n:varint`, the number of values it
// holds, so a decoder can reject a stream whose count disagrees with the caller's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lamina/encoding/encoding.h"

namespace lamina::enc {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "lamina assumes a little-endian host");

// Deepest nesting a decoder accepts (top-level stream is depth 0). Encoders stop
// cascading at kMaxEncodeDepth so their output is always decodable.
constexpr int kMaxDepth = 4;
constexpr int kMaxEncodeDepth = 3;

// Writes tag, varint length and body.
void PutStream(Tag tag, const ByteWriter& body, ByteWriter* out);

// Writes the tag and varint length of a stream whose `body_size`-byte body the caller
// appends to `out` next: for bodies of known size, saves building the body apart and
// copying it.
void PutStreamHeader(Tag tag, size_t body_size, ByteWriter* out);

// Bytes ByteWriter::PutVarint(v) writes.
inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// Reads one stream header and returns its body as a sub-reader; advances `in` past the
// whole stream. Rejects unknown tags.
Status OpenStream(ByteReader* in, Tag* tag, ByteReader* body);

// Reads the body's leading count and checks it equals the caller's n.
Status ReadCount(ByteReader* body, size_t n, const char* what);

inline bool ValidIntWidth(int w) { return w == 1 || w == 2 || w == 4 || w == 8; }

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Reads a little-endian integer of `width` bytes, zero-extended.
inline uint64_t LoadWidth(const uint8_t* p, int width) {
  uint64_t v = 0;
  std::memcpy(&v, p, static_cast<size_t>(width));
  return v;
}
inline void StoreWidth(uint8_t* p, int width, uint64_t v) {
  std::memcpy(p, &v, static_cast<size_t>(width));
}

// Sign-extends the low `width` bytes of v when is_signed, else zero-extends.
inline uint64_t Extend(uint64_t v, int width, bool is_signed) {
  if (width == 8) return v;
  int shift = 64 - 8 * width;
  if (is_signed) return static_cast<uint64_t>(static_cast<int64_t>(v << shift) >> shift);
  return v & (~uint64_t{0} >> shift);
}

// Calls f(T{}) with T the unsigned type of `width` bytes. REQUIRES: ValidIntWidth(width).
template <typename F>
decltype(auto) DispatchWidth(int width, F&& f) {
  switch (width) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    default: return f(uint64_t{});
  }
}

// Integer width (4 or 8) used for positions/run ends/offsets into a page of n values.
inline int IndexWidth(uint64_t n) { return n <= 0xffffffffu ? 4 : 8; }

}  // namespace lamina::enc
