// Streaming merged reads of one bucket (table/stream_read.h): Scan.to_batches pulls one
// batch at a time, with the GIL released while the core decodes and merges.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
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
               uint64_t window_bytes) {
    table::TableOptions o = TableOptionsArg(options, {});
    std::vector<table::ReadFile> rf;
    for (const auto& [path, priority] : files) rf.push_back({path, priority});
    pyb::gil_scoped_release release;  // opening maps files and reads footers
    s_ = ValueOrThrow(table::StreamRead::Open(rf, columns, std::move(o), window_bytes));
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

}  // namespace

void RegisterStream(pyb::module_& m) {
  pyb::class_<PyStreamRead>(m, "TableStreamRead",
                            "A merged read of one bucket's files, a batch at a time.")
      .def(pyb::init<const std::vector<std::pair<std::string, uint64_t>>&,
                     const std::vector<std::string>&, pyb::object, uint64_t>(),
           pyb::arg("files"), pyb::arg("columns"), pyb::arg("options"),
           pyb::arg("window_bytes"),
           "files: (path, priority) of one bucket, oldest first; window_bytes: decoded bytes "
           "held per file, about.")
      .def("next", &PyStreamRead::Next,
           "The next batch (schema_capsule, array_capsule) in key order, or None at the end.");
}

}  // namespace lamina::py
