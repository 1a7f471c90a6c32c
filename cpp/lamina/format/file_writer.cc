#include "lamina/format/file_writer.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "lamina/format/page_writer.h"
#include "lamina/merge/gather.h"  // concatenates the rows of short pieces
#include "lamina/util/crc32c.h"
#include "lamina/util/file_io.h"
#include "lamina/util/parallel.h"

namespace lamina::format {
namespace {

struct EncodedColumn {
  ByteWriter bytes;   // all pages of the column, back to back
  ColumnMeta meta;    // page offsets relative to the start of `bytes`
  uint64_t rows = 0;  // rows encoded so far
};

// Encode buffers of finished files, kept for the next file: a stream of writes then
// reuses warm pages instead of faulting in (and zeroing) fresh ones for every column.
// Holds at most kMaxPooled bytes of capacity.
class BufferPool {
 public:
  static BufferPool& Get() {
    static BufferPool* pool = new BufferPool;  // leaked: used until exit
    return *pool;
  }
  // A buffer with room for about `bytes` (the largest pooled one: columns are taken
  // largest first, so big buffers go to big columns).
  std::unique_ptr<EncodedColumn> Take(size_t bytes) {
    std::unique_ptr<EncodedColumn> e;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        e = std::move(free_.back());
        free_.pop_back();
        held_ -= e->bytes.vec().capacity();
      }
    }
    if (e == nullptr) e = std::make_unique<EncodedColumn>();
    e->bytes.Reserve(bytes);
    return e;
  }
  void Give(std::unique_ptr<EncodedColumn> e) {
    e->bytes.Clear();
    e->meta = ColumnMeta();
    e->rows = 0;
    size_t cap = e->bytes.vec().capacity();
    std::lock_guard<std::mutex> lock(mu_);
    if (held_ + cap > kMaxPooled) return;
    held_ += cap;
    // Kept sorted by capacity, so Take hands out the largest.
    auto at = std::lower_bound(free_.begin(), free_.end(), cap,
                               [](const std::unique_ptr<EncodedColumn>& a, size_t c) {
                                 return a->bytes.vec().capacity() < c;
                               });
    free_.insert(at, std::move(e));
  }

 private:
  static constexpr size_t kMaxPooled = size_t{192} << 20;
  std::mutex mu_;
  std::vector<std::unique_ptr<EncodedColumn>> free_;
  size_t held_ = 0;
};

// Appends rows [start, start + rows) of `col` as one page.
void AppendPage(const ArrayView& col, int64_t start, int64_t rows, EncodedColumn* out) {
  PageMeta page;
  page.offset = out->bytes.size();
  EncodePage(col, start, rows, &out->bytes, &page.stats, &page.encoding);
  page.length = out->bytes.size() - page.offset;
  page.num_rows = static_cast<uint64_t>(rows);
  page.crc = Crc32c(out->bytes.data() + page.offset, page.length);
  out->meta.pages.push_back(std::move(page));
  out->rows += static_cast<uint64_t>(rows);
}

// Turns the pieces a ColumnSource emits into pages. Full pages are encoded where they
// lie; rows short of a page (a small input batch, the tail of a big one) wait, topped up
// from the next pieces until they fill a page, and are then gathered into one array and
// encoded. So a file's pages do not depend on how its input was chunked (100,000 one-row
// batches used to make 100,000 pages: 26x the bytes, 20x the write time). Waiting rows
// are copied unless the source promises that its views outlive the call.
class PageAssembler {
 public:
  PageAssembler(const WriteOptions& o, bool stable, EncodedColumn* out)
      : o_(o), stable_(stable), out_(out) {}

  Status Add(const ArrayView& piece) {
    int64_t at = 0;
    while (at < piece.length) {
      if (rows_ == 0) {
        at = EncodeFullPages(piece, at);
        if (at == piece.length) break;
      }
      // As many rows as still fit the waiting page (at least one).
      int64_t k = PageRows(piece, at, piece.length - at, o_.max_page_rows - rows_,
                           std::max<int64_t>(1, o_.target_page_bytes - bytes_));
      LAMINA_RETURN_IF_ERROR(Keep(piece, at, k));
      at += k;
      if (at < piece.length || rows_ >= o_.max_page_rows || bytes_ >= o_.target_page_bytes) {
        Flush();
      }
    }
    return Status::OK();
  }

  // Encodes the rows still waiting.
  void Finish() {
    if (rows_ > 0) Flush();
  }

 private:
  struct Waiting {
    ArrayView view;
    int64_t start, rows;
  };

  void EncodeAll(const ArrayView& v, int64_t at, int64_t end) {
    while (at < end) {
      int64_t rows = PageRows(v, at, end - at, o_.max_page_rows, o_.target_page_bytes);
      AppendPage(v, at, rows, out_);
      at += rows;
    }
  }

  // Encodes the full pages of `v` from row `at`; returns where the rest (short of a
  // page) starts.
  int64_t EncodeFullPages(const ArrayView& v, int64_t at) {
    while (at < v.length) {
      int64_t rest = v.length - at;
      int64_t rows = PageRows(v, at, rest, o_.max_page_rows, o_.target_page_bytes);
      if (rows == rest && rows < o_.max_page_rows) break;
      AppendPage(v, at, rows, out_);
      at += rows;
    }
    return at;
  }

  Status Keep(const ArrayView& v, int64_t start, int64_t rows) {
    bytes_ += PageBytes(v, start, rows);
    rows_ += rows;
    if (stable_) {
      waiting_.push_back({v, start, rows});
      return Status::OK();
    }
    std::vector<uint32_t> run(static_cast<size_t>(rows), 0), row(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) row[static_cast<size_t>(i)] = static_cast<uint32_t>(start + i);
    copies_.emplace_back();
    LAMINA_RETURN_IF_ERROR(
        merge::GatherRuns(*v.type, {&v}, run.data(), row.data(), run.size(), &copies_.back()));
    waiting_.push_back({merge::ViewOf(copies_.back()), 0, rows});
    return Status::OK();
  }

  // Encodes the waiting rows as one array, or piece by piece when they hold too many
  // bytes for one array's 32-bit offsets (a target_page_bytes near 2 GiB).
  void Flush() {
    std::vector<const ArrayView*> src;
    std::vector<uint32_t> run, row;
    for (const Waiting& w : waiting_) {
      for (int64_t i = 0; i < w.rows; ++i) {
        run.push_back(static_cast<uint32_t>(src.size()));
        row.push_back(static_cast<uint32_t>(w.start + i));
      }
      src.push_back(&w.view);
    }
    OwnedArray all;
    if (merge::GatherRuns(*src[0]->type, src, run.data(), row.data(), run.size(), &all).ok()) {
      EncodeAll(merge::ViewOf(all), 0, all.length);
    } else {
      for (const Waiting& w : waiting_) EncodeAll(w.view, w.start, w.start + w.rows);
    }
    waiting_.clear();
    copies_.clear();
    rows_ = bytes_ = 0;
  }

  const WriteOptions& o_;
  bool stable_;
  EncodedColumn* out_;
  std::vector<Waiting> waiting_;
  std::deque<OwnedArray> copies_;  // a deque: views into its arrays survive push_back
  int64_t rows_ = 0, bytes_ = 0;
};

// The pieces of a file, in order: header, each column's pages, footer and tail.
using Sink = std::function<Status(const uint8_t*, size_t)>;

// Encodes every column of `source` and hands the file's bytes to `sink` in order; returns
// the file's size.
Result<uint64_t> EncodeTo(const Schema& schema, uint64_t num_rows,
                          const std::vector<uint64_t>& raw_bytes, ColumnSource* source,
                          const WriteOptions& options, const Sink& sink) {
  size_t ncols = schema.fields.size();
  if (raw_bytes.size() != ncols) return Status::InvalidArgument("raw_bytes per column expected");
  ByteWriter header;
  header.PutRaw(kMagic, 4);
  header.PutU32(kFormatVersion);
  LAMINA_RETURN_IF_ERROR(sink(header.data(), header.size()));

  // Largest columns first: workers take columns in this order, so a big column (W1's
  // list column is 34th of 37) no longer starts last and leaves the other cores idle.
  std::vector<size_t> order(ncols);
  for (size_t c = 0; c < ncols; ++c) order[c] = c;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return raw_bytes[a] > raw_bytes[b]; });

  // Finished columns wait in `ready` until every column before them has been written.
  std::mutex mu;  // guards ready and next
  std::vector<std::unique_ptr<EncodedColumn>> ready(ncols);
  size_t next = 0;
  std::mutex flush_mu;  // held by the one worker writing; guards pos, metas, sink_status
  uint64_t pos = header.size();
  std::vector<ColumnMeta> metas(ncols);
  Status sink_status;
  std::atomic<bool> failed{false};
  // Writes the ready columns that come next in schema order. `wait`: block until the
  // writer lock is free; otherwise leave the work to the worker holding it (the final
  // call after all workers finish writes whatever is left).
  auto flush = [&](bool wait) -> Status {
    std::unique_lock<std::mutex> fl(flush_mu, std::defer_lock);
    if (wait) {
      fl.lock();
    } else if (!fl.try_lock()) {
      return Status::OK();
    }
    while (sink_status.ok()) {
      std::unique_ptr<EncodedColumn> e;
      size_t c;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next == ncols || ready[next] == nullptr) break;
        c = next++;
        e = std::move(ready[c]);
      }
      metas[c] = std::move(e->meta);
      for (PageMeta& p : metas[c].pages) p.offset += pos;
      pos += e->bytes.size();
      sink_status = sink(e->bytes.data(), e->bytes.size());
      BufferPool::Get().Give(std::move(e));
      if (!sink_status.ok()) failed = true;
    }
    return sink_status;
  };
  LAMINA_RETURN_IF_ERROR(ParallelFor(ncols, [&](size_t i) -> Status {
    if (failed) return Status::OK();  // the error is reported by flush
    size_t c = order[i];
    std::unique_ptr<EncodedColumn> e =
        BufferPool::Get().Take(static_cast<size_t>(raw_bytes[c]) + 4096);
    EncodedColumn* out = e.get();
    PageAssembler pages(options, source->ViewsOutliveEmit(), out);
    Status st = source->Produce(c, options.max_page_rows,
                                [&](const ArrayView& piece) { return pages.Add(piece); });
    if (st.ok()) pages.Finish();
    if (st.ok() && out->rows != num_rows) {
      st = Status::InvalidArgument("column '" + schema.fields[c].name + "' has " +
                                   std::to_string(out->rows) + " rows, expected " +
                                   std::to_string(num_rows));
    }
    if (!st.ok()) {
      failed = true;
      return st;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      ready[c] = std::move(e);
    }
    return flush(/*wait=*/false);
  }));
  LAMINA_RETURN_IF_ERROR(flush(/*wait=*/true));

  FileMeta meta;
  meta.num_rows = num_rows;
  meta.schema = schema;
  meta.file_metadata = options.file_metadata;
  meta.ranges = options.ranges;
  ByteWriter out;
  WriteFooter(meta, metas, &out);
  size_t footer_len = out.size();
  if (footer_len > UINT32_MAX) return Status::InvalidArgument("footer larger than 4 GiB");
  uint32_t crc = Crc32c(out.data(), footer_len);
  out.PutU32(static_cast<uint32_t>(footer_len));
  out.PutU32(crc);
  out.PutU32(kFormatVersion);
  out.PutRaw(kMagic, 4);
  LAMINA_RETURN_IF_ERROR(sink(out.data(), out.size()));
  return pos + out.size();
}

// Column c of every batch, one piece per batch.
class BatchSource : public ColumnSource {
 public:
  explicit BatchSource(const std::vector<std::vector<ArrayView>>& batches) : batches_(batches) {}
  Status Produce(size_t c, int64_t, const Emit& emit) override {
    for (const auto& batch : batches_) LAMINA_RETURN_IF_ERROR(emit(batch[c]));
    return Status::OK();
  }
  bool ViewsOutliveEmit() const override { return true; }

 private:
  const std::vector<std::vector<ArrayView>>& batches_;
};

// Checks the batches' shape; fills their row count and per-column raw bytes.
Status CheckBatches(const Schema& schema, const std::vector<std::vector<ArrayView>>& batches,
                    uint64_t* num_rows, std::vector<uint64_t>* raw_bytes) {
  size_t ncols = schema.fields.size();
  *num_rows = 0;
  raw_bytes->assign(ncols, 0);
  for (const auto& b : batches) {
    if (b.size() != ncols) return Status::InvalidArgument("batch column count differs from schema");
    if (ncols > 0) *num_rows += static_cast<uint64_t>(b[0].length);
    for (size_t c = 0; c < ncols; ++c) {
      const ArrayView& v = b[c];
      if (v.length != b[0].length) {
        return Status::InvalidArgument("columns of a batch differ in length");
      }
      (*raw_bytes)[c] += UncompressedBytes(v) + static_cast<uint64_t>(v.length) / 8;
    }
  }
  return Status::OK();
}

}  // namespace

Status EncodeFile(const Schema& schema, const std::vector<std::vector<ArrayView>>& batches,
                  const WriteOptions& options, ByteWriter* out) {
  uint64_t num_rows;
  std::vector<uint64_t> raw_bytes;
  LAMINA_RETURN_IF_ERROR(CheckBatches(schema, batches, &num_rows, &raw_bytes));
  BatchSource source(batches);
  return EncodeTo(schema, num_rows, raw_bytes, &source, options,
                  [&](const uint8_t* p, size_t n) {
                    out->PutRaw(p, n);
                    return Status::OK();
                  })
      .status();
}

Result<WriteResult> WriteFile(const std::string& path, const Schema& schema, uint64_t num_rows,
                              const std::vector<uint64_t>& raw_bytes, ColumnSource* source,
                              const WriteOptions& options) {
  LAMINA_ASSIGN_OR_RETURN(io::WritableFile file, io::WritableFile::Create(path));
  Result<uint64_t> size = EncodeTo(schema, num_rows, raw_bytes, source, options,
                                   [&](const uint8_t* p, size_t n) { return file.Append(p, n); });
  Status st = size.status();
  if (st.ok() && options.sync) st = file.Sync();
  Status closed = file.Close();
  if (st.ok()) st = closed;
  if (!st.ok()) {
    // Best effort: a file left behind is an orphan that nothing references.
    (void)io::RemoveFile(path);
    return st;
  }
  WriteResult r;
  r.num_rows = num_rows;
  r.file_size = size.value();
  return r;
}

Result<WriteResult> WriteFile(const std::string& path, const Schema& schema,
                              const std::vector<std::vector<ArrayView>>& batches,
                              const WriteOptions& options) {
  uint64_t num_rows;
  std::vector<uint64_t> raw_bytes;
  LAMINA_RETURN_IF_ERROR(CheckBatches(schema, batches, &num_rows, &raw_bytes));
  BatchSource source(batches);
  return WriteFile(path, schema, num_rows, raw_bytes, &source, options);
}

}  // namespace lamina::format
