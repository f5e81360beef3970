#ifndef TIDEPOOL_RUNTIME_FS_FILE_H_
#define TIDEPOOL_RUNTIME_FS_FILE_H_

// fs::File: an open file, read and written from tasks without blocking a
// worker.
//
//   absl::StatusOr<tidepool::fs::File> f = co_await tidepool::fs::File::open(
//       "/tmp/log", {.write = true, .create = true, .append = true});
//   if (!f.ok()) co_return f.status();
//   if (auto s = co_await f->write_all("started\n"); !s.ok()) co_return s;
//   co_return co_await f->fsync();
//
// Implementation: every operation is one system call on the runtime's
// blocking pool (spawn_blocking), as tokio::fs does; io_uring is not used
// for files yet. So each costs a hand-off to a pool thread and back (a few
// microseconds), and a read or write also copies the data once between
// the caller's buffer and one the call owns: an awaiting task can be
// aborted while its call runs on, and the call must not touch a buffer the
// task has freed. Prefer few large operations to many small ones.
//
// Who may call: operations are awaited inside tidepool tasks, one at a
// time per File (read() and write() share the file position; read_at() and
// write_at() do not use it, but the rule keeps it simple). A File may move
// between tasks and threads. Its descriptor is closed when the File and
// any call still running on it are gone.
//
// Errors: absl::ErrnoToStatus of the call's errno, with the call and the
// path in the message ("open /tmp/x: No such file or directory").
// File is an AsyncRead and an AsyncWrite (runtime/io_util/stream.h).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/fs/metadata.h"
#include "runtime/task.h"

namespace tidepool::fs {

// How File::open opens: open(2)'s O_RDONLY/O_WRONLY/O_RDWR from `read` and
// `write`, plus O_CREAT (`create`, with `mode`), O_TRUNC (`truncate`) and
// O_APPEND (`append`, which implies write). Designated initializers read
// well: {.write = true, .create = true, .truncate = true}.
struct OpenOptions {
  bool read = false;
  bool write = false;
  bool create = false;
  bool truncate = false;
  bool append = false;
  uint32_t mode = 0644;
};

class File {
 public:
  // Opens `path`; InvalidArgument when `options` asks for neither reading
  // nor writing.
  static Task<absl::StatusOr<File>> open(std::string path,
                                         OpenOptions options = {.read = true});
  // Opens for writing, created if missing, emptied if not.
  static Task<absl::StatusOr<File>> create(std::string path);

  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;

  // Reads up to buf.size() bytes at the file position; 0 at end of file.
  Task<absl::StatusOr<size_t>> read(std::span<char> buf);
  // Writes some of `data` at the file position (the end, with append).
  Task<absl::StatusOr<size_t>> write(std::string_view data);
  // Writes all of `data`.
  Task<absl::Status> write_all(std::string_view data);
  // pread(2) / pwrite(2): at `offset`, leaving the file position alone.
  Task<absl::StatusOr<size_t>> read_at(std::span<char> buf, uint64_t offset);
  Task<absl::StatusOr<size_t>> write_at(std::string_view data, uint64_t offset);
  // fsync(2): data and metadata on stable storage.
  Task<absl::Status> fsync();
  // fstat(2).
  Task<absl::StatusOr<Metadata>> metadata();

  const std::string& path() const;
  int native_handle() const;

 private:
  struct Handle;
  explicit File(std::shared_ptr<Handle> handle) : handle_(std::move(handle)) {}

  std::shared_ptr<Handle> handle_;
};

}  // namespace tidepool::fs

#endif  // TIDEPOOL_RUNTIME_FS_FILE_H_
