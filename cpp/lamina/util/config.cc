#include "lamina/util/config.h"

#include <mutex>
#include <string>
#include <thread>

#include "lamina/util/thread_pool.h"

namespace lamina {

namespace {

Config Defaults() {
  Config c;
  c.threads = std::thread::hardware_concurrency();
  if (c.threads == 0) c.threads = 1;
  return c;
}

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}

Config& Current() {
  static Config config = Defaults();
  return config;
}

}  // namespace

Config GetConfig() {
  std::lock_guard<std::mutex> lock(Mu());
  return Current();
}

Status SetConfig(const Config& config) {
  if (config.threads == 0 || config.threads > kMaxThreads) {
    return Status::InvalidArgument("threads must be in [1, " + std::to_string(kMaxThreads) +
                                   "], got " + std::to_string(config.threads));
  }
  if (config.merge_min_range_rows == 0) {
    return Status::InvalidArgument("merge_min_range_rows must be at least 1");
  }
  bool resize;
  {
    std::lock_guard<std::mutex> lock(Mu());
    resize = Current().threads != config.threads;
    Current() = config;
  }
  if (resize) ThreadPool::Shared().Resize(config.threads);
  return Status::OK();
}

}  // namespace lamina
