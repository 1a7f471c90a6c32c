// Encodes a slice of one column into a page body:
//
//   page   := validity:stream values
//   values := int stream                     integers, date32, timestamp
//           | float stream                   float32, float64
//           | bitmap stream                  bool
//           | binary stream                  string, binary (small or large)
//           | offsets:int stream child_validity:stream child_values   list, large_list
//           | child_validity:stream child_values                     fixed_size_list
//
// List offsets are page-relative (the first is 0), n + 1 of them, as uint64.
#pragma once

#include <cstdint>

#include "lamina/arrow/array.h"
#include "lamina/format/footer.h"
#include "lamina/util/bytes.h"

namespace lamina::format {

// Encodes rows [start, start + n) of `col`, appending the page body to `out` and filling
// the page's statistics and top-level encoding tag.
void EncodePage(const ArrayView& col, int64_t start, int64_t n, ByteWriter* out, Stats* stats,
                uint8_t* encoding);

// Rows per page for rows [start, start + n) of `col`, aiming at about `target_bytes` of
// raw data per page and at most `max_rows` rows.
int64_t PageRows(const ArrayView& col, int64_t start, int64_t n, int64_t max_rows,
                 int64_t target_bytes);

// The raw bytes PageRows weighs for rows [start, start + n) of `col`: 0 for fixed-width
// columns, whose pages are cut by rows alone.
int64_t PageBytes(const ArrayView& col, int64_t start, int64_t n);

// Longest min/max kept for strings; longer values are truncated to a bound.
constexpr size_t kMaxStatBytes = 64;

}  // namespace lamina::format
