#include <pybind11/pybind11.h>

#include "lamina/bindings/register.h"
#include "lamina/bindings/status_error.h"
#include "lamina/util/config.h"
#include "lamina/util/thread_pool.h"

namespace pyb = pybind11;

namespace lamina::py {

void RegisterConfig(pyb::module_& m) {
  pyb::class_<Config>(m, "Config")
      .def(pyb::init<>())
      .def_readwrite("threads", &Config::threads)
      .def_readwrite("take_index_bytes", &Config::take_index_bytes)
      .def_readwrite("merge_min_range_rows", &Config::merge_min_range_rows);
  m.def("get_config", &GetConfig);
  // Releases the GIL: a resize waits for the workers to finish tasks of reads in flight.
  m.def(
      "set_config",
      [](const Config& config) {
        Status st;
        {
          pyb::gil_scoped_release release;
          st = SetConfig(config);
        }
        ThrowIfError(st);
      },
      pyb::arg("config"));
  m.def("pool_threads", [] { return ThreadPool::Shared().threads(); });
}

}  // namespace lamina::py
