#ifndef TIDEPOOL_TESTS_UTIL_TEST_UTIL_H_
#define TIDEPOOL_TESTS_UTIL_TEST_UTIL_H_

// Small helpers shared by tests.

#include <dirent.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>

namespace tidepool::testing {

// Descriptors open in this process (entries of /proc/self/fd, counting the
// one opendir itself uses): compare before and after to find leaks.
inline size_t OpenFds() {
  size_t n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

// TIDEPOOL_STRESS_SCALE multiplies the repetition counts of stress tests
// (default 1).
inline int StressScale() {
  const char* s = std::getenv("TIDEPOOL_STRESS_SCALE");
  return s ? std::max(1, std::atoi(s)) : 1;
}

}  // namespace tidepool::testing

#endif  // TIDEPOOL_TESTS_UTIL_TEST_UTIL_H_
