// Decodes page bodies (see page_writer.h for their grammar) into pre-sized output
// arrays, either whole (Decode*) or at selected rows (Take*). Page bytes are untrusted.
#pragma once

#include <cstdint>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/util/bytes.h"
#include "lamina/util/status.h"

namespace lamina::format {

// Upper bound on rows in one page, and on child values per page byte, so that a
// corrupt page cannot make the reader allocate more than the file justifies.
constexpr uint64_t kMaxPageRows = 1u << 20;
uint64_t MaxChildValues(uint64_t page_bytes);

// Output for decoding: `arr` has buffers sized for the whole column (validity bits,
// values or offsets); binary bytes are appended to `data`.
struct Sink {
  OwnedArray* arr = nullptr;
  std::vector<uint8_t>* data = nullptr;  // binary-like only
};

// Allocates `arr`'s buffers for `length` rows of type `type` (children of lists are
// allocated later, once their length is known). Without `validity` no bitmap is
// allocated: DecodeValidity allocates it at the first page that holds a null.
void PrepareArray(const DataType& type, int64_t length, OwnedArray* arr, bool validity = true);

// True when the validity stream at `in` (not consumed) marks all n rows valid: a
// constant bitmap of ones, as writers emit for pages without nulls.
bool AllValid(const ByteReader& in, size_t n);

// Decodes the validity stream of n rows into sink rows [at, at + n). Without a bitmap
// (arr->validity null: every row so far is valid), an all-valid stream is skipped; else,
// if `lazy`, the bitmap is allocated with rows [0, at) valid (callers decode in row order,
// one thread per array), and if not, the stream is Corruption (a caller that checked
// AllValid first).
Status DecodeValidity(ByteReader* in, size_t n, OwnedArray* arr, size_t at, bool lazy = false);

// Decodes the values of a non-list type for n rows into rows [at, at + n).
Status DecodeValues(const DataType& type, ByteReader* in, size_t n, Sink sink, size_t at);

// Takes rows idx[0..m) (page-local, each < n) of a non-list type's values into rows
// [at, at + m) of the sink.
Status TakeValues(const DataType& type, ByteReader* in, size_t n, const uint32_t* idx, size_t m,
                  Sink sink, size_t at);
Status TakeValidity(ByteReader* in, size_t n, const uint32_t* idx, size_t m, OwnedArray* arr,
                    size_t at);

// Sets null_count from the validity bits and drops the bitmap when nothing is null.
void FinishNulls(OwnedArray* arr);

// Gathers rows idx[0..m) of an in-memory array into a new array.
OwnedArray GatherArray(const OwnedArray& src, const int64_t* idx, size_t m);

}  // namespace lamina::format
