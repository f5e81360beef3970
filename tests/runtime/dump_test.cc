// Runtime::dump(): a waiting task reports the co_await it is suspended at
// (the innermost one of nested Task coroutines), with its name; a task that
// runs reports running; finished tasks are gone; dumps from other threads
// and from tasks on several workers at once, while tasks spawn and finish,
// are safe (TSan) and never wait for each other; the text form; the
// await_transform that records sites leaves awaitables as they were.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

Runtime Make(size_t workers) {
  auto rt = Builder().worker_threads(workers).build();
  EXPECT_TRUE(rt.ok());
  return *std::move(rt);
}

std::optional<TaskInfo> Find(const std::vector<TaskInfo>& tasks,
                             const std::string& name) {
  for (const TaskInfo& t : tasks) {
    if (t.name == name) return t;
  }
  return std::nullopt;
}

// Dumps until the task named `name` is waiting (a spawned task first runs
// on a worker, at its own pace).
TaskInfo AwaitWaiting(const Runtime& rt, const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<TaskInfo> t = Find(rt.dump(), name);
    if (t && t->state == TaskInfo::State::kWaiting) return *t;
    std::this_thread::sleep_for(1ms);
  }
  ADD_FAILURE() << "task " << name << " never seen waiting";
  return TaskInfo();
}

std::string Site(int line) {
  return "tests/runtime/dump_test.cc:" + std::to_string(line);
}

// The line of its co_await goes to *line before it is reached.
Task<void> SleepsAtKnownLine(std::atomic<int>* line) {
  line->store(__LINE__ + 1);
  co_await sleep(10s);
}

Task<void> InnerSleeps(std::atomic<int>* line) {
  line->store(__LINE__ + 1);
  co_await sleep(10s);
}

Task<void> OuterAwaitsInner(std::atomic<int>* line) {
  co_await yield_now();
  co_await InnerSleeps(line);
}

TEST(DumpTest, NamedSleeperWaitsAtTheLineOfItsCoAwait) {
  Runtime rt = Make(2);
  std::atomic<int> line{0};
  JoinHandle<void> h = TaskBuilder().name("sleeper").spawn_on(
      SleepsAtKnownLine(&line), rt.handle());
  const TaskInfo t = AwaitWaiting(rt, "sleeper");
  EXPECT_EQ(t.id, h.id());
  EXPECT_EQ(t.name, "sleeper");
  ASSERT_NE(line.load(), 0);
  EXPECT_EQ(t.location, Site(line.load()));
  h.abort();
}

TEST(DumpTest, NestedTaskReportsTheInnermostCoAwait) {
  Runtime rt = Make(2);
  std::atomic<int> line{0};
  // Spawned from a task: it lives in a worker's table, not a shard.
  JoinHandle<void> h =
      rt.block_on([](std::atomic<int>* line) -> Task<JoinHandle<void>> {
        co_return TaskBuilder().name("nested").spawn(OuterAwaitsInner(line));
      }(&line));
  const TaskInfo t = AwaitWaiting(rt, "nested");
  EXPECT_EQ(t.id, h.id());
  EXPECT_EQ(t.location, Site(line.load()));
  h.abort();
}

TEST(DumpTest, TaskThatDumpsSeesItselfRunning) {
  Runtime rt = Make(2);
  Runtime* const rtp = &rt;
  JoinHandle<std::optional<TaskInfo>> h = TaskBuilder().name("self").spawn_on(
      [](Runtime* rt) -> Task<std::optional<TaskInfo>> {
        co_await yield_now();
        co_return Find(rt->dump(), "self");
      }(rtp),
      rt.handle());
  const std::optional<TaskInfo> self =
      rt.block_on([](JoinHandle<std::optional<TaskInfo>> h)
                      -> Task<std::optional<TaskInfo>> {
        co_return co_await h;
      }(std::move(h)));
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(self->state, TaskInfo::State::kRunning);
  EXPECT_EQ(self->location, "");
}

TEST(DumpTest, SpawnedButNotYetRunIsScheduled) {
  // One worker, busy with the block_on task, which spawns and dumps before
  // it lets the worker go.
  Runtime rt = Make(1);
  Runtime* const rtp = &rt;
  static std::atomic<int> line{0};
  const std::optional<TaskInfo> queued =
      rt.block_on([](Runtime* rt) -> Task<std::optional<TaskInfo>> {
        JoinHandle<void> h =
            TaskBuilder().name("queued").spawn(InnerSleeps(&line));
        std::optional<TaskInfo> t = Find(rt->dump(), "queued");
        h.abort();
        co_return t;
      }(rtp));
  ASSERT_TRUE(queued.has_value());
  EXPECT_EQ(queued->state, TaskInfo::State::kScheduled);
  EXPECT_EQ(queued->location, "");
}

Task<int> Quick(int i) {
  co_await yield_now();
  co_return i;
}

TEST(DumpTest, FinishedTasksDisappear) {
  Runtime rt = Make(2);
  std::atomic<int> line{0};
  JoinHandle<void> sleeper = TaskBuilder().name("sleeper").spawn_on(
      SleepsAtKnownLine(&line), rt.handle());
  AwaitWaiting(rt, "sleeper");
  rt.block_on([]() -> Task<void> {
    std::vector<JoinHandle<int>> handles;
    for (int i = 0; i < 100; ++i) {
      handles.push_back(TaskBuilder().name("quick").spawn(Quick(i)));
    }
    for (JoinHandle<int>& h : handles) co_await h;
  }());
  // Every quick one has finished, some on the other worker (whose table
  // frees their slots only at its next drain): none is listed.
  std::vector<TaskInfo> tasks = rt.dump();
  EXPECT_FALSE(Find(tasks, "quick").has_value());
  ASSERT_TRUE(Find(tasks, "sleeper").has_value());
  sleeper.abort();
  rt.block_on([](JoinHandle<void> h) -> Task<void> {
    try {
      co_await h;
    } catch (const TaskCancelled&) {
    }
  }(std::move(sleeper)));
  EXPECT_FALSE(Find(rt.dump(), "sleeper").has_value());
}

TEST(DumpTest, CurrentThreadRuntimeDumpsFromOutsideAndInside) {
  auto built = Builder::current_thread().build();
  ASSERT_TRUE(built.ok());
  Runtime& rt = *built;
  std::atomic<int> line{0};
  JoinHandle<void> h = TaskBuilder().name("sleeper").spawn_on(
      SleepsAtKnownLine(&line), rt.handle());
  Runtime* const rtp = &rt;
  // Nobody drives the runtime between the block_on calls: its table is
  // free, and the task has run to its sleep inside the first one.
  const std::optional<TaskInfo> inside =
      rt.block_on([](Runtime* rt) -> Task<std::optional<TaskInfo>> {
        co_await sleep(1ms);
        co_return Find(rt->dump(), "sleeper");
      }(rtp));
  ASSERT_TRUE(inside.has_value());
  EXPECT_EQ(inside->state, TaskInfo::State::kWaiting);
  const std::optional<TaskInfo> outside = Find(rt.dump(), "sleeper");
  ASSERT_TRUE(outside.has_value());
  EXPECT_EQ(outside->location, Site(line.load()));
  h.abort();
}

TEST(DumpTest, TextFormHasOneLinePerTask) {
  Runtime rt = Make(1);
  std::atomic<int> line{0};
  JoinHandle<void> h = TaskBuilder()
                           .name("say \"hi\"")
                           .spawn_on(SleepsAtKnownLine(&line), rt.handle());
  const TaskInfo t = AwaitWaiting(rt, "say \"hi\"");
  EXPECT_EQ(FormatTaskDump({t}), "tasks: 1\ntask " + std::to_string(t.id) +
                                     " \"say \\\"hi\\\"\" waiting at " +
                                     Site(line.load()) + "\n");
  TaskInfo running{7, "", TaskInfo::State::kRunning, ""};
  EXPECT_EQ(FormatTaskDump({running}), "tasks: 1\ntask 7 \"\" running\n");
  EXPECT_EQ(FormatTaskDump({}), "tasks: 0\n");
  const std::string text = rt.dump_text();
  EXPECT_NE(text.find("\"say \\\"hi\\\"\" waiting at " + Site(line.load())),
            std::string::npos)
      << text;
  h.abort();
}

// Tasks that spawn, wait and finish, named after what they do.
Task<void> Churn(int depth) {
  if (depth > 0) {
    JoinHandle<void> child =
        TaskBuilder().name("churn").spawn(Churn(depth - 1));
    co_await sleep(std::chrono::microseconds(50 * depth));
    co_await child;
  }
  co_await yield_now();
}

TEST(DumpTest, StressDumpsWhileTasksSpawnAndFinish) {
  Runtime rt = Make(2);
  Runtime* const rtp = &rt;
  std::atomic<bool> stop{false};
  std::atomic<int> dumps{0};
  std::atomic<int> bad{0};
  auto check = [&bad](const std::vector<TaskInfo>& tasks) {
    for (size_t i = 0; i < tasks.size(); ++i) {
      const TaskInfo& t = tasks[i];
      if (i > 0 && tasks[i - 1].id >= t.id) bad.fetch_add(1);
      if (t.name != "" && t.name != "churn" && t.name != "dumper") {
        bad.fetch_add(1);
      }
      // Every task here suspends only at co_awaits in Task coroutines.
      if ((t.state == TaskInfo::State::kWaiting) == t.location.empty()) {
        bad.fetch_add(1);
      }
    }
  };
  std::thread outside([&] {
    while (!stop.load()) {
      check(rt.dump());
      dumps.fetch_add(1);
    }
  });
  // Dumpers on both workers at once: each lets its own table go while it
  // waits for the other's.
  std::vector<JoinHandle<void>> dumpers;
  for (int i = 0; i < 2; ++i) {
    dumpers.push_back(TaskBuilder().name("dumper").spawn_on(
        [](Runtime* rt, std::atomic<bool>* stop, std::atomic<int>* dumps,
           decltype(check)* check) -> Task<void> {
          while (!stop->load()) {
            (*check)(rt->dump());
            dumps->fetch_add(1);
            co_await yield_now();
          }
        }(rtp, &stop, &dumps, &check),
        rt.handle()));
  }
  const int rounds = 200 * testing::StressScale();
  for (int r = 0; r < rounds; ++r) {
    JoinHandle<void> a = rt.spawn(Churn(4));
    JoinHandle<void> b =
        TaskBuilder().name("churn").spawn_on(Churn(3), rt.handle());
    rt.block_on([](JoinHandle<void> a, JoinHandle<void> b) -> Task<void> {
      co_await a;
      co_await b;
    }(std::move(a), std::move(b)));
  }
  stop.store(true);
  outside.join();
  for (JoinHandle<void>& d : dumpers) {
    rt.block_on(
        [](JoinHandle<void> d) -> Task<void> { co_await d; }(std::move(d)));
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(dumps.load(), 0);
  std::vector<TaskInfo> left = rt.dump();
  EXPECT_TRUE(left.empty()) << FormatTaskDump(left);
}

// The contract program's dump part (issue 21).
Task<void> Sleeper() { co_await sleep(300ms); }

TEST(DumpTest, ContractSleeperIsFoundWithALocation) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  Runtime* const rtp = &*rt;
  const bool found = rt->block_on([](Runtime* rt) -> Task<bool> {
    JoinHandle<void> sleeper = TaskBuilder().name("sleeper").spawn(Sleeper());
    co_await sleep(20ms);
    bool found = false;
    for (const TaskInfo& t : rt->dump()) {
      found |= t.name == "sleeper" && !t.location.empty();
    }
    sleeper.abort();
    co_return found;
  }(rtp));
  EXPECT_TRUE(found);
}

// await_transform hands every awaitable on as it came: an immovable
// temporary is awaited in place and lives to the end of the full
// expression; an lvalue awaiter is awaited as itself; operator co_await is
// chosen by value category as before.
struct Immovable {
  int* destroyed;
  explicit Immovable(int* d) : destroyed(d) {}
  Immovable(const Immovable&) = delete;
  Immovable& operator=(const Immovable&) = delete;
  ~Immovable() { ++*destroyed; }
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  int await_resume() const { return *destroyed; }
};

struct ByCategory {
  struct Awaiter {
    int value;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    int await_resume() const { return value; }
  };
  Awaiter operator co_await() & { return {1}; }
  Awaiter operator co_await() && { return {2}; }
};

TEST(DumpTest, AwaitTransformLeavesAwaitablesAlone) {
  Runtime rt = Make(1);
  rt.block_on([]() -> Task<void> {
    int destroyed = 0;
    // Not destroyed before await_resume reads the count.
    EXPECT_EQ(co_await Immovable(&destroyed), 0);
    EXPECT_EQ(destroyed, 1);
    Immovable lvalue(&destroyed);
    EXPECT_EQ(co_await lvalue, 1);
    EXPECT_EQ(destroyed, 1);
    ByCategory b;
    EXPECT_EQ(co_await b, 1);
    EXPECT_EQ(co_await ByCategory(), 2);
    EXPECT_EQ(co_await std::move(b), 2);
  }());
}

}  // namespace
}  // namespace tidepool
