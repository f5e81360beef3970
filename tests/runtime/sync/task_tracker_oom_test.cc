// TaskTracker::spawn when an allocation inside it fails: the exception
// reaches the caller, the tracker does not count a task that never started
// (or wait() would never complete), and nothing leaks (ASan). Allocations
// are made to fail by replacing the global operator new in this test
// binary, on the spawning thread only, from the Nth on.
#include <cstdlib>
#include <new>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/sync/sync_test_util.h"

namespace {

// Allocations on this thread before the next one fails; negative: none
// fails.
thread_local int fail_after = -1;

void* Allocate(size_t n) {
  if (fail_after == 0) {
    fail_after = -1;
    throw std::bad_alloc();
  }
  if (fail_after > 0) --fail_after;
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(size_t n) { return Allocate(n); }
void* operator new[](size_t n) { return Allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace tidepool {
namespace {

using ::tidepool::testing::MakeRuntime;

Task<int> Answer() { co_return 42; }

TEST(TaskTrackerOomTest, AFailedSpawnIsNotCounted) {
  Runtime rt = MakeRuntime(1);
  rt.block_on([]() -> Task<void> {
    TaskTracker tracker;
    int failures = 0;
    // The Nth allocation inside spawn fails, for N = 0, 1, ... until a
    // spawn makes no more allocations than that.
    for (int n = 0; n < 64; ++n) {
      Task<int> task = Answer();  // its frame is allocated before
      fail_after = n;
      try {
        JoinHandle<int> h = tracker.spawn(std::move(task));
        fail_after = -1;
        EXPECT_EQ(co_await h, 42);
        break;
      } catch (const std::bad_alloc&) {
        fail_after = -1;
        ++failures;
        EXPECT_EQ(tracker.len(), 0u) << "allocation " << n;
      }
    }
    // The first tracked spawn of the process allocates the listener table,
    // so at least one failure was tried.
    EXPECT_GE(failures, 1);
    // A count left behind would make the wait below hang.
    if (!tracker.is_empty()) {
      ADD_FAILURE() << tracker.len() << " tasks still counted";
      co_return;
    }
    tracker.close();
    co_await tracker.wait();
    EXPECT_TRUE(tracker.is_empty());
  }());
}

}  // namespace
}  // namespace tidepool
