#include "lamina/encoding/stream.h"

#include <string>

namespace lamina::enc {

const char* TagName(Tag tag) {
  switch (tag) {
    case Tag::kPlain: return "plain";
    case Tag::kConstant: return "constant";
    case Tag::kBitPack: return "bitpack";
    case Tag::kDelta: return "delta";
    case Tag::kRle: return "rle";
    case Tag::kDict: return "dictionary";
    case Tag::kFsst: return "fsst";
    case Tag::kAlp: return "alp";
    case Tag::kBitmap: return "bitmap";
  }
  return "unknown";
}

void PutStream(Tag tag, const ByteWriter& body, ByteWriter* out) {
  PutStreamHeader(tag, body.size(), out);
  out->Append(body);
}

void PutStreamHeader(Tag tag, size_t body_size, ByteWriter* out) {
  out->PutU8(static_cast<uint8_t>(tag));
  out->PutVarint(body_size);
}

Status OpenStream(ByteReader* in, Tag* tag, ByteReader* body) {
  uint8_t t = 0;
  LAMINA_RETURN_IF_ERROR(in->GetU8(&t));
  if (t > static_cast<uint8_t>(Tag::kBitmap)) {
    return Status::Corruption("unknown stream tag " + std::to_string(t));
  }
  *tag = static_cast<Tag>(t);
  uint64_t len = 0;
  LAMINA_RETURN_IF_ERROR(in->GetVarint(&len));
  if (len > in->remaining()) {
    return Status::Corruption(std::string(TagName(*tag)) + " stream body truncated");
  }
  return in->GetSlice(static_cast<size_t>(len), body);
}

Status ReadCount(ByteReader* body, size_t n, const char* what) {
  uint64_t count = 0;
  LAMINA_RETURN_IF_ERROR(body->GetVarint(&count));
  if (count != n) {
    return Status::Corruption(std::string(what) + " stream holds " + std::to_string(count) +
                              " values, expected " + std::to_string(n));
  }
  return Status::OK();
}

Status SkipStream(ByteReader* in) {
  Tag tag = Tag::kPlain;
  ByteReader body;
  return OpenStream(in, &tag, &body);
}

Status PeekTag(const ByteReader& in, Tag* tag) {
  ByteReader copy = in;
  uint8_t t = 0;
  LAMINA_RETURN_IF_ERROR(copy.GetU8(&t));
  if (t > static_cast<uint8_t>(Tag::kBitmap)) {
    return Status::Corruption("unknown stream tag " + std::to_string(t));
  }
  *tag = static_cast<Tag>(t);
  return Status::OK();
}

}  // namespace lamina::enc
