#include "lamina/merge/mread_merge.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string_view>
#include <thread>
#include <type_traits>

#include "lamina/merge/row_kind.h"
#include "lamina/util/config.h"
#include "lamina/util/parallel.h"

namespace lamina::merge {
namespace {

// Receives every version of a range in merge order: (run, row, first version of its key).
// A range always starts with a new key. AllSink (loser_tree.h) keeps them all.

// One selected version per key (last_value / first_value over the live versions); with
// deletes, `live` marks the keys that survive and count() drops the others.
template <bool kLast, bool kKinds>
struct SelectSink {
  uint32_t* run;
  uint32_t* row;
  uint8_t* live;
  const std::vector<const int8_t*>* kinds;
  size_t nkeys = 0;
  KeyFold fold{};  // first_value: the current key's fold so far
  void Emit(uint32_t r, uint32_t i, bool new_key) {
    if constexpr (kLast) {
      nkeys += new_key;
      run[nkeys - 1] = r;
      row[nkeys - 1] = i;
      if constexpr (kKinds) live[nkeys - 1] = KeepsKey(KindAt((*kinds)[r], i));
    } else if constexpr (!kKinds) {
      if (new_key) {
        run[nkeys] = r;
        row[nkeys] = i;
        ++nkeys;
      }
    } else {
      if (new_key) {
        fold = KeyFold();
        ++nkeys;
      }
      size_t g = nkeys - 1;
      if (fold.Add(KindAt((*kinds)[r], i))) {
        run[g] = r;
        row[g] = i;
      }
      live[g] = fold.live;
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

// Calls fn(keys) with the runs' keys as IntKeys<E> (raw, or normalized fast-path keys)
// or ByteKeys.
template <typename Fn>
Status WithKeys(const RangeMergeInput& in, Fn fn) {
  const std::vector<RangeRun>& runs = in.runs;
  auto ints = [&](auto elem) -> Status {
    using E = decltype(elem);
    IntKeys<E> keys;
    for (const RangeRun& r : runs) {
      keys.keys.push_back(in.raw != RawKey::kNone ? static_cast<const E*>(r.raw)
                                                  : reinterpret_cast<const E*>(r.keys->u64()));
    }
    return fn(keys);
  };
  switch (in.raw) {
    case RawKey::kI32: return ints(int32_t{});
    case RawKey::kU32: return ints(uint32_t{});
    case RawKey::kI64: return ints(int64_t{});
    case RawKey::kU64: return ints(uint64_t{});
    case RawKey::kNone: break;
  }
  for (const RangeRun& r : runs) {
    if (r.keys->is_u64() != runs[0].keys->is_u64()) {
      return Status::InvalidArgument("runs have different key types");
    }
  }
  if (!runs.empty() && runs[0].keys->is_u64()) return ints(uint64_t{});
  ByteKeys keys;
  for (const RangeRun& r : runs) keys.keys.push_back(r.keys);
  return fn(keys);
}

size_t RowsOf(const RangeMergeInput& in, size_t r) {
  return in.raw != RawKey::kNone ? in.runs[r].raw_size : in.runs[r].keys->size();
}

// Checks the runs, splits the merge into ranges and calls make_sink(j) / the range merge /
// done(j, sink) for each range on the thread pool.
template <typename MakeSink, typename Done>
Status RunRanges(const RangeMergeInput& in, size_t* total_out, Split* split,
                 const std::function<Status(const Split&)>& prepare, MakeSink make_sink,
                 Done done) {
  size_t nruns = in.runs.size();
  std::vector<size_t> sizes(nruns);
  size_t total = 0;
  RunSeqs seqs;
  for (size_t r = 0; r < nruns; ++r) {
    sizes[r] = RowsOf(in, r);
    total += sizes[r];
    seqs.seq.push_back(in.runs[r].seq);
    seqs.priority.push_back(in.runs[r].priority);
    seqs.per_row |= in.runs[r].seq != nullptr;
  }
  *total_out = total;
  if (total >= UINT32_MAX || nruns >= (1u << 31)) {
    return Status::InvalidArgument("a merge takes at most 2^32 - 1 rows");
  }
  return WithKeys(in, [&](const auto& keys) -> Status {
    // Files are untrusted: every run must be strictly ascending.
    LAMINA_RETURN_IF_ERROR(ParallelFor(nruns, [&](size_t r) -> Status {
      return StrictlyAscending(keys, static_cast<uint32_t>(r), sizes[r]) ? Status::OK()
                                                                          : NotAscending();
    }));
    using KeyT = decltype(keys.At(0, 0));
    MakeSplit<KeyT>(nruns, sizes, total,
                    [&](size_t r, size_t i) { return keys.At(static_cast<uint32_t>(r), i); },
                    split);
    LAMINA_RETURN_IF_ERROR(prepare(*split));
    return ParallelFor(split->nranges, [&](size_t j) -> Status {
      auto sink = make_sink(j);
      MergeSlices(keys, seqs, SlicesOf(*split, nruns, j), &sink);
      done(j, &sink);
      return Status::OK();
    });
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

size_t MinRangeRows() { return GetConfig().merge_min_range_rows; }

Status ConcatOrder(const RangeMergeInput& in, std::vector<uint32_t>* order, bool* concat) {
  *concat = false;
  order->clear();
  for (const RangeRun& r : in.runs) {
    if (r.kind != nullptr) return Status::OK();
  }
  std::vector<Slice> sl;
  for (uint32_t r = 0; r < in.runs.size(); ++r) {
    if (RowsOf(in, r) > 0) sl.push_back({r, 0, RowsOf(in, r)});
  }
  return WithKeys(in, [&](const auto& keys) -> Status {
    if (!DisjointOrder(keys, &sl)) return Status::OK();
    // Files are untrusted: every run must be strictly ascending.
    LAMINA_RETURN_IF_ERROR(ParallelFor(sl.size(), [&](size_t j) -> Status {
      return StrictlyAscending(keys, sl[j].run, sl[j].end) ? Status::OK() : NotAscending();
    }));
    for (const Slice& s : sl) order->push_back(s.run);
    *concat = true;
    return Status::OK();
  });
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
