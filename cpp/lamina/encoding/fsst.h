// FSST-style string compression: a table of up to 255 symbols (1 to 8 bytes each)
// replaces frequent substrings with one-byte codes. Written from the idea in "FSST: Fast
// Random Access String Compression" (Boncz, Neumann, Leis 2020); our own code.
//
//   body := n:varint nsym:u8 sym_len[nsym]:u8 sym_bytes[sum(sym_len)]
//           raw_len:varint offsets:stream data_len:varint data[data_len]
//
// 0 <= nsym <= 255, 1 <= sym_len <= 8. data is the concatenated compressed strings: a
// code byte c < nsym stands for symbol c; the byte 255 escapes the next byte, which
// stands for itself; other code bytes are invalid. offsets holds n + 1 unsigned 64-bit
// offsets into data (bit-packed, so take decompresses single strings): 0, non-
// decreasing, ending at data_len; an escape never straddles two strings. raw_len is the
// total decompressed length (<= 8 * data_len).
//
// Example (["abab", "ab"]): 06 1b 02 | 02 04 02 61 62 61 62 61 62 | 06
//   | 02 0b 03 02 00 00 00 00 00 00 00 00 24 | 02 00 01
//   n 2, symbols ["abab", "ab"], raw_len 6, offsets bit-packed (bits 2) [0, 1, 2],
//   data_len 2, codes 00 (string 0) and 01 (string 1).
#pragma once

#include <string_view>
#include <vector>

#include "lamina/encoding/codecs.h"

namespace lamina::enc {

class SymbolTable {
 public:
  // Learns a table from sample strings (a few generations of counting symbols and
  // symbol pairs, keeping the 255 with the largest gain = count * length).
  static SymbolTable Train(const std::vector<std::string_view>& sample);

  // Compresses s into out (REQUIRES: room for 2 * s.size() bytes); returns bytes written.
  size_t Compress(const uint8_t* s, size_t len, uint8_t* out) const;

  int size() const { return nsym_; }
  int length(int code) const { return len_[code]; }
  uint64_t symbol(int code) const { return sym_[code]; }
  void Add(uint64_t bytes, int len);
  void BuildIndex();

 private:
  int nsym_ = 0;
  uint64_t sym_[255] = {};
  uint8_t len_[255] = {};
  std::vector<uint8_t> by_first_[256];  // codes starting with a byte, longest first
};

void PutFsst(const BinaryInput& in, const SymbolTable& table, ByteWriter* out);
Status DecodeFsst(ByteReader* body, size_t n, BinarySink* sink);
Status TakeFsst(ByteReader* body, size_t n, const uint32_t* idx, size_t m, BinarySink* sink);

}  // namespace lamina::enc
