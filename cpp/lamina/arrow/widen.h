// Lossless widening of a column's type: how a column whose type a schema change widened
// (issue 12, `widen_column`) is read from files written before the change. The one list
// of allowed widenings; Python asks it through `_core.can_widen`.
#pragma once

#include "lamina/arrow/array.h"
#include "lamina/arrow/types.h"
#include "lamina/util/status.h"

namespace lamina {

// True if every value of `from` has an equal value of `to` and the core converts it:
// signed integers to wider signed ones; unsigned integers to wider unsigned or signed
// ones; integers of at most 16 bits to float32 and of at most 32 bits to float64; float32
// to float64; string to large_string; binary to large_binary.
bool CanWiden(const DataType& from, const DataType& to);

// Converts `a` (of a type that CanWiden to `to`) to `to` in place; the validity is kept.
// InvalidArgument for any other pair.
Status Widen(const DataType& to, OwnedArray* a);

}  // namespace lamina
