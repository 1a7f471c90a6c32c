#include "lamina/format/file_reader.h"

#include <algorithm>
#include <cstring>

#include "lamina/encoding/encoding.h"
#include "lamina/format/file_reader_internal.h"
#include "lamina/format/page_reader.h"
#include "lamina/util/crc32c.h"
#include "lamina/util/file_io.h"
#include "lamina/util/parallel.h"

namespace lamina::format {

using internal::SetOffset;
namespace {

class MappedSource : public Source {
 public:
  explicit MappedSource(io::ReadMapping m) : m_(std::move(m)) {}
  const uint8_t* data() const override { return m_.data(); }
  size_t size() const override { return m_.size(); }
  void Evict(size_t offset, size_t length) override { m_.Evict(offset, length); }

 private:
  io::ReadMapping m_;
};

class OwnedSource : public Source {
 public:
  explicit OwnedSource(std::vector<uint8_t> b) : b_(std::move(b)) {}
  const uint8_t* data() const override { return b_.data(); }
  size_t size() const override { return b_.size(); }

 private:
  std::vector<uint8_t> b_;
};

bool IsFlat(const DataType& t) { return !t.is_list_like(); }

// Statistics are untrusted too: their sizes and ranges must fit the column's type.
Status CheckStats(const DataType& t, const Stats& s) {
  if (!s.has_min_max) return Status::OK();
  if (t.is_list_like() || t.id == TypeId::kFixedSizeList) {
    return Status::Corruption("statistics on a list column");
  }
  if (t.is_binary_like()) return Status::OK();
  if (t.id == TypeId::kBool) {
    LAMINA_CHECK_CORRUPT(s.min.size() == 1 && s.max.size() == 1 &&
                             static_cast<uint8_t>(s.min[0]) <= static_cast<uint8_t>(s.max[0]) &&
                             static_cast<uint8_t>(s.max[0]) <= 1,
                         "bad bool statistics");
    return Status::OK();
  }
  LAMINA_CHECK_CORRUPT(s.min.size() == 8 && s.max.size() == 8, "bad statistics size");
  if (t.is_float()) {
    double lo, hi;
    std::memcpy(&lo, s.min.data(), 8);
    std::memcpy(&hi, s.max.data(), 8);
    LAMINA_CHECK_CORRUPT(lo <= hi, "bad float statistics");
    return Status::OK();
  }
  int bits = 8 * t.byte_width();
  if (t.is_signed()) {
    int64_t lo, hi;
    std::memcpy(&lo, s.min.data(), 8);
    std::memcpy(&hi, s.max.data(), 8);
    int64_t tmin = bits == 64 ? INT64_MIN : -(int64_t{1} << (bits - 1));
    int64_t tmax = bits == 64 ? INT64_MAX : (int64_t{1} << (bits - 1)) - 1;
    LAMINA_CHECK_CORRUPT(lo <= hi && lo >= tmin && hi <= tmax, "bad integer statistics");
  } else {
    uint64_t lo, hi;
    std::memcpy(&lo, s.min.data(), 8);
    std::memcpy(&hi, s.max.data(), 8);
    uint64_t tmax = bits == 64 ? UINT64_MAX : (uint64_t{1} << bits) - 1;
    LAMINA_CHECK_CORRUPT(lo <= hi && hi <= tmax, "bad integer statistics");
  }
  return Status::OK();
}

}  // namespace

Result<std::shared_ptr<Source>> MapFile(const std::string& path) {
  LAMINA_ASSIGN_OR_RETURN(io::ReadMapping m, io::ReadMapping::Open(path));
  return std::shared_ptr<Source>(std::make_shared<MappedSource>(std::move(m)));
}

std::shared_ptr<Source> OwnBytes(std::vector<uint8_t> bytes) {
  return std::make_shared<OwnedSource>(std::move(bytes));
}

Result<std::unique_ptr<FileReader>> FileReader::Open(const std::string& path) {
  LAMINA_ASSIGN_OR_RETURN(std::shared_ptr<Source> src, MapFile(path));
  auto r = Open(std::move(src));
  if (!r.ok()) return r.status().WithPrefix(path + ": ");
  return r;
}

Result<std::unique_ptr<FileReader>> FileReader::Open(std::shared_ptr<Source> source) {
  std::unique_ptr<FileReader> r(new FileReader);
  r->source_ = std::move(source);
  const uint8_t* d = r->source_->data();
  size_t n = r->source_->size();
  LAMINA_CHECK_CORRUPT(n >= kHeaderSize + kTailSize, "file too short to be a lamina file");
  LAMINA_CHECK_CORRUPT(std::memcmp(d, kMagic, 4) == 0 && std::memcmp(d + n - 4, kMagic, 4) == 0,
                       "not a lamina file (bad magic number)");
  uint32_t version, footer_len, footer_crc, head_version;
  std::memcpy(&head_version, d + 4, 4);
  std::memcpy(&footer_len, d + n - 16, 4);
  std::memcpy(&footer_crc, d + n - 12, 4);
  std::memcpy(&version, d + n - 8, 4);
  if (version > kFormatVersion || head_version > kFormatVersion) {
    std::string msg = "file was written with data file format version " +
                      std::to_string(std::max(version, head_version)) +
                      "; this lamina reads format version " + std::to_string(kFormatVersion) +
                      " at most: upgrade lamina";
    // A newer writer sets both fields; one alone saying "newer" is a flipped byte.
    if (version == head_version) return Status::UnsupportedVersion(msg);
    return Status::Corruption(msg + " (but header and tail disagree: damaged)");
  }
  LAMINA_CHECK_CORRUPT(version == head_version && version >= 1, "format versions disagree");
  LAMINA_CHECK_CORRUPT(footer_len <= n - kHeaderSize - kTailSize, "footer length out of range");
  r->data_end_ = n - kTailSize - footer_len;
  r->footer_ = d + r->data_end_;
  LAMINA_CHECK_CORRUPT(Crc32c(r->footer_, footer_len) == footer_crc, "footer checksum mismatch");
  LAMINA_RETURN_IF_ERROR(ParseFooter(r->footer_, footer_len, n, &r->meta_, &r->dir_));
  r->columns_.resize(r->dir_.size());
  for (auto& c : r->columns_) c = std::make_unique<ColumnState>();
  return r;
}

Result<FileReader::ColumnState*> FileReader::State(size_t c) {
  if (c >= columns_.size()) return Status::InvalidArgument("column index out of range");
  ColumnState* st = columns_[c].get();
  std::call_once(st->once, [&]() {
    auto [off, len] = dir_[c];
    st->status = ParseColumnMeta(footer_ + off, len, meta_.num_rows, data_end_, &st->meta);
    if (st->status.ok()) {
      const DataType& t = meta_.schema.fields[c].type;
      for (const PageMeta& p : st->meta.pages) {
        if (p.num_rows > kMaxPageRows) {
          st->status = Status::Corruption("page with too many rows");
          break;
        }
        st->status = CheckStats(t, p.stats);
        if (!st->status.ok()) break;
      }
      st->verified.reset(new std::atomic<bool>[st->meta.pages.size()]);
      for (size_t i = 0; i < st->meta.pages.size(); ++i) st->verified[i] = false;
    }
  });
  if (!st->status.ok()) return st->status;
  return st;
}

Result<const ColumnMeta*> FileReader::Column(size_t c) {
  LAMINA_ASSIGN_OR_RETURN(ColumnState * st, State(c));
  return &st->meta;
}

Status FileReader::VerifyPage(ColumnState* st, size_t page) {
  if (st->verified[page].load(std::memory_order_acquire)) return Status::OK();
  const PageMeta& p = st->meta.pages[page];
  if (Crc32c(source_->data() + p.offset, p.length) != p.crc) {
    return Status::Corruption("page checksum mismatch");
  }
  st->verified[page].store(true, std::memory_order_release);
  return Status::OK();
}

namespace {

// Decodes one page of a column without list offsets (fixed_size_list included) into rows
// [at, at + num_rows) of `arr`; `lazy` as for DecodeValidity.
Status DecodeFlatPage(const DataType& t, const PageMeta& p, const uint8_t* bytes, OwnedArray* arr,
                      std::vector<uint8_t>* data, size_t at, bool lazy) {
  ByteReader in(bytes, p.length);
  size_t n = p.num_rows;
  LAMINA_RETURN_IF_ERROR(DecodeValidity(&in, n, arr, at, lazy));
  if (t.id == TypeId::kFixedSizeList) {
    size_t size = static_cast<size_t>(t.list_size);
    LAMINA_CHECK_CORRUPT(n * size <= MaxChildValues(p.length), "page holds too many values");
    OwnedArray* child = &arr->children[0];
    LAMINA_RETURN_IF_ERROR(DecodeValidity(&in, n * size, child, at * size, lazy));
    LAMINA_RETURN_IF_ERROR(DecodeValues(t.child->type, &in, n * size, {child, nullptr}, at * size));
  } else {
    LAMINA_RETURN_IF_ERROR(DecodeValues(t, &in, n, {arr, data}, at));
  }
  LAMINA_CHECK_CORRUPT(in.empty(), "trailing bytes after a page's streams");
  return Status::OK();
}

// Decodes n+1 page-relative list offsets and checks they start at 0 and never decrease.
Status ReadRelOffsets(ByteReader* in, size_t n, uint64_t page_len, std::vector<uint64_t>* rel) {
  rel->assign(n + 1, 0);
  LAMINA_RETURN_IF_ERROR(enc::DecodeInts(in, n + 1, 8, false, rel->data()));
  LAMINA_CHECK_CORRUPT((*rel)[0] == 0, "list offsets do not start at 0");
  for (size_t i = 0; i < n; ++i) {
    LAMINA_CHECK_CORRUPT((*rel)[i] <= (*rel)[i + 1], "list offsets decrease");
  }
  LAMINA_CHECK_CORRUPT((*rel)[n] <= MaxChildValues(page_len), "page holds too many values");
  return Status::OK();
}

}  // namespace

Status FileReader::ReadListColumn(const std::vector<Part>& parts, size_t k,
                                  const std::vector<uint64_t>& row_base,
                                  const std::vector<ColumnState*>& states, OwnedArray* out) {
  size_t nparts = parts.size();
  const DataType& t = out->type;
  struct Pending {
    ByteReader child_streams;
    uint64_t child_count;
    uint64_t child_start;
  };
  std::vector<Pending> pending;
  std::vector<uint64_t> rel;
  uint64_t base = 0;
  uint64_t limit = t.has_large_offsets() ? static_cast<uint64_t>(INT64_MAX) : INT32_MAX;
  for (size_t q = 0; q < nparts; ++q) {
    FileReader* r = parts[q].reader;
    ColumnState* st = states[k * nparts + q];
    const auto& pages = st->meta.pages;
    for (size_t i = 0; i < pages.size(); ++i) {
      const PageMeta& p = pages[i];
      uint64_t row = row_base[q] + p.row_start;
      LAMINA_RETURN_IF_ERROR(r->VerifyPage(st, i));
      ByteReader in(r->source_->data() + p.offset, p.length);
      LAMINA_RETURN_IF_ERROR(DecodeValidity(&in, p.num_rows, out, row, /*lazy=*/true));
      LAMINA_RETURN_IF_ERROR(ReadRelOffsets(&in, p.num_rows, p.length, &rel));
      LAMINA_CHECK_CORRUPT(base + rel[p.num_rows] <= limit,
                           "list column over 2^31 values; store it as large_list");
      for (size_t j = 0; j <= p.num_rows; ++j) {
        SetOffset(out, row + j, static_cast<int64_t>(base + rel[j]));
      }
      pending.push_back({in, rel[p.num_rows], base});
      base += rel[p.num_rows];
    }
  }
  out->children.emplace_back();
  OwnedArray* child = &out->children[0];
  const DataType& ct = t.child->type;
  PrepareArray(ct, static_cast<int64_t>(base), child, /*validity=*/false);
  std::vector<uint8_t> data;
  for (Pending& pd : pending) {
    LAMINA_RETURN_IF_ERROR(
        DecodeValidity(&pd.child_streams, pd.child_count, child, pd.child_start, /*lazy=*/true));
    LAMINA_RETURN_IF_ERROR(
        DecodeValues(ct, &pd.child_streams, pd.child_count, {child, &data}, pd.child_start));
    LAMINA_CHECK_CORRUPT(pd.child_streams.empty(), "trailing bytes after a page's streams");
  }
  if (ct.is_binary_like()) child->data = Buffer::FromVector(std::move(data));
  return Status::OK();
}

Status FileReader::Read(const std::vector<size_t>& columns, std::vector<OwnedArray>* out) {
  return ReadConcat({Part{this, columns}}, out);
}

Status FileReader::ReadConcat(const std::vector<Part>& parts, std::vector<OwnedArray>* out) {
  out->clear();
  if (parts.empty()) return Status::OK();
  size_t nparts = parts.size(), ncols = parts[0].columns.size();
  out->resize(ncols);
  std::vector<uint64_t> row_base(nparts + 1, 0);
  for (size_t q = 0; q < nparts; ++q) {
    if (parts[q].columns.size() != ncols) {
      return Status::InvalidArgument("concatenated reads take the same columns of every file");
    }
    row_base[q + 1] = row_base[q] + parts[q].reader->meta_.num_rows;
  }
  uint64_t total = row_base[nparts];
  std::vector<std::vector<uint8_t>> datas(ncols);
  std::vector<ColumnState*> states(ncols * nparts);  // [k * nparts + q]
  struct Task {
    size_t k, part, page;  // page kAll: every page of every part, in order
  };
  constexpr size_t kAll = SIZE_MAX;
  std::vector<Task> tasks;
  for (size_t k = 0; k < ncols; ++k) {
    const DataType& t = parts[0].reader->meta_.schema.fields.at(parts[0].columns[k]).type;
    for (size_t q = 0; q < nparts; ++q) {
      FileReader* r = parts[q].reader;
      LAMINA_ASSIGN_OR_RETURN(states[k * nparts + q], r->State(parts[q].columns[k]));
      if (!r->meta_.schema.fields[parts[q].columns[k]].type.Equals(t)) {
        return Status::InvalidArgument("concatenated files disagree on a column's type");
      }
    }
    OwnedArray& arr = (*out)[k];
    // Validity bitmaps are allocated only for columns with a page that holds nulls.
    PrepareArray(t, static_cast<int64_t>(total), &arr, /*validity=*/false);
    if (t.id == TypeId::kFixedSizeList) {
      // Check every page before sizing the child by the file's claims.
      for (size_t q = 0; q < nparts; ++q) {
        for (const PageMeta& p : states[k * nparts + q]->meta.pages) {
          LAMINA_CHECK_CORRUPT(p.num_rows * static_cast<uint64_t>(t.list_size) <=
                                   MaxChildValues(p.length),
                               "page holds too many values");
        }
      }
      arr.children.emplace_back();
      PrepareArray(t.child->type, static_cast<int64_t>(total) * t.list_size, &arr.children[0],
                   /*validity=*/false);
    }
    bool parallel_pages = IsFlat(t) && !t.is_binary_like();
    for (size_t q = 0; q < nparts && parallel_pages; ++q) {
      for (const PageMeta& p : states[k * nparts + q]->meta.pages) {
        // Pages that share a validity byte must not be decoded concurrently.
        uint64_t row = row_base[q] + p.row_start;
        uint64_t child_start = t.id == TypeId::kFixedSizeList ? row * t.list_size : 0;
        if (row % 8 != 0 || child_start % 8 != 0) parallel_pages = false;
      }
    }
    if (!parallel_pages) {
      tasks.push_back({k, 0, kAll});  // decoded in row order: bitmaps allocated lazily
      continue;
    }
    // Pages decoded concurrently need the bitmap before they start: it exists when some
    // page's validity is not a constant of ones.
    bool all_valid = true, child_all_valid = true;
    for (size_t q = 0; q < nparts; ++q) {
      FileReader* r = parts[q].reader;
      const auto& pages = states[k * nparts + q]->meta.pages;
      for (size_t i = 0; i < pages.size(); ++i) {
        const PageMeta& p = pages[i];
        ByteReader in(r->source_->data() + p.offset, p.length);
        all_valid = all_valid && AllValid(in, p.num_rows);
        if (t.id == TypeId::kFixedSizeList && child_all_valid) {
          child_all_valid = enc::SkipStream(&in).ok() &&
                            AllValid(in, p.num_rows * static_cast<uint64_t>(t.list_size));
        }
        tasks.push_back({k, q, i});
      }
    }
    if (!all_valid) arr.validity = Buffer::Allocate((total + 7) / 8);
    if (!child_all_valid) {
      uint64_t n = total * static_cast<uint64_t>(t.list_size);
      arr.children[0].validity = Buffer::Allocate((n + 7) / 8);
    }
  }
  LAMINA_RETURN_IF_ERROR(ParallelFor(tasks.size(), [&](size_t ti) -> Status {
    const Task& task = tasks[ti];
    OwnedArray* arr = &(*out)[task.k];
    const DataType& t = arr->type;
    if (t.is_list_like()) return ReadListColumn(parts, task.k, row_base, states, arr);
    size_t q0 = task.page == kAll ? 0 : task.part;
    size_t q1 = task.page == kAll ? nparts : task.part + 1;
    for (size_t q = q0; q < q1; ++q) {
      FileReader* r = parts[q].reader;
      ColumnState* st = states[task.k * nparts + q];
      size_t first = task.page == kAll ? 0 : task.page;
      size_t last = task.page == kAll ? st->meta.pages.size() : task.page + 1;
      for (size_t i = first; i < last; ++i) {
        LAMINA_RETURN_IF_ERROR(r->VerifyPage(st, i));
        const PageMeta& p = st->meta.pages[i];
        LAMINA_RETURN_IF_ERROR(DecodeFlatPage(t, p, r->source_->data() + p.offset, arr,
                                              &datas[task.k], row_base[q] + p.row_start,
                                              /*lazy=*/task.page == kAll));
      }
    }
    return Status::OK();
  }));
  for (size_t k = 0; k < ncols; ++k) {
    OwnedArray& arr = (*out)[k];
    if (arr.type.is_binary_like()) arr.data = Buffer::FromVector(std::move(datas[k]));
    FinishNulls(&arr);
  }
  return Status::OK();
}


Status FileReader::DecodePages(size_t c, ColumnState* st, size_t first, size_t last,
                               OwnedArray* out) {
  const DataType& t = meta_.schema.fields[c].type;
  const auto& pages = st->meta.pages;
  uint64_t base = pages[first].row_start;
  uint64_t rows = pages[last - 1].row_start + pages[last - 1].num_rows - base;
  PrepareArray(t, static_cast<int64_t>(rows), out, /*validity=*/false);
  if (t.id == TypeId::kFixedSizeList) {
    for (size_t i = first; i < last; ++i) {
      LAMINA_CHECK_CORRUPT(pages[i].num_rows * static_cast<uint64_t>(t.list_size) <=
                               MaxChildValues(pages[i].length),
                           "page holds too many values");
    }
    out->children.emplace_back();
    PrepareArray(t.child->type, static_cast<int64_t>(rows) * t.list_size, &out->children[0],
                 /*validity=*/false);
  }
  std::vector<uint8_t> data;
  for (size_t i = first; i < last; ++i) {
    LAMINA_RETURN_IF_ERROR(VerifyPage(st, i));
    const PageMeta& p = pages[i];
    LAMINA_RETURN_IF_ERROR(
        DecodeFlatPage(t, p, source_->data() + p.offset, out, &data, p.row_start - base,
                       /*lazy=*/true));
  }
  if (t.is_binary_like()) out->data = Buffer::FromVector(std::move(data));
  FinishNulls(out);
  return Status::OK();
}

Status FileReader::ReadRange(const std::vector<size_t>& columns, uint64_t begin, uint64_t end,
                             std::vector<OwnedArray>* out) {
  if (begin > end || end > meta_.num_rows) {
    return Status::InvalidArgument("row range [" + std::to_string(begin) + ", " +
                                   std::to_string(end) + ") out of range for a file of " +
                                   std::to_string(meta_.num_rows) + " rows");
  }
  size_t m = static_cast<size_t>(end - begin);
  // A range on a flat column's page boundaries decodes whole pages, without the row
  // indices a take needs (point lookups read key pages this way).
  std::vector<std::pair<size_t, size_t>> whole(columns.size(), {0, 0});
  bool need_idx = false;
  for (size_t k = 0; k < columns.size(); ++k) {
    LAMINA_ASSIGN_OR_RETURN(ColumnState * st, State(columns[k]));
    const auto& pages = st->meta.pages;
    if (m > 0 && IsFlat(meta_.schema.fields[columns[k]].type)) {
      auto first = std::upper_bound(pages.begin(), pages.end(), begin,
                                    [](uint64_t v, const PageMeta& p) { return v < p.row_start; });
      size_t a = static_cast<size_t>(first - pages.begin()) - 1, b = a;
      while (b < pages.size() && pages[b].row_start + pages[b].num_rows < end) ++b;
      if (pages[a].row_start == begin && b < pages.size() &&
          pages[b].row_start + pages[b].num_rows == end) {
        whole[k] = {a, b + 1};
        continue;
      }
    }
    need_idx = true;
  }
  std::vector<int64_t> idx;
  std::vector<size_t> order;
  if (need_idx) {
    idx.resize(m);
    order.resize(m);
    for (size_t j = 0; j < m; ++j) {
      idx[j] = static_cast<int64_t>(begin + j);
      order[j] = j;
    }
  }
  out->clear();
  out->resize(columns.size());
  return ParallelFor(columns.size(), [&](size_t k) -> Status {
    LAMINA_ASSIGN_OR_RETURN(ColumnState * st, State(columns[k]));
    if (whole[k].second > whole[k].first) {
      return DecodePages(columns[k], st, whole[k].first, whole[k].second, &(*out)[k]);
    }
    const auto& pages = st->meta.pages;
    std::vector<uint32_t> page_of(m);
    size_t p = 0;
    for (size_t j = 0; j < m; ++j) {
      while (p + 1 < pages.size() && pages[p + 1].row_start <= static_cast<uint64_t>(idx[j])) ++p;
      page_of[j] = static_cast<uint32_t>(p);
    }
    return TakeColumn(columns[k], idx.data(), page_of, order, &(*out)[k]);
  });
}

void FileReader::EvictRowsBefore(const std::vector<size_t>& columns, uint64_t row) {
  for (size_t c : columns) {
    auto st = State(c);
    if (!st.ok()) continue;
    ColumnState* cs = st.value();
    const auto& pages = cs->meta.pages;
    size_t first = cs->evicted, end = first;
    while (end < pages.size() && pages[end].row_start + pages[end].num_rows <= row) ++end;
    if (end == first) continue;
    // A column's pages are contiguous in the file: evict their span at once.
    uint64_t lo = pages[first].offset;
    uint64_t hi = pages[end - 1].offset + pages[end - 1].length;
    if (hi > lo) source_->Evict(static_cast<size_t>(lo), static_cast<size_t>(hi - lo));
    cs->evicted = end;
  }
}

}  // namespace lamina::format
