// Carries a non-OK Status out of a binding; register_errors.cc translates it into the
// matching lamina.errors exception class (the one place that mapping lives).
#pragma once

#include <stdexcept>

#include "lamina/util/status.h"

namespace lamina::py {

class StatusError : public std::runtime_error {
 public:
  explicit StatusError(Status st) : std::runtime_error(st.message()), status_(std::move(st)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

inline void ThrowIfError(const Status& st) {
  if (!st.ok()) throw StatusError(st);
}

template <typename T>
T ValueOrThrow(Result<T> r) {
  if (!r.ok()) throw StatusError(r.status());
  return std::move(r).value();
}

}  // namespace lamina::py
