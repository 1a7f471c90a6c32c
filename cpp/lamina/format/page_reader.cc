#include "lamina/format/page_reader.h"

#include <cstring>

#include "lamina/encoding/constant.h"
#include "lamina/encoding/encoding.h"
#include "lamina/encoding/stream.h"
#include "lamina/util/bit_util.h"

namespace lamina::format {

uint64_t MaxChildValues(uint64_t page_bytes) {
  uint64_t by_bytes = page_bytes * 64;
  return by_bytes > (1u << 22) ? by_bytes : (1u << 22);
}

void PrepareArray(const DataType& t, int64_t length, OwnedArray* arr, bool validity) {
  arr->type = t;
  arr->length = length;
  size_t n = static_cast<size_t>(length);
  arr->validity = validity ? Buffer::Allocate((n + 7) / 8) : nullptr;
  if (t.id == TypeId::kBool) {
    arr->values = Buffer::Allocate((n + 7) / 8);
  } else if (t.byte_width() > 0) {
    // Decoders overwrite every value.
    arr->values = Buffer::Allocate(n * static_cast<size_t>(t.byte_width()), /*zero=*/false);
  } else if (t.is_binary_like() || t.is_list_like()) {
    size_t w = t.has_large_offsets() ? 8 : 4;
    arr->values = Buffer::Allocate((n + 1) * w, /*zero=*/false);
    std::memset(arr->values->data(), 0, w);  // offsets[0]; decoders write the rest
  }
}

bool AllValid(const ByteReader& in, size_t n) {
  ByteReader copy = in, body;
  enc::Tag tag = enc::Tag::kPlain;
  if (!enc::OpenStream(&copy, &tag, &body).ok() || tag != enc::Tag::kConstant) return false;
  uint8_t bits = 0;  // the first 8 bits of the constant (count checked against n)
  return enc::FillConstantBitmap(&body, n, 8, &bits).ok() && bits == 0xff;
}

Status DecodeValidity(ByteReader* in, size_t n, OwnedArray* arr, size_t at, bool lazy) {
  if (arr->validity == nullptr) {
    if (AllValid(*in, n)) return enc::SkipStream(in);
    LAMINA_CHECK_CORRUPT(lazy, "validity stream changed while reading");
    // The first page with nulls: every row before it is valid.
    size_t len = static_cast<size_t>(arr->length);
    arr->validity = Buffer::Allocate((len + 7) / 8);
    uint8_t* v = arr->validity->data();
    std::memset(v, 0xff, at / 8);
    if (at % 8) v[at / 8] = static_cast<uint8_t>((1u << (at % 8)) - 1);
  }
  uint8_t* dst = arr->validity->data();
  if ((at & 7) == 0) {
    // Byte-aligned: decode in place (the target bytes are still zero).
    return enc::DecodeBitmap(in, n, dst + at / 8);
  }
  std::vector<uint8_t> tmp((n + 7) / 8, 0);
  LAMINA_RETURN_IF_ERROR(enc::DecodeBitmap(in, n, tmp.data()));
  CopyBits(tmp.data(), 0, dst, static_cast<int64_t>(at), static_cast<int64_t>(n));
  return Status::OK();
}

Status TakeValidity(ByteReader* in, size_t n, const uint32_t* idx, size_t m, OwnedArray* arr,
                    size_t at) {
  std::vector<uint8_t> tmp((m + 7) / 8, 0);
  LAMINA_RETURN_IF_ERROR(enc::TakeBitmap(in, n, idx, m, tmp.data()));
  CopyBits(tmp.data(), 0, arr->validity->data(), static_cast<int64_t>(at), static_cast<int64_t>(m));
  return Status::OK();
}

namespace {

Status CheckBinaryOffsets(const DataType& t, Sink sink, size_t at, size_t n) {
  // offsets_out[0] continues from the bytes decoded so far.
  uint8_t* offs = sink.arr->values->data();
  if (t.has_large_offsets()) {
    int64_t v = static_cast<int64_t>(sink.data->size());
    std::memcpy(offs + at * 8, &v, 8);
  } else {
    LAMINA_CHECK_CORRUPT(sink.data->size() <= INT32_MAX,
                         "string column over 2 GiB; store it as large_string");
    int32_t v = static_cast<int32_t>(sink.data->size());
    std::memcpy(offs + at * 4, &v, 4);
  }
  return Status::OK();
}

}  // namespace

Status DecodeValues(const DataType& t, ByteReader* in, size_t n, Sink sink, size_t at) {
  OwnedArray* arr = sink.arr;
  if (t.id == TypeId::kBool) {
    if ((at & 7) == 0) return enc::DecodeBitmap(in, n, arr->values->data() + at / 8);
    std::vector<uint8_t> tmp((n + 7) / 8, 0);
    LAMINA_RETURN_IF_ERROR(enc::DecodeBitmap(in, n, tmp.data()));
    CopyBits(tmp.data(), 0, arr->values->data(), static_cast<int64_t>(at), static_cast<int64_t>(n));
    return Status::OK();
  }
  if (t.is_binary_like()) {
    int ow = t.has_large_offsets() ? 8 : 4;
    LAMINA_RETURN_IF_ERROR(CheckBinaryOffsets(t, sink, at, n));
    return enc::DecodeBinary(in, n, ow, arr->values->data() + at * ow, sink.data);
  }
  int w = t.byte_width();
  uint8_t* dst = arr->values->data() + at * static_cast<size_t>(w);
  if (t.is_float()) return enc::DecodeFloats(in, n, w, dst);
  if (t.is_integer_like()) return enc::DecodeInts(in, n, w, t.is_signed(), dst);
  return Status::Corruption("page of a list type decoded as values");
}

Status TakeValues(const DataType& t, ByteReader* in, size_t n, const uint32_t* idx, size_t m,
                  Sink sink, size_t at) {
  OwnedArray* arr = sink.arr;
  if (t.id == TypeId::kBool) {
    std::vector<uint8_t> tmp((m + 7) / 8, 0);
    LAMINA_RETURN_IF_ERROR(enc::TakeBitmap(in, n, idx, m, tmp.data()));
    CopyBits(tmp.data(), 0, arr->values->data(), static_cast<int64_t>(at), static_cast<int64_t>(m));
    return Status::OK();
  }
  if (t.is_binary_like()) {
    int ow = t.has_large_offsets() ? 8 : 4;
    LAMINA_RETURN_IF_ERROR(CheckBinaryOffsets(t, sink, at, m));
    return enc::TakeBinary(in, n, idx, m, ow, arr->values->data() + at * ow, sink.data);
  }
  int w = t.byte_width();
  uint8_t* dst = arr->values->data() + at * static_cast<size_t>(w);
  if (t.is_float()) return enc::TakeFloats(in, n, w, idx, m, dst);
  if (t.is_integer_like()) return enc::TakeInts(in, n, w, t.is_signed(), idx, m, dst);
  return Status::Corruption("page of a list type taken as values");
}

void FinishNulls(OwnedArray* arr) {
  arr->null_count = arr->validity ? CountNulls(arr->validity->data(), 0, arr->length) : 0;
  if (arr->null_count == 0) arr->validity = nullptr;
  for (OwnedArray& c : arr->children) FinishNulls(&c);
}

OwnedArray GatherArray(const OwnedArray& src, const int64_t* idx, size_t m) {
  const DataType& t = src.type;
  OwnedArray out;
  PrepareArray(t, static_cast<int64_t>(m), &out);
  const uint8_t* sv = src.validity ? src.validity->data() : nullptr;
  uint8_t* ov = out.validity->data();
  for (size_t j = 0; j < m; ++j) {
    if (sv == nullptr || GetBit(sv, idx[j])) SetBit(ov, static_cast<int64_t>(j));
  }
  if (t.id == TypeId::kBool) {
    const uint8_t* s = src.values->data();
    uint8_t* d = out.values->data();
    for (size_t j = 0; j < m; ++j) {
      if (GetBit(s, idx[j])) SetBit(d, static_cast<int64_t>(j));
    }
  } else if (t.byte_width() > 0) {
    size_t w = static_cast<size_t>(t.byte_width());
    const uint8_t* s = src.values->data();
    uint8_t* d = out.values->data();
    for (size_t j = 0; j < m; ++j) std::memcpy(d + j * w, s + static_cast<size_t>(idx[j]) * w, w);
  } else if (t.is_binary_like() || t.is_list_like()) {
    bool large = t.has_large_offsets();
    auto off = [&](int64_t i) -> int64_t {
      return large ? src.values->as<int64_t>()[i] : src.values->as<int32_t>()[i];
    };
    std::vector<int64_t> child_idx;
    std::vector<uint8_t> data;
    int64_t pos = 0;
    for (size_t j = 0; j < m; ++j) {
      int64_t a = off(idx[j]), b = off(idx[j] + 1);
      if (t.is_binary_like()) {
        data.insert(data.end(), src.data->data() + a, src.data->data() + b);
      } else {
        for (int64_t k = a; k < b; ++k) child_idx.push_back(k);
      }
      pos += b - a;
      if (large) out.values->as<int64_t>()[j + 1] = pos;
      else out.values->as<int32_t>()[j + 1] = static_cast<int32_t>(pos);
    }
    if (t.is_binary_like()) out.data = Buffer::FromVector(std::move(data));
    else out.children.push_back(GatherArray(src.children[0], child_idx.data(), child_idx.size()));
  } else if (t.id == TypeId::kFixedSizeList) {
    std::vector<int64_t> child_idx(m * static_cast<size_t>(t.list_size));
    for (size_t j = 0; j < m; ++j) {
      for (int32_t k = 0; k < t.list_size; ++k) child_idx[j * t.list_size + k] = idx[j] * t.list_size + k;
    }
    out.children.push_back(GatherArray(src.children[0], child_idx.data(), child_idx.size()));
  }
  FinishNulls(&out);
  return out;
}

}  // namespace lamina::format
