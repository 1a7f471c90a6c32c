#include "lamina/encoding/dictionary.h"

#include <cstring>

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lamina/encoding/kernels.h"

namespace lamina::enc {
namespace {

template <typename C>
void NarrowCodes(const std::vector<uint32_t>& codes, ByteWriter* body, int depth) {
  std::vector<C> c(codes.begin(), codes.end());
  EncodeIntStream(c.data(), c.size(), sizeof(C), false, body, depth + 1);
}

void PutCodes(const std::vector<uint32_t>& codes, size_t d, ByteWriter* body, int depth) {
  switch (CodeWidth(d)) {
    case 1: return NarrowCodes<uint8_t>(codes, body, depth);
    case 2: return NarrowCodes<uint16_t>(codes, body, depth);
    default: return EncodeIntStream(codes.data(), codes.size(), 4, false, body, depth + 1);
  }
}

Status ReadDictSize(ByteReader* body, size_t n, uint64_t* d) {
  LAMINA_RETURN_IF_ERROR(ReadCount(body, n, "dictionary"));
  LAMINA_RETURN_IF_ERROR(body->GetVarintAtMost(n, d, "dictionary size"));
  LAMINA_CHECK_CORRUPT(n == 0 || *d > 0, "empty dictionary");
  return Status::OK();
}

// Reads the codes stream (all n, or the m at idx) and checks every code < d.
Status ReadCodes(ByteReader* body, size_t n, size_t d, const uint32_t* idx, size_t m,
                 std::vector<uint8_t>* codes, int depth) {
  int cw = CodeWidth(d);
  size_t count = idx ? m : n;
  codes->resize(count * static_cast<size_t>(cw));
  if (idx) {
    LAMINA_RETURN_IF_ERROR(TakeIntStream(body, n, cw, idx, m, codes->data(), depth + 1));
  } else {
    LAMINA_RETURN_IF_ERROR(DecodeIntStream(body, n, cw, codes->data(), depth + 1));
  }
  LAMINA_CHECK_CORRUPT(body->empty(), "trailing bytes in dictionary stream");
  LAMINA_CHECK_CORRUPT(count == 0 || MaxCode(codes->data(), cw, count) < d,
                       "dictionary code out of range");
  return Status::OK();
}

Status DictIntsImpl(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m,
                    void* out, int depth) {
  uint64_t d = 0;
  LAMINA_RETURN_IF_ERROR(ReadDictSize(body, n, &d));
  std::vector<uint8_t> dict(d * static_cast<size_t>(width));
  LAMINA_RETURN_IF_ERROR(DecodeIntStream(body, d, width, dict.data(), depth + 1));
  std::vector<uint8_t> codes;
  LAMINA_RETURN_IF_ERROR(ReadCodes(body, n, d, idx, m, &codes, depth));
  Gather(dict.data(), width, codes.data(), CodeWidth(d), idx ? m : n, out);
  return Status::OK();
}

Status DictBinaryImpl(ByteReader* body, size_t n, const uint32_t* idx, size_t m,
                      BinarySink* sink, int depth) {
  uint64_t d = 0;
  LAMINA_RETURN_IF_ERROR(ReadDictSize(body, n, &d));
  std::vector<uint64_t> offsets(d + 1, 0);
  std::vector<uint8_t> data;
  BinarySink dict_sink(8, offsets.data(), &data);
  LAMINA_RETURN_IF_ERROR(DecodeBinaryStream(body, d, &dict_sink, depth + 1));
  std::vector<uint8_t> codes;
  LAMINA_RETURN_IF_ERROR(ReadCodes(body, n, d, idx, m, &codes, depth));
  size_t count = idx ? m : n;
  int cw = CodeWidth(d);
  // Size the output once, then copy: appending value by value made dictionary strings
  // decode slower than Parquet (benchmarks/test_decode.py, dict_string).
  uint64_t total = 0;
  for (size_t i = 0; i < count; ++i) {
    uint32_t c = static_cast<uint32_t>(LoadWidth(codes.data() + i * cw, cw));
    total += offsets[c + 1] - offsets[c];
  }
  LAMINA_CHECK_CORRUPT(total <= (uint64_t{1} << 31), "dictionary page expands past 2 GiB");
  uint8_t* dst = sink->Prepare(static_cast<size_t>(total));
  for (size_t i = 0; i < count; ++i) {
    uint32_t c = static_cast<uint32_t>(LoadWidth(codes.data() + i * cw, cw));
    size_t len = static_cast<size_t>(offsets[c + 1] - offsets[c]);
    std::memcpy(dst, data.data() + offsets[c], len);
    dst += len;
    LAMINA_RETURN_IF_ERROR(sink->Commit(len));
  }
  return Status::OK();
}

}  // namespace

void PutDictInts(const void* values, size_t n, int width, bool is_signed, ByteWriter* out,
                 int depth) {
  ByteWriter body;
  body.PutVarint(n);
  DispatchWidth(width, [&](auto t) {
    using T = decltype(t);
    const T* v = static_cast<const T*>(values);
    // Sorting keys with the sign bit flipped orders signed values correctly.
    const T flip = is_signed ? static_cast<T>(T{1} << (8 * sizeof(T) - 1)) : T{0};
    std::vector<T> keys(v, v + n);
    for (T& k : keys) k = static_cast<T>(k ^ flip);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    std::vector<uint32_t> codes(n);
    for (size_t i = 0; i < n; ++i) {
      codes[i] = static_cast<uint32_t>(
          std::lower_bound(keys.begin(), keys.end(), static_cast<T>(v[i] ^ flip)) - keys.begin());
    }
    for (T& k : keys) k = static_cast<T>(k ^ flip);
    body.PutVarint(keys.size());
    EncodeIntStream(keys.data(), keys.size(), width, is_signed, &body, depth + 1);
    PutCodes(codes, keys.size(), &body, depth);
  });
  PutStream(Tag::kDict, body, out);
}

Status DecodeDictInts(ByteReader* body, size_t n, int width, void* out, int depth) {
  return DictIntsImpl(body, n, width, nullptr, 0, out, depth);
}

Status TakeDictInts(ByteReader* body, size_t n, int width, const uint32_t* idx, size_t m,
                    void* out, int depth) {
  return DictIntsImpl(body, n, width, idx, m, out, depth);
}

void PutDictBinary(const BinaryInput& in, ByteWriter* out, int depth) {
  // One hash lookup per value gives codes in order of first appearance; sorting the
  // distinct values then renumbers them (a second lookup per value cost as much again).
  std::unordered_map<std::string_view, uint32_t> index;
  std::vector<std::string_view> distinct;
  std::vector<uint32_t> codes(in.n);
  for (size_t i = 0; i < in.n; ++i) {
    std::string_view s(reinterpret_cast<const char*>(in.value(i)), in.length(i));
    auto [it, added] = index.emplace(s, static_cast<uint32_t>(distinct.size()));
    if (added) distinct.push_back(s);
    codes[i] = it->second;
  }
  std::vector<uint32_t> by_value(distinct.size());
  for (size_t k = 0; k < by_value.size(); ++k) by_value[k] = static_cast<uint32_t>(k);
  std::sort(by_value.begin(), by_value.end(),
            [&](uint32_t a, uint32_t b) { return distinct[a] < distinct[b]; });
  std::vector<uint32_t> renumber(distinct.size());
  std::vector<uint64_t> offsets(distinct.size() + 1, 0);
  std::vector<uint8_t> data;
  for (size_t k = 0; k < by_value.size(); ++k) {
    renumber[by_value[k]] = static_cast<uint32_t>(k);
    std::string_view v = distinct[by_value[k]];
    data.insert(data.end(), v.begin(), v.end());
    offsets[k + 1] = data.size();
  }
  for (uint32_t& c : codes) c = renumber[c];
  ByteWriter body;
  body.PutVarint(in.n);
  body.PutVarint(distinct.size());
  EncodeBinaryStream(BinaryInput{offsets.data(), data.data(), distinct.size()}, &body, depth + 1);
  PutCodes(codes, distinct.size(), &body, depth);
  PutStream(Tag::kDict, body, out);
}

Status DecodeDictBinary(ByteReader* body, size_t n, BinarySink* sink, int depth) {
  return DictBinaryImpl(body, n, nullptr, 0, sink, depth);
}

Status TakeDictBinary(ByteReader* body, size_t n, const uint32_t* idx, size_t m,
                      BinarySink* sink, int depth) {
  return DictBinaryImpl(body, n, idx, m, sink, depth);
}

}  // namespace lamina::enc
