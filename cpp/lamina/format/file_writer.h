// Writes record batches as one lamina file. Each column is encoded on a worker thread
// (the largest first) into its own buffer; columns are laid out one after another, in
// schema order, so that reading a projection touches contiguous bytes. Whichever worker
// completes the next column in schema order appends it to the file while the other
// workers keep encoding, so the copy into the file overlaps the encoding. Bytes go
// through util/file_io.h (the layer tests inject faults into); on any failure the
// partial file is removed and the Status carries the errno.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/format/footer.h"
#include "lamina/util/status.h"

namespace lamina::format {

struct WriteOptions {
  int64_t max_page_rows = 65536;
  int64_t target_page_bytes = 1 << 20;
  bool sync = false;  // fsync the file before returning (its folder is the caller's)
  std::vector<std::pair<std::string, std::string>> file_metadata;
  KeyRange ranges;
};

struct WriteResult {
  uint64_t num_rows = 0;
  uint64_t file_size = 0;
};

// `batches[b][c]` is column c of batch b, matching `schema.fields[c]`.
// REQUIRES: the arrays behind the views stay alive during the call.
Result<WriteResult> WriteFile(const std::string& path, const Schema& schema,
                              const std::vector<std::vector<ArrayView>>& batches,
                              const WriteOptions& options);

// Supplies the columns of one file a piece at a time, on the worker thread that encodes
// the column: a producer can gather a column right before it is encoded (cache-warm)
// instead of materializing the whole file's columns first.
class ColumnSource {
 public:
  using Emit = std::function<Status(const ArrayView&)>;
  virtual ~ColumnSource() = default;
  // Calls `emit` with views that together hold column c's rows in order (a view must
  // stay valid until `emit` returns). Pages do not depend on how the rows are split
  // into views: full pages are encoded from a view in place, and rows short of a page
  // are gathered with the next view's (copied first unless ViewsOutliveEmit); pieces of
  // `page_rows` rows need no gathering for fixed-width columns. Called concurrently for
  // different columns.
  virtual Status Produce(size_t c, int64_t page_rows, const Emit& emit) = 0;
  // True if every view passed to `emit` stays valid until Produce returns.
  virtual bool ViewsOutliveEmit() const { return false; }
};

// Writes `num_rows` rows from `source`, whose column c holds about `raw_bytes[c]`
// uncompressed bytes (orders the work and sizes buffers). The source's pieces are
// trusted to have the schema's types and to add up to num_rows rows per column.
Result<WriteResult> WriteFile(const std::string& path, const Schema& schema, uint64_t num_rows,
                              const std::vector<uint64_t>& raw_bytes, ColumnSource* source,
                              const WriteOptions& options);

// The same, into memory (used by tests and the fuzz harness's seed corpus).
Status EncodeFile(const Schema& schema, const std::vector<std::vector<ArrayView>>& batches,
                  const WriteOptions& options, ByteWriter* out);

}  // namespace lamina::format
