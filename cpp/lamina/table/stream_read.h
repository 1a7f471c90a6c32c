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

class StreamRead {
 public:
  // `files`: the runs of one bucket, oldest first; `columns` as for MergeRead.
  static Result<std::unique_ptr<StreamRead>> Open(const std::vector<ReadFile>& files,
                                                  const std::vector<std::string>& columns,
                                                  TableOptions options, uint64_t window_bytes);

  // The next batch of merged rows (one round's; deleted keys dropped); length 0 when the
  // read is complete.
  Result<MergeResult> Next();

  const Schema& schema() const { return req_.schema; }

 private:
  StreamRead(TableOptions o, uint64_t window_bytes)
      : o_(std::move(o)), rounds_(o_, window_bytes, 0) {}

  TableOptions o_;  // declared before rounds_, which refers to it
  MergeRounds rounds_;
  RequestedColumns req_;
  std::vector<merge::AggFn> fns_;
  MergeRound round_;
};

}  // namespace lamina::table
