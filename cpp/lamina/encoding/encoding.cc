// The public entry points of encoding.h: argument checks, then the codecs at depth 0.
#include "lamina/encoding/encoding.h"

#include "lamina/encoding/bitpack.h"

#include "lamina/arrow/array.h"

#include <string>

#include "lamina/encoding/bitmap.h"
#include "lamina/encoding/codecs.h"
#include "lamina/encoding/constant.h"

namespace lamina::enc {
namespace {

Status CheckIntWidth(int width) {
  if (!ValidIntWidth(width)) {
    return Status::InvalidArgument("integer width must be 1, 2, 4 or 8, got " +
                                   std::to_string(width));
  }
  return Status::OK();
}

Status CheckFloatWidth(int width) {
  if (width != 4 && width != 8) {
    return Status::InvalidArgument("float width must be 4 or 8, got " + std::to_string(width));
  }
  return Status::OK();
}

Status CheckIndices(const uint32_t* idx, size_t m, size_t n) {
  for (size_t j = 0; j < m; ++j) {
    if (idx[j] >= n) {
      return Status::InvalidArgument("take index " + std::to_string(idx[j]) +
                                     " out of range for " + std::to_string(n) + " values");
    }
  }
  return Status::OK();
}

}  // namespace

void EncodeInts(const void* values, size_t n, int width, bool is_signed, ByteWriter* out) {
  EncodeIntStream(values, n, width, is_signed, out, 0);
}

void EncodeIntsMinMax(const void* values, size_t n, int width, bool is_signed, ByteWriter* out,
                      uint64_t* min, uint64_t* max) {
  IntRange r = ComputeRange(values, n, width, is_signed);
  *min = r.min;
  *max = r.max;
  EncodeIntStreamWithRange(values, n, width, is_signed, r.min, r.max, out, 0);
}

Status DecodeInts(ByteReader* in, size_t n, int width, bool is_signed, void* out) {
  LAMINA_RETURN_IF_ERROR(CheckIntWidth(width));
  return DecodeIntStream(in, n, width, out, 0);
}

Status TakeInts(ByteReader* in, size_t n, int width, bool is_signed, const uint32_t* idx,
                size_t m, void* out) {
  if (m == 0) return SkipStream(in);  // codecs read a null index list as 'all'
  LAMINA_RETURN_IF_ERROR(CheckIntWidth(width));
  LAMINA_RETURN_IF_ERROR(CheckIndices(idx, m, n));
  return TakeIntStream(in, n, width, idx, m, out, 0);
}

Status EncodeIntsAs(Tag tag, const void* values, size_t n, int width, bool is_signed,
                    ByteWriter* out) {
  LAMINA_RETURN_IF_ERROR(CheckIntWidth(width));
  return EncodeIntStreamAs(tag, values, n, width, is_signed, out, 0);
}

void EncodeFloats(const void* values, size_t n, int width, ByteWriter* out) {
  EncodeFloatStream(values, n, width, out, 0);
}

Status DecodeFloats(ByteReader* in, size_t n, int width, void* out) {
  LAMINA_RETURN_IF_ERROR(CheckFloatWidth(width));
  return DecodeFloatStream(in, n, width, out, 0);
}

Status TakeFloats(ByteReader* in, size_t n, int width, const uint32_t* idx, size_t m,
                  void* out) {
  if (m == 0) return SkipStream(in);  // codecs read a null index list as 'all'
  LAMINA_RETURN_IF_ERROR(CheckFloatWidth(width));
  LAMINA_RETURN_IF_ERROR(CheckIndices(idx, m, n));
  return TakeFloatStream(in, n, width, idx, m, out, 0);
}

Status EncodeFloatsAs(Tag tag, const void* values, size_t n, int width, ByteWriter* out) {
  LAMINA_RETURN_IF_ERROR(CheckFloatWidth(width));
  return EncodeFloatStreamAs(tag, values, n, width, out, 0);
}

void EncodeBinary(const void* offsets, int offset_width, const uint8_t* data, size_t n,
                  ByteWriter* out) {
  std::vector<uint64_t> wide = WidenOffsets(offsets, offset_width, n);
  EncodeBinaryStream(BinaryInput{wide.data(), data, n}, out, 0);
}

Status EncodeBinaryAs(Tag tag, const void* offsets, int offset_width, const uint8_t* data,
                      size_t n, ByteWriter* out) {
  if (offset_width != 4 && offset_width != 8) {
    return Status::InvalidArgument("offset width must be 4 or 8");
  }
  std::vector<uint64_t> wide = WidenOffsets(offsets, offset_width, n);
  return EncodeBinaryStreamAs(tag, BinaryInput{wide.data(), data, n}, out, 0);
}

Status DecodeBinary(ByteReader* in, size_t n, int offset_width, void* offsets_out,
                    std::vector<uint8_t>* data_out) {
  if (offset_width != 4 && offset_width != 8) {
    return Status::InvalidArgument("offset width must be 4 or 8");
  }
  BinarySink sink(offset_width, offsets_out, data_out);
  return DecodeBinaryStream(in, n, &sink, 0);
}

Status TakeBinary(ByteReader* in, size_t n, const uint32_t* idx, size_t m, int offset_width,
                  void* offsets_out, std::vector<uint8_t>* data_out) {
  if (m == 0) return SkipStream(in);  // codecs read a null index list as 'all'
  if (offset_width != 4 && offset_width != 8) {
    return Status::InvalidArgument("offset width must be 4 or 8");
  }
  LAMINA_RETURN_IF_ERROR(CheckIndices(idx, m, n));
  BinarySink sink(offset_width, offsets_out, data_out);
  return TakeBinaryStream(in, n, idx, m, &sink, 0);
}

void EncodeBitmap(const uint8_t* bits, int64_t offset, size_t n, ByteWriter* out) {
  // Popcount by words: every page's validity goes through here.
  size_t ones = n - static_cast<size_t>(CountNulls(bits, offset, static_cast<int64_t>(n)));
  if (n > 0 && (ones == 0 || ones == n)) return PutConstantBitmap(n, ones == n, out);
  PutPlainBitmap(bits, offset, n, out);
}

Status DecodeBitmap(ByteReader* in, size_t n, uint8_t* out) {
  Tag tag = Tag::kPlain;
  ByteReader body;
  LAMINA_RETURN_IF_ERROR(OpenStream(in, &tag, &body));
  switch (tag) {
    case Tag::kConstant: return FillConstantBitmap(&body, n, n, out);
    case Tag::kBitmap: return DecodePlainBitmap(&body, n, out);
    default: return Status::Corruption(std::string(TagName(tag)) + " is not a bitmap encoding");
  }
}

Status TakeBitmap(ByteReader* in, size_t n, const uint32_t* idx, size_t m, uint8_t* out) {
  if (m == 0) return SkipStream(in);  // codecs read a null index list as 'all'
  LAMINA_RETURN_IF_ERROR(CheckIndices(idx, m, n));
  Tag tag = Tag::kPlain;
  ByteReader body;
  LAMINA_RETURN_IF_ERROR(OpenStream(in, &tag, &body));
  switch (tag) {
    case Tag::kConstant: return FillConstantBitmap(&body, n, m, out);
    case Tag::kBitmap: return TakePlainBitmap(&body, n, idx, m, out);
    default: return Status::Corruption(std::string(TagName(tag)) + " is not a bitmap encoding");
  }
}

}  // namespace lamina::enc
