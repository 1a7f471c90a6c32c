// Compaction of one bucket's sorted runs (table/compact.h). The Python compaction policy
// (python/lamina/compaction.py) picks the runs and commits the result.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <set>

#include "lamina/bindings/arrow_capsules.h"
#include "lamina/bindings/register.h"
#include "lamina/bindings/status_error.h"
#include "lamina/bindings/table_spec.h"
#include "lamina/table/compact.h"

namespace pyb = pybind11;

namespace lamina::py {
namespace {

// Compaction's own options, beside the table's (TableOptionsArg). Write options are
// accepted (and ignored) so callers can pass one table options dict.
const std::initializer_list<const char*> kCompactKeys = {
    "partition_columns", "buckets", "kind",  // write (ignored)
    "directory", "output_dir", "file_prefix", "target_file_size", "sync",
    "drop_deletes", "level", "window_bytes", "window_rows"};

table::CompactRequest ParseCompactOptions(const pyb::dict& d) {
  table::CompactRequest r;
  r.table = TableOptionsArg(d, kCompactKeys);
  for (const char* req : {"directory", "file_prefix"}) {
    if (!d.contains(req)) throw StatusError(Status::InvalidArgument(std::string(req) + " is required"));
  }
  r.directory = pyb::cast<std::string>(pyb::str(d["directory"]));
  r.file_prefix = pyb::cast<std::string>(d["file_prefix"]);
  if (d.contains("output_dir")) r.output_dir = pyb::cast<std::string>(pyb::str(d["output_dir"]));
  if (d.contains("target_file_size")) r.target_file_size = pyb::cast<int64_t>(d["target_file_size"]);
  if (d.contains("sync")) r.sync = pyb::cast<bool>(d["sync"]);
  if (d.contains("drop_deletes")) r.drop_deletes = pyb::cast<bool>(d["drop_deletes"]);
  if (d.contains("level")) r.level = pyb::cast<int>(d["level"]);
  if (d.contains("window_bytes")) r.window_bytes = pyb::cast<uint64_t>(d["window_bytes"]);
  if (d.contains("window_rows")) r.window_rows = pyb::cast<uint64_t>(d["window_rows"]);
  return r;
}

pyb::dict TableCompact(const std::vector<std::pair<std::string, uint64_t>>& files,
                       const pyb::dict& options) {
  table::CompactRequest req = ParseCompactOptions(options);
  std::vector<table::CompactInput> in;
  for (const auto& [path, priority] : files) in.push_back({path, priority});
  table::CompactResult r;
  {
    pyb::gil_scoped_release release;  // decoding, merging, encoding and I/O touch no Python objects
    r = ValueOrThrow(table::Compact(in, std::move(req)));
  }
  pyb::list out;
  for (const table::CompactedFile& f : r.files) {
    pyb::dict d;
    d["path"] = f.path;
    d["row_count"] = f.row_count;
    d["file_size"] = f.file_size;
    d["min_key"] = pyb::bytes(f.min_key);
    d["max_key"] = pyb::bytes(f.max_key);
    d["min_seq"] = f.min_seq;
    d["max_seq"] = f.max_seq;
    d["delete_count"] = f.delete_count;
    out.append(d);
  }
  pyb::dict res;
  res["files"] = out;
  res["rows_in"] = r.rows_in;
  res["rows_out"] = r.rows_out;
  res["bytes_in"] = r.bytes_in;
  res["bytes_out"] = r.bytes_out;
  res["rows_purged"] = r.rows_purged;
  return res;
}

}  // namespace

void RegisterCompact(pyb::module_& m) {
  m.def("table_compact", &TableCompact, pyb::arg("files"), pyb::arg("options"),
        "Merges runs (path, priority) of one bucket, oldest first, into one new sorted run "
        "of key-disjoint files with per-row _seq; returns {files, rows_in, rows_out, "
        "bytes_in, bytes_out, rows_purged}.");
}

}  // namespace lamina::py
