// Status and Result<T>: how errors travel through the core. The binding layer maps
// each code to one Python exception class, exactly once.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace lamina {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // caller passed something unsupported or malformed
  kCorruption = 2,       // bytes read from a file do not describe valid data
  kIOError = 3,          // the operating system refused an operation
  kNotFound = 4,         // a file does not exist
  kSchema = 5,           // data does not match a schema
  kOutOfMemory = 6,      // an allocation failed (std::bad_alloc)
  kUnsupportedVersion = 7,  // a file was written by a newer format version
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return Status(StatusCode::kInvalidArgument, std::move(msg));
  }
  static Status Corruption(std::string msg) {
    return Status(StatusCode::kCorruption, std::move(msg));
  }
  // `os_errno`: what the operating system reported (0: unknown); Python sees it as
  // StorageError.errno.
  static Status IOError(std::string msg, int os_errno = 0) {
    return Status(StatusCode::kIOError, std::move(msg), os_errno);
  }
  static Status NotFound(std::string msg, int os_errno = 0) {
    return Status(StatusCode::kNotFound, std::move(msg), os_errno);
  }
  static Status SchemaError(std::string msg) { return Status(StatusCode::kSchema, std::move(msg)); }
  static Status OutOfMemory(std::string msg) {
    return Status(StatusCode::kOutOfMemory, std::move(msg));
  }
  static Status UnsupportedVersion(std::string msg) {
    return Status(StatusCode::kUnsupportedVersion, std::move(msg));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  int os_errno() const { return os_errno_; }
  // The same status with `prefix` (say, a path and ": ") before its message.
  Status WithPrefix(const std::string& prefix) const {
    return Status(code_, prefix + message_, os_errno_);
  }

 private:
  Status(StatusCode code, std::string msg, int os_errno = 0)
      : code_(code), message_(std::move(msg)), os_errno_(os_errno) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  int os_errno_ = 0;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: REQUIRES: !status.ok()
  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& value() const& { return std::get<T>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace lamina

#define LAMINA_CONCAT_INNER(a, b) a##b
#define LAMINA_CONCAT(a, b) LAMINA_CONCAT_INNER(a, b)

#define LAMINA_RETURN_IF_ERROR(expr)        \
  do {                                      \
    ::lamina::Status _st = (expr);          \
    if (!_st.ok()) return _st;              \
  } while (0)

#define LAMINA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#define LAMINA_ASSIGN_OR_RETURN(lhs, expr) \
  LAMINA_ASSIGN_OR_RETURN_IMPL(LAMINA_CONCAT(_res_, __LINE__), lhs, expr)

// Checks a condition on untrusted bytes; returns Corruption with `msg` when false.
#define LAMINA_CHECK_CORRUPT(cond, msg)                          \
  do {                                                           \
    if (!(cond)) return ::lamina::Status::Corruption(msg);       \
  } while (0)
