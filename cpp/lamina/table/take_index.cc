#include "lamina/table/take_index.h"

#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "lamina/util/config.h"

namespace lamina::table {
namespace {

class IndexCache {
 public:
  std::shared_ptr<const TakeIndex> Find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }

  void Put(const std::string& key, std::shared_ptr<const TakeIndex> index) {
    size_t cap = TakeIndexCapacity();
    size_t b = index->bytes() + key.size();
    if (b > cap) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.count(key) != 0) return;  // another call built it meanwhile
    lru_.emplace_front(key, std::move(index));
    map_[key] = lru_.begin();
    bytes_ += b;
    while (bytes_ > cap && !lru_.empty()) {
      bytes_ -= lru_.back().second->bytes() + lru_.back().first.size();
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    map_.clear();
    lru_.clear();
    bytes_ = 0;
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mu_);
    return lru_.size();
  }

  size_t Bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const TakeIndex>>;
  std::mutex mu_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
  size_t bytes_ = 0;
};

IndexCache& Cache() {
  static IndexCache* cache = new IndexCache;  // never destroyed: no exit-order hazards
  return *cache;
}

std::atomic<uint64_t> g_builds{0};

}  // namespace

std::string FileIdentity(const std::string& path) {
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) return std::string();
  return std::to_string(sb.st_dev) + ":" + std::to_string(sb.st_ino) + ":" +
         std::to_string(sb.st_size) + ":" + std::to_string(sb.st_mtim.tv_sec) + "." +
         std::to_string(sb.st_mtim.tv_nsec);
}

size_t TakeIndexCapacity() { return GetConfig().take_index_bytes; }

std::shared_ptr<const TakeIndex> FindTakeIndex(const std::string& key) {
  return Cache().Find(key);
}
void PutTakeIndex(const std::string& key, std::shared_ptr<const TakeIndex> index) {
  Cache().Put(key, std::move(index));
}
void ClearTakeIndexCache() { Cache().Clear(); }
size_t TakeIndexCacheSize() { return Cache().Size(); }
size_t TakeIndexCacheBytes() { return Cache().Bytes(); }
uint64_t TakeIndexBuilds() { return g_builds.load(); }
void CountTakeIndexBuild() { ++g_builds; }

}  // namespace lamina::table
