#include "lamina/util/thread_pool.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <exception>
#include <new>

#include "lamina/util/config.h"

namespace lamina {

namespace {
thread_local bool t_on_worker = false;

// An exception must not escape a worker thread (that terminates the process).
Status RunOne(const std::function<Status(size_t)>& fn, size_t i) {
  try {
    return fn(i);
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("out of memory");
  }
}
}  // namespace

struct ThreadPool::Job {
  size_t n = 0;
  const std::function<Status(size_t)>* fn = nullptr;
  std::atomic<size_t> next{0};
  size_t helpers_wanted = 0;  // guarded by the pool's mu_
  size_t helpers_joined = 0;  // guarded by the pool's mu_
  std::mutex mu;
  std::condition_variable done_cv;
  size_t helpers_done = 0;  // guarded by mu
  Status first;             // guarded by mu
  std::exception_ptr thrown;  // guarded by mu; rethrown on the caller

  void Work() {
    for (size_t i = next++; i < n; i = next++) {
      Status st;
      try {
        st = RunOne(*fn, i);
      } catch (...) {
        // Kept for the caller: it must not escape a worker, nor leave the caller
        // before the helpers that still use `fn` are done.
        std::lock_guard<std::mutex> lock(mu);
        if (!thrown) thrown = std::current_exception();
        continue;
      }
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = std::move(st);
      }
    }
  }
};

ThreadPool& ThreadPool::Shared() {
  // Leaked on purpose: workers must not be joined during static destruction.
  static std::atomic<ThreadPool*> pool{new ThreadPool(GetConfig().threads)};
  static std::atomic<pid_t> owner{getpid()};
  if (owner.load(std::memory_order_acquire) != getpid()) {
    // A forked child (a DataLoader worker): the parent's workers do not exist here and
    // its pool's mutex may have been held at the fork. Leave that pool untouched (its
    // thread handles must not be joined or destroyed) and start a fresh one.
    static std::mutex fork_mu;
    std::lock_guard<std::mutex> lock(fork_mu);
    if (owner.load(std::memory_order_relaxed) != getpid()) {
      pool.store(new ThreadPool(GetConfig().threads), std::memory_order_release);
      owner.store(getpid(), std::memory_order_release);
    }
  }
  return *pool.load(std::memory_order_acquire);
}

ThreadPool::ThreadPool(size_t threads) { StartWorkers(threads > 1 ? threads - 1 : 0); }

ThreadPool::~ThreadPool() { StopWorkers(); }

bool ThreadPool::OnWorker() { return t_on_worker; }

size_t ThreadPool::threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.size() + 1;
}

void ThreadPool::StartWorkers(size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = false;
  for (size_t i = 0; i < n; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

void ThreadPool::StopWorkers() {
  std::vector<std::thread> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    old.swap(workers_);
  }
  cv_.notify_all();
  for (std::thread& t : old) t.join();
}

void ThreadPool::Resize(size_t threads) {
  std::lock_guard<std::mutex> lock(resize_mu_);
  StopWorkers();
  StartWorkers(threads > 1 ? threads - 1 : 0);
}

void ThreadPool::WorkerLoop() {
  t_on_worker = true;
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = queue_.front();
      ++job->helpers_joined;
      if (--job->helpers_wanted == 0) queue_.pop_front();
    }
    job->Work();
    {
      std::lock_guard<std::mutex> lock(job->mu);
      ++job->helpers_done;
    }
    job->done_cv.notify_one();
  }
}

Status ThreadPool::Run(size_t n, const std::function<Status(size_t)>& fn, size_t max_threads) {
  size_t helpers = 0;
  if (!t_on_worker && n > 1) {
    std::lock_guard<std::mutex> lock(mu_);
    helpers = std::min(workers_.size(), n - 1);
    if (max_threads != 0) helpers = std::min(helpers, max_threads - 1);
  }
  if (helpers == 0) {
    Status first;
    for (size_t i = 0; i < n; ++i) {
      Status st = RunOne(fn, i);
      if (!st.ok() && first.ok()) first = std::move(st);
    }
    return first;
  }
  auto job = std::make_shared<Job>();
  job->n = n;
  job->fn = &fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job->helpers_wanted = helpers;
    queue_.push_back(job);
  }
  cv_.notify_all();
  job->Work();
  size_t joined;
  {
    // No worker may join after this: the caller waits only for those that did.
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find(queue_.begin(), queue_.end(), job);
    if (it != queue_.end()) queue_.erase(it);
    joined = job->helpers_joined;
  }
  std::unique_lock<std::mutex> lock(job->mu);
  job->done_cv.wait(lock, [&] { return job->helpers_done == joined; });
  if (job->thrown) std::rethrow_exception(job->thrown);
  return job->first;
}

}  // namespace lamina
