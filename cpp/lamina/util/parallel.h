// ParallelFor runs fn(i) for i in [0, n) on the shared thread pool (thread_pool.h): the
// caller plus at most `max_threads - 1` workers (0: as many as the pool has). Nested
// calls from inside a task run inline. The first failing Status wins; the rest of the
// tasks still run to completion.
#pragma once

#include <cstddef>
#include <functional>

#include "lamina/util/status.h"
#include "lamina/util/thread_pool.h"

namespace lamina {

inline Status ParallelFor(size_t n, const std::function<Status(size_t)>& fn,
                          size_t max_threads = 0) {
  return ThreadPool::Shared().Run(n, fn, max_threads);
}

}  // namespace lamina
