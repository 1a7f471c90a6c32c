#include "lamina/bindings/register.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "lamina's private C++ core. Use the public API in the lamina package.";
  lamina::py::RegisterErrors(m);
  auto enc = m.def_submodule("_encoding", "Encoding kernels, exposed for tests and benchmarks");
  lamina::py::RegisterEncoding(enc);
  lamina::py::RegisterFormat(m);
  lamina::py::RegisterTableSpec(m);
  lamina::py::RegisterTable(m);
  lamina::py::RegisterStream(m);
  lamina::py::RegisterCompact(m);
  lamina::py::RegisterIO(m);
  lamina::py::RegisterConfig(m);
}
