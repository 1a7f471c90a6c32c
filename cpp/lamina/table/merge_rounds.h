// A windowed merge of the sorted runs of one bucket, a round at a time: the engine under
// compaction (compact.h) and streaming merged reads (stream_read.h).
//
// Each input is decoded a window of rows at a time (compact_input.h). A round takes, from
// every input, the rows whose keys are at most a cutoff chosen so that every version of
// those keys is decoded (in a window now, or consumed before), and merges them by key,
// then sequence. The caller folds the round's versions with its policy (compaction keeps
// delete markers or purges, a read drops deleted keys). Memory is bounded by one window
// per input plus one round's merge state, whatever the size of the files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lamina/merge/key.h"
#include "lamina/merge/loser_tree.h"
#include "lamina/table/compact.h"
#include "lamina/table/compact_input.h"
#include "lamina/table/options.h"
#include "lamina/util/status.h"

namespace lamina::table {

// The rows of one input a round takes.
struct RoundSlice {
  size_t input;
  uint64_t begin, end;  // file rows
  std::vector<ArrayView> views;  // the input's columns (Input::cols, then defaults)
  merge::NormalizedKeys keys;
};

// One round: the slices and their merged versions.
struct MergeRound {
  std::vector<RoundSlice> slices;
  merge::MergedRuns merged;
  std::vector<const int8_t*> kinds;  // per slice: its `_kind` values, nullptr for upserts only
  merge::RunSeqs seqs;
};

// A key range [lo, hi) of normalized keys; an absent bound is open.
struct KeyBounds {
  bool has_lo = false, has_hi = false;
  std::string lo, hi;
};

// The first row of `in`'s file whose key is >= `key` (binary search, decoding single keys
// through the take path; num_rows if none). REQUIRES: `in` opened, not loaded.
Result<uint64_t> LowerBound(const compact_input::Input& in, const TableOptions& o,
                            const std::string& key);

class MergeRounds {
 public:
  // window_bytes / window_rows: as in CompactRequest.
  MergeRounds(const TableOptions& o, uint64_t window_bytes, uint64_t window_rows)
      : o_(o), window_bytes_(window_bytes), window_rows_(window_rows) {}

  // Opens the inputs (runs of one bucket, oldest first). `wanted`, if given, names the
  // table columns to decode besides the keys (the others read as absent: at_of -1).
  // `bounds`, if given, restricts every input to the rows of keys in [lo, hi).
  Status Open(const std::vector<CompactInput>& files, const std::vector<bool>* wanted,
              const KeyBounds* bounds = nullptr);

  // The next round into `round` (its views stay valid until the next call); false when
  // every input is consumed. Inputs finished by the previous round are released first.
  Result<bool> Next(MergeRound* round);

  const std::vector<compact_input::Input>& inputs() const { return in_; }

 private:
  Status LoadAll(const std::vector<size_t>& which);
  Status PlanRound(compact_input::Cutoff* cut, bool* finished);
  Status TakeSlices(const compact_input::Cutoff& cut, std::vector<RoundSlice>* sl);

  const TableOptions& o_;
  uint64_t window_bytes_, window_rows_;
  size_t nk_ = 0;
  std::vector<compact_input::Input> in_;
  std::string prev_round_key_;
  bool any_round_ = false;
};

}  // namespace lamina::table
