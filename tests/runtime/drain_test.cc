// Runtime::drain: outside work refused, inside work waited for, a timeout
// that counts what is left, and misuse from the runtime's own threads.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

// Waits for `open`, then spawns a child (inside work, during the drain)
// and a blocking call, and finishes once both have.
Task<int> Request(std::shared_ptr<std::atomic<bool>> open,
                  std::shared_ptr<std::atomic<int>> finished) {
  while (!open->load()) co_await sleep(1ms);
  JoinHandle<int> child = spawn([]() -> Task<int> {
    co_await sleep(5ms);
    co_return 2;
  }());
  int blocking = co_await spawn_blocking([] {
    std::this_thread::sleep_for(5ms);
    return 3;
  });
  const int total = co_await child + blocking;
  finished->fetch_add(1);
  co_return total;
}

TEST(DrainTest, WaitsForTasksAndTheirChildrenAndRefusesOutsideWork) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  auto open = std::make_shared<std::atomic<bool>>(false);
  auto finished = std::make_shared<std::atomic<int>>(0);
  std::vector<JoinHandle<int>> requests;
  for (int i = 0; i < 8; ++i)
    requests.push_back(rt->spawn(Request(open, finished)));
  absl::Status drained;
  std::thread drainer([&] { drained = rt->drain(30s); });
  // The drain has begun once an outside spawn comes back cancelled.
  JoinHandle<int> refused = rt->spawn([]() -> Task<int> { co_return 1; }());
  while (!refused.is_finished()) {
    refused = rt->spawn([]() -> Task<int> { co_return 1; }());
  }
  open->store(true);
  drainer.join();
  EXPECT_TRUE(drained.ok()) << drained;
  EXPECT_EQ(finished->load(), 8);
  EXPECT_EQ(rt->metrics().alive_tasks, 0u);
  for (auto& h : requests) EXPECT_TRUE(h.is_finished());
}

TEST(DrainTest, OutsideSpawnsDuringADrainReportCancellation) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  ASSERT_TRUE(rt->drain(1s).ok());
  JoinHandle<int> h = rt->spawn([]() -> Task<int> { co_return 1; }());
  EXPECT_TRUE(h.is_finished());
  EXPECT_THROW(rt->block_on([]() -> Task<int> { co_return 1; }()),
               TaskCancelled);
  JoinHandle<int> b = rt->spawn_blocking([] { return 1; });
  EXPECT_TRUE(b.is_finished());
}

TEST(DrainTest, TimesOutCountingWhatIsLeftAndLeavesItRunning) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  auto release = std::make_shared<std::atomic<bool>>(false);
  JoinHandle<void> stuck =
      rt->spawn([](std::shared_ptr<std::atomic<bool>> r) -> Task<void> {
        while (!r->load()) co_await sleep(1ms);
      }(release));
  absl::Status s = rt->drain(20ms);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("1 tasks alive"), std::string::npos) << s;
  EXPECT_FALSE(stuck.is_finished());
  release->store(true);
  EXPECT_TRUE(rt->drain(30s).ok());
  EXPECT_TRUE(stuck.is_finished());
}

TEST(DrainTest, FromInsideTheRuntimeIsMisuse) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  Runtime* self = &*rt;
  bool threw = false;
  rt->block_on([](Runtime* self, bool* threw) -> Task<void> {
    try {
      (void)self->drain(1s);
    } catch (const std::logic_error&) {
      *threw = true;
    }
    co_return;
  }(self, &threw));
  EXPECT_TRUE(threw);
}

}  // namespace
}  // namespace tidepool
