// The usage examples of the Foundation and Timers/sync issues, written with
// only runtime/runtime.h, as a user would.
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace {

using namespace std::chrono_literals;

tidepool::Task<void> send_later(tidepool::oneshot::Sender<int> tx) {
  co_await tidepool::sleep(10ms);
  tx.send(7);
}

tidepool::Task<int> demo() {
  auto [tx, rx] = tidepool::oneshot::channel<int>();
  tidepool::spawn(send_later(std::move(tx))).detach();
  int v = *(co_await std::move(rx));  // 7
  auto [mtx, mrx] = tidepool::mpsc::channel<std::string>(16);
  co_await mtx.send("x");
  std::optional<std::string> s = co_await mrx.recv();  // "x"
  auto late = co_await tidepool::timeout(5ms, tidepool::sleep(1s));
  co_return late.ok() ? -1 : v + static_cast<int>(s->size());  // 8
}

TEST(IssueExamplesTest, TimersAndChannels) {
  auto rt = tidepool::Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ(rt->block_on(demo()), 8);
}

TEST(IssueExamplesTest, SequentialSleepsOnOneWorker) {
  // Regression: a timer fired on a worker's fairness tick put its task in
  // the LIFO slot after the slot had been checked, and the worker parked
  // with it there. 200 sleeps cross that tick several times.
  auto rt = tidepool::Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  auto root = []() -> tidepool::Task<int> {
    int n = 0;
    for (int i = 0; i < 200; ++i) {
      co_await tidepool::sleep(1ms);
      ++n;
    }
    co_return n;
  };
  EXPECT_EQ(rt->block_on(root()), 200);
}

}  // namespace
