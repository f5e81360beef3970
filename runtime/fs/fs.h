#ifndef TIDEPOOL_RUNTIME_FS_FS_H_
#define TIDEPOOL_RUNTIME_FS_FS_H_

// Whole-file and directory operations, awaited from tasks without blocking
// a worker.
//
//   if (auto s = co_await tidepool::fs::write("/tmp/x", "abc"); !s.ok()) {
//     co_return s;
//   }
//   absl::StatusOr<std::string> text =
//       co_await tidepool::fs::read_to_string("/tmp/x");  // "abc"
//
// read_to_string and write open the file on the runtime's blocking pool,
// then read or write it where File does (runtime/fs/file.h, which says
// what each backend costs): on io_uring straight into, or from, the string,
// else in the same blocking-pool call as the open. The other functions are
// one system call each on the blocking pool. Inside tidepool tasks; the
// arguments are taken by value, so temporaries are fine. Errors are
// absl::ErrnoToStatus of errno with the call and the path in the message.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/fs/metadata.h"
#include "runtime/task.h"

namespace tidepool::fs {

// The whole file. Any bytes, not only text.
Task<absl::StatusOr<std::string>> read_to_string(std::string path);
// Creates or empties `path` and writes `data` to it.
Task<absl::Status> write(std::string path, std::string data);
// unlink(2) a file, or rmdir(2) an empty directory.
Task<absl::Status> remove(std::string path);
// rename(2): replaces `to` if it exists.
Task<absl::Status> rename(std::string from, std::string to);
// mkdir(2) with mode 0777 (less the umask); AlreadyExists if it does.
Task<absl::Status> create_dir(std::string path);
// stat(2), following symbolic links.
Task<absl::StatusOr<Metadata>> stat(std::string path);

}  // namespace tidepool::fs

#endif  // TIDEPOOL_RUNTIME_FS_FS_H_
