// Dispatch of float streams: ALP, or an integer stream of the bit patterns.
#include <string>
#include <vector>

#include "lamina/encoding/alp.h"
#include "lamina/encoding/cascade.h"
#include "lamina/encoding/codecs.h"

namespace lamina::enc {

Status DecodeFloatStream(ByteReader* in, size_t n, int width, void* out, int depth) {
  Tag tag = Tag::kPlain;
  LAMINA_RETURN_IF_ERROR(PeekTag(*in, &tag));
  if (tag != Tag::kAlp) return DecodeIntStream(in, n, width, out, depth);
  LAMINA_CHECK_CORRUPT(depth <= kMaxDepth, "encoded streams nested too deeply");
  ByteReader body;
  LAMINA_RETURN_IF_ERROR(OpenStream(in, &tag, &body));
  return DecodeAlp(&body, n, width, out, depth);
}

Status TakeFloatStream(ByteReader* in, size_t n, int width, const uint32_t* idx, size_t m,
                       void* out, int depth) {
  Tag tag = Tag::kPlain;
  LAMINA_RETURN_IF_ERROR(PeekTag(*in, &tag));
  if (tag != Tag::kAlp) return TakeIntStream(in, n, width, idx, m, out, depth);
  LAMINA_CHECK_CORRUPT(depth <= kMaxDepth, "encoded streams nested too deeply");
  ByteReader body;
  LAMINA_RETURN_IF_ERROR(OpenStream(in, &tag, &body));
  return TakeAlp(&body, n, width, idx, m, out, depth);
}

Status EncodeFloatStreamAs(Tag tag, const void* values, size_t n, int width, ByteWriter* out,
                           int depth) {
  switch (tag) {
    case Tag::kPlain:
    case Tag::kConstant:
    case Tag::kDict:
      return EncodeIntStreamAs(tag, values, n, width, false, out, depth);
    case Tag::kAlp: {
      std::vector<uint8_t> sample;
      for (auto [b, e] : SampleSlices(n)) {
        const uint8_t* p = static_cast<const uint8_t*>(values);
        sample.insert(sample.end(), p + b * width, p + e * width);
      }
      AlpParams params = ChooseAlpParams(sample.data(), sample.size() / width, width);
      PutAlp(values, n, width, params.e, params.f, out, depth);
      return Status::OK();
    }
    default:
      return Status::InvalidArgument(std::string(TagName(tag)) + " cannot encode floats");
  }
}

}  // namespace lamina::enc
