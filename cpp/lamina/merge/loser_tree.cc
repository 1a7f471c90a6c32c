#include "lamina/merge/loser_tree.h"

namespace lamina::merge {

Status NotAscending() {
  return Status::Corruption("data file rows are not sorted by primary key (or repeat a key)");
}

Status MergeRuns(const std::vector<RunKeys>& runs, MergedRuns* out) {
  *out = MergedRuns();
  size_t total = 0;
  for (const RunKeys& r : runs) total += r.keys->size();
  if (total >= UINT32_MAX || runs.size() >= (1u << 31)) {
    return Status::InvalidArgument("a merge takes at most 2^32 - 1 rows");
  }
  if (runs.empty() || total == 0) {
    out->key_start.Allocate(1);
    out->key_start[0] = 0;
    return Status::OK();
  }
  bool u64 = runs[0].keys->is_u64();
  RunSeqs seqs;
  std::vector<Slice> sl;
  for (uint32_t r = 0; r < runs.size(); ++r) {
    if (runs[r].keys->is_u64() != u64) {
      return Status::InvalidArgument("runs have different key types");
    }
    seqs.seq.push_back(runs[r].seq);
    seqs.priority.push_back(runs[r].priority);
    seqs.per_row |= runs[r].seq != nullptr;
    if (runs[r].keys->size() > 0) sl.push_back({r, 0, runs[r].keys->size()});
  }
  out->run.Allocate(total);
  out->row.Allocate(total);
  out->key_start.Allocate(total + 1);
  AllSink sink{out->run.data(), out->row.data(), out->key_start.data(), 0};
  auto merge = [&](const auto& keys) -> Status {
    for (const Slice& s : sl) {
      if (!StrictlyAscending(keys, s.run, s.end)) return NotAscending();
    }
    MergeSlices(keys, seqs, sl, &sink);
    return Status::OK();
  };
  Status st;
  if (u64) {
    IntKeys<uint64_t> keys;
    for (const RunKeys& r : runs) keys.keys.push_back(r.keys->u64());
    st = merge(keys);
  } else {
    ByteKeys keys;
    for (const RunKeys& r : runs) keys.keys.push_back(r.keys);
    st = merge(keys);
  }
  if (!st.ok()) {
    *out = MergedRuns();
    return st;
  }
  out->key_start[sink.count()] = static_cast<uint32_t>(total);
  out->key_start.Truncate(sink.count() + 1);
  return Status::OK();
}

}  // namespace lamina::merge
