// TaskLocal: set for an awaited task, seen across suspensions and workers,
// nested scopes shadow, spawned tasks do not inherit, misuse throws, and a
// cancelled scope leaves nothing behind.
#include "runtime/task_local.h"

#include <chrono>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

TaskLocal<int> request_id;
TaskLocal<std::string> user;

Task<int> ReadIdAfterSuspending() {
  co_await yield_now();
  co_await sleep(1ms);
  co_await yield_now();
  co_return request_id.get();
}

Runtime Make() {
  auto rt = Builder().worker_threads(2).build();
  EXPECT_TRUE(rt.ok());
  return *std::move(rt);
}

TEST(TaskLocalTest, FollowsTheTaskAcrossSuspensions) {
  Runtime rt = Make();
  EXPECT_EQ(rt.block_on(request_id.scope(42, ReadIdAfterSuspending())), 42);
  // The contract line: awaited from inside a task.
  EXPECT_EQ(rt.block_on([]() -> Task<int> {
    co_return co_await request_id.scope(7, ReadIdAfterSuspending());
  }()),
            7);
}

TEST(TaskLocalTest, InnerScopesShadowAndTheOuterComesBack) {
  Runtime rt = Make();
  auto outer = []() -> Task<std::string> {
    std::string seen = std::to_string(request_id.get());
    seen += "," + std::to_string(
                      co_await request_id.scope(2, ReadIdAfterSuspending()));
    seen += "," + std::to_string(request_id.get());
    seen += "," + user.get();
    co_return seen;
  };
  EXPECT_EQ(
      rt.block_on(request_id.scope(1, user.scope(std::string("ann"), outer()))),
      "1,2,1,ann");
}

TEST(TaskLocalTest, SpawnedTasksDoNotInherit) {
  Runtime rt = Make();
  auto parent = []() -> Task<bool> {
    JoinHandle<bool> child = spawn(
        []() -> Task<bool> { co_return request_id.try_get() == nullptr; }());
    co_return co_await child;
  };
  EXPECT_TRUE(rt.block_on(request_id.scope(5, parent())));
}

TEST(TaskLocalTest, OutsideAScopeGetThrows) {
  Runtime rt = Make();
  EXPECT_THROW(request_id.get(), std::logic_error);  // not in a task
  EXPECT_EQ(request_id.try_get(), nullptr);
  EXPECT_THROW(rt.block_on([]() -> Task<int> { co_return request_id.get(); }()),
               std::logic_error);
  // A scope of another TaskLocal does not count.
  EXPECT_THROW(rt.block_on(user.scope(
                   std::string("x"),
                   []() -> Task<int> { co_return request_id.get(); }())),
               std::logic_error);
}

TEST(TaskLocalTest, ACancelledScopeLeavesTheTaskClean) {
  Runtime rt = Make();
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto stuck = [](std::shared_ptr<std::atomic<bool>> r) -> Task<int> {
    while (!r->load()) co_await sleep(1ms);
    co_return request_id.get();
  };
  // The scope's frame is destroyed by the timeout while suspended inside
  // the inner task; afterwards this task sees its own outer value again.
  auto root = [&]() -> Task<int> {
    absl::StatusOr<int> r =
        co_await timeout(5ms, request_id.scope(9, stuck(release)));
    EXPECT_FALSE(r.ok());
    co_return request_id.get();
  };
  EXPECT_EQ(rt.block_on(request_id.scope(1, root())), 1);
  // Aborting destroys the scope's frame as part of its own task.
  JoinHandle<int> aborted = rt.spawn(request_id.scope(3, stuck(release)));
  aborted.abort();
  EXPECT_THROW(rt.block_on([](JoinHandle<int> h) -> Task<int> {
    co_return co_await h;
  }(std::move(aborted))),
               TaskCancelled);
  release->store(true);
}

}  // namespace
}  // namespace tidepool
