#include "lamina/table/compact.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>

#include "lamina/format/file_reader.h"
#include "lamina/format/file_writer.h"
#include "lamina/merge/engine.h"
#include "lamina/merge/gather.h"
#include "lamina/merge/key.h"
#include "lamina/merge/loser_tree.h"
#include "lamina/merge/row_kind.h"
#include "lamina/table/compact_input.h"
#include "lamina/table/merge_rounds.h"
#include "lamina/table/run_columns.h"
#include "lamina/util/bit_util.h"
#include "lamina/util/file_io.h"
#include "lamina/util/parallel.h"

namespace lamina::table {
namespace {

using merge::RowKind;
using compact_input::Input;
using compact_input::KeyOf;
using compact_input::SliceView;

// Sets rows `rows` of `a` null.
void NullRows(OwnedArray* a, const std::vector<uint32_t>& rows) {
  if (rows.empty()) return;
  size_t bytes = static_cast<size_t>((a->length + 7) / 8);
  if (!a->validity) {
    a->validity = Buffer::Allocate(bytes, /*zero=*/false);
    std::memset(a->validity->data(), 0xFF, bytes);
  }
  for (uint32_t r : rows) ClearBit(a->validity->data(), r);
  a->null_count = CountNulls(a->validity->data(), 0, a->length);
}

// Folded rows of one round, waiting to be written.
struct Chunk {
  std::vector<OwnedArray> cols;  // table columns, then _kind, then _seq
  uint64_t length = 0;
  uint64_t used = 0;  // rows already written
  double row_bytes = 1;
};


// A non-null column of n fixed-width values copied from `values`.
OwnedArray FixedColumn(TypeId id, const void* values, size_t n, size_t width) {
  OwnedArray a;
  a.type.id = id;
  a.length = static_cast<int64_t>(n);
  a.values = Buffer::Allocate(n * width, /*zero=*/false);
  if (n > 0) std::memcpy(a.values->data(), values, n * width);
  return a;
}

class Compactor {
 public:
  Compactor(const std::vector<CompactInput>& files, CompactRequest& req)
      : files_(files),
        req_(req),
        o_(req.table),
        ts_(req.table.table_schema),
        rounds_(req.table, req.window_bytes, req.window_rows) {}

  Status Run(CompactResult* result);
  const std::vector<std::string>& written() const { return written_; }

 private:
  Status FoldRound(const std::vector<RoundSlice>& sl, const merge::MergedRuns& m,
                   const std::vector<const int8_t*>& kinds, const merge::RunSeqs& seqs);
  Status Flush(bool final);
  Status WriteOne(std::vector<std::vector<ArrayView>> batches, uint64_t rows);

  const std::vector<CompactInput>& files_;
  CompactRequest& req_;
  const TableOptions& o_;
  const Schema& ts_;
  size_t nk_ = 0, ncols_ = 0;
  std::vector<merge::AggFn> fns_;
  Schema file_schema_;
  MergeRounds rounds_;
  std::deque<Chunk> chunks_;
  double pending_bytes_ = 0;  // estimated decoded bytes of unwritten rows
  double ratio_ = 0;          // bytes on disk per estimated decoded byte (0: unknown yet)
  double raw_out_ = 0;
  std::vector<std::string> written_;  // absolute paths
  CompactResult* res_ = nullptr;
};

// Folds a round's merged versions into a chunk of output rows.
Status Compactor::FoldRound(const std::vector<RoundSlice>& sl, const merge::MergedRuns& m,
                            const std::vector<const int8_t*>& kinds,
                            const merge::RunSeqs& seqs) {
  const std::vector<Input>& inputs = rounds_.inputs();
  merge::KeyVersions v;
  merge::FoldedKinds folded;
  merge::FoldVersions(m, kinds,
                      req_.drop_deletes ? merge::FoldPolicy::kCompactPurge
                                        : merge::FoldPolicy::kCompactKeepMarkers,
                      &v, &folded);
  res_->rows_purged += folded.purged;
  size_t n = v.size();
  if (n == 0) return Status::OK();
  std::vector<uint64_t> oseq(n);  // the sequence of each key's newest version
  std::vector<uint32_t> deleted;  // output rows that are delete rows
  for (size_t g = 0; g < n; ++g) {
    uint32_t i = v.end[g] - 1;
    const uint64_t* s = seqs.seq[m.run[i]];
    oseq[g] = s != nullptr ? s[m.row[i]] : seqs.priority[m.run[i]];
    if (folded.kind[g] == RowKind::kDelete) deleted.push_back(static_cast<uint32_t>(g));
  }
  merge::Selection last, first;
  for (size_t t = 0; t < ncols_; ++t) {
    if (fns_[t] == merge::AggFn::kLastValue && last.run.empty()) {
      merge::SelectPositional(fns_[t], v, &last);
    }
    if (fns_[t] == merge::AggFn::kFirstValue && first.run.empty()) {
      merge::SelectPositional(fns_[t], v, &first);
    }
  }
  Chunk c;
  c.cols.resize(ncols_ + 2);
  c.length = n;
  LAMINA_RETURN_IF_ERROR(ParallelFor(ncols_, [&](size_t t) -> Status {
    std::vector<const ArrayView*> src(sl.size(), nullptr);
    for (size_t j = 0; j < sl.size(); ++j) {
      int at = inputs[sl[j].input].at_of[t];
      if (at >= 0) src[j] = &sl[j].views[at];
    }
    const merge::Selection* sel = fns_[t] == merge::AggFn::kLastValue    ? &last
                                  : fns_[t] == merge::AggFn::kFirstValue ? &first
                                                                         : nullptr;
    LAMINA_RETURN_IF_ERROR(merge::FoldColumn(fns_[t], ts_.fields[t].type, src, v, &c.cols[t], sel));
    bool is_key = std::find(o_.key_index.begin(), o_.key_index.end(), static_cast<int>(t)) !=
                  o_.key_index.end();
    if (!is_key) NullRows(&c.cols[t], deleted);  // delete rows carry no values
    return Status::OK();
  }));
  static_assert(sizeof(RowKind) == 1, "_kind is one byte a row");
  c.cols[ncols_] = FixedColumn(TypeId::kInt8, folded.kind.data(), n, 1);
  c.cols[ncols_ + 1] = FixedColumn(TypeId::kUInt64, oseq.data(), n, 8);
  uint64_t bytes = 0;
  for (const OwnedArray& a : c.cols) bytes += UncompressedBytes(merge::ViewOf(a));
  c.row_bytes = std::max(1.0, static_cast<double>(bytes) / static_cast<double>(n));
  pending_bytes_ += static_cast<double>(bytes);
  chunks_.push_back(std::move(c));
  res_->rows_out += n;
  return Status::OK();
}

Status Compactor::WriteOne(std::vector<std::vector<ArrayView>> batches, uint64_t rows) {
  CompactedFile f;
  std::string name = req_.file_prefix + "-" + std::to_string(res_->files.size()) + ".lam";
  f.path = req_.output_dir.empty() ? name : req_.output_dir + "/" + name;
  f.row_count = rows;
  const auto& fb = batches.front();
  const auto& lb = batches.back();
  // KeyOf reads key columns 0..nk-1: pass them in key order.
  std::vector<ArrayView> fk, lk;
  for (int ki : o_.key_index) {
    fk.push_back(fb[ki]);
    lk.push_back(lb[ki]);
  }
  LAMINA_ASSIGN_OR_RETURN(f.min_key, KeyOf(fk, nk_, o_.key_columns, 0));
  LAMINA_ASSIGN_OR_RETURN(f.max_key, KeyOf(lk, nk_, o_.key_columns,
                                           static_cast<uint64_t>(lk[0].length - 1)));
  f.min_seq = UINT64_MAX;
  f.max_seq = 0;
  for (const auto& b : batches) {
    const ArrayView& kv = b[ncols_];
    const ArrayView& sv = b[ncols_ + 1];
    const int8_t* kd = static_cast<const int8_t*>(kv.values) + kv.offset;
    const uint64_t* sq = static_cast<const uint64_t*>(sv.values) + sv.offset;
    for (int64_t i = 0; i < kv.length; ++i) {
      f.delete_count += merge::KindAt(kd, i) == RowKind::kDelete;
      f.min_seq = std::min(f.min_seq, sq[i]);
      f.max_seq = std::max(f.max_seq, sq[i]);
    }
  }
  format::WriteOptions wo;
  wo.sync = req_.sync;
  wo.ranges.present = true;
  wo.ranges.min_key = f.min_key;
  wo.ranges.max_key = f.max_key;
  wo.ranges.min_seq = f.min_seq;
  wo.ranges.max_seq = f.max_seq;
  std::string abs = req_.directory + "/" + f.path;
  written_.push_back(abs);
  LAMINA_ASSIGN_OR_RETURN(format::WriteResult wr, format::WriteFile(abs, file_schema_, batches, wo));
  f.file_size = wr.file_size;
  res_->bytes_out += wr.file_size;
  res_->files.push_back(std::move(f));
  return Status::OK();
}

Status Compactor::Flush(bool final) {
  for (;;) {
    if (ratio_ == 0) {
      // Before the first output file: the inputs' own ratio of file to decoded bytes.
      double disk = 0, raw = 0;
      for (const Input& in : rounds_.inputs()) {
        if (!in.loaded) continue;
        disk += static_cast<double>(in.file_size);
        raw += static_cast<double>(in.row_bytes) * static_cast<double>(in.num_rows);
      }
      if (raw > 0 && disk > 0) ratio_ = std::clamp(disk / raw, 0.02, 1.0);
    }
    double target = static_cast<double>(req_.target_file_size) / (ratio_ > 0 ? ratio_ : 1.0);
    if (chunks_.empty() || (!final && pending_bytes_ < target)) return Status::OK();
    std::vector<std::vector<ArrayView>> batches;
    std::vector<Chunk> hold;  // chunks fully taken: alive until the file is written
    double acc = 0;
    uint64_t rows = 0;
    while (!chunks_.empty() && (final || acc < target)) {
      Chunk& c = chunks_.front();
      uint64_t avail = c.length - c.used;
      uint64_t take = avail;
      if (!final) {
        double need = (target - acc) / c.row_bytes;
        take = std::min<uint64_t>(avail, std::max<uint64_t>(1, static_cast<uint64_t>(need + 0.999)));
      }
      std::vector<ArrayView> b;
      for (const OwnedArray& a : c.cols) b.push_back(SliceView(merge::ViewOf(a), c.used, take));
      batches.push_back(std::move(b));
      acc += c.row_bytes * static_cast<double>(take);
      rows += take;
      c.used += take;
      if (c.used == c.length) {
        hold.push_back(std::move(c));
        chunks_.pop_front();
      }
    }
    // Views into chunks moved into `hold` stay valid: buffers are shared pointers.
    LAMINA_RETURN_IF_ERROR(WriteOne(std::move(batches), rows));
    pending_bytes_ = std::max(0.0, pending_bytes_ - acc);
    raw_out_ += acc;
    ratio_ = std::clamp(static_cast<double>(res_->bytes_out) / raw_out_, 0.02, 1.0);
    if (final && chunks_.empty()) return Status::OK();
  }
}

Status Compactor::Run(CompactResult* result) {
  res_ = result;
  nk_ = o_.key_columns.size();
  ncols_ = ts_.fields.size();
  for (size_t t = 0; t < ncols_; ++t) fns_.push_back(ColumnFn(o_, static_cast<int>(t)));
  file_schema_ = DataFileSchema(o_, /*with_seq=*/true);

  LAMINA_RETURN_IF_ERROR(rounds_.Open(files_, nullptr));
  for (const Input& in : rounds_.inputs()) {
    result->rows_in += in.num_rows;
    result->bytes_in += in.file_size;
  }
  std::string abs_dir = req_.directory + (req_.output_dir.empty() ? "" : "/" + req_.output_dir);
  LAMINA_RETURN_IF_ERROR(io::CreateDirs(abs_dir));

  MergeRound round;
  for (;;) {
    LAMINA_ASSIGN_OR_RETURN(bool more, rounds_.Next(&round));
    if (!more) break;
    LAMINA_RETURN_IF_ERROR(FoldRound(round.slices, round.merged, round.kinds, round.seqs));
    LAMINA_RETURN_IF_ERROR(Flush(/*final=*/false));
  }
  return Flush(/*final=*/true);
}

}  // namespace

Result<CompactResult> Compact(const std::vector<CompactInput>& files, CompactRequest req) {
  LAMINA_RETURN_IF_ERROR(Validate(&req.table));
  if (req.target_file_size < 1) return Status::InvalidArgument("target_file_size must be positive");
  if (req.file_prefix.empty() || req.file_prefix.find('/') != std::string::npos) {
    return Status::InvalidArgument("file_prefix must be a non-empty file name");
  }
  if (req.directory.empty()) return Status::InvalidArgument("directory is required");
  if (req.window_bytes < 1) return Status::InvalidArgument("window_bytes must be positive");
  CompactResult result;
  Compactor c(files, req);
  Status st = c.Run(&result);
  if (!st.ok()) {
    for (const std::string& p : c.written()) (void)io::RemoveFile(p);
    return st;
  }
  return result;
}

}  // namespace lamina::table
