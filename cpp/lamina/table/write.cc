#include "lamina/table/write.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "lamina/format/file_writer.h"
#include "lamina/merge/gather.h"
#include "lamina/merge/hash.h"
#include "lamina/merge/key.h"
#include "lamina/merge/sort.h"
#include "lamina/util/parallel.h"

namespace lamina::table {
namespace {

// in_of[t]: the input column holding table column t (-1: absent, null for deletes).
Status MatchInput(const Schema& input, const WriteRequest& req, std::vector<int>* in_of) {
  const Schema& ts = req.table.table_schema;
  in_of->assign(ts.fields.size(), -1);
  std::vector<bool> expected(ts.fields.size(), req.kind == merge::RowKind::kUpsert);
  for (int k : req.table.key_index) expected[k] = true;
  for (size_t i = 0; i < input.fields.size(); ++i) {
    const Field& f = input.fields[i];
    int t = ts.FieldIndex(f.name);
    if (t < 0) return Status::SchemaError("column '" + f.name + "' is not in the table schema");
    if (!expected[t]) {
      return Status::SchemaError("column '" + f.name +
                                 "' is not a primary key column (deletes take key columns only)");
    }
    if ((*in_of)[t] >= 0) return Status::SchemaError("column '" + f.name + "' appears twice");
    if (!f.type.Equals(ts.fields[t].type)) {
      return Status::SchemaError("column '" + f.name + "' has type " + f.type.ToString() +
                                 " but the table schema has " + ts.fields[t].type.ToString());
    }
    (*in_of)[t] = static_cast<int>(i);
  }
  for (size_t t = 0; t < ts.fields.size(); ++t) {
    if (expected[t] && (*in_of)[t] < 0) {
      return Status::SchemaError("column '" + ts.fields[t].name + "' is missing");
    }
  }
  return Status::OK();
}

// A view of rows [a, a + len) of `v`.
ArrayView SliceView(ArrayView v, size_t a, size_t len) {
  v.offset += static_cast<int64_t>(a);
  v.length = static_cast<int64_t>(len);
  v.null_count = v.validity ? CountNulls(v.validity, v.offset, v.length) : 0;
  if (v.null_count == 0) v.validity = nullptr;
  return v;
}

ArrayView Slice(const OwnedArray& arr, size_t a, size_t len) {
  return SliceView(merge::ViewOf(arr), a, len);
}

// Gathered columns of the last file a write made (whole var-length columns, the last
// page of fixed-width ones), kept for the next write to gather into (gather.h reuses
// buffers it alone holds): a stream of upsert batches then skips faulting in and zeroing
// fresh pages for every call (~12% of a W1 ingest under perf). Holds at most one file's
// columns, and only up to kMaxPooled bytes, as the Buffer mapping cache bounds what it
// keeps.
class GatherPool {
 public:
  static GatherPool& Get() {
    static GatherPool* pool = new GatherPool;  // leaked: used until exit
    return *pool;
  }
  std::vector<OwnedArray> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(cols_);
  }
  void Give(std::vector<OwnedArray> cols) {
    size_t bytes = 0;
    for (const OwnedArray& c : cols) bytes += Bytes(c);
    if (bytes > kMaxPooled) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (cols_.empty()) cols_ = std::move(cols);
  }

 private:
  static constexpr size_t kMaxPooled = size_t{384} << 20;
  static size_t Bytes(const OwnedArray& a) {
    size_t n = 0;
    for (const auto* b : {&a.validity, &a.values, &a.data}) n += *b ? (*b)->size() : 0;
    for (const OwnedArray& c : a.children) n += Bytes(c);
    return n;
  }
  std::mutex mu_;
  std::vector<OwnedArray> cols_;
};

// A ColumnSource calling a function; `stable`: its views outlive each emit.
class FnSource : public format::ColumnSource {
 public:
  using Fn = std::function<Status(size_t, int64_t, const Emit&)>;
  FnSource(Fn fn, bool stable) : fn_(std::move(fn)), stable_(stable) {}
  Status Produce(size_t c, int64_t page_rows, const Emit& emit) override {
    return fn_(c, page_rows, emit);
  }
  bool ViewsOutliveEmit() const override { return stable_; }

 private:
  Fn fn_;
  bool stable_;
};

// True if idx[0..m) are consecutive rows (the input arrived in key order).
bool Consecutive(const uint32_t* idx, size_t m) {
  for (size_t i = 1; i < m; ++i) {
    if (idx[i] != idx[0] + i) return false;
  }
  return true;
}

}  // namespace

Result<std::vector<WrittenFile>> WriteTable(const Schema& input,
                                            const std::vector<std::vector<ArrayView>>& batches,
                                            WriteRequest req) {
  TableOptions& topt = req.table;
  LAMINA_RETURN_IF_ERROR(Validate(&topt));
  const Schema& ts = topt.table_schema;
  if (req.kind != merge::RowKind::kUpsert && req.kind != merge::RowKind::kDelete) {
    return Status::InvalidArgument("kind must be 0 (upsert) or 1 (delete)");
  }
  if (req.buckets < 1) return Status::InvalidArgument("buckets must be at least 1");
  if (req.target_file_size < 1) return Status::InvalidArgument("target_file_size must be positive");
  if (req.file_prefix.empty() || req.file_prefix.find('/') != std::string::npos) {
    return Status::InvalidArgument("file_prefix must be a non-empty file name");
  }
  std::vector<int> part_index;
  for (const std::string& p : req.partition_columns) {
    if (std::find(topt.key_columns.begin(), topt.key_columns.end(), p) == topt.key_columns.end()) {
      return Status::InvalidArgument("partition column '" + p + "' is not a primary key column");
    }
    if (std::count(req.partition_columns.begin(), req.partition_columns.end(), p) > 1) {
      return Status::InvalidArgument("partition column '" + p + "' is listed twice");
    }
    part_index.push_back(ts.FieldIndex(p));
  }
  std::vector<int> in_of;
  LAMINA_RETURN_IF_ERROR(MatchInput(input, req, &in_of));

  // Normalize keys (and partition keys) of all batches into one row numbering.
  size_t nb = batches.size();
  std::vector<uint64_t> start(nb + 1, 0);
  merge::NormalizedKeys keys, pkeys;
  for (size_t b = 0; b < nb; ++b) {
    std::vector<const ArrayView*> kv, pv;
    for (int k : topt.key_index) kv.push_back(&batches[b][in_of[k]]);
    LAMINA_RETURN_IF_ERROR(merge::NormalizeKeys(kv, topt.key_columns, &keys));
    if (!part_index.empty()) {
      for (int p : part_index) pv.push_back(&batches[b][in_of[p]]);
      LAMINA_RETURN_IF_ERROR(merge::NormalizeKeys(pv, req.partition_columns, &pkeys));
    }
    start[b + 1] = start[b] + static_cast<uint64_t>(kv[0]->length);
  }
  size_t n = static_cast<size_t>(start[nb]);
  if (n == 0) return std::vector<WrittenFile>();
  if (n > UINT32_MAX) return Status::InvalidArgument("a write takes at most 2^32 - 1 rows");
  std::vector<uint32_t> batch_of;
  if (nb > 1) {
    batch_of.resize(n);
    for (size_t b = 0; b < nb; ++b) {
      std::fill(batch_of.begin() + static_cast<std::ptrdiff_t>(start[b]),
                batch_of.begin() + static_cast<std::ptrdiff_t>(start[b + 1]), static_cast<uint32_t>(b));
    }
  }
  auto locate = [&](uint64_t g, uint32_t* b, uint32_t* r) {
    *b = nb > 1 ? batch_of[g] : 0;
    *r = static_cast<uint32_t>(g - start[*b]);
  };

  // Partition of each row; consecutive rows usually share one, so check that first.
  std::vector<uint32_t> pid;
  std::vector<uint64_t> part_row;  // a row of each partition
  if (!part_index.empty()) {
    pid.resize(n);
    std::unordered_map<uint64_t, uint32_t> by_int;
    std::unordered_map<std::string_view, uint32_t> by_bytes;
    for (size_t g = 0; g < n; ++g) {
      if (g > 0 && pkeys.Compare(g - 1, pkeys, g) == 0) {
        pid[g] = pid[g - 1];
        continue;
      }
      uint32_t next = static_cast<uint32_t>(part_row.size());
      auto ins = pkeys.is_u64() ? by_int.emplace(pkeys.u64()[g], next).first->second
                                : by_bytes.emplace(pkeys.bytes(g), next).first->second;
      if (ins == next) part_row.push_back(g);
      pid[g] = ins;
    }
  } else {
    part_row.push_back(0);
  }

  // Route rows to groups (partition, bucket) with a stable counting sort.
  uint64_t buckets = static_cast<uint64_t>(req.buckets);
  size_t ngroups = part_row.size() * buckets;
  std::vector<uint64_t> gstart(ngroups + 1, 0);
  std::vector<uint32_t> order(n);
  if (ngroups == 1) {  // one bucket, no partitions: every row in one group
    gstart[1] = n;
    for (size_t g = 0; g < n; ++g) order[g] = static_cast<uint32_t>(g);
  } else {
    std::vector<uint32_t> group(n);
    for (size_t g = 0; g < n; ++g) {
      uint64_t h = merge::RowHash(keys, g);
      group[g] = static_cast<uint32_t>((pid.empty() ? 0 : pid[g]) * buckets + h % buckets);
    }
    for (size_t g = 0; g < n; ++g) ++gstart[group[g] + 1];
    for (size_t i = 0; i < ngroups; ++i) gstart[i + 1] += gstart[i];
    std::vector<uint64_t> fill(gstart.begin(), gstart.end() - 1);
    for (size_t g = 0; g < n; ++g) order[fill[group[g]]++] = static_cast<uint32_t>(g);
  }
  std::vector<size_t> groups;
  for (size_t i = 0; i < ngroups; ++i) {
    if (gstart[i + 1] > gstart[i]) groups.push_back(i);
  }

  // Sources per table column: one array per batch. Count columns take the contribution
  // of each written value (1 if valid) instead of the value.
  size_t ncols = ts.fields.size();
  std::vector<merge::AggFn> fns(ncols);
  std::vector<std::vector<OwnedArray>> counts(ncols);
  std::vector<std::vector<ArrayView>> count_views(ncols);
  std::vector<std::vector<const ArrayView*>> src(ncols);
  for (size_t t = 0; t < ncols; ++t) {
    fns[t] = req.kind == merge::RowKind::kDelete ? merge::AggFn::kLastValue : ColumnFn(topt, static_cast<int>(t));
    if (in_of[t] < 0) continue;
    if (fns[t] == merge::AggFn::kCount) {
      for (size_t b = 0; b < nb; ++b) counts[t].push_back(merge::CountContribution(batches[b][in_of[t]]));
      for (const OwnedArray& a : counts[t]) count_views[t].push_back(merge::ViewOf(a));
      for (const ArrayView& v : count_views[t]) src[t].push_back(&v);
      fns[t] = merge::AggFn::kSum;
    } else {
      for (size_t b = 0; b < nb; ++b) src[t].push_back(&batches[b][in_of[t]]);
    }
  }
  uint64_t input_bytes = 0;
  std::vector<uint64_t> col_bytes(ncols, 0);
  for (size_t t = 0; t < ncols; ++t) {
    if (in_of[t] < 0) continue;
    for (const auto& batch : batches) col_bytes[t] += UncompressedBytes(batch[in_of[t]]);
    input_bytes += col_bytes[t];
  }
  uint64_t row_bytes = std::max<uint64_t>(1, input_bytes / n);
  size_t rows_per_file =
      static_cast<size_t>(std::max<uint64_t>(1, static_cast<uint64_t>(req.target_file_size) / row_bytes));

  Schema file_schema = ts;
  file_schema.fields.push_back(SystemField(kKindColumn, TypeId::kInt8));
  file_schema.metadata.clear();
  std::vector<std::vector<WrittenFile>> out(groups.size());
  std::mutex mu;
  std::vector<std::string> written;  // absolute paths, removed on failure

  Status st = ParallelFor(groups.size(), [&](size_t gi) -> Status {
    size_t grp = groups[gi];
    uint32_t* idx = order.data() + gstart[grp];
    size_t m = static_cast<size_t>(gstart[grp + 1] - gstart[grp]);
    merge::SortRows(keys, idx, m);
    merge::MergedRuns merged;
    merged.run.Allocate(m);
    merged.row.Allocate(m);
    merged.key_start.Allocate(m + 1);
    size_t nkeys = 0;
    const uint64_t* k64 = keys.is_u64() ? keys.u64() : nullptr;  // one-word keys: compare inline
    for (size_t i = 0; i < m; ++i) {
      locate(idx[i], &merged.run[i], &merged.row[i]);
      bool new_key = i == 0 || (k64 != nullptr ? k64[idx[i - 1]] != k64[idx[i]]
                                               : keys.Compare(idx[i - 1], keys, idx[i]) != 0);
      if (new_key) merged.key_start[nkeys++] = static_cast<uint32_t>(i);
    }
    merged.key_start[nkeys] = static_cast<uint32_t>(m);
    merged.key_start.Truncate(nkeys + 1);
    merge::KeyVersions versions;
    merge::AllVersions(merged, &versions);
    size_t rows = versions.size();
    // Every key once: each function folds a single version to itself, so every column is
    // a plain gather of the sorted rows.
    bool unique = rows == m;
    // ...and if those rows already were in key order, the input itself is the output.
    bool in_place = unique && Consecutive(idx, m);
    merge::Selection last, first;
    for (size_t t = 0; t < ncols && !unique; ++t) {
      if (in_of[t] < 0) continue;
      if (fns[t] == merge::AggFn::kLastValue && last.run.empty()) {
        merge::SelectPositional(fns[t], versions, &last);
      }
      if (fns[t] == merge::AggFn::kFirstValue && first.run.empty()) {
        merge::SelectPositional(fns[t], versions, &first);
      }
    }
    // Columns the input lacks and `_kind` hold the same value in every row.
    std::vector<OwnedArray> fixed(ncols + 1);
    for (size_t t = 0; t < ncols; ++t) {
      if (in_of[t] < 0) fixed[t] = merge::NullArray(ts.fields[t].type, rows);
    }
    OwnedArray& kind = fixed[ncols];
    kind.type.id = TypeId::kInt8;
    kind.length = static_cast<int64_t>(rows);
    kind.values = Buffer::Allocate(rows, /*zero=*/false);
    std::fill(kind.values->data(), kind.values->data() + rows, static_cast<uint8_t>(req.kind));

    // Column t of output rows [a, a + len), a piece at a time, produced on the thread
    // that encodes it (file_writer.h): fixed-width columns are gathered a page at a time
    // right before being encoded, so neither the gather's output nor the encoder's input
    // leaves the cache; var-length columns (whose pages depend on their value sizes) are
    // gathered whole. Buffers of cols[t] are reused from file to file (gather.h).
    auto produce = [&](size_t a, size_t len, std::vector<OwnedArray>* cols, size_t t,
                       int64_t page_rows, const format::ColumnSource::Emit& emit) -> Status {
      if (t == ncols) return emit(Slice(kind, a, len));
      if (in_of[t] < 0) return emit(Slice(fixed[t], a, len));
      if (in_place) {
        uint64_t lo = idx[0] + a, hi = lo + len;  // global input rows
        size_t b = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), lo) -
                                       start.begin()) - 1;
        for (; b < nb && start[b] < hi; ++b) {
          uint64_t s0 = std::max(lo, start[b]), s1 = std::min(hi, start[b + 1]);
          if (s1 <= s0) continue;
          LAMINA_RETURN_IF_ERROR(emit(SliceView(*src[t][b], static_cast<size_t>(s0 - start[b]),
                                                static_cast<size_t>(s1 - s0))));
        }
        return Status::OK();
      }
      OwnedArray* out = &(*cols)[t];
      const DataType& type = ts.fields[t].type;
      const uint32_t* run = nullptr;
      const uint32_t* row = nullptr;
      if (unique) {
        run = merged.run.data() + a;
        row = merged.row.data() + a;
      } else if (fns[t] == merge::AggFn::kLastValue || fns[t] == merge::AggFn::kFirstValue) {
        const merge::Selection& sel = fns[t] == merge::AggFn::kLastValue ? last : first;
        run = sel.run.data() + a;
        row = sel.row.data() + a;
      } else {
        merge::KeyVersions part;
        part.run = versions.run;
        part.row = versions.row;
        part.begin = versions.begin + a;
        part.end = versions.end + a;
        part.n = len;
        LAMINA_RETURN_IF_ERROR(merge::FoldColumn(fns[t], type, src[t], part, out));
        return emit(Slice(*out, 0, len));
      }
      bool whole = type.is_binary_like() || type.is_list_like() ||
                   type.id == TypeId::kFixedSizeList;
      size_t step = whole ? len : static_cast<size_t>(std::max<int64_t>(1, page_rows));
      for (size_t off = 0; off < len; off += step) {
        size_t k = std::min(step, len - off);
        LAMINA_RETURN_IF_ERROR(merge::GatherRuns(type, src[t], run + off, row + off, k, out));
        LAMINA_RETURN_IF_ERROR(emit(Slice(*out, 0, k)));
      }
      return Status::OK();
    };

    size_t p = grp / buckets;
    int64_t bucket = static_cast<int64_t>(grp % buckets);
    std::vector<PartitionValue> pvals;
    if (!part_index.empty()) {
      uint32_t b, r;
      locate(part_row[p], &b, &r);
      for (int pi : part_index) pvals.push_back(ValueAt(batches[b][in_of[pi]], r));
    }
    std::string part_path = PartitionPath(req.partition_columns, pvals);
    std::string rel_dir = "data/" + (part_path.empty() ? "" : part_path + "/") + "bucket-" +
                          std::to_string(bucket);
    std::string abs_dir = req.directory + "/" + rel_dir;
    std::error_code ec;
    std::filesystem::create_directories(abs_dir, ec);
    if (ec) return Status::IOError("cannot create " + abs_dir + ": " + ec.message());

    uint32_t file_no = 0;
    std::vector<OwnedArray> cols = in_place ? std::vector<OwnedArray>() : GatherPool::Get().Take();
    cols.resize(ncols);  // the previous file's arrays lend their buffers (gather.h)
    for (size_t a = 0; a < rows; a += rows_per_file, ++file_no) {
      size_t len = std::min(rows_per_file, rows - a);
      WrittenFile f;
      f.path = rel_dir + "/" + req.file_prefix + "-" + std::to_string(file_no) + ".lam";
      f.partition = pvals;
      f.bucket = bucket;
      f.row_count = len;
      f.min_key = keys.KeyBytes(idx[versions.begin[a]]);
      f.max_key = keys.KeyBytes(idx[versions.begin[a + len - 1]]);
      f.delete_count = req.kind == merge::RowKind::kDelete ? len : 0;
      f.run_file = file_no;
      format::WriteOptions wo;
      wo.sync = req.sync;
      wo.ranges.present = true;
      wo.ranges.min_key = f.min_key;
      wo.ranges.max_key = f.max_key;
      std::string abs = req.directory + "/" + f.path;
      {
        std::lock_guard<std::mutex> lock(mu);
        written.push_back(abs);
      }
      std::vector<uint64_t> raw(ncols + 1);
      for (size_t t = 0; t < ncols; ++t) {
        raw[t] = in_of[t] < 0 ? UncompressedBytes(Slice(fixed[t], a, len))
                              : col_bytes[t] / n * len + col_bytes[t] % n * len / n;
        raw[t] += len / 8;
      }
      raw[ncols] = len + len / 8;
      // In place, every piece is a slice of the input or of `fixed`: the file writer
      // gathers small input batches into full pages without copying them first.
      FnSource source(
          [&](size_t t, int64_t page_rows, const format::ColumnSource::Emit& emit) {
            return produce(a, len, &cols, t, page_rows, emit);
          },
          /*stable=*/in_place);
      LAMINA_ASSIGN_OR_RETURN(format::WriteResult wr,
                              format::WriteFile(abs, file_schema, len, raw, &source, wo));
      f.file_size = wr.file_size;
      out[gi].push_back(std::move(f));
    }
    if (!in_place) GatherPool::Get().Give(std::move(cols));
    return Status::OK();
  });
  if (!st.ok()) {
    for (const std::string& path : written) ::unlink(path.c_str());
    return st;
  }
  std::vector<WrittenFile> all;
  for (auto& v : out) {
    for (auto& f : v) all.push_back(std::move(f));
  }
  return all;
}

}  // namespace lamina::table
