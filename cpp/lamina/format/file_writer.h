// Writes record batches as one lamina file. The whole file is encoded in memory (each
// column on its own thread), then written with one sequential pass: columns are laid
// out one after another so that reading a projection touches contiguous bytes. Bytes
// go through util/file_io.h (the layer tests inject faults into); on any failure the
// partial file is removed and the Status carries the errno.
#pragma once

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

// The same, into memory (used by tests and the fuzz harness's seed corpus).
Status EncodeFile(const Schema& schema, const std::vector<std::vector<ArrayView>>& batches,
                  const WriteOptions& options, ByteWriter* out);

}  // namespace lamina::format
