// Helpers shared by the tests of runtime/sync.
#ifndef TIDEPOOL_TESTS_RUNTIME_SYNC_SYNC_TEST_UTIL_H_
#define TIDEPOOL_TESTS_RUNTIME_SYNC_SYNC_TEST_UTIL_H_

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool::testing {

// A runtime with `workers` workers. With one worker the tests control the
// interleaving exactly: a task spawned and then yielded to runs until it
// suspends before the spawner resumes (a yield goes to the back of the
// queue), and nothing runs while the spawner runs. Tasks spawned together
// do not start in spawn order (the last one takes the LIFO slot), so tests
// that need an order yield after each spawn.
inline Runtime MakeRuntime(size_t workers) {
  auto rt = Builder().worker_threads(workers).build();
  if (!rt.ok()) throw std::runtime_error(rt.status().ToString());
  return std::move(*rt);
}

// TIDEPOOL_STRESS_SCALE multiplies the stress tests' repetitions (default 1).
inline int Scale() {
  const char* s = std::getenv("TIDEPOOL_STRESS_SCALE");
  return s ? std::max(1, std::atoi(s)) : 1;
}

// Counts live objects; put one in a frame to see when the frame is gone.
class Live {
 public:
  explicit Live(std::atomic<int>* count) : count_(count) {
    count_->fetch_add(1);
  }
  Live(const Live&) = delete;
  Live& operator=(const Live&) = delete;
  ~Live() { count_->fetch_sub(1); }

 private:
  std::atomic<int>* count_;
};

// Awaits `h` and reports whether the task was cancelled.
template <typename T>
Task<bool> WasCancelled(JoinHandle<T>& h) {
  try {
    (void)co_await h;
  } catch (const TaskCancelled&) {
    co_return true;
  }
  co_return false;
}

// Lets every task that is ready run first (on a one-worker runtime).
inline Task<void> LetOthersRun(int rounds = 3) {
  for (int i = 0; i < rounds; ++i) co_await yield_now();
}

// On a one-worker runtime: whether the task behind `h` finishes once the
// ready tasks have run. If it does not (it waits for a wake-up that was
// lost), it is aborted, so that the test fails instead of hanging.
template <typename T>
Task<bool> FinishesSoon(JoinHandle<T>& h) {
  co_await LetOthersRun();
  if (h.is_finished()) co_return true;
  h.abort();
  co_await WasCancelled(h);
  co_return false;
}

// Receives from `*rx` until the channel ends, in tasks of 1 to 8 values
// each; one task in `abort_one_in` is aborted after 0 to 2 yields, parked or
// not. Counts every value received in `(*seen)[value]`. `after_each` runs
// after each receiving task (say, to abort a producer).
template <typename Receiver, typename AfterEach>
Task<void> ReceiveWithRandomAborts(Receiver* rx, std::vector<int>* seen,
                                   std::minstd_rand* rng, int abort_one_in,
                                   AfterEach after_each) {
  auto consume = [](Receiver* rx, std::vector<int>* seen, int n) -> Task<bool> {
    for (int i = 0; i < n; ++i) {
      std::optional<int> v = co_await rx->recv();
      if (!v) co_return false;
      ++(*seen)[*v];
    }
    co_return true;
  };
  bool more = true;
  while (more) {
    JoinHandle<bool> c =
        spawn(consume(rx, seen, 1 + static_cast<int>((*rng)() % 8)));
    if ((*rng)() % abort_one_in == 0) {
      for (int y = static_cast<int>((*rng)() % 3); y > 0; --y) {
        co_await yield_now();
      }
      c.abort();
    }
    try {
      more = co_await c;
    } catch (const TaskCancelled&) {
      // Aborted: whatever it was handed stays queued for the next one.
    }
    after_each();
  }
}

}  // namespace tidepool::testing

#endif  // TIDEPOOL_TESTS_RUNTIME_SYNC_SYNC_TEST_UTIL_H_
