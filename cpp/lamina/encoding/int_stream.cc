// Dispatch of integer streams to their codecs by tag.
#include <string>
#include <vector>

#include "lamina/encoding/bitpack.h"
#include "lamina/encoding/cascade.h"
#include "lamina/encoding/codecs.h"
#include "lamina/encoding/constant.h"
#include "lamina/encoding/delta.h"
#include "lamina/encoding/dictionary.h"
#include "lamina/encoding/rle.h"
#include "lamina/encoding/plain.h"

namespace lamina::enc {

static Status NotAnIntEncoding(Tag tag) {
  return Status::Corruption(std::string(TagName(tag)) + " is not an integer encoding");
}

Status DecodeIntStream(ByteReader* in, size_t n, int width, void* out, int depth) {
  LAMINA_CHECK_CORRUPT(depth <= kMaxDepth, "encoded streams nested too deeply");
  Tag tag = Tag::kPlain;
  ByteReader body;
  LAMINA_RETURN_IF_ERROR(OpenStream(in, &tag, &body));
  switch (tag) {
    case Tag::kPlain: return DecodePlainInts(&body, n, width, out);
    case Tag::kConstant: return DecodeConstantInts(&body, n, width, out);
    case Tag::kBitPack: return DecodeBitPackInts(&body, n, width, out);
    case Tag::kDelta: return DecodeDeltaInts(&body, n, width, out, depth);
    case Tag::kRle: return DecodeRleInts(&body, n, width, out, depth);
    case Tag::kDict: return DecodeDictInts(&body, n, width, out, depth);
    default: return NotAnIntEncoding(tag);
  }
}

Status TakeIntStream(ByteReader* in, size_t n, int width, const uint32_t* idx, size_t m,
                     void* out, int depth) {
  LAMINA_CHECK_CORRUPT(depth <= kMaxDepth, "encoded streams nested too deeply");
  Tag tag = Tag::kPlain;
  ByteReader body;
  LAMINA_RETURN_IF_ERROR(OpenStream(in, &tag, &body));
  switch (tag) {
    case Tag::kPlain: return TakePlainInts(&body, n, width, idx, m, out);
    case Tag::kConstant: return FillConstantInts(&body, n, width, m, out);
    case Tag::kBitPack: return TakeBitPackInts(&body, n, width, idx, m, out);
    case Tag::kRle: return TakeRleInts(&body, n, width, idx, m, out, depth);
    case Tag::kDict: return TakeDictInts(&body, n, width, idx, m, out, depth);
    case Tag::kDelta: {
      // Delta has no random access: decode the stream, then pick.
      return DispatchWidth(width, [&](auto t) -> Status {
        using T = decltype(t);
        std::vector<T> all(n);
        LAMINA_RETURN_IF_ERROR(DecodeDeltaInts(&body, n, width, all.data(), depth));
        T* o = static_cast<T*>(out);
        for (size_t j = 0; j < m; ++j) o[j] = all[idx[j]];
        return Status::OK();
      });
    }
    default: return NotAnIntEncoding(tag);
  }
}

Status EncodeIntStreamAs(Tag tag, const void* values, size_t n, int width, bool is_signed,
                         ByteWriter* out, int depth) {
  switch (tag) {
    case Tag::kPlain:
      PutPlainInts(values, n, width, out);
      return Status::OK();
    case Tag::kConstant: {
      IntRange r = ComputeRange(values, n, width, is_signed);
      if (r.min != r.max) return Status::InvalidArgument("values are not constant");
      PutConstantInts(n, width, r.min, out);
      return Status::OK();
    }
    case Tag::kBitPack:
      PutBitPackInts(values, n, width, is_signed, out);
      return Status::OK();
    case Tag::kDelta:
      PutDeltaInts(values, n, width, out, depth);
      return Status::OK();
    case Tag::kRle:
      PutRleInts(values, n, width, is_signed, out, depth);
      return Status::OK();
    case Tag::kDict:
      PutDictInts(values, n, width, is_signed, out, depth);
      return Status::OK();
    default:
      return Status::InvalidArgument(std::string(TagName(tag)) +
                                     " cannot encode integers");
  }
}

}  // namespace lamina::enc
