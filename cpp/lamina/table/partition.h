// Partition values of a row and the folder names they map to. A partition folder is
// `<col>=<value>` per partition column, in partition-column order, where value is the
// integer in decimal (as Python's str() writes it) or the string/binary bytes, and
// every byte outside [A-Za-z0-9_.~-] of the name and the value is percent-encoded as
// %XX (uppercase hex). A value of "." or ".." has its dots encoded too.
// Example: country "a/b" -> `country=a%2Fb`; day -7 -> `day=-7`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lamina/arrow/array.h"

namespace lamina::table {

struct PartitionValue {
  enum class Kind { kInt, kUInt, kString, kBinary } kind = Kind::kInt;
  int64_t i = 0;
  uint64_t u = 0;
  std::string s;  // string (UTF-8) or binary bytes
};

// The value of row `row` of a key column (integer, string or binary; not null).
PartitionValue ValueAt(const ArrayView& col, int64_t row);

std::string PercentEncode(const std::string& s);

// "c1=v1/c2=v2" (no leading or trailing slash); "" when there are no columns.
std::string PartitionPath(const std::vector<std::string>& columns,
                          const std::vector<PartitionValue>& values);

}  // namespace lamina::table
