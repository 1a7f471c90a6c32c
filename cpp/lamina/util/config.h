// Process-wide settings of the core, set from Python by lamina.config. The one place
// they are validated.
#pragma once

#include <cstddef>

#include "lamina/util/status.h"

namespace lamina {

struct Config {
  // Total parallelism of the shared thread pool (callers included). Default: the
  // hardware's cores.
  size_t threads = 0;
  // Capacity of the take-index cache in bytes; 0 caches nothing. Default: 256 MiB.
  size_t take_index_bytes = size_t{256} << 20;
  // A parallel merge splits its input into key ranges of at least this many rows.
  size_t merge_min_range_rows = 65536;
};

// The current settings. Thread-safe.
Config GetConfig();

// Validates and installs `config`; resizes the shared pool when `threads` changed.
// Returns InvalidArgument (and changes nothing) for threads == 0 or > kMaxThreads,
// or merge_min_range_rows == 0.
Status SetConfig(const Config& config);

constexpr size_t kMaxThreads = 1024;

}  // namespace lamina
