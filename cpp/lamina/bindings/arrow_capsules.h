// Moving Arrow C structs in and out of PyCapsules (the Arrow PyCapsule interface).
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <vector>

#include "lamina/arrow/array.h"
#include "lamina/arrow/types.h"

namespace lamina::py {

// A stream consumed into memory: its schema and batches, released on destruction.
struct ImportedStream {
  ArrowSchema schema{};
  std::vector<ArrowArray> batches;
  Schema parsed;
  std::vector<std::vector<ArrayView>> views;  // [batch][column]
  ImportedStream() = default;
  ImportedStream(const ImportedStream&) = delete;
  ~ImportedStream();
};

// Takes ownership of the stream inside an "arrow_array_stream" capsule and reads every
// batch. REQUIRES: the GIL is held (the producer may be Python code).
std::unique_ptr<ImportedStream> ImportStream(pybind11::capsule stream_capsule);

// Exports columns as a record batch: returns (schema_capsule, array_capsule).
// Parses an "arrow_schema" capsule or an object with __arrow_c_schema__.
Schema ImportSchemaArg(pybind11::object obj);

pybind11::object ExportSchemaCapsule(const Schema& schema);

pybind11::tuple ExportBatch(const Schema& schema, std::vector<OwnedArray> columns,
                            int64_t length);

}  // namespace lamina::py
