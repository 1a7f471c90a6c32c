// libFuzzer harness for lamina::format::FileReader.
//
// Each input is treated as a whole lamina file and run through the reader twice:
//
//   1. as is: exercises the tail, footer checksum and page checksum checks;
//   2. "re-checksummed": where the footer can be located and parsed, every page
//      checksum in the column metas and the footer checksum in the tail are recomputed
//      first, so that mutations reach the footer parser and the page decoders instead
//      of stopping at a checksum mismatch.
//
// Each run opens the bytes, reads every column, and takes a few rows derived from the
// input. Any non-OK Status is an acceptable outcome; crashes, sanitizer reports, hangs
// (-timeout) and allocations beyond -malloc_limit_mb/-rss_limit_mb are bugs. Decoded
// arrays are also checked for internal consistency (lengths, offsets inside their
// buffers), since the Python layer hands them to Arrow without copying: an inconsistent
// array returned with an OK status traps.
//
// Build (see the LAMINA_FUZZ block in CMakeLists.txt):
//   cmake -S . -B /tmp/fuzz-build -DLAMINA_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
//         -DCMAKE_BUILD_TYPE=RelWithDebInfo
//   cmake --build /tmp/fuzz-build --target fuzz_file_reader -j
// Run:
//   python fuzz/make_corpus.py /tmp/lamina-corpus
//   /tmp/fuzz-build/fuzz_file_reader -max_total_time=900 -rss_limit_mb=2048 \
//         -timeout=10 /tmp/lamina-corpus

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/format/file_reader.h"
#include "lamina/format/footer.h"
#include "lamina/util/bytes.h"
#include "lamina/util/crc32c.h"

namespace {

using lamina::ByteReader;
using lamina::OwnedArray;
using lamina::Status;

// Reports an inconsistent array returned with an OK status and aborts.
#define FUZZ_CHECK(cond)                                                           \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "fuzz_file_reader: invariant failed: %s (%s:%d)\n", #cond, \
                   __FILE__, __LINE__);                                            \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

void PutU32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// Walks one column meta (grammar in footer.h) and rewrites each page's crc field with
// the checksum of the page bytes it points at, when those lie inside the file.
void FixColumnChecksums(std::vector<uint8_t>* file, size_t meta_begin, size_t meta_len) {
  uint8_t* base = file->data();
  ByteReader in(base + meta_begin, meta_len);
  uint64_t npages;
  if (!in.GetVarint(&npages).ok()) return;
  for (uint64_t i = 0; i < npages && i < (1u << 16); ++i) {
    uint64_t offset, length, rows;
    if (!in.GetVarint(&offset).ok() || !in.GetVarint(&length).ok() || !in.GetVarint(&rows).ok()) {
      return;
    }
    if (in.remaining() < 4) return;
    uint8_t* crc_at = const_cast<uint8_t*>(in.pos());
    if (offset <= file->size() && length <= file->size() - offset) {
      PutU32(crc_at, lamina::Crc32c(base + offset, static_cast<size_t>(length)));
    }
    uint32_t crc;
    uint8_t encoding, flags;
    uint64_t nulls;
    if (!in.GetU32(&crc).ok() || !in.GetU8(&encoding).ok() || !in.GetU8(&flags).ok() ||
        !in.GetVarint(&nulls).ok()) {
      return;
    }
    if (flags & 1) {
      std::string mn, mx;
      if (!in.GetString(&mn).ok() || !in.GetString(&mx).ok()) return;
    }
  }
}

// Recomputes page and footer checksums in place. Returns false if the tail does not
// locate a footer (the copy would then equal the input).
bool FixChecksums(std::vector<uint8_t>* file) {
  using namespace lamina::format;
  size_t n = file->size();
  if (n < kHeaderSize + kTailSize) return false;
  uint8_t* d = file->data();
  uint32_t footer_len;
  std::memcpy(&footer_len, d + n - 16, 4);
  if (footer_len > n - kHeaderSize - kTailSize) return false;
  size_t footer_at = n - kTailSize - footer_len;
  FileMeta meta;
  std::vector<std::pair<uint64_t, uint32_t>> dir;
  if (ParseFooter(d + footer_at, footer_len, n, &meta, &dir).ok()) {
    for (const auto& [off, len] : dir) FixColumnChecksums(file, footer_at + off, len);
  }
  PutU32(d + n - 12, lamina::Crc32c(d + footer_at, footer_len));
  return true;
}

size_t BufferSize(const std::shared_ptr<lamina::Buffer>& b) { return b ? b->size() : 0; }

int64_t OffsetAt(const OwnedArray& a, int64_t i) {
  if (a.type.has_large_offsets()) return a.values->as<int64_t>()[i];
  return a.values->as<int32_t>()[i];
}

// Checks what Arrow will assume about an array decoded with an OK status.
void CheckArray(const OwnedArray& a, int64_t expect_len) {
  FUZZ_CHECK(a.length == expect_len);
  FUZZ_CHECK(a.null_count >= 0 && a.null_count <= a.length);
  size_t n = static_cast<size_t>(a.length);
  if (a.validity) FUZZ_CHECK(BufferSize(a.validity) * 8 >= n);
  const lamina::DataType& t = a.type;
  if (t.id == lamina::TypeId::kBool) {
    FUZZ_CHECK(BufferSize(a.values) * 8 >= n);
  } else if (t.byte_width() > 0) {
    FUZZ_CHECK(BufferSize(a.values) >= n * static_cast<size_t>(t.byte_width()));
  } else if (t.is_binary_like() || t.is_list_like()) {
    size_t ow = t.has_large_offsets() ? 8 : 4;
    FUZZ_CHECK(BufferSize(a.values) >= (n + 1) * ow);
    FUZZ_CHECK(OffsetAt(a, 0) == 0);
    for (int64_t i = 0; i < a.length; ++i) FUZZ_CHECK(OffsetAt(a, i) <= OffsetAt(a, i + 1));
    int64_t end = OffsetAt(a, a.length);
    if (t.is_binary_like()) {
      FUZZ_CHECK(static_cast<size_t>(end) <= BufferSize(a.data));
    } else {
      FUZZ_CHECK(a.children.size() == 1);
      CheckArray(a.children[0], end);
    }
  } else if (t.id == lamina::TypeId::kFixedSizeList) {
    FUZZ_CHECK(a.children.size() == 1);
    CheckArray(a.children[0], a.length * t.list_size);
  }
}

void RunReader(const std::vector<uint8_t>& bytes, uint64_t seed) {
  using lamina::format::FileReader;
  auto opened = FileReader::Open(lamina::format::OwnBytes(bytes));
  if (!opened.ok()) return;
  std::unique_ptr<FileReader> reader = std::move(opened).value();
  size_t ncols = reader->schema().fields.size();
  int64_t rows = static_cast<int64_t>(reader->num_rows());

  std::vector<size_t> all(ncols);
  for (size_t c = 0; c < ncols; ++c) all[c] = c;

  // Page indexes one by one (a failure in one column must not poison another).
  for (size_t c = 0; c < ncols; ++c) (void)reader->Column(c);

  std::vector<OwnedArray> out;
  if (reader->Read(all, &out).ok()) {
    FUZZ_CHECK(out.size() == ncols);
    for (const OwnedArray& a : out) CheckArray(a, rows);
  }

  // A few rows: first, last, two derived from the input, out of order, with a repeat.
  if (rows > 0) {
    std::vector<int64_t> idx = {static_cast<int64_t>(seed % static_cast<uint64_t>(rows)),
                                rows - 1, 0,
                                static_cast<int64_t>((seed >> 21) % static_cast<uint64_t>(rows))};
    idx.push_back(idx[0]);
    std::vector<OwnedArray> taken;
    if (reader->Take(all, idx.data(), idx.size(), &taken).ok()) {
      FUZZ_CHECK(taken.size() == ncols);
      for (const OwnedArray& a : taken) CheckArray(a, static_cast<int64_t>(idx.size()));
    }
    // Each column on its own too, so one bad column does not hide the others.
    for (size_t c = 0; c < ncols && c < 64; ++c) {
      std::vector<size_t> one = {c};
      if (reader->Take(one, idx.data() + 1, 2, &taken).ok()) {
        CheckArray(taken[0], 2);
      }
      if (reader->Read(one, &taken).ok()) CheckArray(taken[0], rows);
    }
  }
  // Out-of-range rows must be rejected, not read.
  int64_t bad = rows;
  std::vector<OwnedArray> rejected;
  FUZZ_CHECK(!reader->Take(all, &bad, 1, &rejected).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  uint64_t seed = lamina::Crc32c(data, size);
  RunReader(bytes, seed);
  if (FixChecksums(&bytes) && std::memcmp(bytes.data(), data, size) != 0) {
    RunReader(bytes, seed);
  }
  return 0;
}
