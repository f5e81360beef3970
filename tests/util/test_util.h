#ifndef TIDEPOOL_TESTS_UTIL_TEST_UTIL_H_
#define TIDEPOOL_TESTS_UTIL_TEST_UTIL_H_

// Small helpers shared by tests.

#include <dirent.h>

#include <algorithm>
#include <atomic>
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

// For checking that what borrows from a frame is gone before the frame's
// locals: a local OwnerAlive in the lending frame, and a BorrowerCheck in
// each borrower, which counts itself in `late` if it dies after the lender.
struct OwnerAlive {
  std::atomic<bool> alive{true};
  ~OwnerAlive() { alive.store(false); }
};
struct BorrowerCheck {
  const OwnerAlive* owner;
  std::atomic<int>* late;
  ~BorrowerCheck() {
    if (!owner->alive.load()) late->fetch_add(1);
  }
};

}  // namespace tidepool::testing

#endif  // TIDEPOOL_TESTS_UTIL_TEST_UTIL_H_
