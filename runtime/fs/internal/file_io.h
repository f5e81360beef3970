#ifndef TIDEPOOL_RUNTIME_FS_INTERNAL_FILE_IO_H_
#define TIDEPOOL_RUNTIME_FS_INTERNAL_FILE_IO_H_

// The descriptor operations behind fs::File and fs/fs.h, each run on one of
// two backends chosen per operation from the calling task's runtime: its
// io_uring driver when that runs file ops (IoDriver::file_ops), else the
// blocking pool. docs/architecture.md, "Streams and files".
//
// Inside tidepool tasks. The coroutines take `path` and `buf` by reference:
// await them at once, from the frame that owns both.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/io/io_driver.h"
#include "runtime/task.h"

namespace tidepool::fs::internal {

using tidepool::internal::IoDriver;
using tidepool::internal::IoSource;

// Drops its reference on a source.
struct SourceUnref {
  void operator()(IoSource* source) const { source->Unref(); }
};
using SourcePtr = std::unique_ptr<IoSource, SourceUnref>;

// A reference on a source for a blocking-pool call, which may outlive the
// File and the task (aborting a task does not stop its call): the
// descriptor stays open, so its number names no other file meanwhile.
class SourceRef {
 public:
  explicit SourceRef(IoSource* source) : source_(source) { source_->Ref(); }
  SourceRef(SourceRef&& other) noexcept
      : source_(std::exchange(other.source_, nullptr)) {}
  SourceRef& operator=(SourceRef&&) = delete;
  ~SourceRef() {
    if (source_ != nullptr) source_->Unref();
  }
  int fd() const { return source_->fd; }

 private:
  IoSource* source_;
};

// A descriptor just opened: the source that owns it (NewFileSource), and
// what fstat(2) said then.
struct OpenedFile {
  SourcePtr source;
  // A regular file or a block device: reads and writes take an offset.
  // Otherwise (a pipe, a FIFO, a terminal) they use the descriptor's
  // position, which is all such a file has.
  bool seekable = false;
  uint64_t size = 0;
};

// The backend that serves file ops for the calling task: the runtime's I/O
// driver if it runs them, else null (the blocking pool). Null outside a
// runtime too; the blocking pool then reports the error.
IoDriver* FileDriver();

// open(2) with O_CLOEXEC added, then fstat(2), in one blocking-pool call
// (io_uring is not used for opening). Errors name the call and the path.
Task<absl::StatusOr<OpenedFile>> Open(std::string path, int flags, mode_t mode);

// Reads up to buf.size() bytes (at most kMaxTransfer) at `offset`, or at
// the descriptor's position when `offset` is -1 (which moves it). Null
// `source` (a closed File): EBADF. Errors are "<call> <path>: <strerror>";
// FailedPrecondition ("busy") if another op of the same side is in flight.
Task<absl::StatusOr<size_t>> Read(IoSource* source, const std::string& path,
                                  std::span<char> buf, int64_t offset,
                                  const char* call);
// Writes up to data.size() bytes (at most kMaxTransfer), as Read does.
Task<absl::StatusOr<size_t>> Write(IoSource* source, const std::string& path,
                                   std::string_view data, int64_t offset,
                                   const char* call);
// fsync(2).
Task<absl::Status> Fsync(IoSource* source, const std::string& path);

// The most one Read or Write moves: Linux's own limit for a read(2) or
// write(2) (MAX_RW_COUNT), which also keeps the count in io_uring's 32-bit
// result.
inline constexpr size_t kMaxTransfer = 0x7ffff000;

}  // namespace tidepool::fs::internal

#endif  // TIDEPOOL_RUNTIME_FS_INTERNAL_FILE_IO_H_
