// The typed native handle of an open table: its options parsed and validated once
// (`_core.TableSpec`), instead of a dict re-read and re-validated on every core call.
#pragma once

#include <pybind11/pybind11.h>

#include <initializer_list>

#include "lamina/table/options.h"

namespace lamina::py {

struct TableSpec {
  table::TableOptions options;  // validated
};

// The table options of a core call's `options` argument: a TableSpec, a dict holding
// one under "table" (beside the call's own keys), or, for tests and tools, a dict of the
// table keys themselves (key_columns, engine, aggregates, table_schema; parsed and
// validated here). `extra_keys`: the call's own keys a dict may hold; any other key is
// InvalidArgument.
table::TableOptions TableOptionsArg(pybind11::handle options,
                                    const std::initializer_list<const char*>& extra_keys);

}  // namespace lamina::py
