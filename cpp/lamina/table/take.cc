#include "lamina/table/take.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "lamina/format/file_reader.h"
#include "lamina/merge/gather.h"
#include "lamina/table/lookup.h"
#include "lamina/table/reader_cache.h"
#include "lamina/table/run_columns.h"
#include "lamina/util/parallel.h"

namespace lamina::table {
namespace {

using format::FileReader;
using Request = RequestedColumns;

// Rows of files: output row j is row rows[j] of file slot[j]. expected[f] is file f's row
// count from its manifest entry (checked), or UINT64_MAX (not checked). A file that lacks
// a requested column contributes nulls to it, or the column's default.
Result<MergeResult> GatherFileRows(const std::vector<std::string>& paths,
                                   const std::vector<uint64_t>& expected,
                                   const std::vector<std::string>& columns,
                                   const TableOptions& o, const Request& req,
                                   const std::vector<uint32_t>& slot,
                                   const std::vector<int64_t>& rows) {
  size_t nf = paths.size(), m = slot.size();
  // Output row j takes row pos[j] of file slot[j]'s taken arrays.
  std::vector<uint32_t> pos(m);
  std::vector<std::vector<int64_t>> local(nf);
  for (size_t j = 0; j < m; ++j) {
    pos[j] = static_cast<uint32_t>(local[slot[j]].size());
    local[slot[j]].push_back(rows[j]);
  }
  std::vector<std::vector<OwnedArray>> taken(nf);
  std::vector<std::vector<int>> column_of(nf);
  LAMINA_RETURN_IF_ERROR(ParallelFor(nf, [&](size_t f) -> Status {
    if (local[f].empty()) return Status::OK();
    LAMINA_ASSIGN_OR_RETURN(std::shared_ptr<FileReader> r, OpenCachedReader(paths[f]));
    if (expected[f] != UINT64_MAX && r->num_rows() != expected[f]) {
      return Status::Corruption(paths[f] + ": file has " + std::to_string(r->num_rows()) +
                                " rows, its manifest entry " + std::to_string(expected[f]));
    }
    for (int64_t x : local[f]) {
      if (x < 0 || static_cast<uint64_t>(x) >= r->num_rows()) {
        return Status::Corruption(paths[f] + ": row " + std::to_string(x) +
                                  " is past the file's end (changed while read?)");
      }
    }
    const Schema& fs = r->schema();
    std::vector<size_t> want;
    column_of[f].assign(columns.size(), -1);
    for (size_t i = 0; i < columns.size(); ++i) {
      LAMINA_ASSIGN_OR_RETURN(int c, ValueColumn(paths[f], fs, req.schema.fields[i]));
      if (c < 0) continue;
      column_of[f][i] = static_cast<int>(want.size());
      want.push_back(static_cast<size_t>(c));
    }
    LAMINA_RETURN_IF_ERROR(r->Take(want, local[f].data(), local[f].size(), &taken[f]));
    for (size_t i = 0; i < columns.size(); ++i) {
      if (column_of[f][i] < 0) continue;
      LAMINA_RETURN_IF_ERROR(ToTableType(req.schema.fields[i], &taken[f][column_of[f][i]]));
    }
    for (size_t i = 0; i < columns.size(); ++i) {  // lacked by the file, with a default
      size_t t = static_cast<size_t>(req.table_col[i]);
      if (column_of[f][i] >= 0 || !HasDefault(o, t)) continue;
      column_of[f][i] = static_cast<int>(taken[f].size());
      taken[f].push_back(DefaultArray(o, t, local[f].size()));
    }
    return Status::OK();
  }));
  MergeResult result;
  result.schema = req.schema;
  result.columns.resize(columns.size());
  LAMINA_RETURN_IF_ERROR(ParallelFor(columns.size(), [&](size_t i) -> Status {
    std::vector<ArrayView> views(nf);
    std::vector<const ArrayView*> src(nf, nullptr);
    for (size_t f = 0; f < nf; ++f) {
      if (local[f].empty() || column_of[f][i] < 0) continue;
      views[f] = merge::ViewOf(taken[f][static_cast<size_t>(column_of[f][i])]);
      src[f] = &views[f];
    }
    return merge::GatherRuns(req.schema.fields[i].type, src, slot.data(), pos.data(), m,
                             &result.columns[i]);
  }));
  result.length = static_cast<int64_t>(m);
  return result;
}

// The preamble of every take: validated options and the resolved request.
Status PrepareTake(TableOptions* o, const std::vector<std::string>& columns, Request* req) {
  LAMINA_RETURN_IF_ERROR(Validate(o));
  return ResolveRequest(*o, columns, req);
}

// InvalidArgument naming the first position outside [0, total).
Status CheckPositions(const int64_t* positions, size_t m, uint64_t total) {
  for (size_t j = 0; j < m; ++j) {
    if (positions[j] < 0 || static_cast<uint64_t>(positions[j]) >= total) {
      return Status::InvalidArgument("index " + std::to_string(positions[j]) +
                                     " out of range for a scan of " + std::to_string(total) +
                                     " rows");
    }
  }
  return Status::OK();
}

// start[i] = the sum of count[0, i), for i in [0, count.size()].
std::vector<uint64_t> Starts(const std::vector<uint64_t>& count) {
  std::vector<uint64_t> start(count.size() + 1, 0);
  for (size_t i = 0; i < count.size(); ++i) start[i + 1] = start[i] + count[i];
  return start;
}

// The i with start[i] <= p < start[i + 1]. REQUIRES: start[0] <= p < start.back().
size_t Locate(const std::vector<uint64_t>& start, uint64_t p) {
  return static_cast<size_t>(std::upper_bound(start.begin(), start.end(), p) - start.begin()) - 1;
}

}  // namespace

Result<MergeResult> TakeRows(const std::vector<TakeFile>& files,
                             const std::vector<std::string>& columns, TableOptions o,
                             const int64_t* positions, size_t m) {
  Request req;
  LAMINA_RETURN_IF_ERROR(PrepareTake(&o, columns, &req));
  std::vector<std::string> paths;
  std::vector<uint64_t> expected;
  for (const TakeFile& f : files) {
    paths.push_back(f.path);
    expected.push_back(f.num_rows);
  }
  std::vector<uint64_t> start = Starts(expected);
  LAMINA_RETURN_IF_ERROR(CheckPositions(positions, m, start.back()));
  std::vector<uint32_t> slot(m);
  std::vector<int64_t> rows(m);
  for (size_t j = 0; j < m; ++j) {
    uint64_t p = static_cast<uint64_t>(positions[j]);
    size_t f = Locate(start, p);
    slot[j] = static_cast<uint32_t>(f);
    rows[j] = static_cast<int64_t>(p - start[f]);
  }
  return GatherFileRows(paths, expected, columns, o, req, slot, rows);
}

namespace {

// How each split maps its positions: a concatenated split through row counts, an indexed
// one through its take index, the rest (versions folded per column) through their live
// keys, looked up afterwards.
struct SplitPlan {
  std::vector<std::shared_ptr<const TakeIndex>> index;  // null: not indexed
  std::vector<LiveKeys> live;
  std::vector<size_t> merged_ids;  // the splits that are looked up
  std::vector<uint64_t> start;     // scan position of each split's first row, then the total
};

Status PlanSplits(const std::vector<TakeSplit>& splits, const TableOptions& o, const Request& req,
                  SplitPlan* plan) {
  size_t ns = splits.size();
  int pick = IndexPick(o, req);
  plan->index.resize(ns);
  plan->live = std::vector<LiveKeys>(ns);  // built in place: resize would move LiveKeys
  std::vector<std::string> index_key(ns);
  std::vector<size_t> work;  // splits whose index or live keys must be built
  for (size_t s = 0; s < ns; ++s) {
    if (splits[s].concatenated) continue;
    if (pick < 0) {
      plan->merged_ids.push_back(s);
      work.push_back(s);
      continue;
    }
    index_key[s] = IndexKey(splits[s], o, pick);
    plan->index[s] = FindTakeIndex(index_key[s]);
    if (plan->index[s] == nullptr) work.push_back(s);
  }
  LAMINA_RETURN_IF_ERROR(ParallelFor(work.size(), [&](size_t i) -> Status {
    size_t s = work[i];
    if (pick < 0) return MergeKeys(splits[s], o, &plan->live[s]);
    auto built = std::make_shared<TakeIndex>();
    LAMINA_RETURN_IF_ERROR(BuildIndex(splits[s], o, pick == 1, built.get()));
    plan->index[s] = built;
    PutTakeIndex(index_key[s], std::move(built));
    return Status::OK();
  }));
  std::vector<uint64_t> count(ns, 0);
  for (size_t s = 0; s < ns; ++s) {
    if (splits[s].concatenated) {
      for (uint64_t v : splits[s].value) count[s] += v;
    } else if (plan->index[s] != nullptr) {
      count[s] = plan->index[s]->rows;
    }
  }
  for (size_t s : plan->merged_ids) count[s] = plan->live[s].versions.size();
  plan->start = Starts(count);
  return Status::OK();
}

// Where each wanted row comes from. Part 0 holds the rows read straight from files
// (concatenated and indexed splits): row[j] is its index among them, file slot
// direct_slot[.] (of `paths`), file row direct_row[.]. Part 1 + i those of merged split
// merged_ids[i]: local[i] its wanted positions within the split, local_of[j] that of row j
// (row[j] is set once the part is read).
struct Routes {
  std::vector<std::string> paths;
  std::vector<uint64_t> expected;  // row count to check, or UINT64_MAX
  std::vector<uint32_t> run, row;
  std::vector<uint32_t> direct_slot;
  std::vector<int64_t> direct_row;
  std::vector<std::vector<uint64_t>> local;
  std::vector<uint64_t> local_of;
};

// The file slot of each split's first file, and its files' starts if concatenated.
void ListFiles(const std::vector<TakeSplit>& splits, const SplitPlan& plan, Routes* rt,
               std::vector<size_t>* slot_base, std::vector<std::vector<uint64_t>>* file_start) {
  for (size_t s = 0; s < splits.size(); ++s) {
    if (!splits[s].concatenated && plan.index[s] == nullptr) continue;
    (*slot_base)[s] = rt->paths.size();
    for (size_t f = 0; f < splits[s].paths.size(); ++f) {
      rt->paths.push_back(splits[s].paths[f]);
      rt->expected.push_back(splits[s].concatenated ? splits[s].value[f] : UINT64_MAX);
    }
    if (splits[s].concatenated) (*file_start)[s] = Starts(splits[s].value);
  }
}

void Route(const std::vector<TakeSplit>& splits, const SplitPlan& plan, const int64_t* positions,
           size_t m, Routes* rt) {
  size_t ns = splits.size();
  std::vector<size_t> slot_base(ns, 0);
  std::vector<std::vector<uint64_t>> file_start(ns);
  ListFiles(splits, plan, rt, &slot_base, &file_start);
  std::vector<size_t> part_of(ns, 0);
  for (size_t i = 0; i < plan.merged_ids.size(); ++i) part_of[plan.merged_ids[i]] = 1 + i;
  rt->run.resize(m);
  rt->row.resize(m);
  rt->direct_slot.reserve(m);
  rt->direct_row.reserve(m);
  rt->local.resize(plan.merged_ids.size());
  rt->local_of.resize(m);
  for (size_t j = 0; j < m; ++j) {
    uint64_t p = static_cast<uint64_t>(positions[j]);
    size_t s = Locate(plan.start, p);
    uint64_t q = p - plan.start[s];
    rt->run[j] = static_cast<uint32_t>(part_of[s]);
    if (splits[s].concatenated) {
      size_t f = Locate(file_start[s], q);
      rt->row[j] = static_cast<uint32_t>(rt->direct_slot.size());
      rt->direct_slot.push_back(static_cast<uint32_t>(slot_base[s] + f));
      rt->direct_row.push_back(static_cast<int64_t>(q - file_start[s][f]));
    } else if (plan.index[s] != nullptr) {
      const merge::Selection& sel = plan.index[s]->sel;
      rt->row[j] = static_cast<uint32_t>(rt->direct_slot.size());
      rt->direct_slot.push_back(static_cast<uint32_t>(slot_base[s] + sel.run[q]));
      rt->direct_row.push_back(static_cast<int64_t>(sel.row[q]));
    } else {
      rt->local_of[j] = q;
      rt->local[part_of[s] - 1].push_back(q);
    }
  }
}

// Part 1 + i of the take: the rows at the wanted positions of merged split merged_ids[i]
// (sorted and without repeats afterwards), looked up by their keys.
Status LookupMerged(const std::vector<TakeSplit>& splits, const SplitPlan& plan,
                    const std::vector<std::string>& columns, const TableOptions& o, Routes* rt,
                    std::vector<MergeResult>* parts) {
  return ParallelFor(plan.merged_ids.size(), [&](size_t i) -> Status {
    std::vector<uint64_t>& want = rt->local[i];
    if (want.empty()) return Status::OK();
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    const TakeSplit& split = splits[plan.merged_ids[i]];
    const LiveKeys& lk = plan.live[plan.merged_ids[i]];
    LookupKeys keys;
    keys.is_u64 = !lk.keys.empty() && lk.keys[0].is_u64();
    for (uint64_t p : want) {
      uint32_t v = lk.versions.begin[p];
      const merge::NormalizedKeys& nk = lk.keys[lk.versions.run[v]];
      uint32_t r = lk.versions.row[v];
      if (keys.is_u64) keys.u64.push_back(nk.u64()[r]);
      else keys.bytes.emplace_back(nk.bytes(r));
    }
    std::vector<ReadFile> files;
    for (size_t f = 0; f < split.paths.size(); ++f) files.push_back({split.paths[f], split.value[f]});
    LAMINA_ASSIGN_OR_RETURN((*parts)[1 + i], Lookup(files, keys, columns, o));
    if (static_cast<size_t>((*parts)[1 + i].length) != want.size()) {
      return Status::Corruption("a merged split changed while it was read");
    }
    return Status::OK();
  });
}

}  // namespace

Result<MergeResult> TakeSplits(const std::vector<TakeSplit>& splits,
                               const std::vector<std::string>& columns, TableOptions o,
                               const int64_t* positions, size_t m) {
  Request req;
  LAMINA_RETURN_IF_ERROR(PrepareTake(&o, columns, &req));
  for (const TakeSplit& s : splits) {
    if (s.paths.size() != s.value.size()) return Status::InvalidArgument("paths and values differ");
  }
  SplitPlan plan;
  LAMINA_RETURN_IF_ERROR(PlanSplits(splits, o, req, &plan));
  LAMINA_RETURN_IF_ERROR(CheckPositions(positions, m, plan.start.back()));
  Routes rt;
  Route(splits, plan, positions, m, &rt);
  if (plan.merged_ids.empty()) {
    // Every row comes straight from files, in request order.
    return GatherFileRows(rt.paths, rt.expected, columns, o, req, rt.direct_slot,
                          rt.direct_row);
  }
  std::vector<MergeResult> parts(1 + plan.merged_ids.size());
  if (!rt.direct_slot.empty()) {
    LAMINA_ASSIGN_OR_RETURN(parts[0], GatherFileRows(rt.paths, rt.expected, columns, o, req,
                                                     rt.direct_slot, rt.direct_row));
  }
  LAMINA_RETURN_IF_ERROR(LookupMerged(splits, plan, columns, o, &rt, &parts));
  for (size_t j = 0; j < m; ++j) {
    if (rt.run[j] == 0) continue;
    const std::vector<uint64_t>& want = rt.local[rt.run[j] - 1];
    rt.row[j] = static_cast<uint32_t>(std::lower_bound(want.begin(), want.end(), rt.local_of[j]) -
                                      want.begin());
  }
  return GatherParts(parts, req.schema, rt.run, rt.row);
}

Result<MergeResult> GatherParts(const std::vector<MergeResult>& parts, const Schema& schema,
                                const std::vector<uint32_t>& run,
                                const std::vector<uint32_t>& row) {
  size_t ncols = schema.fields.size(), m = run.size();
  MergeResult result;
  result.schema = schema;
  result.columns.resize(ncols);
  LAMINA_RETURN_IF_ERROR(ParallelFor(ncols, [&](size_t i) -> Status {
    std::vector<ArrayView> views(parts.size());
    std::vector<const ArrayView*> src(parts.size(), nullptr);
    for (size_t q = 0; q < parts.size(); ++q) {
      if (parts[q].columns.size() != ncols) continue;  // a part with no rows wanted
      views[q] = merge::ViewOf(parts[q].columns[i]);
      src[q] = &views[q];
    }
    return merge::GatherRuns(schema.fields[i].type, src, run.data(), row.data(), m,
                             &result.columns[i]);
  }));
  result.length = static_cast<int64_t>(m);
  return result;
}

}  // namespace lamina::table
