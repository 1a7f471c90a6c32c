#include "lamina/arrow/widen.h"

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace lamina {
namespace {

bool IsInt(TypeId id) { return id >= TypeId::kInt8 && id <= TypeId::kUInt64; }
bool IsSigned(TypeId id) { return id >= TypeId::kInt8 && id <= TypeId::kInt64; }

int Bits(TypeId id) {
  switch (id) {
    case TypeId::kInt8: case TypeId::kUInt8: return 8;
    case TypeId::kInt16: case TypeId::kUInt16: return 16;
    case TypeId::kInt32: case TypeId::kUInt32: case TypeId::kFloat32: return 32;
    default: return 64;
  }
}

template <typename From, typename To>
void Convert(const uint8_t* src, uint8_t* dst, int64_t n) {
  const From* s = reinterpret_cast<const From*>(src);
  To* d = reinterpret_cast<To*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<To>(s[i]);
}

template <typename From>
Status ConvertFrom(TypeId to, const uint8_t* src, uint8_t* dst, int64_t n) {
  switch (to) {
    case TypeId::kInt16: Convert<From, int16_t>(src, dst, n); break;
    case TypeId::kInt32: Convert<From, int32_t>(src, dst, n); break;
    case TypeId::kInt64: Convert<From, int64_t>(src, dst, n); break;
    case TypeId::kUInt16: Convert<From, uint16_t>(src, dst, n); break;
    case TypeId::kUInt32: Convert<From, uint32_t>(src, dst, n); break;
    case TypeId::kUInt64: Convert<From, uint64_t>(src, dst, n); break;
    case TypeId::kFloat32: Convert<From, float>(src, dst, n); break;
    case TypeId::kFloat64: Convert<From, double>(src, dst, n); break;
    default: return Status::InvalidArgument("no widening to that type");
  }
  return Status::OK();
}

Status ConvertValues(TypeId from, TypeId to, const uint8_t* src, uint8_t* dst, int64_t n) {
  switch (from) {
    case TypeId::kInt8: return ConvertFrom<int8_t>(to, src, dst, n);
    case TypeId::kInt16: return ConvertFrom<int16_t>(to, src, dst, n);
    case TypeId::kInt32: return ConvertFrom<int32_t>(to, src, dst, n);
    case TypeId::kUInt8: return ConvertFrom<uint8_t>(to, src, dst, n);
    case TypeId::kUInt16: return ConvertFrom<uint16_t>(to, src, dst, n);
    case TypeId::kUInt32: return ConvertFrom<uint32_t>(to, src, dst, n);
    case TypeId::kFloat32: return ConvertFrom<float>(to, src, dst, n);
    default: return Status::InvalidArgument("no widening from that type");
  }
}

}  // namespace

bool CanWiden(const DataType& from, const DataType& to) {
  TypeId f = from.id, t = to.id;
  if (IsInt(f) && IsInt(t)) {
    if (IsSigned(f)) return IsSigned(t) && Bits(t) > Bits(f);
    return Bits(t) > Bits(f);  // unsigned to a wider unsigned or signed type
  }
  if (IsInt(f) && t == TypeId::kFloat32) return Bits(f) <= 16;
  if (IsInt(f) && t == TypeId::kFloat64) return Bits(f) <= 32;
  if (f == TypeId::kFloat32 && t == TypeId::kFloat64) return true;
  if (f == TypeId::kString && t == TypeId::kLargeString) return true;
  if (f == TypeId::kBinary && t == TypeId::kLargeBinary) return true;
  return false;
}

Status Widen(const DataType& to, OwnedArray* a) {
  if (!CanWiden(a->type, to)) {
    return Status::InvalidArgument("cannot widen " + a->type.ToString() + " to " + to.ToString());
  }
  int64_t n = a->length;
  if (a->type.is_binary_like()) {  // 32-bit offsets to 64-bit ones; the bytes are shared
    auto offsets = Buffer::Allocate(static_cast<size_t>(n + 1) * 8, /*zero=*/false);
    const int32_t* src = a->values->as<int32_t>();
    int64_t* dst = offsets->as<int64_t>();
    for (int64_t i = 0; i <= n; ++i) dst[i] = src[i];
    a->values = std::move(offsets);
  } else {
    auto values = Buffer::Allocate(static_cast<size_t>(n) * static_cast<size_t>(to.byte_width()),
                                   /*zero=*/false);
    const uint8_t* src = a->values ? a->values->data() : nullptr;
    if (n > 0) LAMINA_RETURN_IF_ERROR(ConvertValues(a->type.id, to.id, src, values->data(), n));
    a->values = std::move(values);
  }
  a->type = to;
  return Status::OK();
}

}  // namespace lamina
