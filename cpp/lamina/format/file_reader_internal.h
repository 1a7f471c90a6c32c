// Helpers shared by the FileReader's translation units (file_reader.cc: open, scan and
// range reads; file_reader_take.cc: random access). Not part of the format's API.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lamina/arrow/array.h"

namespace lamina::format::internal {

// Sets list/string offset i of `arr` (32- or 64-bit by its type).
inline void SetOffset(OwnedArray* arr, size_t i, int64_t v) {
  if (arr->type.has_large_offsets()) arr->values->as<int64_t>()[i] = v;
  else arr->values->as<int32_t>()[i] = static_cast<int32_t>(v);
}

}  // namespace lamina::format::internal
