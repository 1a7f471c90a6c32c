#include "lamina/table/merge_read.h"

#include <memory>

#include "lamina/format/file_reader.h"
#include "lamina/merge/engine.h"
#include "lamina/merge/gather.h"
#include "lamina/merge/key.h"
#include "lamina/merge/loser_tree.h"
#include "lamina/merge/mread_merge.h"
#include "lamina/arrow/widen.h"
#include "lamina/table/run_columns.h"
#include "lamina/util/parallel.h"

namespace lamina::table {
namespace {

// One file's decoded key-side columns.
struct Run {
  std::unique_ptr<format::FileReader> reader;
  std::vector<OwnedArray> key_arrays;  // key columns in key order
  std::vector<ArrayView> key_views;
  OwnedArray kind, seq;
  bool has_kind = false, has_seq = false;
  int seq_column = -1;  // the file's `_seq` column, or -1
  merge::NormalizedKeys keys;  // unless the key is compared raw
  const void* raw = nullptr;     // the raw key values (one integer key column)
  std::vector<int> column_of;  // requested column i -> file column (-1: absent)
  std::vector<OwnedArray> values;  // decoded requested non-key columns, by request index
  std::vector<ArrayView> value_views;
};

Status OpenRun(const ReadFile& f, const TableOptions& o, merge::RawKey raw, Run* run) {
  LAMINA_ASSIGN_OR_RETURN(run->reader, format::FileReader::Open(f.path));
  RunColumns rc;
  LAMINA_RETURN_IF_ERROR(ResolveRunColumns(f.path, run->reader->schema(), o, &rc));
  std::vector<size_t> cols = rc.key;
  int kc = rc.kind;
  if (kc >= 0) cols.push_back(static_cast<size_t>(kc));
  run->seq_column = rc.seq;  // decoded only if the runs need a merge (ReadSeq)
  std::vector<OwnedArray> arrays;
  LAMINA_RETURN_IF_ERROR(run->reader->Read(cols, &arrays));
  size_t nk = o.key_columns.size();
  run->key_arrays.assign(std::make_move_iterator(arrays.begin()),
                         std::make_move_iterator(arrays.begin() + static_cast<std::ptrdiff_t>(nk)));
  size_t next = nk;
  if (kc >= 0) {
    run->kind = std::move(arrays[next++]);
    run->has_kind = true;
    if (run->kind.null_count != 0) return Status::Corruption(f.path + ": _kind has nulls");
  }
  for (const OwnedArray& a : run->key_arrays) run->key_views.push_back(merge::ViewOf(a));
  if (raw != merge::RawKey::kNone) {
    // One integer key column: the merge compares its values as they are.
    const ArrayView& v = run->key_views[0];
    if (v.null_count != 0 && CountNulls(v.validity, v.offset, v.length) != 0) {
      return Status::SchemaError("primary key column '" + o.key_columns[0] + "' contains nulls");
    }
    run->raw = static_cast<const uint8_t*>(v.values) + v.offset * v.type->byte_width();
    return Status::OK();
  }
  std::vector<const ArrayView*> kv;
  for (const ArrayView& v : run->key_views) kv.push_back(&v);
  return merge::NormalizeKeys(kv, o.key_columns, &run->keys);
}

Status ReadSeq(const ReadFile& f, Run* run) {
  if (run->seq_column < 0) return Status::OK();
  std::vector<OwnedArray> arrays;
  LAMINA_RETURN_IF_ERROR(run->reader->Read({static_cast<size_t>(run->seq_column)}, &arrays));
  run->seq = std::move(arrays[0]);
  run->has_seq = true;
  if (run->seq.null_count != 0) return Status::Corruption(f.path + ": _seq has nulls");
  return Status::OK();
}

// Reads key-disjoint runs (no deletes) without a merge: the requested columns of the runs
// in key order are decoded straight into the output arrays. A column every run holds in
// one narrower type (a column a schema change widened, all files older) is widened once
// after decoding. False (nothing done) if a run lacks a requested column or the runs'
// types differ: the merge path reports or handles those.
Result<bool> ReadConcatenated(std::vector<Run>& runs, const std::vector<uint32_t>& order,
                              const std::vector<std::string>& columns,
                              const std::vector<int>& table_col, const std::vector<int>& key_pos,
                              const Schema& ts, MergeResult* result) {
  // One run: its decoded key columns are moved to the output, not decoded again.
  bool reuse_keys = order.size() == 1;
  std::vector<format::FileReader::Part> parts;
  std::vector<size_t> slot;  // decoded column j -> requested column
  for (uint32_t r : order) {
    const Schema& fs = runs[r].reader->schema();
    format::FileReader::Part part{runs[r].reader.get(), {}};
    for (size_t i = 0; i < columns.size(); ++i) {
      if (reuse_keys && key_pos[i] >= 0) continue;
      int c = FileColumn(fs, ts.fields[table_col[i]]);
      if (c < 0) return false;
      const DataType& ft = fs.fields[c].type;
      const DataType& tt = ts.fields[table_col[i]].type;
      if (!ft.Equals(tt) && !CanWiden(ft, tt)) return false;
      if (!parts.empty()) {  // the type every run must share: the first run's
        const format::FileReader::Part& p0 = parts.front();
        size_t j = part.columns.size();
        if (!p0.reader->schema().fields[p0.columns[j]].type.Equals(ft)) return false;
      }
      part.columns.push_back(static_cast<size_t>(c));
      if (parts.empty()) slot.push_back(i);
    }
    parts.push_back(std::move(part));
  }
  std::vector<OwnedArray> arrays;
  LAMINA_RETURN_IF_ERROR(format::FileReader::ReadConcat(parts, &arrays));
  result->columns.resize(columns.size());
  for (size_t j = 0; j < slot.size(); ++j) {
    LAMINA_RETURN_IF_ERROR(ToTableType(ts.fields[table_col[slot[j]]], &arrays[j]));
    result->columns[slot[j]] = std::move(arrays[j]);
  }
  int64_t rows = 0;
  for (uint32_t r : order) rows += static_cast<int64_t>(runs[r].reader->num_rows());
  if (reuse_keys) {
    Run& run = runs[order[0]];
    for (size_t i = 0; i < columns.size(); ++i) {
      if (key_pos[i] < 0) continue;
      // A key column requested twice is copied the second time.
      bool taken = false;
      for (size_t e = 0; e < i; ++e) taken |= key_pos[e] == key_pos[i];
      if (!taken) {
        result->columns[i] = std::move(run.key_arrays[key_pos[i]]);
      } else {
        std::vector<OwnedArray> again;
        size_t c = static_cast<size_t>(FileColumn(run.reader->schema(), ts.fields[table_col[i]]));
        LAMINA_RETURN_IF_ERROR(run.reader->Read({c}, &again));
        result->columns[i] = std::move(again[0]);
      }
    }
  }
  result->length = rows;
  return true;
}

}  // namespace

Result<MergeResult> MergeRead(const std::vector<ReadFile>& files,
                              const std::vector<std::string>& columns, TableOptions o) {
  LAMINA_RETURN_IF_ERROR(Validate(&o));
  const Schema& ts = o.table_schema;
  MergeResult result;
  RequestedColumns req;
  LAMINA_RETURN_IF_ERROR(ResolveRequest(o, columns, &req));
  const std::vector<int>& table_col = req.table_col;
  const std::vector<int>& key_pos = req.key_pos;
  result.schema = req.schema;

  merge::RawKey raw = merge::RawKey::kNone;
  if (o.key_index.size() == 1) raw = merge::RawKeyOf(ts.fields[o.key_index[0]].type);
  std::vector<Run> runs(files.size());
  LAMINA_RETURN_IF_ERROR(ParallelFor(files.size(), [&](size_t i) {
    return OpenRun(files[i], o, raw, &runs[i]);
  }));

  merge::RangeMergeInput in;
  in.raw = raw;
  in.runs.resize(runs.size());
  std::vector<const int8_t*> kinds(runs.size(), nullptr);
  for (size_t r = 0; r < runs.size(); ++r) {
    merge::RangeRun& rr = in.runs[r];
    if (raw != merge::RawKey::kNone) {
      rr.raw = runs[r].raw;
      rr.raw_size = static_cast<size_t>(runs[r].key_arrays[0].length);
    } else {
      rr.keys = &runs[r].keys;
    }
    rr.priority = files[r].priority;
    if (runs[r].has_kind) {
      const int8_t* k = runs[r].kind.values->as<int8_t>();
      size_t n = static_cast<size_t>(runs[r].kind.length);
      if (!merge::AllUpserts(k, n)) kinds[r] = k;  // runs of upserts skip the per-version check
    }
    rr.kind = kinds[r];
  }

  std::vector<merge::AggFn> fns(columns.size());
  bool all_last = true, all_first = true;
  for (size_t i = 0; i < columns.size(); ++i) {
    fns[i] = ColumnFn(o, table_col[i]);
    all_last &= fns[i] == merge::AggFn::kLastValue;
    all_first &= fns[i] == merge::AggFn::kFirstValue;
  }
  // Every column keeps one version per key (deduplicate, first_row): the merge emits that
  // selection directly, without materializing every version.
  bool fused = all_last || all_first;

  // Key-disjoint runs without deletes need no merge: decode straight into the output.
  if (fused) {
    std::vector<uint32_t> order;
    bool concat = false;
    LAMINA_RETURN_IF_ERROR(merge::ConcatOrder(in, &order, &concat));
    if (concat && !order.empty()) {
      LAMINA_ASSIGN_OR_RETURN(bool done, ReadConcatenated(runs, order, columns, table_col,
                                                          key_pos, ts, &result));
      if (done) return result;
    }
  }
  LAMINA_RETURN_IF_ERROR(ParallelFor(files.size(), [&](size_t r) -> Status {
    return ReadSeq(files[r], &runs[r]);
  }));
  for (size_t r = 0; r < runs.size(); ++r) {
    if (runs[r].has_seq) in.runs[r].seq = runs[r].seq.values->as<uint64_t>();
  }

  merge::MergedRuns merged;
  merge::KeyVersions versions;
  merge::Selection last, first;
  std::vector<uint8_t> used(runs.size(), 0);
  size_t out_rows = 0;
  if (fused) {
    merge::Selection& sel = all_last ? last : first;
    LAMINA_RETURN_IF_ERROR(merge::MergeSelect(in, all_last, &sel, &out_rows, &used));
  } else {
    LAMINA_RETURN_IF_ERROR(merge::MergeRanges(in, &merged));
    merge::FoldVersions(merged, kinds, merge::FoldPolicy::kRead, &versions);
    out_rows = versions.size();
    // Which runs hold a counted version: only those are decoded.
    if (versions.begin == merged.key_start.data()) {
      for (size_t r = 0; r < runs.size(); ++r) used[r] = runs[r].key_arrays[0].length > 0;
    } else {
      for (size_t g = 0; g < out_rows; ++g) {
        for (uint32_t i = versions.begin[g]; i < versions.end[g]; ++i) used[versions.run[i]] = 1;
      }
    }
    for (size_t i = 0; i < columns.size(); ++i) {
      if (fns[i] == merge::AggFn::kLastValue && last.run.empty() && out_rows > 0) {
        merge::SelectPositional(fns[i], versions, &last);
      }
      if (fns[i] == merge::AggFn::kFirstValue && first.run.empty() && out_rows > 0) {
        merge::SelectPositional(fns[i], versions, &first);
      }
    }
  }

  // Decode the requested non-key columns of the used runs.
  LAMINA_RETURN_IF_ERROR(ParallelFor(runs.size(), [&](size_t r) -> Status {
    Run& run = runs[r];
    run.column_of.assign(columns.size(), -1);
    run.values.resize(columns.size());
    run.value_views.resize(columns.size());
    if (!used[r]) return Status::OK();
    const Schema& fs = run.reader->schema();
    std::vector<size_t> want;
    std::vector<size_t> slot;
    for (size_t i = 0; i < columns.size(); ++i) {
      if (key_pos[i] >= 0) continue;
      LAMINA_ASSIGN_OR_RETURN(int c, ValueColumn(files[r].path, fs, ts.fields[table_col[i]]));
      if (c < 0) {
        size_t t = static_cast<size_t>(table_col[i]);
        if (!HasDefault(o, t)) continue;  // the file lacks the column: null
        run.values[i] = DefaultArray(o, t, static_cast<size_t>(run.reader->num_rows()));
        run.value_views[i] = merge::ViewOf(run.values[i]);
        run.column_of[i] = INT32_MAX;  // present, not from the file
        continue;
      }
      run.column_of[i] = c;
      want.push_back(static_cast<size_t>(c));
      slot.push_back(i);
    }
    std::vector<OwnedArray> arrays;
    LAMINA_RETURN_IF_ERROR(run.reader->Read(want, &arrays));
    for (size_t j = 0; j < slot.size(); ++j) {
      LAMINA_RETURN_IF_ERROR(ToTableType(ts.fields[table_col[slot[j]]], &arrays[j]));
      run.values[slot[j]] = std::move(arrays[j]);
    }
    for (size_t j = 0; j < slot.size(); ++j) {
      run.value_views[slot[j]] = merge::ViewOf(run.values[slot[j]]);
    }
    return Status::OK();
  }));

  result.columns.resize(columns.size());
  LAMINA_RETURN_IF_ERROR(ParallelFor(columns.size(), [&](size_t i) -> Status {
    std::vector<const ArrayView*> src(runs.size(), nullptr);
    for (size_t r = 0; r < runs.size(); ++r) {
      if (key_pos[i] >= 0) {
        src[r] = &runs[r].key_views[key_pos[i]];
      } else if (runs[r].column_of[i] >= 0) {
        src[r] = &runs[r].value_views[i];
      }
    }
    const merge::Selection* sel = fns[i] == merge::AggFn::kLastValue    ? &last
                                  : fns[i] == merge::AggFn::kFirstValue ? &first
                                                                        : nullptr;
    if (fused) {
      return merge::GatherRuns(ts.fields[table_col[i]].type, src, sel->run.data(),
                               sel->row.data(), out_rows, &result.columns[i]);
    }
    if (sel != nullptr && out_rows == 0) sel = nullptr;
    return merge::FoldColumn(fns[i], ts.fields[table_col[i]].type, src, versions,
                             &result.columns[i], sel);
  }));
  result.length = static_cast<int64_t>(out_rows);
  return result;
}

}  // namespace lamina::table
