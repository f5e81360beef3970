#include "alloc/config_file.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace tidepool::alloc {
namespace {

constexpr const char* kKeys[] = {"allocator",
                                 "worker_threads",
                                 "max_blocking_threads",
                                 "blocking_parallelism",
                                 "thread_keep_alive_ms",
                                 "slow_poll_threshold_ms",
                                 "io",
                                 "memory_budget"};
constexpr size_t kMaxFileBytes = 64 * 1024;
constexpr size_t kMaxEntries = 64;

struct Entry {
  const char* key;
  const char* value;
};

// Written once under pthread_once, read-only afterwards.
// constinit and no member initialisers: the object must be zero before the
// first malloc reads the file, and never be re-initialised by a dynamic
// initializer that would run later and wipe what was parsed.
struct Parsed {
  char text[kMaxFileBytes + 1];
  Entry entries[kMaxEntries];
  size_t count;
  char error[256];
};
constinit Parsed g_file{};
pthread_once_t g_once = PTHREAD_ONCE_INIT;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool KnownKey(std::string_view key) {
  for (const char* k : kKeys) {
    if (key == k) return true;
  }
  return false;
}

void Fail(const char* path, int line, const char* what) {
  if (line > 0) {
    std::snprintf(g_file.error, sizeof g_file.error,
                  "TIDEPOOL_CONFIG=%s:%d: %s", path, line, what);
  } else {
    std::snprintf(g_file.error, sizeof g_file.error, "TIDEPOOL_CONFIG=%s: %s",
                  path, what);
  }
}

void ReadFile() {
  const char* path = std::getenv("TIDEPOOL_CONFIG");
  if (path == nullptr || *path == '\0') return;
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Fail(path, 0, "cannot be opened");
    return;
  }
  size_t len = 0;
  while (len < kMaxFileBytes) {
    const ssize_t n = read(fd, g_file.text + len, kMaxFileBytes - len);
    if (n < 0) {
      close(fd);
      Fail(path, 0, "cannot be read");
      return;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  char extra;
  const bool too_long = len == kMaxFileBytes && read(fd, &extra, 1) == 1;
  close(fd);
  if (too_long) {
    Fail(path, 0, "is larger than 64 KiB");
    return;
  }
  g_file.text[len] = '\0';
  int line_no = 0;
  char* line = g_file.text;
  while (line < g_file.text + len) {
    ++line_no;
    char* end = std::strchr(line, '\n');
    if (end == nullptr) end = g_file.text + len;
    *end = '\0';
    if (char* hash = std::strchr(line, '#')) *hash = '\0';
    std::string_view content = Trim(line);
    if (!content.empty()) {
      const size_t eq = content.find('=');
      if (eq == std::string_view::npos) {
        Fail(path, line_no, "expected key=value");
        return;
      }
      std::string_view key = Trim(content.substr(0, eq));
      std::string_view value = Trim(content.substr(eq + 1));
      if (!KnownKey(key)) {
        Fail(path, line_no,
             "unknown key; accepted keys are allocator, worker_threads, "
             "max_blocking_threads, blocking_parallelism, "
             "thread_keep_alive_ms, slow_poll_threshold_ms, io, "
             "memory_budget");
        return;
      }
      if (g_file.count == kMaxEntries) {
        Fail(path, line_no, "too many settings");
        return;
      }
      // Both views point into `line`, which we own: terminate in place.
      char* k = const_cast<char*>(key.data());
      char* v = const_cast<char*>(value.data());
      k[key.size()] = '\0';
      v[value.size()] = '\0';
      g_file.entries[g_file.count++] = {k, v};
    }
    line = end + 1;
  }
}

void EnsureRead() { pthread_once(&g_once, ReadFile); }

}  // namespace

const char* LookupSetting(const char* env_name) {
  if (const char* v = std::getenv(env_name)) return v;
  EnsureRead();
  if (g_file.error[0] != '\0') return nullptr;
  constexpr std::string_view kPrefix = "TIDEPOOL_";
  std::string_view name(env_name);
  if (name.substr(0, kPrefix.size()) != kPrefix) return nullptr;
  name.remove_prefix(kPrefix.size());
  const char* found = nullptr;
  for (size_t i = 0; i < g_file.count; ++i) {
    std::string_view key = g_file.entries[i].key;
    if (key.size() != name.size()) continue;
    bool same = true;
    for (size_t j = 0; j < key.size() && same; ++j) {
      same = key[j] ==
             (name[j] >= 'A' && name[j] <= 'Z' ? name[j] - 'A' + 'a' : name[j]);
    }
    // The last line for a key wins, as in most config formats.
    if (same) found = g_file.entries[i].value;
  }
  return found;
}

bool ConfigFileError(char* message, size_t size) {
  EnsureRead();
  if (g_file.error[0] == '\0') return false;
  std::snprintf(message, size, "%s", g_file.error);
  return true;
}

}  // namespace tidepool::alloc
