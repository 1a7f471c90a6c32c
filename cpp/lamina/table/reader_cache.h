// A small process-wide cache of opened FileReaders, keyed by (path, device, inode, size,
// mtime), so repeated lookups and takes skip opening, page-index parsing and page
// checksums.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "lamina/format/file_reader.h"
#include "lamina/util/status.h"

namespace lamina::table {

// The reader of `path`, from the cache or freshly opened (and cached). A file whose
// stat() fails is opened uncached, so FileReader::Open reports the error.
Result<std::shared_ptr<format::FileReader>> OpenCachedReader(const std::string& path);

// Drops every cached FileReader (their mappings are released once no call uses them).
void ClearReaderCache();
// How many FileReaders the cache holds.
size_t ReaderCacheSize();

}  // namespace lamina::table
