#include "lamina/table/lookup.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "lamina/format/file_reader.h"
#include "lamina/merge/engine.h"
#include "lamina/merge/gather.h"
#include "lamina/merge/mread_merge.h"
#include "lamina/table/reader_cache.h"
#include "lamina/table/run_columns.h"
#include "lamina/util/parallel.h"

namespace lamina::table {
namespace {

using format::FileReader;

// ---- requested columns -----------------------------------------------------------------

using Request = RequestedColumns;

// The file columns of the key, the system columns and the requested non-key columns.
struct FileColumns : RunColumns {
  std::vector<int> value;  // requested i -> file column (-1: absent or a key column)
};

Status ResolveFile(const std::string& path, const FileReader& r, const TableOptions& o,
                   const std::vector<std::string>& columns, const Request& req,
                   FileColumns* fc) {
  const Schema& fs = r.schema();
  LAMINA_RETURN_IF_ERROR(ResolveRunColumns(path, fs, o, fc));
  fc->value.assign(columns.size(), -1);
  for (size_t i = 0; i < columns.size(); ++i) {
    if (req.key_pos[i] >= 0) continue;
    LAMINA_ASSIGN_OR_RETURN(fc->value[i],
                            ValueColumn(path, fs, o.table_schema.fields[req.table_col[i]]));
  }
  return Status::OK();
}

// One file's matched rows, as MergeRead's runs: keys, system and requested columns.
struct Run {
  std::shared_ptr<FileReader> reader;
  uint64_t priority = 0;
  std::vector<OwnedArray> key_arrays;
  std::vector<ArrayView> key_views;
  OwnedArray kind, seq;
  bool has_kind = false, has_seq = false;
  merge::NormalizedKeys keys;
  std::vector<int> column_of;
  std::vector<OwnedArray> values;  // by request index
  std::vector<ArrayView> value_views;
  size_t rows = 0;
};

// The requested keys [*lo, *hi) narrowed to the file's key range.
void PruneByFileRange(const FileReader& r, const LookupKeys& keys, size_t* lo, size_t* hi) {
  const format::KeyRange& kr = r.meta().ranges;
  if (!kr.present) return;
  PartBounds whole;
  whole.lo = kr.min_key;
  whole.hi = kr.max_key;
  if (keys.is_u64 && kr.min_key.size() == 8 && kr.max_key.size() == 8) {
    whole.ulo = BigEndianU64(kr.min_key);
    whole.uhi = BigEndianU64(kr.max_key);
    std::tie(*lo, *hi) = KeysInBounds(keys, *lo, *hi, whole);
  } else if (!keys.is_u64) {
    // Whole keys, not parts: max_key is itself a complete key, so the prefix test on
    // |max_key| bytes is exact for keys of the same columns.
    std::tie(*lo, *hi) = KeysInBounds(keys, *lo, *hi, whole);
  }
}

using RowRanges = std::vector<std::pair<uint64_t, uint64_t>>;

// Pages of the first key column whose statistics may hold a requested key of [lo, hi),
// merged into row ranges.
Status CandidateRanges(FileReader& r, const FileColumns& fc, const LookupKeys& keys,
                       size_t lo, size_t hi, RowRanges* ranges) {
  LAMINA_ASSIGN_OR_RETURN(const format::ColumnMeta* cm, r.Column(fc.key[0]));
  const DataType& t0 = r.schema().fields[fc.key[0]].type;
  for (const format::PageMeta& p : cm->pages) {
    PartBounds b = PageBounds(t0, p.stats);
    if (b.known) {
      auto [a, e] = KeysInBounds(keys, lo, hi, b);
      if (a >= e) continue;
    }
    uint64_t end = p.row_start + p.num_rows;
    if (!ranges->empty() && ranges->back().second == p.row_start) {
      ranges->back().second = end;
    } else {
      ranges->emplace_back(p.row_start, end);
    }
  }
  return Status::OK();
}

// The decoded key columns of a file's candidate ranges and the rows among them that hold
// a requested key: file row rows[i] is row row_in[i] of range range_of[i].
struct FoundRows {
  std::vector<std::vector<OwnedArray>> decoded;  // per range, per key column
  std::vector<std::vector<ArrayView>> views;
  std::vector<int64_t> rows;
  std::vector<uint32_t> range_of, row_in;
};

// Appends to `found` the rows of `norm` (the keys of range g, starting at file row
// `first_row`) that equal a requested key of [lo, hi).
void MatchRange(const LookupKeys& keys, size_t lo, size_t hi, const merge::NormalizedKeys& norm,
                uint64_t first_row, uint32_t g, FoundRows* found) {
  size_t n = norm.size();
  if (n == 0) return;
  // The first requested key not below the range's first row.
  size_t j = lo, step_hi = hi;
  while (j < step_hi) {
    size_t mid = j + (step_hi - j) / 2;
    if (CompareKey(keys, mid, norm, 0) < 0) j = mid + 1;
    else step_hi = mid;
  }
  size_t p = 0;
  for (; j < hi && p < n; ++j) {
    // lower_bound of key j among rows [p, n)
    size_t a = p, b = n;
    while (a < b) {
      size_t mid = a + (b - a) / 2;
      if (CompareKey(keys, j, norm, mid) > 0) a = mid + 1;
      else b = mid;
    }
    p = a;
    if (p < n && CompareKey(keys, j, norm, p) == 0) {
      found->rows.push_back(static_cast<int64_t>(first_row + p));
      found->range_of.push_back(g);
      found->row_in.push_back(static_cast<uint32_t>(p));
      ++p;
    }
  }
}

// Decodes the key columns of each range and binary searches the requested keys in it.
Status FindRows(FileReader& r, const FileColumns& fc, const TableOptions& o,
                const LookupKeys& keys, size_t lo, size_t hi, const RowRanges& ranges,
                FoundRows* found) {
  found->decoded.resize(ranges.size());
  found->views.resize(ranges.size());
  for (size_t g = 0; g < ranges.size(); ++g) {
    LAMINA_RETURN_IF_ERROR(
        r.ReadRange(fc.key, ranges[g].first, ranges[g].second, &found->decoded[g]));
    for (const OwnedArray& a : found->decoded[g]) found->views[g].push_back(merge::ViewOf(a));
    std::vector<const ArrayView*> kv;
    for (const ArrayView& v : found->views[g]) kv.push_back(&v);
    merge::NormalizedKeys norm;
    LAMINA_RETURN_IF_ERROR(merge::NormalizeKeys(kv, o.key_columns, &norm));
    MatchRange(keys, lo, hi, norm, ranges[g].first, static_cast<uint32_t>(g), found);
  }
  return Status::OK();
}

// The run's key columns, gathered from what FindRows decoded, and their normalized keys.
Status GatherRunKeys(const FileReader& r, const FileColumns& fc, const TableOptions& o,
                     const FoundRows& found, Run* run) {
  size_t nk = fc.key.size(), m = found.rows.size(), ng = found.views.size();
  run->key_arrays.resize(nk);
  for (size_t k = 0; k < nk; ++k) {
    std::vector<const ArrayView*> src(ng);
    for (size_t g = 0; g < ng; ++g) src[g] = &found.views[g][k];
    LAMINA_RETURN_IF_ERROR(merge::GatherRuns(r.schema().fields[fc.key[k]].type, src,
                                             found.range_of.data(), found.row_in.data(), m,
                                             &run->key_arrays[k]));
  }
  for (const OwnedArray& a : run->key_arrays) run->key_views.push_back(merge::ViewOf(a));
  std::vector<const ArrayView*> kv;
  for (const ArrayView& v : run->key_views) kv.push_back(&v);
  return merge::NormalizeKeys(kv, o.key_columns, &run->keys);
}

// The run's `_kind`, `_seq` and requested non-key columns, taken from the file.
Status TakeRunValues(const std::string& path, FileReader& r, const FileColumns& fc,
                     const TableOptions& o, const Request& req, const std::vector<int64_t>& rows,
                     Run* run) {
  const Schema& requested = req.schema;
  size_t ncols = requested.fields.size();
  std::vector<size_t> want;
  std::vector<int> slot;  // -1: _kind, -2: _seq, else request index
  if (fc.kind >= 0) {
    want.push_back(static_cast<size_t>(fc.kind));
    slot.push_back(-1);
  }
  if (fc.seq >= 0) {
    want.push_back(static_cast<size_t>(fc.seq));
    slot.push_back(-2);
  }
  for (size_t i = 0; i < ncols; ++i) {
    if (fc.value[i] < 0) continue;
    want.push_back(static_cast<size_t>(fc.value[i]));
    slot.push_back(static_cast<int>(i));
  }
  std::vector<OwnedArray> taken;
  LAMINA_RETURN_IF_ERROR(r.Take(want, rows.data(), rows.size(), &taken));
  for (size_t w = 0; w < want.size(); ++w) {
    if (slot[w] == -1) {
      run->kind = std::move(taken[w]);
      run->has_kind = true;
      if (run->kind.null_count != 0) return Status::Corruption(path + ": _kind has nulls");
    } else if (slot[w] == -2) {
      run->seq = std::move(taken[w]);
      run->has_seq = true;
      if (run->seq.null_count != 0) return Status::Corruption(path + ": _seq has nulls");
    } else {
      size_t i = static_cast<size_t>(slot[w]);
      LAMINA_RETURN_IF_ERROR(ToTableType(requested.fields[i], &taken[w]));
      run->values[i] = std::move(taken[w]);
    }
  }
  for (size_t i = 0; i < ncols; ++i) {  // columns the file lacks but that have a default
    size_t t = static_cast<size_t>(req.table_col[i]);
    if (req.key_pos[i] >= 0 || fc.value[i] >= 0 || !HasDefault(o, t)) continue;
    run->values[i] = DefaultArray(o, t, rows.size());
    run->column_of[i] = INT32_MAX;  // present, not from the file
  }
  for (size_t i = 0; i < ncols; ++i) {
    if (run->column_of[i] >= 0) run->value_views[i] = merge::ViewOf(run->values[i]);
  }
  return Status::OK();
}

Status SearchFile(const ReadFile& f, const LookupKeys& keys, const TableOptions& o,
                  const std::vector<std::string>& columns, const Request& req, Run* run) {
  LAMINA_ASSIGN_OR_RETURN(run->reader, OpenCachedReader(f.path));
  run->priority = f.priority;
  FileReader& r = *run->reader;
  FileColumns fc;
  LAMINA_RETURN_IF_ERROR(ResolveFile(f.path, r, o, columns, req, &fc));
  run->column_of = fc.value;
  run->values.resize(columns.size());
  run->value_views.resize(columns.size());

  // The file's key range prunes the request first, then the page statistics.
  size_t lo = 0, hi = keys.size();
  PruneByFileRange(r, keys, &lo, &hi);
  if (lo >= hi || r.num_rows() == 0) return Status::OK();
  RowRanges ranges;
  LAMINA_RETURN_IF_ERROR(CandidateRanges(r, fc, keys, lo, hi, &ranges));
  if (ranges.empty()) return Status::OK();

  FoundRows found;
  LAMINA_RETURN_IF_ERROR(FindRows(r, fc, o, keys, lo, hi, ranges, &found));
  run->rows = found.rows.size();
  if (run->rows == 0) return Status::OK();
  // Key columns: gathered from what was decoded. The rest: taken from the file.
  LAMINA_RETURN_IF_ERROR(GatherRunKeys(r, fc, o, found, run));
  return TakeRunValues(f.path, r, fc, o, req, found.rows, run);
}

// The index in `keys` of each folded key (both are ascending, so one forward walk).
void KeyIndexes(const std::vector<Run*>& runs, const merge::KeyVersions& v,
                const LookupKeys& keys, std::vector<uint32_t>* key_of) {
  key_of->resize(v.size());
  size_t j = 0;
  for (size_t g = 0; g < v.size(); ++g) {
    uint32_t i = v.begin[g];
    const merge::NormalizedKeys& nk = runs[v.run[i]]->keys;
    while (j + 1 < keys.size() && CompareKey(keys, j, nk, v.row[i]) < 0) ++j;
    (*key_of)[g] = static_cast<uint32_t>(j);
  }
}

// Folds the versions of each key across `runs` with the merge engine (as MergeRead);
// fills `key_of` (if given) as Lookup does.
Status FoldRuns(const std::vector<Run*>& runs, const TableOptions& o, const Request& req,
                const LookupKeys& keys, MergeResult* result, std::vector<uint32_t>* key_of) {
  const Schema& ts = o.table_schema;
  size_t ncols = req.table_col.size();
  std::vector<merge::RunKeys> rk(runs.size());
  std::vector<const int8_t*> kinds(runs.size(), nullptr);
  for (size_t r = 0; r < runs.size(); ++r) {
    rk[r].keys = &runs[r]->keys;
    rk[r].priority = runs[r]->priority;
    if (runs[r]->has_seq) rk[r].seq = runs[r]->seq.values->as<uint64_t>();
    if (runs[r]->has_kind) {
      const int8_t* k = runs[r]->kind.values->as<int8_t>();
      if (!merge::AllUpserts(k, runs[r]->rows)) kinds[r] = k;
    }
  }
  merge::MergedRuns merged;
  LAMINA_RETURN_IF_ERROR(merge::MergeRuns(rk, &merged));
  merge::KeyVersions versions;
  merge::FoldVersions(merged, kinds, merge::FoldPolicy::kRead, &versions);
  if (key_of != nullptr) KeyIndexes(runs, versions, keys, key_of);
  size_t out_rows = versions.size();
  std::vector<merge::AggFn> fns(ncols);
  merge::Selection last, first;
  for (size_t i = 0; i < ncols; ++i) {
    fns[i] = ColumnFn(o, req.table_col[i]);
    if (fns[i] == merge::AggFn::kLastValue && last.run.empty() && out_rows > 0) {
      merge::SelectPositional(fns[i], versions, &last);
    }
    if (fns[i] == merge::AggFn::kFirstValue && first.run.empty() && out_rows > 0) {
      merge::SelectPositional(fns[i], versions, &first);
    }
  }
  result->columns.resize(ncols);
  LAMINA_RETURN_IF_ERROR(ParallelFor(ncols, [&](size_t i) -> Status {
    std::vector<const ArrayView*> src(runs.size(), nullptr);
    for (size_t r = 0; r < runs.size(); ++r) {
      if (req.key_pos[i] >= 0) {
        src[r] = &runs[r]->key_views[static_cast<size_t>(req.key_pos[i])];
      } else if (runs[r]->column_of[i] >= 0) {
        src[r] = &runs[r]->value_views[i];
      }
    }
    const merge::Selection* sel = fns[i] == merge::AggFn::kLastValue    ? &last
                                  : fns[i] == merge::AggFn::kFirstValue ? &first
                                                                        : nullptr;
    if (sel != nullptr && out_rows == 0) sel = nullptr;
    return merge::FoldColumn(fns[i], ts.fields[req.table_col[i]].type, src, versions,
                             &result->columns[i], sel);
  }));
  result->length = static_cast<int64_t>(out_rows);
  return Status::OK();
}

MergeResult EmptyResult(const Request& req) {
  MergeResult out;
  out.schema = req.schema;
  for (const Field& f : req.schema.fields) out.columns.push_back(merge::NullArray(f.type, 0));
  return out;
}

}  // namespace

Result<MergeResult> Lookup(const std::vector<ReadFile>& files, const LookupKeys& keys,
                           const std::vector<std::string>& columns, TableOptions o,
                           std::vector<uint32_t>* key_of) {
  if (key_of != nullptr) key_of->clear();
  LAMINA_RETURN_IF_ERROR(Validate(&o));
  Request req;
  LAMINA_RETURN_IF_ERROR(ResolveRequest(o, columns, &req));
  if (keys.size() == 0 || files.empty()) return EmptyResult(req);
  std::vector<Run> runs(files.size());
  LAMINA_RETURN_IF_ERROR(ParallelFor(files.size(), [&](size_t i) {
    return SearchFile(files[i], keys, o, columns, req, &runs[i]);
  }));
  std::vector<Run*> hit;
  for (Run& r : runs) {
    if (r.rows > 0) hit.push_back(&r);
  }
  if (hit.empty()) return EmptyResult(req);
  MergeResult result;
  result.schema = req.schema;
  LAMINA_RETURN_IF_ERROR(FoldRuns(hit, o, req, keys, &result, key_of));
  return result;
}

}  // namespace lamina::table
