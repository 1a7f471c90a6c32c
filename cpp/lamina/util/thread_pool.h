// The one process-wide thread pool every ParallelFor runs on.
//
// A read may call ParallelFor from several Python threads at once, and a task may call
// ParallelFor again (a file read inside a per-file task). The pool bounds the threads:
// it owns `threads - 1` workers (the caller is the last one), a caller always works
// through its own tasks, and a ParallelFor called from inside a pool worker runs inline.
// So no call waits for a free worker (no deadlock), and the process never holds more
// than `threads - 1` pool threads plus the threads its callers brought.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "lamina/util/status.h"

namespace lamina {

class ThreadPool {
 public:
  // The pool ParallelFor uses; its size is Config::threads (set_config resizes it).
  static ThreadPool& Shared();

  explicit ThreadPool(size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs fn(i) for i in [0, n) on the caller and at most `max_threads - 1` workers
  // (0: no limit but the pool's). The first failing Status wins; the remaining tasks
  // still run. A std::bad_alloc from fn becomes Status::OutOfMemory; any other
  // exception is rethrown on the caller. Does not return before every task has finished.
  Status Run(size_t n, const std::function<Status(size_t)>& fn, size_t max_threads);

  // Replaces the workers by `threads - 1` new ones. Calls in flight finish on their
  // callers. REQUIRES: threads >= 1.
  void Resize(size_t threads);

  // Total parallelism: the workers plus the caller.
  size_t threads() const;

  // True on a pool worker thread (a ParallelFor there runs inline).
  static bool OnWorker();

 private:
  struct Job;
  void WorkerLoop();
  void StartWorkers(size_t n);
  void StopWorkers();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
  std::mutex resize_mu_;
};

}  // namespace lamina
