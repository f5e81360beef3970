// A blocking call still running when its Runtime is destroyed (its
// shutdown_timeout expired) outlives the runtime: whatever it does next
// (spawn, spawn_blocking, send to or wake a task of the runtime, finish its
// own call) has a defined outcome and touches no freed memory. ASan and TSan
// check the last part.
#include <dirent.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

// What the straggler saw, read by the test once `done` is set.
struct Seen {
  std::atomic<bool> started{false};
  std::atomic<bool> go{false};
  std::atomic<bool> done{false};
  // Written by the straggler before `done` (release), read after it
  // (acquire).
  bool spawn_blocking_finished = false;
  bool spawn_finished = false;
  bool oneshot_sent = true;
  bool mpsc_sent = true;
  bool sent_to_outside = false;
  std::string error;
};

void WaitFor(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!flag.load(std::memory_order_acquire)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(1ms);
  }
}

// Threads of this process whose name starts with `prefix`.
int ThreadsNamed(const std::string& prefix) {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  while (dirent* e = readdir(d)) {
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    if (std::getline(comm, name) && name.rfind(prefix, 0) == 0) ++n;
  }
  closedir(d);
  return n;
}

Task<int> Sleeper() {
  co_await sleep(1h);
  co_return 1;
}

Task<void> AwaitOneshot(oneshot::Receiver<int> rx) {
  (void)co_await std::move(rx);
}

Task<void> AwaitMpsc(mpsc::Receiver<int> rx) { (void)co_await rx.recv(); }

TEST(StragglerTest, BlockingCallOutlivingItsRuntime) {
  auto seen = std::make_shared<Seen>();
  auto [outside_tx, outside_rx] = mpsc::unbounded_channel<int>();
  std::optional<JoinHandle<int>> own;
  {
    absl::StatusOr<Runtime> rt = Builder()
                                     .worker_threads(2)
                                     .shutdown_timeout(1ms)
                                     .thread_name("straggler")
                                     .build();
    ASSERT_TRUE(rt.ok()) << rt.status();
    auto [one_tx, one_rx] = oneshot::channel<int>();
    auto [m_tx, m_rx] = mpsc::channel<int>(1);
    // Tasks of the runtime, waiting for what the straggler sends later.
    rt->spawn(AwaitOneshot(std::move(one_rx))).detach();
    rt->spawn(AwaitMpsc(std::move(m_rx))).detach();
    own.emplace(rt->spawn_blocking(
        [seen, one_tx = std::move(one_tx), m_tx = std::move(m_tx),
         outside_tx = std::move(outside_tx)]() mutable {
          seen->started.store(true, std::memory_order_release);
          while (!seen->go.load(std::memory_order_acquire)) {
            std::this_thread::sleep_for(1ms);
          }
          // The runtime is gone now.
          try {
            JoinHandle<int> b = spawn_blocking([] { return 1; });
            seen->spawn_blocking_finished = b.is_finished();
            JoinHandle<int> t = spawn(Sleeper());
            seen->spawn_finished = t.is_finished();
            seen->oneshot_sent = one_tx.send(7);
            seen->mpsc_sent = m_tx.try_send(8).ok();
            seen->sent_to_outside = outside_tx.send(9);
          } catch (const std::exception& e) {
            seen->error = e.what();
          }
          seen->done.store(true, std::memory_order_release);
          return 42;
        }));
    WaitFor(seen->started);
  }  // Destroys the runtime, detaching the straggler after 1 ms.
  seen->go.store(true, std::memory_order_release);
  WaitFor(seen->done);
  EXPECT_EQ(seen->error, "");
  // Spawns after shutdown are cancelled at once.
  EXPECT_TRUE(seen->spawn_blocking_finished);
  EXPECT_TRUE(seen->spawn_finished);
  // The receiving tasks were destroyed with the runtime.
  EXPECT_FALSE(seen->oneshot_sent);
  EXPECT_FALSE(seen->mpsc_sent);
  // A receiver outside the runtime still gets what is sent.
  EXPECT_TRUE(seen->sent_to_outside);
  EXPECT_EQ(outside_rx.try_recv().value_or(-1), 9);
  // The straggler's own call completes its JoinHandle.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!own->is_finished()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(1ms);
  }
  // The straggler's thread ends, freeing what is left of the runtime, with
  // no help from this thread.
  while (ThreadsNamed("straggler-b") > 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(1ms);
  }
}

}  // namespace
}  // namespace tidepool
