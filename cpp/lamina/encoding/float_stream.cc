// Dispatch of float streams: ALP, or an integer stream of the bit patterns.
#include <string>

#include "lamina/encoding/codecs.h"

namespace lamina::enc {

Status DecodeFloatStream(ByteReader* in, size_t n, int width, void* out, int depth) {
  Tag tag;
  LAMINA_RETURN_IF_ERROR(PeekTag(*in, &tag));
  return DecodeIntStream(in, n, width, out, depth);
}

Status TakeFloatStream(ByteReader* in, size_t n, int width, const uint32_t* idx, size_t m,
                       void* out, int depth) {
  Tag tag;
  LAMINA_RETURN_IF_ERROR(PeekTag(*in, &tag));
  return TakeIntStream(in, n, width, idx, m, out, depth);
}

Status EncodeFloatStreamAs(Tag tag, const void* values, size_t n, int width, ByteWriter* out,
                           int depth) {
  switch (tag) {
    case Tag::kPlain:
    case Tag::kConstant:
    case Tag::kDict:
      return EncodeIntStreamAs(tag, values, n, width, false, out, depth);
    default:
      return Status::InvalidArgument(std::string(TagName(tag)) + " cannot encode floats");
  }
}

}  // namespace lamina::enc
