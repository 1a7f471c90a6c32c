// The one k-way merge of sorted runs: a loser tree over slices of runs, ordering rows by
// (key, sequence, run index -- older first). The result is a selection -- which (run,
// row) comes next -- not merged data: columns are gathered afterwards with that selection
// (gather.h), so the merge touches keys only. Every merge goes through MergeSlices: whole
// runs (MergeRuns, compaction and lookups), and the key ranges of a parallel read
// (mread_merge.h).
//
// Slices whose key ranges do not overlap are concatenated without comparisons.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lamina/merge/key.h"
#include "lamina/merge/pod_array.h"
#include "lamina/util/status.h"

namespace lamina::merge {

// Corruption: a data file's rows are not strictly ascending by key. Files are untrusted,
// and every merge relies on strictly ascending runs.
Status NotAscending();

struct RunKeys {
  const NormalizedKeys* keys = nullptr;  // strictly ascending within the run
  const uint64_t* seq = nullptr;         // per-row sequence, or nullptr: every row has
  uint64_t priority = 0;                 // this sequence
};

// Every row of every run, ordered by key, then sequence, then run index (older first).
// Versions of one key are adjacent: key_start[g] .. key_start[g + 1].
// At most 2^32 - 1 rows in all (InvalidArgument otherwise).
struct MergedRuns {
  PodArray<uint32_t> run, row;
  PodArray<uint32_t> key_start;  // one per distinct key, plus the total at the end
  size_t num_keys() const { return key_start.empty() ? 0 : key_start.size() - 1; }
};

// REQUIRES: all runs' keys come from the same key columns (all fast path or none).
// Corruption if a run's keys are not strictly ascending. Runs on the calling thread
// (callers are compaction rounds and lookups: small, or parallel around it).
Status MergeRuns(const std::vector<RunKeys>& runs, MergedRuns* out);

// ---- The kernel, shared with mread_merge.cc -------------------------------------------

// Rows [begin, end) of run `run`.
struct Slice {
  uint32_t run;
  size_t begin, end;
};

// The order-preserving uint64 image of integer key p[i] (NormalizeInt's, without a copy).
template <typename E>
inline uint64_t KeyImage(const E* p, size_t i) {
  if constexpr (std::is_signed_v<E>) {
    return static_cast<uint64_t>(static_cast<int64_t>(p[i])) ^ (uint64_t{1} << 63);
  } else {
    return static_cast<uint64_t>(p[i]);
  }
}

// Keys of one integer column of type E per run (or normalized fast-path keys, E =
// uint64_t), compared as their uint64 images.
template <typename E>
struct IntKeys {
  static constexpr bool kInt = true;
  using Elem = E;
  std::vector<const E*> keys;
  uint64_t At(uint32_t r, size_t i) const { return KeyImage(keys[r], i); }
};

// Normalized byte-string keys per run.
struct ByteKeys {
  static constexpr bool kInt = false;
  std::vector<const NormalizedKeys*> keys;
  std::string_view At(uint32_t r, size_t i) const { return keys[r]->bytes(i); }
};

// The sequence of row i of run r: seq[r][i], or priority[r] where seq[r] is nullptr.
struct RunSeqs {
  std::vector<const uint64_t*> seq;
  std::vector<uint64_t> priority;
  bool per_row = false;  // some run has per-row sequences
};

// True if rows [0, n) of run r are strictly ascending.
template <typename Keys>
bool StrictlyAscending(const Keys& keys, uint32_t r, size_t n) {
  bool ok = true;  // no early exit: the integer loop then vectorizes
  for (size_t i = 1; i < n; ++i) ok &= keys.At(r, i - 1) < keys.At(r, i);
  return ok;
}

// Sorts non-empty slices by first key; true if each ends below the next one's first key
// (the merge is then their concatenation in that order).
template <typename Keys>
bool DisjointOrder(const Keys& keys, std::vector<Slice>* sl) {
  std::sort(sl->begin(), sl->end(), [&](const Slice& a, const Slice& b) {
    return keys.At(a.run, a.begin) < keys.At(b.run, b.begin);
  });
  for (size_t j = 1; j < sl->size(); ++j) {
    const Slice& p = (*sl)[j - 1];
    if (!(keys.At(p.run, p.end - 1) < keys.At((*sl)[j].run, (*sl)[j].begin))) return false;
  }
  return true;
}

// A tournament of k heads. Leaves are nodes k..2k-1; node i's children are 2i and 2i+1;
// node_[i] holds the head that lost the match at node i. `Heads` supplies
//   Head Load(uint32_t t)          slice t's current head (an exhausted slice's head
//                                  loses every match),
//   bool Less(Head a, Head b)      the merge order,
//   static Head Pick(bool c, Head a, Head b)   c ? a : b (branch-free where it pays).
template <typename Heads>
class LoserTree {
 public:
  using Head = typename Heads::Head;

  // Plays the first tournament. REQUIRES: k >= 1.
  LoserTree(Heads* heads, uint32_t k) : h_(heads), k_(k), node_(k) {
    std::vector<Head> win(2 * k);
    for (uint32_t i = k; i < 2 * k; ++i) win[i] = h_->Load(i - k);
    for (uint32_t i = k - 1; i >= 1; --i) {
      Head a = win[2 * i], b = win[2 * i + 1];
      bool lt = h_->Less(b, a);
      win[i] = Heads::Pick(lt, b, a);
      node_[i] = Heads::Pick(lt, a, b);
    }
    top_ = win[1];
  }

  const Head& top() const { return top_; }

  // Replays slice t's path with its new head. REQUIRES: t holds top() and its cursor
  // has moved on.
  void Replace(uint32_t t) {
    Head w = h_->Load(t);
    Head* node = node_.data();
    for (uint32_t n = (t + k_) >> 1; n >= 1; n >>= 1) {
      Head l = node[n];
      bool lt = h_->Less(l, w);
      node[n] = Heads::Pick(lt, w, l);
      w = Heads::Pick(lt, l, w);
    }
    top_ = w;
  }

 private:
  Heads* h_;
  uint32_t k_;
  std::vector<Head> node_;
  Head top_;
};

namespace internal {

// Slice t reads rows [pos[t], end[t]) of run run[t].
struct Cursors {
  explicit Cursors(const std::vector<Slice>& sl) {
    for (const Slice& s : sl) {
      pos.push_back(s.begin);
      end.push_back(s.end);
      run.push_back(s.run);
      total += s.end - s.begin;
    }
  }
  std::vector<size_t> pos, end;
  std::vector<uint32_t> run;
  size_t total = 0;
};

constexpr uint32_t kDone = 1u << 31;  // tag bit of an exhausted slice

__extension__ typedef unsigned __int128 U128;

// Integer keys without per-row sequences: slices are ranked by (priority, run index), so
// a tie of keys is decided by rank alone and a head is one 128-bit number (key << 32 |
// rank): a match is one comparison and two selects.
template <typename E>
struct RankedHeads {
  using Head = U128;
  Cursors c;
  std::vector<const E*> kp;
  Head Load(uint32_t t) const {
    size_t i = c.pos[t];
    if (i >= c.end[t]) return (static_cast<U128>(UINT64_MAX) << 32) | (t | kDone);
    return (static_cast<U128>(KeyImage(kp[t], i)) << 32) | t;
  }
  static bool Less(Head a, Head b) { return a < b; }
  static Head Pick(bool c, Head a, Head b) { return c ? a : b; }
  static uint32_t SliceOf(Head h) { return static_cast<uint32_t>(h); }
  static uint64_t Key(Head h) { return static_cast<uint64_t>(h >> 32); }
};

// Integer keys with per-row sequences: a head caches (key, seq, tag) so a replay reads
// no run arrays, and matches are decided and applied without branches (comparing random
// keys has no predictable outcome). tag = slice index (slices are in run order), plus
// kDone once exhausted (key and seq UINT64_MAX): it loses even to a real UINT64_MAX key.
template <typename E>
struct SeqHeads {
  struct Head {
    uint64_t key, seq;
    uint32_t tag;
  };
  Cursors c;
  std::vector<const E*> kp;
  std::vector<const uint64_t*> seqs;  // a run without per-row sequences reads its
  std::vector<uint64_t> seq_mask;     // priority: index & 0
  Head Load(uint32_t t) const {
    size_t i = c.pos[t];
    if (i >= c.end[t]) return {UINT64_MAX, UINT64_MAX, t | kDone};
    return {KeyImage(kp[t], i), seqs[t][i & seq_mask[t]], t};
  }
  static bool Less(const Head& a, const Head& b) {
    bool ks = a.key < b.key, ke = a.key == b.key;
    bool ss = a.seq < b.seq, se = a.seq == b.seq;
    return ks | (ke & (ss | (se & (a.tag < b.tag))));
  }
  static Head Pick(bool c, const Head& a, const Head& b) {
    uint64_t m = 0 - static_cast<uint64_t>(c);
    uint32_t m32 = static_cast<uint32_t>(m);
    return {(a.key & m) | (b.key & ~m), (a.seq & m) | (b.seq & ~m),
            (a.tag & m32) | (b.tag & ~m32)};
  }
  static uint32_t SliceOf(const Head& h) { return h.tag; }
  static uint64_t Key(const Head& h) { return h.key; }
};

// Byte-string keys: a head is the slice index; keys are cached per slice.
struct ByteHeads {
  using Head = uint32_t;
  Cursors c;
  const ByteKeys* keys;
  const RunSeqs* seqs;
  std::vector<std::string_view> key;
  std::vector<uint8_t> done;
  Head Load(uint32_t t) {
    if (c.pos[t] >= c.end[t]) {
      done[t] = 1;
    } else {
      key[t] = keys->At(c.run[t], c.pos[t]);
    }
    return t;
  }
  uint64_t Seq(uint32_t t) const {
    const uint64_t* s = seqs->seq[c.run[t]];
    return s != nullptr ? s[c.pos[t]] : seqs->priority[c.run[t]];
  }
  // Slices are in run order, so a tie of (key, seq) goes to the lower slice index.
  bool Less(uint32_t a, uint32_t b) const {
    if (done[a] || done[b]) return !done[a] && (done[b] || a < b);
    int cmp = key[a].compare(key[b]);
    if (cmp != 0) return cmp < 0;
    uint64_t sa = Seq(a), sb = Seq(b);
    return sa != sb ? sa < sb : a < b;
  }
  static Head Pick(bool c, Head a, Head b) { return c ? a : b; }
  static uint32_t SliceOf(Head h) { return h; }
  std::string_view Key(Head h) const { return key[h]; }
};

// Emits every row of the slices in merge order: sink->Emit(run, row, first version of
// its key). REQUIRES: at least one slice.
template <typename Heads, typename Sink>
void Drain(Heads* h, Sink* sink) {
  uint32_t k = static_cast<uint32_t>(h->c.pos.size());
  LoserTree<Heads> tree(h, k);
  size_t total = h->c.total;
  size_t* pos = h->c.pos.data();
  const uint32_t* run = h->c.run.data();
  decltype(h->Key(tree.top())) last{};
  for (size_t o = 0; o < total; ++o) {
    uint32_t t = h->SliceOf(tree.top());  // never exhausted while rows remain
    auto key = h->Key(tree.top());
    sink->Emit(run[t], static_cast<uint32_t>(pos[t]), (o == 0) | (key != last));
    last = key;
    ++pos[t];
    tree.Replace(t);
  }
}

}  // namespace internal

// Merges the slices (at most one per run, in run order) into sink->Emit(run, row,
// new_key) calls, in merge order. REQUIRES: every slice strictly ascending (callers
// check: StrictlyAscending); slices are non-empty.
template <typename Keys, typename Sink>
void MergeSlices(const Keys& keys, const RunSeqs& seqs, std::vector<Slice> sl, Sink* sink) {
  auto emit_all = [&](const Slice& s) {
    for (size_t i = s.begin; i < s.end; ++i) sink->Emit(s.run, static_cast<uint32_t>(i), true);
  };
  if (sl.empty()) return;
  std::vector<Slice> by_first = sl;
  if (sl.size() == 1 || DisjointOrder(keys, &by_first)) {
    for (const Slice& s : by_first) emit_all(s);
    return;
  }
  using namespace internal;
  if constexpr (!Keys::kInt) {
    ByteHeads h{Cursors(sl), &keys, &seqs, {}, {}};
    h.key.resize(sl.size());
    h.done.assign(sl.size(), 0);
    Drain(&h, sink);
  } else if (!seqs.per_row) {
    // Rank = position after ordering by (priority, run index).
    std::stable_sort(sl.begin(), sl.end(), [&](const Slice& a, const Slice& b) {
      return seqs.priority[a.run] < seqs.priority[b.run];
    });
    RankedHeads<typename Keys::Elem> h{Cursors(sl), {}};
    for (const Slice& s : sl) h.kp.push_back(keys.keys[s.run]);
    Drain(&h, sink);
  } else {
    SeqHeads<typename Keys::Elem> h{Cursors(sl), {}, {}, {}};
    for (const Slice& s : sl) {
      h.kp.push_back(keys.keys[s.run]);
      const uint64_t* sq = seqs.seq[s.run];
      h.seqs.push_back(sq != nullptr ? sq : &seqs.priority[s.run]);
      h.seq_mask.push_back(sq != nullptr ? ~uint64_t{0} : 0);
    }
    Drain(&h, sink);
  }
}

// A sink that keeps every version (MergedRuns): run/row from row `base` on, key starts
// (as global row numbers) from the same offset of key_start.
struct AllSink {
  uint32_t* run;
  uint32_t* row;
  uint32_t* starts;
  uint32_t base;
  size_t o = 0, nkeys = 0;
  void Emit(uint32_t r, uint32_t i, bool new_key) {
    run[o] = r;
    row[o] = i;
    starts[nkeys] = base + static_cast<uint32_t>(o);
    nkeys += new_key;
    ++o;
  }
  size_t count() const { return nkeys; }
};

}  // namespace lamina::merge
