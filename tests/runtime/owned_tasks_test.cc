#include "runtime/internal/owned_tasks.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/util/fake_task.h"

namespace tidepool::internal {
namespace {

using testing::FakeTask;
using namespace std::chrono_literals;

TEST(OwnedTasksTest, SameWorkerReleaseFreesAtOnce) {
  OwnedTasks owned(2);
  std::atomic<bool> destroyed{false};
  auto* t = new FakeTask(&destroyed);
  ASSERT_TRUE(owned.Insert(t, 0));
  EXPECT_EQ(owned.Alive(), 1u);
  owned.Completed(t, 0);
  EXPECT_EQ(owned.Alive(), 0u);
  owned.Release(t, 0);
  EXPECT_TRUE(destroyed);
}

// Release can drop the caller's references with the list's: at once on the
// owner (one atomic), and before handing the task back from another worker.
TEST(OwnedTasksTest, ReleaseDropsTheCallersReferencesToo) {
  OwnedTasks owned(2);
  std::atomic<bool> here{false}, there{false};
  auto* a = new FakeTask(&here, /*refs=*/3);
  auto* b = new FakeTask(&there, /*refs=*/2);
  ASSERT_TRUE(owned.Insert(a, 0));
  ASSERT_TRUE(owned.Insert(b, 0));
  owned.Completed(a, 0);
  owned.Release(a, 0, /*caller_refs=*/1);
  EXPECT_FALSE(here);  // one reference left
  a->Unref();
  EXPECT_TRUE(here);
  owned.Completed(b, 1);
  owned.Release(b, 1, /*caller_refs=*/1);
  EXPECT_FALSE(there);  // the list's reference waits for the owner
  owned.DrainReturned(0);
  EXPECT_TRUE(there);
}

// FreeOwnSlot frees the slot only on the task's own worker, and leaves the
// list's reference to the caller.
TEST(OwnedTasksTest, FreeOwnSlotOnlyOnTheOwner) {
  OwnedTasks owned(2);
  std::atomic<bool> destroyed{false};
  auto* t = new FakeTask(&destroyed);
  ASSERT_TRUE(owned.Insert(t, 0));
  owned.Completed(t, 0);
  EXPECT_FALSE(owned.FreeOwnSlot(t, 1));
  EXPECT_FALSE(owned.FreeOwnSlot(t, OwnedTasks::kNotAWorker));
  EXPECT_TRUE(owned.FreeOwnSlot(t, 0));
  EXPECT_FALSE(destroyed);
  t->Unref();
  EXPECT_TRUE(destroyed);
}

TEST(OwnedTasksTest, OtherWorkerReleaseWaitsForOwnersDrain) {
  OwnedTasks owned(2);
  std::atomic<bool> a_gone{false}, b_gone{false}, c_gone{false};
  auto* a = new FakeTask(&a_gone);
  auto* b = new FakeTask(&b_gone);
  auto* c = new FakeTask(&c_gone);
  ASSERT_TRUE(owned.Insert(a, 0));
  ASSERT_TRUE(owned.Insert(b, 0));
  ASSERT_TRUE(owned.Insert(c, 0));
  // Worker 1 completes the middle task and the newest one: counted at once,
  // kept (and still linked) until worker 0 drains.
  owned.Completed(b, 1);
  owned.Release(b, 1);
  owned.Completed(c, 1);
  owned.Release(c, 1);
  EXPECT_EQ(owned.Alive(), 1u);
  EXPECT_FALSE(b_gone);
  EXPECT_FALSE(c_gone);
  owned.DrainReturned(0);
  EXPECT_TRUE(b_gone);
  EXPECT_TRUE(c_gone);
  EXPECT_FALSE(a_gone);
  // The list is still intact around the unlinked tasks.
  owned.Completed(a, 0);
  owned.Release(a, 0);
  EXPECT_TRUE(a_gone);
  EXPECT_EQ(owned.Alive(), 0u);
}

// Every kReturnedNudge-th task returned to a worker's table asks for that
// worker to be interrupted, so that a parked owner drains; returns to its
// own table and shard releases never do.
TEST(OwnedTasksTest, EveryNthReturnAsksToWakeTheOwner) {
  OwnedTasks owned(2);
  constexpr int kTasks = 2 * OwnedTasks::kReturnedNudge + 3;
  std::vector<std::atomic<bool>> gone(kTasks);
  std::vector<FakeTask*> tasks;
  for (int i = 0; i < kTasks; ++i) {
    tasks.push_back(new FakeTask(&gone[i]));
    ASSERT_TRUE(owned.Insert(tasks.back(), 0));
  }
  int nudges = 0;
  for (int i = 0; i < kTasks; ++i) {
    owned.Completed(tasks[i], 1);
    const int nudge = owned.Release(tasks[i], 1);
    if (nudge != OwnedTasks::kNotAWorker) {
      EXPECT_EQ(nudge, 0);
      ++nudges;
    }
  }
  EXPECT_EQ(nudges, 2);
  owned.DrainReturned(0);
  for (int i = 0; i < kTasks; ++i) EXPECT_TRUE(gone[i].load()) << i;
  EXPECT_EQ(owned.Alive(), 0u);
}

TEST(OwnedTasksTest, SpawnsFromOutsideAreUnlinkedByWhoeverCompletes) {
  OwnedTasks owned(2);
  std::atomic<bool> gone[3] = {false, false, false};
  FakeTask* t[3];
  for (int i = 0; i < 3; ++i) {
    t[i] = new FakeTask(&gone[i]);
    ASSERT_TRUE(owned.Insert(t[i], OwnedTasks::kNotAWorker));
  }
  EXPECT_EQ(owned.Alive(), 3u);
  owned.Completed(t[1], 1);
  owned.Release(t[1], 1);
  EXPECT_TRUE(gone[1]);
  owned.Completed(t[0], OwnedTasks::kNotAWorker);
  owned.Release(t[0], OwnedTasks::kNotAWorker);
  EXPECT_TRUE(gone[0]);
  EXPECT_EQ(owned.Alive(), 1u);
  owned.Completed(t[2], 0);
  owned.Release(t[2], 0);
  EXPECT_TRUE(gone[2]);
  EXPECT_EQ(owned.Alive(), 0u);
}

// Through a runtime: tasks spawned on one worker and completed on the other
// are all counted and all freed; shutdown destroys the ones still waiting,
// whichever list holds them.
TEST(OwnedTasksTest, RuntimeCountsAndSweepsEveryList) {
  struct Guard {
    std::shared_ptr<std::atomic<int>> live;
    explicit Guard(std::shared_ptr<std::atomic<int>> l) : live(std::move(l)) {
      live->fetch_add(1);
    }
    ~Guard() { live->fetch_sub(1); }
  };
  auto live = std::make_shared<std::atomic<int>>(0);
  auto gate = std::make_shared<Notify>();
  {
    auto rt = Builder().worker_threads(2).build();
    ASSERT_TRUE(rt.ok());
    constexpr int kTasks = 20'000;
    // Tasks that yield once, so that both workers run (and complete) them.
    auto finishing = [](std::shared_ptr<std::atomic<int>> l) -> Task<void> {
      Guard g(std::move(l));
      co_await yield_now();
    };
    // Tasks that wait forever, left for the shutdown sweep.
    auto waiting = [](std::shared_ptr<std::atomic<int>> l,
                      std::shared_ptr<Notify> n) -> Task<void> {
      Guard g(std::move(l));
      co_await n->notified();
    };
    rt->block_on([&]() -> Task<void> {
      std::vector<JoinHandle<void>> handles;
      handles.reserve(kTasks);
      for (int i = 0; i < kTasks; ++i)
        handles.push_back(spawn(finishing(live)));
      for (int i = 0; i < 100; ++i) spawn(waiting(live, gate)).detach();
      for (auto& h : handles) co_await h;
    }());
    for (int i = 0; i < 100; ++i) rt->spawn(waiting(live, gate)).detach();
    EXPECT_EQ(rt->metrics().alive_tasks, 200u);
  }
  EXPECT_EQ(live->load(), 0);
}

// A detached task completed on the other worker is freed by its owner when
// the owner parks; the result nobody collected is destroyed then, and its
// destructor may wake a task onto the owner's LIFO slot, which no peer can
// steal from. The owner must run it rather than sleep on it (a hang here is
// the failure).
TEST(OwnedTasksTest, TaskWokenByFreeingAReturnedCellRuns) {
  // No idle trim: its deadline would wake the sleeping owner after a second
  // and hide the bug.
  alloc::Policy policy = alloc::DefaultPolicy();
  policy.trim.runtime_idle = std::chrono::milliseconds(0);
  auto rt = Builder().worker_threads(2).process_allocator(policy).build();
  ASSERT_TRUE(rt.ok());
  struct WakesOnDestruction {
    explicit WakesOnDestruction(std::shared_ptr<Notify> n)
        : notify(std::move(n)) {}
    // Moved-from copies stay quiet: only the one in the cell notifies.
    WakesOnDestruction(WakesOnDestruction&& other) noexcept
        : notify(std::move(other.notify)) {}
    std::shared_ptr<Notify> notify;
    ~WakesOnDestruction() {
      if (notify) notify->notify_one();
    }
  };
  auto notify = std::make_shared<Notify>();
  auto waiter = [](std::shared_ptr<Notify> n) -> Task<void> {
    co_await n->notified();
  };
  auto returns_waker = [](std::shared_ptr<Notify> n,
                          std::atomic<bool>* done) -> Task<WakesOnDestruction> {
    done->store(true);
    co_return WakesOnDestruction{std::move(n)};
  };
  auto nothing = []() -> Task<void> { co_return; };
  rt->block_on([&]() -> Task<void> {
    JoinHandle<void> woken = spawn(waiter(notify));
    std::atomic<bool> done{false};
    {
      // Detached: the owner's table holds the last reference.
      JoinHandle<WakesOnDestruction> x = spawn(returns_waker(notify, &done));
      // Moves it out of this worker's LIFO slot, into the stealable queue.
      spawn(nothing()).detach();
    }
    // Without yielding: the other worker must steal and complete it.
    while (!done.load()) {
    }
    const auto until = std::chrono::steady_clock::now() + 2ms;
    while (std::chrono::steady_clock::now() < until) {
    }
    co_await woken;
  }());
}

}  // namespace
}  // namespace tidepool::internal
