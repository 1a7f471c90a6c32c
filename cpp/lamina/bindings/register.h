// One Register<Area> function per binding file; module.cc only wires them together.
#pragma once

#include <pybind11/pybind11.h>

namespace lamina::py {

void RegisterErrors(pybind11::module_& m);
void RegisterEncoding(pybind11::module_& m);
void RegisterFormat(pybind11::module_& m);
void RegisterTable(pybind11::module_& m);
void RegisterCompact(pybind11::module_& m);
void RegisterIO(pybind11::module_& m);
void RegisterConfig(pybind11::module_& m);
void RegisterTableSpec(pybind11::module_& m);
void RegisterStream(pybind11::module_& m);

}  // namespace lamina::py
