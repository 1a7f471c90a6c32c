#include "lamina/merge/gather.h"

#include <algorithm>
#include <cstring>

#include "lamina/format/page_reader.h"
#include "lamina/util/bit_util.h"

namespace lamina::merge {
namespace {

constexpr uint32_t kMany = UINT32_MAX;

// A buffer of at least `size` bytes: `old` when this is its only holder and it is big
// enough, else a fresh one with an eighth to spare (untouched pages cost nothing) so that
// the next, slightly larger gather of a similar selection can reuse it.
std::shared_ptr<Buffer> Reuse(std::shared_ptr<Buffer> old, size_t size) {
  if (old != nullptr && old.use_count() == 1 && old->size() >= size) {
    // Keep the promise of Allocate(zero=false): the bytes after `size` read as zero.
    std::memset(old->data() + size, 0, std::min<size_t>(old->size() - size, 64));
    return old;
  }
  old.reset();
  return Buffer::Allocate(size + size / 8, /*zero=*/false);
}

// What every kernel of one gather needs to know about the selection, found in one pass
// over `run` so that the per-value loops carry no checks they do not need.
struct Plan {
  size_t nsrc = 0;
  bool null_runs = false;  // some run[j] is kNullRun or names a missing source
  bool validity = false;   // some named source has a validity bitmap
  uint32_t single = kMany; // the one run every row names (m > 0, no null runs), else kMany
  bool checks() const { return null_runs || validity; }
};

Plan MakePlan(const std::vector<const ArrayView*>& src, const uint32_t* run, size_t m) {
  Plan p;
  p.nsrc = src.size();
  if (m == 0) return p;
  // Sources with nulls: a per-source flag table so the scan below is one lookup per row.
  std::vector<uint8_t> state(p.nsrc);  // 0 missing, 1 plain, 2 with validity
  for (size_t r = 0; r < p.nsrc; ++r) {
    state[r] = src[r] == nullptr ? 0 : src[r]->validity != nullptr ? 2 : 1;
  }
  uint32_t first = run[0];
  bool same = true;
  uint8_t seen = 0;  // bit 0: a null run, bit 1: a source with validity
  for (size_t j = 0; j < m; ++j) {
    uint32_t r = run[j];
    same &= r == first;
    uint8_t s = r < p.nsrc ? state[r] : 0;
    seen |= static_cast<uint8_t>(s == 0 ? 1 : s == 2 ? 2 : 0);
  }
  p.null_runs = (seen & 1) != 0;
  p.validity = (seen & 2) != 0;
  if (same && !p.null_runs) p.single = first;
  return p;
}

// Is output row j valid? Only called when plan.checks().
inline bool Present(const std::vector<const ArrayView*>& src, size_t nsrc, uint32_t r,
                    uint32_t i) {
  if (r >= nsrc) return false;
  const ArrayView* v = src[r];
  return v != nullptr && v->IsValid(i);
}

// Writes the validity bitmap, a byte at a time; returns the null count.
int64_t GatherValidity(const Plan& p, const std::vector<const ArrayView*>& src,
                       const uint32_t* run, const uint32_t* row, size_t m, uint8_t* bits) {
  size_t full = m / 8;
  int64_t valid = 0;
  for (size_t b = 0; b <= full; ++b) {
    size_t lo = b * 8, hi = std::min(m, lo + 8);
    if (lo >= hi) break;
    uint32_t byte = 0;
    for (size_t j = lo; j < hi; ++j) {
      byte |= static_cast<uint32_t>(Present(src, p.nsrc, run[j], row[j])) << (j - lo);
    }
    bits[b] = static_cast<uint8_t>(byte);
    valid += __builtin_popcount(byte);
  }
  return static_cast<int64_t>(m) - valid;
}

template <typename T>
void GatherFixed(const Plan& p, const std::vector<const ArrayView*>& src, const uint32_t* run,
                 const uint32_t* row, size_t m, T* dst) {
  if (p.single != kMany) {
    // One source (every write of a single batch): a plain indexed copy.
    const ArrayView* v = src[p.single];
    const T* base = static_cast<const T*>(v->values) + v->offset;
    for (size_t j = 0; j < m; ++j) dst[j] = base[row[j]];
    return;
  }
  std::vector<const T*> base(p.nsrc, nullptr);
  for (size_t r = 0; r < p.nsrc; ++r) {
    if (src[r] != nullptr) base[r] = static_cast<const T*>(src[r]->values) + src[r]->offset;
  }
  if (!p.null_runs) {
    for (size_t j = 0; j < m; ++j) dst[j] = base[run[j]][row[j]];
    return;
  }
  for (size_t j = 0; j < m; ++j) {
    uint32_t r = run[j];
    const T* b = r < p.nsrc ? base[r] : nullptr;
    dst[j] = b != nullptr ? b[row[j]] : T{};
  }
}

void GatherBools(const Plan& p, const std::vector<const ArrayView*>& src, const uint32_t* run,
                 const uint32_t* row, size_t m, uint8_t* bits) {
  for (size_t lo = 0; lo < m; lo += 8) {
    size_t hi = std::min(m, lo + 8);
    uint32_t byte = 0;
    for (size_t j = lo; j < hi; ++j) {
      uint32_t r = run[j];
      const ArrayView* v = r < p.nsrc ? src[r] : nullptr;
      if (v == nullptr) continue;
      uint32_t bit = GetBit(static_cast<const uint8_t*>(v->values), v->offset + row[j]);
      byte |= bit << (j - lo);
    }
    bits[lo / 8] = static_cast<uint8_t>(byte);
  }
}

// Var-length values (strings, binary, lists): output offsets first, from the lengths of
// the picked values (0 for nulls). O: the offset type of every source and the output.
template <typename O>
Status GatherOffsets(const Plan& p, const std::vector<const ArrayView*>& src,
                     const uint32_t* run, const uint32_t* row, size_t m, O* out) {
  std::vector<const O*> offs(p.nsrc, nullptr);
  for (size_t r = 0; r < p.nsrc; ++r) {
    if (src[r] != nullptr) offs[r] = static_cast<const O*>(src[r]->values) + src[r]->offset;
  }
  int64_t total = 0;
  out[0] = 0;
  if (!p.checks()) {
    for (size_t j = 0; j < m; ++j) {
      const O* o = offs[run[j]] + row[j];
      total += static_cast<int64_t>(o[1]) - static_cast<int64_t>(o[0]);
      out[j + 1] = static_cast<O>(total);
    }
  } else {
    for (size_t j = 0; j < m; ++j) {
      if (Present(src, p.nsrc, run[j], row[j])) {
        const O* o = offs[run[j]] + row[j];
        total += static_cast<int64_t>(o[1]) - static_cast<int64_t>(o[0]);
      }
      out[j + 1] = static_cast<O>(total);
    }
  }
  if (sizeof(O) == 4 && total > INT32_MAX) {
    return Status::InvalidArgument("merged column over 2 GiB; use a large_* type");
  }
  return Status::OK();
}

// Copies the picked value ranges: bytes of strings, or `w`-byte elements of a fixed-width
// child (`child` true: the ranges index the source's child array). `out_offs` are the
// offsets GatherOffsets wrote: an output range is empty exactly when its row is null.
template <typename O>
void GatherRanges(const Plan& p, const std::vector<const ArrayView*>& src, const uint32_t* run,
                  const uint32_t* row, size_t m, bool child, size_t w, const O* out_offs,
                  uint8_t* dst) {
  std::vector<const O*> offs(p.nsrc, nullptr);
  std::vector<const uint8_t*> data(p.nsrc, nullptr);
  for (size_t r = 0; r < p.nsrc; ++r) {
    const ArrayView* v = src[r];
    if (v == nullptr) continue;
    offs[r] = static_cast<const O*>(v->values) + v->offset;
    if (child) {
      const ArrayView& c = v->children[0];
      data[r] = static_cast<const uint8_t*>(c.values) + static_cast<size_t>(c.offset) * w;
    } else {
      data[r] = v->data;
    }
  }
  // The ranges of a shuffled input lie at random places: each row's copy would wait on
  // its misses (the copy's branches keep the core from running far ahead), so the
  // offsets of row j + 2 * kAhead and the first bytes of row j + kAhead are prefetched.
  constexpr size_t kAhead = 8;
  for (size_t j = 0; j < m; ++j) {
    if (j + 2 * kAhead < m && out_offs[j + 2 * kAhead + 1] != out_offs[j + 2 * kAhead]) {
      size_t k = j + 2 * kAhead;
      __builtin_prefetch(offs[run[k]] + row[k]);
    }
    if (j + kAhead < m && out_offs[j + kAhead + 1] != out_offs[j + kAhead]) {
      size_t k = j + kAhead;
      const uint8_t* s = data[run[k]] + static_cast<size_t>(offs[run[k]][row[k]]) * w;
      __builtin_prefetch(s);
      __builtin_prefetch(s + 64);
    }
    size_t len = static_cast<size_t>(out_offs[j + 1] - out_offs[j]) * w;
    if (len == 0) continue;  // null rows, and empty values: nothing to read
    uint32_t r = run[j];
    const uint8_t* s = data[r] + static_cast<size_t>(offs[r][row[j]]) * w;
    std::memcpy(dst + static_cast<size_t>(out_offs[j]) * w, s, len);
  }
}

// True if every source's list child is fixed width (not bool) without nulls.
bool ChildIsPlain(const DataType& t, const std::vector<const ArrayView*>& src) {
  if (t.child->type.byte_width() == 0) return false;
  for (const ArrayView* v : src) {
    if (v != nullptr && (v->children.empty() || v->children[0].null_count != 0)) return false;
  }
  return true;
}

Status GatherChildren(const DataType& t, const std::vector<const ArrayView*>& src,
                      const std::vector<uint32_t>& crun, const std::vector<uint32_t>& crow,
                      OwnedArray* out) {
  std::vector<const ArrayView*> children(src.size(), nullptr);
  for (size_t r = 0; r < src.size(); ++r) {
    if (src[r] != nullptr && !src[r]->children.empty()) children[r] = &src[r]->children[0];
  }
  return GatherRuns(t.child->type, children, crun.data(), crow.data(), crun.size(), out);
}

template <typename O>
Status GatherVarLength(const DataType& t, const Plan& p, const std::vector<const ArrayView*>& src,
                       const uint32_t* run, const uint32_t* row, size_t m, OwnedArray* reuse,
                       OwnedArray* out) {
  O* offs = out->values->as<O>();
  LAMINA_RETURN_IF_ERROR(GatherOffsets<O>(p, src, run, row, m, offs));
  size_t total = static_cast<size_t>(offs[m]);
  if (t.is_binary_like()) {
    out->data = Reuse(std::move(reuse->data), total);
    GatherRanges<O>(p, src, run, row, m, /*child=*/false, 1, offs, out->data->data());
    return Status::OK();
  }
  if (ChildIsPlain(t, src)) {
    // Fixed-width children without nulls: each list's values are one contiguous range.
    size_t w = static_cast<size_t>(t.child->type.byte_width());
    OwnedArray child;
    child.type = t.child->type;
    child.length = static_cast<int64_t>(total);
    child.values = Reuse(reuse->children.empty() ? nullptr : std::move(reuse->children[0].values),
                         total * w);
    GatherRanges<O>(p, src, run, row, m, /*child=*/true, w, offs, child.values->data());
    out->children.push_back(std::move(child));
    return Status::OK();
  }
  // Any other child: gather it element by element, recursively.
  std::vector<uint32_t> crun(total), crow(total);
  for (size_t j = 0; j < m; ++j) {
    size_t a = static_cast<size_t>(offs[j]), b = static_cast<size_t>(offs[j + 1]);
    if (a == b) continue;
    const ArrayView* v = src[run[j]];
    uint32_t first = static_cast<uint32_t>(static_cast<const O*>(v->values)[v->offset + row[j]]);
    for (size_t k = a; k < b; ++k) {
      crun[k] = run[j];
      crow[k] = first + static_cast<uint32_t>(k - a);
    }
  }
  out->children.emplace_back();
  return GatherChildren(t, src, crun, crow, &out->children[0]);
}

Status GatherFixedSizeList(const DataType& t, const Plan& p,
                           const std::vector<const ArrayView*>& src, const uint32_t* run,
                           const uint32_t* row, size_t m, OwnedArray* out) {
  size_t s = static_cast<size_t>(t.list_size);
  size_t w = static_cast<size_t>(t.child->type.byte_width());
  if (ChildIsPlain(t, src)) {
    // Each row is one range of s * w bytes; rows of missing sources are zeros.
    OwnedArray child;
    child.type = t.child->type;
    child.length = static_cast<int64_t>(m * s);
    child.values = Buffer::Allocate(m * s * w, /*zero=*/false);
    uint8_t* d = child.values->data();
    size_t bytes = s * w;
    for (size_t j = 0; j < m; ++j) {
      uint32_t r = run[j];
      const ArrayView* v = r < p.nsrc ? src[r] : nullptr;
      if (v == nullptr) {
        std::memset(d + j * bytes, 0, bytes);
        continue;
      }
      const ArrayView& c = v->children[0];
      size_t first = static_cast<size_t>(c.offset) + static_cast<size_t>(v->offset + row[j]) * s;
      std::memcpy(d + j * bytes, static_cast<const uint8_t*>(c.values) + first * w, bytes);
    }
    out->children.push_back(std::move(child));
    return Status::OK();
  }
  std::vector<uint32_t> crun(m * s), crow(m * s);
  for (size_t j = 0; j < m; ++j) {
    uint32_t r = run[j];
    bool ok = r < p.nsrc && src[r] != nullptr;
    for (size_t i = 0; i < s; ++i) {
      crun[j * s + i] = ok ? r : kNullRun;
      crow[j * s + i] =
          ok ? static_cast<uint32_t>((src[r]->offset + row[j]) * t.list_size + i) : 0;
    }
  }
  out->children.emplace_back();
  return GatherChildren(t, src, crun, crow, &out->children[0]);
}

}  // namespace

ArrayView ViewOf(const OwnedArray& a) {
  ArrayView v;
  v.type = &a.type;
  v.length = a.length;
  v.null_count = a.null_count;
  v.validity = a.null_count > 0 && a.validity ? a.validity->data() : nullptr;
  if (v.validity == nullptr) v.null_count = 0;
  v.values = a.values ? a.values->data() : nullptr;
  v.data = a.data ? a.data->data() : nullptr;
  for (const OwnedArray& c : a.children) v.children.push_back(ViewOf(c));
  return v;
}

OwnedArray NullArray(const DataType& type, size_t m) {
  std::vector<const ArrayView*> none;
  std::vector<uint32_t> runs(m, kNullRun), rows(m, 0);
  OwnedArray out;
  Status st = GatherRuns(type, none, runs.data(), rows.data(), m, &out);
  (void)st;  // nulls never overflow offsets
  return out;
}

Status GatherRuns(const DataType& t, const std::vector<const ArrayView*>& src,
                  const uint32_t* run, const uint32_t* row, size_t m, OwnedArray* out) {
  OwnedArray old = std::move(*out);
  *out = OwnedArray();
  Plan p = MakePlan(src, run, m);
  // PrepareArray zeroes a validity bitmap; ours is written whole (or dropped), so skip it.
  out->type = t;
  out->length = static_cast<int64_t>(m);
  if (t.id == TypeId::kBool) {
    out->values = Reuse(std::move(old.values), (m + 7) / 8);
  } else if (t.byte_width() > 0) {
    out->values = Reuse(std::move(old.values), m * static_cast<size_t>(t.byte_width()));
  } else if (t.is_binary_like() || t.is_list_like()) {
    size_t w = t.has_large_offsets() ? 8 : 4;
    out->values = Reuse(std::move(old.values), (m + 1) * w);
  } else {
    format::PrepareArray(t, static_cast<int64_t>(m), out);
    out->validity = nullptr;
  }
  int64_t nulls = 0;
  if (p.checks()) {
    out->validity = Reuse(std::move(old.validity), (m + 7) / 8);
    nulls = GatherValidity(p, src, run, row, m, out->validity->data());
  }
  if (t.id == TypeId::kBool) {
    uint8_t* bits = out->values->data();
    GatherBools(p, src, run, row, m, bits);
    if (nulls > 0) {  // null rows read as false, whatever the source holds under them
      const uint8_t* valid = out->validity->data();
      for (size_t b = 0; b < (m + 7) / 8; ++b) bits[b] &= valid[b];
    }
  } else if (t.byte_width() > 0) {
    switch (t.byte_width()) {
      case 1: GatherFixed(p, src, run, row, m, out->values->as<uint8_t>()); break;
      case 2: GatherFixed(p, src, run, row, m, out->values->as<uint16_t>()); break;
      case 4: GatherFixed(p, src, run, row, m, out->values->as<uint32_t>()); break;
      default: GatherFixed(p, src, run, row, m, out->values->as<uint64_t>()); break;
    }
  } else if (t.is_binary_like() || t.is_list_like()) {
    if (t.has_large_offsets()) {
      LAMINA_RETURN_IF_ERROR(GatherVarLength<int64_t>(t, p, src, run, row, m, &old, out));
    } else {
      LAMINA_RETURN_IF_ERROR(GatherVarLength<int32_t>(t, p, src, run, row, m, &old, out));
    }
  } else if (t.id == TypeId::kFixedSizeList) {
    LAMINA_RETURN_IF_ERROR(GatherFixedSizeList(t, p, src, run, row, m, out));
  }
  out->null_count = nulls;
  if (nulls == 0) out->validity = nullptr;
  return Status::OK();
}

}  // namespace lamina::merge
