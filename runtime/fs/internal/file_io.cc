#include "runtime/fs/internal/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/internal/context.h"
#include "runtime/internal/io/io_awaitable.h"
#include "runtime/internal/io/uring_ops.h"
#include "runtime/internal/scheduler.h"
#include "runtime/spawn.h"

namespace tidepool::fs::internal {
namespace {

using tidepool::internal::IoAwaitable;
using tidepool::internal::IoOp;

template <typename F>
auto RetryEintr(F f) {
  decltype(f()) r;
  do {
    r = f();
  } while (r < 0 && errno == EINTR);
  return r;
}

absl::Status Errno(int err, const char* call, const std::string& path) {
  return absl::ErrnoToStatus(err, absl::StrCat(call, " ", path));
}

// A byte count, or the error of a negative result (-errno).
absl::StatusOr<size_t> Count(int64_t result, const char* call,
                             const std::string& path, bool read) {
  if (result >= 0) return static_cast<size_t>(result);
  if (result == -EBUSY) {
    return absl::FailedPreconditionError(
        absl::StrCat(call, " ", path, ": busy: another task is already ",
                     read ? "reading" : "writing", " this file"));
  }
  return Errno(static_cast<int>(-result), call, path);
}

// One file op for the ring, to be awaited (its result: >= 0, or -errno).
// A null source (a closed File) ends it with -EBADF.
IoAwaitable RingOp(IoDriver* driver, IoSource* source, IoOp::Code code,
                   void* buf, size_t len, int64_t offset) {
  IoAwaitable op(driver, source, code);
  op.op().buf = buf;
  op.op().len = len;
  op.op().offset = offset;
  return op;
}

}  // namespace

IoDriver* FileDriver() {
  tidepool::internal::Scheduler* scheduler =
      tidepool::internal::CurrentScheduler();
  if (scheduler == nullptr) return nullptr;
  IoDriver& io = scheduler->io();
  return io.file_ops() ? &io : nullptr;
}

Task<absl::StatusOr<OpenedFile>> Open(std::string path, int flags,
                                      mode_t mode) {
  // The pool call owns what it opens until the task takes it: a task
  // aborted meanwhile leaves nothing open.
  struct Outcome {
    int err = 0;
    const char* call = "open";
    OpenedFile file;
  };
  Outcome out = co_await spawn_blocking([path, flags, mode] {
    Outcome o;
    const int fd = RetryEintr(
        [&] { return ::open(path.c_str(), flags | O_CLOEXEC, mode); });
    if (fd < 0) {
      o.err = errno;
      return o;
    }
    o.file.source.reset(tidepool::internal::NewFileSource(fd));
    struct stat st;
    if (::fstat(fd, &st) < 0) {
      o.err = errno;
      o.call = "fstat";
      o.file.source.reset();
      return o;
    }
    o.file.seekable = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
    o.file.size = static_cast<uint64_t>(st.st_size);
    return o;
  });
  if (out.err != 0) co_return Errno(out.err, out.call, path);
  co_return std::move(out.file);
}

Task<absl::StatusOr<size_t>> Read(IoSource* source, const std::string& path,
                                  std::span<char> buf, int64_t offset,
                                  const char* call) {
  const size_t len = std::min(buf.size(), kMaxTransfer);
  if (IoDriver* driver = FileDriver(); driver != nullptr) {
    // The ring reads into `buf` itself: an aborted read is cancelled, and
    // waited for, before the caller's frame (and buffer) goes.
    const int64_t r = co_await RingOp(driver, source, IoOp::Code::kFileRead,
                                      buf.data(), len, offset);
    co_return Count(r, call, path, /*read=*/true);
  }
  if (source == nullptr) co_return Errno(EBADF, call, path);
  // The pool reads into a buffer of its own, copied out here: the call runs
  // on if the task is aborted, and must not write into a freed buffer.
  std::pair<int64_t, std::string> got =
      co_await spawn_blocking([ref = SourceRef(source), len,
                               offset]() -> std::pair<int64_t, std::string> {
        std::string data(len, '\0');
        const ssize_t r = RetryEintr([&] {
          return offset < 0 ? ::read(ref.fd(), data.data(), len)
                            : ::pread(ref.fd(), data.data(), len, offset);
        });
        if (r < 0) return {-errno, std::string()};
        data.resize(static_cast<size_t>(r));
        return {r, std::move(data)};
      });
  if (got.first > 0) {
    std::memcpy(buf.data(), got.second.data(), got.second.size());
  }
  co_return Count(got.first, call, path, /*read=*/true);
}

Task<absl::StatusOr<size_t>> Write(IoSource* source, const std::string& path,
                                   std::string_view data, int64_t offset,
                                   const char* call) {
  data = data.substr(0, kMaxTransfer);
  if (IoDriver* driver = FileDriver(); driver != nullptr) {
    const int64_t r =
        co_await RingOp(driver, source, IoOp::Code::kFileWrite,
                        const_cast<char*>(data.data()), data.size(), offset);
    co_return Count(r, call, path, /*read=*/false);
  }
  if (source == nullptr) co_return Errno(EBADF, call, path);
  // A copy the call owns, as for Read.
  const int64_t r = co_await spawn_blocking(
      [ref = SourceRef(source), copy = std::string(data), offset]() -> int64_t {
        const ssize_t n = RetryEintr([&] {
          return offset < 0
                     ? ::write(ref.fd(), copy.data(), copy.size())
                     : ::pwrite(ref.fd(), copy.data(), copy.size(), offset);
        });
        return n < 0 ? -errno : n;
      });
  co_return Count(r, call, path, /*read=*/false);
}

Task<absl::Status> Fsync(IoSource* source, const std::string& path) {
  int64_t r;
  if (IoDriver* driver = FileDriver(); driver != nullptr) {
    r = co_await RingOp(driver, source, IoOp::Code::kFsync, nullptr, 0, 0);
  } else if (source == nullptr) {
    r = -EBADF;
  } else {
    r = co_await spawn_blocking([ref = SourceRef(source)]() -> int64_t {
      return RetryEintr([&] { return ::fsync(ref.fd()); }) < 0 ? -errno : 0;
    });
  }
  co_return Count(r, "fsync", path, /*read=*/false).status();
}

}  // namespace tidepool::fs::internal
