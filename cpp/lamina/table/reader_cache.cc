#include "lamina/table/reader_cache.h"

#include <sys/stat.h>

#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace lamina::table {
namespace {

using format::FileReader;

// Data files are immutable, but a path may be rewritten in place (tests that corrupt a
// file do): the key includes what stat() says, so a changed file is opened afresh.
// Entries of deleted files linger until evicted; the capacity bounds the mappings held.
constexpr size_t kCacheCapacity = 64;

class ReaderCache {
 public:
  Result<std::shared_ptr<FileReader>> Open(const std::string& path) {
    struct stat sb;
    if (::stat(path.c_str(), &sb) != 0) {
      // Not cacheable; FileReader::Open reports the error (NotFound, ...).
      LAMINA_ASSIGN_OR_RETURN(std::unique_ptr<FileReader> r, FileReader::Open(path));
      return std::shared_ptr<FileReader>(std::move(r));
    }
    std::string key = path;
    key += '\0';
    key += std::to_string(sb.st_dev) + ":" + std::to_string(sb.st_ino) + ":" +
           std::to_string(sb.st_size) + ":" + std::to_string(sb.st_mtim.tv_sec) + "." +
           std::to_string(sb.st_mtim.tv_nsec);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->second;
      }
    }
    LAMINA_ASSIGN_OR_RETURN(std::unique_ptr<FileReader> opened, FileReader::Open(path));
    std::shared_ptr<FileReader> r(std::move(opened));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return it->second->second;  // another thread opened it meanwhile
    lru_.emplace_front(key, r);
    map_[key] = lru_.begin();
    while (lru_.size() > kCacheCapacity) {
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return r;
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    map_.clear();
    lru_.clear();
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mu_);
    return lru_.size();
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<FileReader>>;
  std::mutex mu_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
};

ReaderCache& Cache() {
  static ReaderCache* cache = new ReaderCache;  // never destroyed: no exit-order hazards
  return *cache;
}

}  // namespace

Result<std::shared_ptr<FileReader>> OpenCachedReader(const std::string& path) {
  return Cache().Open(path);
}

void ClearReaderCache() { Cache().Clear(); }
size_t ReaderCacheSize() { return Cache().Size(); }

}  // namespace lamina::table
