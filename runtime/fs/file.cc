#include "runtime/fs/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/spawn.h"

namespace tidepool::fs {

// The descriptor, shared by the File and the calls running on it.
struct File::Handle {
  Handle(int fd, std::string path) : fd(fd), path(std::move(path)) {}
  ~Handle() { ::close(fd); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  const int fd;
  const std::string path;
};

namespace {

absl::Status Errno(int err, const char* call, const std::string& path) {
  return absl::ErrnoToStatus(err, absl::StrCat(call, " ", path));
}

template <typename F>
auto RetryEintr(F f) {
  decltype(f()) r;
  do {
    r = f();
  } while (r < 0 && errno == EINTR);
  return r;
}

}  // namespace

Task<absl::StatusOr<File>> File::open(std::string path, OpenOptions options) {
  const bool write = options.write || options.append;
  if (!options.read && !write) {
    co_return absl::InvalidArgumentError(absl::StrCat(
        "open ", path, ": OpenOptions asks for neither read nor write"));
  }
  int flags = O_CLOEXEC;
  flags |= options.read && write ? O_RDWR : write ? O_WRONLY : O_RDONLY;
  if (options.create) flags |= O_CREAT;
  if (options.truncate) flags |= O_TRUNC;
  if (options.append) flags |= O_APPEND;
  const uint32_t mode = options.mode;
  absl::StatusOr<std::shared_ptr<Handle>> h = co_await spawn_blocking(
      [path = std::move(path), flags,
       mode]() -> absl::StatusOr<std::shared_ptr<Handle>> {
        const int fd =
            RetryEintr([&] { return ::open(path.c_str(), flags, mode); });
        if (fd < 0) return Errno(errno, "open", path);
        return std::make_shared<Handle>(fd, path);
      });
  if (!h.ok()) co_return h.status();
  co_return File(*std::move(h));
}

Task<absl::StatusOr<File>> File::create(std::string path) {
  return open(std::move(path),
              {.write = true, .create = true, .truncate = true});
}

Task<absl::StatusOr<size_t>> File::read(std::span<char> buf) {
  absl::StatusOr<std::string> got = co_await spawn_blocking(
      [h = handle_, n = buf.size()]() -> absl::StatusOr<std::string> {
        std::string data(n, '\0');
        const ssize_t r =
            RetryEintr([&] { return ::read(h->fd, data.data(), n); });
        if (r < 0) return Errno(errno, "read", h->path);
        data.resize(static_cast<size_t>(r));
        return data;
      });
  if (!got.ok()) co_return got.status();
  std::memcpy(buf.data(), got->data(), got->size());
  co_return got->size();
}

Task<absl::StatusOr<size_t>> File::write(std::string_view data) {
  co_return co_await spawn_blocking(
      [h = handle_, data = std::string(data)]() -> absl::StatusOr<size_t> {
        const ssize_t r = RetryEintr(
            [&] { return ::write(h->fd, data.data(), data.size()); });
        if (r < 0) return Errno(errno, "write", h->path);
        return static_cast<size_t>(r);
      });
}

Task<absl::Status> File::write_all(std::string_view data) {
  co_return co_await spawn_blocking(
      [h = handle_, data = std::string(data)]() -> absl::Status {
        std::string_view left = data;
        while (!left.empty()) {
          const ssize_t r = RetryEintr(
              [&] { return ::write(h->fd, left.data(), left.size()); });
          if (r < 0) return Errno(errno, "write", h->path);
          left.remove_prefix(static_cast<size_t>(r));
        }
        return absl::OkStatus();
      });
}

Task<absl::StatusOr<size_t>> File::read_at(std::span<char> buf,
                                           uint64_t offset) {
  absl::StatusOr<std::string> got = co_await spawn_blocking(
      [h = handle_, n = buf.size(), offset]() -> absl::StatusOr<std::string> {
        std::string data(n, '\0');
        const ssize_t r = RetryEintr([&] {
          return ::pread(h->fd, data.data(), n, static_cast<off_t>(offset));
        });
        if (r < 0) return Errno(errno, "pread", h->path);
        data.resize(static_cast<size_t>(r));
        return data;
      });
  if (!got.ok()) co_return got.status();
  std::memcpy(buf.data(), got->data(), got->size());
  co_return got->size();
}

Task<absl::StatusOr<size_t>> File::write_at(std::string_view data,
                                            uint64_t offset) {
  co_return co_await spawn_blocking([h = handle_, data = std::string(data),
                                     offset]() -> absl::StatusOr<size_t> {
    const ssize_t r = RetryEintr([&] {
      return ::pwrite(h->fd, data.data(), data.size(),
                      static_cast<off_t>(offset));
    });
    if (r < 0) return Errno(errno, "pwrite", h->path);
    return static_cast<size_t>(r);
  });
}

Task<absl::Status> File::fsync() {
  co_return co_await spawn_blocking([h = handle_]() -> absl::Status {
    if (RetryEintr([&] { return ::fsync(h->fd); }) < 0) {
      return Errno(errno, "fsync", h->path);
    }
    return absl::OkStatus();
  });
}

Task<absl::StatusOr<Metadata>> File::metadata() {
  co_return co_await spawn_blocking(
      [h = handle_]() -> absl::StatusOr<Metadata> {
        struct stat st;
        if (::fstat(h->fd, &st) < 0) return Errno(errno, "fstat", h->path);
        return Metadata::FromStat(st);
      });
}

const std::string& File::path() const { return handle_->path; }

int File::native_handle() const { return handle_->fd; }

}  // namespace tidepool::fs
