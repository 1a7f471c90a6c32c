#include "lamina/table/take_split.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "lamina/format/file_reader.h"
#include "lamina/merge/gather.h"
#include "lamina/merge/mread_merge.h"
#include "lamina/table/reader_cache.h"
#include "lamina/util/parallel.h"

namespace lamina::table {
namespace {

// A split file's key columns, then its `_kind` and `_seq` columns where present, read
// whole.
struct KeyFile {
  std::vector<OwnedArray> arrays;
  size_t nk = 0;             // key columns: arrays[0, nk)
  int kind = -1, seq = -1;   // index in arrays, or -1
  size_t rows = 0;
};

Status ReadKeyFile(const std::string& path, const TableOptions& o, KeyFile* out) {
  LAMINA_ASSIGN_OR_RETURN(std::shared_ptr<format::FileReader> r, OpenCachedReader(path));
  RunColumns rc;
  LAMINA_RETURN_IF_ERROR(ResolveRunColumns(path, r->schema(), o, &rc));
  std::vector<size_t> cols = rc.key;
  out->nk = rc.key.size();
  if (rc.kind >= 0) {
    out->kind = static_cast<int>(cols.size());
    cols.push_back(static_cast<size_t>(rc.kind));
  }
  if (rc.seq >= 0) {
    out->seq = static_cast<int>(cols.size());
    cols.push_back(static_cast<size_t>(rc.seq));
  }
  LAMINA_RETURN_IF_ERROR(r->Read(cols, &out->arrays));
  out->rows = static_cast<size_t>(r->num_rows());
  if (out->kind >= 0 && out->arrays[static_cast<size_t>(out->kind)].null_count != 0) {
    return Status::Corruption(path + ": _kind has nulls");
  }
  if (out->seq >= 0 && out->arrays[static_cast<size_t>(out->seq)].null_count != 0) {
    return Status::Corruption(path + ": _seq has nulls");
  }
  return Status::OK();
}

// The file's `_kind` values, or null where it has none or only upserts (runs of upserts
// skip the per-version check).
const int8_t* KindsOf(const KeyFile& f) {
  if (f.kind < 0) return nullptr;
  const OwnedArray& a = f.arrays[static_cast<size_t>(f.kind)];
  const int8_t* k = a.values->as<int8_t>();
  return merge::AllUpserts(k, static_cast<size_t>(a.length)) ? nullptr : k;
}

const uint64_t* SeqsOf(const KeyFile& f) {
  if (f.seq < 0) return nullptr;
  return f.arrays[static_cast<size_t>(f.seq)].values->as<uint64_t>();
}

Status NormalizeFileKeys(const KeyFile& f, const TableOptions& o, merge::NormalizedKeys* out) {
  std::vector<ArrayView> views;
  for (size_t k = 0; k < f.nk; ++k) views.push_back(merge::ViewOf(f.arrays[k]));
  std::vector<const ArrayView*> kv;
  for (const ArrayView& v : views) kv.push_back(&v);
  return merge::NormalizeKeys(kv, o.key_columns, out);
}

}  // namespace

Status MergeKeys(const TakeSplit& split, const TableOptions& o, LiveKeys* live) {
  size_t n = split.paths.size();
  live->keys.resize(n);
  std::vector<KeyFile> files(n);
  LAMINA_RETURN_IF_ERROR(ParallelFor(n, [&](size_t f) -> Status {
    LAMINA_RETURN_IF_ERROR(ReadKeyFile(split.paths[f], o, &files[f]));
    LAMINA_RETURN_IF_ERROR(NormalizeFileKeys(files[f], o, &live->keys[f]));
    // The normalized keys are a copy: only `_kind` and `_seq` stay held.
    for (size_t k = 0; k < files[f].nk; ++k) files[f].arrays[k] = OwnedArray();
    return Status::OK();
  }));
  std::vector<merge::RunKeys> rk(n);
  std::vector<const int8_t*> kind_of(n, nullptr);
  for (size_t f = 0; f < n; ++f) {
    rk[f].keys = &live->keys[f];
    rk[f].priority = split.value[f];
    rk[f].seq = SeqsOf(files[f]);
    kind_of[f] = KindsOf(files[f]);
  }
  LAMINA_RETURN_IF_ERROR(merge::MergeRuns(rk, &live->merged));
  // The fold reads the kinds now; afterwards only keys and selections are used.
  merge::FoldVersions(live->merged, kind_of, merge::FoldPolicy::kRead, &live->versions);
  return Status::OK();
}

int IndexPick(const TableOptions& o, const RequestedColumns& req) {
  auto decide = [&](const std::vector<int>& cols) {
    bool all_last = true, all_first = true;
    for (int t : cols) {
      if (std::find(o.key_index.begin(), o.key_index.end(), t) != o.key_index.end()) continue;
      merge::AggFn fn = ColumnFn(o, t);
      all_last &= fn == merge::AggFn::kLastValue;
      all_first &= fn == merge::AggFn::kFirstValue;
    }
    return all_last ? 1 : (all_first ? 0 : -1);
  };
  std::vector<int> all;
  for (size_t t = 0; t < o.table_schema.fields.size(); ++t) all.push_back(static_cast<int>(t));
  int pick = decide(all);
  return pick >= 0 ? pick : decide(req.table_col);
}

std::string IndexKey(const TakeSplit& split, const TableOptions& o, int pick) {
  std::string key = pick == 1 ? "last" : "first";
  for (const std::string& k : o.key_columns) {
    key += '\0';
    key += k;
  }
  key += '\1';
  for (size_t f = 0; f < split.paths.size(); ++f) {
    key += split.paths[f];
    key += '\0';
    key += FileIdentity(split.paths[f]);
    key += '\0';
    key += std::to_string(split.value[f]);
    key += '\1';
  }
  return key;
}

namespace {

// A file's keys for the index merge: raw integers where the key is one integer column,
// else normalized.
struct KeyRun {
  KeyFile file;
  merge::NormalizedKeys keys;
  const void* raw = nullptr;
  size_t rows = 0;
};

Status PrepareKeyRun(const std::string& path, const TableOptions& o, merge::RawKey raw,
                     KeyRun* run) {
  LAMINA_RETURN_IF_ERROR(ReadKeyFile(path, o, &run->file));
  run->rows = run->file.rows;
  if (raw == merge::RawKey::kNone) return NormalizeFileKeys(run->file, o, &run->keys);
  ArrayView v = merge::ViewOf(run->file.arrays[0]);
  if (v.null_count != 0 && CountNulls(v.validity, v.offset, v.length) != 0) {
    return Status::SchemaError("primary key column '" + o.key_columns[0] + "' contains nulls");
  }
  run->raw = static_cast<const uint8_t*>(v.values) + v.offset * v.type->byte_width();
  run->rows = static_cast<size_t>(v.length);
  return Status::OK();
}

// Keeps one slot per live key of `sel` (which holds a slot per stored version), so the
// cached index costs 8 bytes per merged row.
void ShrinkInto(merge::Selection&& sel, size_t rows, size_t versions, TakeIndex* index) {
  if (rows < versions) {
    index->sel.run.Allocate(rows);
    index->sel.row.Allocate(rows);
    if (rows > 0) {
      std::memcpy(index->sel.run.data(), sel.run.data(), rows * sizeof(uint32_t));
      std::memcpy(index->sel.row.data(), sel.row.data(), rows * sizeof(uint32_t));
    }
  } else {
    index->sel = std::move(sel);
  }
  index->rows = rows;
}

}  // namespace

Status BuildIndex(const TakeSplit& split, const TableOptions& o, bool pick_last,
                  TakeIndex* index) {
  size_t n = split.paths.size();
  merge::RawKey raw = merge::RawKey::kNone;
  if (o.key_index.size() == 1) raw = merge::RawKeyOf(o.table_schema.fields[o.key_index[0]].type);
  std::vector<KeyRun> runs(n);
  LAMINA_RETURN_IF_ERROR(ParallelFor(n, [&](size_t f) -> Status {
    return PrepareKeyRun(split.paths[f], o, raw, &runs[f]);
  }));
  merge::RangeMergeInput in;
  in.raw = raw;
  in.runs.resize(n);
  for (size_t f = 0; f < n; ++f) {
    merge::RangeRun& rr = in.runs[f];
    if (raw != merge::RawKey::kNone) {
      rr.raw = runs[f].raw;
      rr.raw_size = runs[f].rows;
    } else {
      rr.keys = &runs[f].keys;
    }
    rr.priority = split.value[f];
    rr.seq = SeqsOf(runs[f].file);
    rr.kind = KindsOf(runs[f].file);
  }
  std::vector<uint8_t> used(n, 0);
  size_t rows = 0;
  merge::Selection sel;
  LAMINA_RETURN_IF_ERROR(merge::MergeSelect(in, pick_last, &sel, &rows, &used));
  size_t versions = 0;
  for (const KeyRun& r : runs) versions += r.rows;
  ShrinkInto(std::move(sel), rows, versions, index);
  CountTakeIndexBuild();
  return Status::OK();
}

}  // namespace lamina::table
