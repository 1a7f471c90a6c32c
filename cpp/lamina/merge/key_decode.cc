#include "lamina/merge/key_decode.h"

#include <cstring>
#include <string>

#include "lamina/merge/key.h"
#include "lamina/util/utf8.h"

namespace lamina::merge {
namespace {

// One column's decoder: consumes its part of a key at `*pos`.
class ColumnDecoder {
 public:
  ColumnDecoder(const Field& f, size_t n) : type_(f.type), n_(n) {
    if (type_.is_integer_like()) {
      values_ = Buffer::Allocate(n * static_cast<size_t>(type_.byte_width()));
    } else {
      offsets_.reserve(n + 1);
      offsets_.push_back(0);
    }
  }

  // False if the part at `*pos` does not parse.
  bool Decode(std::string_view key, size_t* pos, size_t row) {
    return type_.is_integer_like() ? DecodeInt(key, pos, row) : DecodeBytes(key, pos);
  }

  OwnedArray Finish() {
    OwnedArray a;
    a.type = type_;
    a.length = static_cast<int64_t>(n_);
    if (type_.is_integer_like()) {
      a.values = std::move(values_);
      return a;
    }
    if (type_.has_large_offsets()) {
      a.values = Buffer::Allocate(offsets_.size() * 8, /*zero=*/false);
      std::memcpy(a.values->data(), offsets_.data(), offsets_.size() * 8);
    } else {
      a.values = Buffer::Allocate(offsets_.size() * 4, /*zero=*/false);
      int32_t* o = a.values->as<int32_t>();
      for (size_t i = 0; i < offsets_.size(); ++i) o[i] = static_cast<int32_t>(offsets_[i]);
    }
    a.data = Buffer::FromVector(std::move(bytes_));
    return a;
  }

 private:
  bool DecodeInt(std::string_view key, size_t* pos, size_t row) {
    if (key.size() - *pos < 8) return false;
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(key[*pos + i]);
    *pos += 8;
    int w = type_.byte_width();
    uint8_t* dst = values_->data() + row * static_cast<size_t>(w);
    if (type_.is_signed()) {
      int64_t v = static_cast<int64_t>(u ^ (uint64_t{1} << 63));
      int bits = 8 * w;
      if (bits < 64) {
        int64_t lo = -(int64_t{1} << (bits - 1)), hi = (int64_t{1} << (bits - 1)) - 1;
        if (v < lo || v > hi) return false;
      }
      std::memcpy(dst, &v, static_cast<size_t>(w));  // little-endian narrowing
    } else {
      if (w < 8 && (u >> (8 * w)) != 0) return false;
      std::memcpy(dst, &u, static_cast<size_t>(w));
    }
    return true;
  }

  bool DecodeBytes(std::string_view key, size_t* pos) {
    size_t i = *pos;
    while (true) {
      if (i >= key.size()) return false;
      uint8_t b = static_cast<uint8_t>(key[i]);
      if (b != 0) {
        bytes_.push_back(b);
        ++i;
        continue;
      }
      if (i + 1 >= key.size()) return false;
      uint8_t next = static_cast<uint8_t>(key[i + 1]);
      i += 2;
      if (next == 0) break;           // terminator
      if (next != 0xFF) return false;  // only 00 FF escapes a zero byte
      bytes_.push_back(0);
    }
    *pos = i;
    if (!type_.has_large_offsets() && bytes_.size() > INT32_MAX) return false;
    bool is_string = type_.id == TypeId::kString || type_.id == TypeId::kLargeString;
    if (is_string) {
      size_t start = static_cast<size_t>(offsets_.back());
      std::string_view v(reinterpret_cast<const char*>(bytes_.data()) + start, bytes_.size() - start);
      if (!ValidUtf8(v)) return false;
    }
    offsets_.push_back(static_cast<int64_t>(bytes_.size()));
    return true;
  }

  DataType type_;
  size_t n_;
  std::shared_ptr<Buffer> values_;
  std::vector<int64_t> offsets_;
  std::vector<uint8_t> bytes_;
};

}  // namespace

Status DecodeKeys(const std::vector<std::string_view>& keys, const std::vector<Field>& fields,
                  std::vector<OwnedArray>* out) {
  std::vector<ColumnDecoder> cols;
  for (const Field& f : fields) {
    if (!IsKeyType(f.type)) {
      return Status::InvalidArgument("column '" + f.name + "' has type " + f.type.ToString() +
                                     ", not a key type");
    }
    cols.emplace_back(f, keys.size());
  }
  for (size_t r = 0; r < keys.size(); ++r) {
    size_t pos = 0;
    for (ColumnDecoder& c : cols) {
      if (!c.Decode(keys[r], &pos, r)) {
        return Status::Corruption("normalized key " + std::to_string(r) +
                                  " does not parse under the key columns' types");
      }
    }
    if (pos != keys[r].size()) {
      return Status::Corruption("normalized key " + std::to_string(r) + " has trailing bytes");
    }
  }
  out->clear();
  for (ColumnDecoder& c : cols) out->push_back(c.Finish());
  return Status::OK();
}

}  // namespace lamina::merge
