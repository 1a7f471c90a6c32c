// A merged read of one bucket in batches, with bounded memory (Scan.to_batches): the rows
// MergeRead (merge_read.h) returns, in the same order, one round of a windowed merge
// (merge_rounds.h) at a time. It holds about one window of decoded rows per input file
// (window_bytes each) plus one round's merge state and output, whatever the file sizes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lamina/merge/engine.h"
#include "lamina/table/merge_read.h"
#include "lamina/table/merge_rounds.h"
#include "lamina/table/run_columns.h"

namespace lamina::table {

// `k - 1` normalized keys that cut the key space of these runs into k ranges of about
// equal rows (keys of the largest run at evenly spaced rows; fewer if it is small).
Result<std::vector<std::string>> KeyBoundaries(const std::vector<ReadFile>& files,
                                               TableOptions options, size_t k);

class StreamRead {
 public:
  // `files`: the runs of one bucket, oldest first; `columns` as for MergeRead.
  // `bounds`: only keys in [lo, hi) (several reads of disjoint ranges run in parallel).
  // `concat`: the caller knows the files are key-disjoint, hold no deletes and are given
  // in key order (one file, or a run after a full compaction): their windows are the
  // output as decoded, without a merge. Bounds do not apply then. `window_rows` > 0 fixes
  // the rows of those windows (a multiple of the caller's batch size slices into whole
  // batches).
  static Result<std::unique_ptr<StreamRead>> Open(const std::vector<ReadFile>& files,
                                                  const std::vector<std::string>& columns,
                                                  TableOptions options, uint64_t window_bytes,
                                                  const KeyBounds& bounds = KeyBounds{},
                                                  bool concat = false, uint64_t window_rows = 0);

  // The next batch of merged rows (one round's; deleted keys dropped); length 0 when the
  // read is complete.
  Result<MergeResult> Next();

  const Schema& schema() const { return req_.schema; }

 private:
  StreamRead(TableOptions o, uint64_t window_bytes)
      : o_(std::move(o)), window_bytes_(window_bytes), rounds_(o_, window_bytes, 0) {}

  Result<MergeResult> NextConcat();

  TableOptions o_;  // declared before rounds_, which refers to it
  uint64_t window_bytes_;
  uint64_t window_rows_ = 0;
  MergeRounds rounds_;
  bool concat_ = false;
  std::vector<compact_input::Input> files_;  // concat: the files, in key order
  size_t file_ = 0;                           // concat: the file being read
  RequestedColumns req_;
  std::vector<merge::AggFn> fns_;
  MergeRound round_;
};

}  // namespace lamina::table
