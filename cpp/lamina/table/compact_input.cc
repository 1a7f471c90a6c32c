#include "lamina/table/compact_input.h"

#include <algorithm>

#include "lamina/merge/gather.h"
#include "lamina/merge/key.h"
#include "lamina/merge/row_kind.h"
#include "lamina/table/run_columns.h"
#include "lamina/util/bit_util.h"

namespace lamina::table::compact_input {
namespace {

constexpr uint64_t kMinWindowRows = 4096;
constexpr uint64_t kMaxWindowRows = 65536;

}  // namespace

ArrayView SliceView(const ArrayView& v, uint64_t a, uint64_t len) {
  ArrayView s = v;
  s.offset = v.offset + static_cast<int64_t>(a);
  s.length = static_cast<int64_t>(len);
  s.null_count = s.validity ? CountNulls(s.validity, s.offset, s.length) : 0;
  if (s.null_count == 0) s.validity = nullptr;
  return s;
}

Result<std::string> KeyOf(const std::vector<ArrayView>& keys, size_t nk,
                          const std::vector<std::string>& names, uint64_t i) {
  std::vector<ArrayView> one;
  std::vector<const ArrayView*> ptrs;
  one.reserve(nk);
  for (size_t k = 0; k < nk; ++k) one.push_back(SliceView(keys[k], i, 1));
  for (const ArrayView& v : one) ptrs.push_back(&v);
  merge::NormalizedKeys nkeys;
  LAMINA_RETURN_IF_ERROR(merge::NormalizeKeys(ptrs, names, &nkeys));
  return nkeys.KeyBytes(0);
}

Result<uint64_t> LowerBoundRow(format::FileReader& reader, const std::vector<size_t>& key_cols,
                               const TableOptions& o, const std::string& key) {
  size_t nk = o.key_columns.size();
  uint64_t lo = 0, hi = reader.num_rows();  // the answer is in [lo, hi]
  while (lo < hi) {
    int64_t mid = static_cast<int64_t>(lo + (hi - lo) / 2);
    std::vector<OwnedArray> one;
    LAMINA_RETURN_IF_ERROR(reader.Take(key_cols, &mid, 1, &one));
    std::vector<ArrayView> views;
    for (const OwnedArray& a : one) views.push_back(merge::ViewOf(a));
    LAMINA_ASSIGN_OR_RETURN(std::string k, KeyOf(views, nk, o.key_columns, 0));
    if (k < key) {
      lo = static_cast<uint64_t>(mid) + 1;
    } else {
      hi = static_cast<uint64_t>(mid);
    }
  }
  return lo;
}

Status OpenInput(const CompactInput& f, const TableOptions& o, const std::vector<bool>* wanted,
                 Input* in) {
  in->path = f.path;
  in->priority = f.priority;
  LAMINA_ASSIGN_OR_RETURN(in->reader, format::FileReader::Open(f.path));
  const Schema& fs = in->reader->schema();
  const Schema& ts = o.table_schema;
  in->at_of.assign(ts.fields.size(), -1);
  RunColumns rc;
  LAMINA_RETURN_IF_ERROR(ResolveRunColumns(f.path, fs, o, &rc));
  for (size_t k = 0; k < rc.key.size(); ++k) {
    in->at_of[o.key_index[k]] = static_cast<int>(in->cols.size());
    in->cols.push_back(rc.key[k]);
  }
  if (rc.kind >= 0) {
    in->kind_at = static_cast<int>(in->cols.size());
    in->cols.push_back(static_cast<size_t>(rc.kind));
  }
  if (rc.seq >= 0) {
    in->seq_at = static_cast<int>(in->cols.size());
    in->cols.push_back(static_cast<size_t>(rc.seq));
  }
  auto skip = [&](size_t t) { return wanted != nullptr && !(*wanted)[t]; };
  for (size_t t = 0; t < ts.fields.size(); ++t) {
    if (in->at_of[t] >= 0 || skip(t)) continue;  // a key column, or not wanted
    LAMINA_ASSIGN_OR_RETURN(int c, ValueColumn(f.path, fs, ts.fields[t]));
    if (c < 0) continue;
    in->at_of[t] = static_cast<int>(in->cols.size());
    in->cols.push_back(static_cast<size_t>(c));
  }
  for (size_t t = 0; t < ts.fields.size(); ++t) {
    if (in->at_of[t] >= 0 || skip(t) || !HasDefault(o, t)) continue;
    in->at_of[t] = static_cast<int>(in->cols.size() + in->defaults.size());
    in->defaults.push_back(t);
  }
  in->num_rows = in->reader->num_rows();
  in->window_rows = kMinWindowRows;
  in->file_size = in->reader->file_size();
  const format::KeyRange& kr = in->reader->meta().ranges;
  if (kr.present) {
    in->has_min_key = true;
    in->min_key = kr.min_key;
  }
  return Status::OK();
}

Status LoadWindow(Input* in, const TableOptions& o, uint64_t window_bytes, uint64_t fixed_rows) {
  size_t nk = o.key_columns.size();
  uint64_t b = in->win_end;
  uint64_t e = std::min(in->num_rows, b + in->window_rows);
  in->views.clear();
  in->arrays.clear();
  LAMINA_RETURN_IF_ERROR(in->reader->ReadRange(in->cols, b, e, &in->arrays));
  for (size_t t : in->defaults) in->arrays.push_back(DefaultArray(o, t, e - b));
  for (size_t t = 0; t < in->at_of.size(); ++t) {  // columns a schema change widened
    if (in->at_of[t] < 0) continue;
    LAMINA_RETURN_IF_ERROR(
        ToTableType(o.table_schema.fields[t], &in->arrays[static_cast<size_t>(in->at_of[t])]));
  }
  in->reader->EvictRowsBefore(in->cols, b);  // rows before b are merged: drop their pages
  if (in->kind_at >= 0) {
    const OwnedArray& k = in->arrays[in->kind_at];
    if (k.null_count != 0) return Status::Corruption(in->path + ": _kind has nulls");
    const int8_t* kv = k.values->as<int8_t>();
    for (uint64_t i = 0; i < e - b; ++i) {
      if (!merge::IsRowKind(kv[i])) {
        return Status::Corruption(in->path + ": _kind " + std::to_string(kv[i]) + " is not 0, 1 or 2");
      }
    }
  }
  if (in->seq_at >= 0 && in->arrays[in->seq_at].null_count != 0) {
    return Status::Corruption(in->path + ": _seq has nulls");
  }
  for (const OwnedArray& a : in->arrays) in->views.push_back(merge::ViewOf(a));
  in->win_begin = b;
  in->win_end = e;
  if (!in->loaded) {
    uint64_t bytes = 0;
    for (const ArrayView& v : in->views) bytes += UncompressedBytes(v);
    in->row_bytes = std::max<uint64_t>(1, bytes / std::max<uint64_t>(1, e - b));
    in->window_rows = fixed_rows > 0 ? fixed_rows
                                     : std::clamp<uint64_t>(window_bytes / in->row_bytes,
                                                            kMinWindowRows, kMaxWindowRows);
    in->loaded = true;
  }
  LAMINA_ASSIGN_OR_RETURN(in->last_key, KeyOf(in->views, nk, o.key_columns, e - b - 1));
  if (b == 0 && in->has_min_key) {
    LAMINA_ASSIGN_OR_RETURN(std::string first, KeyOf(in->views, nk, o.key_columns, 0));
    if (first < in->min_key) {
      return Status::Corruption(in->path + ": a key is below the file's key range");
    }
  }
  return Status::OK();
}

void ReleaseInput(Input* in) {
  in->views.clear();
  in->arrays.clear();
  in->reader.reset();  // unmaps the file
}

bool Within(const std::string& k, const Cutoff& c) {
  if (c.unbounded) return true;
  int cmp = k.compare(c.key);
  return c.inclusive ? cmp <= 0 : cmp < 0;
}

Result<uint64_t> RoundEnd(const Input& in, const TableOptions& o, const Cutoff& c) {
  if (!in.loaded || !in.remaining()) return in.cursor;
  if (Within(in.last_key, c)) return in.win_end;
  size_t nk = o.key_columns.size();
  uint64_t lo = in.cursor, hi = in.win_end - 1;  // rows [lo, hi) undecided; hi is out
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    LAMINA_ASSIGN_OR_RETURN(std::string k, KeyOf(in.views, nk, o.key_columns, mid - in.win_begin));
    if (Within(k, c)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace lamina::table::compact_input
