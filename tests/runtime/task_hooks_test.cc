// Task hooks: every task sees on_task_spawn once, then before/after pairs
// around each poll, then on_task_terminate once, whether it finishes, throws,
// is aborted, is cancelled by shutdown or refused by drain; hooks see names;
// a hook that throws is survived; and the order holds under a stress of
// tasks waking each other across workers.
#include "runtime/task_hooks.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Each task's hook calls in order: S (spawn), B (before poll), A (after
// poll), T (terminate); and the names the hooks saw.
struct Recorder {
  std::mutex mu;
  std::map<uint64_t, std::string> events;
  std::map<uint64_t, std::vector<std::string>> names;

  TaskHook Hook(char event) {
    return [this, event](const TaskMeta& t) {
      std::lock_guard<std::mutex> lock(mu);
      events[t.id] += event;
      names[t.id].emplace_back(t.name);
    };
  }
  Builder Hooked(size_t workers) {
    return Builder()
        .worker_threads(workers)
        .on_task_spawn(Hook('S'))
        .on_before_task_poll(Hook('B'))
        .on_after_task_poll(Hook('A'))
        .on_task_terminate(Hook('T'));
  }
  std::string EventsOf(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    return events[id];
  }
  // Ids whose events are not S(BA)*T.
  std::vector<uint64_t> OutOfOrder() {
    static const std::regex kLife("S(BA)*T");
    std::lock_guard<std::mutex> lock(mu);
    std::vector<uint64_t> bad;
    for (const auto& [id, e] : events) {
      if (!std::regex_match(e, kLife)) bad.push_back(id);
    }
    return bad;
  }
};

Task<int> Yields(int n) {
  for (int i = 0; i < n; ++i) co_await yield_now();
  co_return n;
}

Task<int> Throws() {
  co_await yield_now();
  throw std::runtime_error("boom");
}

Task<void> Sleeps() { co_await sleep(10s); }

TEST(TaskHooksTest, EachTaskIsSpawnedPolledInPairsAndTerminatedOnce) {
  Recorder r;
  auto rt = r.Hooked(2).build();
  ASSERT_TRUE(rt.ok());
  std::vector<uint64_t> ids;
  const uint64_t detached = rt->block_on([&]() -> Task<uint64_t> {
    std::vector<JoinHandle<int>> handles;
    for (int i = 0; i < 20; ++i) handles.push_back(spawn(Yields(i % 5)));
    handles.push_back(spawn(Throws()));
    for (JoinHandle<int>& h : handles) {
      ids.push_back(h.id());
      try {
        co_await h;
      } catch (const std::runtime_error&) {
      }
    }
    // Through a Handle, and left to finish on its own.
    co_return Handle::current().spawn(Yields(2)).id();
  }());
  // The root's hooks are done when block_on returns, and so are those of
  // the tasks it awaited; shutting down finishes the detached one.
  rt->shutdown_timeout(1s);
  // A task that yields n times is polled n + 1 times.
  EXPECT_EQ(r.EventsOf(ids[3]), "SBABABABAT");
  EXPECT_EQ(r.EventsOf(ids[20]), "SBABAT");  // Throws()
  // Polled up to three times before the shutdown cancelled it, if it did.
  EXPECT_THAT(r.EventsOf(detached), ::testing::MatchesRegex("S(BA){0,3}T"));
  EXPECT_THAT(r.OutOfOrder(), ::testing::IsEmpty());
  std::lock_guard<std::mutex> lock(r.mu);
  EXPECT_EQ(r.events.size(), ids.size() + 2);  // and the root, the detached
}

TEST(TaskHooksTest, CancellingIsNotAPollAndTerminatesOnce) {
  Recorder r;
  uint64_t aborted = 0;
  uint64_t swept = 0;
  {
    auto rt = r.Hooked(1).build();
    ASSERT_TRUE(rt.ok());
    rt->block_on([&]() -> Task<void> {
      JoinHandle<void> h = spawn(Sleeps());
      aborted = h.id();
      co_await yield_now();  // h runs to its sleep
      h.abort();
      try {
        co_await h;
      } catch (const TaskCancelled&) {
      }
      JoinHandle<void> s = spawn(Sleeps());
      swept = s.id();
      s.detach();
      co_await yield_now();
    }());
    EXPECT_EQ(r.EventsOf(aborted), "SBAT");
  }  // shutdown cancels the detached sleeper
  EXPECT_EQ(r.EventsOf(swept), "SBAT");
  EXPECT_THAT(r.OutOfOrder(), ::testing::IsEmpty());
}

TEST(TaskHooksTest, ASpawnRefusedByDrainIsSpawnedAndTerminated) {
  Recorder r;
  auto rt = r.Hooked(1).build();
  ASSERT_TRUE(rt.ok());
  ASSERT_TRUE(rt->drain(1s).ok());
  JoinHandle<int> refused = rt->spawn(Yields(1));
  EXPECT_TRUE(refused.is_finished());
  EXPECT_EQ(r.EventsOf(refused.id()), "ST");
}

TEST(TaskHooksTest, HooksSeeTheTaskName) {
  Recorder r;
  auto rt = r.Hooked(1).build();
  ASSERT_TRUE(rt.ok());
  const uint64_t id = rt->block_on([]() -> Task<uint64_t> {
    JoinHandle<int> h = TaskBuilder().name("named").spawn(Yields(1));
    co_await h;
    co_return h.id();
  }());
  std::lock_guard<std::mutex> lock(r.mu);
  EXPECT_EQ(r.events[id], "SBABAT");
  EXPECT_THAT(r.names[id], ::testing::Each(std::string("named")));
}

TEST(TaskHooksTest, TheSpawnHookRunsBeforeTheTaskCanRun) {
  Recorder r;
  TaskHook record_spawn = r.Hook('S');
  auto rt = r.Hooked(1)
                .on_task_spawn([&](const TaskMeta& t) {
                  // Long enough for an idle worker to run the task, were it
                  // queued already.
                  std::this_thread::sleep_for(20ms);
                  record_spawn(t);
                })
                .build();
  ASSERT_TRUE(rt.ok());
  JoinHandle<int> h = rt->spawn(Yields(0));
  EXPECT_EQ(rt->block_on([](JoinHandle<int> h) -> Task<int> {
    co_return co_await h;
  }(std::move(h))),
            0);
  EXPECT_THAT(r.OutOfOrder(), ::testing::IsEmpty());
}

// The poll hooks bracket the poll itself: "before" sees the task's state
// as the previous poll left it, "after" sees what this poll did. Poll
// timing is off, to show the hooks do not depend on it.
TEST(TaskHooksTest, PollHooksBracketThePoll) {
  std::atomic<int> steps{0};
  std::vector<int> before;
  std::vector<int> after;
  auto rt = Builder()
                .worker_threads(1)
                .slow_poll_threshold(0ns)
                .on_before_task_poll(
                    [&](const TaskMeta&) { before.push_back(steps.load()); })
                .on_after_task_poll(
                    [&](const TaskMeta&) { after.push_back(steps.load()); })
                .build();
  ASSERT_TRUE(rt.ok());
  rt->block_on([](std::atomic<int>* steps) -> Task<void> {
    for (int i = 0; i < 3; ++i) {
      steps->fetch_add(1);
      co_await yield_now();
    }
  }(&steps));
  EXPECT_THAT(before, ::testing::ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(after, ::testing::ElementsAre(1, 2, 3, 3));
}

TEST(TaskHooksTest, AHookThatThrowsIsReportedAndSurvived) {
  auto rt = Builder()
                .worker_threads(1)
                .on_before_task_poll([](const TaskMeta&) {
                  throw std::runtime_error("hook failed");
                })
                .build();
  ASSERT_TRUE(rt.ok());
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(rt->block_on(Yields(2)), 2);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err,
              HasSubstr("tidepool: on_before_task_poll threw: hook failed"));
}

TEST(TaskHooksTest, OnlyTheHooksSetAreCalled) {
  int spawned = 0;
  auto rt = Builder()
                .worker_threads(1)
                .on_task_spawn([&](const TaskMeta&) { ++spawned; })
                .on_task_terminate(nullptr)
                .build();
  ASSERT_TRUE(rt.ok());
  EXPECT_EQ(rt->block_on(Yields(3)), 3);
  EXPECT_EQ(spawned, 1);
}

// Tasks that wake each other through channels on two workers, so that polls,
// wake-ups during polls, steals and completions on either worker interleave.
TEST(TaskHooksTest, StressOrderHoldsAcrossWorkers) {
  Recorder r;
  auto rt = r.Hooked(2).build();
  ASSERT_TRUE(rt.ok());
  const int pairs = 1000 * testing::StressScale();
  const int got = rt->block_on([&]() -> Task<int> {
    std::vector<JoinHandle<int>> handles;
    for (int i = 0; i < pairs; ++i) {
      auto [tx, rx] = mpsc::unbounded_channel<int>();
      handles.push_back(spawn([](mpsc::UnboundedReceiver<int> rx) -> Task<int> {
        int sum = 0;
        while (std::optional<int> v = co_await rx.recv()) sum += *v;
        co_return sum;
      }(std::move(rx))));
      handles.push_back(spawn([](mpsc::UnboundedSender<int> tx) -> Task<int> {
        for (int k = 0; k < 5; ++k) {
          tx.send(1);
          co_await yield_now();
        }
        co_return 0;
      }(std::move(tx))));
    }
    int total = 0;
    for (JoinHandle<int>& h : handles) total += co_await h;
    co_return total;
  }());
  EXPECT_EQ(got, 5 * pairs);
  EXPECT_THAT(r.OutOfOrder(), ::testing::IsEmpty());
  std::lock_guard<std::mutex> lock(r.mu);
  EXPECT_EQ(r.events.size(), 2u * pairs + 1);
}

}  // namespace
}  // namespace tidepool
