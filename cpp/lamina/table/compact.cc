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
#include "lamina/table/run_columns.h"
#include "lamina/util/bit_util.h"
#include "lamina/util/file_io.h"
#include "lamina/util/parallel.h"

namespace lamina::table {
namespace {

using merge::RowKind;
using compact_input::Cutoff;
using compact_input::Input;
using compact_input::KeyOf;
using compact_input::LoadWindow;
using compact_input::OpenInput;
using compact_input::ReleaseInput;
using compact_input::RoundEnd;
using compact_input::SliceView;
using compact_input::Within;

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

// The rows of one input a round takes.
struct RoundSlice {
  size_t input;
  uint64_t begin, end;  // file rows
  std::vector<ArrayView> views;
  merge::NormalizedKeys keys;
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
      : files_(files), req_(req), o_(req.table), ts_(req.table.table_schema) {}

  Status Run(CompactResult* result);
  const std::vector<std::string>& written() const { return written_; }

 private:
  Status LoadAll(const std::vector<size_t>& which);
  Status PlanRound(Cutoff* cut, bool* finished);
  Status Round(const Cutoff& cut);
  Status TakeSlices(const Cutoff& cut, std::vector<RoundSlice>* sl);
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
  std::vector<Input> in_;
  std::string prev_round_key_;
  bool any_round_ = false;
  std::deque<Chunk> chunks_;
  double pending_bytes_ = 0;  // estimated decoded bytes of unwritten rows
  double ratio_ = 0;          // bytes on disk per estimated decoded byte (0: unknown yet)
  double raw_out_ = 0;
  std::vector<std::string> written_;  // absolute paths
  CompactResult* res_ = nullptr;
};

Status Compactor::LoadAll(const std::vector<size_t>& which) {
  return ParallelFor(which.size(), [&](size_t i) {
    return LoadWindow(&in_[which[i]], o_, req_.window_bytes, req_.window_rows);
  });
}

// Refills consumed windows and picks the round's cutoff: every version of a key within
// the cutoff is decoded (in a window, or before it), none beyond is needed.
Status Compactor::PlanRound(Cutoff* cut, bool* finished) {
  std::vector<size_t> load;
  for (size_t r = 0; r < in_.size(); ++r) {
    Input& in = in_[r];
    if (in.num_rows == 0) continue;
    // Consumed windows refill; files without a key range load at once.
    if (in.loaded ? (!in.remaining() && in.undecoded()) : !in.has_min_key) load.push_back(r);
  }
  LAMINA_RETURN_IF_ERROR(LoadAll(load));
  for (;;) {
    // L: the smallest last decoded key of inputs with undecoded rows (their rows beyond
    // it are not decoded yet). M: the smallest first key of inputs not loaded yet.
    const std::string* L = nullptr;
    const std::string* M = nullptr;
    for (const Input& in : in_) {
      if (in.num_rows == 0) continue;
      if (in.loaded && in.undecoded() && (L == nullptr || in.last_key < *L)) L = &in.last_key;
      if (!in.loaded && (M == nullptr || in.min_key < *M)) M = &in.min_key;
    }
    if (M != nullptr && L != nullptr && *M <= *L) {
      load.clear();
      for (size_t r = 0; r < in_.size(); ++r) {
        if (!in_[r].loaded && in_[r].num_rows > 0 && in_[r].min_key <= *L) load.push_back(r);
      }
      LAMINA_RETURN_IF_ERROR(LoadAll(load));
      continue;
    }
    if (L != nullptr) {
      *cut = Cutoff{false, true, *L};
      *finished = false;
      return Status::OK();
    }
    if (M != nullptr) {
      // Everything loaded is decoded to its end: take its keys below M, unless none are
      // pending there (then load the inputs that start at M).
      Cutoff c{false, false, *M};
      bool any = false;
      for (Input& in : in_) {
        if (!in.loaded || !in.remaining()) continue;
        LAMINA_ASSIGN_OR_RETURN(std::string k,
                                KeyOf(in.views, nk_, o_.key_columns, in.cursor - in.win_begin));
        any |= Within(k, c);
      }
      if (any) {
        *cut = c;
        *finished = false;
        return Status::OK();
      }
      load.clear();
      for (size_t r = 0; r < in_.size(); ++r) {
        if (!in_[r].loaded && in_[r].num_rows > 0 && in_[r].min_key == *M) load.push_back(r);
      }
      LAMINA_RETURN_IF_ERROR(LoadAll(load));
      continue;
    }
    *cut = Cutoff{};
    bool any = false;
    for (const Input& in : in_) any |= in.loaded && in.remaining();
    *finished = !any;
    return Status::OK();
  }
}

// Takes each input's rows within the cutoff and normalizes their keys.
Status Compactor::TakeSlices(const Cutoff& cut, std::vector<RoundSlice>* sl) {
  for (size_t r = 0; r < in_.size(); ++r) {
    LAMINA_ASSIGN_OR_RETURN(uint64_t end, RoundEnd(in_[r], o_, cut));
    if (end > in_[r].cursor) sl->push_back(RoundSlice{r, in_[r].cursor, end, {}, {}});
  }
  LAMINA_RETURN_IF_ERROR(ParallelFor(sl->size(), [&](size_t j) -> Status {
    RoundSlice& s = (*sl)[j];
    const Input& in = in_[s.input];
    for (const ArrayView& v : in.views) {
      s.views.push_back(SliceView(v, s.begin - in.win_begin, s.end - s.begin));
    }
    std::vector<const ArrayView*> kv;
    for (size_t k = 0; k < nk_; ++k) kv.push_back(&s.views[k]);
    return merge::NormalizeKeys(kv, o_.key_columns, &s.keys);
  }));
  // Each input ascends across rounds too (within a slice the merge checks it).
  for (RoundSlice& s : *sl) {
    Input& in = in_[s.input];
    if (in.consumed_any && s.keys.KeyBytes(0) <= in.prev_key) {
      return Status::Corruption(in.path + ": " + merge::NotAscending().message());
    }
    in.prev_key = s.keys.KeyBytes(s.keys.size() - 1);
    in.consumed_any = true;
    in.cursor = s.end;  // the views stay valid until the window is refilled
  }
  return Status::OK();
}

Status Compactor::Round(const Cutoff& cut) {
  std::vector<RoundSlice> sl;
  LAMINA_RETURN_IF_ERROR(TakeSlices(cut, &sl));
  if (sl.empty()) return Status::OK();
  size_t k = sl.size();
  std::vector<merge::RunKeys> rk(k);
  std::vector<const int8_t*> kinds(k, nullptr);
  merge::RunSeqs seqs;
  for (size_t j = 0; j < k; ++j) {
    const Input& in = in_[sl[j].input];
    rk[j].keys = &sl[j].keys;
    rk[j].priority = in.priority;
    if (in.seq_at >= 0) {
      const ArrayView& v = sl[j].views[in.seq_at];
      rk[j].seq = static_cast<const uint64_t*>(v.values) + v.offset;
    }
    seqs.seq.push_back(rk[j].seq);
    seqs.priority.push_back(rk[j].priority);
    if (in.kind_at >= 0) {
      const ArrayView& v = sl[j].views[in.kind_at];
      const int8_t* kd = static_cast<const int8_t*>(v.values) + v.offset;
      // Slices of upserts only let the fold share the merge's key boundaries.
      if (!merge::AllUpserts(kd, static_cast<size_t>(v.length))) kinds[j] = kd;
    }
  }
  merge::MergedRuns m;
  LAMINA_RETURN_IF_ERROR(merge::MergeRuns(rk, &m));
  // Keys ascend across rounds (guards against a file whose key range lies).
  std::string first = sl[m.run[0]].keys.KeyBytes(m.row[0]);
  if (any_round_ && first <= prev_round_key_) {
    return Status::Corruption("data file keys fall outside their declared key range");
  }
  uint32_t last = m.key_start[m.num_keys() - 1];
  prev_round_key_ = sl[m.run[last]].keys.KeyBytes(m.row[last]);
  any_round_ = true;
  return FoldRound(sl, m, kinds, seqs);
}

// Folds a round's merged versions into a chunk of output rows.
Status Compactor::FoldRound(const std::vector<RoundSlice>& sl, const merge::MergedRuns& m,
                            const std::vector<const int8_t*>& kinds,
                            const merge::RunSeqs& seqs) {
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
      int at = in_[sl[j].input].at_of[t];
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
      for (const Input& in : in_) {
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

  in_.resize(files_.size());
  LAMINA_RETURN_IF_ERROR(ParallelFor(files_.size(), [&](size_t i) {
    return OpenInput(files_[i], o_, &in_[i]);
  }));
  for (Input& in : in_) {
    if (req_.window_rows > 0) in.window_rows = req_.window_rows;
    result->rows_in += in.num_rows;
    result->bytes_in += in.file_size;
  }
  std::string abs_dir = req_.directory + (req_.output_dir.empty() ? "" : "/" + req_.output_dir);
  LAMINA_RETURN_IF_ERROR(io::CreateDirs(abs_dir));

  for (;;) {
    Cutoff cut;
    bool finished = false;
    LAMINA_RETURN_IF_ERROR(PlanRound(&cut, &finished));
    if (finished) break;
    LAMINA_RETURN_IF_ERROR(Round(cut));
    for (Input& in : in_) {
      if (in.loaded && in.reader && !in.undecoded() && !in.remaining()) ReleaseInput(&in);
    }
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
