#include "lamina/merge/mread_merge.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string_view>
#include <thread>
#include <type_traits>

#include "lamina/util/parallel.h"

namespace lamina::merge {
namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;

// The order-preserving uint64 image of raw key p[i] (NormalizeInt's, without the copy).
template <typename E>
inline uint64_t Load(const E* p, size_t i) {
  if constexpr (std::is_signed_v<E>) {
    return static_cast<uint64_t>(static_cast<int64_t>(p[i])) ^ kSignBit;
  } else {
    return static_cast<uint64_t>(p[i]);
  }
}

Status NotAscending() {
  return Status::Corruption("data file rows are not sorted by primary key (or repeat a key)");
}

inline int8_t KindAt(const std::vector<const int8_t*>& kinds, uint32_t r, uint32_t i) {
  const int8_t* k = kinds[r];
  return k != nullptr ? k[i] : 0;
}

// Receives every version of a range in merge order: (run, row, first version of its key).
// A range always starts with a new key.

// Every version (MergedRuns): run/row at the range's row offset, key starts (global row
// numbers) from the same offset of key_start, moved into place afterwards.
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

// One selected version per key (last_value / first_value over the live versions); with
// deletes, `live` marks the keys that survive and Finish drops the others.
template <bool kLast, bool kKinds>
struct SelectSink {
  uint32_t* run;
  uint32_t* row;
  uint8_t* live;
  const std::vector<const int8_t*>* kinds;
  size_t nkeys = 0;
  void Emit(uint32_t r, uint32_t i, bool new_key) {
    if constexpr (kLast) {
      nkeys += new_key;
      run[nkeys - 1] = r;
      row[nkeys - 1] = i;
      if constexpr (kKinds) {
        int8_t k = KindAt(*kinds, r, i);
        live[nkeys - 1] = k == 0 || k == kKindReset;
      }
    } else if constexpr (!kKinds) {
      if (new_key) {
        run[nkeys] = r;
        row[nkeys] = i;
        ++nkeys;
      }
    } else {
      if (new_key) live[nkeys++] = 0;
      int8_t k = KindAt(*kinds, r, i);
      size_t g = nkeys - 1;
      if (k == kKindReset || (k == 0 && !live[g])) {
        run[g] = r;
        row[g] = i;
        live[g] = 1;
      } else if (k != 0) {
        live[g] = 0;  // a delete hides every older version
      }
    }
  }
  size_t count() {
    if constexpr (kKinds) {
      size_t n = 0;
      for (size_t g = 0; g < nkeys; ++g) {
        run[n] = run[g];
        row[n] = row[g];
        n += live[g];
      }
      nkeys = n;
    }
    return nkeys;
  }
};

// One range of the merge: rows [begin[r], end[r]) of each run.
struct Slice {
  uint32_t run;
  size_t begin, end;
};

__extension__ typedef unsigned __int128 U128;

// Without per-row sequences a tie of keys is decided by the slice's rank, so a head is
// one 128-bit number (key << 32 | rank) and a match is one comparison and two selects.
// Exhausted slices carry rank | 2^31 with key UINT64_MAX: they lose every match.
template <typename E, typename Sink>
void MergeRankedU64(const std::vector<const E*>& keys, const std::vector<Slice>& sl,
                    Sink* sink) {
  uint32_t k = static_cast<uint32_t>(sl.size());
  constexpr uint32_t kDone = 1u << 31;
  std::vector<const E*> kp(k);
  std::vector<size_t> pos(k), end(k);
  std::vector<uint32_t> run_of(k);
  size_t total = 0;
  for (uint32_t t = 0; t < k; ++t) {
    kp[t] = keys[sl[t].run];
    pos[t] = sl[t].begin;
    end[t] = sl[t].end;
    run_of[t] = sl[t].run;
    total += sl[t].end - sl[t].begin;
  }
  auto head = [&](uint32_t t) -> U128 {
    size_t i = pos[t];
    if (i >= end[t]) return (static_cast<U128>(UINT64_MAX) << 32) | (t | kDone);
    return (static_cast<U128>(Load(kp[t], i)) << 32) | t;
  };
  std::vector<U128> node(k), win(2 * k);
  for (uint32_t i = k; i < 2 * k; ++i) win[i] = head(i - k);
  for (uint32_t i = k - 1; i >= 1; --i) {
    U128 a = win[2 * i], b = win[2 * i + 1];
    win[i] = a < b ? a : b;
    node[i] = a < b ? b : a;
  }
  U128 w = win[1];
  uint64_t last = ~static_cast<uint64_t>(w >> 32);  // differs from the first key
  U128* nodes = node.data();
  for (size_t o = 0; o < total; ++o) {
    uint32_t t = static_cast<uint32_t>(w);  // never exhausted while rows remain
    uint64_t key = static_cast<uint64_t>(w >> 32);
    size_t i = pos[t];
    sink->Emit(run_of[t], static_cast<uint32_t>(i), key != last);
    last = key;
    pos[t] = i + 1;
    w = head(t);
    for (uint32_t n = (t + k) >> 1; n >= 1; n >>= 1) {
      U128 l = nodes[n];
      bool lt = l < w;
      nodes[n] = lt ? w : l;
      w = lt ? l : w;
    }
  }
}

// Uint64 keys (normalized or raw of type E): a loser tree over cached heads, as in
// loser_tree.cc's fast path: each node keeps its loser's (key, seq, tag), matches are
// decided without branches; exhausted slices carry tag | kDone and lose every match.
template <typename E, bool kSeq, typename Sink>
void MergeSlicesU64(const std::vector<const E*>& keys, const std::vector<RangeRun>& runs,
                    std::vector<Slice> sl, Sink* sink) {
  if (sl.empty()) return;
  auto emit_all = [&](const Slice& s) {
    for (size_t i = s.begin; i < s.end; ++i) sink->Emit(s.run, static_cast<uint32_t>(i), true);
  };
  if (sl.size() > 1) {
    // Disjoint slices: concatenate in key order without comparing rows.
    std::vector<Slice> by_first = sl;
    std::sort(by_first.begin(), by_first.end(), [&](const Slice& a, const Slice& b) {
      return Load(keys[a.run], a.begin) < Load(keys[b.run], b.begin);
    });
    bool disjoint = true;
    for (size_t j = 1; j < by_first.size() && disjoint; ++j) {
      const Slice& p = by_first[j - 1];
      disjoint = Load(keys[p.run], p.end - 1) < Load(keys[by_first[j].run], by_first[j].begin);
    }
    if (disjoint) {
      for (const Slice& s : by_first) emit_all(s);
      return;
    }
  } else {
    emit_all(sl[0]);
    return;
  }
  if (!kSeq) {
    // Ties of keys are decided by rank alone: order slices by (priority, run index).
    std::stable_sort(sl.begin(), sl.end(), [&](const Slice& a, const Slice& b) {
      return runs[a.run].priority < runs[b.run].priority;
    });
    return MergeRankedU64(keys, sl, sink);
  }
  uint32_t k = static_cast<uint32_t>(sl.size());
  constexpr uint32_t kDone = 1u << 31;
  std::vector<const E*> kp(k);
  std::vector<const uint64_t*> seqs(k);
  std::vector<uint64_t> seq_mask(k), prio(k);
  std::vector<size_t> pos(k), end(k);
  for (uint32_t t = 0; t < k; ++t) {
    const RangeRun& run = runs[sl[t].run];
    kp[t] = keys[sl[t].run];
    pos[t] = sl[t].begin;
    end[t] = sl[t].end;
    prio[t] = run.priority;
    seqs[t] = run.seq ? run.seq : &prio[t];
    seq_mask[t] = run.seq ? ~uint64_t{0} : 0;
  }
  struct Head {
    uint64_t key, seq;
    uint32_t tag;
  };
  auto head = [&](uint32_t t) -> Head {
    size_t i = pos[t];
    if (i >= end[t]) return {UINT64_MAX, UINT64_MAX, t | kDone};
    return {Load(kp[t], i), kSeq ? seqs[t][i & seq_mask[t]] : 0, t};
  };
  auto less = [](const Head& a, const Head& b) {
    bool ks = a.key < b.key, ke = a.key == b.key;
    if (!kSeq) return ks | (ke & (a.tag < b.tag));
    bool ss = a.seq < b.seq, se = a.seq == b.seq;
    return ks | (ke & (ss | (se & (a.tag < b.tag))));
  };
  std::vector<Head> node(k), win(2 * k);
  for (uint32_t i = k; i < 2 * k; ++i) win[i] = head(i - k);
  for (uint32_t i = k - 1; i >= 1; --i) {
    Head a = win[2 * i], b = win[2 * i + 1];
    if (less(b, a)) std::swap(a, b);
    win[i] = a;
    node[i] = b;
  }
  Head w = win[1];
  size_t total = 0;
  for (const Slice& s : sl) total += s.end - s.begin;
  std::vector<uint32_t> run_of(k);
  for (uint32_t t = 0; t < k; ++t) run_of[t] = sl[t].run;
  uint64_t last = ~w.key;  // differs from the first key
  for (size_t o = 0; o < total; ++o) {
    uint32_t t = w.tag;  // the winner is never exhausted while rows remain
    size_t i = pos[t];
    sink->Emit(run_of[t], static_cast<uint32_t>(i), w.key != last);
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
}

// Byte-string keys: a loser tree over cached heads (leaves k..2k-1, loser[i] the slice
// that lost at node i).
template <typename Sink>
void MergeSlicesBytes(const std::vector<RangeRun>& runs, const std::vector<Slice>& sl,
                      Sink* sink) {
  if (sl.empty()) return;
  auto emit_all = [&](const Slice& s) {
    for (size_t i = s.begin; i < s.end; ++i) sink->Emit(s.run, static_cast<uint32_t>(i), true);
  };
  if (sl.size() == 1) return emit_all(sl[0]);
  {
    std::vector<Slice> by_first = sl;
    std::sort(by_first.begin(), by_first.end(), [&](const Slice& a, const Slice& b) {
      return runs[a.run].keys->bytes(a.begin) < runs[b.run].keys->bytes(b.begin);
    });
    bool disjoint = true;
    for (size_t j = 1; j < by_first.size() && disjoint; ++j) {
      const Slice& p = by_first[j - 1];
      disjoint = runs[p.run].keys->bytes(p.end - 1) <
                 runs[by_first[j].run].keys->bytes(by_first[j].begin);
    }
    if (disjoint) {
      for (const Slice& s : by_first) emit_all(s);
      return;
    }
  }
  uint32_t k = static_cast<uint32_t>(sl.size());
  std::vector<std::string_view> key(k);
  std::vector<size_t> pos(k);
  std::vector<uint8_t> done(k, 0);
  for (uint32_t t = 0; t < k; ++t) pos[t] = sl[t].begin;
  auto seq_of = [&](uint32_t t) {
    const RangeRun& r = runs[sl[t].run];
    return r.seq ? r.seq[pos[t]] : r.priority;
  };
  auto load = [&](uint32_t t) {
    if (pos[t] >= sl[t].end) {
      done[t] = 1;
    } else {
      key[t] = runs[sl[t].run].keys->bytes(pos[t]);
    }
  };
  // Slices are in run order, so a tie of (key, seq) goes to the lower slice index.
  auto less = [&](uint32_t a, uint32_t b) {
    if (done[a] || done[b]) return !done[a] && (done[b] || a < b);
    int c = key[a].compare(key[b]);
    if (c != 0) return c < 0;
    uint64_t sa = seq_of(a), sb = seq_of(b);
    return sa != sb ? sa < sb : a < b;
  };
  for (uint32_t t = 0; t < k; ++t) load(t);
  std::vector<uint32_t> loser(k, 0), win(2 * k);
  for (uint32_t i = k; i < 2 * k; ++i) win[i] = i - k;
  for (uint32_t i = k - 1; i >= 1; --i) {
    uint32_t a = win[2 * i], b = win[2 * i + 1];
    if (less(b, a)) std::swap(a, b);
    win[i] = a;
    loser[i] = b;
  }
  uint32_t w = win[1];
  size_t total = 0;
  for (const Slice& s : sl) total += s.end - s.begin;
  std::string_view last;
  for (size_t o = 0; o < total; ++o) {
    sink->Emit(sl[w].run, static_cast<uint32_t>(pos[w]), o == 0 || key[w] != last);
    last = key[w];
    ++pos[w];
    load(w);
    for (uint32_t node = (w + k) >> 1; node >= 1; node >>= 1) {
      if (less(loser[node], w)) std::swap(loser[node], w);
    }
  }
}

// The split of a merge into ranges: cut[j * nruns + r] is run r's first row of range j
// (j in 0..nranges), base[j] the number of rows before range j.
struct Split {
  size_t nranges = 1;
  std::vector<size_t> cut;
  std::vector<size_t> base;
};

size_t RangeCount(size_t total) {
  size_t hw = std::thread::hardware_concurrency();
  if (hw <= 1) return 1;  // one thread: a single loser tree is cheapest
  size_t want = total / std::max<size_t>(MinRangeRows(), 1);
  size_t cap = std::max<size_t>(4 * hw, 16);
  return std::max<size_t>(1, std::min(want, cap));
}

// Splitter samples: per run, a number of evenly spaced keys proportional to its size.
template <typename KeyT, typename KeyAt>
void MakeSplit(size_t nruns, const std::vector<size_t>& sizes, size_t total, KeyAt key_at,
               Split* s) {
  size_t p = RangeCount(total);
  std::vector<KeyT> splitters;
  if (p > 1) {
    size_t want = 64 * p;
    std::vector<KeyT> samples;
    for (size_t r = 0; r < nruns; ++r) {
      size_t n = sizes[r];
      if (n == 0) continue;
      size_t m = std::max<size_t>(1, std::min(n, (n * want + total - 1) / total));
      for (size_t t = 0; t < m; ++t) samples.push_back(key_at(r, (t * n) / m));
    }
    std::sort(samples.begin(), samples.end());
    for (size_t j = 1; j < p; ++j) splitters.push_back(samples[j * samples.size() / p]);
    splitters.erase(std::unique(splitters.begin(), splitters.end()), splitters.end());
  }
  s->nranges = splitters.size() + 1;
  s->cut.assign((s->nranges + 1) * nruns, 0);
  for (size_t r = 0; r < nruns; ++r) {
    s->cut[r] = 0;
    for (size_t j = 0; j < splitters.size(); ++j) {
      // First row whose key is >= splitter j.
      size_t lo = s->cut[j * nruns + r], hi = sizes[r];
      while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_at(r, mid) < splitters[j]) lo = mid + 1;
        else hi = mid;
      }
      s->cut[(j + 1) * nruns + r] = lo;
    }
    s->cut[s->nranges * nruns + r] = sizes[r];
  }
  s->base.assign(s->nranges + 1, 0);
  for (size_t j = 0; j < s->nranges; ++j) {
    size_t rows = 0;
    for (size_t r = 0; r < nruns; ++r) rows += s->cut[(j + 1) * nruns + r] - s->cut[j * nruns + r];
    s->base[j + 1] = s->base[j] + rows;
  }
}

std::vector<Slice> SlicesOf(const Split& s, size_t nruns, size_t j) {
  std::vector<Slice> out;
  for (size_t r = 0; r < nruns; ++r) {
    size_t b = s.cut[j * nruns + r], e = s.cut[(j + 1) * nruns + r];
    if (b < e) out.push_back({static_cast<uint32_t>(r), b, e});
  }
  return out;
}

// Checks the runs, splits the merge into ranges and calls make_sink(j) / the range merge /
// done(j, sink) for each range on the thread pool.
template <typename MakeSink, typename Done>
Status RunRanges(const RangeMergeInput& in, size_t* total_out, Split* split,
                 const std::function<Status(const Split&)>& prepare, MakeSink make_sink,
                 Done done) {
  const std::vector<RangeRun>& runs = in.runs;
  size_t nruns = runs.size();
  std::vector<size_t> sizes(nruns);
  size_t total = 0;
  for (size_t r = 0; r < nruns; ++r) {
    sizes[r] = in.raw != RawKey::kNone ? runs[r].raw_size : runs[r].keys->size();
    if (in.raw == RawKey::kNone && runs[r].keys->is_u64() != runs[0].keys->is_u64()) {
      return Status::InvalidArgument("runs have different key types");
    }
    total += sizes[r];
  }
  *total_out = total;
  if (total >= UINT32_MAX || nruns >= (1u << 31)) {
    return Status::InvalidArgument("a merge takes at most 2^32 - 1 rows");
  }
  bool per_row_seq = false;
  for (const RangeRun& r : runs) per_row_seq |= r.seq != nullptr;

  auto u64_path = [&](auto elem) -> Status {
    using E = decltype(elem);
    std::vector<const E*> keys(nruns);
    for (size_t r = 0; r < nruns; ++r) {
      keys[r] = in.raw != RawKey::kNone ? static_cast<const E*>(runs[r].raw)
                                        : reinterpret_cast<const E*>(runs[r].keys->u64());
    }
    // Files are untrusted: every run must be strictly ascending.
    LAMINA_RETURN_IF_ERROR(ParallelFor(nruns, [&](size_t r) -> Status {
      const E* k = keys[r];
      bool ok = true;
      for (size_t i = 1; i < sizes[r]; ++i) ok &= Load(k, i - 1) < Load(k, i);
      return ok ? Status::OK() : NotAscending();
    }));
    MakeSplit<uint64_t>(nruns, sizes, total,
                        [&](size_t r, size_t i) { return Load(keys[r], i); }, split);
    LAMINA_RETURN_IF_ERROR(prepare(*split));
    return ParallelFor(split->nranges, [&](size_t j) -> Status {
      auto sink = make_sink(j);
      if (per_row_seq) {
        MergeSlicesU64<E, true>(keys, runs, SlicesOf(*split, nruns, j), &sink);
      } else {
        MergeSlicesU64<E, false>(keys, runs, SlicesOf(*split, nruns, j), &sink);
      }
      done(j, &sink);
      return Status::OK();
    });
  };
  switch (in.raw) {
    case RawKey::kI32: return u64_path(int32_t{});
    case RawKey::kU32: return u64_path(uint32_t{});
    case RawKey::kI64: return u64_path(int64_t{});
    case RawKey::kU64: return u64_path(uint64_t{});
    case RawKey::kNone: break;
  }
  if (nruns > 0 && runs[0].keys->is_u64()) return u64_path(uint64_t{});
  LAMINA_RETURN_IF_ERROR(ParallelFor(nruns, [&](size_t r) -> Status {
    const NormalizedKeys& nk = *runs[r].keys;
    for (size_t i = 1; i < nk.size(); ++i) {
      if (nk.bytes(i - 1) >= nk.bytes(i)) return NotAscending();
    }
    return Status::OK();
  }));
  MakeSplit<std::string_view>(
      nruns, sizes, total, [&](size_t r, size_t i) { return runs[r].keys->bytes(i); }, split);
  LAMINA_RETURN_IF_ERROR(prepare(*split));
  return ParallelFor(split->nranges, [&](size_t j) -> Status {
    auto sink = make_sink(j);
    MergeSlicesBytes(runs, SlicesOf(*split, nruns, j), &sink);
    done(j, &sink);
    return Status::OK();
  });
}

// Moves range j's count[j] values from base[j] down to the sum of the counts before it.
template <typename T>
void Compact(T* data, const Split& s, const std::vector<size_t>& count, size_t* n) {
  size_t at = 0;
  for (size_t j = 0; j < s.nranges; ++j) {
    if (at != s.base[j] && count[j] > 0) {
      std::memmove(data + at, data + s.base[j], count[j] * sizeof(T));
    }
    at += count[j];
  }
  *n = at;
}

}  // namespace

RawKey RawKeyOf(const DataType& t) {
  if (!t.is_integer_like()) return RawKey::kNone;
  switch (t.byte_width()) {
    case 4: return t.is_signed() ? RawKey::kI32 : RawKey::kU32;
    case 8: return t.is_signed() ? RawKey::kI64 : RawKey::kU64;
    default: return RawKey::kNone;
  }
}

size_t MinRangeRows() {
  const char* env = std::getenv("LAMINA_MERGE_MIN_RANGE_ROWS");
  if (env != nullptr) {
    char* endp = nullptr;
    unsigned long long v = std::strtoull(env, &endp, 10);
    if (endp != env && v > 0) return static_cast<size_t>(v);
  }
  return 65536;
}

Status ConcatOrder(const RangeMergeInput& in, std::vector<uint32_t>* order, bool* concat) {
  *concat = false;
  order->clear();
  const std::vector<RangeRun>& runs = in.runs;
  for (const RangeRun& r : runs) {
    if (r.kind != nullptr) return Status::OK();
  }
  auto size_of = [&](size_t r) {
    return in.raw != RawKey::kNone ? runs[r].raw_size : runs[r].keys->size();
  };
  for (size_t r = 0; r < runs.size(); ++r) {
    if (size_of(r) > 0) order->push_back(static_cast<uint32_t>(r));
  }
  auto by_keys = [&](auto key_at) -> Status {
    std::sort(order->begin(), order->end(),
              [&](uint32_t a, uint32_t b) { return key_at(a, 0) < key_at(b, 0); });
    for (size_t j = 1; j < order->size(); ++j) {
      uint32_t p = (*order)[j - 1], q = (*order)[j];
      if (!(key_at(p, size_of(p) - 1) < key_at(q, 0))) return Status::OK();
    }
    // Files are untrusted: every run must be strictly ascending.
    LAMINA_RETURN_IF_ERROR(ParallelFor(order->size(), [&](size_t j) -> Status {
      uint32_t r = (*order)[j];
      size_t n = size_of(r);
      bool ok = true;
      for (size_t i = 1; i < n; ++i) ok &= key_at(r, i - 1) < key_at(r, i);
      return ok ? Status::OK() : NotAscending();
    }));
    *concat = true;
    return Status::OK();
  };
  auto raw_keys = [&](auto elem) -> Status {
    using E = decltype(elem);
    return by_keys([&](size_t r, size_t i) {
      const E* k = in.raw != RawKey::kNone ? static_cast<const E*>(runs[r].raw)
                                           : reinterpret_cast<const E*>(runs[r].keys->u64());
      return Load(k, i);
    });
  };
  switch (in.raw) {
    case RawKey::kI32: return raw_keys(int32_t{});
    case RawKey::kU32: return raw_keys(uint32_t{});
    case RawKey::kI64: return raw_keys(int64_t{});
    case RawKey::kU64: return raw_keys(uint64_t{});
    case RawKey::kNone: break;
  }
  for (size_t r = 0; r < runs.size(); ++r) {
    if (runs[r].keys->is_u64() != runs[0].keys->is_u64()) {
      return Status::InvalidArgument("runs have different key types");
    }
  }
  if (!runs.empty() && runs[0].keys->is_u64()) return raw_keys(uint64_t{});
  return by_keys([&](size_t r, size_t i) { return runs[r].keys->bytes(i); });
}

Status MergeRanges(const RangeMergeInput& in, MergedRuns* out) {
  *out = MergedRuns();
  Split split;
  size_t total = 0;
  std::vector<size_t> count;
  auto prepare = [&](const Split& s) -> Status {
    out->run.Allocate(s.base.back());
    out->row.Allocate(s.base.back());
    out->key_start.Allocate(s.base.back() + 1);
    count.assign(s.nranges, 0);
    return Status::OK();
  };
  auto make_sink = [&](size_t j) {
    size_t b = split.base[j];
    return AllSink{out->run.data() + b, out->row.data() + b, out->key_start.data() + b,
                   static_cast<uint32_t>(b)};
  };
  auto done = [&](size_t j, AllSink* s) { count[j] = s->count(); };
  Status st = RunRanges(in, &total, &split, prepare, make_sink, done);
  if (!st.ok()) {
    *out = MergedRuns();
    return st;
  }
  if (total == 0) {
    out->key_start.Allocate(1);
    out->key_start[0] = 0;
    return Status::OK();
  }
  size_t nkeys = 0;
  Compact(out->key_start.data(), split, count, &nkeys);
  out->key_start[nkeys] = static_cast<uint32_t>(total);
  out->key_start.Truncate(nkeys + 1);
  return Status::OK();
}

Status MergeSelect(const RangeMergeInput& in, bool pick_last, Selection* out, size_t* n,
                   std::vector<uint8_t>* used_runs) {
  *out = Selection();
  *n = 0;
  std::vector<const int8_t*> kinds(in.runs.size());
  bool any_kinds = false;
  for (size_t r = 0; r < in.runs.size(); ++r) {
    kinds[r] = in.runs[r].kind;
    any_kinds |= kinds[r] != nullptr;
  }
  size_t nruns = in.runs.size();
  used_runs->assign(nruns, 0);
  Split split;
  size_t total = 0;
  std::vector<size_t> count;
  std::vector<std::vector<uint8_t>> used;
  PodArray<uint8_t> live;
  auto prepare = [&](const Split& s) -> Status {
    size_t rows = s.base.back();
    out->run.Allocate(rows);
    out->row.Allocate(rows);
    if (any_kinds) live.Allocate(rows);
    count.assign(s.nranges, 0);
    used.assign(s.nranges, std::vector<uint8_t>(nruns, 0));
    return Status::OK();
  };
  auto finish = [&](size_t j, auto* sink) {
    count[j] = sink->count();
    std::vector<uint8_t>& u = used[j];
    const uint32_t* run = sink->run;
    for (size_t g = 0; g < count[j]; ++g) u[run[g]] = 1;
  };
  auto go = [&](auto last_tag, auto kinds_tag) -> Status {
    constexpr bool kLast = decltype(last_tag)::value;
    constexpr bool kKinds = decltype(kinds_tag)::value;
    using S = SelectSink<kLast, kKinds>;
    auto make_sink = [&](size_t j) {
      size_t b = split.base[j];
      return S{out->run.data() + b, out->row.data() + b,
               kKinds ? live.data() + b : nullptr, &kinds};
    };
    return RunRanges(in, &total, &split, prepare, make_sink,
                     [&](size_t j, S* s) { finish(j, s); });
  };
  Status st;
  if (pick_last) {
    st = any_kinds ? go(std::true_type{}, std::true_type{})
                   : go(std::true_type{}, std::false_type{});
  } else {
    st = any_kinds ? go(std::false_type{}, std::true_type{})
                   : go(std::false_type{}, std::false_type{});
  }
  if (!st.ok()) {
    *out = Selection();
    return st;
  }
  if (total == 0) return Status::OK();
  Compact(out->run.data(), split, count, n);
  Compact(out->row.data(), split, count, n);
  out->run.Truncate(*n);
  out->row.Truncate(*n);
  for (const std::vector<uint8_t>& u : used) {
    for (size_t r = 0; r < nruns; ++r) (*used_runs)[r] |= u[r];
  }
  return Status::OK();
}

}  // namespace lamina::merge
