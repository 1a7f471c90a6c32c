// ParallelFor runs fn(i) for i in [0, n) on up to hardware_concurrency threads.
// The first failing Status wins; the rest of the tasks still run to completion.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "lamina/util/status.h"

namespace lamina {

inline Status ParallelFor(size_t n, const std::function<Status(size_t)>& fn,
                          size_t max_threads = 0) {
  size_t hw = std::thread::hardware_concurrency();
  if (hw == 0) hw = 1;
  if (max_threads == 0 || max_threads > hw) max_threads = hw;
  size_t nthreads = n < max_threads ? n : max_threads;
  if (nthreads <= 1) {
    for (size_t i = 0; i < n; ++i) LAMINA_RETURN_IF_ERROR(fn(i));
    return Status::OK();
  }
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first;
  auto worker = [&]() {
    for (size_t i = next++; i < n; i = next++) {
      Status st;
      try {
        st = fn(i);
      } catch (const std::bad_alloc&) {
        // An exception must not escape a worker thread (that would terminate).
        st = Status::InvalidArgument("out of memory");
      }
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = st;
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < nthreads; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return first;
}

}  // namespace lamina
