// A spawned task's cell and frame share one block (FrameLayout, task.h).
#include "runtime/internal/task_cell.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "gtest/gtest.h"
#include "runtime/internal/context.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using internal::FrameLayout;
using internal::FrameTail;

struct Guard {
  explicit Guard(std::shared_ptr<std::atomic<int>> l) : live(std::move(l)) {
    live->fetch_add(1);
  }
  Guard(Guard&& other) noexcept : live(other.live) { live->fetch_add(1); }
  ~Guard() { live->fetch_sub(1); }
  std::shared_ptr<std::atomic<int>> live;
};

Task<std::string> Named([[maybe_unused]] Guard g, std::string name) {
  co_await yield_now();
  co_return name + "!";
}

Runtime MakeRuntime() {
  auto rt = Builder().worker_threads(2).build();
  EXPECT_TRUE(rt.ok()) << rt.status();
  return std::move(*rt);
}

TEST(TaskCellTest, SpawnedCellLivesInFrontOfItsFrame) {
  Runtime rt = MakeRuntime();
  auto live = std::make_shared<std::atomic<int>>(0);
  rt.block_on([&]() -> Task<void> {
    internal::JoinState<std::string>* cell =
        internal::CurrentScheduler()->Spawn(Named(Guard(live), "a"));
    // The record just before the frame, read through the cell's block: out
    // of bounds (and so an AddressSanitizer report, or a wrong magic) if the
    // cell had a block of its own.
    const auto* tail =
        reinterpret_cast<const FrameTail*>(reinterpret_cast<const char*>(cell) +
                                           FrameLayout<std::string>::Prefix()) -
        1;
    EXPECT_EQ(tail->magic, FrameTail::kMagic);
    EXPECT_TRUE(tail->hosts_cell);
    JoinHandle<std::string> h =
        internal::JoinHandleAccess<std::string>::Make(cell);
    EXPECT_EQ(co_await h, "a!");
  }());
  EXPECT_EQ(live->load(), 0);
}

TEST(TaskCellTest, FrameIsDestroyedAtCompletionWhileTheHandleKeepsTheResult) {
  Runtime rt = MakeRuntime();
  auto live = std::make_shared<std::atomic<int>>(0);
  JoinHandle<std::string> h = rt.spawn(Named(Guard(live), "kept"));
  // The parameter (a Guard) dies with the frame, as the task finishes, not
  // when the handle is dropped.
  while (!h.is_finished()) std::this_thread::yield();
  EXPECT_EQ(live->load(), 0);
  EXPECT_EQ(rt.block_on([](JoinHandle<std::string> h) -> Task<std::string> {
    co_return co_await h;
  }(std::move(h))),
            "kept!");
}

TEST(TaskCellTest, EveryWayACellEndsFreesItsBlock) {
  // Run under AddressSanitizer, a cell or frame that is freed twice or never
  // fails here; the guard count catches a frame that is never destroyed.
  auto live = std::make_shared<std::atomic<int>>(0);
  {
    Runtime rt = MakeRuntime();
    // Handle dropped before the task finishes.
    rt.spawn(Named(Guard(live), "dropped")).detach();
    // Aborted, perhaps before it first runs.
    JoinHandle<std::string> aborted = rt.spawn(Named(Guard(live), "aborted"));
    aborted.abort();
    // Awaited to the end.
    EXPECT_EQ(rt.block_on(Named(Guard(live), "awaited")), "awaited!");
    // Never woken: destroyed by the shutdown sweep.
    auto never = std::make_shared<Notify>();
    rt.spawn([]([[maybe_unused]] Guard g,
                std::shared_ptr<Notify> n) -> Task<void> {
        co_await n->notified();
      }(Guard(live), never))
        .detach();
    // A Task that is only awaited, never spawned, leaves its room unused.
    EXPECT_EQ(rt.block_on([&]() -> Task<std::string> {
      co_return co_await Named(Guard(live), "inline");
    }()),
              "inline!");
  }
  EXPECT_EQ(live->load(), 0);
}

}  // namespace
}  // namespace tidepool
