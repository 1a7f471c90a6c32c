#include <pybind11/pybind11.h>

#include <new>
#include <string>

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
    case StatusCode::kIOError: return "StorageError";  // also an OSError
    case StatusCode::kOutOfMemory: return "OutOfMemoryError";  // also a MemoryError
    case StatusCode::kUnsupportedVersion: return "UnsupportedVersionError";
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
      pyb::object cls;
      if (st.code() == StatusCode::kNotFound) {
        cls = pyb::reinterpret_borrow<pyb::object>(PyExc_FileNotFoundError);
      } else {
        cls = pyb::module_::import("lamina.errors").attr(ClassFor(st.code()));
      }
      if (st.os_errno() != 0) {
        // OSError(errno, message) sets .errno and .strerror.
        pyb::tuple args = pyb::make_tuple(st.os_errno(), st.message());
        PyErr_SetObject(cls.ptr(), args.ptr());
        return;
      }
      PyErr_SetString(cls.ptr(), st.message().c_str());
    } catch (const std::bad_alloc&) {
      pyb::object cls = pyb::module_::import("lamina.errors").attr("OutOfMemoryError");
      PyErr_SetString(cls.ptr(), "out of memory");
    }
  });
  // For tests of the translation: an allocation failure is hard to cause on purpose.
  m.def("_raise_bad_alloc", [] { throw std::bad_alloc(); });
  m.def("_raise_status", [](int code, const std::string& msg) {
    switch (static_cast<StatusCode>(code)) {
      case StatusCode::kOutOfMemory: throw StatusError(Status::OutOfMemory(msg));
      case StatusCode::kUnsupportedVersion: throw StatusError(Status::UnsupportedVersion(msg));
      default: throw StatusError(Status::InvalidArgument(msg));
    }
  });
}

}  // namespace lamina::py
