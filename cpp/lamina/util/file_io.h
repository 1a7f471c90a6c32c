// The file layer the core goes through for local files: create, write, fsync, close and
// unlink of files it writes, mkdir of their folders, and the read-only open+mmap of files
// it reads, with a process-wide fault injector so tests can make any of them fail.
//
// Every failure is an IOError Status that carries the operating system's errno (Python:
// lamina.StorageError with .errno set). Short writes are retried until every byte is
// written; a write that fails (ENOSPC after a run of short writes, say) is an error.
//
// The injector is off by default; the disarmed path costs one relaxed atomic load per
// call. Armed (tests only), it counts calls per operation and makes chosen calls fail:
//
//   io::fault::Arm({io::Op::kWrite, /*nth=*/3, /*times=*/1, ENOSPC, 0});
//     -> the 3rd write(2) call from now fails with ENOSPC, later ones succeed.
//   io::fault::Arm({io::Op::kWrite, 1, 5, 0, /*short_bytes=*/7});
//     -> the next 5 write calls write at most 7 bytes each (the caller must loop).
//
// Call numbers are process-wide: with several threads writing, which file the nth call
// belongs to is not fixed, but exactly one call is the nth.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lamina/util/status.h"

namespace lamina::io {

enum class Op : int {
  kCreate = 0,
  kWrite = 1,
  kFsync = 2,
  kClose = 3,
  kUnlink = 4,
  kOpen = 5,   // MapReadOnly: open, fstat and mmap of a file to read
  kMkdir = 6,  // CreateDirs
};
inline constexpr int kNumOps = 7;

// "create", "write", "fsync", "close", "unlink", "open", "mkdir".
const char* OpName(Op op);
// False if `name` names no operation.
bool OpFromName(const std::string& name, Op* op);

// A file opened for writing. Movable, not copyable; the destructor closes a file that
// is still open (ignoring errors: call Close() to see them).
class WritableFile {
 public:
  // Creates `path` (truncating any file there), mode 0644.
  // NotFound if the folder does not exist; IOError otherwise.
  static Result<WritableFile> Create(const std::string& path);

  WritableFile(WritableFile&& other) noexcept;
  WritableFile& operator=(WritableFile&& other) noexcept;
  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;
  ~WritableFile();

  // Writes all `n` bytes, looping over short writes and EINTR.
  Status Append(const void* data, size_t n);
  // fsync(2): the bytes written so far survive a crash once this returns OK.
  Status Sync();
  // Closes the file. Whatever it returns, the descriptor is released.
  Status Close();

  const std::string& path() const { return path_; }

 private:
  WritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

// Removes `path`; OK if it does not exist.
Status RemoveFile(const std::string& path);

// Creates folder `path` and any missing parents; OK if it exists already.
Status CreateDirs(const std::string& path);

// A whole file mapped read-only. Movable, not copyable; the destructor unmaps it.
class ReadMapping {
 public:
  // NotFound if `path` does not exist; InvalidArgument for a folder; IOError otherwise.
  static Result<ReadMapping> Open(const std::string& path);

  ReadMapping(ReadMapping&& other) noexcept;
  ReadMapping& operator=(ReadMapping&& other) noexcept;
  ReadMapping(const ReadMapping&) = delete;
  ReadMapping& operator=(const ReadMapping&) = delete;
  ~ReadMapping();

  // nullptr for an empty file.
  const uint8_t* data() const { return static_cast<const uint8_t*>(p_); }
  size_t size() const { return n_; }
  // madvise(MADV_DONTNEED) of the whole pages inside [offset, offset + length): the
  // kernel drops them and rereads them from the file if touched again.
  void Evict(size_t offset, size_t length);

 private:
  ReadMapping(void* p, size_t n) : p_(p), n_(n) {}
  void* p_ = nullptr;
  size_t n_ = 0;
};

namespace fault {

struct Spec {
  Op op = Op::kWrite;
  uint64_t nth = 1;     // the first affected call, counted from Arm (1: the next call)
  uint64_t times = 1;   // how many calls in a row are affected; 0: every later call
  int err = 0;          // errno the affected calls fail with; 0: none (see short_bytes)
  size_t short_bytes = 0;  // kWrite with err == 0: write at most this many bytes (>= 1)
};

// Adds a fault; several may be armed at once (the first matching one applies).
// InvalidArgument for a spec that cannot work (nth 0, no errno and no short write,
// a short write on another operation).
Status Arm(const Spec& spec);
// Removes every armed fault (call counting stays as set by Count).
void Clear();
// Counts calls per operation even when no fault is armed.
void Count(bool enable);

struct Stats {
  uint64_t calls[kNumOps] = {};   // calls seen while armed or counting
  uint64_t faults[kNumOps] = {};  // calls that a fault changed (errors and short writes)
};
Stats GetStats();
void ResetStats();

}  // namespace fault
}  // namespace lamina::io
