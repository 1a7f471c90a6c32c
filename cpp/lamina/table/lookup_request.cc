#include "lamina/table/lookup_request.h"

#include "lamina/merge/hash.h"
#include "lamina/util/parallel.h"

namespace lamina::table {
namespace {

// The request rows of each bucket, in request order.
std::vector<std::vector<uint32_t>> RouteKeys(const merge::NormalizedKeys& keys,
                                             uint64_t buckets) {
  std::vector<std::vector<uint32_t>> by_bucket(static_cast<size_t>(buckets));
  for (size_t i = 0; i < keys.size(); ++i) {
    by_bucket[merge::RowHash(keys, i) % buckets].push_back(static_cast<uint32_t>(i));
  }
  return by_bucket;
}

}  // namespace

Result<MergeResult> LookupInRequestOrder(const std::vector<LookupGroup>& groups,
                                         const merge::NormalizedKeys& keys, int64_t buckets,
                                         const std::vector<std::string>& columns,
                                         const TableOptions& options) {
  if (buckets < 1) return Status::InvalidArgument("buckets must be at least 1");
  for (const LookupGroup& g : groups) {
    if (g.bucket < 0 || g.bucket >= buckets) {
      return Status::InvalidArgument("bucket " + std::to_string(g.bucket) + " out of range");
    }
  }
  size_t n = keys.size();
  if (n > UINT32_MAX) return Status::InvalidArgument("a lookup takes at most 2^32 - 1 keys");
  std::vector<std::vector<uint32_t>> by_bucket = RouteKeys(keys, static_cast<uint64_t>(buckets));
  std::vector<LookupKeys> keys_of(static_cast<size_t>(buckets));
  std::vector<uint8_t> built(static_cast<size_t>(buckets), 0);
  for (const LookupGroup& g : groups) {
    size_t b = static_cast<size_t>(g.bucket);
    if (!built[b]) keys_of[b] = MakeLookupKeys(keys, &by_bucket[b]);
    built[b] = 1;
  }
  // One more part with no files gives the result's schema when nothing is found.
  std::vector<MergeResult> parts(groups.size() + 1);
  std::vector<std::vector<uint32_t>> key_of(groups.size());
  LAMINA_RETURN_IF_ERROR(ParallelFor(parts.size(), [&](size_t i) -> Status {
    if (i == groups.size()) {
      LAMINA_ASSIGN_OR_RETURN(parts[i], Lookup({}, LookupKeys(), columns, options));
      return Status::OK();
    }
    const LookupKeys& k = keys_of[static_cast<size_t>(groups[i].bucket)];
    LAMINA_ASSIGN_OR_RETURN(parts[i], Lookup(groups[i].files, k, columns, options, &key_of[i]));
    return Status::OK();
  }));
  // Each found row goes to the first request row of its key. A key lives in one
  // partition, so only one group finds it.
  constexpr uint32_t kEmpty = UINT32_MAX;
  std::vector<uint32_t> at_run(n, kEmpty), at_row(n, 0);
  for (size_t i = 0; i < groups.size(); ++i) {
    const std::vector<uint32_t>& first = keys_of[static_cast<size_t>(groups[i].bucket)].first;
    for (size_t r = 0; r < key_of[i].size(); ++r) {
      uint32_t pos = first[key_of[i][r]];
      if (at_run[pos] != kEmpty) continue;
      at_run[pos] = static_cast<uint32_t>(i);
      at_row[pos] = static_cast<uint32_t>(r);
    }
  }
  std::vector<uint32_t> run, row;
  for (size_t pos = 0; pos < n; ++pos) {
    if (at_run[pos] == kEmpty) continue;
    run.push_back(at_run[pos]);
    row.push_back(at_row[pos]);
  }
  return GatherParts(parts, parts.back().schema, run, row);
}

}  // namespace lamina::table
