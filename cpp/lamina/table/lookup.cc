#include "lamina/table/lookup.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "lamina/format/file_reader.h"
#include "lamina/merge/engine.h"
#include "lamina/merge/gather.h"
#include "lamina/merge/loser_tree.h"
#include "lamina/merge/mread_merge.h"
#include "lamina/table/run_columns.h"
#include "lamina/table/take_index.h"
#include "lamina/util/parallel.h"

namespace lamina::table {
namespace {

using format::FileReader;

// ---- FileReader cache ------------------------------------------------------------------

// Data files are immutable, but a path may be rewritten in place (tests that corrupt a
// file do): the key includes what stat() says, so a changed file is opened afresh.
// Entries of deleted files linger until evicted; the capacity bounds the mappings held.
constexpr size_t kCacheCapacity = 64;

class ReaderCache {
 public:
  Result<std::shared_ptr<FileReader>> Open(const std::string& path) {
    struct stat sb;
    if (::stat(path.c_str(), &sb) != 0) {
      // Not cacheable; FileReader::Open reports the error (NotFound, ...).
      LAMINA_ASSIGN_OR_RETURN(std::unique_ptr<FileReader> r, FileReader::Open(path));
      return std::shared_ptr<FileReader>(std::move(r));
    }
    std::string key = path;
    key += '\0';
    key += std::to_string(sb.st_dev) + ":" + std::to_string(sb.st_ino) + ":" +
           std::to_string(sb.st_size) + ":" + std::to_string(sb.st_mtim.tv_sec) + "." +
           std::to_string(sb.st_mtim.tv_nsec);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->second;
      }
    }
    LAMINA_ASSIGN_OR_RETURN(std::unique_ptr<FileReader> opened, FileReader::Open(path));
    std::shared_ptr<FileReader> r(std::move(opened));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return it->second->second;  // another thread opened it meanwhile
    lru_.emplace_front(key, r);
    map_[key] = lru_.begin();
    while (lru_.size() > kCacheCapacity) {
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return r;
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    map_.clear();
    lru_.clear();
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mu_);
    return lru_.size();
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<FileReader>>;
  std::mutex mu_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
};

ReaderCache& Cache() {
  static ReaderCache* cache = new ReaderCache;  // never destroyed: no exit-order hazards
  return *cache;
}

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

// ---- finding keys in a file ------------------------------------------------------------

// Normalized part of a bytes key column holding `s` (merge/key.h grammar).
std::string EscapePart(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    out += c;
    if (c == '\0') out += '\xff';
  }
  out += '\0';
  out += '\0';
  return out;
}

// Bounds on the normalized first key part of a page's rows, from its statistics. A
// string page's min is a prefix of the true min and its max an upper bound: both stay
// valid bounds once escaped, since escaping preserves order.
struct PartBounds {
  bool known = false;
  uint64_t ulo = 0, uhi = 0;  // integer key column
  std::string lo, hi;         // normalized part bytes (both kinds)
};

PartBounds PageBounds(const DataType& t, const format::Stats& s) {
  PartBounds b;
  if (!s.has_min_max) return b;
  if (t.is_integer_like()) {
    if (s.min.size() != 8 || s.max.size() != 8) return b;
    std::memcpy(&b.ulo, s.min.data(), 8);
    std::memcpy(&b.uhi, s.max.data(), 8);
    if (t.is_signed()) {
      b.ulo ^= uint64_t{1} << 63;
      b.uhi ^= uint64_t{1} << 63;
    }
    b.lo = merge::U64KeyBytes(b.ulo);
    b.hi = merge::U64KeyBytes(b.uhi);
  } else if (t.is_binary_like()) {
    b.lo = EscapePart(s.min);
    b.hi = EscapePart(s.max);
  } else {
    return b;
  }
  b.known = true;
  return b;
}

uint64_t BigEndianU64(const std::string& b) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}

// Requested keys [a, b) that fall in `bounds`: a key's first part is at least bounds.lo
// and at most bounds.hi. Parts are prefix-free, so comparing the whole key with lo, and
// its first |hi| bytes with hi, decides that.
std::pair<size_t, size_t> KeysInBounds(const LookupKeys& keys, size_t a, size_t b,
                                       const PartBounds& bounds) {
  if (keys.is_u64) {
    const uint64_t* k = keys.u64.data();
    size_t lo = static_cast<size_t>(std::lower_bound(k + a, k + b, bounds.ulo) - k);
    size_t hi = static_cast<size_t>(std::upper_bound(k + lo, k + b, bounds.uhi) - k);
    return {lo, hi};
  }
  const auto& k = keys.bytes;
  auto first = std::lower_bound(k.begin() + static_cast<std::ptrdiff_t>(a),
                                k.begin() + static_cast<std::ptrdiff_t>(b), bounds.lo);
  auto last = std::partition_point(first, k.begin() + static_cast<std::ptrdiff_t>(b),
                                   [&](const std::string& key) {
                                     return std::string_view(key).substr(0, bounds.hi.size()) <=
                                            bounds.hi;
                                   });
  return {static_cast<size_t>(first - k.begin()), static_cast<size_t>(last - k.begin())};
}

// <0, 0, >0 as requested key j is below, equal to or above row i of `nk`.
int CompareKey(const LookupKeys& keys, size_t j, const merge::NormalizedKeys& nk, size_t i) {
  if (keys.is_u64) {
    uint64_t a = keys.u64[j], b = nk.u64()[i];
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  return std::string_view(keys.bytes[j]).compare(nk.bytes(i));
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

Status SearchFile(const ReadFile& f, const LookupKeys& keys, const TableOptions& o,
                  const std::vector<std::string>& columns, const Request& req, Run* run) {
  LAMINA_ASSIGN_OR_RETURN(run->reader, Cache().Open(f.path));
  run->priority = f.priority;
  FileReader& r = *run->reader;
  FileColumns fc;
  LAMINA_RETURN_IF_ERROR(ResolveFile(f.path, r, o, columns, req, &fc));
  run->column_of = fc.value;
  run->values.resize(columns.size());
  run->value_views.resize(columns.size());

  // The file's key range prunes the request first.
  size_t lo = 0, hi = keys.size();
  const format::KeyRange& kr = r.meta().ranges;
  if (kr.present) {
    PartBounds whole;
    whole.lo = kr.min_key;
    whole.hi = kr.max_key;
    if (keys.is_u64 && kr.min_key.size() == 8 && kr.max_key.size() == 8) {
      whole.ulo = BigEndianU64(kr.min_key);
      whole.uhi = BigEndianU64(kr.max_key);
      std::tie(lo, hi) = KeysInBounds(keys, lo, hi, whole);
    } else if (!keys.is_u64) {
      // Whole keys, not parts: max_key is itself a complete key, so the prefix test on
      // |max_key| bytes is exact for keys of the same columns.
      std::tie(lo, hi) = KeysInBounds(keys, lo, hi, whole);
    }
  }
  if (lo >= hi || r.num_rows() == 0) return Status::OK();

  // Pages of the first key column whose statistics may hold a requested key, merged
  // into row ranges.
  LAMINA_ASSIGN_OR_RETURN(const format::ColumnMeta* cm, r.Column(fc.key[0]));
  const DataType& t0 = r.schema().fields[fc.key[0]].type;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const format::PageMeta& p : cm->pages) {
    PartBounds b = PageBounds(t0, p.stats);
    if (b.known) {
      auto [a, e] = KeysInBounds(keys, lo, hi, b);
      if (a >= e) continue;
    }
    uint64_t end = p.row_start + p.num_rows;
    if (!ranges.empty() && ranges.back().second == p.row_start) {
      ranges.back().second = end;
    } else {
      ranges.emplace_back(p.row_start, end);
    }
  }
  if (ranges.empty()) return Status::OK();

  // Decode the key columns of each range and binary search the requested keys in it.
  size_t nk = fc.key.size();
  std::vector<std::vector<OwnedArray>> decoded(ranges.size());
  std::vector<std::vector<ArrayView>> views(ranges.size());
  std::vector<int64_t> rows;
  std::vector<uint32_t> range_of, row_in;
  for (size_t g = 0; g < ranges.size(); ++g) {
    LAMINA_RETURN_IF_ERROR(r.ReadRange(fc.key, ranges[g].first, ranges[g].second, &decoded[g]));
    for (const OwnedArray& a : decoded[g]) views[g].push_back(merge::ViewOf(a));
    std::vector<const ArrayView*> kv;
    for (const ArrayView& v : views[g]) kv.push_back(&v);
    merge::NormalizedKeys norm;
    LAMINA_RETURN_IF_ERROR(merge::NormalizeKeys(kv, o.key_columns, &norm));
    size_t n = norm.size();
    if (n == 0) continue;
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
        rows.push_back(static_cast<int64_t>(ranges[g].first + p));
        range_of.push_back(static_cast<uint32_t>(g));
        row_in.push_back(static_cast<uint32_t>(p));
        ++p;
      }
    }
  }
  size_t m = rows.size();
  run->rows = m;
  if (m == 0) return Status::OK();

  // Key columns: gathered from what was decoded. The rest: taken from the file.
  run->key_arrays.resize(nk);
  for (size_t k = 0; k < nk; ++k) {
    std::vector<const ArrayView*> src(ranges.size());
    for (size_t g = 0; g < ranges.size(); ++g) src[g] = &views[g][k];
    LAMINA_RETURN_IF_ERROR(merge::GatherRuns(r.schema().fields[fc.key[k]].type, src,
                                             range_of.data(), row_in.data(), m,
                                             &run->key_arrays[k]));
  }
  for (const OwnedArray& a : run->key_arrays) run->key_views.push_back(merge::ViewOf(a));
  std::vector<const ArrayView*> kv;
  for (const ArrayView& v : run->key_views) kv.push_back(&v);
  LAMINA_RETURN_IF_ERROR(merge::NormalizeKeys(kv, o.key_columns, &run->keys));

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
  for (size_t i = 0; i < columns.size(); ++i) {
    if (fc.value[i] < 0) continue;
    want.push_back(static_cast<size_t>(fc.value[i]));
    slot.push_back(static_cast<int>(i));
  }
  std::vector<OwnedArray> taken;
  LAMINA_RETURN_IF_ERROR(r.Take(want, rows.data(), m, &taken));
  for (size_t w = 0; w < want.size(); ++w) {
    if (slot[w] == -1) {
      run->kind = std::move(taken[w]);
      run->has_kind = true;
      if (run->kind.null_count != 0) return Status::Corruption(f.path + ": _kind has nulls");
    } else if (slot[w] == -2) {
      run->seq = std::move(taken[w]);
      run->has_seq = true;
      if (run->seq.null_count != 0) return Status::Corruption(f.path + ": _seq has nulls");
    } else {
      run->values[static_cast<size_t>(slot[w])] = std::move(taken[w]);
    }
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (run->column_of[i] >= 0) run->value_views[i] = merge::ViewOf(run->values[i]);
  }
  return Status::OK();
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

LookupKeys MakeLookupKeys(const merge::NormalizedKeys& keys, const std::vector<uint32_t>* rows) {
  LookupKeys out;
  out.is_u64 = keys.is_u64();
  size_t n = rows != nullptr ? rows->size() : keys.size();
  auto row = [&](size_t i) { return rows != nullptr ? (*rows)[i] : static_cast<uint32_t>(i); };
  // (key, request row) sorted, then the first entry of each key: its smallest row.
  auto build = [&](auto key_at, auto* sorted_keys) {
    using K = decltype(key_at(0));
    std::vector<std::pair<K, uint32_t>> e(n);
    for (size_t i = 0; i < n; ++i) e[i] = {key_at(row(i)), row(i)};
    std::sort(e.begin(), e.end());
    for (size_t i = 0; i < n; ++i) {
      if (i > 0 && e[i].first == e[i - 1].first) continue;
      sorted_keys->emplace_back(e[i].first);
      out.first.push_back(e[i].second);
    }
  };
  if (out.is_u64) {
    build([&](uint32_t r) { return keys.u64()[r]; }, &out.u64);
  } else {
    build([&](uint32_t r) { return keys.bytes(r); }, &out.bytes);
  }
  return out;
}

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

namespace {

// Rows of files: output row j is row rows[j] of file slot[j]. expected[f] is file f's row
// count from its manifest entry (checked), or UINT64_MAX (not checked). A file that lacks
// a requested column contributes nulls to it.
Result<MergeResult> GatherFileRows(const std::vector<std::string>& paths,
                                   const std::vector<uint64_t>& expected,
                                   const std::vector<std::string>& columns, const Request& req,
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
    LAMINA_ASSIGN_OR_RETURN(std::shared_ptr<FileReader> r, Cache().Open(paths[f]));
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
      int c = fs.FieldIndex(columns[i]);
      if (c < 0) continue;
      const Field& tf = req.schema.fields[i];
      if (!fs.fields[c].type.Equals(tf.type)) {
        return Status::InvalidArgument(paths[f] + ": column '" + tf.name + "' has type " +
                                       fs.fields[c].type.ToString() + ", the table schema has " +
                                       tf.type.ToString() +
                                       " (casting on read is not supported)");
      }
      column_of[f][i] = static_cast<int>(want.size());
      want.push_back(static_cast<size_t>(c));
    }
    return r->Take(want, local[f].data(), local[f].size(), &taken[f]);
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

Status OutOfRange(int64_t p, uint64_t total) {
  return Status::InvalidArgument("index " + std::to_string(p) + " out of range for a scan of " +
                                 std::to_string(total) + " rows");
}

}  // namespace

Result<MergeResult> TakeRows(const std::vector<TakeFile>& files,
                             const std::vector<std::string>& columns, TableOptions o,
                             const int64_t* positions, size_t m) {
  LAMINA_RETURN_IF_ERROR(Validate(&o));
  Request req;
  LAMINA_RETURN_IF_ERROR(ResolveRequest(o, columns, &req));
  std::vector<uint64_t> start(files.size() + 1, 0);
  for (size_t f = 0; f < files.size(); ++f) start[f + 1] = start[f] + files[f].num_rows;
  uint64_t total = start.back();
  std::vector<uint32_t> slot(m);
  std::vector<int64_t> rows(m);
  for (size_t j = 0; j < m; ++j) {
    if (positions[j] < 0 || static_cast<uint64_t>(positions[j]) >= total) {
      return OutOfRange(positions[j], total);
    }
    uint64_t p = static_cast<uint64_t>(positions[j]);
    size_t f = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), p) -
                                   start.begin()) - 1;
    slot[j] = static_cast<uint32_t>(f);
    rows[j] = static_cast<int64_t>(p - start[f]);
  }
  std::vector<std::string> paths;
  std::vector<uint64_t> expected;
  for (const TakeFile& f : files) {
    paths.push_back(f.path);
    expected.push_back(f.num_rows);
  }
  return GatherFileRows(paths, expected, columns, req, slot, rows);
}

namespace {

// The live keys of a merged split, in merge order.
struct LiveKeys {
  std::vector<merge::NormalizedKeys> keys;  // per file
  merge::MergedRuns merged;
  merge::KeyVersions versions;
};

Status MergeKeys(const TakeSplit& split, const TableOptions& o, LiveKeys* live) {
  size_t n = split.paths.size();
  live->keys.resize(n);
  std::vector<OwnedArray> kinds(n), seqs(n);
  std::vector<uint8_t> has_kind(n, 0), has_seq(n, 0);
  LAMINA_RETURN_IF_ERROR(ParallelFor(n, [&](size_t f) -> Status {
    LAMINA_ASSIGN_OR_RETURN(std::shared_ptr<FileReader> r, Cache().Open(split.paths[f]));
    FileColumns fc;
    Request none;
    LAMINA_RETURN_IF_ERROR(ResolveFile(split.paths[f], *r, o, {}, none, &fc));
    std::vector<size_t> cols = fc.key;
    if (fc.kind >= 0) cols.push_back(static_cast<size_t>(fc.kind));
    if (fc.seq >= 0) cols.push_back(static_cast<size_t>(fc.seq));
    std::vector<OwnedArray> arrays;
    LAMINA_RETURN_IF_ERROR(r->Read(cols, &arrays));
    size_t nk = fc.key.size();
    std::vector<ArrayView> views;
    for (size_t k = 0; k < nk; ++k) views.push_back(merge::ViewOf(arrays[k]));
    std::vector<const ArrayView*> kv;
    for (const ArrayView& v : views) kv.push_back(&v);
    LAMINA_RETURN_IF_ERROR(merge::NormalizeKeys(kv, o.key_columns, &live->keys[f]));
    size_t next = nk;
    if (fc.kind >= 0) {
      kinds[f] = std::move(arrays[next++]);
      has_kind[f] = 1;
      if (kinds[f].null_count != 0) return Status::Corruption(split.paths[f] + ": _kind has nulls");
    }
    if (fc.seq >= 0) {
      seqs[f] = std::move(arrays[next++]);
      has_seq[f] = 1;
      if (seqs[f].null_count != 0) return Status::Corruption(split.paths[f] + ": _seq has nulls");
    }
    return Status::OK();
  }));
  std::vector<merge::RunKeys> rk(n);
  std::vector<const int8_t*> kind_of(n, nullptr);
  for (size_t f = 0; f < n; ++f) {
    rk[f].keys = &live->keys[f];
    rk[f].priority = split.value[f];
    if (has_seq[f]) rk[f].seq = seqs[f].values->as<uint64_t>();
    if (has_kind[f]) {
      const int8_t* k = kinds[f].values->as<int8_t>();
      if (!merge::AllUpserts(k, static_cast<size_t>(kinds[f].length))) kind_of[f] = k;
    }
  }
  LAMINA_RETURN_IF_ERROR(merge::MergeRuns(rk, &live->merged));
  // The fold reads the kinds now; afterwards only keys and selections are used.
  merge::FoldVersions(live->merged, kind_of, merge::FoldPolicy::kRead, &live->versions);
  return Status::OK();
}

// Which version a take index selects for the request: 1 the newest (deduplicate), 0 the
// oldest (first_row), -1 none (some requested column folds several versions). Decided by
// every column of the table when they agree, so one index serves every request.
int IndexPick(const TableOptions& o, const Request& req) {
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

// Merges the key, `_kind` and `_seq` columns of the split's files (in parallel ranges,
// integer keys compared raw) into the selection of each live key's kept version.
Status BuildIndex(const TakeSplit& split, const TableOptions& o, bool pick_last,
                  TakeIndex* index) {
  size_t n = split.paths.size();
  const Schema& ts = o.table_schema;
  merge::RawKey raw = merge::RawKey::kNone;
  if (o.key_index.size() == 1) raw = merge::RawKeyOf(ts.fields[o.key_index[0]].type);
  struct KeyRun {
    std::vector<OwnedArray> arrays;  // key columns, then _kind and _seq where present
    merge::NormalizedKeys keys;
    const void* raw = nullptr;
    size_t rows = 0;
    const int8_t* kind = nullptr;
    const uint64_t* seq = nullptr;
  };
  std::vector<KeyRun> runs(n);
  LAMINA_RETURN_IF_ERROR(ParallelFor(n, [&](size_t f) -> Status {
    KeyRun& run = runs[f];
    LAMINA_ASSIGN_OR_RETURN(std::shared_ptr<FileReader> r, Cache().Open(split.paths[f]));
    FileColumns fc;
    Request none;
    LAMINA_RETURN_IF_ERROR(ResolveFile(split.paths[f], *r, o, {}, none, &fc));
    std::vector<size_t> cols = fc.key;
    if (fc.kind >= 0) cols.push_back(static_cast<size_t>(fc.kind));
    if (fc.seq >= 0) cols.push_back(static_cast<size_t>(fc.seq));
    LAMINA_RETURN_IF_ERROR(r->Read(cols, &run.arrays));
    size_t nk = fc.key.size();
    run.rows = static_cast<size_t>(r->num_rows());
    size_t next = nk;
    if (fc.kind >= 0) {
      const OwnedArray& a = run.arrays[next++];
      if (a.null_count != 0) return Status::Corruption(split.paths[f] + ": _kind has nulls");
      const int8_t* k = a.values->as<int8_t>();
      // Runs of upserts skip the per-version check.
      if (!merge::AllUpserts(k, static_cast<size_t>(a.length))) run.kind = k;
    }
    if (fc.seq >= 0) {
      const OwnedArray& a = run.arrays[next++];
      if (a.null_count != 0) return Status::Corruption(split.paths[f] + ": _seq has nulls");
      run.seq = a.values->as<uint64_t>();
    }
    std::vector<ArrayView> views;
    for (size_t k = 0; k < nk; ++k) views.push_back(merge::ViewOf(run.arrays[k]));
    if (raw != merge::RawKey::kNone) {
      const ArrayView& v = views[0];
      if (v.null_count != 0 && CountNulls(v.validity, v.offset, v.length) != 0) {
        return Status::SchemaError("primary key column '" + o.key_columns[0] +
                                   "' contains nulls");
      }
      run.raw = static_cast<const uint8_t*>(v.values) + v.offset * v.type->byte_width();
      run.rows = static_cast<size_t>(v.length);
      return Status::OK();
    }
    std::vector<const ArrayView*> kv;
    for (const ArrayView& v : views) kv.push_back(&v);
    return merge::NormalizeKeys(kv, o.key_columns, &run.keys);
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
    rr.seq = runs[f].seq;
    rr.kind = runs[f].kind;
  }
  std::vector<uint8_t> used(n, 0);
  size_t rows = 0;
  merge::Selection sel;
  LAMINA_RETURN_IF_ERROR(merge::MergeSelect(in, pick_last, &sel, &rows, &used));
  // The selection's buffers hold a slot per stored version; the cached index keeps one
  // per live key, so its memory is 8 bytes per merged row.
  size_t versions = 0;
  for (const KeyRun& r : runs) versions += r.rows;
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
  CountTakeIndexBuild();
  return Status::OK();
}

}  // namespace

Result<MergeResult> TakeSplits(const std::vector<TakeSplit>& splits,
                               const std::vector<std::string>& columns, TableOptions o,
                               const int64_t* positions, size_t m) {
  LAMINA_RETURN_IF_ERROR(Validate(&o));
  Request req;
  LAMINA_RETURN_IF_ERROR(ResolveRequest(o, columns, &req));
  size_t ns = splits.size();
  for (const TakeSplit& s : splits) {
    if (s.paths.size() != s.value.size()) return Status::InvalidArgument("paths and values differ");
  }
  int pick = IndexPick(o, req);
  // A concatenated split maps positions through row counts, an indexed one through its
  // take index; the rest (versions folded per column) merge their keys, then look up.
  std::vector<std::shared_ptr<const TakeIndex>> index(ns);
  std::vector<std::string> index_key(ns);
  std::vector<LiveKeys> live(ns);
  std::vector<uint64_t> count(ns, 0);
  std::vector<size_t> merged_ids, work;
  for (size_t s = 0; s < ns; ++s) {
    if (splits[s].concatenated) {
      for (uint64_t v : splits[s].value) count[s] += v;
      continue;
    }
    if (pick < 0) {
      merged_ids.push_back(s);
      work.push_back(s);
      continue;
    }
    index_key[s] = IndexKey(splits[s], o, pick);
    index[s] = FindTakeIndex(index_key[s]);
    if (index[s] == nullptr) work.push_back(s);
  }
  LAMINA_RETURN_IF_ERROR(ParallelFor(work.size(), [&](size_t i) -> Status {
    size_t s = work[i];
    if (pick < 0) return MergeKeys(splits[s], o, &live[s]);
    auto built = std::make_shared<TakeIndex>();
    LAMINA_RETURN_IF_ERROR(BuildIndex(splits[s], o, pick == 1, built.get()));
    index[s] = built;
    PutTakeIndex(index_key[s], std::move(built));
    return Status::OK();
  }));
  for (size_t s = 0; s < ns; ++s) {
    if (index[s] != nullptr) count[s] = index[s]->rows;
  }
  for (size_t s : merged_ids) count[s] = live[s].versions.size();
  std::vector<uint64_t> start(ns + 1, 0);
  for (size_t s = 0; s < ns; ++s) start[s + 1] = start[s] + count[s];
  uint64_t total = start.back();
  for (size_t j = 0; j < m; ++j) {
    if (positions[j] < 0 || static_cast<uint64_t>(positions[j]) >= total) {
      return OutOfRange(positions[j], total);
    }
  }
  // Part 0 holds the rows read straight from files (concatenated and indexed splits);
  // part 1 + i those of merged split merged_ids[i].
  std::vector<std::string> paths;
  std::vector<uint64_t> expected;
  std::vector<size_t> slot_base(ns, 0);
  std::vector<std::vector<uint64_t>> file_start(ns);  // a concatenated split's file starts
  std::vector<size_t> part_of(ns, 0);
  for (size_t s = 0; s < ns; ++s) {
    if (!splits[s].concatenated && index[s] == nullptr) continue;
    slot_base[s] = paths.size();
    for (size_t f = 0; f < splits[s].paths.size(); ++f) {
      paths.push_back(splits[s].paths[f]);
      expected.push_back(splits[s].concatenated ? splits[s].value[f] : UINT64_MAX);
    }
    if (splits[s].concatenated) {
      file_start[s].assign(1, 0);
      for (uint64_t v : splits[s].value) file_start[s].push_back(file_start[s].back() + v);
    }
  }
  for (size_t i = 0; i < merged_ids.size(); ++i) part_of[merged_ids[i]] = 1 + i;
  std::vector<uint32_t> run(m), row(m);
  std::vector<uint32_t> direct_slot;
  std::vector<int64_t> direct_row;
  direct_slot.reserve(m);
  direct_row.reserve(m);
  std::vector<std::vector<uint64_t>> local(merged_ids.size());  // wanted positions, then sorted
  std::vector<uint64_t> local_of(m);
  for (size_t j = 0; j < m; ++j) {
    uint64_t p = static_cast<uint64_t>(positions[j]);
    size_t s = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), p) -
                                   start.begin()) - 1;
    uint64_t q = p - start[s];
    run[j] = static_cast<uint32_t>(part_of[s]);
    if (splits[s].concatenated) {
      const std::vector<uint64_t>& fs = file_start[s];
      size_t f = static_cast<size_t>(std::upper_bound(fs.begin(), fs.end(), q) - fs.begin()) - 1;
      row[j] = static_cast<uint32_t>(direct_slot.size());
      direct_slot.push_back(static_cast<uint32_t>(slot_base[s] + f));
      direct_row.push_back(static_cast<int64_t>(q - fs[f]));
    } else if (index[s] != nullptr) {
      const merge::Selection& sel = index[s]->sel;
      row[j] = static_cast<uint32_t>(direct_slot.size());
      direct_slot.push_back(static_cast<uint32_t>(slot_base[s] + sel.run[q]));
      direct_row.push_back(static_cast<int64_t>(sel.row[q]));
    } else {
      local_of[j] = q;
      local[part_of[s] - 1].push_back(q);
    }
  }
  if (merged_ids.empty()) {
    // Every row comes straight from files, in request order.
    return GatherFileRows(paths, expected, columns, req, direct_slot, direct_row);
  }
  std::vector<MergeResult> parts(1 + merged_ids.size());
  if (!direct_slot.empty()) {
    LAMINA_ASSIGN_OR_RETURN(parts[0],
                            GatherFileRows(paths, expected, columns, req, direct_slot, direct_row));
  }
  LAMINA_RETURN_IF_ERROR(ParallelFor(merged_ids.size(), [&](size_t i) -> Status {
    std::vector<uint64_t>& want = local[i];
    if (want.empty()) return Status::OK();
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    const TakeSplit& split = splits[merged_ids[i]];
    const LiveKeys& lk = live[merged_ids[i]];
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
    LAMINA_ASSIGN_OR_RETURN(parts[1 + i], Lookup(files, keys, columns, o));
    if (static_cast<size_t>(parts[1 + i].length) != want.size()) {
      return Status::Corruption("a merged split changed while it was read");
    }
    return Status::OK();
  }));
  for (size_t j = 0; j < m; ++j) {
    if (run[j] == 0) continue;
    const std::vector<uint64_t>& want = local[run[j] - 1];
    row[j] = static_cast<uint32_t>(std::lower_bound(want.begin(), want.end(), local_of[j]) -
                                   want.begin());
  }
  return GatherParts(parts, req.schema, run, row);
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

void ClearReaderCache() { Cache().Clear(); }
size_t ReaderCacheSize() { return Cache().Size(); }

}  // namespace lamina::table
