#include "runtime/fs/file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/fs/internal/file_io.h"
#include "runtime/spawn.h"

namespace tidepool::fs {

Task<absl::StatusOr<File>> File::open(std::string path, OpenOptions options) {
  const bool write = options.write || options.append;
  if (!options.read && !write) {
    co_return absl::InvalidArgumentError(absl::StrCat(
        "open ", path, ": OpenOptions asks for neither read nor write"));
  }
  int flags = options.read && write ? O_RDWR : write ? O_WRONLY : O_RDONLY;
  if (options.create) flags |= O_CREAT;
  if (options.truncate) flags |= O_TRUNC;
  if (options.append) flags |= O_APPEND;
  absl::StatusOr<internal::OpenedFile> opened =
      co_await internal::Open(path, flags, options.mode);
  if (!opened.ok()) co_return opened.status();
  // Appending writes go to the end wherever the offset says, so the File
  // could not know its position: the descriptor keeps it.
  const int64_t position = opened->seekable && !options.append ? 0 : -1;
  co_return File(std::move(path), opened->source.release(), position);
}

Task<absl::StatusOr<File>> File::create(std::string path) {
  return open(std::move(path),
              {.write = true, .create = true, .truncate = true});
}

File::File(File&& other) noexcept
    : path_(std::move(other.path_)),
      source_(std::exchange(other.source_, nullptr)),
      position_(other.position_) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    source_ = std::exchange(other.source_, nullptr);
    position_ = other.position_;
  }
  return *this;
}

File::~File() { close(); }

void File::close() {
  if (source_ != nullptr) std::exchange(source_, nullptr)->Unref();
}

int File::native_handle() const {
  return source_ != nullptr ? source_->fd : -1;
}

Task<absl::StatusOr<size_t>> File::read(std::span<char> buf) {
  absl::StatusOr<size_t> n =
      co_await internal::Read(source_, path_, buf, position_, "read");
  if (n.ok() && position_ >= 0) position_ += static_cast<int64_t>(*n);
  co_return n;
}

Task<absl::StatusOr<size_t>> File::write(std::string_view data) {
  absl::StatusOr<size_t> n =
      co_await internal::Write(source_, path_, data, position_, "write");
  if (n.ok() && position_ >= 0) position_ += static_cast<int64_t>(*n);
  co_return n;
}

Task<absl::Status> File::write_all(std::string_view data) {
  while (!data.empty()) {
    absl::StatusOr<size_t> n = co_await write(data);
    if (!n.ok()) co_return n.status();
    // A regular file takes some of every write; guard against one that
    // takes none rather than loop forever.
    if (*n == 0) {
      co_return absl::DataLossError(
          absl::StrCat("write ", path_, ": wrote nothing"));
    }
    data.remove_prefix(*n);
  }
  co_return absl::OkStatus();
}

Task<absl::StatusOr<size_t>> File::read_at(std::span<char> buf,
                                           uint64_t offset) {
  return internal::Read(source_, path_, buf, static_cast<int64_t>(offset),
                        "pread");
}

Task<absl::StatusOr<size_t>> File::write_at(std::string_view data,
                                            uint64_t offset) {
  return internal::Write(source_, path_, data, static_cast<int64_t>(offset),
                         "pwrite");
}

Task<absl::Status> File::fsync() { return internal::Fsync(source_, path_); }

Task<absl::StatusOr<Metadata>> File::metadata() {
  if (source_ == nullptr) {
    co_return absl::ErrnoToStatus(EBADF, absl::StrCat("fstat ", path_));
  }
  struct Outcome {
    int err = 0;
    Metadata metadata;
  };
  Outcome out = co_await spawn_blocking([ref = internal::SourceRef(source_)] {
    Outcome o;
    struct stat st;
    if (::fstat(ref.fd(), &st) < 0) {
      o.err = errno;
    } else {
      o.metadata = Metadata::FromStat(st);
    }
    return o;
  });
  if (out.err != 0) {
    co_return absl::ErrnoToStatus(out.err, absl::StrCat("fstat ", path_));
  }
  co_return out.metadata;
}

}  // namespace tidepool::fs
