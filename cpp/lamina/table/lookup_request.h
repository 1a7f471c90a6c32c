// A table's point lookup over all its buckets: the requested keys are routed to the
// bucket their hash names, each (partition, bucket) group of files is searched by Lookup
// (lookup.h) in parallel, and the rows found are put back in the order of the request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lamina/merge/key.h"
#include "lamina/table/lookup.h"
#include "lamina/table/merge_read.h"
#include "lamina/table/options.h"
#include "lamina/util/status.h"

namespace lamina::table {

// The files of one partition's bucket.
struct LookupGroup {
  int64_t bucket = 0;  // in [0, buckets)
  std::vector<ReadFile> files;
};

// The current rows of the request rows `keys` in `groups`, in request order: a key that
// is found appears once, at the first request row that asked for it; missing and deleted
// keys are absent. InvalidArgument for a group's bucket out of range or more than 2^32 - 1
// request rows. REQUIRES: as Lookup.
Result<MergeResult> LookupInRequestOrder(const std::vector<LookupGroup>& groups,
                                         const merge::NormalizedKeys& keys, int64_t buckets,
                                         const std::vector<std::string>& columns,
                                         const TableOptions& options);

}  // namespace lamina::table
