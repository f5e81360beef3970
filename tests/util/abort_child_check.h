#ifndef TIDEPOOL_TESTS_UTIL_ABORT_CHILD_CHECK_H_
#define TIDEPOOL_TESTS_UTIL_ABORT_CHILD_CHECK_H_

// A check shared by the tests of select(), when_all() and timeout(): an
// abort of the task that waits in the combinator must not make a worker
// wait for a child that another worker is polling.

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <utility>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool::testing {

// Computes without suspending until `*release` is set or 10 s pass, and
// records in `*released` which came first; then yields forever, so that
// only an abort ends it.
inline Task<void> ComputeUntilReleased(std::atomic<bool>* started,
                                       std::atomic<bool>* release,
                                       std::atomic<bool>* released) {
  started->store(true);
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!release->load() && std::chrono::steady_clock::now() < give_up) {
  }
  released->store(release->load());
  while (true) co_await yield_now();
}

// `wait_in(child)` returns a Task<void> that awaits a combinator with
// `child` as one of its children; its other children must wait without
// keeping a worker busy (a task yielding forever keeps its worker from
// stealing, so the aborting task could stay queued behind the computing
// child). On two workers, the child computes on one worker until a task
// released after the abort sets a flag; the abort is claimed first on the
// other worker (the LIFO slot, ahead of the aborting task's yield). A claim
// that waited there for the child's poll to end would hold the only worker
// that can run the release, until the child gave up after 10 s.
template <typename WaitIn>
void CheckAbortLeavesTheWorkerFreeWhileAChildRuns(WaitIn wait_in) {
  auto rt = Builder().worker_threads(2).build();
  if (!rt.ok()) throw std::runtime_error(rt.status().ToString());
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  std::atomic<bool> released{false};
  const bool cancelled = rt->block_on([&]() -> Task<bool> {
    JoinHandle<void> h =
        spawn(wait_in(ComputeUntilReleased(&started, &release, &released)));
    while (!started.load()) co_await yield_now();
    h.abort();
    co_await yield_now();
    release.store(true);
    try {
      co_await h;
    } catch (const TaskCancelled&) {
      co_return true;
    }
    co_return false;
  }());
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(released.load())
      << "the abort held a worker until the child gave up";
}

}  // namespace tidepool::testing

#endif  // TIDEPOOL_TESTS_UTIL_ABORT_CHILD_CHECK_H_
