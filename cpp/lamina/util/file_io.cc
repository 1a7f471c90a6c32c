#include "lamina/util/file_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <vector>

namespace lamina::io {
namespace {

const char* const kOpNames[kNumOps] = {"create", "write", "fsync", "close",
                                        "unlink", "open",  "mkdir"};

// ---- the fault injector -------------------------------------------------------------

// True while a fault is armed or counting is on. Relaxed is enough: arming happens
// before the operations it targets in the test's own thread of control, and the slow
// path below takes the mutex before it reads anything else.
std::atomic<bool> g_active{false};

struct Armed {
  fault::Spec spec;
  uint64_t start;  // calls[op] when armed
};

struct Injector {
  std::mutex mu;
  std::vector<Armed> armed;
  bool counting = false;
  fault::Stats stats;

  void UpdateActive() { g_active.store(counting || !armed.empty(), std::memory_order_relaxed); }
};

Injector& TheInjector() {
  static Injector* inj = new Injector();  // never destroyed: usable from any exit path
  return *inj;
}

// What one call should do: fail with `err`, or (writes) move at most `limit` bytes.
struct Decision {
  int err = 0;
  size_t limit = std::numeric_limits<size_t>::max();
};

Decision DecideSlow(Op op) {
  Injector& inj = TheInjector();
  std::lock_guard<std::mutex> lock(inj.mu);
  int o = static_cast<int>(op);
  uint64_t n = ++inj.stats.calls[o];
  Decision d;
  for (size_t i = 0; i < inj.armed.size(); ++i) {
    const Armed& a = inj.armed[i];
    if (a.spec.op != op) continue;
    uint64_t k = n - a.start;  // 1 for the first call after arming
    if (k < a.spec.nth) continue;
    bool last = a.spec.times != 0 && k + 1 >= a.spec.nth + a.spec.times;
    if (a.spec.times != 0 && k >= a.spec.nth + a.spec.times) continue;
    if (a.spec.err != 0) {
      d.err = a.spec.err;
    } else {
      d.limit = a.spec.short_bytes;
    }
    ++inj.stats.faults[o];
    if (last) {
      inj.armed.erase(inj.armed.begin() + static_cast<std::ptrdiff_t>(i));
      inj.UpdateActive();
    }
    break;
  }
  return d;
}

inline Decision Decide(Op op) {
  if (!g_active.load(std::memory_order_relaxed)) return Decision();
  return DecideSlow(op);
}

Status Fail(const char* what, const std::string& path, int err) {
  return Status::IOError(std::string(what) + " " + path + ": " + std::strerror(err), err);
}

}  // namespace

const char* OpName(Op op) { return kOpNames[static_cast<int>(op)]; }

bool OpFromName(const std::string& name, Op* op) {
  for (int i = 0; i < kNumOps; ++i) {
    if (name == kOpNames[i]) {
      *op = static_cast<Op>(i);
      return true;
    }
  }
  return false;
}

// ---- WritableFile -------------------------------------------------------------------

Result<WritableFile> WritableFile::Create(const std::string& path) {
  Decision d = Decide(Op::kCreate);
  int fd = -1;
  int err = d.err;
  if (err == 0) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) err = errno;
  }
  if (err == ENOENT) {
    return Status::NotFound("cannot create " + path + ": no such directory", err);
  }
  if (err != 0) return Fail("create", path, err);
  return WritableFile(path, fd);
}

WritableFile::WritableFile(WritableFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_) {
  other.fd_ = -1;
}

WritableFile& WritableFile::operator=(WritableFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

WritableFile::~WritableFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status WritableFile::Append(const void* data, size_t n) {
  if (fd_ < 0) return Status::InvalidArgument("write to a closed file " + path_);
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    Decision d = Decide(Op::kWrite);
    if (d.err != 0) return Fail("write", path_, d.err);
    ssize_t w = ::write(fd_, p, n < d.limit ? n : d.limit);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Fail("write", path_, errno);
    }
    // write(2) returns 0 only for a zero-length request; never spin on it.
    if (w == 0) return Fail("write", path_, EIO);
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

Status WritableFile::Sync() {
  if (fd_ < 0) return Status::InvalidArgument("fsync of a closed file " + path_);
  Decision d = Decide(Op::kFsync);
  if (d.err != 0) return Fail("fsync", path_, d.err);
  if (::fsync(fd_) != 0) return Fail("fsync", path_, errno);
  return Status::OK();
}

Status WritableFile::Close() {
  if (fd_ < 0) return Status::OK();
  Decision d = Decide(Op::kClose);
  int fd = fd_;
  fd_ = -1;
  // Linux releases the descriptor even when close fails: never retry it.
  int rc = ::close(fd);
  int err = d.err != 0 ? d.err : (rc != 0 ? errno : 0);
  if (err != 0) return Fail("close", path_, err);
  return Status::OK();
}

Status RemoveFile(const std::string& path) {
  Decision d = Decide(Op::kUnlink);
  if (d.err != 0) return Fail("unlink", path, d.err);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Fail("unlink", path, errno);
  return Status::OK();
}

Status CreateDirs(const std::string& path) {
  Decision d = Decide(Op::kMkdir);
  if (d.err != 0) return Fail("mkdir", path, d.err);
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Fail("mkdir", path, ec.value());
  return Status::OK();
}

// ---- ReadMapping --------------------------------------------------------------------

Result<ReadMapping> ReadMapping::Open(const std::string& path) {
  Decision d = Decide(Op::kOpen);
  int fd = -1;
  int err = d.err;
  if (err == 0) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) err = errno;
  }
  if (err == ENOENT) return Status::NotFound(path);
  if (err != 0) return Fail("open", path, err);
  struct stat sb;
  if (::fstat(fd, &sb) != 0) {
    err = errno;
    ::close(fd);
    return Fail("stat", path, err);
  }
  if (S_ISDIR(sb.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + " is a directory");
  }
  size_t n = static_cast<size_t>(sb.st_size);
  void* p = nullptr;
  if (n > 0) {
    p = ::mmap(nullptr, n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      err = errno;
      ::close(fd);
      return Fail("mmap", path, err);
    }
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  return ReadMapping(p, n);
}

ReadMapping::ReadMapping(ReadMapping&& other) noexcept : p_(other.p_), n_(other.n_) {
  other.p_ = nullptr;
  other.n_ = 0;
}

ReadMapping& ReadMapping::operator=(ReadMapping&& other) noexcept {
  if (this != &other) {
    if (p_ != nullptr) ::munmap(p_, n_);
    p_ = other.p_;
    n_ = other.n_;
    other.p_ = nullptr;
    other.n_ = 0;
  }
  return *this;
}

ReadMapping::~ReadMapping() {
  if (p_ != nullptr) ::munmap(p_, n_);
}

void ReadMapping::Evict(size_t offset, size_t length) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t lo = (offset + page - 1) / page * page;
  size_t hi = std::min(offset + length, n_) / page * page;
  if (p_ != nullptr && lo < hi) ::madvise(static_cast<uint8_t*>(p_) + lo, hi - lo, MADV_DONTNEED);
}

// ---- fault:: ------------------------------------------------------------------------

namespace fault {

Status Arm(const Spec& spec) {
  int o = static_cast<int>(spec.op);
  if (o < 0 || o >= kNumOps) return Status::InvalidArgument("unknown file operation");
  if (spec.nth == 0) return Status::InvalidArgument("nth counts from 1");
  if (spec.err < 0) return Status::InvalidArgument("errno must be positive");
  if (spec.err == 0 && (spec.op != Op::kWrite || spec.short_bytes == 0)) {
    return Status::InvalidArgument("a fault needs an errno, or short_bytes >= 1 for write");
  }
  Injector& inj = TheInjector();
  std::lock_guard<std::mutex> lock(inj.mu);
  inj.armed.push_back(Armed{spec, inj.stats.calls[o]});
  inj.UpdateActive();
  return Status::OK();
}

void Clear() {
  Injector& inj = TheInjector();
  std::lock_guard<std::mutex> lock(inj.mu);
  inj.armed.clear();
  inj.UpdateActive();
}

void Count(bool enable) {
  Injector& inj = TheInjector();
  std::lock_guard<std::mutex> lock(inj.mu);
  inj.counting = enable;
  inj.UpdateActive();
}

Stats GetStats() {
  Injector& inj = TheInjector();
  std::lock_guard<std::mutex> lock(inj.mu);
  return inj.stats;
}

void ResetStats() {
  Injector& inj = TheInjector();
  std::lock_guard<std::mutex> lock(inj.mu);
  // Armed faults count relative to the calls seen when they were armed: rebase them.
  for (Armed& a : inj.armed) a.start -= inj.stats.calls[static_cast<int>(a.spec.op)];
  inj.stats = Stats();
}

}  // namespace fault
}  // namespace lamina::io
