// Position indexes for Scan.take on splits that need a merge.
//
// For a split whose merged read keeps one stored row per key for every column (the
// deduplicate and first_row engines), a take index maps each merged output position to
// the (file, row) that holds its surviving version. It is built once per split -- a merge
// of the key, `_kind` and `_seq` columns only -- and cached, so later takes on the same
// snapshot cost index look-ups plus FileReader::Take of the wanted rows.
//
// The cache is keyed by the split's files, each with its identity as stat() reports it
// (device, inode, size, mtime) and its priority, plus the key columns and which version
// the engine keeps. A new snapshot has different splits, and a file rewritten in place has
// a different identity, so a stale index is never found. Memory: an index costs 8 bytes
// per merged row (two uint32 per row); the cache evicts least recently used indexes once
// they hold more than TakeIndexCapacity() bytes (default 256 MiB, about 33M rows; the
// environment variable LAMINA_TAKE_INDEX_BYTES overrides it, 0 disables caching).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "lamina/merge/engine.h"

namespace lamina::table {

struct TakeIndex {
  merge::Selection sel;  // position p -> (file sel.run[p], row sel.row[p])
  size_t rows = 0;
  size_t bytes() const { return rows * 2 * sizeof(uint32_t) + 64; }
};

// "dev:ino:size:mtime" of `path`, or an empty string if stat() fails.
std::string FileIdentity(const std::string& path);

size_t TakeIndexCapacity();

// The cached index of `key`, or null.
std::shared_ptr<const TakeIndex> FindTakeIndex(const std::string& key);
// Caches `index` under `key` (evicting least recently used indexes over the capacity).
void PutTakeIndex(const std::string& key, std::shared_ptr<const TakeIndex> index);
void ClearTakeIndexCache();
size_t TakeIndexCacheSize();   // indexes held
size_t TakeIndexCacheBytes();  // their bytes
// How many indexes have been built since the process started (for tests).
uint64_t TakeIndexBuilds();
void CountTakeIndexBuild();

}  // namespace lamina::table
