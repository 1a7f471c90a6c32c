// Reads a lamina file: opens by mapping it, checks the tail and the footer's checksum,
// parses the schema, and parses a column's page index only when that column is read.
// Every page's checksum is verified once, the first time it is decoded.
//
// Thread-safe: several threads may read columns of one FileReader at once.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/format/footer.h"
#include "lamina/util/status.h"

namespace lamina::format {

// Bytes of a whole file, mapped or owned.
class Source {
 public:
  virtual ~Source() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
  // Hint: bytes [offset, offset + length) will not be read again soon (a mapping drops
  // their pages from memory; they fault back in from the page cache if read).
  virtual void Evict(size_t offset, size_t length) {}
};

// Maps `path` read-only. NotFound if it does not exist.
Result<std::shared_ptr<Source>> MapFile(const std::string& path);
std::shared_ptr<Source> OwnBytes(std::vector<uint8_t> bytes);

class FileReader {
 public:
  static Result<std::unique_ptr<FileReader>> Open(std::shared_ptr<Source> source);
  static Result<std::unique_ptr<FileReader>> Open(const std::string& path);

  const FileMeta& meta() const { return meta_; }
  const Schema& schema() const { return meta_.schema; }
  uint64_t num_rows() const { return meta_.num_rows; }
  uint64_t file_size() const { return source_->size(); }

  // The page index of column c (parsed on first use).
  Result<const ColumnMeta*> Column(size_t c);

  // Decodes whole columns, in parallel across columns and pages.
  Status Read(const std::vector<size_t>& columns, std::vector<OwnedArray>* out);

  // One file's share of a concatenated read: its columns, in output order.
  struct Part {
    FileReader* reader;
    std::vector<size_t> columns;
  };
  // Decodes parts[*].columns[k] of every part into one array per k, the parts' rows one
  // after another (key-disjoint sorted runs read without a merge), straight into the
  // output buffers. InvalidArgument if the parts disagree on a column's type.
  static Status ReadConcat(const std::vector<Part>& parts, std::vector<OwnedArray>* out);

  // Rows at `indices` (any order, repeats allowed, each < num_rows) of the columns.
  Status Take(const std::vector<size_t>& columns, const int64_t* indices, size_t m,
              std::vector<OwnedArray>* out);

  // Rows [begin, end) of the columns (reading a file a window at a time): decodes only
  // the pages that overlap the range, in parallel across columns. A flat column whose
  // pages start at `begin` and end at `end` is decoded page by page, as Read does (point
  // lookups read key pages so); other columns go through the take path.
  Status ReadRange(const std::vector<size_t>& columns, uint64_t begin, uint64_t end,
                   std::vector<OwnedArray>* out);

  // Evicts (Source::Evict) the pages of the columns that hold only rows before `row`:
  // a sequential reader keeps its resident memory bounded. Not safe to call concurrently
  // with itself; reads stay correct.
  void EvictRowsBefore(const std::vector<size_t>& columns, uint64_t row);

 private:
  struct ColumnState {
    std::once_flag once;
    Status status;
    ColumnMeta meta;
    std::unique_ptr<std::atomic<bool>[]> verified;
    size_t evicted = 0;  // pages [0, evicted) were evicted
  };

  FileReader() = default;
  Status VerifyPage(ColumnState* st, size_t page);
  Result<ColumnState*> State(size_t c);
  // Column k of every part (states[k * parts.size() + q]), part q's rows at row_base[q].
  static Status ReadListColumn(const std::vector<Part>& parts, size_t k,
                               const std::vector<uint64_t>& row_base,
                               const std::vector<ColumnState*>& states, OwnedArray* out);
  // Decodes pages [first, last) of flat column c into one array.
  Status DecodePages(size_t c, ColumnState* st, size_t first, size_t last, OwnedArray* out);
  Status TakeColumn(size_t c, const int64_t* idx, const std::vector<uint32_t>& page_of,
                    const std::vector<size_t>& order, OwnedArray* out);

  std::shared_ptr<Source> source_;
  FileMeta meta_;
  std::vector<std::pair<uint64_t, uint32_t>> dir_;
  const uint8_t* footer_ = nullptr;
  uint64_t data_end_ = 0;
  std::vector<std::unique_ptr<ColumnState>> columns_;
};

}  // namespace lamina::format
