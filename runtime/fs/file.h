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
// Backend: reads, writes and fsyncs go to the runtime's io_uring driver
// when it has one that runs file ops (RuntimeMetrics::fs_backend says
// "io_uring"): the kernel reads into, or writes from, the caller's buffer,
// inline when the page cache serves it and on its own io-wq threads when
// the disk must, so no runtime thread blocks and no data is copied. An
// aborted read or write is cancelled, and waited for, before the task's
// frame goes (a read the kernel has started on the disk may not be
// interruptible: then that wait lasts until it ends). Otherwise (epoll, or a
// kernel without the opcodes; fs_backend "blocking pool") each is one system
// call on the runtime's blocking pool (spawn_blocking), as tokio::fs does: a
// hand-off to a pool thread and back (a few microseconds), and one copy between
// the caller's buffer and one the call owns, since an aborted task's call runs
// on and must not touch a buffer the task has freed. open(), metadata()
// and fs/fs.h's path operations always use the blocking pool. Either way,
// prefer few large operations to many small ones.
//
// The position: read() and write() of a regular file (or block device)
// use a position kept in the File, passed to each call as an explicit
// offset (pread(2), pwrite(2)), not the descriptor's; it starts at 0. A
// file opened to append, and one that cannot seek (a pipe, a FIFO, a
// terminal), use the descriptor's position instead (read(2), write(2)).
// read_at() and write_at() leave both alone.
//
// Who may call: operations are awaited inside tidepool tasks, one at a
// time per File (read() and write() share the position; on io_uring a
// second read, or a second write, while one is in flight fails with
// FailedPrecondition "busy", as on a socket). A File may move between
// tasks, threads and runtimes (each operation uses the backend of the
// runtime it runs in), but not while an operation of it is in flight. close()
// or destruction releases the descriptor; a blocking-pool call still running on
// it (of an aborted task) keeps it open until that call ends.
//
// Errors: absl::ErrnoToStatus of the call's errno, with the call and the
// path in the message ("open /tmp/x: No such file or directory"); after
// close(), "Bad file descriptor" (EBADF).
// File is an AsyncRead and an AsyncWrite (runtime/io_util/stream.h).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/fs/metadata.h"
#include "runtime/task.h"

namespace tidepool::internal {
struct IoSource;
}  // namespace tidepool::internal

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

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  ~File();

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

  // Releases the descriptor now (the destructor does it too); later
  // operations fail with EBADF. close(2) runs on the calling thread, or at
  // the end of a blocking-pool call still holding the descriptor; it does
  // no I/O on a local file system (on NFS it flushes: fsync() first).
  void close();

  const std::string& path() const { return path_; }
  // The descriptor, or -1 after close(). Its position is not the File's
  // (above): use read_at()/write_at() or the File's own calls, not lseek(2).
  int native_handle() const;

 private:
  File(std::string path, ::tidepool::internal::IoSource* source,
       int64_t position)
      : path_(std::move(path)), source_(source), position_(position) {}

  std::string path_;
  // Owns the descriptor (a reference, shared with ops in flight); null
  // once closed or moved from.
  ::tidepool::internal::IoSource* source_ = nullptr;
  // Where read() and write() go next, or -1: the descriptor's position.
  int64_t position_ = -1;
};

}  // namespace tidepool::fs

#endif  // TIDEPOOL_RUNTIME_FS_FILE_H_
