#include "lamina/arrow/array.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

namespace lamina {

int64_t ArrayView::OffsetAt(int64_t i) const {
  if (type->has_large_offsets()) return static_cast<const int64_t*>(values)[offset + i];
  return static_cast<const int32_t*>(values)[offset + i];
}

uint64_t UncompressedBytes(const ArrayView& v) {
  const DataType& t = *v.type;
  uint64_t n = static_cast<uint64_t>(v.length);
  if (n == 0) return 0;
  if (t.byte_width() > 0) return n * static_cast<uint64_t>(t.byte_width());
  if (t.id == TypeId::kBool) return (n + 7) / 8;
  if (t.id == TypeId::kFixedSizeList && !v.children.empty()) {
    return n * static_cast<uint64_t>(t.list_size) *
           static_cast<uint64_t>(std::max(1, v.children[0].type->byte_width()));
  }
  uint64_t offsets = n * (t.has_large_offsets() ? 8 : 4);
  uint64_t span = static_cast<uint64_t>(v.OffsetAt(v.length) - v.OffsetAt(0));
  if (t.is_binary_like()) return offsets + span;
  if (!v.children.empty()) {
    const ArrayView& c = v.children[0];
    uint64_t w = c.type->byte_width() > 0 ? static_cast<uint64_t>(c.type->byte_width()) : 8;
    return offsets + span * w;
  }
  return offsets;
}

int64_t CountNulls(const uint8_t* validity, int64_t offset, int64_t length) {
  if (validity == nullptr) return 0;
  int64_t valid = 0;
  int64_t i = 0;
  for (; i < length && ((offset + i) & 7) != 0; ++i) valid += (validity[(offset + i) >> 3] >> ((offset + i) & 7)) & 1;
  const uint8_t* p = validity + ((offset + i) >> 3);
  for (; i + 64 <= length; i += 64, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    valid += __builtin_popcountll(w);
  }
  for (; i < length; ++i) valid += (validity[(offset + i) >> 3] >> ((offset + i) & 7)) & 1;
  return length - valid;
}

Status MakeArrayView(const ArrowArray& a, const DataType& type, const std::string& column,
                     ArrayView* out) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("column '" + column + "': malformed Arrow array: " + why);
  };
  if (a.length < 0 || a.offset < 0) return bad("negative length or offset");
  out->type = &type;
  out->length = a.length;
  out->offset = a.offset;
  int64_t expected_buffers = type.is_binary_like() ? 3 : (type.id == TypeId::kFixedSizeList ? 1 : 2);
  if (a.n_buffers != expected_buffers) return bad("unexpected buffer count");
  out->validity = static_cast<const uint8_t*>(a.buffers[0]);
  if (type.id != TypeId::kFixedSizeList) {
    out->values = a.buffers[1];
    if (out->values == nullptr && (a.length > 0 || type.is_binary_like() || type.is_list_like())) {
      if (a.length > 0) return bad("missing values buffer");
    }
  }
  if (type.is_binary_like()) {
    out->data = static_cast<const uint8_t*>(a.buffers[2]);
  }
  if (a.null_count == 0 || out->validity == nullptr) {
    out->null_count = out->validity == nullptr ? 0 : 0;
    if (a.null_count != 0 && out->validity == nullptr && a.length > 0) return bad("nulls without validity");
    out->validity = nullptr;
  } else {
    out->null_count = a.null_count > 0 ? a.null_count : CountNulls(out->validity, a.offset, a.length);
    if (out->null_count == 0) out->validity = nullptr;
  }
  if (type.child) {
    if (a.n_children != 1 || a.children == nullptr || a.children[0] == nullptr) {
      return bad("list array without child");
    }
    ArrayView child;
    LAMINA_RETURN_IF_ERROR(MakeArrayView(*a.children[0], type.child->type, column, &child));
    out->children.push_back(std::move(child));
    const ArrayView& c = out->children[0];
    if (type.id == TypeId::kFixedSizeList) {
      if (c.length < (a.offset + a.length) * type.list_size) return bad("fixed_size_list child too short");
    } else if (a.length > 0) {
      int64_t lo = out->OffsetAt(0), hi = out->OffsetAt(a.length);
      if (lo < 0 || hi < lo || hi > c.length) return bad("list offsets out of range");
    }
  }
  if (type.is_binary_like() && a.length > 0) {
    int64_t lo = out->OffsetAt(0), hi = out->OffsetAt(a.length);
    if (lo < 0 || hi < lo) return bad("string offsets out of range");
    if (hi > 0 && out->data == nullptr) return bad("missing data buffer");
  }
  return Status::OK();
}

// ---- Buffer -------------------------------------------------------------------------

namespace {

// Large buffers are mapped directly and backed by transparent huge pages where the
// kernel allows it: first-touch page faults dominated decoding of large columns
// (48k faults for a 196 MB column, ~4 us each on a VM; benchmarks/test_w1_file.py).
constexpr size_t kHugeThreshold = size_t{1} << 21;

// Freed large mappings are kept for reuse, as jemalloc or mimalloc keep dirty pages:
// touching fresh pages costs the kernel a fault and a zeroing pass per page, which
// bounded decoding of a 1M-value column (benchmarks/test_decode.py). Bounded in total
// and per buffer so the process never holds much memory it does not use.
class MappingCache {
 public:
  static MappingCache& Get() {
    static MappingCache* cache = new MappingCache;  // leaked: outlives all buffers
    return *cache;
  }

  void* Take(size_t mapped) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].second == mapped) {
        void* p = entries_[i].first;
        entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
        held_ -= mapped;
        return p;
      }
    }
    return nullptr;
  }

  void Give(void* p, size_t mapped) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (mapped <= kMaxEntry && mapped <= MaxHeld()) {
        // Oldest entries leave first.
        while (held_ + mapped > MaxHeld() && !entries_.empty()) {
          ::munmap(entries_.front().first, entries_.front().second);
          held_ -= entries_.front().second;
          entries_.erase(entries_.begin());
        }
        entries_.emplace_back(p, mapped);
        held_ += mapped;
        return;
      }
    }
    ::munmap(p, mapped);
  }

 private:
  // At most 1 GiB, and at most 1/16 of physical memory, is held unused: enough to recycle
  // the columns of a full read of a few million rows (W1 scale 1 holds ~1 GB) from one
  // read to the next instead of faulting in and zeroing fresh pages.
  static size_t MaxHeld() {
    static const size_t held = [] {
      long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
      size_t phys = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page)
                                          : size_t{4} << 30;
      return std::min(size_t{1} << 30, phys / 16);
    }();
    return held;
  }
  static constexpr size_t kMaxEntry = size_t{256} << 20;
  std::mutex mu_;
  std::vector<std::pair<void*, size_t>> entries_;
  size_t held_ = 0;
};

}  // namespace

std::shared_ptr<Buffer> Buffer::Allocate(size_t size, bool zero) {
  std::shared_ptr<Buffer> b(new Buffer);
  size_t padded = (size + 63) & ~size_t{63};
  if (padded == 0) padded = 64;
  if (padded >= kHugeThreshold) {
    size_t mapped = (padded + kHugeThreshold - 1) & ~(kHugeThreshold - 1);
    if (void* reused = MappingCache::Get().Take(mapped)) {
      b->data_ = static_cast<uint8_t*>(reused);
      b->size_ = size;
      b->mapped_size_ = mapped;
      if (zero) {
        std::memset(b->data_, 0, padded);
      } else {
        std::memset(b->data_ + size, 0, padded - size);
      }
      return b;
    }
    void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
      ::madvise(p, mapped, MADV_HUGEPAGE);
#endif
      b->data_ = static_cast<uint8_t*>(p);  // anonymous memory is already zero
      b->size_ = size;
      b->mapped_size_ = mapped;
      return b;
    }
  }
  b->data_ = static_cast<uint8_t*>(std::aligned_alloc(64, padded));
  if (b->data_ == nullptr) throw std::bad_alloc();
  if (zero) {
    std::memset(b->data_, 0, padded);
  } else {
    std::memset(b->data_ + size, 0, padded - size);
  }
  b->size_ = size;
  b->aligned_alloc_ = true;
  return b;
}

std::shared_ptr<Buffer> Buffer::FromVector(std::vector<uint8_t>&& v) {
  std::shared_ptr<Buffer> b(new Buffer);
  b->vec_ = std::move(v);
  b->size_ = b->vec_.size();
  if (b->vec_.empty()) b->vec_.reserve(8);
  b->data_ = b->vec_.data();
  return b;
}

Buffer::~Buffer() {
  if (mapped_size_ != 0) {
    MappingCache::Get().Give(data_, mapped_size_);
  } else if (aligned_alloc_) {
    std::free(data_);
  }
}

// ---- export -------------------------------------------------------------------------

namespace {

struct ArrayPrivate {
  std::vector<std::shared_ptr<Buffer>> buffers;
  std::vector<const void*> buffer_ptrs;
  std::vector<ArrowArray> children;
  std::vector<ArrowArray*> children_ptrs;
};

void ReleaseArray(ArrowArray* a) {
  if (a->release == nullptr) return;
  auto* priv = static_cast<ArrayPrivate*>(a->private_data);
  for (ArrowArray& c : priv->children) {
    if (c.release) c.release(&c);
  }
  delete priv;
  a->release = nullptr;
}

void Fill(ArrayPrivate* priv, int64_t length, int64_t null_count, ArrowArray* out) {
  priv->buffer_ptrs.clear();
  for (auto& b : priv->buffers) priv->buffer_ptrs.push_back(b ? b->data() : nullptr);
  priv->children_ptrs.clear();
  for (auto& c : priv->children) priv->children_ptrs.push_back(&c);
  out->length = length;
  out->null_count = null_count;
  out->offset = 0;
  out->n_buffers = static_cast<int64_t>(priv->buffer_ptrs.size());
  out->n_children = static_cast<int64_t>(priv->children_ptrs.size());
  out->buffers = priv->buffer_ptrs.data();
  out->children = priv->children_ptrs.empty() ? nullptr : priv->children_ptrs.data();
  out->dictionary = nullptr;
  out->release = ReleaseArray;
  out->private_data = priv;
}

}  // namespace

void ExportArray(OwnedArray arr, ArrowArray* out) {
  auto* priv = new ArrayPrivate;
  priv->buffers.push_back(arr.null_count > 0 ? arr.validity : nullptr);
  if (arr.type.id != TypeId::kFixedSizeList) {
    if (!arr.values) arr.values = Buffer::Allocate(arr.type.byte_width() == 0 ? 8 : 0);
    priv->buffers.push_back(arr.values);
  }
  if (arr.type.is_binary_like()) {
    if (!arr.data) arr.data = Buffer::Allocate(0);
    priv->buffers.push_back(arr.data);
  }
  priv->children.resize(arr.children.size());
  for (size_t i = 0; i < arr.children.size(); ++i) {
    ExportArray(std::move(arr.children[i]), &priv->children[i]);
  }
  Fill(priv, arr.length, arr.null_count, out);
}

void ExportRecordBatch(std::vector<OwnedArray> columns, int64_t length, ArrowArray* out) {
  auto* priv = new ArrayPrivate;
  priv->buffers.push_back(nullptr);
  priv->children.resize(columns.size());
  for (size_t i = 0; i < columns.size(); ++i) {
    ExportArray(std::move(columns[i]), &priv->children[i]);
  }
  Fill(priv, length, 0, out);
}

}  // namespace lamina
