#include "lamina/merge/engine.h"

#include <cmath>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "lamina/format/page_reader.h"
#include "lamina/merge/gather.h"
#include "lamina/util/bit_util.h"

namespace lamina::merge {
namespace {

struct Named {
  const char* name;
  AggFn fn;
};
constexpr Named kFns[] = {
    {"last_value", AggFn::kLastValue}, {"last_non_null", AggFn::kLastNonNull},
    {"first_value", AggFn::kFirstValue}, {"first_non_null", AggFn::kFirstNonNull},
    {"sum", AggFn::kSum}, {"min", AggFn::kMin}, {"max", AggFn::kMax}, {"count", AggFn::kCount},
    {"bool_and", AggFn::kBoolAnd}, {"bool_or", AggFn::kBoolOr},
    {"collect_list", AggFn::kCollectList},
};

const char* FnName(AggFn fn) {
  for (const Named& n : kFns) {
    if (n.fn == fn) return n.name;
  }
  return "?";
}

bool IsNumber(const DataType& t) { return t.is_integer_like() || t.is_float(); }

// Reading one version's value.
struct Column {
  const std::vector<const ArrayView*>& src;
  const KeyVersions& v;
  const ArrayView* At(uint32_t i) const { return src[v.run[i]]; }
  bool Valid(uint32_t i) const {
    const ArrayView* a = At(i);
    return a != nullptr && a->IsValid(v.row[i]);
  }
  int64_t Row(uint32_t i) const { return At(i)->offset + v.row[i]; }
  template <typename T>
  T Value(uint32_t i) const {
    return static_cast<const T*>(At(i)->values)[Row(i)];
  }
  bool Bool(uint32_t i) const { return GetBit(static_cast<const uint8_t*>(At(i)->values), Row(i)); }
  std::string_view Bytes(uint32_t i) const {
    const ArrayView* a = At(i);
    int64_t lo = a->OffsetAt(v.row[i]), hi = a->OffsetAt(v.row[i] + 1);
    return std::string_view(reinterpret_cast<const char*>(a->data) + lo,
                            static_cast<size_t>(hi - lo));
  }
};

constexpr uint32_t kNone = UINT32_MAX;

// True if min (max if kMax) should keep x over the value kept so far, bv. Floats order
// -0.0 below +0.0, so which zero survives does not depend on arrival order. NaN never
// gets here (SelectExtreme skips it).
template <typename T, bool kMax>
bool Beats(T x, T bv) {
  if constexpr (std::is_floating_point_v<T>) {
    if (x == bv) return std::signbit(x) != std::signbit(bv) && std::signbit(x) != kMax;
  }
  return kMax ? bv < x : x < bv;
}

// The version picked by a min/max over values of type T: the extreme non-NaN value, else
// a NaN, else kNone (all null). NaN is skipped like null, so the result depends neither
// on arrival order nor on how versions were grouped into partial aggregates.
template <typename T, bool kMax>
void SelectExtreme(const Column& c, const KeyVersions& v, uint32_t* sel) {
  for (size_t g = 0; g < v.size(); ++g) {
    uint32_t best = kNone, nan = kNone;
    T bv{};
    for (uint32_t i = v.begin[g]; i < v.end[g]; ++i) {
      if (!c.Valid(i)) continue;
      T x = c.Value<T>(i);
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(x)) {
          nan = i;
          continue;
        }
      }
      if (best == kNone || Beats<T, kMax>(x, bv)) {
        best = i;
        bv = x;
      }
    }
    sel[g] = best != kNone ? best : nan;
  }
}

template <bool kMax>
void SelectExtremeBytes(const Column& c, const KeyVersions& v, uint32_t* sel) {
  for (size_t g = 0; g < v.size(); ++g) {
    uint32_t best = kNone;
    std::string_view bv;
    for (uint32_t i = v.begin[g]; i < v.end[g]; ++i) {
      if (!c.Valid(i)) continue;
      std::string_view x = c.Bytes(i);
      if (best == kNone || (kMax ? bv < x : x < bv)) {
        best = i;
        bv = x;
      }
    }
    sel[g] = best;
  }
}

template <bool kMax>
void SelectExtremeTyped(const DataType& t, const Column& c, const KeyVersions& v, uint32_t* sel) {
  if (t.is_binary_like()) return SelectExtremeBytes<kMax>(c, v, sel);
  switch (t.id) {
    case TypeId::kInt8: return SelectExtreme<int8_t, kMax>(c, v, sel);
    case TypeId::kInt16: return SelectExtreme<int16_t, kMax>(c, v, sel);
    case TypeId::kInt32: case TypeId::kDate32: return SelectExtreme<int32_t, kMax>(c, v, sel);
    case TypeId::kInt64: case TypeId::kTimestamp: return SelectExtreme<int64_t, kMax>(c, v, sel);
    case TypeId::kUInt8: return SelectExtreme<uint8_t, kMax>(c, v, sel);
    case TypeId::kUInt16: return SelectExtreme<uint16_t, kMax>(c, v, sel);
    case TypeId::kUInt32: return SelectExtreme<uint32_t, kMax>(c, v, sel);
    case TypeId::kUInt64: return SelectExtreme<uint64_t, kMax>(c, v, sel);
    case TypeId::kFloat32: return SelectExtreme<float, kMax>(c, v, sel);
    case TypeId::kFloat64: return SelectExtreme<double, kMax>(c, v, sel);
    default: break;
  }
}

// The version whose value a selecting function keeps, per key (kNone: null).
void Select(AggFn fn, const DataType& t, const Column& c, const KeyVersions& v, uint32_t* sel) {
  size_t n = v.size();
  switch (fn) {
    case AggFn::kLastNonNull:
      for (size_t g = 0; g < n; ++g) {
        sel[g] = kNone;
        for (uint32_t i = v.end[g]; i-- > v.begin[g];) {
          if (c.Valid(i)) {
            sel[g] = i;
            break;
          }
        }
      }
      return;
    case AggFn::kFirstNonNull:
      for (size_t g = 0; g < n; ++g) {
        sel[g] = kNone;
        for (uint32_t i = v.begin[g]; i < v.end[g]; ++i) {
          if (c.Valid(i)) {
            sel[g] = i;
            break;
          }
        }
      }
      return;
    case AggFn::kBoolAnd:
    case AggFn::kBoolOr: {
      // and: any false decides; or: any true decides; else any valid value; else null.
      bool decisive = fn == AggFn::kBoolOr;
      for (size_t g = 0; g < n; ++g) {
        uint32_t any = kNone, hit = kNone;
        for (uint32_t i = v.begin[g]; i < v.end[g] && hit == kNone; ++i) {
          if (!c.Valid(i)) continue;
          if (any == kNone) any = i;
          if (c.Bool(i) == decisive) hit = i;
        }
        sel[g] = hit != kNone ? hit : any;
      }
      return;
    }
    case AggFn::kMin: return SelectExtremeTyped<false>(t, c, v, sel);
    case AggFn::kMax: return SelectExtremeTyped<true>(t, c, v, sel);
    default: return;
  }
}

template <typename T, typename Acc>
void Sum(const Column& c, const KeyVersions& v, OwnedArray* out) {
  T* dst = out->values->as<T>();
  uint8_t* valid = out->validity->data();
  for (size_t g = 0; g < v.size(); ++g) {
    Acc acc = 0;
    bool any = false;
    for (uint32_t i = v.begin[g]; i < v.end[g]; ++i) {
      if (!c.Valid(i)) continue;
      // Integers wrap (unsigned accumulator) rather than overflow.
      acc += static_cast<Acc>(c.Value<T>(i));
      any = true;
    }
    dst[g] = static_cast<T>(acc);
    if (any) SetBit(valid, static_cast<int64_t>(g));
  }
}

void SumTyped(const DataType& t, const Column& c, const KeyVersions& v, OwnedArray* out) {
  switch (t.id) {
    case TypeId::kInt8: return Sum<int8_t, uint64_t>(c, v, out);
    case TypeId::kInt16: return Sum<int16_t, uint64_t>(c, v, out);
    case TypeId::kInt32: case TypeId::kDate32: return Sum<int32_t, uint64_t>(c, v, out);
    case TypeId::kInt64: case TypeId::kTimestamp: return Sum<int64_t, uint64_t>(c, v, out);
    case TypeId::kUInt8: return Sum<uint8_t, uint64_t>(c, v, out);
    case TypeId::kUInt16: return Sum<uint16_t, uint64_t>(c, v, out);
    case TypeId::kUInt32: return Sum<uint32_t, uint64_t>(c, v, out);
    case TypeId::kUInt64: return Sum<uint64_t, uint64_t>(c, v, out);
    case TypeId::kFloat32: return Sum<float, double>(c, v, out);
    case TypeId::kFloat64: return Sum<double, double>(c, v, out);
    default: return;
  }
}

// Concatenates the valid lists of each key's versions, oldest first.
Status CollectList(const DataType& t, const std::vector<const ArrayView*>& src, const Column& c,
                   const KeyVersions& v, OwnedArray* out) {
  // A gather of every counted version (one row per version), then offsets per key.
  std::vector<uint32_t> crun, crow;
  size_t n = v.size();
  bool large = t.has_large_offsets();
  int64_t total = 0;
  uint8_t* valid = out->validity->data();
  for (size_t g = 0; g < n; ++g) {
    bool any = false;
    for (uint32_t i = v.begin[g]; i < v.end[g]; ++i) {
      if (!c.Valid(i)) continue;
      any = true;
      const ArrayView* a = c.At(i);
      for (int64_t k = a->OffsetAt(v.row[i]); k < a->OffsetAt(v.row[i] + 1); ++k) {
        crun.push_back(v.run[i]);
        crow.push_back(static_cast<uint32_t>(k));
      }
    }
    total = static_cast<int64_t>(crun.size());
    if (!large && total > INT32_MAX) return Status::InvalidArgument("collected list over 2^31 values");
    if (large) out->values->as<int64_t>()[g + 1] = total;
    else out->values->as<int32_t>()[g + 1] = static_cast<int32_t>(total);
    if (any) SetBit(valid, static_cast<int64_t>(g));
  }
  std::vector<const ArrayView*> children(src.size(), nullptr);
  for (size_t r = 0; r < src.size(); ++r) {
    if (src[r] != nullptr && !src[r]->children.empty()) children[r] = &src[r]->children[0];
  }
  out->children.emplace_back();
  return GatherRuns(t.child->type, children, crun.data(), crow.data(), crun.size(),
                    &out->children[0]);
}

}  // namespace

Result<Engine> ParseEngine(const std::string& name) {
  if (name == "deduplicate") return Engine::kDeduplicate;
  if (name == "first_row") return Engine::kFirstRow;
  if (name == "partial_update") return Engine::kPartialUpdate;
  if (name == "aggregate") return Engine::kAggregate;
  return Status::InvalidArgument("unknown merge engine '" + name +
                                 "' (deduplicate, first_row, partial_update, aggregate)");
}

Result<AggFn> ParseAggFn(const std::string& name) {
  for (const Named& n : kFns) {
    if (name == n.name) return n.fn;
  }
  return Status::InvalidArgument("unknown aggregate function '" + name + "'");
}

AggFn ColumnFn(Engine engine, const std::string& column,
               const std::map<std::string, AggFn>& aggregates) {
  switch (engine) {
    case Engine::kDeduplicate: return AggFn::kLastValue;
    case Engine::kFirstRow: return AggFn::kFirstValue;
    case Engine::kPartialUpdate: return AggFn::kLastNonNull;
    case Engine::kAggregate: {
      auto it = aggregates.find(column);
      return it == aggregates.end() ? AggFn::kLastNonNull : it->second;
    }
  }
  return AggFn::kLastValue;
}

Status CheckAggregate(AggFn fn, const Field& f) {
  const DataType& t = f.type;
  bool temporal = t.id == TypeId::kDate32 || t.id == TypeId::kTimestamp;
  bool ok = true;
  const char* wants = "";
  switch (fn) {
    case AggFn::kSum:
      ok = (t.is_integer_like() && !temporal) || t.is_float();
      wants = "integer or floating point";
      break;
    case AggFn::kMin: case AggFn::kMax:
      ok = IsNumber(t) || t.is_binary_like();
      wants = "integer, floating point, date, timestamp, string or binary";
      break;
    case AggFn::kCount: ok = t.id == TypeId::kInt64; wants = "int64"; break;
    case AggFn::kBoolAnd: case AggFn::kBoolOr: ok = t.id == TypeId::kBool; wants = "bool"; break;
    case AggFn::kCollectList: ok = t.is_list_like(); wants = "list or large_list"; break;
    default: break;
  }
  if (ok) return Status::OK();
  return Status::InvalidArgument("aggregate function " + std::string(FnName(fn)) +
                                 " does not apply to column '" + f.name + "' of type " +
                                 t.ToString() + " (it takes " + wants + " columns)");
}

bool IsPositional(AggFn fn) { return fn == AggFn::kLastValue || fn == AggFn::kFirstValue; }

void SelectPositional(AggFn fn, const KeyVersions& v, Selection* out) {
  size_t n = v.size();
  out->run.Allocate(n);
  out->row.Allocate(n);
  const uint32_t* pick = fn == AggFn::kLastValue ? v.end : v.begin;
  uint32_t back = fn == AggFn::kLastValue ? 1 : 0;
  for (size_t g = 0; g < n; ++g) {
    uint32_t i = pick[g] - back;
    out->run[g] = v.run[i];
    out->row[g] = v.row[i];
  }
}

void FoldVersions(const MergedRuns& m, const std::vector<const int8_t*>& kinds,
                  FoldPolicy policy, KeyVersions* out, FoldedKinds* folded) {
  FoldedKinds own;
  FoldedKinds* f = folded != nullptr ? folded : &own;
  *f = FoldedKinds();
  bool any_kinds = false;
  for (const int8_t* k : kinds) any_kinds |= k != nullptr;
  size_t groups = m.num_keys();
  if (!any_kinds) {
    AllVersions(m, out);
    if (folded != nullptr) f->kind.assign(groups, RowKind::kUpsert);
    return;
  }
  out->run = m.run.data();
  out->row = m.row.data();
  out->begin_store.Allocate(groups);
  out->end_store.Allocate(groups);
  bool markers = policy == FoldPolicy::kCompactKeepMarkers;
  size_t n = 0;
  for (size_t g = 0; g < groups; ++g) {
    uint32_t b = m.key_start[g], e = m.key_start[g + 1], start = e;
    KeyFold fold;
    for (uint32_t i = b; i < e; ++i) {
      if (fold.Add(KindAt(kinds[m.run[i]], m.row[i]))) start = i;
    }
    RowKind kind = fold.hidden && markers ? RowKind::kReset : RowKind::kUpsert;
    if (!fold.live) {
      if (!markers) {
        f->purged += e - b;
        continue;
      }
      start = e - 1;  // the newest delete stays, to hide the key in older runs
      kind = RowKind::kDelete;
    }
    f->purged += start - b;
    out->begin_store[n] = start;
    out->end_store[n] = e;
    if (folded != nullptr) f->kind.push_back(kind);
    ++n;
  }
  out->begin = out->begin_store.data();
  out->end = out->end_store.data();
  out->n = n;
}

void AllVersions(const MergedRuns& m, KeyVersions* out) {
  out->run = m.run.data();
  out->row = m.row.data();
  out->n = m.num_keys();
  out->begin = m.key_start.data();
  out->end = m.key_start.data() + 1;
}

Status FoldColumn(AggFn fn, const DataType& t, const std::vector<const ArrayView*>& src,
                  const KeyVersions& v, OwnedArray* out, const Selection* positional) {
  Column c{src, v};
  size_t n = v.size();
  if (IsPositional(fn)) {
    Selection own;
    if (positional == nullptr) {
      SelectPositional(fn, v, &own);
      positional = &own;
    }
    return GatherRuns(t, src, positional->run.data(), positional->row.data(), n, out);
  }
  if (fn == AggFn::kSum || fn == AggFn::kCount || fn == AggFn::kCollectList) {
    *out = OwnedArray();
    format::PrepareArray(t, static_cast<int64_t>(n), out);
    if (fn == AggFn::kCollectList) {
      LAMINA_RETURN_IF_ERROR(CollectList(t, src, c, v, out));
    } else {
      SumTyped(t, c, v, out);
    }
    format::FinishNulls(out);
    return Status::OK();
  }
  PodArray<uint32_t> sel, run, row;
  sel.Allocate(n);
  run.Allocate(n);
  row.Allocate(n);
  Select(fn, t, c, v, sel.data());
  for (size_t g = 0; g < n; ++g) {
    if (sel[g] == kNone) {
      run[g] = kNullRun;
      row[g] = 0;
    } else {
      run[g] = v.run[sel[g]];
      row[g] = v.row[sel[g]];
    }
  }
  return GatherRuns(t, src, run.data(), row.data(), n, out);
}

OwnedArray CountContribution(const ArrayView& in) {
  OwnedArray out;
  DataType t;
  t.id = TypeId::kInt64;
  format::PrepareArray(t, in.length, &out);
  int64_t* d = out.values->as<int64_t>();
  for (int64_t i = 0; i < in.length; ++i) d[i] = in.IsValid(i) ? 1 : 0;
  out.validity = nullptr;
  out.null_count = 0;
  return out;
}

}  // namespace lamina::merge
