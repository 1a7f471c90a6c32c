// Point lookup on primary-key tables, without a merged read of whole files.
//
// Lookup: in each file of a bucket, the requested keys are first pruned by the file's
// key range, then matched to the pages of the first key column whose min/max statistics
// may hold them; only those pages of the key columns are decoded and binary searched.
// The rows found are taken (FileReader::Take decodes only the pages that hold them) and
// the versions of each key are folded by the merge engine exactly as MergeRead folds
// them, so the result equals MergeRead restricted to the requested keys.
//
// Files are opened through the reader cache (reader_cache.h). Positional take is in
// take.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lamina/table/lookup_keys.h"
#include "lamina/table/merge_read.h"
#include "lamina/table/options.h"
// Re-exported for callers that predate the split of lookup.cc (bindings, lookup_request).
#include "lamina/table/reader_cache.h"
#include "lamina/table/take.h"
#include "lamina/util/status.h"

namespace lamina::table {

// The current rows of `keys` among the files of one bucket (ReadFile as for MergeRead:
// any order, priorities as the merged read uses them). Keys absent from every file, or
// deleted, are absent from the result; the result is sorted by key. Files are searched
// in parallel. `key_of`, if given, receives for each result row the index of its key in
// `keys`. REQUIRES: as MergeRead.
Result<MergeResult> Lookup(const std::vector<ReadFile>& files, const LookupKeys& keys,
                           const std::vector<std::string>& columns, TableOptions options,
                           std::vector<uint32_t>* key_of = nullptr);

}  // namespace lamina::table
