// The inputs of a compaction (compact.h): each input file opened, its columns resolved
// against the table, and read a window of rows at a time, with the key bounds a round of
// the merge needs. Internal to compact.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/format/file_reader.h"
#include "lamina/table/compact.h"
#include "lamina/table/options.h"
#include "lamina/util/status.h"

namespace lamina::table::compact_input {

// Rows [a, a + len) of view v.
ArrayView SliceView(const ArrayView& v, uint64_t a, uint64_t len);

// The normalized key of row i of the key columns `keys`.
Result<std::string> KeyOf(const std::vector<ArrayView>& keys, size_t nk,
                          const std::vector<std::string>& names, uint64_t i);

// The first row of `reader`'s file whose key (file columns `key_cols`, in key order) is
// >= `key`, by binary search decoding single keys through the take path; num_rows if none.
Result<uint64_t> LowerBoundRow(format::FileReader& reader, const std::vector<size_t>& key_cols,
                               const TableOptions& o, const std::string& key);

// One input file, read a window of rows at a time.
struct Input {
  std::string path;
  uint64_t priority = 0;
  std::unique_ptr<format::FileReader> reader;
  uint64_t num_rows = 0, file_size = 0;
  std::vector<size_t> cols;  // file columns read: keys (in key order), _kind, _seq, values
  int kind_at = -1, seq_at = -1;
  std::vector<int> at_of;  // table column -> index into arrays (-1: the file lacks it)
  std::vector<size_t> defaults;  // table columns the file lacks that have a default: their
                                 // arrays follow those of cols, in this order
  bool has_min_key = false;
  std::string min_key;  // footer range: no row has a smaller key (checked on read)
  uint64_t window_rows = 0;  // rows per window (the first window: see Open)
  uint64_t row_bytes = 0;  // decoded bytes per row, measured on the first window
  bool loaded = false;     // a window has been decoded
  uint64_t win_begin = 0, win_end = 0, cursor = 0;  // rows [cursor, win_end) are pending
  std::vector<OwnedArray> arrays;
  std::vector<ArrayView> views;
  std::string last_key;  // key of row win_end - 1
  std::string prev_key;  // key of the last row consumed
  bool consumed_any = false;

  bool undecoded() const { return win_end < num_rows; }
  bool remaining() const { return cursor < win_end; }
};

// Opens `f` and resolves its columns; decodes nothing yet. `wanted` (optional): the table
// columns to decode besides the keys; the others stay absent (at_of -1).
Status OpenInput(const CompactInput& f, const TableOptions& o, const std::vector<bool>* wanted,
                 Input* in);

// Decodes the next window of `in` (the previous one must be consumed). The first window
// measures the row size, which sets the rows of later windows: window_bytes / row size,
// clamped to [4096, 65536], or fixed_rows if positive. Corruption for a bad `_kind`,
// null `_kind`/`_seq`, or a first key below the footer's key range.
Status LoadWindow(Input* in, const TableOptions& o, uint64_t window_bytes, uint64_t fixed_rows);

// Drops the window and unmaps the file.
void ReleaseInput(Input* in);

// Which keys a round takes: everything, keys <= key (inclusive) or keys < key.
struct Cutoff {
  bool unbounded = true;
  bool inclusive = true;
  std::string key;
};

bool Within(const std::string& k, const Cutoff& c);

// The end of the rows of `in`'s window that a round with cutoff `c` takes.
Result<uint64_t> RoundEnd(const Input& in, const TableOptions& o, const Cutoff& c);

}  // namespace lamina::table::compact_input
