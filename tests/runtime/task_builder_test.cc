// TaskBuilder: a named task's name reads back through its JoinHandle,
// before and after it runs, on either spawn path; unnamed tasks have none;
// a name goes with its task's cell, also under many concurrent spawns.
#include "runtime/task_builder.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/internal/task_names.h"
#include "runtime/runtime.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

Task<int> Yields(int n) {
  for (int i = 0; i < n; ++i) co_await yield_now();
  co_return n;
}

Task<void> Sleeps() { co_await sleep(10s); }

Runtime Make(size_t workers) {
  auto rt = Builder().worker_threads(workers).build();
  EXPECT_TRUE(rt.ok());
  return *std::move(rt);
}

TEST(TaskBuilderTest, NameReadsBackBeforeAndAfterTheTaskRuns) {
  Runtime rt = Make(1);
  const size_t named_before = internal::NamedTaskCount();
  rt.block_on([]() -> Task<void> {
    JoinHandle<int> named = TaskBuilder().name("alpha").spawn(Yields(3));
    EXPECT_EQ(named.name(), "alpha");
    EXPECT_EQ(co_await named, 3);
    EXPECT_EQ(named.name(), "alpha");
    JoinHandle<int> plain = spawn(Yields(1));
    EXPECT_EQ(plain.name(), "");
    co_await plain;
    JoinHandle<int> empty = TaskBuilder().name("").spawn(Yields(1));
    EXPECT_EQ(empty.name(), "");
    co_await empty;
  }());
  EXPECT_EQ(JoinHandle<int>().name(), "");
  // Every cell is gone (the handles with them), and so are the names.
  EXPECT_EQ(internal::NamedTaskCount(), named_before);
}

TEST(TaskBuilderTest, OneBuilderNamesManyTasks) {
  Runtime rt = Make(1);
  rt.block_on([]() -> Task<void> {
    TaskBuilder worker;
    worker.name("worker");
    JoinHandle<int> a = worker.spawn(Yields(1));
    JoinHandle<int> b = worker.spawn(Yields(2));
    EXPECT_EQ(a.name(), "worker");
    EXPECT_EQ(b.name(), "worker");
    EXPECT_NE(a.id(), b.id());
    co_await a;
    co_await b;
  }());
}

TEST(TaskBuilderTest, SpawnOnAHandleWorksFromAnyThread) {
  Runtime rt = Make(2);
  JoinHandle<int> h =
      TaskBuilder().name("remote").spawn_on(Yields(2), rt.handle());
  EXPECT_EQ(h.name(), "remote");
  EXPECT_EQ(rt.block_on([](JoinHandle<int> h) -> Task<int> {
    co_return co_await h;
  }(std::move(h))),
            2);
}

TEST(TaskBuilderTest, SpawnOutsideARuntimeThrows) {
  EXPECT_THROW((void)TaskBuilder().name("x").spawn(Yields(1)),
               std::logic_error);
  Handle gone = Make(1).handle();
  EXPECT_THROW((void)TaskBuilder().name("x").spawn_on(Yields(1), gone),
               std::logic_error);
}

TEST(TaskBuilderTest, ANameOutlivesItsRuntimeWithTheHandle) {
  const size_t named_before = internal::NamedTaskCount();
  JoinHandle<void> h;
  {
    Runtime rt = Make(1);
    h = TaskBuilder().name("sleeper").spawn_on(Sleeps(), rt.handle());
  }  // shutdown cancels the sleeper
  EXPECT_TRUE(h.is_finished());
  EXPECT_EQ(h.name(), "sleeper");
  EXPECT_EQ(internal::NamedTaskCount(), named_before + 1);
  h.detach();
  EXPECT_EQ(internal::NamedTaskCount(), named_before);
}

// Named spawns from both workers at once, each task checking its own name
// while it runs and migrates between workers.
TEST(TaskBuilderTest, StressManyNamedTasksOnTwoWorkers) {
  Runtime rt = Make(2);
  const size_t named_before = internal::NamedTaskCount();
  const int per_spawner = 2000 * testing::StressScale();
  auto spawner = [](int base, int n) -> Task<int> {
    std::vector<JoinHandle<int>> handles;
    for (int i = 0; i < n; ++i) {
      handles.push_back(TaskBuilder()
                            .name("task-" + std::to_string(base + i))
                            .spawn(Yields(i % 4)));
    }
    int wrong = 0;
    for (int i = 0; i < n; ++i) {
      wrong += handles[i].name() != "task-" + std::to_string(base + i);
      co_await handles[i];
      wrong += handles[i].name() != "task-" + std::to_string(base + i);
    }
    co_return wrong;
  };
  const int wrong = rt.block_on([&]() -> Task<int> {
    JoinHandle<int> a = spawn(spawner(0, per_spawner));
    JoinHandle<int> b = spawn(spawner(per_spawner, per_spawner));
    co_return co_await a + co_await b;
  }());
  EXPECT_EQ(wrong, 0);
  // A cell completed on the other worker than the one that spawned it is
  // freed by its spawner's worker later (at its next park at the latest).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (internal::NamedTaskCount() != named_before &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(internal::NamedTaskCount(), named_before);
}

}  // namespace
}  // namespace tidepool
