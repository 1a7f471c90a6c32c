#include "lamina/table/write_group.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <utility>

#include "lamina/format/file_writer.h"
#include "lamina/merge/gather.h"
#include "lamina/merge/sort.h"
#include "lamina/table/partition.h"
#include "lamina/util/file_io.h"

namespace lamina::table {
namespace {

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

// One group's rows sorted by key (idx[0, m) are input rows) and collapsed to one output
// row per key, with what folding each column needs.
struct GroupRows {
  uint32_t* idx = nullptr;
  size_t m = 0;
  merge::MergedRuns merged;
  merge::KeyVersions versions;
  size_t rows = 0;
  // Every key once: each function folds a single version to itself, so every column is a
  // plain gather of the sorted rows...
  bool unique = false;
  // ...and if those rows already were in key order, the input itself is the output.
  bool in_place = false;
  merge::Selection last, first;
  std::vector<OwnedArray> fixed;  // columns the input lacks, then `_kind`: one value each
};

void CollapseVersions(const WriteContext& ctx, uint32_t* idx, size_t m, GroupRows* g) {
  const merge::NormalizedKeys& keys = ctx.in.keys;
  g->idx = idx;
  g->m = m;
  merge::SortRows(keys, idx, m);
  merge::MergedRuns& merged = g->merged;
  merged.run.Allocate(m);
  merged.row.Allocate(m);
  merged.key_start.Allocate(m + 1);
  size_t nkeys = 0;
  const uint64_t* k64 = keys.is_u64() ? keys.u64() : nullptr;  // one-word keys: compare inline
  for (size_t i = 0; i < m; ++i) {
    ctx.in.Locate(idx[i], &merged.run[i], &merged.row[i]);
    bool new_key = i == 0 || (k64 != nullptr ? k64[idx[i - 1]] != k64[idx[i]]
                                             : keys.Compare(idx[i - 1], keys, idx[i]) != 0);
    if (new_key) merged.key_start[nkeys++] = static_cast<uint32_t>(i);
  }
  merged.key_start[nkeys] = static_cast<uint32_t>(m);
  merged.key_start.Truncate(nkeys + 1);
  merge::AllVersions(merged, &g->versions);
  g->rows = g->versions.size();
  g->unique = g->rows == m;
  g->in_place = g->unique && Consecutive(idx, m);
}

void PrepareColumns(const WriteContext& ctx, GroupRows* g) {
  const Schema& ts = ctx.req->table.table_schema;
  size_t ncols = ts.fields.size(), rows = g->rows;
  for (size_t t = 0; t < ncols && !g->unique; ++t) {
    if (ctx.in_of[t] < 0) continue;
    merge::AggFn fn = ctx.cols.fns[t];
    if (fn == merge::AggFn::kLastValue && g->last.run.empty()) {
      merge::SelectPositional(fn, g->versions, &g->last);
    }
    if (fn == merge::AggFn::kFirstValue && g->first.run.empty()) {
      merge::SelectPositional(fn, g->versions, &g->first);
    }
  }
  g->fixed.resize(ncols + 1);
  for (size_t t = 0; t < ncols; ++t) {
    if (ctx.in_of[t] < 0) g->fixed[t] = merge::NullArray(ts.fields[t].type, rows);
  }
  OwnedArray& kind = g->fixed[ncols];
  kind.type.id = TypeId::kInt8;
  kind.length = static_cast<int64_t>(rows);
  kind.values = Buffer::Allocate(rows, /*zero=*/false);
  std::fill(kind.values->data(), kind.values->data() + rows, static_cast<uint8_t>(ctx.req->kind));
}

// Column t of in-place output rows [a, a + len): slices of the input batches.
Status EmitInPlace(const WriteContext& ctx, const GroupRows& g, size_t a, size_t len, size_t t,
                   const format::ColumnSource::Emit& emit) {
  const std::vector<uint64_t>& start = ctx.in.start;
  size_t nb = ctx.in.nb;
  uint64_t lo = g.idx[0] + a, hi = lo + len;  // global input rows
  size_t b = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), lo) -
                                 start.begin()) - 1;
  for (; b < nb && start[b] < hi; ++b) {
    uint64_t s0 = std::max(lo, start[b]), s1 = std::min(hi, start[b + 1]);
    if (s1 <= s0) continue;
    LAMINA_RETURN_IF_ERROR(emit(SliceView(*ctx.cols.src[t][b], static_cast<size_t>(s0 - start[b]),
                                          static_cast<size_t>(s1 - s0))));
  }
  return Status::OK();
}

// Column t of output rows [a, a + len), a piece at a time, produced on the thread that
// encodes it (file_writer.h): fixed-width columns are gathered a page at a time right
// before being encoded, so neither the gather's output nor the encoder's input leaves the
// cache; var-length columns (whose pages depend on their value sizes) are gathered whole.
// Buffers of cols[t] are reused from file to file (gather.h).
Status Produce(const WriteContext& ctx, const GroupRows& g, size_t a, size_t len,
               std::vector<OwnedArray>* cols, size_t t, int64_t page_rows,
               const format::ColumnSource::Emit& emit) {
  size_t ncols = ctx.in_of.size();
  if (t == ncols) return emit(Slice(g.fixed[ncols], a, len));
  if (ctx.in_of[t] < 0) return emit(Slice(g.fixed[t], a, len));
  if (g.in_place) return EmitInPlace(ctx, g, a, len, t, emit);
  OwnedArray* out = &(*cols)[t];
  const DataType& type = ctx.req->table.table_schema.fields[t].type;
  merge::AggFn fn = ctx.cols.fns[t];
  const std::vector<const ArrayView*>& src = ctx.cols.src[t];
  const uint32_t* run = nullptr;
  const uint32_t* row = nullptr;
  if (g.unique) {
    run = g.merged.run.data() + a;
    row = g.merged.row.data() + a;
  } else if (fn == merge::AggFn::kLastValue || fn == merge::AggFn::kFirstValue) {
    const merge::Selection& sel = fn == merge::AggFn::kLastValue ? g.last : g.first;
    run = sel.run.data() + a;
    row = sel.row.data() + a;
  } else {
    merge::KeyVersions part;
    part.run = g.versions.run;
    part.row = g.versions.row;
    part.begin = g.versions.begin + a;
    part.end = g.versions.end + a;
    part.n = len;
    LAMINA_RETURN_IF_ERROR(merge::FoldColumn(fn, type, src, part, out));
    return emit(Slice(*out, 0, len));
  }
  bool whole = type.is_binary_like() || type.is_list_like() || type.id == TypeId::kFixedSizeList;
  size_t step = whole ? len : static_cast<size_t>(std::max<int64_t>(1, page_rows));
  for (size_t off = 0; off < len; off += step) {
    size_t k = std::min(step, len - off);
    LAMINA_RETURN_IF_ERROR(merge::GatherRuns(type, src, run + off, row + off, k, out));
    LAMINA_RETURN_IF_ERROR(emit(Slice(*out, 0, k)));
  }
  return Status::OK();
}

// Where group `grp`'s files go: its partition values and bucket, and its directory
// (created) relative to the table directory.
Status GroupDirectory(WriteContext& ctx, size_t grp, WrittenFile* proto, std::string* rel_dir) {
  const WriteRequest& req = *ctx.req;
  uint64_t buckets = ctx.groups.buckets;
  size_t p = grp / buckets;
  proto->bucket = static_cast<int64_t>(grp % buckets);
  if (!ctx.part_index.empty()) {
    uint32_t b, r;
    ctx.in.Locate(ctx.groups.part_row[p], &b, &r);
    for (int pi : ctx.part_index) {
      proto->partition.push_back(ValueAt((*ctx.batches)[b][ctx.in_of[pi]], r));
    }
  }
  std::string part_path = PartitionPath(req.partition_columns, proto->partition);
  *rel_dir = "data/" + (part_path.empty() ? "" : part_path + "/") + "bucket-" +
             std::to_string(proto->bucket);
  std::string abs_dir = req.directory + "/" + *rel_dir;
  LAMINA_RETURN_IF_ERROR(io::CreateDirs(abs_dir));
  return Status::OK();
}

// Writes output rows [a, a + len) of the group as file `f` (whose fields other than
// file_size are set).
Status WriteOneFile(WriteContext& ctx, const GroupRows& g, size_t a, size_t len,
                    std::vector<OwnedArray>* cols, WrittenFile* f) {
  const WriteRequest& req = *ctx.req;
  size_t ncols = ctx.in_of.size(), n = ctx.in.n;
  format::WriteOptions wo;
  wo.sync = req.sync;
  wo.ranges.present = true;
  wo.ranges.min_key = f->min_key;
  wo.ranges.max_key = f->max_key;
  std::string abs = req.directory + "/" + f->path;
  {
    std::lock_guard<std::mutex> lock(ctx.mu);
    ctx.written.push_back(abs);
  }
  std::vector<uint64_t> raw(ncols + 1);
  for (size_t t = 0; t < ncols; ++t) {
    uint64_t cb = ctx.cols.col_bytes[t];
    raw[t] = ctx.in_of[t] < 0 ? UncompressedBytes(Slice(g.fixed[t], a, len))
                              : cb / n * len + cb % n * len / n;
    raw[t] += len / 8;
  }
  raw[ncols] = len + len / 8;
  // In place, every piece is a slice of the input or of `fixed`: the file writer gathers
  // small input batches into full pages without copying them first.
  FnSource source(
      [&](size_t t, int64_t page_rows, const format::ColumnSource::Emit& emit) {
        return Produce(ctx, g, a, len, cols, t, page_rows, emit);
      },
      /*stable=*/g.in_place);
  LAMINA_ASSIGN_OR_RETURN(format::WriteResult wr,
                          format::WriteFile(abs, ctx.file_schema, len, raw, &source, wo));
  f->file_size = wr.file_size;
  return Status::OK();
}

}  // namespace

Status WriteGroup(WriteContext& ctx, size_t grp, std::vector<WrittenFile>* out) {
  const WriteRequest& req = *ctx.req;
  const merge::NormalizedKeys& keys = ctx.in.keys;
  const std::vector<uint64_t>& gstart = ctx.groups.gstart;
  GroupRows g;
  CollapseVersions(ctx, ctx.groups.order.data() + gstart[grp],
                   static_cast<size_t>(gstart[grp + 1] - gstart[grp]), &g);
  PrepareColumns(ctx, &g);
  WrittenFile proto;
  std::string rel_dir;
  LAMINA_RETURN_IF_ERROR(GroupDirectory(ctx, grp, &proto, &rel_dir));

  size_t rows = g.rows, rows_per_file = ctx.cols.rows_per_file;
  uint32_t file_no = 0;
  std::vector<OwnedArray> cols = g.in_place ? std::vector<OwnedArray>() : GatherPool::Get().Take();
  cols.resize(ctx.in_of.size());  // the previous file's arrays lend their buffers (gather.h)
  for (size_t a = 0; a < rows; a += rows_per_file, ++file_no) {
    size_t len = std::min(rows_per_file, rows - a);
    WrittenFile f = proto;
    f.path = rel_dir + "/" + req.file_prefix + "-" + std::to_string(file_no) + ".lam";
    f.row_count = len;
    f.min_key = keys.KeyBytes(g.idx[g.versions.begin[a]]);
    f.max_key = keys.KeyBytes(g.idx[g.versions.begin[a + len - 1]]);
    f.delete_count = req.kind == merge::RowKind::kDelete ? len : 0;
    f.run_file = file_no;
    LAMINA_RETURN_IF_ERROR(WriteOneFile(ctx, g, a, len, &cols, &f));
    out->push_back(std::move(f));
  }
  if (!g.in_place) GatherPool::Get().Give(std::move(cols));
  return Status::OK();
}

}  // namespace lamina::table
