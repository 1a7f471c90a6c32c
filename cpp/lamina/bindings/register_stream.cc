// Streaming merged reads of one bucket (table/stream_read.h): Scan.to_batches pulls one
// batch at a time, with the GIL released while the core decodes and merges.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lamina/bindings/arrow_capsules.h"
#include "lamina/bindings/register.h"
#include "lamina/bindings/status_error.h"
#include "lamina/bindings/table_spec.h"
#include "lamina/table/stream_read.h"

namespace pyb = pybind11;

namespace lamina::py {
namespace {

class PyStreamRead {
 public:
  PyStreamRead(const std::vector<std::pair<std::string, uint64_t>>& files,
               const std::vector<std::string>& columns, pyb::object options,
               uint64_t window_bytes, std::optional<pyb::bytes> lo, std::optional<pyb::bytes> hi,
               bool concat, uint64_t window_rows) {
    table::TableOptions o = TableOptionsArg(options, {});
    std::vector<table::ReadFile> rf;
    for (const auto& [path, priority] : files) rf.push_back({path, priority});
    table::KeyBounds b;
    if (lo) {
      b.has_lo = true;
      b.lo = std::string(*lo);
    }
    if (hi) {
      b.has_hi = true;
      b.hi = std::string(*hi);
    }
    pyb::gil_scoped_release release;  // opening maps files and reads footers
    s_ = ValueOrThrow(
        table::StreamRead::Open(rf, columns, std::move(o), window_bytes, b, concat, window_rows));
  }

  // (schema_capsule, array_capsule) of the next batch; None at the end.
  pyb::object Next() {
    table::MergeResult r;
    {
      pyb::gil_scoped_release release;  // decoding and merging touch no Python objects
      r = ValueOrThrow(s_->Next());
    }
    if (r.length == 0) return pyb::none();
    return ExportBatch(r.schema, std::move(r.columns), r.length);
  }

 private:
  std::unique_ptr<table::StreamRead> s_;
};

pyb::list KeyBoundaries(const std::vector<std::pair<std::string, uint64_t>>& files,
                        pyb::object options, size_t k) {
  table::TableOptions o = TableOptionsArg(options, {});
  std::vector<table::ReadFile> rf;
  for (const auto& [path, priority] : files) rf.push_back({path, priority});
  std::vector<std::string> keys;
  {
    pyb::gil_scoped_release release;
    keys = ValueOrThrow(table::KeyBoundaries(rf, std::move(o), k));
  }
  pyb::list out;
  for (const std::string& key : keys) out.append(pyb::bytes(key));
  return out;
}

}  // namespace

void RegisterStream(pyb::module_& m) {
  m.def("table_key_boundaries", &KeyBoundaries, pyb::arg("files"), pyb::arg("options"),
        pyb::arg("k"),
        "Up to k - 1 ascending normalized keys cutting the runs' key space into ranges of "
        "about equal rows.");
  pyb::class_<PyStreamRead>(m, "TableStreamRead",
                            "A merged read of one bucket's files, a batch at a time.")
      .def(pyb::init<const std::vector<std::pair<std::string, uint64_t>>&,
                     const std::vector<std::string>&, pyb::object, uint64_t,
                     std::optional<pyb::bytes>, std::optional<pyb::bytes>, bool, uint64_t>(),
           pyb::arg("files"), pyb::arg("columns"), pyb::arg("options"),
           pyb::arg("window_bytes"), pyb::arg("lo") = pyb::none(), pyb::arg("hi") = pyb::none(),
           pyb::arg("concat") = false, pyb::arg("window_rows") = 0,
           "files: (path, priority) of one bucket, oldest first; window_bytes: decoded bytes "
           "held per file, about; lo/hi: normalized key bounds [lo, hi) (None: open); concat: "
           "the files are key-disjoint, in key order, without deletes (no merge); window_rows: "
           "rows per window then (0: from window_bytes).")
      .def("next", &PyStreamRead::Next,
           "The next batch (schema_capsule, array_capsule) in key order, or None at the end.");
}

}  // namespace lamina::py
