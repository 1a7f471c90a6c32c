// Private hooks into the core's file layer (util/file_io.h), for fault-injection tests:
// arm "the nth call of an operation fails with errno E" or "writes come back short",
// and read how many calls and injected faults each operation saw.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "lamina/bindings/register.h"
#include "lamina/bindings/status_error.h"
#include "lamina/util/file_io.h"

namespace pyb = pybind11;

namespace lamina::py {
namespace {

io::Op ParseOp(const std::string& name) {
  io::Op op;
  if (!io::OpFromName(name, &op)) {
    throw StatusError(Status::InvalidArgument(
        "unknown file operation '" + name + "' (create, write, fsync, close or unlink)"));
  }
  return op;
}

pyb::dict StatsDict() {
  io::fault::Stats s = io::fault::GetStats();
  pyb::dict calls, faults;
  for (int i = 0; i < io::kNumOps; ++i) {
    const char* name = io::OpName(static_cast<io::Op>(i));
    calls[name] = s.calls[i];
    faults[name] = s.faults[i];
  }
  pyb::dict d;
  d["calls"] = calls;
  d["faults"] = faults;
  return d;
}

}  // namespace

void RegisterIO(pyb::module_& m) {
  m.def(
      "_io_fault_arm",
      [](const std::string& op, uint64_t nth, uint64_t times, int err, size_t short_bytes) {
        io::fault::Spec spec;
        spec.op = ParseOp(op);
        spec.nth = nth;
        spec.times = times;
        spec.err = err;
        spec.short_bytes = short_bytes;
        ThrowIfError(io::fault::Arm(spec));
      },
      pyb::arg("op"), pyb::arg("nth") = 1, pyb::arg("times") = 1, pyb::arg("errno") = 0,
      pyb::arg("short_bytes") = 0,
      "Arms a fault: calls nth .. nth+times-1 (counted from now; times=0: all later "
      "ones) of `op` fail with `errno`, or, for write with errno 0, write at most "
      "`short_bytes` bytes.");
  m.def("_io_fault_clear", &io::fault::Clear, "Disarms every fault.");
  m.def("_io_count", &io::fault::Count, pyb::arg("enable"),
        "Counts file operations even when no fault is armed.");
  m.def("_io_stats", &StatsDict,
        "{'calls': {op: n}, 'faults': {op: n}} seen while armed or counting.");
  m.def("_io_stats_reset", &io::fault::ResetStats, "Zeroes the call and fault counters.");
}

}  // namespace lamina::py
