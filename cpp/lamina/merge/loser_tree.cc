#include "lamina/merge/loser_tree.h"

#include <algorithm>
#include <string_view>

namespace lamina::merge {
namespace {

Status NotAscending() {
  return Status::Corruption("data file rows are not sorted by primary key (or repeat a key)");
}

inline uint64_t SeqOf(const RunKeys& r, size_t row) { return r.seq ? r.seq[row] : r.priority; }

void AllocateOutput(size_t total, MergedRuns* out) {
  out->run.Allocate(total);
  out->row.Allocate(total);
  out->key_start.Allocate(total + 1);
}

// Disjoint key ranges: the runs, ordered by first key, one after another. Returns false
// (and leaves `out` alone) when any two ranges overlap.
bool TryConcatenate(const std::vector<RunKeys>& runs, size_t total, MergedRuns* out) {
  std::vector<uint32_t> order;
  for (uint32_t r = 0; r < runs.size(); ++r) {
    if (runs[r].keys->size() > 0) order.push_back(r);
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return runs[a].keys->Compare(0, *runs[b].keys, 0) < 0;
  });
  for (size_t i = 1; i < order.size(); ++i) {
    const NormalizedKeys& prev = *runs[order[i - 1]].keys;
    if (prev.Compare(prev.size() - 1, *runs[order[i]].keys, 0) >= 0) return false;
  }
  AllocateOutput(total, out);
  size_t at = 0;
  for (uint32_t r : order) {
    size_t n = runs[r].keys->size();
    for (size_t i = 0; i < n; ++i) {
      out->run[at + i] = r;
      out->row[at + i] = static_cast<uint32_t>(i);
    }
    at += n;
  }
  for (size_t i = 0; i <= total; ++i) out->key_start[i] = static_cast<uint32_t>(i);
  return true;
}

// Byte-string keys: a loser tree over cached heads. Leaves are nodes k..2k-1; node i's
// children are 2i and 2i+1; loser[i] holds the run that lost the match at node i.
Status MergeBytes(const std::vector<RunKeys>& runs, size_t total, MergedRuns* out) {
  uint32_t k = static_cast<uint32_t>(runs.size());
  std::vector<std::string_view> key(k);
  std::vector<size_t> pos(k, 0);
  std::vector<uint8_t> done(k, 0);
  auto load = [&](uint32_t r) {
    if (pos[r] >= runs[r].keys->size()) {
      done[r] = 1;
    } else {
      key[r] = runs[r].keys->bytes(pos[r]);
    }
  };
  auto less = [&](uint32_t a, uint32_t b) {
    if (done[a] || done[b]) return !done[a] && (done[b] || a < b);
    int c = key[a].compare(key[b]);
    if (c != 0) return c < 0;
    uint64_t sa = SeqOf(runs[a], pos[a]), sb = SeqOf(runs[b], pos[b]);
    return sa != sb ? sa < sb : a < b;
  };
  for (uint32_t r = 0; r < k; ++r) load(r);
  std::vector<uint32_t> loser(k, 0), win(2 * k);
  for (uint32_t i = k; i < 2 * k; ++i) win[i] = i - k;
  for (uint32_t i = k - 1; i >= 1; --i) {
    uint32_t a = win[2 * i], b = win[2 * i + 1];
    if (less(b, a)) std::swap(a, b);
    win[i] = a;
    loser[i] = b;
  }
  uint32_t w = k == 1 ? 0 : win[1];
  AllocateOutput(total, out);
  size_t nkeys = 0;
  std::string_view last;
  for (size_t o = 0; o < total; ++o) {
    out->run[o] = w;
    out->row[o] = static_cast<uint32_t>(pos[w]);
    if (o == 0 || key[w] != last) out->key_start[nkeys++] = static_cast<uint32_t>(o);
    last = key[w];
    ++pos[w];
    load(w);
    for (uint32_t node = (w + k) >> 1; node >= 1; node >>= 1) {
      if (less(loser[node], w)) std::swap(loser[node], w);
    }
  }
  out->key_start[nkeys] = static_cast<uint32_t>(total);
  out->key_start.Truncate(nkeys + 1);
  return Status::OK();
}

// The fast path (uint64 keys): each node keeps its loser's (key, seq, tag) so a replay
// reads no run arrays, and matches are decided and applied without branches: comparing
// random keys has no predictable outcome. tag = the run's rank, plus 2^31 once the run
// is exhausted (its key and seq are then UINT64_MAX), so exhausted runs lose every
// match, even against a real key of UINT64_MAX.
//
// Without per-row sequences (kSeq false), ranks order runs by (priority, index), so a
// tie of keys is decided by the tag alone and seq is not compared at all (about a third
// fewer operations per match).
template <bool kSeq>
Status MergeU64(const std::vector<RunKeys>& runs, size_t total, MergedRuns* out) {
  uint32_t k = static_cast<uint32_t>(runs.size());
  constexpr uint32_t kDone = 1u << 31;
  std::vector<uint32_t> run_of(k);  // rank -> run
  for (uint32_t r = 0; r < k; ++r) run_of[r] = r;
  if (!kSeq) {
    std::stable_sort(run_of.begin(), run_of.end(), [&](uint32_t a, uint32_t b) {
      return runs[a].priority < runs[b].priority;
    });
  }
  std::vector<const uint64_t*> keys(k), seqs(k);
  std::vector<uint64_t> seq_mask(k), prio(k);
  std::vector<size_t> size(k), pos(k, 0);
  for (uint32_t t = 0; t < k; ++t) {
    const RunKeys& run = runs[run_of[t]];
    keys[t] = run.keys->u64();
    size[t] = run.keys->size();
    prio[t] = run.priority;
    // Runs without per-row sequences read their one priority (index & 0).
    seqs[t] = run.seq ? run.seq : &prio[t];
    seq_mask[t] = run.seq ? ~uint64_t{0} : 0;
  }
  struct Head {
    uint64_t key, seq;
    uint32_t tag;
  };
  auto head = [&](uint32_t t) -> Head {
    size_t i = pos[t];
    if (i >= size[t]) return {UINT64_MAX, UINT64_MAX, t | kDone};
    return {keys[t][i], kSeq ? seqs[t][i & seq_mask[t]] : 0, t};
  };
  auto less = [](const Head& a, const Head& b) {
    bool ks = a.key < b.key, ke = a.key == b.key;
    if (!kSeq) return ks | (ke & (a.tag < b.tag));
    bool ss = a.seq < b.seq, se = a.seq == b.seq;
    return ks | (ke & (ss | (se & (a.tag < b.tag))));
  };
  std::vector<Head> node(k);
  std::vector<Head> win(2 * k);
  for (uint32_t i = k; i < 2 * k; ++i) win[i] = head(i - k);
  for (uint32_t i = k - 1; i >= 1; --i) {
    Head a = win[2 * i], b = win[2 * i + 1];
    if (less(b, a)) std::swap(a, b);
    win[i] = a;
    node[i] = b;
  }
  Head w = win[1];
  AllocateOutput(total, out);
  uint32_t* orun = out->run.data();
  uint32_t* orow = out->row.data();
  uint32_t* starts = out->key_start.data();
  size_t nkeys = 0;
  uint64_t last = ~w.key;  // differs from the first key
  for (size_t o = 0; o < total; ++o) {
    uint32_t t = w.tag;  // the winner is never exhausted while rows remain
    size_t i = pos[t];
    orun[o] = run_of[t];
    orow[o] = static_cast<uint32_t>(i);
    starts[nkeys] = static_cast<uint32_t>(o);
    nkeys += w.key != last;
    last = w.key;
    pos[t] = i + 1;
    w = head(t);
    for (uint32_t n = (t + k) >> 1; n >= 1; n >>= 1) {
      Head l = node[n];
      uint64_t m = 0 - static_cast<uint64_t>(less(l, w));
      uint32_t m32 = static_cast<uint32_t>(m);
      node[n] = {(l.key & ~m) | (w.key & m), kSeq ? (l.seq & ~m) | (w.seq & m) : 0,
                 (l.tag & ~m32) | (w.tag & m32)};
      w = {(w.key & ~m) | (l.key & m), kSeq ? (w.seq & ~m) | (l.seq & m) : 0,
           (w.tag & ~m32) | (l.tag & m32)};
    }
  }
  starts[nkeys] = static_cast<uint32_t>(total);
  out->key_start.Truncate(nkeys + 1);
  return Status::OK();
}

}  // namespace

Status MergeRuns(const std::vector<RunKeys>& runs, MergedRuns* out) {
  *out = MergedRuns();
  size_t total = 0;
  for (const RunKeys& r : runs) total += r.keys->size();
  if (total >= UINT32_MAX || runs.size() >= (1u << 31)) {
    return Status::InvalidArgument("a merge takes at most 2^32 - 1 rows");
  }
  if (runs.empty() || total == 0) {
    out->key_start.Allocate(1);
    out->key_start[0] = 0;
    return Status::OK();
  }
  bool u64 = runs[0].keys->is_u64();
  for (const RunKeys& r : runs) {
    if (r.keys->is_u64() != u64) return Status::InvalidArgument("runs have different key types");
    // Both paths rely on strictly ascending runs; files are untrusted.
    const NormalizedKeys& nk = *r.keys;
    if (u64) {
      const uint64_t* k = nk.u64();
      bool ok = true;
      for (size_t i = 1; i < nk.size(); ++i) ok &= k[i - 1] < k[i];
      if (!ok) return NotAscending();
    } else {
      for (size_t i = 1; i < nk.size(); ++i) {
        if (nk.bytes(i - 1) >= nk.bytes(i)) return NotAscending();
      }
    }
  }
  if (TryConcatenate(runs, total, out)) return Status::OK();
  if (!u64) return MergeBytes(runs, total, out);
  bool per_row_seq = false;
  for (const RunKeys& r : runs) per_row_seq |= r.seq != nullptr;
  return per_row_seq ? MergeU64<true>(runs, total, out) : MergeU64<false>(runs, total, out);
}

}  // namespace lamina::merge
