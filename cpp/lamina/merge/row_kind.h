// Row kinds and the one rule that folds a key's versions by them.
//
// `_kind` (int8 on disk; these values are the format, docs/tables.md):
//   0  kUpsert  insert or update-after (+I, +U)
//   1  kDelete  delete (-D): hides every older version; non-key columns are null
//   2  kReset   an upsert that also hides every older version (a -D immediately
//               followed by +I); compaction writes it when it folds the versions after
//               a delete but older runs outside its inputs may still hold the key
// update-before (-U) is never stored: a write stores the update-after alone, and the
// merge engine replaces the older version by key. Any other value reads as a delete
// (compaction rejects it as Corruption).
#pragma once

#include <cstddef>
#include <cstdint>

namespace lamina::merge {

enum class RowKind : uint8_t { kUpsert = 0, kDelete = 1, kReset = 2 };

// Row i's kind; a run without a `_kind` column (kinds == nullptr) holds upserts only.
inline RowKind KindAt(const int8_t* kinds, size_t i) {
  return kinds != nullptr ? static_cast<RowKind>(kinds[i]) : RowKind::kUpsert;
}

inline int8_t KindValue(RowKind k) { return static_cast<int8_t>(k); }

// Whether `v` is a stored kind.
inline bool IsRowKind(int8_t v) { return v >= 0 && v <= KindValue(RowKind::kReset); }

// False if any of rows [0, n) is not an upsert: only then does a merge look at the kinds
// (readers pass nullptr for runs of upserts).
inline bool AllUpserts(const int8_t* kinds, size_t n) {
  bool all = true;  // no early exit: the loop vectorizes
  for (size_t i = 0; i < n; ++i) all &= kinds[i] == KindValue(RowKind::kUpsert);
  return all;
}

// Whether a key whose newest version has kind `k` is present.
inline bool KeepsKey(RowKind k) { return k == RowKind::kUpsert || k == RowKind::kReset; }

// The LSM read rule over one key's versions, fed oldest first: only the versions from
// after the newest delete, or from the newest reset row on, count; the key is absent
// when its newest version is a delete.
struct KeyFold {
  bool live = false;    // the versions so far leave the key present
  bool hidden = false;  // a delete or reset row hides older versions
  // Adds the next version; true if it becomes the first version that counts.
  bool Add(RowKind k) {
    if (k == RowKind::kUpsert) {
      bool starts = !live;
      live = true;
      return starts;
    }
    hidden = true;
    live = KeepsKey(k);  // a reset row counts, a delete does not
    return live;
  }
};

}  // namespace lamina::merge
