#include "lamina/table/partition.h"

#include <cstring>

namespace lamina::table {

PartitionValue ValueAt(const ArrayView& col, int64_t row) {
  PartitionValue v;
  const DataType& t = *col.type;
  int64_t r = col.offset + row;
  if (t.is_binary_like()) {
    int64_t lo = col.OffsetAt(row), hi = col.OffsetAt(row + 1);
    v.s.assign(reinterpret_cast<const char*>(col.data) + lo, static_cast<size_t>(hi - lo));
    v.kind = (t.id == TypeId::kString || t.id == TypeId::kLargeString)
                 ? PartitionValue::Kind::kString
                 : PartitionValue::Kind::kBinary;
    return v;
  }
  const uint8_t* p = static_cast<const uint8_t*>(col.values);
  switch (t.id) {
    case TypeId::kInt8: v.i = reinterpret_cast<const int8_t*>(p)[r]; break;
    case TypeId::kInt16: v.i = reinterpret_cast<const int16_t*>(p)[r]; break;
    case TypeId::kInt32: case TypeId::kDate32: v.i = reinterpret_cast<const int32_t*>(p)[r]; break;
    case TypeId::kUInt8: v.u = p[r]; v.kind = PartitionValue::Kind::kUInt; break;
    case TypeId::kUInt16:
      v.u = reinterpret_cast<const uint16_t*>(p)[r];
      v.kind = PartitionValue::Kind::kUInt;
      break;
    case TypeId::kUInt32:
      v.u = reinterpret_cast<const uint32_t*>(p)[r];
      v.kind = PartitionValue::Kind::kUInt;
      break;
    case TypeId::kUInt64:
      v.u = reinterpret_cast<const uint64_t*>(p)[r];
      v.kind = PartitionValue::Kind::kUInt;
      break;
    default: v.i = reinterpret_cast<const int64_t*>(p)[r]; break;
  }
  return v;
}

std::string PercentEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  bool dots = s == "." || s == "..";
  std::string out;
  for (unsigned char c : s) {
    bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '~' || (c == '.' && !dots);
    if (safe) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string PartitionPath(const std::vector<std::string>& columns,
                          const std::vector<PartitionValue>& values) {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) out.push_back('/');
    out += PercentEncode(columns[i]);
    out.push_back('=');
    const PartitionValue& v = values[i];
    switch (v.kind) {
      case PartitionValue::Kind::kInt: out += std::to_string(v.i); break;
      case PartitionValue::Kind::kUInt: out += std::to_string(v.u); break;
      default: out += PercentEncode(v.s); break;
    }
  }
  return out;
}

}  // namespace lamina::table
