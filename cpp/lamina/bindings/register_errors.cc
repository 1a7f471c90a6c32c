#include <pybind11/pybind11.h>

#include "lamina/bindings/register.h"
#include "lamina/bindings/status_error.h"

namespace pyb = pybind11;

namespace lamina::py {
namespace {

const char* ClassFor(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return "InvalidArgumentError";
    case StatusCode::kCorruption: return "CorruptFileError";
    case StatusCode::kSchema: return "SchemaError";
    case StatusCode::kNotFound: return nullptr;  // FileNotFoundError
    case StatusCode::kIOError: return nullptr;   // OSError
    case StatusCode::kOk: break;
  }
  return "LaminaError";
}

}  // namespace

void RegisterErrors(pyb::module_& m) {
  pyb::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      const Status& st = e.status();
      if (st.code() == StatusCode::kNotFound) {
        PyErr_SetString(PyExc_FileNotFoundError, st.message().c_str());
        return;
      }
      if (st.code() == StatusCode::kIOError) {
        PyErr_SetString(PyExc_OSError, st.message().c_str());
        return;
      }
      pyb::object cls = pyb::module_::import("lamina.errors").attr(ClassFor(st.code()));
      PyErr_SetString(cls.ptr(), st.message().c_str());
    }
  });
}

}  // namespace lamina::py
