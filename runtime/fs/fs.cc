#include "runtime/fs/fs.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/fs/internal/file_io.h"
#include "runtime/spawn.h"

namespace tidepool::fs {
namespace {

absl::Status Errno(int err, const char* call, const std::string& path) {
  return absl::ErrnoToStatus(err, absl::StrCat(call, " ", path));
}

// Closes on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int OpenRetrying(const std::string& path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// read_to_string with io_uring: open on the blocking pool, then reads
// straight into the string.
Task<absl::StatusOr<std::string>> ReadOnRing(const std::string& path) {
  absl::StatusOr<internal::OpenedFile> f =
      co_await internal::Open(path, O_RDONLY, 0);
  if (!f.ok()) co_return f.status();
  // The size at open is a hint (the file may change while it is read, and
  // /proc says 0): one byte more, so that the read finding the end needs
  // no bigger buffer.
  std::string out(std::max<uint64_t>(f->size + 1, 4096), '\0');
  size_t filled = 0;
  while (true) {
    if (filled == out.size()) out.resize(out.size() * 2);
    const int64_t at = f->seekable ? static_cast<int64_t>(filled) : -1;
    absl::StatusOr<size_t> n = co_await internal::Read(
        f->source.get(), path,
        std::span<char>(out.data() + filled, out.size() - filled), at, "read");
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    filled += *n;
  }
  out.resize(filled);
  co_return out;
}

// write with io_uring: open on the blocking pool, then writes straight from
// `data`.
Task<absl::Status> WriteOnRing(const std::string& path, std::string_view data) {
  absl::StatusOr<internal::OpenedFile> f =
      co_await internal::Open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!f.ok()) co_return f.status();
  size_t written = 0;
  while (written < data.size()) {
    const int64_t at = f->seekable ? static_cast<int64_t>(written) : -1;
    absl::StatusOr<size_t> n = co_await internal::Write(
        f->source.get(), path, data.substr(written), at, "write");
    if (!n.ok()) co_return n.status();
    if (*n == 0) {
      co_return absl::DataLossError(
          absl::StrCat("write ", path, ": wrote nothing"));
    }
    written += *n;
  }
  co_return absl::OkStatus();
}

}  // namespace

Task<absl::StatusOr<std::string>> read_to_string(std::string path) {
  if (internal::FileDriver() != nullptr) co_return co_await ReadOnRing(path);
  // The blocking pool: the whole job in one call.
  co_return co_await spawn_blocking(
      [path = std::move(path)]() -> absl::StatusOr<std::string> {
        const Fd fd(OpenRetrying(path, O_RDONLY));
        if (fd.get() < 0) return Errno(errno, "open", path);
        std::string out;
        // The size is a hint: the file may change while it is read.
        struct stat st;
        if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) {
          out.reserve(static_cast<size_t>(st.st_size));
        }
        char buf[64 * 1024];
        while (true) {
          const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) return Errno(errno, "read", path);
          if (n == 0) return out;
          out.append(buf, static_cast<size_t>(n));
        }
      });
}

Task<absl::Status> write(std::string path, std::string data) {
  if (internal::FileDriver() != nullptr) {
    co_return co_await WriteOnRing(path, data);
  }
  co_return co_await spawn_blocking(
      [path = std::move(path), data = std::move(data)]() -> absl::Status {
        const Fd fd(OpenRetrying(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
        if (fd.get() < 0) return Errno(errno, "open", path);
        std::string_view left = data;
        while (!left.empty()) {
          const ssize_t n = ::write(fd.get(), left.data(), left.size());
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) return Errno(errno, "write", path);
          left.remove_prefix(static_cast<size_t>(n));
        }
        return absl::OkStatus();
      });
}

Task<absl::Status> remove(std::string path) {
  co_return co_await spawn_blocking([path = std::move(path)]() -> absl::Status {
    if (::remove(path.c_str()) < 0) return Errno(errno, "remove", path);
    return absl::OkStatus();
  });
}

Task<absl::Status> rename(std::string from, std::string to) {
  co_return co_await spawn_blocking(
      [from = std::move(from), to = std::move(to)]() -> absl::Status {
        if (::rename(from.c_str(), to.c_str()) < 0) {
          return Errno(errno, "rename", absl::StrCat(from, " to ", to));
        }
        return absl::OkStatus();
      });
}

Task<absl::Status> create_dir(std::string path) {
  co_return co_await spawn_blocking([path = std::move(path)]() -> absl::Status {
    if (::mkdir(path.c_str(), 0777) < 0) return Errno(errno, "mkdir", path);
    return absl::OkStatus();
  });
}

Task<absl::StatusOr<Metadata>> stat(std::string path) {
  co_return co_await spawn_blocking(
      [path = std::move(path)]() -> absl::StatusOr<Metadata> {
        struct stat st;
        if (::stat(path.c_str(), &st) < 0) return Errno(errno, "stat", path);
        return Metadata::FromStat(st);
      });
}

}  // namespace tidepool::fs
