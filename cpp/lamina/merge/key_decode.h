// The inverse of key.h: normalized key bytes back into key values, one array per key
// column. Used where a key range stored as bytes (a manifest's min_key/max_key) must be
// compared with values, e.g. to prune files by a filter on the key.
#pragma once

#include <string_view>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/arrow/types.h"
#include "lamina/util/status.h"

namespace lamina::merge {

// Decodes `keys` (each the normalized key of one row of columns `fields`, key.h grammar)
// into one array per field, without nulls. Corruption naming the row if a key does not
// parse: truncated, trailing bytes, a bad escape, or an integer out of its type's range.
Status DecodeKeys(const std::vector<std::string_view>& keys, const std::vector<Field>& fields,
                  std::vector<OwnedArray>* out);

}  // namespace lamina::merge
