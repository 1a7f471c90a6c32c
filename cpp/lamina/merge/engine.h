// Merge engines: how the versions of one key fold into the row a reader sees.
//
// The versions of a key are ordered oldest to newest (merge order, loser_tree.h). Only
// the versions after the newest delete count; a key whose newest version is a delete is
// absent. Each output column is then folded over those versions by one function:
//
//   deduplicate      every column: last_value (the newest version wins)
//   first_row        every column: first_value (the oldest surviving version wins)
//   partial_update   every non-key column: last_non_null
//   aggregate        per column, as configured (default last_non_null)
//
// Stored rows are partial aggregates (a write collapses its own duplicates, a read or a
// compaction combines files), so every function is associative over consecutive
// versions: count stores partial counts that add up (a written row contributes 1 if its
// input value is non-null, else 0 -- see CountContribution); collect_list concatenates
// lists. sum/min/max ignore nulls and are null only when every input is null. min/max
// also ignore NaN: they are NaN only when every non-null input is NaN, so neither the
// arrival order nor the grouping into partial aggregates changes them (and of equal
// zeros min keeps -0.0, max +0.0).
//
// Functions that pick one version's value (all but sum, count and collect_list) become a
// selection per output row followed by one columnar gather (gather.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/merge/loser_tree.h"
#include "lamina/merge/pod_array.h"
#include "lamina/merge/row_kind.h"
#include "lamina/util/status.h"

namespace lamina::merge {

enum class Engine { kDeduplicate, kFirstRow, kPartialUpdate, kAggregate };

enum class AggFn {
  kLastValue, kLastNonNull, kFirstValue, kFirstNonNull,
  kSum, kMin, kMax, kCount, kBoolAnd, kBoolOr, kCollectList,
};

Result<Engine> ParseEngine(const std::string& name);
Result<AggFn> ParseAggFn(const std::string& name);

// The function that folds non-key column `column` under `engine`. Key columns are never
// folded (all versions share the key); callers use kLastValue for them.
AggFn ColumnFn(Engine engine, const std::string& column,
               const std::map<std::string, AggFn>& aggregates);

// InvalidArgument naming the column if `fn` cannot apply to its type: sum takes integers
// and floats (integers wrap around on overflow, two's complement); min/max integers,
// floats, date32, timestamp, string and binary (not bool: use bool_and/bool_or); count
// int64 (the partial counts it stores); bool_* bool; collect_list list and large_list.
// The other functions take any type. The one validation of aggregate options: Python's
// create_table calls it through the bindings.
Status CheckAggregate(AggFn fn, const Field& field);

// The versions that count for each output key: [begin[g], end[g]) in merge order.
// Not copyable: begin/end may point into its own storage.
struct KeyVersions {
  KeyVersions() = default;
  KeyVersions(const KeyVersions&) = delete;
  KeyVersions& operator=(const KeyVersions&) = delete;
  const uint32_t* run = nullptr;
  const uint32_t* row = nullptr;
  const uint32_t* begin = nullptr;
  const uint32_t* end = nullptr;
  size_t size() const { return n; }

  size_t n = 0;
  PodArray<uint32_t> begin_store, end_store;
};

// For last_value / first_value the version each key keeps does not depend on the column,
// so one selection serves every such column (under deduplicate: all of them).
struct Selection {
  PodArray<uint32_t> run, row;
};
bool IsPositional(AggFn fn);
// REQUIRES: IsPositional(fn)
void SelectPositional(AggFn fn, const KeyVersions& versions, Selection* out);

// How FoldVersions treats deletes (the rule itself is row_kind.h's KeyFold):
//   kRead                drops keys whose newest version is a delete;
//   kCompactKeepMarkers  older runs outside the inputs may still hold the key: a deleted
//                        key keeps its newest delete row (kind kDelete), and a key whose
//                        counted versions follow a delete or reset row is kReset;
//   kCompactPurge        the output is the oldest run: deleted keys are dropped and every
//                        key is kUpsert.
enum class FoldPolicy { kRead, kCompactKeepMarkers, kCompactPurge };

struct FoldedKinds {
  std::vector<RowKind> kind;  // per output key
  // Versions dropped because a delete or reset row hid them, delete rows included
  // (except the one kept per key under kCompactKeepMarkers).
  uint64_t purged = 0;
};

// The versions that count for each output key, and (if `folded`) each key's kind.
// kinds[r] is run r's `_kind` column (nullptr: upserts only; when no run has any, `out`
// shares `merged`'s key boundaries, which must outlive it).
void FoldVersions(const MergedRuns& merged, const std::vector<const int8_t*>& kinds,
                  FoldPolicy policy, KeyVersions* out, FoldedKinds* folded = nullptr);

// For writes (no deletes among the versions): every key, all of its versions.
void AllVersions(const MergedRuns& merged, KeyVersions* out);

// Folds one column. src[r] is run r's array of the column (nullptr: the run lacks the
// column, its values count as null). `positional`, if given, is SelectPositional(fn)
// (saves recomputing it per column). REQUIRES: CheckAggregate(fn, field) passed.
Status FoldColumn(AggFn fn, const DataType& type, const std::vector<const ArrayView*>& src,
                  const KeyVersions& versions, OwnedArray* out,
                  const Selection* positional = nullptr);

// The int64 partial count a newly written value contributes: 1 if valid, else 0.
OwnedArray CountContribution(const ArrayView& input);

}  // namespace lamina::merge
