#include "lamina/encoding/fsst.h"

#include <algorithm>
#include <unordered_map>

#include "lamina/encoding/bitpack.h"

namespace lamina::enc {
namespace {

constexpr uint8_t kEscape = 255;
constexpr int kGenerations = 5;

inline uint64_t MaskLen(int len) { return len == 8 ? ~uint64_t{0} : ((uint64_t{1} << (8 * len)) - 1); }

inline uint64_t LoadUpTo8(const uint8_t* p, size_t avail) {
  uint64_t w = 0;
  std::memcpy(&w, p, avail < 8 ? avail : 8);
  return w;
}

struct Candidate {
  uint64_t bytes;
  int len;
  uint64_t gain;
};

}  // namespace

void SymbolTable::Add(uint64_t bytes, int len) {
  sym_[nsym_] = bytes & MaskLen(len);
  len_[nsym_] = static_cast<uint8_t>(len);
  ++nsym_;
}

void SymbolTable::BuildIndex() {
  for (auto& v : by_first_) v.clear();
  for (int c = 0; c < nsym_; ++c) by_first_[sym_[c] & 0xff].push_back(static_cast<uint8_t>(c));
  for (auto& v : by_first_) {
    std::stable_sort(v.begin(), v.end(), [&](uint8_t a, uint8_t b) { return len_[a] > len_[b]; });
  }
}

size_t SymbolTable::Compress(const uint8_t* s, size_t len, uint8_t* out) const {
  uint8_t* o = out;
  size_t p = 0;
  while (p < len) {
    size_t avail = len - p;
    uint64_t w = LoadUpTo8(s + p, avail);
    bool hit = false;
    for (uint8_t c : by_first_[s[p]]) {
      if (len_[c] <= avail && (w & MaskLen(len_[c])) == sym_[c]) {
        *o++ = c;
        p += len_[c];
        hit = true;
        break;
      }
    }
    if (!hit) {
      *o++ = kEscape;
      *o++ = s[p++];
    }
  }
  return static_cast<size_t>(o - out);
}

SymbolTable SymbolTable::Train(const std::vector<std::string_view>& sample) {
  SymbolTable table;
  table.BuildIndex();
  for (int gen = 0; gen < kGenerations; ++gen) {
    // Symbol ids: codes 0..nsym-1, single bytes 256 + b.
    std::vector<uint64_t> count1(512, 0);
    std::unordered_map<uint32_t, uint64_t> count2;
    for (std::string_view sv : sample) {
      const uint8_t* s = reinterpret_cast<const uint8_t*>(sv.data());
      size_t len = sv.size(), p = 0;
      int prev = -1;
      while (p < len) {
        size_t avail = len - p;
        uint64_t w = LoadUpTo8(s + p, avail);
        int id = 256 + s[p];
        int l = 1;
        for (uint8_t c : table.by_first_[s[p]]) {
          if (table.len_[c] <= avail && (w & MaskLen(table.len_[c])) == table.sym_[c]) {
            id = c;
            l = table.len_[c];
            break;
          }
        }
        ++count1[id];
        if (prev >= 0) ++count2[static_cast<uint32_t>(prev) << 9 | static_cast<uint32_t>(id)];
        prev = id;
        p += l;
      }
    }
    auto bytes_of = [&](int id) { return id >= 256 ? uint64_t(id - 256) : table.sym_[id]; };
    auto len_of = [&](int id) { return id >= 256 ? 1 : int{table.len_[id]}; };
    struct KeyHash {
      size_t operator()(const std::pair<uint64_t, int>& k) const {
        return std::hash<uint64_t>()(k.first * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(k.second));
      }
    };
    std::unordered_map<std::pair<uint64_t, int>, uint64_t, KeyHash> gains;
    for (int id = 0; id < 512; ++id) {
      if (count1[id]) gains[{bytes_of(id), len_of(id)}] += count1[id] * static_cast<uint64_t>(len_of(id));
    }
    for (const auto& [key, cnt] : count2) {
      int a = static_cast<int>(key >> 9), b = static_cast<int>(key & 511);
      int l = len_of(a) + len_of(b);
      if (l > 8) continue;
      uint64_t bytes = bytes_of(a) | (bytes_of(b) << (8 * len_of(a)));
      gains[{bytes, l}] += cnt * static_cast<uint64_t>(l);
    }
    std::vector<Candidate> cands;
    cands.reserve(gains.size());
    for (const auto& [k, g] : gains) cands.push_back({k.first, k.second, g});
    std::sort(cands.begin(), cands.end(), [](const Candidate& x, const Candidate& y) {
      return x.gain != y.gain ? x.gain > y.gain : (x.len != y.len ? x.len > y.len : x.bytes < y.bytes);
    });
    SymbolTable next;
    for (size_t k = 0; k < cands.size() && next.nsym_ < 255; ++k) {
      // Single bytes gain little over an escape unless frequent; keep them anyway, the
      // table's lookup prefers longer symbols.
      next.Add(cands[k].bytes, cands[k].len);
    }
    next.BuildIndex();
    table = std::move(next);
  }
  return table;
}

void PutFsst(const BinaryInput& in, const SymbolTable& table, ByteWriter* out) {
  std::vector<uint64_t> offsets(in.n + 1, 0);
  std::vector<uint8_t> data(2 * in.total_bytes() + 1);
  size_t pos = 0;
  for (size_t i = 0; i < in.n; ++i) {
    pos += table.Compress(in.value(i), in.length(i), data.data() + pos);
    offsets[i + 1] = pos;
  }
  ByteWriter body;
  body.PutVarint(in.n);
  body.PutU8(static_cast<uint8_t>(table.size()));
  for (int c = 0; c < table.size(); ++c) body.PutU8(static_cast<uint8_t>(table.length(c)));
  for (int c = 0; c < table.size(); ++c) {
    uint64_t s = table.symbol(c);
    body.PutRaw(&s, static_cast<size_t>(table.length(c)));
  }
  body.PutVarint(in.total_bytes());
  PutBitPackInts(offsets.data(), in.n + 1, 8, false, &body);
  body.PutVarint(pos);
  body.PutRaw(data.data(), pos);
  PutStream(Tag::kFsst, body, out);
}

namespace {

struct ParsedFsst {
  int nsym = 0;
  uint64_t sym[256] = {};
  uint8_t len[256] = {};
  uint64_t raw_len = 0;
  BitPacked offsets;
  const uint8_t* data = nullptr;
  uint64_t data_len = 0;
};

Status ParseFsst(ByteReader* body, size_t n, ParsedFsst* f) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "fsst"));
  uint8_t nsym = 0;
  LAMINA_RETURN_IF_ERROR(body->GetU8(&nsym));
  f->nsym = nsym;
  for (int c = 0; c < nsym; ++c) {
    LAMINA_RETURN_IF_ERROR(body->GetU8(&f->len[c]));
    LAMINA_CHECK_CORRUPT(f->len[c] >= 1 && f->len[c] <= 8, "fsst symbol length out of range");
  }
  for (int c = 0; c < nsym; ++c) LAMINA_RETURN_IF_ERROR(body->GetRaw(&f->sym[c], f->len[c]));
  LAMINA_RETURN_IF_ERROR(body->GetVarint(&f->raw_len));
  Tag tag = Tag::kPlain;
  ByteReader ob;
  LAMINA_RETURN_IF_ERROR(OpenStream(body, &tag, &ob));
  LAMINA_CHECK_CORRUPT(tag == Tag::kBitPack, "fsst offsets must be bit-packed");
  LAMINA_RETURN_IF_ERROR(OpenBitPacked(&ob, n + 1, 8, &f->offsets));
  LAMINA_RETURN_IF_ERROR(body->GetVarint(&f->data_len));
  LAMINA_CHECK_CORRUPT(f->data_len == body->remaining(), "fsst data length mismatch");
  LAMINA_CHECK_CORRUPT(f->raw_len / 8 <= f->data_len, "fsst raw length exceeds what data can hold");
  f->data = body->pos();
  return Status::OK();
}

// Decompresses data[begin, end) into dst, writing at most `cap` bytes (plus up to 7 bytes
// of scratch past them); returns the length or -1 on corrupt codes / overflow.
int64_t DecompressOne(const ParsedFsst& f, uint64_t begin, uint64_t end, uint8_t* dst,
                      uint64_t cap) {
  uint64_t w = 0;
  for (uint64_t p = begin; p < end; ++p) {
    uint8_t c = f.data[p];
    if (c < f.nsym) {
      if (w + f.len[c] > cap) return -1;
      std::memcpy(dst + w, &f.sym[c], 8);
      w += f.len[c];
    } else if (c == kEscape && p + 1 < end && w < cap) {
      dst[w++] = f.data[++p];
    } else {
      return -1;
    }
  }
  return static_cast<int64_t>(w);
}

}  // namespace

Status DecodeFsst(ByteReader* body, size_t n, BinarySink* sink) {
  ParsedFsst f;
  LAMINA_RETURN_IF_ERROR(ParseFsst(body, n, &f));
  std::vector<uint64_t> offsets(n + 1);
  LAMINA_RETURN_IF_ERROR(UnpackBitPacked(f.offsets, 8, offsets.data()));
  LAMINA_CHECK_CORRUPT(offsets[0] == 0 && offsets[n] == f.data_len, "fsst offsets do not span data");
  for (size_t i = 0; i < n; ++i) {
    LAMINA_CHECK_CORRUPT(offsets[i] <= offsets[i + 1], "fsst offsets decrease");
  }
  uint8_t* dst = sink->Prepare(static_cast<size_t>(f.raw_len) + 8);
  uint64_t written = 0;
  for (size_t i = 0; i < n; ++i) {
    int64_t len = DecompressOne(f, offsets[i], offsets[i + 1], dst + written, f.raw_len - written);
    LAMINA_CHECK_CORRUPT(len >= 0, "fsst data has invalid codes or exceeds its raw length");
    written += static_cast<uint64_t>(len);
    LAMINA_RETURN_IF_ERROR(sink->Commit(static_cast<size_t>(len)));
  }
  LAMINA_CHECK_CORRUPT(written == f.raw_len, "fsst raw length mismatch");
  return Status::OK();
}

Status TakeFsst(ByteReader* body, size_t n, const uint32_t* idx, size_t m, BinarySink* sink) {
  ParsedFsst f;
  LAMINA_RETURN_IF_ERROR(ParseFsst(body, n, &f));
  for (size_t j = 0; j < m; ++j) {
    uint64_t begin = BitPackedAt(f.offsets, idx[j]);
    uint64_t end = BitPackedAt(f.offsets, size_t{idx[j]} + 1);
    LAMINA_CHECK_CORRUPT(begin <= end && end <= f.data_len, "fsst offset out of range");
    uint64_t cap = 8 * (end - begin);
    uint8_t* dst = sink->Prepare(static_cast<size_t>(cap) + 8);
    int64_t len = DecompressOne(f, begin, end, dst, cap);
    LAMINA_CHECK_CORRUPT(len >= 0, "fsst data has invalid codes");
    LAMINA_RETURN_IF_ERROR(sink->Commit(static_cast<size_t>(len)));
  }
  return Status::OK();
}

}  // namespace lamina::enc
