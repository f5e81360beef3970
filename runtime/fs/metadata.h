#ifndef TIDEPOOL_RUNTIME_FS_METADATA_H_
#define TIDEPOOL_RUNTIME_FS_METADATA_H_

// fs::Metadata: what stat(2) says about a file, as fs::stat(path) and
// File::metadata() return it. A plain value; any thread.
//
//   absl::StatusOr<tidepool::fs::Metadata> m =
//       co_await tidepool::fs::stat("/etc/hostname");
//   if (m.ok() && m->is_file()) Use(m->size);

#include <sys/stat.h>

#include <chrono>
#include <cstdint>

namespace tidepool::fs {

struct Metadata {
  uint64_t size = 0;
  // st_mode: the file type bits and the permission bits.
  uint32_t mode = 0;
  std::chrono::system_clock::time_point modified;

  bool is_file() const { return S_ISREG(mode); }
  bool is_dir() const { return S_ISDIR(mode); }
  bool is_symlink() const { return S_ISLNK(mode); }
  uint32_t permissions() const { return mode & 07777; }

  static Metadata FromStat(const struct stat& st) {
    Metadata m;
    m.size = static_cast<uint64_t>(st.st_size);
    m.mode = st.st_mode;
    m.modified = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::seconds(st.st_mtim.tv_sec) +
            std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    return m;
  }
};

}  // namespace tidepool::fs

#endif  // TIDEPOOL_RUNTIME_FS_METADATA_H_
