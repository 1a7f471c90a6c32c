// FileReader's random access (Take): decodes only the pages holding the requested rows.
#include <algorithm>
#include <cstring>

#include "lamina/encoding/encoding.h"
#include "lamina/format/file_reader.h"
#include "lamina/format/file_reader_internal.h"
#include "lamina/format/page_reader.h"
#include "lamina/util/parallel.h"

namespace lamina::format {
namespace {

using internal::SetOffset;

// Runs a take on a copy of the reader, then skips the stream in the original, so the
// take need not consume exactly the stream's bytes.
template <typename F>
Status TakeStream(ByteReader* in, F&& f) {
  ByteReader copy = *in;
  LAMINA_RETURN_IF_ERROR(f(&copy));
  return enc::SkipStream(in);
}

}  // namespace

Status FileReader::TakeColumn(size_t c, const int64_t* idx, const std::vector<uint32_t>& page_of,
                              const std::vector<size_t>& order, OwnedArray* out) {
  LAMINA_ASSIGN_OR_RETURN(ColumnState * st, State(c));
  const DataType& t = meta_.schema.fields[c].type;
  const auto& pages = st->meta.pages;
  size_t m = order.size();
  OwnedArray grouped;
  PrepareArray(t, static_cast<int64_t>(m), &grouped);
  std::vector<uint8_t> data;
  std::vector<uint32_t> local;
  std::vector<uint32_t> child_local;
  std::vector<uint64_t> rel;

  struct ChildWork {
    ByteReader streams;
    uint64_t child_count;
    std::vector<uint32_t> idx;
    size_t at;
  };
  std::vector<ChildWork> child_work;
  int64_t child_total = 0;

  size_t s = 0;
  while (s < m) {
    uint32_t pi = page_of[order[s]];
    size_t e = s;
    local.clear();
    while (e < m && page_of[order[e]] == pi) {
      local.push_back(static_cast<uint32_t>(static_cast<uint64_t>(idx[order[e]]) - pages[pi].row_start));
      ++e;
    }
    const PageMeta& p = pages[pi];
    LAMINA_RETURN_IF_ERROR(VerifyPage(st, pi));
    ByteReader in(source_->data() + p.offset, p.length);
    size_t n = p.num_rows, cnt = local.size();
    LAMINA_RETURN_IF_ERROR(TakeStream(&in, [&](ByteReader* r) {
      return TakeValidity(r, n, local.data(), cnt, &grouped, s);
    }));
    if (t.is_list_like()) {
      // Offsets at each taken row and the one after it, plus the page's end.
      std::vector<uint32_t> oidx;
      oidx.reserve(2 * cnt + 1);
      for (uint32_t i : local) {
        oidx.push_back(i);
        oidx.push_back(i + 1);
      }
      oidx.push_back(static_cast<uint32_t>(n));
      rel.assign(oidx.size(), 0);
      LAMINA_RETURN_IF_ERROR(TakeStream(&in, [&](ByteReader* r) {
        return enc::TakeInts(r, n + 1, 8, false, oidx.data(), oidx.size(), rel.data());
      }));
      uint64_t page_children = rel.back();
      LAMINA_CHECK_CORRUPT(page_children <= MaxChildValues(p.length), "page holds too many values");
      ChildWork w{in, page_children, {}, static_cast<size_t>(child_total)};
      for (size_t j = 0; j < cnt; ++j) {
        uint64_t a = rel[2 * j], b = rel[2 * j + 1];
        LAMINA_CHECK_CORRUPT(a <= b && b <= page_children, "list offsets out of range");
        for (uint64_t k = a; k < b; ++k) w.idx.push_back(static_cast<uint32_t>(k));
        child_total += static_cast<int64_t>(b - a);
        SetOffset(&grouped, s + j + 1, child_total);
      }
      child_work.push_back(std::move(w));
    } else if (t.id == TypeId::kFixedSizeList) {
      size_t size = static_cast<size_t>(t.list_size);
      LAMINA_CHECK_CORRUPT(n * size <= MaxChildValues(p.length), "page holds too many values");
      ChildWork w{in, n * size, {}, s * size};
      for (uint32_t i : local) {
        for (size_t k = 0; k < size; ++k) w.idx.push_back(static_cast<uint32_t>(i * size + k));
      }
      child_work.push_back(std::move(w));
    } else {
      LAMINA_RETURN_IF_ERROR(TakeStream(&in, [&](ByteReader* r) {
        return TakeValues(t, r, n, local.data(), cnt, {&grouped, &data}, s);
      }));
    }
    s = e;
  }
  if (t.is_list_like() || t.id == TypeId::kFixedSizeList) {
    int64_t total = t.is_list_like() ? child_total : static_cast<int64_t>(m) * t.list_size;
    grouped.children.emplace_back();
    OwnedArray* child = &grouped.children[0];
    PrepareArray(t.child->type, total, child);
    std::vector<uint8_t> cdata;
    for (ChildWork& w : child_work) {
      size_t k = w.idx.size();
      size_t cn = w.child_count;
      if (k == 0) continue;  // only empty lists taken from this page
      LAMINA_RETURN_IF_ERROR(TakeStream(&w.streams, [&](ByteReader* r) {
        return TakeValidity(r, cn, w.idx.data(), k, child, w.at);
      }));
      LAMINA_RETURN_IF_ERROR(TakeStream(&w.streams, [&](ByteReader* r) {
        return TakeValues(t.child->type, r, cn, w.idx.data(), k, {child, &cdata}, w.at);
      }));
    }
    if (t.child->type.is_binary_like()) child->data = Buffer::FromVector(std::move(cdata));
  }
  if (t.is_binary_like()) grouped.data = Buffer::FromVector(std::move(data));
  FinishNulls(&grouped);

  bool identity = true;
  for (size_t j = 0; j < m && identity; ++j) identity = order[j] == j;
  if (identity) {
    *out = std::move(grouped);
    return Status::OK();
  }
  std::vector<int64_t> inv(m);
  for (size_t k = 0; k < m; ++k) inv[order[k]] = static_cast<int64_t>(k);
  *out = GatherArray(grouped, inv.data(), m);
  return Status::OK();
}

Status FileReader::Take(const std::vector<size_t>& columns, const int64_t* indices, size_t m,
                        std::vector<OwnedArray>* out) {
  for (size_t j = 0; j < m; ++j) {
    if (indices[j] < 0 || static_cast<uint64_t>(indices[j]) >= meta_.num_rows) {
      return Status::InvalidArgument("row index " + std::to_string(indices[j]) +
                                     " out of range for a file of " +
                                     std::to_string(meta_.num_rows) + " rows");
    }
  }
  out->clear();
  out->resize(columns.size());
  return ParallelFor(columns.size(), [&](size_t k) -> Status {
    LAMINA_ASSIGN_OR_RETURN(ColumnState * st, State(columns[k]));
    const auto& pages = st->meta.pages;
    std::vector<uint32_t> page_of(m);
    for (size_t j = 0; j < m; ++j) {
      auto it = std::upper_bound(pages.begin(), pages.end(), static_cast<uint64_t>(indices[j]),
                                 [](uint64_t v, const PageMeta& p) { return v < p.row_start; });
      page_of[j] = static_cast<uint32_t>(it - pages.begin() - 1);
    }
    // Rows in increasing order group the positions by page and walk each page forwards.
    std::vector<size_t> order(m);
    for (size_t j = 0; j < m; ++j) order[j] = j;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return indices[a] < indices[b];
    });
    return TakeColumn(columns[k], indices, page_of, order, &(*out)[k]);
  });
}

}  // namespace lamina::format
