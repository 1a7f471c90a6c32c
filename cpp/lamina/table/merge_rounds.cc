#include "lamina/table/merge_rounds.h"

#include "lamina/merge/engine.h"
#include "lamina/merge/gather.h"
#include "lamina/util/parallel.h"

namespace lamina::table {

using compact_input::Cutoff;
using compact_input::Input;
using compact_input::KeyOf;
using compact_input::LoadWindow;
using compact_input::OpenInput;
using compact_input::ReleaseInput;
using compact_input::RoundEnd;
using compact_input::SliceView;
using compact_input::Within;

Status MergeRounds::LoadAll(const std::vector<size_t>& which) {
  return ParallelFor(which.size(), [&](size_t i) {
    return LoadWindow(&in_[which[i]], o_, window_bytes_, window_rows_);
  });
}

// Refills consumed windows and picks the round's cutoff: every version of a key within
// the cutoff is decoded (in a window, or before it), none beyond is needed.
Status MergeRounds::PlanRound(Cutoff* cut, bool* finished) {
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
Status MergeRounds::TakeSlices(const Cutoff& cut, std::vector<RoundSlice>* sl) {
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

Result<bool> MergeRounds::Next(MergeRound* round) {
  round->slices.clear();
  round->kinds.clear();
  round->seqs = merge::RunSeqs{};
  round->merged = merge::MergedRuns{};
  for (Input& in : in_) {  // the previous round is folded: finished inputs go
    if (in.loaded && in.reader && !in.undecoded() && !in.remaining()) ReleaseInput(&in);
  }
  for (;;) {
    Cutoff cut;
    bool finished = false;
    LAMINA_RETURN_IF_ERROR(PlanRound(&cut, &finished));
    if (finished) return false;
    std::vector<RoundSlice>& sl = round->slices;
    LAMINA_RETURN_IF_ERROR(TakeSlices(cut, &sl));
    if (!sl.empty()) break;
  }
  std::vector<RoundSlice>& sl = round->slices;
  size_t k = sl.size();
  std::vector<merge::RunKeys> rk(k);
  round->kinds.assign(k, nullptr);
  merge::RunSeqs& seqs = round->seqs;
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
      if (!merge::AllUpserts(kd, static_cast<size_t>(v.length))) round->kinds[j] = kd;
    }
  }
  merge::MergedRuns& m = round->merged;
  LAMINA_RETURN_IF_ERROR(merge::MergeRuns(rk, &m));
  // Keys ascend across rounds (guards against a file whose key range lies).
  std::string first = sl[m.run[0]].keys.KeyBytes(m.row[0]);
  if (any_round_ && first <= prev_round_key_) {
    return Status::Corruption("data file keys fall outside their declared key range");
  }
  uint32_t last = m.key_start[m.num_keys() - 1];
  prev_round_key_ = sl[m.run[last]].keys.KeyBytes(m.row[last]);
  any_round_ = true;
  return true;
}

Result<uint64_t> LowerBound(const Input& in, const TableOptions& o, const std::string& key) {
  std::vector<size_t> key_cols(in.cols.begin(),
                               in.cols.begin() + static_cast<std::ptrdiff_t>(o.key_columns.size()));
  return compact_input::LowerBoundRow(*in.reader, key_cols, o, key);
}

Status MergeRounds::Open(const std::vector<CompactInput>& files, const std::vector<bool>* wanted,
                         const KeyBounds* bounds) {
  nk_ = o_.key_columns.size();
  in_.resize(files.size());
  LAMINA_RETURN_IF_ERROR(ParallelFor(files.size(), [&](size_t i) -> Status {
    Input& in = in_[i];
    LAMINA_RETURN_IF_ERROR(OpenInput(files[i], o_, wanted, &in));
    if (bounds == nullptr || in.num_rows == 0) return Status::OK();
    uint64_t begin = 0, end = in.num_rows;
    if (bounds->has_lo) {
      LAMINA_ASSIGN_OR_RETURN(begin, LowerBound(in, o_, bounds->lo));
    }
    if (bounds->has_hi) {
      LAMINA_ASSIGN_OR_RETURN(end, LowerBound(in, o_, bounds->hi));
    }
    if (begin >= end) {  // no row in range: the input is empty
      in.num_rows = 0;
      return Status::OK();
    }
    // Windows start at `begin` and the file ends at `end` for this merge.
    in.win_begin = in.win_end = in.cursor = begin;
    in.num_rows = end;
    if (bounds->has_lo && (!in.has_min_key || in.min_key < bounds->lo)) {
      in.has_min_key = true;
      in.min_key = bounds->lo;  // no row this merge takes has a smaller key
    }
    return Status::OK();
  }));
  if (window_rows_ > 0) {
    for (Input& in : in_) in.window_rows = window_rows_;
  }
  return Status::OK();
}

}  // namespace lamina::table
