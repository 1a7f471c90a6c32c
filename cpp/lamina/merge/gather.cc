#include "lamina/merge/gather.h"

#include <cstring>

#include "lamina/format/page_reader.h"
#include "lamina/util/bit_util.h"

namespace lamina::merge {
namespace {

template <typename T>
void GatherFixed(const std::vector<const ArrayView*>& src, const uint32_t* run,
                 const uint32_t* row, size_t m, T* dst) {
  for (size_t j = 0; j < m; ++j) {
    uint32_t r = run[j];
    const ArrayView* v = r == kNullRun ? nullptr : src[r];
    dst[j] = v ? static_cast<const T*>(v->values)[v->offset + row[j]] : T{};
  }
}

// Sets validity bits; returns the null count.
int64_t GatherValidity(const std::vector<const ArrayView*>& src, const uint32_t* run,
                       const uint32_t* row, size_t m, uint8_t* bits) {
  int64_t nulls = 0;
  for (size_t j = 0; j < m; ++j) {
    uint32_t r = run[j];
    const ArrayView* v = r == kNullRun ? nullptr : src[r];
    if (v && v->IsValid(row[j])) {
      SetBit(bits, static_cast<int64_t>(j));
    } else {
      ++nulls;
    }
  }
  return nulls;
}

bool Present(const std::vector<const ArrayView*>& src, uint32_t r, uint32_t i) {
  return r != kNullRun && src[r] != nullptr && src[r]->IsValid(i);
}

void PutOffset(OwnedArray* out, bool large, size_t j, int64_t v) {
  if (large) {
    out->values->as<int64_t>()[j] = v;
  } else {
    out->values->as<int32_t>()[j] = static_cast<int32_t>(v);
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

}  // namespace

static Status GatherChildren(const DataType& t, const std::vector<const ArrayView*>& src,
                             const std::vector<uint32_t>& crun, const std::vector<uint32_t>& crow,
                             OwnedArray* out) {
  std::vector<const ArrayView*> children(src.size(), nullptr);
  for (size_t r = 0; r < src.size(); ++r) {
    if (src[r] != nullptr && !src[r]->children.empty()) children[r] = &src[r]->children[0];
  }
  return GatherRuns(t.child->type, children, crun.data(), crow.data(), crun.size(), out);
}

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
  *out = OwnedArray();
  format::PrepareArray(t, static_cast<int64_t>(m), out);
  int64_t nulls = GatherValidity(src, run, row, m, out->validity->data());
  if (t.id == TypeId::kBool) {
    uint8_t* d = out->values->data();
    for (size_t j = 0; j < m; ++j) {
      if (!Present(src, run[j], row[j])) continue;
      const ArrayView* v = src[run[j]];
      if (GetBit(static_cast<const uint8_t*>(v->values), v->offset + row[j])) {
        SetBit(d, static_cast<int64_t>(j));
      }
    }
  } else if (t.byte_width() > 0) {
    switch (t.byte_width()) {
      case 1: GatherFixed(src, run, row, m, out->values->as<uint8_t>()); break;
      case 2: GatherFixed(src, run, row, m, out->values->as<uint16_t>()); break;
      case 4: GatherFixed(src, run, row, m, out->values->as<uint32_t>()); break;
      default: GatherFixed(src, run, row, m, out->values->as<uint64_t>()); break;
    }
  } else if (t.is_binary_like() || t.is_list_like()) {
    bool large = t.has_large_offsets();
    int64_t total = 0;
    PutOffset(out, large, 0, 0);
    for (size_t j = 0; j < m; ++j) {
      if (Present(src, run[j], row[j])) {
        const ArrayView* v = src[run[j]];
        total += v->OffsetAt(row[j] + 1) - v->OffsetAt(row[j]);
      }
      if (!large && total > INT32_MAX) {
        return Status::InvalidArgument("merged column over 2 GiB; use a large_* type");
      }
      PutOffset(out, large, j + 1, total);
    }
    if (t.is_binary_like()) {
      out->data = Buffer::Allocate(static_cast<size_t>(total), /*zero=*/false);
      uint8_t* d = out->data->data();
      for (size_t j = 0; j < m; ++j) {
        if (!Present(src, run[j], row[j])) continue;
        const ArrayView* v = src[run[j]];
        int64_t a = v->OffsetAt(row[j]), b = v->OffsetAt(row[j] + 1);
        std::memcpy(d, v->data + a, static_cast<size_t>(b - a));
        d += b - a;
      }
    } else if (ChildIsPlain(t, src)) {
      // Fixed-width children without nulls: copy each list's values as one range.
      size_t w = static_cast<size_t>(t.child->type.byte_width());
      OwnedArray child;
      child.type = t.child->type;
      child.length = total;
      child.values = Buffer::Allocate(static_cast<size_t>(total) * w, /*zero=*/false);
      uint8_t* d = child.values->data();
      for (size_t j = 0; j < m; ++j) {
        if (!Present(src, run[j], row[j])) continue;
        const ArrayView* v = src[run[j]];
        const ArrayView& c = v->children[0];
        int64_t a = v->OffsetAt(row[j]), b = v->OffsetAt(row[j] + 1);
        size_t bytes = static_cast<size_t>(b - a) * w;
        std::memcpy(d, static_cast<const uint8_t*>(c.values) + static_cast<size_t>(c.offset + a) * w,
                    bytes);
        d += bytes;
      }
      out->children.push_back(std::move(child));
    } else {
      std::vector<uint32_t> crun, crow;
      crun.reserve(static_cast<size_t>(total));
      crow.reserve(static_cast<size_t>(total));
      for (size_t j = 0; j < m; ++j) {
        if (!Present(src, run[j], row[j])) continue;
        const ArrayView* v = src[run[j]];
        for (int64_t k = v->OffsetAt(row[j]); k < v->OffsetAt(row[j] + 1); ++k) {
          crun.push_back(run[j]);
          crow.push_back(static_cast<uint32_t>(k));
        }
      }
      out->children.emplace_back();
      LAMINA_RETURN_IF_ERROR(GatherChildren(t, src, crun, crow, &out->children[0]));
    }
  } else if (t.id == TypeId::kFixedSizeList) {
    size_t s = static_cast<size_t>(t.list_size);
    std::vector<uint32_t> crun(m * s), crow(m * s);
    for (size_t j = 0; j < m; ++j) {
      bool ok = run[j] != kNullRun && src[run[j]] != nullptr;
      for (size_t i = 0; i < s; ++i) {
        crun[j * s + i] = ok ? run[j] : kNullRun;
        crow[j * s + i] =
            ok ? static_cast<uint32_t>((src[run[j]]->offset + row[j]) * t.list_size + i) : 0;
      }
    }
    out->children.emplace_back();
    LAMINA_RETURN_IF_ERROR(GatherChildren(t, src, crun, crow, &out->children[0]));
  }
  out->null_count = nulls;
  if (nulls == 0) out->validity = nullptr;
  return Status::OK();
}

}  // namespace lamina::merge
