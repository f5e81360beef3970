#include "runtime/internal/thread_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace tidepool::internal {

char StatStateLetter(const char* line, size_t len) {
  const void* close = ::memrchr(line, ')', len);
  if (close == nullptr) return '\0';
  const size_t at = static_cast<const char*>(close) - line;
  // ") S": the letter is two bytes after the parenthesis.
  if (at + 2 >= len || line[at + 1] != ' ') return '\0';
  return line[at + 2];
}

bool ThreadAsleep(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat",
                static_cast<int>(tid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // The state is among the first fields; comm is at most 16 bytes.
  char line[128];
  const ssize_t n = ::read(fd, line, sizeof line);
  ::close(fd);
  if (n <= 0) return false;
  const char state = StatStateLetter(line, static_cast<size_t>(n));
  return state != '\0' && state != 'R';
}

}  // namespace tidepool::internal
