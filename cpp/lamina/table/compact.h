// Compaction of one bucket: merges some or all of its sorted runs into one new sorted run
// of key-disjoint files, folding each key's versions with the merge engine exactly as a
// merge-on-read does (merge_read.h), except that
//
//   - every output row carries `_seq`: the sequence of the newest version it folds, so a
//     write committed while the compaction ran (larger priority) still wins over it;
//   - with drop_deletes (the inputs are every run of the bucket: the output is the oldest
//     run), deleted keys and every version they hide are dropped physically;
//   - without drop_deletes, older runs outside the inputs may still hold versions of a
//     key, so: a key whose newest version is a delete is written as a delete row
//     (`_kind` 1, values null, `_seq` of that delete); a key whose fold starts after a
//     delete (or at a reset row) within the inputs is written with `_kind` 2, an upsert
//     that hides every older version (merge/row_kind.h: RowKind::kReset).
//
// Streaming: inputs are decoded a window of rows at a time (FileReader::ReadRange), never
// whole. Memory is bounded by
//     (number of inputs) x (one window: about window_bytes of decoded rows, at least 4096
//                           rows, at most 65536 rows)
//   + one round's merge state (selection + folded rows: about one window per input)
//   + one output file's rows, decoded (about target_file_size / compression ratio) and
//     encoded (about target_file_size) while it is written.
// Input files are memory mapped; their pages are page cache (reclaimable, and released
// when an input is finished), not heap.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lamina/table/options.h"
#include "lamina/util/status.h"

namespace lamina::table {

struct CompactInput {
  std::string path;       // absolute
  uint64_t priority = 0;  // sequence of rows of a file without `_seq`
};

struct CompactRequest {
  TableOptions table;
  std::string directory;   // table root
  std::string output_dir;  // relative to directory, e.g. data/p=x/bucket-0
  std::string file_prefix;
  int64_t target_file_size = 128 << 20;  // bytes on disk, about
  bool sync = false;
  bool drop_deletes = false;
  int level = 0;  // informational
  // Decoded bytes per input window, about: window rows = window_bytes / row size,
  // clamped to [4096, 65536]. window_rows > 0 fixes the rows instead (tests).
  uint64_t window_bytes = 8 << 20;
  uint64_t window_rows = 0;
};

struct CompactedFile {
  std::string path;  // relative to directory
  uint64_t row_count = 0;
  uint64_t file_size = 0;
  std::string min_key, max_key;  // normalized key bytes
  uint64_t min_seq = 0, max_seq = 0;
  uint64_t delete_count = 0;  // rows of `_kind` 1
};

struct CompactResult {
  std::vector<CompactedFile> files;  // in key order: <prefix>-0, -1, ...
  uint64_t rows_in = 0, rows_out = 0;
  uint64_t bytes_in = 0, bytes_out = 0;  // file sizes
  // Input rows dropped because a delete (or reset row) hid them, delete rows included
  // (except the delete row kept per key without drop_deletes). rows_in - rows_out -
  // rows_purged versions were folded into other rows.
  uint64_t rows_purged = 0;
};

// `files` are runs of one bucket, oldest first (ties of sequence go to the later file).
// On failure, outputs written so far are removed.
Result<CompactResult> Compact(const std::vector<CompactInput>& files, CompactRequest request);

}  // namespace lamina::table
