// Dispatch of binary streams by tag, and the sink that appends decoded values.
#include <string>

#include "lamina/encoding/codecs.h"
#include "lamina/encoding/constant.h"
#include "lamina/encoding/cascade.h"
#include "lamina/encoding/dictionary.h"
#include "lamina/encoding/fsst.h"
#include "lamina/encoding/plain.h"

namespace lamina::enc {

BinarySink::BinarySink(int offset_width, void* offsets, std::vector<uint8_t>* data)
    : offset_width_(offset_width),
      offsets_(static_cast<uint8_t*>(offsets)),
      data_(data),
      used_(data->size()) {
  if (offset_width_ == 4) {
    int32_t v;
    std::memcpy(&v, offsets_, 4);
    current_ = static_cast<uint64_t>(static_cast<int64_t>(v));
  } else {
    std::memcpy(&current_, offsets_, 8);
  }
}

Status BinarySink::Advance(size_t len) {
  current_ += len;
  ++count_;
  if (offset_width_ == 4) {
    if (current_ > 0x7fffffffu) {
      return Status::Corruption("decoded binary values overflow 32-bit offsets");
    }
    uint32_t v = static_cast<uint32_t>(current_);
    std::memcpy(offsets_ + 4 * count_, &v, 4);
  } else {
    std::memcpy(offsets_ + 8 * count_, &current_, 8);
  }
  return Status::OK();
}

Status BinarySink::Append(const uint8_t* p, size_t len) {
  LAMINA_RETURN_IF_ERROR(Advance(len));
  data_->insert(data_->begin() + static_cast<std::ptrdiff_t>(used_), p, p + len);
  used_ += len;
  return Status::OK();
}

uint8_t* BinarySink::Prepare(size_t max_len) {
  data_->resize(used_ + max_len);
  return data_->data() + used_;
}

Status BinarySink::Commit(size_t len) {
  LAMINA_RETURN_IF_ERROR(Advance(len));
  used_ += len;
  return Status::OK();
}

std::vector<uint64_t> WidenOffsets(const void* offsets, int offset_width, size_t n) {
  std::vector<uint64_t> v(n + 1);
  if (offset_width == 4) {
    const int32_t* o = static_cast<const int32_t*>(offsets);
    for (size_t i = 0; i <= n; ++i) v[i] = static_cast<uint64_t>(static_cast<int64_t>(o[i]));
  } else {
    std::memcpy(v.data(), offsets, (n + 1) * 8);
  }
  return v;
}

static Status NotABinaryEncoding(Tag tag) {
  return Status::Corruption(std::string(TagName(tag)) + " is not a binary encoding");
}

Status DecodeBinaryStream(ByteReader* in, size_t n, BinarySink* sink, int depth) {
  LAMINA_CHECK_CORRUPT(depth <= kMaxDepth, "encoded streams nested too deeply");
  Tag tag = Tag::kPlain;
  ByteReader body;
  LAMINA_RETURN_IF_ERROR(OpenStream(in, &tag, &body));
  Status st;
  switch (tag) {
    case Tag::kPlain: st = DecodePlainBinary(&body, n, sink, depth); break;
    case Tag::kDict: st = DecodeDictBinary(&body, n, sink, depth); break;
    case Tag::kFsst: st = DecodeFsst(&body, n, sink); break;
    case Tag::kConstant: st = FillConstantBinary(&body, n, n, sink); break;
    default: return NotABinaryEncoding(tag);
  }
  sink->Finish();
  return st;
}

Status TakeBinaryStream(ByteReader* in, size_t n, const uint32_t* idx, size_t m,
                        BinarySink* sink, int depth) {
  LAMINA_CHECK_CORRUPT(depth <= kMaxDepth, "encoded streams nested too deeply");
  Tag tag = Tag::kPlain;
  ByteReader body;
  LAMINA_RETURN_IF_ERROR(OpenStream(in, &tag, &body));
  Status st;
  switch (tag) {
    case Tag::kPlain: st = TakePlainBinary(&body, n, idx, m, sink, depth); break;
    case Tag::kDict: st = TakeDictBinary(&body, n, idx, m, sink, depth); break;
    case Tag::kFsst: st = TakeFsst(&body, n, idx, m, sink); break;
    case Tag::kConstant: st = FillConstantBinary(&body, n, m, sink); break;
    default: return NotABinaryEncoding(tag);
  }
  sink->Finish();
  return st;
}

Status EncodeBinaryStreamAs(Tag tag, const BinaryInput& in, ByteWriter* out, int depth) {
  switch (tag) {
    case Tag::kPlain:
      PutPlainBinary(in, out, depth);
      return Status::OK();
    case Tag::kConstant:
      for (size_t i = 1; i < in.n; ++i) {
        if (in.length(i) != in.length(0) ||
            (in.length(0) != 0 && std::memcmp(in.value(i), in.value(0), in.length(0)) != 0)) {
          return Status::InvalidArgument("values are not constant");
        }
      }
      if (in.n == 0) return Status::InvalidArgument("constant needs at least one value");
      PutConstantBinary(in.n, in.value(0), in.length(0), out);
      return Status::OK();
    case Tag::kDict:
      PutDictBinary(in, out, depth);
      return Status::OK();
    case Tag::kFsst: {
      std::vector<std::string_view> sample;
      for (auto [b, e] : SampleSlices(in.n)) {
        for (size_t i = b; i < e; ++i) {
          sample.emplace_back(reinterpret_cast<const char*>(in.value(i)), in.length(i));
        }
      }
      PutFsst(in, SymbolTable::Train(sample), out);
      return Status::OK();
    }
    default:
      return Status::InvalidArgument(std::string(TagName(tag)) + " cannot encode binary");
  }
}

}  // namespace lamina::enc
